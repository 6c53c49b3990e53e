/* SPDX-License-Identifier: Apache-2.0 */
/* Device certificate chain: split, validate to the pinned root, FWID, identity (spec §3). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/chain.h"
#include "attest/memo.h"
#include "base/fileio.h"
#include "base/log.h"

/* NVIDIA Device Identity CA, serial 2D3670B1CA100411C1FEC0E82A065B54 (spec §3.2). */
const uint8_t cn_device_root_sha256[32] = {
    0x10, 0x2B, 0xF6, 0x59, 0xD5, 0x41, 0x96, 0x14, 0xC9, 0xD8, 0xE6, 0xAE, 0xCE, 0xBC, 0x80, 0x45,
    0x4E, 0xB2, 0x6B, 0x1D, 0xF6, 0xA7, 0x69, 0xAC, 0x72, 0x0B, 0x9A, 0x69, 0x0B, 0x16, 0x7B, 0x48,
};

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const uint8_t *find(const uint8_t *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; m <= n && i <= n - m; i++)
		if (p[i] == (uint8_t)needle[0] && memcmp(p + i, needle, m) == 0)
			return p + i;
	return NULL;
}

/*
 * The certificate of one PEM block, as PEM_read_bio_X509() reads it (type CERTIFICATE or
 * X509 CERTIFICATE, no encryption headers), parsed through the run's pool.
 */
static X509 *pem_cert(BIO *bio, struct cn_verify_memo *memo)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	size_t used;
	X509 *x = NULL;

	if (PEM_read_bio(bio, &name, &header, &data, &n) == 1 && n > 0 &&
	    (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) &&
	    header[0] == 0)
		x = cn_verify_memo_x509(memo, data, (size_t)n, &used);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return x;
}

static int split_pem(const uint8_t *buf, size_t len, struct cn_verify_memo *memo,
		     STACK_OF(X509) * out)
{
	size_t i = 0;

	for (;;) {
		const uint8_t *b, *e;
		size_t start, stop;
		X509 *x;
		BIO *bio;

		while (i < len && (is_space(buf[i]) || buf[i] == 0))
			i++;
		if (i == len)
			break;
		if (len - i < sizeof(pem_begin) - 1 ||
		    memcmp(buf + i, pem_begin, sizeof(pem_begin) - 1) != 0)
			return cn_err_set(-EBADMSG,
					  "certificate chain: unexpected bytes at offset %zu", i);
		b = buf + i;
		e = find(b, len - i, pem_end);
		if (!e)
			return cn_err_set(
			    -EBADMSG, "certificate chain: no END CERTIFICATE after offset %zu", i);
		start = i;
		stop = (size_t)(e - buf) + sizeof(pem_end) - 1;
		if (sk_X509_num(out) >= (int)CN_CHAIN_CERTS_MAX)
			return cn_err_set(-E2BIG, "certificate chain: more than %u certificates",
					  CN_CHAIN_CERTS_MAX);
		bio = BIO_new_mem_buf(buf + start, (int)(stop - start));
		if (!bio)
			return -ENOMEM;
		x = pem_cert(bio, memo);
		BIO_free(bio);
		if (!x)
			return cn_err_set(
			    -EBADMSG,
			    "certificate chain: certificate %d at offset %zu does not parse",
			    sk_X509_num(out), start);
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			return -ENOMEM;
		}
		i = stop;
	}
	return 0;
}

static int split_der(const uint8_t *buf, size_t len, struct cn_verify_memo *memo,
		     STACK_OF(X509) * out)
{
	const uint8_t *p = buf;

	while ((size_t)(p - buf) < len) {
		size_t off = (size_t)(p - buf), left = len - off, used = 0;
		X509 *x;

		if (sk_X509_num(out) >= (int)CN_CHAIN_CERTS_MAX)
			return cn_err_set(-E2BIG, "certificate chain: more than %u certificates",
					  CN_CHAIN_CERTS_MAX);
		x = cn_verify_memo_x509(memo, p, left, &used);
		if (!x)
			return cn_err_set(
			    -EBADMSG,
			    "certificate chain: DER certificate %d at offset %zu does not parse",
			    sk_X509_num(out), off);
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			return -ENOMEM;
		}
		p += used;
	}
	return 0;
}

int cn_chain_split(const uint8_t *buf, size_t len, STACK_OF(X509) * *ret)
{
	return cn_chain_split_memo(buf, len, NULL, ret);
}

int cn_chain_split_memo(const uint8_t *buf, size_t len, struct cn_verify_memo *memo,
			STACK_OF(X509) * *ret)
{
	_cleanup_x509_stack_ STACK_OF(X509) *out = NULL;
	int r;

	if (len > CN_CHAIN_TEXT_MAX)
		return cn_err_set(-E2BIG, "certificate chain: %zu bytes, more than %u", len,
				  CN_CHAIN_TEXT_MAX);
	out = sk_X509_new_null();
	if (!out)
		return -ENOMEM;
	if (len > 0 && buf[0] == 0x30)
		r = split_der(buf, len, memo, out);
	else
		r = split_pem(buf, len, memo, out);
	if (r < 0)
		return r;
	if (sk_X509_num(out) == 0)
		return cn_err_set(-EBADMSG, "certificate chain: no certificate");
	*ret = TAKE_PTR(out);
	return 0;
}

int cn_cert_load_pem(const char *path, X509 **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio;
	X509 *x;
	int r = cn_read_file(path, CN_CHAIN_TEXT_MAX, &buf, &len);

	if (r < 0)
		return cn_err_set(r, "cannot read certificate '%s': %s", path, cn_strerror(r));
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return -ENOMEM;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x)
		return cn_err_set(-EBADMSG, "'%s' is not a PEM certificate", path);
	*ret = x;
	return 0;
}

int cn_cert_sha256(X509 *x, uint8_t out[32])
{
	unsigned int n = 0;

	if (X509_digest(x, EVP_sha256(), out, &n) != 1 || n != 32)
		return -ENOMEM;
	return 0;
}

int cn_asn1_time_to_time_t(const ASN1_TIME *t, time_t *ret)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*ret = timegm(&tm);
	return 0;
}

int cn_asn1_time_iso(const ASN1_TIME *t, char out[32])
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	return 0;
}

static void set_reason(struct cn_chain_result *res, const char *what, const char *msg)
{
	(void)snprintf(res->reason, sizeof(res->reason), "%s: %s", what, msg);
}

CN_DEFINE_CLEANUP(X509_STORE *, X509_STORE_free)
CN_DEFINE_CLEANUP(X509_STORE_CTX *, X509_STORE_CTX_free)

/* The memo key of a whole chain's outcome, or of a verified upper part chain[k..n-1]. */
static int chain_key(const char *kind, STACK_OF(X509) * chain, int from, const char *what,
		     int want_len, time_t now, uint8_t key[32])
{
	int n = sk_X509_num(chain);
	struct cn_memo_key k;

	cn_memo_key_begin(&k, kind);
	cn_memo_key_add(&k, what, strlen(what));
	cn_memo_key_add_u64(&k, (uint64_t)want_len);
	cn_memo_key_add_u64(&k, (uint64_t)n);
	cn_memo_key_add_u64(&k, (uint64_t)from);
	cn_memo_key_add_u64(&k, (uint64_t)now);
	for (int i = from; i < n; i++)
		cn_memo_key_add_cert(&k, sk_X509_value(chain, i));
	return cn_memo_key_end(&k, key);
}

/*
 * Can chain[k] stand in as the trust anchor of a chain whose upper part chain[k..n-1] this run
 * already validated (at the same clock, with the same length)? Only when nothing in that upper
 * part constrains the certificates below it beyond what validating the lower part checks: no
 * name or policy constraints, no policy mappings, and no path length that the lower part could
 * exceed (OpenSSL counts at most j - 1 CAs below chain[j]).
 */
static bool upper_part_reusable(STACK_OF(X509) * chain, int k)
{
	static const int nids[] = {NID_name_constraints, NID_policy_constraints,
				   NID_inhibit_any_policy, NID_policy_mappings};

	for (int j = k; j < sk_X509_num(chain); j++) {
		X509 *x = sk_X509_value(chain, j);
		long plen = X509_get_pathlen(x);

		for (size_t i = 0; i < ELEMENTSOF(nids); i++)
			if (X509_get_ext_by_NID(x, nids[i], -1) >= 0)
				return false;
		if (plen >= 0 && plen < j - 1)
			return false;
	}
	return true;
}

/* The lowest k (1..n-2) whose upper part chain[k..] this run validated, or 0. */
static int verified_upper(STACK_OF(X509) * chain, const char *what, int want_len, time_t now,
			  struct cn_verify_memo *memo)
{
	uint8_t key[32];
	bool ok;

	for (int k = 1; memo && k < sk_X509_num(chain) - 1; k++)
		if (chain_key("chain-upper", chain, k, what, want_len, now, key) == 0 &&
		    cn_verify_memo_get(memo, key, &ok, sizeof(ok)) && ok &&
		    upper_part_reusable(chain, k))
			return k;
	return 0;
}

/* Remembers that chain[1..n-1] and every upper part of it validated. */
static void remember_upper(STACK_OF(X509) * chain, const char *what, int want_len, time_t now,
			   struct cn_verify_memo *memo)
{
	uint8_t key[32];
	bool ok = true;

	for (int k = 1; memo && k < sk_X509_num(chain) - 1; k++)
		if (chain_key("chain-upper", chain, k, what, want_len, now, key) == 0)
			cn_verify_memo_put(memo, key, &ok, sizeof(ok));
}

/*
 * Path validation of chain[0..top] with chain[top] trusted: top is n - 1 (the pinned root) or
 * a k from verified_upper() (with X509_V_FLAG_PARTIAL_CHAIN). res->valid set on success.
 */
static int path_validate(STACK_OF(X509) * chain, X509 *trusted, int top, const char *what,
			 time_t now, struct cn_chain_result *res)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null(), *built;
	int n = sk_X509_num(chain), r = 0;
	unsigned long flags = X509_V_FLAG_X509_STRICT;

	if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, trusted) != 1) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 1; i < top; i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
			r = -ENOMEM;
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
		r = -ENOMEM;
		goto out;
	}
	if (top < n - 1)
		flags |= X509_V_FLAG_PARTIAL_CHAIN;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	X509_VERIFY_PARAM_set_flags(param, flags);
	X509_VERIFY_PARAM_set_depth(param, n);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		char where[160];

		(void)snprintf(where, sizeof(where), "certificate %d: %s",
			       X509_STORE_CTX_get_error_depth(ctx),
			       X509_verify_cert_error_string(e));
		set_reason(res, what, where);
		if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
			res->status = "expired";
		goto out;
	}
	built = X509_STORE_CTX_get0_chain(ctx);
	if (sk_X509_num(built) != top + 1) {
		set_reason(res, what, "the validated path is not the delivered chain");
		goto out;
	}
	for (int i = 0; i <= top; i++)
		if (X509_cmp(sk_X509_value(built, i), sk_X509_value(chain, i)) != 0) {
			set_reason(res, what, "the delivered chain is out of order");
			goto out;
		}
	res->valid = true;
	res->status = "valid";
	res->reason[0] = 0;
out:
	sk_X509_free(untrusted);
	return r;
}

int cn_chain_verify(STACK_OF(X509) * chain, X509 *anchor, const uint8_t pin[32], int want_len,
		    time_t now, const char *what, struct cn_verify_memo *memo,
		    struct cn_chain_result *res)
{
	uint8_t fp[32], want[32], key[32];
	const ASN1_TIME *earliest = NULL;
	int n = sk_X509_num(chain), top, r;
	bool keyed = false;

	*res = (struct cn_chain_result){.valid = false, .status = "invalid"};
	for (int i = 0; i < n; i++) {
		const ASN1_TIME *na = X509_get0_notAfter(sk_X509_value(chain, i));

		if (!earliest || ASN1_TIME_compare(na, earliest) < 0)
			earliest = na;
	}
	if (earliest)
		(void)cn_asn1_time_iso(earliest, res->expiration);

	if (want_len > 0 && n != want_len) {
		char msg[64];

		(void)snprintf(msg, sizeof(msg), "%d certificates, expected %d (leaf to root)", n,
			       want_len);
		set_reason(res, what, msg);
		return 0;
	}
	if (n < 2) {
		set_reason(res, what, "fewer than 2 certificates");
		return 0;
	}
	if (anchor) {
		if (cn_cert_sha256(anchor, want) < 0)
			return -ENOMEM;
	} else {
		memcpy(want, pin, 32);
	}
	if (cn_cert_sha256(sk_X509_value(chain, n - 1), fp) < 0)
		return -ENOMEM;
	if (memcmp(fp, want, 32) != 0) {
		set_reason(res, what,
			   "the root certificate does not match the pinned trust anchor");
		return 0;
	}

	/* The same chain earlier in this run (the root is pinned above, so it is in the key). */
	if (memo && chain_key("chain", chain, 0, what, want_len, now, key) == 0) {
		keyed = true;
		if (cn_verify_memo_claim(memo, key, res, sizeof(*res)))
			return 0;
	}
	/* Chains that share their upper part validate only their own lower part. */
	top = verified_upper(chain, what, want_len, now, memo);
	if (top == 0)
		top = n - 1;
	r = path_validate(chain, top == n - 1 && anchor ? anchor : sk_X509_value(chain, top), top,
			  what, now, res);
	if (r < 0) {
		if (keyed)
			cn_verify_memo_release(memo, key);
		return r;
	}
	/* Only validated chains are remembered: a failure may be the library's (memory). */
	if (res->valid)
		remember_upper(chain, what, want_len, now, memo);
	if (keyed && res->valid)
		cn_verify_memo_put(memo, key, res, sizeof(*res));
	else if (keyed)
		cn_verify_memo_release(memo, key);
	return 0;
}

int cn_cert_fwid(X509 *x, uint8_t out[48])
{
	ASN1_OBJECT *obj = OBJ_txt2obj("2.23.133.5.4.1", 1);
	const ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;
	int idx, len;

	if (!obj)
		return -ENOMEM;
	idx = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return -ENOENT;
	ext = X509_get_ext(x, idx);
	os = X509_EXTENSION_get_data(ext);
	len = ASN1_STRING_length(os);
	if (len < 48)
		return -EBADMSG;
	memcpy(out, ASN1_STRING_get0_data(os) + len - 48, 48);
	return 0;
}

int cn_cert_subject_cn(X509 *x, char **ret)
{
	X509_NAME *name = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *s;
	int n;

	if (idx < 0)
		return -ENOENT;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n < 0)
		return -EBADMSG;
	s = strndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int cn_cert_serial_dec(X509 *x, char **ret)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *dec, *s;

	if (!bn)
		return -ENOMEM;
	dec = BN_bn2dec(bn);
	BN_free(bn);
	if (!dec)
		return -ENOMEM;
	s = strdup(dec);
	OPENSSL_free(dec);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
