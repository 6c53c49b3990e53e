/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: builds a synthetic NVIDIA-style SPDM 1.1 attestation report (GET_MEASUREMENTS
 * request + MEASUREMENTS response + opaque TLVs) and signs it with a P-384 key, raw r||s.
 *
 *   mkreport --key LEAF.key --nonce HEX --out FILE [--hex] [--driver V] [--vbios xx.xx.xx.xx.xx]
 *            [--project P] [--project-sku S] [--chip-sku C] [--fwid HEX|none] [--nvdec0 HEX]
 *            [--blocks N] [--measure IDX=HEX]... [--opaque TYPE=HEX]... [--nvdaod]
 *
 * Measurement IDX is the SPDM block index (1-based); unset blocks hold 48 zero bytes.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/parse.h"

static uint8_t buf[16384];
static size_t len;

static void die(const char *m)
{
	(void)fprintf(stderr, "mkreport: %s\n", m);
	exit(1);
}

static void put(const void *p, size_t n)
{
	if (len + n > sizeof(buf))
		die("too big");
	memcpy(buf + len, p, n);
	len += n;
}

static void put8(unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(&b, 1);
}

static void put16(unsigned v)
{
	put8(v & 0xff);
	put8(v >> 8 & 0xff);
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	uint8_t *tmp = NULL;
	size_t n = 0;

	if (cn_unhex_alloc(s, strlen(s), max, &tmp, &n) < 0)
		die("bad hex");
	memcpy(out, tmp, n);
	free(tmp);
	return n;
}

struct tlv {
	unsigned type;
	uint8_t data[512];
	size_t len;
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", 1, NULL, 'k'},	{"nonce", 1, NULL, 'n'},
	    {"out", 1, NULL, 'o'},	{"hex", 0, NULL, 'x'},
	    {"driver", 1, NULL, 'd'},	{"vbios", 1, NULL, 'v'},
	    {"project", 1, NULL, 'p'},	{"project-sku", 1, NULL, 's'},
	    {"chip-sku", 1, NULL, 'c'}, {"fwid", 1, NULL, 'f'},
	    {"nvdec0", 1, NULL, 'N'},	{"blocks", 1, NULL, 'b'},
	    {"measure", 1, NULL, 'm'},	{"opaque", 1, NULL, 'O'},
	    {"nvdaod", 0, NULL, 'D'},	{0},
	};
	const char *key_path = NULL, *nonce = NULL, *out = NULL, *driver = "550.90.07",
		   *vbios = "96.00.9F.00.01", *project = "1010", *psku = "0200", *csku = "882",
		   *fwid = "none", *nvdec0 = "aa";
	bool hex = false, nvdaod = false;
	unsigned nblocks = 64;
	static uint8_t meas[256][48];
	static struct tlv extra[32];
	size_t nextra = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'n':
			nonce = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'x':
			hex = true;
			break;
		case 'd':
			driver = optarg;
			break;
		case 'v':
			vbios = optarg;
			break;
		case 'p':
			project = optarg;
			break;
		case 's':
			psku = optarg;
			break;
		case 'c':
			csku = optarg;
			break;
		case 'f':
			fwid = optarg;
			break;
		case 'N':
			nvdec0 = optarg;
			break;
		case 'b':
			nblocks = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'D':
			nvdaod = true;
			break;
		case 'm': {
			char *eq = strchr(optarg, '=');
			unsigned idx;

			if (!eq)
				die("--measure IDX=HEX");
			*eq = 0;
			idx = (unsigned)strtoul(optarg, NULL, 10);
			if (idx < 1 || idx > 255 || unhex(eq + 1, meas[idx], 48) != 48)
				die("--measure: index 1..255, 48 bytes");
			break;
		}
		case 'O': {
			char *eq = strchr(optarg, '=');

			if (!eq || nextra >= 32)
				die("--opaque TYPE=HEX");
			*eq = 0;
			extra[nextra].type = (unsigned)strtoul(optarg, NULL, 10);
			extra[nextra].len =
			    unhex(eq + 1, extra[nextra].data, sizeof(extra[nextra].data));
			nextra++;
			break;
		}
		default:
			die("bad option");
		}
	}
	if (!key_path || !nonce || !out)
		die("--key, --nonce and --out are required");

	uint8_t n32[32];
	if (cn_unhex_exact(nonce, n32, 32) < 0)
		die("bad nonce");

	/* request */
	put8(0x11);
	put8(0xE0);
	put8(0x01);
	put8(0xFF);
	put(n32, 32);
	put8(0x00);
	/* response */
	put8(0x11);
	put8(0x60);
	put8(0x00);
	put8(0x00);
	put8(nblocks);
	unsigned l1 = nblocks * 55;
	put8(l1 & 0xff);
	put8(l1 >> 8 & 0xff);
	put8(l1 >> 16 & 0xff);
	for (unsigned i = 1; i <= nblocks; i++) {
		put8(i);
		put8(0x01);
		put16(51);
		put8(0x01);
		put16(48);
		put(meas[i], 48);
	}
	uint8_t rn[32];
	for (int i = 0; i < 32; i++)
		rn[i] = (uint8_t)(0xA0 + i);
	put(rn, 32);

	/* opaque */
	uint8_t opq[4096];
	size_t ol = 0;
#define OPQ(t, p, n)                                                                               \
	do {                                                                                       \
		opq[ol++] = (uint8_t)(t);                                                          \
		opq[ol++] = 0;                                                                     \
		opq[ol++] = (uint8_t)((n)&0xff);                                                   \
		opq[ol++] = (uint8_t)((n) >> 8);                                                   \
		memcpy(opq + ol, (p), (n));                                                        \
		ol += (n);                                                                         \
	} while (0)
	if (nvdaod) {
		memcpy(opq, "NVDAOD\0\0\2\0\0\0", 12);
		ol = 12;
	}
	char tmp[64];
	(void)snprintf(tmp, sizeof(tmp), "%s", driver);
	OPQ(3, tmp, strlen(tmp) + 1);
	{
		unsigned a[5];
		uint8_t vb[8] = {0};

		if (sscanf(vbios, "%x.%x.%x.%x.%x", &a[0], &a[1], &a[2], &a[3], &a[4]) != 5)
			die("bad --vbios");
		vb[0] = (uint8_t)a[3];
		vb[1] = (uint8_t)a[2];
		vb[2] = (uint8_t)a[1];
		vb[3] = (uint8_t)a[0];
		vb[4] = (uint8_t)a[4];
		OPQ(6, vb, 8);
	}
	OPQ(17, project, strlen(project));
	OPQ(18, psku, strlen(psku));
	OPQ(15, csku, strlen(csku));
	{
		uint8_t b[1];

		if (unhex(nvdec0, b, 1) != 1)
			die("bad --nvdec0");
		OPQ(11, b, 1);
	}
	if (strcmp(fwid, "none") != 0) {
		uint8_t f[48];

		if (unhex(fwid, f, 48) != 48)
			die("--fwid needs 48 bytes");
		OPQ(20, f, 48);
	}
	for (size_t i = 0; i < nextra; i++)
		OPQ(extra[i].type, extra[i].data, extra[i].len);
	put16((unsigned)ol);
	put(opq, ol);

	/* signature */
	FILE *kf = fopen(key_path, "r");
	EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
	if (kf)
		fclose(kf);
	if (!key)
		die("cannot read the key");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[200];
	size_t dl = sizeof(der);
	if (EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dl, buf, len) != 1)
		die("signing failed");
	const uint8_t *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	const BIGNUM *r, *s;
	uint8_t rs[96];
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs, 48) != 48 || BN_bn2binpad(s, rs + 48, 48) != 48)
		die("bad signature size");
	put(rs, 96);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);

	FILE *f = fopen(out, "w");
	if (!f)
		die("cannot write");
	if (hex) {
		for (size_t i = 0; i < len; i++)
			(void)fprintf(f, "%02x", buf[i]);
		(void)fputc('\n', f);
	} else {
		(void)fwrite(buf, 1, len, f);
	}
	if (fclose(f) != 0)
		die("cannot write");
	return 0;
}
