/* SPDX-License-Identifier: Apache-2.0 */
/* JWT (alg none / ES384) and the detached EAT (spec §5.4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "attest/eat.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"

static char *b64url(const uint8_t *buf, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(len / 3 * 4 + 5), *o;
	size_t i = 0;

	if (!out)
		return NULL;
	o = out;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)buf[i] << 16 | (uint32_t)buf[i + 1] << 8 | buf[i + 2];

		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		*o++ = tbl[v >> 6 & 63];
		*o++ = tbl[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)buf[i] << 16;

		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)buf[i] << 16 | (uint32_t)buf[i + 1] << 8;

		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		*o++ = tbl[v >> 6 & 63];
	}
	*o = 0;
	return out;
}

static int es384_sign(EVP_PKEY *key, const char *msg, uint8_t out[96])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[160];
	size_t der_len = sizeof(der);
	const uint8_t *p = der;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int ret = -EIO;

	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, (const uint8_t *)msg, strlen(msg)) != 1)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!sig)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, 48) != 48 || BN_bn2binpad(s, out + 48, 48) != 48)
		goto out;
	ret = 0;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return ret;
}

int cn_jwt_encode(json_t *payload, EVP_PKEY *key, char **ret)
{
	const char *hdr =
	    key ? "{\"alg\":\"ES384\",\"typ\":\"JWT\"}" : "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	_cleanup_free_ char *body = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *signing = NULL;
	char *out;
	size_t n;

	body = json_dumps(payload, JSON_COMPACT);
	if (!body)
		return -ENOMEM;
	h64 = b64url((const uint8_t *)hdr, strlen(hdr));
	p64 = b64url((const uint8_t *)body, strlen(body));
	if (!h64 || !p64)
		return -ENOMEM;
	n = strlen(h64) + strlen(p64) + 2;
	signing = malloc(n);
	if (!signing)
		return -ENOMEM;
	(void)snprintf(signing, n, "%s.%s", h64, p64);
	if (key) {
		uint8_t sig[96];
		int r = es384_sign(key, signing, sig);

		if (r < 0)
			return cn_err_set(r, "eat: ES384 signing failed");
		s64 = b64url(sig, sizeof(sig));
	} else {
		s64 = strdup("");
	}
	if (!s64)
		return -ENOMEM;
	n = strlen(signing) + strlen(s64) + 2;
	out = malloc(n);
	if (!out)
		return -ENOMEM;
	(void)snprintf(out, n, "%s.%s", signing, s64);
	*ret = out;
	return 0;
}

int cn_eat_build(json_t *overall, json_t *detached, EVP_PKEY *key, char **ret)
{
	json_t *ov = NULL, *submods = NULL, *gpus = NULL, *eat = NULL;
	const char *k;
	json_t *v;
	char *overall_jwt = NULL, *text = NULL;
	int r = -ENOMEM;

	ov = json_deep_copy(overall);
	submods = json_object();
	gpus = json_object();
	if (!ov || !submods || !gpus)
		goto out;
	json_object_foreach(detached, k, v)
	{
		char *jwt = NULL, hex[65];
		uint8_t md[32];
		unsigned int mdlen = 0;

		r = cn_jwt_encode(v, key, &jwt);
		if (r < 0)
			goto out;
		if (EVP_Digest(jwt, strlen(jwt), md, &mdlen, EVP_sha256(), NULL) != 1) {
			free(jwt);
			r = -EIO;
			goto out;
		}
		(void)cn_hex(md, 32, hex);
		if (json_object_set_new(gpus, k, json_string(jwt)) < 0 ||
		    json_object_set_new(submods, k,
					json_pack("[s,[s,s]]", "DIGEST", "SHA256", hex)) < 0) {
			free(jwt);
			r = -ENOMEM;
			goto out;
		}
		free(jwt);
	}
	if (json_object_set(ov, "submods", submods) < 0)
		goto out;
	r = cn_jwt_encode(ov, key, &overall_jwt);
	if (r < 0)
		goto out;
	eat = json_pack("[[s,s],O]", "JWT", overall_jwt, gpus);
	r = -ENOMEM;
	if (!eat)
		goto out;
	text = json_dumps(eat, JSON_COMPACT);
	if (!text)
		goto out;
	*ret = text;
	r = 0;
out:
	free(overall_jwt);
	json_decref(eat);
	json_decref(gpus);
	json_decref(submods);
	json_decref(ov);
	return r;
}

int cn_eat_load_key(const char *path, EVP_PKEY **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *k;
	char group[32] = "";
	size_t gl = 0;
	int r = cn_read_file(path, 64 * 1024, &buf, &len);

	if (r < 0)
		return cn_err_set(r, "cannot read signing key '%s': %s", path, cn_strerror(r));
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return -ENOMEM;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	if (!k)
		return cn_err_set(-EBADMSG, "'%s' is not a PEM private key", path);
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &gl) != 1 ||
	    strcmp(group, "secp384r1") != 0) {
		EVP_PKEY_free(k);
		return cn_err_set(-EINVAL, "signing key '%s' is not a P-384 EC key (ES384)", path);
	}
	*ret = k;
	return 0;
}
