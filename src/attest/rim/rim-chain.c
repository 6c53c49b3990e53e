/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RIM signing chain (spec §4.5): the X509Certificate elements of the signature's KeyInfo,
 * path validation to the pinned NVIDIA CoRIM signing Root CA (or a test anchor) at the caller's
 * time, the chain status and its earliest notAfter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/rim/rim-internal.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"

#define CERT_B64_MAX (16u * 1024u) /* base64 characters of one X509Certificate */

CN_DEFINE_CLEANUP(X509 *, X509_free)
CN_DEFINE_CLEANUP(X509_STORE *, X509_STORE_free)
CN_DEFINE_CLEANUP(X509_STORE_CTX *, X509_STORE_CTX_free)
CN_DEFINE_CLEANUP(BIO *, BIO_free)

static void x509_stack_free(STACK_OF(X509) * s)
{
	sk_X509_pop_free(s, X509_free);
}
CN_DEFINE_CLEANUP(STACK_OF(X509) *, x509_stack_free)

static int decode_cert(xmlNodePtr n, size_t idx, X509 **ret, char *reason)
{
	_cleanup_free_ char *b64 = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	xmlChar *content = xmlNodeGetContent(n);
	size_t len = 0, pad = 0;
	const uint8_t *p;
	X509 *x;
	int dlen;

	if (!content) {
		cn_rim_set_reason(reason, "certificate %zu: empty X509Certificate", idx);
		return -EBADMSG;
	}
	b64 = malloc(CERT_B64_MAX + 1);
	if (!b64) {
		xmlFree(content);
		return -ENOMEM;
	}
	for (const xmlChar *c = content; *c; c++) {
		if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
			continue;
		if (len >= CERT_B64_MAX) {
			xmlFree(content);
			cn_rim_set_reason(
			    reason,
			    "certificate %zu: X509Certificate longer than %u base64 characters",
			    idx, CERT_B64_MAX);
			return -EBADMSG;
		}
		b64[len++] = (char)*c;
	}
	xmlFree(content);
	if (len == 0 || len % 4 != 0) {
		cn_rim_set_reason(reason, "certificate %zu: X509Certificate is not valid base64",
				  idx);
		return -EBADMSG;
	}
	b64[len] = '\0';
	pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
	der = malloc(len / 4 * 3 + 1);
	if (!der)
		return -ENOMEM;
	dlen = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
	if (dlen < 0 || (size_t)dlen < pad) {
		cn_rim_set_reason(reason, "certificate %zu: X509Certificate is not valid base64",
				  idx);
		return -EBADMSG;
	}
	dlen -= (int)pad;
	p = der;
	x = d2i_X509(NULL, &p, dlen);
	if (!x || p != der + dlen) {
		X509_free(x);
		cn_rim_set_reason(
		    reason, "certificate %zu: not a DER X.509 certificate (or trailing bytes)",
		    idx);
		return -EBADMSG;
	}
	*ret = x;
	return 0;
}

/* Reads ds:KeyInfo/ds:X509Data/ds:X509Certificate in document order. */
int cn_rim_read_embedded_certs(xmlNodePtr sig, STACK_OF(X509) * *ret, char *reason)
{
	_cleanup_(x509_stack_freep) STACK_OF(X509) *certs = sk_X509_new_null();
	xmlNodePtr ki = cn_rim_child(sig, CN_RIM_NS_DSIG, "KeyInfo");
	xmlNodePtr xd = cn_rim_child(ki, CN_RIM_NS_DSIG, "X509Data");
	size_t idx = 0;
	int r;

	if (!certs)
		return -ENOMEM;
	if (!xd) {
		cn_rim_set_reason(reason, "chain: no ds:KeyInfo/ds:X509Data in the signature");
		return -EBADMSG;
	}
	for (xmlNodePtr c = xd->children; c; c = c->next) {
		X509 *x = NULL;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!c->ns || strcmp((const char *)c->ns->href, CN_RIM_NS_DSIG) != 0 ||
		    strcmp((const char *)c->name, "X509Certificate") != 0)
			continue;
		if (idx >= CN_RIM_CHAIN_MAX) {
			cn_rim_set_reason(reason, "chain: more than %u certificates in X509Data",
					  CN_RIM_CHAIN_MAX);
			return -EBADMSG;
		}
		r = decode_cert(c, idx, &x, reason);
		if (r < 0)
			return r;
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return -ENOMEM;
		}
		idx++;
	}
	if (idx == 0) {
		cn_rim_set_reason(reason, "chain: no X509Certificate in the signature");
		return -EBADMSG;
	}
	*ret = TAKE_PTR(certs);
	return 0;
}

static bool cert_fingerprint_is(X509 *x, const uint8_t want[32])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	return X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32 && memcmp(md, want, 32) == 0;
}

static time_t asn1_time_to_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static time_t earliest_not_after(STACK_OF(X509) * certs)
{
	time_t best = 0;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		time_t t = asn1_time_to_time_t(X509_get0_notAfter(sk_X509_value(certs, i)));

		if (t != 0 && (best == 0 || t < best))
			best = t;
	}
	return best;
}

static int load_anchor_pem(const char *path, X509 **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_(BIO_freep) BIO *b = NULL;
	size_t len = 0;
	X509 *x;
	int r;

	/* cn_read_file: never blocks on a FIFO, refuses anything but a regular file. */
	r = cn_read_file(path, 1024 * 1024, &buf, &len);
	if (r < 0)
		return cn_err_set(r == -ENOENT ? -ENOENT : r,
				  "rim: cannot open root certificate '%s': %s", path,
				  cn_strerror(r));
	b = BIO_new_mem_buf(buf, (int)len);
	if (!b)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!x)
		return cn_err_set(-EINVAL, "rim: '%s' holds no PEM certificate", path);
	*ret = x;
	return 0;
}

static int build_chain(X509 *anchor, STACK_OF(X509) * embedded, time_t at, bool check_time,
		       STACK_OF(X509) * *ret_chain, int *ret_err, int *ret_depth)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	_cleanup_(x509_stack_freep) STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_VERIFY_PARAM *param;
	int ok;

	if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, anchor) != 1)
		return -ENOMEM;
	for (int i = 1; i < sk_X509_num(embedded); i++) {
		X509 *x = sk_X509_value(embedded, i);

		if (!X509_up_ref(x))
			return -ENOMEM;
		if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(embedded, 0), untrusted) != 1)
		return -ENOMEM;
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_depth(param, (int)CN_RIM_CHAIN_MAX);
	if (check_time)
		X509_VERIFY_PARAM_set_time(param, at);
	else
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		*ret_err = X509_STORE_CTX_get_error(ctx);
		*ret_depth = X509_STORE_CTX_get_error_depth(ctx);
		return 0;
	}
	*ret_chain = X509_STORE_CTX_get1_chain(ctx);
	if (!*ret_chain)
		return -ENOMEM;
	*ret_err = X509_V_OK;
	return 1;
}

static void cert_name(X509 *x, char *out, size_t size)
{
	X509_NAME *n = x ? X509_get_subject_name(x) : NULL;
	int i = n ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
	ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)) : NULL;
	const unsigned char *d = s ? ASN1_STRING_get0_data(s) : NULL;
	int len = s ? ASN1_STRING_length(s) : 0;
	size_t j = 0;

	for (int k = 0; d && k < len && j + 1 < size; k++)
		out[j++] = d[k] >= 0x20 && d[k] < 0x7f ? (char)d[k] : '?';
	out[j] = '\0';
	if (j == 0)
		(void)snprintf(out, size, "(no CN)");
}

bool cn_rim_key_is_p384(EVP_PKEY *k)
{
	char group[64];
	size_t n = 0;

	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return false;
	if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &n) != 1)
		return false;
	return strcmp(group, "secp384r1") == 0;
}

/* Sets chain_status/reason/not_after and rim->chain. Returns <0 only for ENOMEM-like failures. */
int cn_rim_verify_chain(struct cn_rim *rim, const struct cn_rim_verify_opts *opts)
{
	struct cn_rim_status *st = &rim->status;
	_cleanup_(X509_freep) X509 *anchor = NULL;
	STACK_OF(X509) *chain = NULL;
	uint8_t pin[32];
	X509 *leaf = sk_X509_value(rim->embedded, 0);
	char name[128];
	int r, err = 0, depth = 0;
	bool time_problem;

	st->chain_not_after = earliest_not_after(rim->embedded);
	if (opts->root_pem_path) {
		unsigned n = 0;

		r = load_anchor_pem(opts->root_pem_path, &anchor);
		if (r < 0)
			return r;
		if (X509_digest(anchor, EVP_sha256(), pin, &n) != 1 || n != 32)
			return cn_err_set(-EIO, "rim: cannot hash root certificate");
	} else {
		memcpy(pin, cn_rim_root_sha256, 32);
		/* The root delivered with the RIM is accepted only if it is the pinned one. */
		for (int i = 0; i < sk_X509_num(rim->embedded); i++) {
			X509 *x = sk_X509_value(rim->embedded, i);

			if (cert_fingerprint_is(x, pin)) {
				if (!X509_up_ref(x))
					return -ENOMEM;
				anchor = x;
				break;
			}
		}
		if (!anchor) {
			st->chain_status = CN_RIM_CHAIN_INVALID;
			cn_rim_set_reason(
			    st->chain_reason,
			    "chain: no certificate in KeyInfo is the pinned NVIDIA CoRIM "
			    "signing Root CA (SHA-256 fingerprint mismatch)");
			return 0;
		}
	}

	cert_name(leaf, name, sizeof(name));
	r = build_chain(anchor, rim->embedded, opts->time, true, &chain, &err, &depth);
	if (r < 0)
		return cn_err_set(r, "rim: out of memory");
	time_problem =
	    r == 0 && (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID);
	if (r == 0 && !time_problem) {
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(
		    st->chain_reason,
		    "chain: signer '%s' does not chain to the RIM root: %s (depth %d)", name,
		    X509_verify_cert_error_string(err), depth);
		return 0;
	}
	if (time_problem) {
		int err2 = 0, depth2 = 0;

		r = build_chain(anchor, rim->embedded, opts->time, false, &chain, &err2, &depth2);
		if (r < 0)
			return cn_err_set(r, "rim: out of memory");
		if (r == 0) {
			st->chain_status = CN_RIM_CHAIN_INVALID;
			cn_rim_set_reason(
			    st->chain_reason,
			    "chain: signer '%s' does not chain to the RIM root: %s (depth %d)",
			    name, X509_verify_cert_error_string(err2), depth2);
			return 0;
		}
	}
	rim->chain = chain;
	st->chain_not_after = earliest_not_after(chain);

	/* Belt and braces: the chain ends at the pinned root and the signer is a P-384 end entity.
	 */
	if (!cert_fingerprint_is(sk_X509_value(chain, sk_X509_num(chain) - 1), pin)) {
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(st->chain_reason, "chain: does not end at the pinned RIM root");
		return 0;
	}
	if (!cn_rim_key_is_p384(X509_get0_pubkey(leaf))) {
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(st->chain_reason, "chain: signer '%s' key is not ECDSA P-384",
				  name);
		return 0;
	}
	if (X509_check_ca(leaf) != 0) {
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(st->chain_reason, "chain: signer '%s' is a CA certificate", name);
		return 0;
	}
	if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(st->chain_reason,
				  "chain: signer '%s' key usage lacks digitalSignature", name);
		return 0;
	}
	if (time_problem) {
		/* Which certificate is outside its window at opts->time? */
		for (int i = 0; i < sk_X509_num(chain); i++) {
			X509 *x = sk_X509_value(chain, i);
			char cn[128];

			cert_name(x, cn, sizeof(cn));
			if (X509_cmp_time(X509_get0_notAfter(x), &(time_t){opts->time}) < 0) {
				st->chain_status = CN_RIM_CHAIN_EXPIRED;
				cn_rim_set_reason(st->chain_reason,
						  "chain: certificate '%s' (depth %d) has expired",
						  cn, i);
				return 0;
			}
		}
		st->chain_status = CN_RIM_CHAIN_INVALID;
		cn_rim_set_reason(
		    st->chain_reason,
		    "chain: a certificate is not yet valid at the verification time (depth %d)",
		    depth);
		return 0;
	}
	st->chain_status = CN_RIM_CHAIN_VALID;
	st->chain_reason[0] = '\0';
	return 0;
}

/* ---- XML-DSig ---- */
