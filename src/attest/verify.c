/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One GPU's checks (spec §2–§5), one step per check, each filling its part of the typed verdict;
 * then the checks across the GPUs of one machine. Rendering is in render.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "attest/chain.h"
#include "attest/rim/rim.h"
#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/log.h"
#include "base/parse.h"

#define CLAIM_ARCH "x-nvidia-gpu-arch-check"
#define CLAIM_PARSED "x-nvidia-gpu-attestation-report-parsed"
#define CLAIM_NONCE "x-nvidia-gpu-attestation-report-nonce-match"
#define CLAIM_SIG "x-nvidia-gpu-attestation-report-signature-verified"
#define CLAIM_CHAIN "x-nvidia-gpu-attestation-report-cert-chain"
#define CLAIM_FWID "x-nvidia-gpu-attestation-report-cert-chain-fwid-match"

double cn_attest_ms_since(const struct timespec *t0)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

const char *cn_attest_phase_name(unsigned phase)
{
	static const char *const names[CN_PHASES] = {
	    "parse", "chain", "signature", "ocsp", "rim", "compare", "total",
	};

	return phase < CN_PHASES ? names[phase] : "?";
}

static void lap(struct cn_attest_gpu_verdict *g, unsigned phase, struct timespec *t0)
{
	g->ms[phase] += cn_attest_ms_since(t0);
	(void)clock_gettime(CLOCK_MONOTONIC, t0);
}

int cn_attest_fail(struct cn_attest_gpu_verdict *g, const char *check, const char *reason,
		   json_t *evidence)
{
	struct cn_attest_failure *f;

	if (g->n_failures >= CN_ATTEST_FAILURES_MAX) {
		json_decref(evidence);
		return cn_err_set(-E2BIG, "GPU-%zu: more than %u failures", g->index,
				  CN_ATTEST_FAILURES_MAX);
	}
	f = realloc(g->failures, (g->n_failures + 1) * sizeof(*f));
	if (!f) {
		json_decref(evidence);
		return -ENOMEM;
	}
	g->failures = f;
	f = &f[g->n_failures++];
	(void)snprintf(f->check, sizeof(f->check), "%s", check);
	(void)snprintf(f->reason, sizeof(f->reason), "%s", reason);
	f->evidence = evidence;
	return 0;
}

int cn_attest_fail_ev(struct cn_attest_gpu_verdict *g, const char *check, const char *reason,
		      json_t *evidence)
{
	if (!evidence)
		return -ENOMEM;
	return cn_attest_fail(g, check, reason, evidence);
}

static json_t *hexstr(const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);
	json_t *j = h ? json_string(h) : NULL;

	free(h);
	return j;
}

void cn_attest_gpu_verdict_clear(struct cn_attest_gpu_verdict *g)
{
	for (size_t i = 0; i < g->n_failures; i++)
		json_decref(g->failures[i].evidence);
	free(g->failures);
	if (g->driver_rim.owned_rim)
		cn_rim_free(g->driver_rim.rim);
	if (g->vbios_rim.owned_rim)
		cn_rim_free(g->vbios_rim.rim);
	cn_rim_comparison_free(g->comparison);
	cn_spdm_report_free(g->report);
	if (g->chain)
		sk_X509_pop_free(g->chain, X509_free);
	free(g->hwmodel);
	free(g->ueid);
	*g = (struct cn_attest_gpu_verdict){0};
}

const char *cn_attest_chain_status_claim(const struct cn_attest_chain_verdict *c)
{
	const struct cn_ocsp_result *o = &c->ocsp;

	if (c->status == CN_CERT_EXPIRED)
		return "expired";
	if (c->status != CN_CERT_VALID)
		return "invalid";
	/*
	 * A failed OCSP step makes the chain "invalid" (spec §5.2, as NVIDIA's Python verifier):
	 * an answer of revoked or unknown, or no valid answer at all.
	 */
	if (o->checked && (!o->response_valid || !o->status || strcmp(o->status, "good") != 0))
		return "invalid";
	return "valid";
}

bool cn_attest_chain_ok(const struct cn_attest_chain_verdict *c)
{
	const struct cn_ocsp_result *o = &c->ocsp;

	/* nonce_exempt: not echoed only because fresh stored answers were used (issue 12) */
	return strcmp(cn_attest_chain_status_claim(c), "valid") == 0 && o->checked && o->status &&
	       strcmp(o->status, "good") == 0 && (o->nonce_match || o->nonce_exempt) &&
	       o->response_valid;
}

static int verify_signature(const struct cn_spdm_report *rep, X509 *leaf, char *why, size_t why_len,
			    bool *ok)
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	char group[32] = "";
	size_t gl = 0;
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t *der = NULL;
	EVP_MD_CTX *md = NULL;
	int n, ret = 0;

	*ok = false;
	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &gl) != 1 ||
	    strcmp(group, "secp384r1") != 0) {
		(void)snprintf(why, why_len, "the leaf certificate key is not an ECDSA P-384 key");
		return 0;
	}
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(rep->signature, 48, NULL);
	s = BN_bin2bn(rep->signature + 48, 48, NULL);
	md = EVP_MD_CTX_new();
	if (!sig || !r || !s || !md || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ret = -ENOMEM;
		goto out;
	}
	n = i2d_ECDSA_SIG(sig, &der);
	if (n <= 0) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pk) == 1 &&
	    EVP_DigestVerify(md, der, (size_t)n, rep->bytes, rep->signed_len) == 1)
		*ok = true;
	else
		(void)snprintf(why, why_len,
			       "ECDSA P-384/SHA-384 signature over bytes 0..%zu does not verify "
			       "with the leaf key",
			       rep->signed_len);
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(sig);
	return ret;
}

/* The OCSP failure of a chain, the most severe first: revoked or unknown, then the rest. */
int cn_attest_ocsp_failure(struct cn_attest_gpu_verdict *g, const char *check,
			   const struct cn_ocsp_result *o)
{
	if (!o->checked)
		return 0;
	if (o->status && strcmp(o->status, "good") != 0)
		return cn_attest_fail_ev(g, check, o->failure,
					 json_pack("{s:s,s:o}", "x-nvidia-cert-ocsp-status",
						   o->status, "x-nvidia-cert-revocation-reason",
						   o->revocation_reason
						       ? json_string(o->revocation_reason)
						       : json_null()));
	if (!o->response_valid)
		return cn_attest_fail_ev(
		    g, check, o->failure,
		    json_pack("{s:b}", "x-nvidia-cert-ocsp-response-valid", 0));
	if (!o->nonce_match && !o->nonce_exempt)
		return cn_attest_fail_ev(g, check, o->failure,
					 json_pack("{s:b}", "x-nvidia-cert-ocsp-nonce-matches", 0));
	return 0;
}

static int step_arch(struct cn_attest_gpu_verdict *g, const struct cn_gpu_evidence *ev)
{
	(void)snprintf(g->arch, sizeof(g->arch), "%s", ev->arch);
	g->arch_ok = strcmp(ev->arch, "HOPPER") == 0;
	if (g->arch_ok)
		return 0;
	return cn_attest_fail_ev(g, CLAIM_ARCH, "only Hopper (H100/H200) GPUs are supported",
				 json_pack("{s:s}", "arch", ev->arch));
}

static int step_parse(struct cn_attest_gpu_verdict *g, const struct cn_gpu_evidence *ev)
{
	int r = cn_spdm_parse(ev->report, ev->report_len, &g->report);

	if (r == -ENOMEM)
		return r;
	g->parsed = r >= 0;
	if (g->parsed)
		return 0;
	g->report = NULL;
	return cn_attest_fail_ev(g, CLAIM_PARSED, cn_err_msg(),
				 json_pack("{s:i}", "length", (int)ev->report_len));
}

static int step_nonce(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g,
		      const struct cn_gpu_evidence *ev)
{
	bool ok;
	int r;

	if (!g->parsed)
		return 0;
	ok = memcmp(g->report->req_nonce, ctx->nonce, 32) == 0;
	if (!ok) {
		r = cn_attest_fail_ev(g, CLAIM_NONCE,
				      "the signed request nonce differs from the caller's nonce",
				      json_pack("{s:o,s:o}", "expected", hexstr(ctx->nonce, 32),
						"report", hexstr(g->report->req_nonce, 32)));
		if (r < 0)
			return r;
	}
	if (ev->has_nonce && memcmp(ev->nonce, ctx->nonce, 32) != 0) {
		ok = false;
		r = cn_attest_fail_ev(g, CLAIM_NONCE,
				      "the evidence entry's nonce differs from the caller's nonce",
				      json_pack("{s:o,s:o}", "expected", hexstr(ctx->nonce, 32),
						"evidence", hexstr(ev->nonce, 32)));
		if (r < 0)
			return r;
	}
	g->nonce = ok ? CN_CHECK_PASSED : CN_CHECK_FAILED;
	return 0;
}

/* The driver and VBIOS versions a collector read through NVML must be the signed report's. */
static int step_versions(struct cn_attest_gpu_verdict *g, const struct cn_gpu_evidence *ev)
{
	const struct cn_spdm_report *rep = g->report;
	char why[256];

	if (!g->parsed || (!ev->driver_version[0] && !ev->vbios_version[0]))
		return 0;
	g->versions = CN_CHECK_PASSED;
	if (ev->driver_version[0] && strcmp(ev->driver_version, rep->driver_version) != 0) {
		g->versions = CN_CHECK_FAILED;
		(void)snprintf(why, sizeof(why),
			       "the driver reports version '%.64s', the signed report '%.64s'",
			       ev->driver_version, rep->driver_version);
		return cn_attest_fail_ev(g, "x-nvidia-gpu-driver-version", why,
					 json_pack("{s:s,s:s}", "collected", ev->driver_version,
						   "report", rep->driver_version));
	}
	if (ev->vbios_version[0] && strcasecmp(ev->vbios_version, rep->vbios_version) != 0) {
		g->versions = CN_CHECK_FAILED;
		(void)snprintf(
		    why, sizeof(why),
		    "the driver reports VBIOS version '%.32s', the signed report '%.32s'",
		    ev->vbios_version, rep->vbios_version);
		return cn_attest_fail_ev(g, "x-nvidia-gpu-vbios-version", why,
					 json_pack("{s:s,s:s}", "collected", ev->vbios_version,
						   "report", rep->vbios_version));
	}
	return 0;
}

static int step_chain(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g,
		      const struct cn_gpu_evidence *ev)
{
	struct cn_chain_result cres = {.status = "invalid"};
	int r;

	r = cn_chain_split_memo(ev->chain, ev->chain_len, ctx->memo, &g->chain);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		g->chain = NULL;
		(void)snprintf(cres.reason, sizeof(cres.reason), "%s", cn_err_msg());
	} else {
		r = cn_chain_verify(g->chain, ctx->device_root, cn_device_root_sha256,
				    CN_DEVICE_CHAIN_LEN, ctx->now, "device certificate chain",
				    ctx->memo, &cres);
		if (r < 0)
			return r;
	}
	g->device_chain.status = cres.valid			       ? CN_CERT_VALID
				 : strcmp(cres.status, "expired") == 0 ? CN_CERT_EXPIRED
								       : CN_CERT_INVALID;
	(void)snprintf(g->device_chain.expiration, sizeof(g->device_chain.expiration), "%s",
		       cres.expiration);
	if (cres.valid)
		return 0;
	return cn_attest_fail_ev(g, CLAIM_CHAIN, cres.reason,
				 json_pack("{s:s,s:i}", "x-nvidia-cert-status", cres.status,
					   "certificates", g->chain ? sk_X509_num(g->chain) : 0));
}

static int step_signature(struct cn_attest_gpu_verdict *g)
{
	char why[256] = "";
	bool ok;
	int r;

	if (!g->parsed || !g->chain)
		return 0;
	r = verify_signature(g->report, sk_X509_value(g->chain, 0), why, sizeof(why), &ok);
	if (r < 0)
		return r;
	g->signature = ok ? CN_CHECK_PASSED : CN_CHECK_FAILED;
	return ok ? 0 : cn_attest_fail(g, CLAIM_SIG, why, NULL);
}

/* OCSP of the device chain: BROM .. GH100 Identity (the per-boot leaf is not checked). */
static int step_ocsp(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g)
{
	struct cn_ocsp_result *o = &g->device_chain.ocsp;
	int r;

	*o = (struct cn_ocsp_result){.checked = false};
	if (!ctx->ocsp) {
		g->ocsp_off = true;
		return cn_attest_fail(
		    g, "x-nvidia-cert-ocsp-status",
		    "OCSP is off: the revocation status of the device and RIM chains is unknown",
		    NULL);
	}
	if (g->device_chain.status == CN_CERT_VALID) {
		int n = sk_X509_num(g->chain);
		struct cn_ocsp_check_opts oo = {.memo = ctx->memo, .chain_validated = true};

		r = cn_ocsp_check_chain(g->chain, 1, n - 2,
					ctx->device_root ? ctx->device_root
							 : sk_X509_value(g->chain, n - 1),
					ctx->nonce, ctx->now, ctx->ocsp, &oo, o);
		if (r < 0)
			return r;
	} else {
		*o = (struct cn_ocsp_result){.checked = true, .failed_cert = -1};
		(void)snprintf(o->failure, sizeof(o->failure),
			       "device chain not valid; OCSP not checked");
	}
	return cn_attest_ocsp_failure(g, CLAIM_CHAIN, o);
}

static int step_fwid(struct cn_attest_gpu_verdict *g)
{
	const struct cn_spdm_field *f;
	uint8_t fw[48];
	int k;

	if (!g->parsed || !g->chain)
		return 0;
	f = &g->report->fields[CN_OPAQUE_FWID];
	g->fwid = CN_CHECK_PASSED;
	if (!f->present)
		return 0;
	k = cn_cert_fwid(sk_X509_value(g->chain, 0), fw);
	if (k >= 0 && memcmp(fw, f->data, 48) == 0)
		return 0;
	g->fwid = CN_CHECK_FAILED;
	return cn_attest_fail_ev(g, CLAIM_FWID,
				 k == -ENOENT
				     ? "the leaf certificate has no FWID extension (2.23.133.5.4.1)"
				     : "the leaf certificate's FWID differs from the report's FWID",
				 json_pack("{s:o,s:o}", "report", hexstr(f->data, 48),
					   "certificate", k >= 0 ? hexstr(fw, 48) : json_null()));
}

/* Facts for the claims and the checks across GPUs; a failed conversion is an error. */
static int step_identity(struct cn_attest_gpu_verdict *g)
{
	int r;

	if (g->parsed) {
		const struct cn_spdm_field *f = &g->report->fields[CN_OPAQUE_FEATURE_FLAG];

		if (f->present && f->size > 0 && f->size <= 8) {
			g->has_feature_flag = true;
			for (size_t i = f->size; i > 0; i--)
				g->feature_flag = g->feature_flag << 8 | f->data[i - 1];
		}
	}
	if (!g->chain)
		return 0;
	if (sk_X509_num(g->chain) >= 2) {
		r = cn_cert_subject_cn(sk_X509_value(g->chain, 1), &g->hwmodel);
		if (r == -ENOMEM)
			return r;
	}
	r = cn_cert_serial_dec(sk_X509_value(g->chain, 0), &g->ueid);
	if (r < 0)
		return cn_err_set(r, "GPU-%zu: cannot convert the leaf certificate's serial",
				  g->index);
	return 0;
}

static bool rim_ok(const struct cn_attest_rim_verdict *v)
{
	return v->state == CN_ATTEST_RIM_LOADED && v->schema_validated && v->signature_verified &&
	       v->version_match && v->measurements_available && cn_attest_chain_ok(&v->chain);
}

int cn_attest_verify_gpu(const struct cn_attest_ctx *ctx, const struct cn_gpu_evidence *ev,
			 size_t index, struct cn_attest_gpu_verdict *ret)
{
	struct cn_attest_gpu_verdict *g = ret;
	struct timespec t0, tstart;
	int r;

	*g = (struct cn_attest_gpu_verdict){.index = index};
	g->driver_rim.kind = CN_RIM_KIND_DRIVER;
	g->vbios_rim.kind = CN_RIM_KIND_VBIOS;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	tstart = t0;

	if ((r = step_arch(g, ev)) < 0 || (r = step_parse(g, ev)) < 0)
		goto fail;
	lap(g, CN_PHASE_PARSE, &t0);
	if ((r = step_nonce(ctx, g, ev)) < 0 || (r = step_versions(g, ev)) < 0 ||
	    (r = step_chain(ctx, g, ev)) < 0)
		goto fail;
	lap(g, CN_PHASE_CHAIN, &t0);
	if ((r = step_signature(g)) < 0)
		goto fail;
	lap(g, CN_PHASE_SIGNATURE, &t0);
	if ((r = step_ocsp(ctx, g)) < 0)
		goto fail;
	lap(g, CN_PHASE_OCSP, &t0);
	if ((r = step_fwid(g)) < 0 || (r = cn_attest_step_rims(ctx, g)) < 0)
		goto fail;
	lap(g, CN_PHASE_RIM, &t0);
	if ((r = cn_attest_step_compare(g)) < 0)
		goto fail;
	lap(g, CN_PHASE_COMPARE, &t0);
	if ((r = step_identity(g)) < 0)
		goto fail;

	/* This GPU's share of the overall result: every check passed. */
	g->checks_passed = g->arch_ok && g->parsed && g->nonce == CN_CHECK_PASSED &&
			   g->signature == CN_CHECK_PASSED && g->fwid == CN_CHECK_PASSED &&
			   g->versions != CN_CHECK_FAILED &&
			   g->index_no_conflict == CN_CHECK_PASSED &&
			   g->measres == CN_CHECK_PASSED && rim_ok(&g->driver_rim) &&
			   rim_ok(&g->vbios_rim) && cn_attest_chain_ok(&g->device_chain);
	g->integrity = g->parsed && g->nonce == CN_CHECK_PASSED &&
		       g->signature == CN_CHECK_PASSED && g->device_chain.status == CN_CERT_VALID;
	g->ms[CN_PHASE_TOTAL] = cn_attest_ms_since(&tstart);
	return 0;
fail:
	cn_attest_gpu_verdict_clear(g);
	return r;
}

static int same_gpu(struct cn_attest_gpu_verdict *gi, const struct cn_attest_gpu_verdict *gj)
{
	char why[128];

	(void)snprintf(why, sizeof(why),
		       "the evidence of GPU-%zu is from the same GPU (ueid) as "
		       "GPU-%zu",
		       gi->index, gj->index);
	gi->checks_passed = false;
	gi->integrity = false;
	return cn_attest_fail_ev(gi, "ueid", why, json_pack("{s:s}", "ueid", gi->ueid));
}

static json_t *ff_json(const struct cn_attest_gpu_verdict *g)
{
	return g->has_feature_flag ? json_integer((json_int_t)g->feature_flag) : json_null();
}

int cn_attest_cross_check(struct cn_attest_gpu_verdict *gpus, size_t n)
{
	int r;

	/*
	 * One physical GPU must not stand in for another: the leaf serial is the GPU's ueid,
	 * compared as ASN.1 INTEGERs (never through a printed form that could be missing).
	 */
	for (size_t i = 1; i < n; i++) {
		X509 *li = gpus[i].chain ? sk_X509_value(gpus[i].chain, 0) : NULL;

		for (size_t j = 0; li && j < i; j++) {
			X509 *lj = gpus[j].chain ? sk_X509_value(gpus[j].chain, 0) : NULL;

			if (!lj || ASN1_INTEGER_cmp(X509_get0_serialNumber(li),
						    X509_get0_serialNumber(lj)) != 0)
				continue;
			r = same_gpu(&gpus[i], &gpus[j]);
			if (r < 0)
				return r;
			break;
		}
	}
	/*
	 * All GPUs must run in the same mode (FEATURE_FLAG: single-GPU, multi-GPU or protected
	 * PCIe). NVIDIA's tools disagree on the value mapping (spec §2.4), so only equality is
	 * required. A GPU whose report did not parse has failed already.
	 */
	for (size_t i = 1; i < n; i++) {
		if (!gpus[i].parsed || !gpus[0].parsed ||
		    (gpus[i].has_feature_flag == gpus[0].has_feature_flag &&
		     gpus[i].feature_flag == gpus[0].feature_flag))
			continue;
		gpus[i].checks_passed = false;
		r = cn_attest_fail_ev(
		    &gpus[i], "feature_flag",
		    "GPUs of one machine report different modes (opaque FEATURE_FLAG)",
		    json_pack("{s:o,s:o}", "GPU-0", ff_json(&gpus[0]), "this", ff_json(&gpus[i])));
		if (r < 0)
			return r;
	}
	return 0;
}
