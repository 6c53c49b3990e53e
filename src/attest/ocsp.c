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
#include "attest/memo.h"
#include "attest/ocsp.h"
#include "base/fileio.h"
#include "base/log.h"

CN_DEFINE_CLEANUP(OCSP_REQUEST *, OCSP_REQUEST_free)
CN_DEFINE_CLEANUP(OCSP_CERTID *, OCSP_CERTID_free)
CN_DEFINE_CLEANUP(OCSP_RESPONSE *, OCSP_RESPONSE_free)
CN_DEFINE_CLEANUP(OCSP_BASICRESP *, OCSP_BASICRESP_free)

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

/* Severity of a finding: the failure message names the most severe one (revoked, unknown, then
 * the first other problem), so that a revocation is never reported as a lesser defect. */
enum { SEV_NONE = 0, SEV_OTHER, SEV_UNKNOWN, SEV_REVOKED };

static void note(struct cn_ocsp_result *res, int *sev, int level, int idx, X509 *cert,
		 const char *msg)
{
	char *cn = NULL;

	if (level <= *sev)
		return;
	*sev = level;
	(void)cn_cert_subject_cn(cert, &cn);
	(void)snprintf(res->failure, sizeof(res->failure), "certificate %d (%s): %s", idx,
		       cn ? cn : "?", msg);
	res->failed_cert = idx;
	free(cn);
}

static void fail(struct cn_ocsp_result *res, int *sev, int idx, X509 *cert, const char *msg)
{
	res->response_valid = false;
	note(res, sev, SEV_OTHER, idx, cert, msg);
}

struct check {
	struct cn_ocsp_result *res;
	int sev, worst;
	bool any_invalid;
	bool exempt_only; /* every nonce mismatch came from a stored answer */
	long max_age;	  /* of stored answers */
	X509_STORE *store;
	X509 *anchor;
	STACK_OF(X509) * untrusted; /* the issuer of the certificate checked and those above it */
	time_t now;
	struct cn_verify_memo *memo;
	bool chain_validated;
};

/*
 * OCSP_basic_verify (the response's signature, and its responder's chain to the anchor at the
 * verification time) through the run's memo: the GPUs of a machine share the OCSP answers for
 * the upper certificates of their chains. The outcome depends on the response's bytes, the
 * certificates offered to find and chain the responder, the anchor and the clock: all in the key.
 */
static bool basic_verify(struct check *c, OCSP_RESPONSE *resp, OCSP_BASICRESP *bs)
{
	uint8_t *der = NULL, key[32];
	struct cn_memo_key k;
	bool keyed = false, ok;
	unsigned long flags = 0;
	X509 *signer = NULL;
	int len;

	/*
	 * Signed by the issuer itself (found among our certificates, never the response's own,
	 * and the very issuer object of the validated chain): the signature is checked below; the
	 * issuer's chain to the anchor at now was verified by the caller. NOINTERN makes
	 * OCSP_basic_verify pick the same signer, from our certificates only.
	 */
	if (c->chain_validated && OCSP_resp_get0_signer(bs, &signer, c->untrusted) == 1 &&
	    signer == sk_X509_value(c->untrusted, 0))
		flags = OCSP_NOVERIFY | OCSP_NOINTERN;
	if (c->memo && (len = i2d_OCSP_RESPONSE(resp, &der)) > 0) {
		cn_memo_key_begin(&k, "ocsp-basic-verify");
		cn_memo_key_add_u64(&k, (uint64_t)c->now);
		cn_memo_key_add_u64(&k, flags);
		cn_memo_key_add(&k, der, (size_t)len);
		cn_memo_key_add_cert(&k, c->anchor);
		for (int i = 0; i < sk_X509_num(c->untrusted); i++)
			cn_memo_key_add_cert(&k, sk_X509_value(c->untrusted, i));
		OPENSSL_free(der);
		keyed = cn_memo_key_end(&k, key) == 0;
		if (keyed && cn_verify_memo_claim(c->memo, key, &ok, sizeof(ok)))
			return ok;
	}
	ok = OCSP_basic_verify(bs, c->untrusted, c->store, flags) == 1;
	/* Only successes are remembered: a failure may be the library's (memory), not the
	 * response's, and is checked again by the next chain that needs it. */
	if (keyed && ok)
		cn_verify_memo_put(c->memo, key, &ok, sizeof(ok));
	else if (keyed)
		cn_verify_memo_release(c->memo, key);
	return ok;
}

/* Records an invalid or missing response; returns 0 (for `return invalid(...)`). */
static int invalid(struct check *c, int i, X509 *cert, const char *msg)
{
	fail(c->res, &c->sev, i, cert, msg);
	c->any_invalid = true;
	return 0;
}

/* Judges one response for cert (chain index i) and records the outcome in c. */
static int judge(struct check *c, int i, X509 *cert, OCSP_REQUEST *req, OCSP_CERTID *id,
		 OCSP_RESPONSE *resp, bool stored)
{
	_cleanup_(OCSP_BASICRESP_freep) OCSP_BASICRESP *own = NULL;
	OCSP_BASICRESP *bs;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	int st, reason = -1;
	time_t t_this, t_next;
	char m[96], iso[32] = "";
	bool owned = false;

	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		(void)snprintf(m, sizeof(m), "OCSP responseStatus %s",
			       OCSP_response_status_str(OCSP_response_status(resp)));
		return invalid(c, i, cert, m);
	}
	/* Parsed once per run for all the chains that ask about the same certificate. */
	bs = cn_verify_memo_ocsp_basic(c->memo, resp, &owned);
	if (owned)
		own = bs;
	if (!bs)
		return invalid(c, i, cert, "OCSP response without a BasicOCSPResponse");
	if (!basic_verify(c, resp, bs))
		return invalid(c, i, cert,
			       "OCSP response signature or responder certificate not valid "
			       "(not signed by the issuer or a responder it authorized)");
	if (OCSP_resp_find_status(bs, id, &st, &reason, &revtime, &thisupd, &nextupd) != 1)
		return invalid(c, i, cert, "OCSP response does not cover this certificate");
	if (cn_asn1_time_to_time_t(thisupd, &t_this) < 0 ||
	    (nextupd && cn_asn1_time_to_time_t(nextupd, &t_next) < 0))
		return invalid(c, i, cert, "OCSP response has unreadable thisUpdate/nextUpdate");
	if (t_this > c->now + CN_OCSP_LEEWAY_S)
		return invalid(c, i, cert, "OCSP response thisUpdate is in the future");
	if (stored && t_this + c->max_age < c->now) {
		char sm[128];

		(void)cn_asn1_time_iso(thisupd, iso);
		(void)snprintf(
		    sm, sizeof(sm),
		    "stored OCSP response is stale (thisUpdate %s, older than the maximum "
		    "age of %ld s)",
		    iso, c->max_age);
		return invalid(c, i, cert, sm);
	}
	if (nextupd ? t_next + CN_OCSP_LEEWAY_S < c->now : t_this + CN_OCSP_MAX_AGE_S < c->now) {
		(void)cn_asn1_time_iso(nextupd ? nextupd : thisupd, iso);
		(void)snprintf(m, sizeof(m), "OCSP response is stale (%s %s)",
			       nextupd ? "nextUpdate" : "thisUpdate", iso);
		return invalid(c, i, cert, m);
	}
	/* A live answer must echo the nonce; a stored one cannot (freshness above instead). */
	if (OCSP_check_nonce(req, bs) != 1) {
		c->res->nonce_match = false;
		if (!stored) {
			c->exempt_only = false;
			note(c->res, &c->sev, SEV_OTHER, i, cert,
			     "OCSP response does not echo the request nonce");
		}
	}
	if (st == V_OCSP_CERTSTATUS_REVOKED) {
		if (c->worst < ST_REVOKED) {
			c->worst = ST_REVOKED;
			c->res->revocation_reason = reason_name(reason);
		}
		(void)snprintf(m, sizeof(m), "OCSP status revoked, reason %s", reason_name(reason));
		note(c->res, &c->sev, SEV_REVOKED, i, cert, m);
	} else if (st == V_OCSP_CERTSTATUS_UNKNOWN) {
		if (c->worst < ST_UNKNOWN)
			c->worst = ST_UNKNOWN;
		note(c->res, &c->sev, SEV_UNKNOWN, i, cert, "OCSP status unknown");
	}
	return 0;
}

/* Asks src about chain[i] (issuer chain[i + 1]); < 0 only for errors that stop the check. */
static int check_cert(struct check *c, STACK_OF(X509) * chain, int i,
		      const uint8_t nonce[CN_OCSP_NONCE_LEN], const struct cn_ocsp_source *src)
{
	X509 *cert = sk_X509_value(chain, i), *issuer = sk_X509_value(chain, i + 1);
	_cleanup_(OCSP_REQUEST_freep) OCSP_REQUEST *req = NULL;
	_cleanup_(OCSP_CERTID_freep) OCSP_CERTID *id = NULL;
	_cleanup_(OCSP_RESPONSE_freep) OCSP_RESPONSE *resp = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	r = cn_ocsp_request_build(cert, issuer, nonce, &req, &id, &der, &der_len);
	if (r < 0)
		return r;
	r = src->fetch(src->userdata, der, der_len, id, nonce, &resp);
	if (r == -ENOENT)
		return invalid(c, i, cert, "no OCSP response");
	if (r < 0)
		return r;
	/* The responder is the issuer or a delegate it signed: it chains through chain[i + 1..]. */
	(void)sk_X509_zero(c->untrusted);
	for (int k = i + 1; k < sk_X509_num(chain); k++)
		if (!sk_X509_push(c->untrusted, sk_X509_value(chain, k)))
			return -ENOMEM;
	return judge(c, i, cert, req, id, resp, r == CN_OCSP_FROM_STORE);
}

int cn_ocsp_check_chain(STACK_OF(X509) * chain, int first, int last, X509 *anchor,
			const uint8_t nonce[CN_OCSP_NONCE_LEN], time_t now,
			const struct cn_ocsp_source *src, const struct cn_ocsp_check_opts *opts,
			struct cn_ocsp_result *res)
{
	struct check c = {.res = res,
			  .worst = ST_GOOD,
			  .now = now,
			  .anchor = anchor,
			  .memo = opts ? opts->memo : NULL,
			  .chain_validated = opts && opts->chain_validated,
			  .exempt_only = true,
			  .max_age = src->stored_max_age_s > 0 ? src->stored_max_age_s
							       : CN_OCSP_STORED_MAX_AGE_S_DEFAULT};
	int n = sk_X509_num(chain), r = 0;

	*res = (struct cn_ocsp_result){
	    .checked = true, .nonce_match = true, .response_valid = true, .failed_cert = -1};
	if (first < 0 || last > n - 2 || first > last || !anchor) {
		res->response_valid = false;
		res->nonce_match = false;
		(void)snprintf(res->failure, sizeof(res->failure), "no certificates to check");
		res->status = NULL;
		return 0;
	}
	c.store = X509_STORE_new();
	c.untrusted = sk_X509_new_null();
	if (!c.store || !c.untrusted || X509_STORE_add_cert(c.store, anchor) != 1)
		r = -ENOMEM;
	else
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(c.store), now);
	for (int i = first; r >= 0 && i <= last; i++)
		r = check_cert(&c, chain, i, nonce, src);
	sk_X509_free(c.untrusted);
	X509_STORE_free(c.store);
	if (r < 0)
		return r;
	if (c.any_invalid) {
		/* The content of an invalid or missing response is not evidence of anything. */
		res->status = NULL;
		res->revocation_reason = NULL;
		res->nonce_match = false;
	} else {
		res->nonce_exempt = !res->nonce_match && c.exempt_only;
		res->status = c.worst == ST_REVOKED   ? "revoked"
			      : c.worst == ST_UNKNOWN ? "unknown"
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
