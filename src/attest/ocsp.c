/* SPDX-License-Identifier: Apache-2.0 */
/* OCSP request construction and response validation (spec §3.6), plus the directory source. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "attest/chain.h"
#include "attest/ocsp.h"
#include "base/fileio.h"
#include "base/log.h"

CN_DEFINE_CLEANUP(OCSP_REQUEST *, OCSP_REQUEST_free)
CN_DEFINE_CLEANUP(OCSP_CERTID *, OCSP_CERTID_free)
CN_DEFINE_CLEANUP(X509_STORE *, X509_STORE_free)

int cn_ocsp_request_build(X509 *cert, X509 *issuer, const uint8_t nonce[CN_OCSP_NONCE_LEN],
			  OCSP_REQUEST **ret_req, OCSP_CERTID **ret_id, uint8_t **ret_der,
			  size_t *ret_len)
{
	_cleanup_(OCSP_REQUEST_freep) OCSP_REQUEST *req = NULL;
	_cleanup_(OCSP_CERTID_freep) OCSP_CERTID *id = NULL, *copy = NULL;
	uint8_t *der = NULL;
	int n;

	req = OCSP_REQUEST_new();
	id = OCSP_cert_to_id(EVP_sha384(), cert, issuer);
	if (!req || !id)
		return cn_err_set(-ENOMEM, "ocsp: cannot build a CertID");
	copy = OCSP_CERTID_dup(id);
	if (!copy)
		return -ENOMEM;
	if (!OCSP_request_add0_id(req, id))
		return -ENOMEM;
	id = NULL; /* owned by req now */
	if (OCSP_request_add1_nonce(req, (unsigned char *)nonce, CN_OCSP_NONCE_LEN) != 1)
		return -ENOMEM;
	if (ret_der) {
		n = i2d_OCSP_REQUEST(req, &der);
		if (n <= 0)
			return -ENOMEM;
		/* OPENSSL_malloc'd; hand out a malloc'd copy so callers use free(). */
		uint8_t *m = malloc((size_t)n);
		if (!m) {
			OPENSSL_free(der);
			return -ENOMEM;
		}
		memcpy(m, der, (size_t)n);
		OPENSSL_free(der);
		*ret_der = m;
		*ret_len = (size_t)n;
	}
	if (ret_req)
		*ret_req = TAKE_PTR(req);
	if (ret_id)
		*ret_id = TAKE_PTR(copy);
	return 0;
}

int cn_ocsp_response_parse(const uint8_t *buf, size_t len, OCSP_RESPONSE **ret)
{
	const uint8_t *p = buf;
	OCSP_RESPONSE *resp;

	if (len > CN_OCSP_RESPONSE_MAX)
		return cn_err_set(-E2BIG, "ocsp: response of %zu bytes, more than %u", len,
				  CN_OCSP_RESPONSE_MAX);
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (!resp)
		return cn_err_set(-EBADMSG, "ocsp: not a DER OCSPResponse");
	if ((size_t)(p - buf) != len) {
		OCSP_RESPONSE_free(resp);
		return cn_err_set(-EBADMSG, "ocsp: %zu trailing bytes after the response",
				  len - (size_t)(p - buf));
	}
	*ret = resp;
	return 0;
}

/* ---- directory source ---- */

struct cn_ocsp_dir_entry {
	char *name;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *basic; /* NULL when the response is not successful */
};

struct cn_ocsp_dir {
	struct cn_ocsp_dir_entry *e;
	size_t n;
};

void cn_ocsp_dir_free(struct cn_ocsp_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->e[i].name);
		OCSP_BASICRESP_free(d->e[i].basic);
		OCSP_RESPONSE_free(d->e[i].resp);
	}
	free(d->e);
	free(d);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a > b && strcmp(s + a - b, suf) == 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cn_ocsp_dir_entry *)a)->name,
		      ((const struct cn_ocsp_dir_entry *)b)->name);
}

int cn_ocsp_dir_open(const char *dir, struct cn_ocsp_dir **ret)
{
	_cleanup_(cn_ocsp_dir_freep) struct cn_ocsp_dir *d = NULL;
	_cleanup_close_ int dfd = -EBADF;
	DIR *dp;
	struct dirent *de;
	int r = 0;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "ocsp-dir '%s': %s", dir, strerror(errno));
	dp = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
	if (!dp)
		return cn_err_set(-errno, "ocsp-dir '%s': %s", dir, strerror(errno));
	d->e = calloc(CN_OCSP_DIR_FILES_MAX, sizeof(*d->e));
	if (!d->e) {
		closedir(dp);
		return -ENOMEM;
	}
	while ((de = readdir(dp))) {
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len;
		struct cn_ocsp_dir_entry *e;

		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".der") || has_suffix(de->d_name, ".ocsp") ||
		      has_suffix(de->d_name, ".resp")))
			continue;
		if (d->n >= CN_OCSP_DIR_FILES_MAX) {
			r = cn_err_set(-E2BIG, "ocsp-dir '%s': more than %u response files", dir,
				       CN_OCSP_DIR_FILES_MAX);
			break;
		}
		r = cn_read_file_at(dfd, de->d_name, CN_OCSP_RESPONSE_MAX, &buf, &len);
		if (r < 0) {
			r = cn_err_set(r, "ocsp-dir: cannot read '%s/%s': %s", dir, de->d_name,
				       cn_strerror(r));
			break;
		}
		e = &d->e[d->n];
		r = cn_ocsp_response_parse(buf, len, &e->resp);
		if (r < 0) {
			r = cn_err_set(r, "ocsp-dir: '%s/%s': %s", dir, de->d_name, cn_err_msg());
			break;
		}
		e->name = strdup(de->d_name);
		if (!e->name) {
			OCSP_RESPONSE_free(e->resp);
			r = -ENOMEM;
			break;
		}
		if (OCSP_response_status(e->resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL)
			e->basic = OCSP_response_get1_basic(e->resp);
		d->n++;
	}
	closedir(dp);
	if (r < 0)
		return r;
	qsort(d->e, d->n, sizeof(*d->e), cmp_entry);
	*ret = TAKE_PTR(d);
	return 0;
}

static int dir_fetch(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
		     const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	struct cn_ocsp_dir *d = userdata;
	_cleanup_(OCSP_REQUEST_freep) OCSP_REQUEST *nreq = OCSP_REQUEST_new();
	struct cn_ocsp_dir_entry *best = NULL;

	if (!nreq || OCSP_request_add1_nonce(nreq, (unsigned char *)nonce, CN_OCSP_NONCE_LEN) != 1)
		return -ENOMEM;
	/*
	 * Among the responses covering id, prefer those that echo this run's nonce; among equals
	 * the worst status wins (revoked > unknown > good), so that a stale "good" lying next to a
	 * "revoked" cannot hide it.
	 */
	int best_rank = -1;
	for (size_t i = 0; i < d->n; i++) {
		struct cn_ocsp_dir_entry *e = &d->e[i];
		int st = -1, reason, rank;

		if (!e->basic || OCSP_resp_find(e->basic, id, -1) < 0)
			continue;
		(void)OCSP_resp_find_status(e->basic, id, &st, &reason, NULL, NULL, NULL);
		rank = (OCSP_check_nonce(nreq, e->basic) == 1 ? 10 : 0) +
		       (st == V_OCSP_CERTSTATUS_REVOKED	  ? 2
			: st == V_OCSP_CERTSTATUS_UNKNOWN ? 1
							  : 0);
		if (rank > best_rank) {
			best = e;
			best_rank = rank;
		}
	}
	if (!best)
		return -ENOENT;
	*ret = ASN1_item_dup(ASN1_ITEM_rptr(OCSP_RESPONSE), best->resp);
	return *ret ? CN_OCSP_FROM_STORE : -ENOMEM;
}

struct cn_ocsp_source cn_ocsp_dir_source(struct cn_ocsp_dir *d)
{
	return (struct cn_ocsp_source){.fetch = dir_fetch, .userdata = d};
}

/* ---- validation ---- */

enum { ST_GOOD = 1, ST_UNKNOWN = 2, ST_REVOKED = 3 };

static const char *reason_name(int reason)
{
	if (reason < 0)
		return "unspecified";
	return OCSP_crl_reason_str(reason);
}

static void fail(struct cn_ocsp_result *res, int idx, X509 *cert, const char *msg)
{
	char *cn = NULL;

	res->response_valid = false;
	if (res->failure[0])
		return;
	(void)cn_cert_subject_cn(cert, &cn);
	(void)snprintf(res->failure, sizeof(res->failure), "certificate %d (%s): %s", idx,
		       cn ? cn : "?", msg);
	res->failed_cert = idx;
	free(cn);
}

int cn_ocsp_check_chain(STACK_OF(X509) * chain, int first, int last, X509 *anchor,
			const uint8_t nonce[CN_OCSP_NONCE_LEN], time_t now,
			const struct cn_ocsp_source *src, struct cn_ocsp_result *res)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
	STACK_OF(X509) *untrusted = NULL;
	int n = sk_X509_num(chain), worst = ST_GOOD, r = 0;
	long max_age =
	    src->stored_max_age_s > 0 ? src->stored_max_age_s : CN_OCSP_STORED_MAX_AGE_S_DEFAULT;
	bool any_invalid = false, exempt_only = true;

	*res = (struct cn_ocsp_result){
	    .checked = true, .nonce_match = true, .response_valid = true, .failed_cert = -1};
	if (first < 0 || last > n - 2 || first > last || !anchor) {
		res->response_valid = false;
		res->nonce_match = false;
		(void)snprintf(res->failure, sizeof(res->failure), "no certificates to check");
		res->status = NULL;
		return 0;
	}
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	if (!store || !untrusted || X509_STORE_add_cert(store, anchor) != 1) {
		sk_X509_free(untrusted);
		return -ENOMEM;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), now);
	for (int i = 0; i < n; i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
			sk_X509_free(untrusted);
			return -ENOMEM;
		}

	for (int i = first; i <= last; i++) {
		X509 *cert = sk_X509_value(chain, i), *issuer = sk_X509_value(chain, i + 1);
		OCSP_REQUEST *req = NULL;
		OCSP_CERTID *id = NULL;
		OCSP_RESPONSE *resp = NULL;
		OCSP_BASICRESP *bs = NULL;
		ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
		uint8_t *der = NULL;
		size_t der_len = 0;
		int st, reason = -1, k;
		time_t t_this, t_next;
		bool stored = false;

		k = cn_ocsp_request_build(cert, issuer, nonce, &req, &id, &der, &der_len);
		if (k < 0) {
			r = k;
			goto next;
		}
		k = src->fetch(src->userdata, der, der_len, id, nonce, &resp);
		stored = k == CN_OCSP_FROM_STORE;
		if (k == -ENOENT) {
			fail(res, i, cert, "no OCSP response");
			any_invalid = true;
			goto next;
		}
		if (k < 0) {
			r = k;
			goto next;
		}
		if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
			char m[96];

			(void)snprintf(m, sizeof(m), "OCSP responseStatus %s",
				       OCSP_response_status_str(OCSP_response_status(resp)));
			fail(res, i, cert, m);
			any_invalid = true;
			goto next;
		}
		bs = OCSP_response_get1_basic(resp);
		if (!bs) {
			fail(res, i, cert, "OCSP response without a BasicOCSPResponse");
			any_invalid = true;
			goto next;
		}
		if (OCSP_basic_verify(bs, untrusted, store, 0) != 1) {
			fail(res, i, cert,
			     "OCSP response signature or responder certificate not valid "
			     "(not signed by the issuer or a responder it authorized)");
			any_invalid = true;
			goto next;
		}
		if (OCSP_resp_find_status(bs, id, &st, &reason, &revtime, &thisupd, &nextupd) !=
		    1) {
			fail(res, i, cert, "OCSP response does not cover this certificate");
			any_invalid = true;
			goto next;
		}
		if (cn_asn1_time_to_time_t(thisupd, &t_this) < 0 ||
		    (nextupd && cn_asn1_time_to_time_t(nextupd, &t_next) < 0)) {
			fail(res, i, cert, "OCSP response has unreadable thisUpdate/nextUpdate");
			any_invalid = true;
			goto next;
		}
		if (t_this > now + CN_OCSP_LEEWAY_S) {
			fail(res, i, cert, "OCSP response thisUpdate is in the future");
			any_invalid = true;
			goto next;
		}
		if (stored && t_this + max_age < now) {
			char m[128], iso[32] = "";

			(void)cn_asn1_time_iso(thisupd, iso);
			(void)snprintf(m, sizeof(m),
				       "stored OCSP response is stale (thisUpdate %s, older than "
				       "the maximum age of %ld s)",
				       iso, max_age);
			fail(res, i, cert, m);
			any_invalid = true;
			goto next;
		}
		if (nextupd ? t_next + CN_OCSP_LEEWAY_S < now : t_this + CN_OCSP_MAX_AGE_S < now) {
			char m[96], iso[32] = "";

			(void)cn_asn1_time_iso(nextupd ? nextupd : thisupd, iso);
			(void)snprintf(m, sizeof(m), "OCSP response is stale (%s %s)",
				       nextupd ? "nextUpdate" : "thisUpdate", iso);
			fail(res, i, cert, m);
			any_invalid = true;
			goto next;
		}
		if (OCSP_check_nonce(req, bs) != 1) {
			res->nonce_match = false;
			if (!stored)
				exempt_only = false;
			if (!stored && !res->failure[0]) {
				char *cn = NULL;

				(void)cn_cert_subject_cn(cert, &cn);
				(void)snprintf(res->failure, sizeof(res->failure),
					       "certificate %d (%s): OCSP response does not echo "
					       "the request nonce",
					       i, cn ? cn : "?");
				res->failed_cert = i;
				free(cn);
			}
		}
		if (st == V_OCSP_CERTSTATUS_REVOKED) {
			if (worst < ST_REVOKED) {
				worst = ST_REVOKED;
				res->revocation_reason = reason_name(reason);
			}
		} else if (st == V_OCSP_CERTSTATUS_UNKNOWN) {
			if (worst < ST_UNKNOWN)
				worst = ST_UNKNOWN;
		}
		if (st != V_OCSP_CERTSTATUS_GOOD && !res->failure[0]) {
			char *cn = NULL;

			(void)cn_cert_subject_cn(cert, &cn);
			(void)snprintf(res->failure, sizeof(res->failure),
				       "certificate %d (%s): OCSP status %s%s%s", i, cn ? cn : "?",
				       st == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "unknown",
				       st == V_OCSP_CERTSTATUS_REVOKED ? ", reason " : "",
				       st == V_OCSP_CERTSTATUS_REVOKED ? reason_name(reason) : "");
			res->failed_cert = i;
			free(cn);
		}
	next:
		free(der);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		OCSP_CERTID_free(id);
		OCSP_REQUEST_free(req);
		if (r < 0)
			break;
	}
	sk_X509_free(untrusted);
	if (r < 0)
		return r;
	if (any_invalid) {
		/* The content of an invalid or missing response is not evidence of anything. */
		res->status = NULL;
		res->revocation_reason = NULL;
		res->nonce_match = false;
	} else {
		res->nonce_exempt = !res->nonce_match && exempt_only;
		res->status = worst == ST_REVOKED   ? "revoked"
			      : worst == ST_UNKNOWN ? "unknown"
						    : "good";
	}
	return 0;
}

int cn_ocsp_stored_fresh(OCSP_RESPONSE *resp, OCSP_CERTID *id, time_t now, long max_age_s,
			 char *why, size_t why_len)
{
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	OCSP_BASICRESP *bs = NULL;
	char tmp[160], iso[32] = "";
	time_t t_this, t_next = 0;
	long max_age = max_age_s > 0 ? max_age_s : CN_OCSP_STORED_MAX_AGE_S_DEFAULT;
	int st, reason, r = 0;

	if (!why) {
		why = tmp;
		why_len = sizeof(tmp);
	}
	why[0] = 0;
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    !(bs = OCSP_response_get1_basic(resp))) {
		(void)snprintf(why, why_len, "not a successful OCSP response");
		return -EBADMSG;
	}
	if (OCSP_resp_find_status(bs, id, &st, &reason, NULL, &thisupd, &nextupd) != 1 ||
	    cn_asn1_time_to_time_t(thisupd, &t_this) < 0 ||
	    (nextupd && cn_asn1_time_to_time_t(nextupd, &t_next) < 0)) {
		(void)snprintf(why, why_len, "does not cover the certificate");
		r = -EBADMSG;
	} else if (t_this > now + CN_OCSP_LEEWAY_S) {
		(void)cn_asn1_time_iso(thisupd, iso);
		(void)snprintf(why, why_len, "thisUpdate %s is in the future", iso);
		r = -ESTALE;
	} else if (nextupd && t_next + CN_OCSP_LEEWAY_S < now) {
		(void)cn_asn1_time_iso(nextupd, iso);
		(void)snprintf(why, why_len, "expired: nextUpdate %s has passed", iso);
		r = -ESTALE;
	} else if (!nextupd && t_this + CN_OCSP_MAX_AGE_S < now) {
		(void)cn_asn1_time_iso(thisupd, iso);
		(void)snprintf(why, why_len,
			       "expired: no nextUpdate and thisUpdate %s is over %d s old", iso,
			       CN_OCSP_MAX_AGE_S);
		r = -ESTALE;
	} else if (t_this + max_age < now) {
		(void)cn_asn1_time_iso(thisupd, iso);
		(void)snprintf(why, why_len,
			       "expired: thisUpdate %s is older than the maximum age of %ld s", iso,
			       max_age);
		r = -ESTALE;
	}
	OCSP_BASICRESP_free(bs);
	return r;
}
