/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed verdicts as JSON: NVIDIA's v3 detached claims (the policy input, named and ordered
 * exactly as today's output), the per-GPU entry of `cocoon attest verify`, the overall claims.
 * Any failed allocation makes the whole rendering fail (NULL): never a partial document.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "attest/rim/rim.h"
#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/log.h"
#include "base/parse.h"

static json_t *hexstr(const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);
	json_t *j = h ? json_string(h) : NULL;

	free(h);
	return j;
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *check_json(enum cn_check c)
{
	return c == CN_CHECK_NOT_RUN ? json_null() : json_boolean(c == CN_CHECK_PASSED);
}

/* Sets key to v (stolen); false when v is NULL or the set failed. */
static bool put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0;
}

static json_t *ms_json(double ms)
{
	return json_real((double)(long long)(ms * 1000) / 1000);
}

static json_t *make_jti(void)
{
	uint8_t b[16];
	char s[40];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return json_null();
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
	(void)snprintf(s, sizeof(s),
		       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		       b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		       b[13], b[14], b[15]);
	return json_string(s);
}

static json_t *chain_object(const struct cn_attest_chain_verdict *v)
{
	const struct cn_ocsp_result *o = &v->ocsp;
	json_t *c = json_object();
	bool on = o->checked, ok;

	if (!c)
		return NULL;
	ok = put(c, "x-nvidia-cert-expiration-date", str_or_null(v->expiration)) &&
	     put(c, "x-nvidia-cert-status", json_string(cn_attest_chain_status_claim(v))) &&
	     put(c, "x-nvidia-cert-ocsp-status", on ? str_or_null(o->status) : json_null()) &&
	     put(c, "x-nvidia-cert-revocation-reason",
		 on ? str_or_null(o->revocation_reason) : json_null()) &&
	     put(c, "x-nvidia-cert-ocsp-nonce-matches",
		 on ? json_boolean(o->nonce_match) : json_null()) &&
	     put(c, "x-nvidia-cert-ocsp-response-valid",
		 on ? json_boolean(o->response_valid) : json_null());
	if (!ok) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static bool rim_claims(json_t *c, const struct cn_attest_rim_verdict *v)
{
	const char *prefix =
	    v->kind == CN_RIM_KIND_DRIVER ? "x-nvidia-gpu-driver-rim" : "x-nvidia-gpu-vbios-rim";
	static const char *const sfx[] = {"fetched",	   "schema-validated",
					  "cert-chain",	   "signature-verified",
					  "version-match", "measurements-available"};
	bool loaded = v->state == CN_ATTEST_RIM_LOADED;
	json_t *val[6];
	size_t n = 6;
	bool ok = true;

	switch (v->state) {
	case CN_ATTEST_RIM_ABSENT:
		val[0] = json_false();
		for (size_t i = 1; i < n; i++)
			val[i] = json_null();
		break;
	case CN_ATTEST_RIM_NOT_FETCHED:
		val[0] = json_false();
		n = 1;
		break;
	default:
		val[0] = json_true();
		val[1] = json_boolean(loaded && v->schema_validated);
		val[2] = chain_object(&v->chain);
		val[3] = json_boolean(loaded && v->signature_verified);
		val[4] = json_boolean(loaded && v->version_match);
		val[5] = json_boolean(loaded && v->measurements_available);
		break;
	}
	for (size_t i = 0; i < n; i++) {
		char key[96];

		(void)snprintf(key, sizeof(key), "%s-%s", prefix, sfx[i]);
		ok = put(c, key, val[i]) && ok;
	}
	return ok;
}

static json_t *mismatch_records(const struct cn_rim_comparison *cmp)
{
	json_t *records = json_array();

	for (size_t i = 0; records && i < cmp->n_mismatches; i++) {
		const struct cn_rim_mismatch *m = &cmp->mismatches[i];
		size_t rl =
		    m->runtime_present ? CN_MIN(m->runtime_len, (size_t)CN_RIM_DIGEST_MAX) : 0;

		if (json_array_append_new(
			records,
			json_pack("{s:i,s:i,s:o,s:i,s:o,s:s}", "index", (int)m->index, "goldenSize",
				  (int)m->golden_size, "goldenValue",
				  m->n_golden ? hexstr(m->golden[0], m->golden_size) : json_null(),
				  "runtimeSize", (int)(m->runtime_present ? m->runtime_len : 0),
				  "runtimeValue",
				  m->runtime_present ? hexstr(m->runtime, rl) : json_null(),
				  "measurementSource",
				  m->source == CN_RIM_KIND_DRIVER ? "Driver" : "Firmware")) < 0) {
			json_decref(records);
			return NULL;
		}
	}
	return records;
}

static bool measurement_claims(json_t *c, const struct cn_attest_gpu_verdict *g)
{
	const struct cn_rim_comparison *cmp = g->comparison;
	bool ok =
	    put(c, "x-nvidia-gpu-vbios-index-no-conflict", check_json(g->index_no_conflict)) &&
	    put(c, "measres",
		g->measres == CN_CHECK_NOT_RUN
		    ? json_null()
		    : json_string(g->measres == CN_CHECK_PASSED ? "success" : "fail"));

	if (!ok || !cmp)
		return ok;
	if (cmp->success)
		return put(c, "secboot", json_true()) && put(c, "dbgstat", json_string("disabled"));
	return put(c, "x-nvidia-mismatch-measurement-records", mismatch_records(cmp));
}

static bool token_claims(json_t *c, const struct cn_attest_ctx *ctx)
{
	return put(c, "iss", json_string(CN_ATTEST_ISSUER)) &&
	       put(c, "x-nvidia-attestation-warning", json_null()) && /* no tolerated hold */
	       put(c, "x-nvidia-gpu-claims-version", json_string(CN_ATTEST_CLAIMS_VERSION)) &&
	       put(c, "x-nvidia-device-type", json_string("gpu")) &&
	       put(c, "iat", json_integer((json_int_t)ctx->now)) &&
	       put(c, "nbf", json_integer((json_int_t)ctx->now - 120)) &&
	       put(c, "exp", json_integer((json_int_t)ctx->now + CN_ATTEST_TOKEN_LIFETIME_S)) &&
	       put(c, "jti", make_jti());
}

json_t *cn_attest_render_claims(const struct cn_attest_ctx *ctx,
				const struct cn_attest_gpu_verdict *g)
{
	const struct cn_spdm_report *rep = g->parsed ? g->report : NULL;
	const struct cn_rim *rim = g->driver_rim.rim ? g->driver_rim.rim : g->vbios_rim.rim;
	json_t *c = json_object();
	bool ok;

	if (!c)
		return NULL;
	ok = put(c, "x-nvidia-gpu-arch-check", json_boolean(g->arch_ok)) &&
	     put(c, "x-nvidia-gpu-attestation-report-parsed", json_boolean(g->parsed)) &&
	     put(c, "x-nvidia-gpu-attestation-report-nonce-match", check_json(g->nonce)) &&
	     put(c, "x-nvidia-gpu-attestation-report-signature-verified",
		 check_json(g->signature)) &&
	     put(c, "x-nvidia-gpu-attestation-report-cert-chain", chain_object(&g->device_chain)) &&
	     put(c, "x-nvidia-gpu-attestation-report-cert-chain-fwid-match", check_json(g->fwid)) &&
	     put(c, "x-nvidia-gpu-driver-version", str_or_null(rep ? rep->driver_version : NULL)) &&
	     put(c, "x-nvidia-gpu-vbios-version", str_or_null(rep ? rep->vbios_version : NULL)) &&
	     rim_claims(c, &g->driver_rim) && rim_claims(c, &g->vbios_rim) &&
	     measurement_claims(c, g) && put(c, "eat_nonce", hexstr(ctx->nonce, 32)) &&
	     put(c, "hwmodel", str_or_null(g->hwmodel)) && put(c, "ueid", str_or_null(g->ueid)) &&
	     put(c, "oemid", str_or_null(rim ? cn_rim_get_manufacturer_id(rim) : NULL)) &&
	     token_claims(c, ctx);
	if (!ok) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static json_t *opt_uint(const struct cn_spdm_field *f)
{
	uint64_t v = 0;

	if (!f->present || f->size == 0 || f->size > 8)
		return json_null();
	for (size_t i = f->size; i > 0; i--)
		v = v << 8 | f->data[i - 1];
	return json_integer((json_int_t)v);
}

/* What an operator wants to see of the signed report besides the claims. */
static json_t *report_summary(const struct cn_spdm_report *r)
{
	const struct cn_spdm_field *f = r->fields;

	return json_pack(
	    "{s:i,s:i,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b,s:o}", "length", (int)r->len,
	    "measurement_blocks", (int)r->n_blocks, "project", r->project, "project_sku",
	    r->project_sku, "chip_sku", r->chip_sku, "chip_info", r->chip_info,
	    "opaque_data_version", json_integer((json_int_t)r->opaque_data_version), "feature_flag",
	    opt_uint(&f[CN_OPAQUE_FEATURE_FLAG]), "board_id", opt_uint(&f[CN_OPAQUE_BOARD_ID]),
	    "nvdec0_status", opt_uint(&f[CN_OPAQUE_NVDEC0_STATUS]), "fwid_present",
	    f[CN_OPAQUE_FWID].present, "response_nonce", hexstr(r->resp_nonce, 32));
}

static json_t *failures_json(const struct cn_attest_gpu_verdict *g)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < g->n_failures; i++) {
		const struct cn_attest_failure *f = &g->failures[i];
		json_t *o = json_pack("{s:s,s:s}", "check", f->check, "reason", f->reason);

		if (!o || (f->evidence && json_object_set(o, "evidence", f->evidence) < 0) ||
		    json_array_append_new(a, o) < 0) {
			json_decref(o);
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *timings_json(const struct cn_attest_gpu_verdict *g)
{
	json_t *t = json_object();

	for (unsigned p = 0; t && p < CN_PHASES; p++)
		if (!put(t, cn_attest_phase_name(p), ms_json(g->ms[p]))) {
			json_decref(t);
			return NULL;
		}
	return t;
}

json_t *cn_attest_render_gpu(const struct cn_attest_gpu_verdict *g, json_t *claims)
{
	const struct cn_rim_comparison *cmp = g->comparison;
	char id[32];

	(void)snprintf(id, sizeof(id), "GPU-%zu", g->index);
	return json_pack(
	    "{s:s,s:b,s:O,s:o,s:o,s:o,s:o}", "id", id, "checks_passed", g->checks_passed, "claims",
	    claims, "failures", failures_json(g), "measurements",
	    cmp ? json_pack("{s:i,s:i,s:i,s:b}", "compared", (int)cmp->n_compared, "matched",
			    (int)cmp->n_matched, "mismatched", (int)cmp->n_mismatches,
			    "msr35_skipped", cmp->msr35_skipped)
		: json_null(),
	    "report", g->parsed ? report_summary(g->report) : json_null(), "timings_ms",
	    timings_json(g));
}

json_t *cn_attest_overall_claims(const struct cn_attest_ctx *ctx, bool overall_result)
{
	json_t *o = json_object();
	bool ok;

	if (!o)
		return NULL;
	ok = put(o, "sub", json_string("NVIDIA-PLATFORM-ATTESTATION")) &&
	     put(o, "iss", json_string(CN_ATTEST_ISSUER)) &&
	     put(o, "iat", json_integer((json_int_t)ctx->now)) &&
	     put(o, "nbf", json_integer((json_int_t)ctx->now - 120)) &&
	     put(o, "exp", json_integer((json_int_t)ctx->now + CN_ATTEST_TOKEN_LIFETIME_S)) &&
	     put(o, "jti", make_jti()) &&
	     put(o, "x-nvidia-ver", json_string(CN_ATTEST_CLAIMS_VERSION)) &&
	     put(o, "x-nvidia-overall-att-result", json_boolean(overall_result)) &&
	     put(o, "eat_nonce", hexstr(ctx->nonce, 32));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}
