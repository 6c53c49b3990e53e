/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake libnvidia-ml.so.1 for the tests and the bench: answers the NVML calls of spec §1 from a
 * test PKI (tests/attest/make-test-pki.sh), like a Hopper GPU in CC mode would:
 *   - each GPU gets a fresh per-boot attestation leaf (P-384 key, "GH100 A01 GSP FMC LF", the
 *     PKI's FWID extension, random serial) signed by the PKI's BROM key; its chain is
 *     leaf, brom, ica, identity, root (PEM), as NVML returns it;
 *   - the report is a fresh SPDM 1.1 GET_MEASUREMENTS request + MEASUREMENTS response for the
 *     caller's nonce, golden measurements SHA-384("measurement <i>") at the indices of the
 *     test RIMs (driver 7, 21..40; VBIOS 0..6, 8..12), driver 550.90.07, VBIOS 96.00.9F.00.01,
 *     signed with the leaf key (raw r||s).
 *
 * Environment:
 *   CN_FAKE_NVML_PKI     directory of make-test-pki.sh output (required unless replaying)
 *   CN_FAKE_NVML_LOG     append one line per call: "<function> <args> -> <rc>"
 *   CN_FAKE_NVML_GPUS    number of GPUs (default 1)
 *   CN_FAKE_NVML_READY   initial ready state (default 0)
 *   CN_FAKE_NVML_REPLAY_REPORT / _CHAIN   return these recorded bytes for every GPU instead
 *   CN_FAKE_NVML_BOOTED  a directory: the GPUs booted before the guest (as real ones do, their
 *                        per-boot leaves exist before nvmlInit); GPU i's leaf key and chain are
 *                        kept there as gpu-<i>.key / gpu-<i>.pem, made on first use (the key
 *                        as its raw P-384 scalar and point: a PEM key would cost OpenSSL 3.0's
 *                        decoder lookup per GPU, which real GPUs, signing in hardware, do not)
 *   CN_FAKE_NVML_FAULT   comma-separated fault modes:
 *     cc-off devtools-on env-sim ppcie-on state-mismatch       system state
 *     bad-gpu=I arch=V                                          GPUs (I signs with a wrong key)
 *     replay truncated driver=S vbios=S report-size=N chain-size=N uuid-unterminated count=N
 *     fail=FUNCTION:RC hang=FUNCTION ready-noop                 NVML
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/nvml-abi.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_GPUS 64

struct gpu {
	EVP_PKEY *key; /* signs the reports */
	char *chain;   /* PEM chain, leaf first */
	size_t chain_len;
};

static struct {
	bool loaded;
	unsigned n_gpus, ready;
	char fault[1024];
	char pki[512];
	uint8_t fwid[48];
	bool have_fwid;
	struct gpu gpus[MAX_GPUS];
	uint8_t *replay_report, *replay_chain;
	size_t replay_report_len, replay_chain_len;
} F;

EXPORT cn_nvmlReturn_t nvmlInit_v2(void);
EXPORT cn_nvmlReturn_t nvmlShutdown(void);
EXPORT cn_nvmlReturn_t nvmlSystemGetConfComputeState(struct cn_nvml_abi_state *s);
EXPORT cn_nvmlReturn_t nvmlSystemGetConfComputeSettings(struct cn_nvml_abi_settings *s);
EXPORT cn_nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned len);
EXPORT cn_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n);
EXPORT cn_nvmlReturn_t nvmlDeviceGetCount(unsigned *n);
EXPORT cn_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, cn_nvmlDevice_t *d);
EXPORT cn_nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned i, cn_nvmlDevice_t *d);
EXPORT cn_nvmlReturn_t nvmlDeviceGetArchitecture(cn_nvmlDevice_t d, unsigned *arch);
EXPORT cn_nvmlReturn_t nvmlDeviceGetBoardId(cn_nvmlDevice_t d, unsigned *id);
EXPORT cn_nvmlReturn_t nvmlDeviceGetUUID(cn_nvmlDevice_t d, char *buf, unsigned len);
EXPORT cn_nvmlReturn_t nvmlDeviceGetVbiosVersion(cn_nvmlDevice_t d, char *buf, unsigned len);
EXPORT cn_nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(cn_nvmlDevice_t d,
							      struct cn_nvml_abi_cert *c);
EXPORT cn_nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(cn_nvmlDevice_t d,
								    struct cn_nvml_abi_report *r);
EXPORT cn_nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned *ready);
EXPORT cn_nvmlReturn_t nvmlSystemSetConfComputeGpusReadyState(unsigned ready);

static __attribute__((format(printf, 1, 2))) void logf_(const char *fmt, ...)
{
	const char *path = getenv("CN_FAKE_NVML_LOG");
	FILE *f;
	va_list ap;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	va_start(ap, fmt);
	(void)vfprintf(f, fmt, ap);
	va_end(ap);
	(void)fputc('\n', f);
	(void)fclose(f);
}

/* The value of fault NAME ("" for a flag), or NULL when the fault is not set. */
static const char *fault(const char *name)
{
	static _Thread_local char val[256]; /* GPUs are collected on several threads */
	size_t n = strlen(name);

	for (const char *p = F.fault; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len >= n && strncmp(p, name, n) == 0 && (len == n || p[n] == '=')) {
			size_t vl = len > n ? len - n - 1 : 0;

			if (vl >= sizeof(val))
				vl = sizeof(val) - 1;
			memcpy(val, p + n + (len > n), vl);
			val[vl] = 0;
			return val;
		}
		p += len + (end ? 1 : 0);
	}
	return NULL;
}

static long fault_num(const char *name, long dflt)
{
	const char *v = fault(name);

	return v && *v ? strtol(v, NULL, 0) : dflt;
}

/* The injected result of fn (fail=FN:RC, hang=FN), or 0. */
static cn_nvmlReturn_t injected(const char *fn)
{
	size_t n = strlen(fn);

	for (const char *p = F.fault; (p = strstr(p, fn)); p += n) {
		bool word = p == F.fault || p[-1] == '=' || p[-1] == ',';

		if (!word || (p[n] != ':' && p[n] != ',' && p[n] != 0))
			continue;
		if (p >= F.fault + 5 && strncmp(p - 5, "hang=", 5) == 0) {
			logf_("%s hangs", fn);
			for (;;)
				(void)pause();
		}
		if (p >= F.fault + 5 && strncmp(p - 5, "fail=", 5) == 0 && p[n] == ':')
			return (cn_nvmlReturn_t)strtol(p + n + 1, NULL, 0);
	}
	return 0;
}

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!nb) {
				free(buf);
				(void)fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t k = fread(buf + len, 1, cap - len, f);
		if (k == 0)
			break;
		len += k;
	}
	(void)fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static char *pki_path(const char *name)
{
	static char p[600];

	(void)snprintf(p, sizeof(p), "%s/%s", F.pki, name);
	return p;
}

static EVP_PKEY *load_key(const char *name)
{
	FILE *f = fopen(pki_path(name), "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		(void)fclose(f);
	return k;
}

static X509 *load_cert(const char *name)
{
	FILE *f = fopen(pki_path(name), "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		(void)fclose(f);
	return x;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, const char *name, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_nconf(NULL, ctx, name, value);
	bool ok = e && X509_add_ext(x, e, -1) == 1;

	X509_EXTENSION_free(e);
	return ok;
}

/* A per-boot attestation leaf under the PKI's BROM, and the chain NVML would return. */
static bool make_gpu(struct gpu *g, X509 *brom, EVP_PKEY *brom_key, const char *rest)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *serial = BN_new();
	BIO *out = BIO_new(BIO_s_mem());
	char fwid_ext[256] = "DER:303D06096086480165030402020430";
	X509V3_CTX ctx;
	BUF_MEM *mem;
	bool ok = false;

	if (!key || !x || !name || !serial || !out)
		goto out;
	for (int i = 0; i < 48; i++)
		(void)snprintf(fwid_ext + 34 + 2 * i, 3, "%02X", F.fwid[i]);
	if (BN_rand(serial, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) || X509_set_version(x, 2) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const uint8_t *)"cocoon-test", -1,
				       -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const uint8_t *)"GH100 A01 GSP FMC LF", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(brom)) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) || X509_set_pubkey(x, key) != 1)
		goto out;
	X509V3_set_ctx(&ctx, brom, x, NULL, NULL, 0);
	if (!add_ext(x, &ctx, "basicConstraints", "critical,CA:FALSE") ||
	    !add_ext(x, &ctx, "keyUsage", "critical,digitalSignature") ||
	    !add_ext(x, &ctx, "subjectKeyIdentifier", "hash") ||
	    !add_ext(x, &ctx, "authorityKeyIdentifier", "keyid") ||
	    (F.have_fwid && !add_ext(x, &ctx, "2.23.133.5.4.1", fwid_ext)) ||
	    X509_sign(x, brom_key, EVP_sha384()) <= 0 || PEM_write_bio_X509(out, x) != 1 ||
	    BIO_write(out, rest, (int)strlen(rest)) != (int)strlen(rest) ||
	    BIO_get_mem_ptr(out, &mem) != 1)
		goto out;
	g->chain = malloc(mem->length);
	if (!g->chain)
		goto out;
	memcpy(g->chain, mem->data, mem->length);
	g->chain_len = mem->length;
	g->key = key;
	key = NULL;
	ok = true;
out:
	EVP_PKEY_free(key);
	X509_free(x);
	X509_NAME_free(name);
	BN_free(serial);
	BIO_free(out);
	return ok;
}

/* CN_FAKE_NVML_BOOTED's file for GPU i ("key" or "pem"); NULL when that mode is off. */
static const char *booted_path(unsigned i, const char *ext)
{
	static char path[1024];
	const char *dir = getenv("CN_FAKE_NVML_BOOTED");

	if (!dir || !*dir)
		return NULL;
	(void)snprintf(path, sizeof(path), "%s/gpu-%u.%s", dir, i, ext);
	return path;
}

/* A P-384 key file: the private scalar (48 bytes) then the uncompressed point (97 bytes). */
#define RAW_KEY_LEN (48 + 97)

static EVP_PKEY *raw_key_read(const char *path)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	BIGNUM *priv = NULL;
	EVP_PKEY *k = NULL;

	if (b && ctx && read_all(path, &raw, &len) == 0 && len == RAW_KEY_LEN &&
	    (priv = BN_bin2bn(raw, 48, NULL)) &&
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-384", 0) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, raw + 48, 97) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
		k = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(priv);
	free(raw);
	return k;
}

static bool raw_key_write(const char *path, EVP_PKEY *k)
{
	uint8_t raw[RAW_KEY_LEN];
	BIGNUM *priv = NULL;
	size_t pub_len = 0;
	FILE *f;
	bool ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1 &&
		  BN_bn2binpad(priv, raw, 48) == 48 &&
		  EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, raw + 48, 97,
						  &pub_len) == 1 &&
		  pub_len == 97;

	BN_clear_free(priv);
	f = ok ? fopen(path, "w") : NULL;
	ok = f && fwrite(raw, 1, sizeof(raw), f) == sizeof(raw);
	if (f && fclose(f) != 0)
		ok = false;
	return ok;
}

/* GPU i's leaf from an earlier boot (CN_FAKE_NVML_BOOTED). */
static bool booted_gpu(struct gpu *g, unsigned i)
{
	const char *kp = booted_path(i, "key");
	uint8_t *chain = NULL;
	size_t len = 0;

	if (!kp)
		return false;
	g->key = raw_key_read(kp);
	if (!g->key || read_all(booted_path(i, "pem"), &chain, &len) < 0) {
		EVP_PKEY_free(g->key);
		g->key = NULL;
		return false;
	}
	g->chain = (char *)chain;
	g->chain_len = len;
	return true;
}

/* Keeps GPU i's fresh leaf for the next boots (CN_FAKE_NVML_BOOTED); true when off. */
static bool keep_gpu(const struct gpu *g, unsigned i)
{
	const char *pp = booted_path(i, "pem");
	FILE *f;
	bool ok;

	if (!pp)
		return true;
	f = fopen(pp, "w");
	ok = f && fwrite(g->chain, 1, g->chain_len, f) == g->chain_len;
	if (f && fclose(f) != 0)
		ok = false;
	return ok && raw_key_write(booted_path(i, "key"), g->key);
}

static cn_nvmlReturn_t load(void)
{
	const char *pki = getenv("CN_FAKE_NVML_PKI"), *f = getenv("CN_FAKE_NVML_FAULT"),
		   *n = getenv("CN_FAKE_NVML_GPUS"), *ready = getenv("CN_FAKE_NVML_READY"),
		   *rr = getenv("CN_FAKE_NVML_REPLAY_REPORT"),
		   *rc = getenv("CN_FAKE_NVML_REPLAY_CHAIN");
	uint8_t *rest = NULL, *fw = NULL;
	size_t rest_len = 0, fw_len = 0;
	EVP_PKEY *brom_key = NULL;
	X509 *brom = NULL;
	bool ok = false;

	if (F.loaded)
		return 0;
	(void)snprintf(F.fault, sizeof(F.fault), "%s", f ? f : "");
	F.n_gpus = n ? (unsigned)strtoul(n, NULL, 10) : 1;
	F.ready = ready ? (unsigned)strtoul(ready, NULL, 10) : 0;
	if (F.n_gpus > MAX_GPUS)
		return 999;
	if (rr && rc) {
		if (read_all(rr, &F.replay_report, &F.replay_report_len) < 0 ||
		    read_all(rc, &F.replay_chain, &F.replay_chain_len) < 0)
			return 999;
		F.loaded = true;
		return 0;
	}
	if (!pki)
		return 999;
	(void)snprintf(F.pki, sizeof(F.pki), "%s", pki);
	if (read_all(pki_path("fwid.hex"), &fw, &fw_len) == 0 && fw_len >= 96) {
		for (int i = 0; i < 48; i++) {
			unsigned v;

			if (sscanf((const char *)fw + 2 * i, "%2x", &v) != 1)
				break;
			F.fwid[i] = (uint8_t)v;
		}
		F.have_fwid = true;
	}
	free(fw);
	/* brom, ica, identity, root: the tail of the PKI's chain.pem after its first cert */
	if (read_all(pki_path("chain.pem"), &rest, &rest_len) < 0)
		goto out;
	rest = realloc(rest, rest_len + 1);
	if (!rest)
		goto out;
	rest[rest_len] = 0;
	char *tail = strstr((char *)rest, "-----END CERTIFICATE-----\n");
	if (!tail)
		goto out;
	tail += strlen("-----END CERTIFICATE-----\n");
	for (unsigned i = 0; i < F.n_gpus; i++) {
		if (booted_gpu(&F.gpus[i], i))
			continue;
		if (!brom &&
		    (!(brom = load_cert("brom.crt")) || !(brom_key = load_key("brom.key"))))
			goto out;
		if (!make_gpu(&F.gpus[i], brom, brom_key, tail) || !keep_gpu(&F.gpus[i], i))
			goto out;
	}
	if (fault("bad-gpu")) {
		unsigned b = (unsigned)fault_num("bad-gpu", 0);

		if (b < F.n_gpus) { /* signs with a key its certificate does not hold */
			EVP_PKEY_free(F.gpus[b].key);
			F.gpus[b].key = EVP_EC_gen("P-384");
		}
	}
	ok = true;
	F.loaded = true;
out:
	free(rest);
	X509_free(brom);
	EVP_PKEY_free(brom_key);
	return ok ? 0 : 999;
}

#define ENTER(fn, ...)                                                                             \
	cn_nvmlReturn_t rc_ = load();                                                              \
	if (rc_ == 0)                                                                              \
		rc_ = injected(fn);                                                                \
	if (rc_ != 0) {                                                                            \
		logf_("%s -> %d", fn, rc_);                                                        \
		return rc_;                                                                        \
	}

/* Frees everything load() made (the library may be unloaded next). */
static void unload(void)
{
	for (unsigned i = 0; i < MAX_GPUS; i++) {
		EVP_PKEY_free(F.gpus[i].key);
		free(F.gpus[i].chain);
	}
	free(F.replay_report);
	free(F.replay_chain);
	memset(&F, 0, sizeof(F));
}

cn_nvmlReturn_t nvmlInit_v2(void)
{
	cn_nvmlReturn_t rc = load();

	if (rc == 0)
		rc = injected("nvmlInit_v2");
	logf_("nvmlInit_v2 -> %d", rc);
	if (rc != 0)
		unload(); /* no nvmlShutdown follows a failed init */
	return rc;
}

cn_nvmlReturn_t nvmlShutdown(void)
{
	cn_nvmlReturn_t rc = load();

	if (rc == 0)
		rc = injected("nvmlShutdown");
	logf_("nvmlShutdown -> %d", rc);
	unload(); /* also when failing: the caller unloads the library next */
	return rc;
}

static void state_values(uint32_t *env, uint32_t *cc, uint32_t *dev)
{
	*env = fault("env-sim") ? 1 : (uint32_t)fault_num("env", 2);
	*cc = fault("cc-off") ? 0 : 1;
	*dev = fault("devtools-on") ? 1 : 0;
}

cn_nvmlReturn_t nvmlSystemGetConfComputeState(struct cn_nvml_abi_state *s)
{
	ENTER("nvmlSystemGetConfComputeState");
	state_values(&s->environment, &s->ccFeature, &s->devToolsMode);
	if (fault("state-mismatch"))
		s->ccFeature ^= 1;
	logf_("nvmlSystemGetConfComputeState -> 0");
	return 0;
}

cn_nvmlReturn_t nvmlSystemGetConfComputeSettings(struct cn_nvml_abi_settings *s)
{
	ENTER("nvmlSystemGetConfComputeSettings");
	if (s->version != (20u | 1u << 24)) {
		logf_("nvmlSystemGetConfComputeSettings version 0x%x -> 25", s->version);
		return 25; /* NVML_ERROR_ARGUMENT_VERSION_MISMATCH */
	}
	state_values(&s->environment, &s->ccFeature, &s->devToolsMode);
	s->multiGpuMode = fault("ppcie-on") ? 1 : 0;
	logf_("nvmlSystemGetConfComputeSettings -> 0");
	return 0;
}

static cn_nvmlReturn_t put_string(const char *fn, const char *s, char *buf, unsigned len)
{
	if (strlen(s) + 1 > len) {
		logf_("%s -> 7", fn);
		return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
	}
	memcpy(buf, s, strlen(s) + 1);
	logf_("%s -> 0", fn);
	return 0;
}

cn_nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned len)
{
	const char *v;

	ENTER("nvmlSystemGetDriverVersion");
	v = fault("driver");
	return put_string("nvmlSystemGetDriverVersion", v ? v : "550.90.07", buf, len);
}

cn_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
	ENTER("nvmlDeviceGetCount_v2");
	*n = (unsigned)fault_num("count", (long)F.n_gpus);
	logf_("nvmlDeviceGetCount_v2 -> 0 (%u)", *n);
	return 0;
}

cn_nvmlReturn_t nvmlDeviceGetCount(unsigned *n)
{
	return nvmlDeviceGetCount_v2(n);
}

/* Handles are index + 1 (never NULL). */
static struct gpu *dev(cn_nvmlDevice_t d, unsigned *idx)
{
	uintptr_t i = (uintptr_t)d;

	if (i == 0 || i > F.n_gpus)
		return NULL;
	*idx = (unsigned)(i - 1);
	return &F.gpus[i - 1];
}

cn_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, cn_nvmlDevice_t *d)
{
	ENTER("nvmlDeviceGetHandleByIndex_v2");
	if (i >= F.n_gpus) {
		logf_("nvmlDeviceGetHandleByIndex_v2 %u -> 2", i);
		return 2;
	}
	*d = (cn_nvmlDevice_t)(uintptr_t)(i + 1);
	logf_("nvmlDeviceGetHandleByIndex_v2 %u -> 0", i);
	return 0;
}

cn_nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned i, cn_nvmlDevice_t *d)
{
	return nvmlDeviceGetHandleByIndex_v2(i, d);
}

cn_nvmlReturn_t nvmlDeviceGetArchitecture(cn_nvmlDevice_t d, unsigned *arch)
{
	unsigned i;

	ENTER("nvmlDeviceGetArchitecture");
	if (!dev(d, &i))
		return 2;
	*arch = (unsigned)fault_num("arch", 9);
	logf_("nvmlDeviceGetArchitecture %u -> 0 (%u)", i, *arch);
	return 0;
}

cn_nvmlReturn_t nvmlDeviceGetBoardId(cn_nvmlDevice_t d, unsigned *id)
{
	unsigned i;

	ENTER("nvmlDeviceGetBoardId");
	if (!dev(d, &i))
		return 2;
	*id = 945 + i;
	logf_("nvmlDeviceGetBoardId %u -> 0", i);
	return 0;
}

cn_nvmlReturn_t nvmlDeviceGetUUID(cn_nvmlDevice_t d, char *buf, unsigned len)
{
	char uuid[64];
	unsigned i;

	ENTER("nvmlDeviceGetUUID");
	if (!dev(d, &i))
		return 2;
	if (fault("uuid-unterminated")) {
		memset(buf, 'A', len);
		logf_("nvmlDeviceGetUUID %u -> 0 (unterminated)", i);
		return 0;
	}
	(void)snprintf(uuid, sizeof(uuid), "GPU-00000000-0000-0000-0000-%012u", i);
	return put_string("nvmlDeviceGetUUID", uuid, buf, len);
}

cn_nvmlReturn_t nvmlDeviceGetVbiosVersion(cn_nvmlDevice_t d, char *buf, unsigned len)
{
	const char *v;
	unsigned i;

	ENTER("nvmlDeviceGetVbiosVersion");
	if (!dev(d, &i))
		return 2;
	v = fault("vbios");
	return put_string("nvmlDeviceGetVbiosVersion", v ? v : "96.00.9F.00.01", buf, len);
}

cn_nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(cn_nvmlDevice_t d,
						       struct cn_nvml_abi_cert *c)
{
	const uint8_t *chain;
	size_t len;
	unsigned i;

	ENTER("nvmlDeviceGetConfComputeGpuCertificate");
	if (!F.replay_chain && !dev(d, &i))
		return 2;
	chain = F.replay_chain ? F.replay_chain : (const uint8_t *)dev(d, &i)->chain;
	len = F.replay_chain ? F.replay_chain_len : dev(d, &i)->chain_len;
	if (len > sizeof(c->attestationCertChain))
		return 999;
	memset(c, 0, sizeof(*c));
	memcpy(c->attestationCertChain, chain, len);
	c->attestationCertChainSize = (uint32_t)fault_num("chain-size", (long)len);
	logf_("nvmlDeviceGetConfComputeGpuCertificate -> 0 (%zu bytes)", len);
	return 0;
}

static void put16(uint8_t *p, size_t *n, unsigned v)
{
	p[(*n)++] = (uint8_t)(v & 0xff);
	p[(*n)++] = (uint8_t)(v >> 8);
}

static void opaque(uint8_t *p, size_t *n, unsigned type, const void *data, size_t len)
{
	put16(p, n, type);
	put16(p, n, (unsigned)len);
	memcpy(p + *n, data, len);
	*n += len;
}

/* SPDM 1.1 GET_MEASUREMENTS request + MEASUREMENTS response, signed (spec §2). */
static size_t make_report(uint8_t *out, const uint8_t nonce[32], EVP_PKEY *key)
{
	static const unsigned golden[] = {7,  21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
					  31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 0,
					  1,  2,  3,  4,  5,  6,  8,  9,  10, 11, 12};
	static const uint8_t vbios[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0, 0, 0};
	uint8_t meas[64][48] = {{0}}, opq[512], der[160];
	size_t n = 0, ol = 0, dl = sizeof(der);
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *md;
	const uint8_t *p;

	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		char text[32];
		int tl = snprintf(text, sizeof(text), "measurement %u", golden[i]);

		(void)EVP_Digest(text, (size_t)tl, meas[golden[i]], NULL, EVP_sha384(), NULL);
	}
	memcpy(out, "\x11\xe0\x01\xff", 4);
	memcpy(out + 4, nonce, 32);
	out[36] = 0;
	n = 37;
	memcpy(out + n, "\x11\x60\x00\x00\x40", 5);
	n += 5;
	out[n++] = (64 * 55) & 0xff;
	out[n++] = (64 * 55) >> 8;
	out[n++] = 0;
	for (unsigned b = 1; b <= 64; b++) {
		memcpy(out + n, (const uint8_t[]){(uint8_t)b, 0x01, 51, 0, 0x01, 48, 0}, 7);
		memcpy(out + n + 7, meas[b - 1], 48);
		n += 55;
	}
	(void)RAND_bytes(out + n, 32);
	n += 32;
	opaque(opq, &ol, 3, "550.90.07", 10);
	opaque(opq, &ol, 6, vbios, 8);
	opaque(opq, &ol, 17, "1010", 4);
	opaque(opq, &ol, 18, "0200", 4);
	opaque(opq, &ol, 15, "882", 3);
	opaque(opq, &ol, 11, "\xaa", 1);
	if (F.have_fwid)
		opaque(opq, &ol, 20, F.fwid, 48);
	put16(out, &n, (unsigned)ol);
	memcpy(out + n, opq, ol);
	n += ol;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dl, out, n) != 1) {
		EVP_MD_CTX_free(md);
		return 0;
	}
	EVP_MD_CTX_free(md);
	p = der;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	if (!sig)
		return 0;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out + n, 48) != 48 || BN_bn2binpad(s, out + n + 48, 48) != 48)
		n = 0;
	ECDSA_SIG_free(sig);
	return n ? n + 96 : 0;
}

cn_nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(cn_nvmlDevice_t d,
							     struct cn_nvml_abi_report *rep)
{
	uint8_t nonce[32];
	struct gpu *g = NULL;
	size_t len;
	unsigned i = 0;

	ENTER("nvmlDeviceGetConfComputeGpuAttestationReport");
	if (!F.replay_report && !(g = dev(d, &i)))
		return 2;
	memcpy(nonce, rep->nonce, 32);
	memset(rep, 0, sizeof(*rep));
	memcpy(rep->nonce, nonce, 32);
	if (F.replay_report) {
		len =
		    F.replay_report_len > sizeof(rep->attestationReport) ? 0 : F.replay_report_len;
		memcpy(rep->attestationReport, F.replay_report, len);
	} else {
		if (fault("replay")) /* a report made for an earlier nonce */
			nonce[0] ^= 0xff;
		len = make_report(rep->attestationReport, nonce, g->key);
	}
	if (len == 0)
		return 999;
	if (fault("truncated"))
		len -= 50;
	rep->attestationReportSize = (uint32_t)fault_num("report-size", (long)len);
	logf_("nvmlDeviceGetConfComputeGpuAttestationReport %u -> 0 (%zu bytes)", i, len);
	return 0;
}

cn_nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned *ready)
{
	ENTER("nvmlSystemGetConfComputeGpusReadyState");
	*ready = F.ready;
	logf_("nvmlSystemGetConfComputeGpusReadyState -> 0 (%u)", F.ready);
	return 0;
}

cn_nvmlReturn_t nvmlSystemSetConfComputeGpusReadyState(unsigned ready)
{
	cn_nvmlReturn_t rc_ = load();

	if (rc_ == 0)
		rc_ = injected("nvmlSystemSetConfComputeGpusReadyState");
	logf_("READY-WRITE nvmlSystemSetConfComputeGpusReadyState %u -> %d", ready, rc_);
	if (rc_ != 0)
		return rc_;
	if (!fault("ready-noop"))
		F.ready = ready;
	return 0;
}
