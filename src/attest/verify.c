/* SPDX-License-Identifier: Apache-2.0 */
/* One GPU's checks and claims (spec §2–§5), the overall claims. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "attest/chain.h"
#include "attest/eat.h"
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
#define CLAIM_CONFLICT "x-nvidia-gpu-vbios-index-no-conflict"

double cn_attest_ms_since(const struct timespec *t0)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void lap(json_t *timings, const char *phase, struct timespec *t0)
{
	double ms = cn_attest_ms_since(t0);
	json_t *old = json_object_get(timings, phase);

	if (old)
		ms += json_real_value(old);
	(void)json_object_set_new(timings, phase, json_real((double)(long long)(ms * 1000) / 1000));
	(void)clock_gettime(CLOCK_MONOTONIC, t0);
}

static void add_failure(json_t *failures, const char *check, const char *reason, json_t *evidence)
{
	json_t *f = json_object();

	if (!f) {
		json_decref(evidence);
		return;
	}
	(void)json_object_set_new(f, "check", json_string(check));
	(void)json_object_set_new(f, "reason", json_string(reason));
	if (evidence)
		(void)json_object_set_new(f, "evidence", evidence);
	(void)json_array_append_new(failures, f);
}

static json_t *hexstr(const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);
	json_t *j = h ? json_string(h) : NULL;

	free(h);
	return j;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

void cn_attest_gpu_clear(struct cn_attest_gpu *g)
{
	json_decref(g->claims);
	json_decref(g->failures);
	json_decref(g->timings);
	json_decref(g->measurements);
	json_decref(g->report);
	*g = (struct cn_attest_gpu){0};
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

static json_t *chain_object(const char *expiration, const char *status,
			    const struct cn_ocsp_result *o)
{
	json_t *c = json_object();
	bool on = o && o->checked;

	if (!c)
		return NULL;
	(void)json_object_set_new(c, "x-nvidia-cert-expiration-date",
				  expiration && expiration[0] ? json_string(expiration)
							      : json_null());
	if (on && o->status && strcmp(o->status, "revoked") == 0 && strcmp(status, "valid") == 0)
		status = "revoked";
	(void)json_object_set_new(c, "x-nvidia-cert-status", json_string(status));
	(void)json_object_set_new(c, "x-nvidia-cert-ocsp-status",
				  on ? str_or_null(o->status) : json_null());
	(void)json_object_set_new(c, "x-nvidia-cert-revocation-reason",
				  on ? str_or_null(o->revocation_reason) : json_null());
	(void)json_object_set_new(c, "x-nvidia-cert-ocsp-nonce-matches",
				  on ? json_boolean(o->nonce_match) : json_null());
	(void)json_object_set_new(c, "x-nvidia-cert-ocsp-response-valid",
				  on ? json_boolean(o->response_valid) : json_null());
	return c;
}

/* True when the cert-chain object is what a relying party needs: valid and OCSP good, fresh.
 * nonce_exempt: the nonce was not echoed only because fresh stored responses were used. */
static bool chain_object_ok(json_t *c, bool nonce_exempt)
{
	json_t *st = json_object_get(c, "x-nvidia-cert-status"),
	       *os = json_object_get(c, "x-nvidia-cert-ocsp-status");

	return json_is_string(st) && strcmp(json_string_value(st), "valid") == 0 &&
	       json_is_string(os) && strcmp(json_string_value(os), "good") == 0 &&
	       (nonce_exempt ||
		json_is_true(json_object_get(c, "x-nvidia-cert-ocsp-nonce-matches"))) &&
	       json_is_true(json_object_get(c, "x-nvidia-cert-ocsp-response-valid"));
}

static void ocsp_failure(json_t *failures, const char *claim, const struct cn_ocsp_result *o)
{
	if (!o->checked)
		return;
	if (!o->response_valid)
		add_failure(failures, claim, o->failure,
			    json_pack("{s:b}", "x-nvidia-cert-ocsp-response-valid", 0));
	else if (!o->nonce_match && !o->nonce_exempt)
		add_failure(failures, claim, o->failure,
			    json_pack("{s:b}", "x-nvidia-cert-ocsp-nonce-matches", 0));
	else if (o->status && strcmp(o->status, "good") != 0)
		add_failure(failures, claim, o->failure,
			    json_pack("{s:s,s:o}", "x-nvidia-cert-ocsp-status", o->status,
				      "x-nvidia-cert-revocation-reason",
				      str_or_null(o->revocation_reason)));
}

/*
 * One verified RIM per id and run: all GPUs of a machine normally share their driver and VBIOS
 * RIMs, and a RIM's verification depends only on its bytes, the clock and the anchor.
 */
struct cn_rim_cache_entry {
	char id[CN_RIM_ID_MAX + 1];
	int state;
	char err[320];
	char origin[256];
	struct cn_rim *rim;
};

struct cn_rim_cache {
	struct cn_rim_cache_entry e[2 * CN_EVIDENCE_GPUS_MAX];
	size_t n;
};

enum { RIM_OK = 0, RIM_NOT_FETCHED = 1, RIM_UNPARSABLE = 2 };

struct rim_slot {
	enum cn_rim_kind kind;
	const char *prefix; /* "x-nvidia-gpu-driver-rim" */
	struct cn_rim *rim; /* borrowed from the cache, or owned (own.rim) without one */
	struct cn_rim_cache_entry own;
	bool ocsp_nonce_exempt; /* see chain_object_ok() */
};

static void rim_cache_clear(struct cn_rim_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		cn_rim_free(c->e[i].rim);
	c->n = 0;
}

/* Fetches and loads (or finds in the cache) the RIM id: RIM_OK with slot->rim, RIM_NOT_FETCHED
 * or RIM_UNPARSABLE with *ret_err, or -ENOMEM / a source's I/O error. */
static int rim_obtain(const struct cn_attest_ctx *ctx, const char *id, struct rim_slot *slot,
		      const char **ret_err, const char **ret_origin)
{
	struct cn_rim_verify_opts opts = {.time = ctx->now, .root_pem_path = ctx->rim_root_path};
	struct cn_rim_cache *cache = ctx->rim_cache;
	struct cn_rim_cache_entry *e = &slot->own;
	_cleanup_free_ uint8_t *xml = NULL;
	_cleanup_free_ char *origin = NULL;
	size_t len = 0;
	int r;

	if (cache) {
		for (size_t i = 0; i < cache->n; i++)
			if (strcmp(cache->e[i].id, id) == 0) {
				e = &cache->e[i];
				goto found;
			}
		if (cache->n < ELEMENTSOF(cache->e))
			e = &cache->e[cache->n];
	}
	*e = (struct cn_rim_cache_entry){.state = RIM_OK};
	(void)snprintf(e->id, sizeof(e->id), "%s", id);
	cn_err_clear();
	r = cn_rim_source_get(ctx->rims, id, &xml, &len, &origin);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		e->state = RIM_NOT_FETCHED;
		(void)snprintf(e->err, sizeof(e->err), "%s", cn_err_msg());
	} else {
		(void)snprintf(e->origin, sizeof(e->origin), "%s", origin ? origin : "");
		r = cn_rim_load(xml, len, &opts, &e->rim);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			e->state = RIM_UNPARSABLE;
			(void)snprintf(e->err, sizeof(e->err), "%s", cn_err_msg());
		}
	}
	if (cache && e != &slot->own)
		cache->n++;
found:
	slot->rim = e->rim;
	*ret_err = e->err;
	*ret_origin = e->origin;
	return e->state;
}

static void claim(json_t *claims, const char *prefix, const char *suffix, json_t *v)
{
	char k[128];

	(void)snprintf(k, sizeof(k), "%s-%s", prefix, suffix);
	(void)json_object_set_new(claims, k, v);
}

static int do_rim(const struct cn_attest_ctx *ctx, const struct cn_rim_ids *ids,
		  struct rim_slot *slot, json_t *claims, json_t *failures)
{
	const char *id = slot->kind == CN_RIM_KIND_DRIVER ? ids->driver_id : ids->vbios_id;
	const char *version =
	    slot->kind == CN_RIM_KIND_DRIVER ? ids->driver_version : ids->vbios_version;
	const char *err = "", *origin_s = "";
	char key[128], expiration[32] = "";
	const struct cn_rim_status *st;
	struct cn_ocsp_result o = {.checked = false};
	int r;

	r = rim_obtain(ctx, id, slot, &err, &origin_s);
	if (r == -ENOMEM)
		return r;
	claim(claims, slot->prefix, "fetched", json_boolean(r != RIM_NOT_FETCHED));
	if (r == RIM_NOT_FETCHED) {
		(void)snprintf(key, sizeof(key), "%s-fetched", slot->prefix);
		add_failure(failures, key, err[0] ? err : "RIM not found",
			    json_pack("{s:s}", "rim_id", id));
		return 0;
	}
	if (r == RIM_UNPARSABLE) {
		(void)snprintf(key, sizeof(key), "%s-schema-validated", slot->prefix);
		add_failure(failures, key, err,
			    json_pack("{s:s,s:s}", "rim_id", id, "file", origin_s));
		claim(claims, slot->prefix, "schema-validated", json_false());
		claim(claims, slot->prefix, "cert-chain", chain_object(NULL, "invalid", NULL));
		claim(claims, slot->prefix, "signature-verified", json_false());
		claim(claims, slot->prefix, "version-match", json_false());
		claim(claims, slot->prefix, "measurements-available", json_false());
		return 0;
	}
	st = cn_rim_get_status(slot->rim);

	claim(claims, slot->prefix, "schema-validated", json_boolean(st->schema_validated));
	if (!st->schema_validated) {
		(void)snprintf(key, sizeof(key), "%s-schema-validated", slot->prefix);
		add_failure(failures, key, st->schema_reason, json_pack("{s:s}", "rim_id", id));
	}

	if (st->chain_not_after > 0) {
		struct tm tm;

		if (gmtime_r(&st->chain_not_after, &tm))
			(void)strftime(expiration, sizeof(expiration), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	STACK_OF(X509) *chain = cn_rim_get_chain(slot->rim);
	if (ctx->ocsp) {
		if (chain && sk_X509_num(chain) >= 2) {
			int n = sk_X509_num(chain);

			r = cn_ocsp_check_chain(chain, 0, n - 2, sk_X509_value(chain, n - 1),
						ctx->nonce, ctx->now, ctx->ocsp, &o);
			if (r < 0)
				return r;
		} else {
			o = (struct cn_ocsp_result){.checked = true, .failed_cert = -1};
			(void)snprintf(o.failure, sizeof(o.failure),
				       "no validated signing chain to check");
		}
	}
	const char *cst = st->chain_status == CN_RIM_CHAIN_NOT_CHECKED
			      ? "invalid"
			      : cn_rim_chain_status_name(st->chain_status);
	json_t *cobj = chain_object(expiration, cst, &o);
	(void)snprintf(key, sizeof(key), "%s-cert-chain", slot->prefix);
	if (st->chain_status != CN_RIM_CHAIN_VALID)
		add_failure(failures, key, st->chain_reason,
			    json_pack("{s:s,s:s}", "x-nvidia-cert-status", cst,
				      "x-nvidia-cert-expiration-date", expiration));
	ocsp_failure(failures, key, &o);
	slot->ocsp_nonce_exempt = o.nonce_exempt;
	(void)json_object_set_new(claims, key, cobj);

	claim(claims, slot->prefix, "signature-verified", json_boolean(st->signature_verified));
	if (!st->signature_verified) {
		(void)snprintf(key, sizeof(key), "%s-signature-verified", slot->prefix);
		add_failure(failures, key, st->signature_reason, json_pack("{s:s}", "rim_id", id));
	}

	bool vm = cn_rim_version_match(slot->rim, slot->kind, version);
	claim(claims, slot->prefix, "version-match", json_boolean(vm));
	if (!vm) {
		(void)snprintf(key, sizeof(key), "%s-version-match", slot->prefix);
		char why[200];

		(void)snprintf(
		    why, sizeof(why),
		    "the %s RIM's colloquialVersion '%s' differs from the signed report's '%s'",
		    cn_rim_kind_name(slot->kind), cn_rim_get_version(slot->rim), version);
		add_failure(failures, key, why,
			    json_pack("{s:s,s:s}", "report", version, "rim",
				      cn_rim_get_version(slot->rim)));
	}

	claim(claims, slot->prefix, "measurements-available",
	      json_boolean(st->measurements_available));
	if (!st->measurements_available) {
		(void)snprintf(key, sizeof(key), "%s-measurements-available", slot->prefix);
		add_failure(failures, key, st->measurements_reason,
			    json_pack("{s:s}", "rim_id", id));
	}
	return 0;
}

static void rim_claims_absent(json_t *claims, const char *prefix)
{
	claim(claims, prefix, "fetched", json_false());
	claim(claims, prefix, "schema-validated", json_null());
	claim(claims, prefix, "cert-chain", json_null());
	claim(claims, prefix, "signature-verified", json_null());
	claim(claims, prefix, "version-match", json_null());
	claim(claims, prefix, "measurements-available", json_null());
}

static json_t *golden_list(const struct cn_rim_mismatch *m)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < m->n_golden; i++)
		(void)json_array_append_new(a, hexstr(m->golden[i], m->golden_size));
	return a;
}

static int do_compare(struct rim_slot *drv, struct rim_slot *vb, const struct cn_spdm_report *rep,
		      json_t *claims, json_t *failures, json_t **ret_summary)
{
	_cleanup_free_ struct cn_rim_runtime *rt = calloc(rep->n_blocks, sizeof(*rt));
	struct cn_rim_comparison *cmp = NULL;
	const struct cn_spdm_field *nv = &rep->fields[CN_OPAQUE_NVDEC0_STATUS];
	int r;

	if (!rt)
		return -ENOMEM;
	for (unsigned i = 0; i < rep->n_blocks; i++)
		rt[i] = (struct cn_rim_runtime){.spdm_index = rep->blocks[i].index,
						.digest = rep->blocks[i].value,
						.len = rep->blocks[i].value_size};
	r = cn_rim_compare(drv->rim, vb->rim, rt, rep->n_blocks, nv->present ? nv->data : NULL,
			   nv->present ? nv->size : 0, &cmp);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		(void)json_object_set_new(claims, CLAIM_CONFLICT, json_null());
		(void)json_object_set_new(claims, "measres", json_string("fail"));
		add_failure(failures, "measres", cn_err_msg(), NULL);
		return 0;
	}
	*ret_summary = json_pack("{s:i,s:i,s:i,s:b}", "compared", (int)cmp->n_compared, "matched",
				 (int)cmp->n_matched, "mismatched", (int)cmp->n_mismatches,
				 "msr35_skipped", cmp->msr35_skipped);
	(void)json_object_set_new(claims, CLAIM_CONFLICT, json_boolean(cmp->index_no_conflict));
	if (!cmp->index_no_conflict) {
		json_t *idx = json_array();

		for (size_t i = 0; idx && i < cmp->n_conflicts; i++)
			(void)json_array_append_new(idx, json_integer(cmp->conflicts[i]));
		char why[200];
		size_t off;

		off = (size_t)snprintf(why, sizeof(why),
				       "indices active in both the driver and the VBIOS RIM:");
		for (size_t i = 0; i < cmp->n_conflicts && off < sizeof(why); i++)
			off += (size_t)snprintf(why + off, sizeof(why) - off, " %u",
						cmp->conflicts[i]);
		add_failure(failures, CLAIM_CONFLICT, why,
			    json_pack("{s:o}", "indices", idx ? idx : json_array()));
	}
	(void)json_object_set_new(claims, "measres",
				  json_string(cmp->success ? "success" : "fail"));
	if (cmp->success) {
		(void)json_object_set_new(claims, "secboot", json_true());
		(void)json_object_set_new(claims, "dbgstat", json_string("disabled"));
	} else {
		json_t *records = json_array();

		for (size_t i = 0; i < cmp->n_mismatches; i++) {
			const struct cn_rim_mismatch *m = &cmp->mismatches[i];
			size_t rl = m->runtime_present
					? CN_MIN(m->runtime_len, (size_t)CN_RIM_DIGEST_MAX)
					: 0;
			const char *src = m->source == CN_RIM_KIND_DRIVER ? "Driver" : "Firmware";
			char why[200];

			(void)json_array_append_new(
			    records,
			    json_pack("{s:i,s:i,s:o,s:i,s:o,s:s}", "index", (int)m->index,
				      "goldenSize", (int)m->golden_size, "goldenValue",
				      m->n_golden ? hexstr(m->golden[0], m->golden_size)
						  : json_null(),
				      "runtimeSize", (int)(m->runtime_present ? m->runtime_len : 0),
				      "runtimeValue",
				      m->runtime_present ? hexstr(m->runtime, rl) : json_null(),
				      "measurementSource", src));
			char gh[17] = "", rh[17] = "";

			if (m->n_golden)
				(void)cn_hex(m->golden[0], CN_MIN(m->golden_size, (size_t)8), gh);
			if (m->runtime_present)
				(void)cn_hex(m->runtime, CN_MIN(rl, (size_t)8), rh);
			if (m->reason == CN_RIM_MISMATCH_MISSING)
				(void)snprintf(why, sizeof(why),
					       "RIM index %u (%s RIM) has no runtime measurement "
					       "(SPDM block %u missing)",
					       m->index, cn_rim_kind_name(m->source), m->index + 1);
			else
				(void)snprintf(why, sizeof(why),
					       "RIM index %u (SPDM block %u, %s RIM): runtime "
					       "%s... (%zu bytes) matches none "
					       "of %zu golden value(s) (%s..., %zu bytes)",
					       m->index, m->index + 1, cn_rim_kind_name(m->source),
					       rh, m->runtime_len, m->n_golden, gh, m->golden_size);
			add_failure(
			    failures, "measres", why,
			    json_pack("{s:i,s:i,s:s,s:s,s:o,s:i,s:o,s:i}", "index", (int)m->index,
				      "spdm_index", (int)m->index + 1, "source", src, "mismatch",
				      cn_rim_mismatch_reason_name(m->reason), "golden",
				      golden_list(m), "golden_size", (int)m->golden_size, "runtime",
				      m->runtime_present ? hexstr(m->runtime, rl) : json_null(),
				      "runtime_size",
				      (int)(m->runtime_present ? m->runtime_len : 0)));
		}
		if (cmp->n_mismatches == 0 && cmp->index_no_conflict)
			add_failure(failures, "measres", "no active golden measurement to compare",
				    NULL);
		(void)json_object_set_new(claims, "x-nvidia-mismatch-measurement-records", records);
	}
	cn_rim_comparison_free(cmp);
	return 0;
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

static bool is_true(json_t *claims, const char *k)
{
	return json_is_true(json_object_get(claims, k));
}

int cn_attest_verify_gpu(const struct cn_attest_ctx *ctx, const struct cn_gpu_evidence *ev,
			 struct cn_attest_gpu *ret)
{
	struct cn_attest_gpu g = {
	    .claims = json_object(), .failures = json_array(), .timings = json_object()};
	_cleanup_(cn_spdm_report_freep) struct cn_spdm_report *rep = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
	struct cn_chain_result cres = {.status = "invalid"};
	struct cn_ocsp_result ocsp = {.checked = false};
	struct rim_slot drv = {.kind = CN_RIM_KIND_DRIVER, .prefix = "x-nvidia-gpu-driver-rim"};
	struct rim_slot vb = {.kind = CN_RIM_KIND_VBIOS, .prefix = "x-nvidia-gpu-vbios-rim"};
	struct timespec t0, tstart;
	json_t *c = g.claims;
	bool parsed, nonce_ok = false, sig_ok = false;
	char why[256];
	int r = 0;

	if (!g.claims || !g.failures || !g.timings) {
		cn_attest_gpu_clear(&g);
		return -ENOMEM;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	tstart = t0;

	/* arch */
	bool arch_ok = strcmp(ev->arch, "HOPPER") == 0;
	(void)json_object_set_new(c, CLAIM_ARCH, json_boolean(arch_ok));
	if (!arch_ok)
		add_failure(g.failures, CLAIM_ARCH, "only Hopper (H100/H200) GPUs are supported",
			    json_pack("{s:s}", "arch", ev->arch));

	/* report */
	r = cn_spdm_parse(ev->report, ev->report_len, &rep);
	if (r == -ENOMEM)
		goto out;
	parsed = r >= 0;
	r = 0;
	(void)json_object_set_new(c, CLAIM_PARSED, json_boolean(parsed));
	if (!parsed)
		add_failure(g.failures, CLAIM_PARSED, cn_err_msg(),
			    json_pack("{s:i}", "length", (int)ev->report_len));
	lap(g.timings, "parse", &t0);

	/* nonce */
	if (parsed) {
		nonce_ok = memcmp(rep->req_nonce, ctx->nonce, 32) == 0;
		if (!nonce_ok)
			add_failure(g.failures, CLAIM_NONCE,
				    "the signed request nonce differs from the caller's nonce",
				    json_pack("{s:o,s:o}", "expected", hexstr(ctx->nonce, 32),
					      "report", hexstr(rep->req_nonce, 32)));
		if (ev->has_nonce && memcmp(ev->nonce, ctx->nonce, 32) != 0) {
			nonce_ok = false;
			add_failure(g.failures, CLAIM_NONCE,
				    "the evidence entry's nonce differs from the caller's nonce",
				    json_pack("{s:o,s:o}", "expected", hexstr(ctx->nonce, 32),
					      "evidence", hexstr(ev->nonce, 32)));
		}
		(void)json_object_set_new(c, CLAIM_NONCE, json_boolean(nonce_ok));
	} else {
		(void)json_object_set_new(c, CLAIM_NONCE, json_null());
	}

	/* device chain */
	r = cn_chain_split(ev->chain, ev->chain_len, &chain);
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		(void)snprintf(cres.reason, sizeof(cres.reason), "%s", cn_err_msg());
		r = 0;
	} else {
		r = cn_chain_verify(chain, ctx->device_root, cn_device_root_sha256,
				    CN_DEVICE_CHAIN_LEN, ctx->now, "device certificate chain",
				    &cres);
		if (r < 0)
			goto out;
	}
	if (!cres.valid)
		add_failure(g.failures, CLAIM_CHAIN, cres.reason,
			    json_pack("{s:s,s:i}", "x-nvidia-cert-status", cres.status,
				      "certificates", chain ? sk_X509_num(chain) : 0));
	lap(g.timings, "chain", &t0);

	/* signature */
	if (parsed && chain) {
		why[0] = 0;
		r = verify_signature(rep, sk_X509_value(chain, 0), why, sizeof(why), &sig_ok);
		if (r < 0)
			goto out;
		(void)json_object_set_new(c, CLAIM_SIG, json_boolean(sig_ok));
		if (!sig_ok)
			add_failure(g.failures, CLAIM_SIG, why, NULL);
	} else {
		(void)json_object_set_new(c, CLAIM_SIG, json_null());
	}
	lap(g.timings, "signature", &t0);

	/* OCSP of the device chain: BROM .. GH100 Identity (the per-boot leaf is not checked). */
	if (ctx->ocsp) {
		if (cres.valid) {
			int n = sk_X509_num(chain);

			r = cn_ocsp_check_chain(chain, 1, n - 2,
						ctx->device_root ? ctx->device_root
								 : sk_X509_value(chain, n - 1),
						ctx->nonce, ctx->now, ctx->ocsp, &ocsp);
			if (r < 0)
				goto out;
		} else {
			ocsp = (struct cn_ocsp_result){.checked = true, .failed_cert = -1};
			(void)snprintf(ocsp.failure, sizeof(ocsp.failure),
				       "device chain not valid; OCSP not checked");
		}
	}
	(void)json_object_set_new(c, CLAIM_CHAIN,
				  chain_object(cres.expiration, cres.status, &ocsp));
	if (!ctx->ocsp)
		add_failure(
		    g.failures, "x-nvidia-cert-ocsp-status",
		    "OCSP is off: the revocation status of the device and RIM chains is unknown",
		    NULL);
	ocsp_failure(g.failures, CLAIM_CHAIN, &ocsp);
	lap(g.timings, "ocsp", &t0);

	/* FWID */
	if (parsed && chain) {
		const struct cn_spdm_field *f = &rep->fields[CN_OPAQUE_FWID];
		bool ok = true;

		if (f->present) {
			uint8_t fw[48];
			int k = cn_cert_fwid(sk_X509_value(chain, 0), fw);

			ok = k >= 0 && memcmp(fw, f->data, 48) == 0;
			if (!ok)
				add_failure(g.failures, CLAIM_FWID,
					    k == -ENOENT ? "the leaf certificate has no FWID "
							   "extension (2.23.133.5.4.1)"
							 : "the leaf certificate's FWID differs "
							   "from the report's FWID",
					    json_pack("{s:o,s:o}", "report", hexstr(f->data, 48),
						      "certificate",
						      k >= 0 ? hexstr(fw, 48) : json_null()));
		}
		(void)json_object_set_new(c, CLAIM_FWID, json_boolean(ok));
	} else {
		(void)json_object_set_new(c, CLAIM_FWID, json_null());
	}

	(void)json_object_set_new(
	    c, "x-nvidia-gpu-driver-version",
	    parsed && rep->driver_version[0] ? json_string(rep->driver_version) : json_null());
	if (parsed)
		g.report = report_summary(rep);
	(void)json_object_set_new(c, "x-nvidia-gpu-vbios-version",
				  parsed && rep->vbios_version[0] ? json_string(rep->vbios_version)
								  : json_null());

	/* RIMs */
	struct cn_rim_ids ids;
	bool have_ids = false;
	if (parsed) {
		const struct cn_spdm_field *f = rep->fields;
		struct cn_rim_id_inputs in = {
		    .driver_version = f[CN_OPAQUE_DRIVER_VERSION].data,
		    .driver_version_len = f[CN_OPAQUE_DRIVER_VERSION].size,
		    .vbios_version = f[CN_OPAQUE_VBIOS_VERSION].data,
		    .vbios_version_len = f[CN_OPAQUE_VBIOS_VERSION].size,
		    .project = f[CN_OPAQUE_PROJECT].data,
		    .project_len = f[CN_OPAQUE_PROJECT].size,
		    .project_sku = f[CN_OPAQUE_PROJECT_SKU].data,
		    .project_sku_len = f[CN_OPAQUE_PROJECT_SKU].size,
		    .chip_sku = f[CN_OPAQUE_CHIP_SKU].data,
		    .chip_sku_len = f[CN_OPAQUE_CHIP_SKU].size,
		};

		if (cn_rim_ids_derive(&in, &ids) >= 0)
			have_ids = true;
		else
			add_failure(g.failures, "x-nvidia-gpu-driver-rim-fetched", cn_err_msg(),
				    NULL);
	}
	if (have_ids && ctx->rims) {
		r = do_rim(ctx, &ids, &drv, c, g.failures);
		if (r < 0)
			goto out;
		r = do_rim(ctx, &ids, &vb, c, g.failures);
		if (r < 0)
			goto out;
	} else {
		if (have_ids && !ctx->rims)
			add_failure(
			    g.failures, "x-nvidia-gpu-driver-rim-fetched",
			    "no RIM source (--rim-dir) given",
			    json_pack("{s:s,s:s}", "driver", ids.driver_id, "vbios", ids.vbios_id));
		rim_claims_absent(c, drv.prefix);
		rim_claims_absent(c, vb.prefix);
	}
	lap(g.timings, "rim", &t0);

	/* comparison */
	if (parsed && drv.rim && vb.rim && cn_rim_get_status(drv.rim)->measurements_available &&
	    cn_rim_get_status(vb.rim)->measurements_available) {
		r = do_compare(&drv, &vb, rep, c, g.failures, &g.measurements);
		if (r < 0)
			goto out;
	} else {
		(void)json_object_set_new(c, CLAIM_CONFLICT, json_null());
		(void)json_object_set_new(c, "measres", json_null());
	}
	lap(g.timings, "compare", &t0);

	/* identity and token claims */
	char *s = NULL;
	(void)json_object_set_new(c, "eat_nonce", hexstr(ctx->nonce, 32));
	if (chain && sk_X509_num(chain) >= 2 &&
	    cn_cert_subject_cn(sk_X509_value(chain, 1), &s) >= 0) {
		(void)json_object_set_new(c, "hwmodel", json_string(s));
		free(s);
	} else {
		(void)json_object_set_new(c, "hwmodel", json_null());
	}
	s = NULL;
	if (chain && cn_cert_serial_dec(sk_X509_value(chain, 0), &s) >= 0) {
		(void)json_object_set_new(c, "ueid", json_string(s));
		free(s);
	} else {
		(void)json_object_set_new(c, "ueid", json_null());
	}
	const char *oem = drv.rim  ? cn_rim_get_manufacturer_id(drv.rim)
			  : vb.rim ? cn_rim_get_manufacturer_id(vb.rim)
				   : NULL;
	(void)json_object_set_new(c, "oemid", oem && oem[0] ? json_string(oem) : json_null());
	(void)json_object_set_new(c, "iss", json_string(CN_ATTEST_ISSUER));
	(void)json_object_set_new(c, "x-nvidia-attestation-warning",
				  json_null()); /* no tolerated hold */
	(void)json_object_set_new(c, "x-nvidia-gpu-claims-version",
				  json_string(CN_ATTEST_CLAIMS_VERSION));
	(void)json_object_set_new(c, "x-nvidia-device-type", json_string("gpu"));
	(void)json_object_set_new(c, "iat", json_integer((json_int_t)ctx->now));
	(void)json_object_set_new(c, "nbf", json_integer((json_int_t)ctx->now - 120));
	(void)json_object_set_new(c, "exp",
				  json_integer((json_int_t)ctx->now + CN_ATTEST_TOKEN_LIFETIME_S));
	(void)json_object_set_new(c, "jti", make_jti());

	/* This GPU's share of the overall result: every check passed. */
	static const char *const must[] = {
	    CLAIM_ARCH,
	    CLAIM_PARSED,
	    CLAIM_NONCE,
	    CLAIM_SIG,
	    CLAIM_FWID,
	    CLAIM_CONFLICT,
	    "x-nvidia-gpu-driver-rim-fetched",
	    "x-nvidia-gpu-driver-rim-schema-validated",
	    "x-nvidia-gpu-driver-rim-signature-verified",
	    "x-nvidia-gpu-driver-rim-version-match",
	    "x-nvidia-gpu-driver-rim-measurements-available",
	    "x-nvidia-gpu-vbios-rim-fetched",
	    "x-nvidia-gpu-vbios-rim-schema-validated",
	    "x-nvidia-gpu-vbios-rim-signature-verified",
	    "x-nvidia-gpu-vbios-rim-version-match",
	    "x-nvidia-gpu-vbios-rim-measurements-available",
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		ok = ok && is_true(c, must[i]);
	json_t *mr = json_object_get(c, "measres");
	ok = ok && json_is_string(mr) && strcmp(json_string_value(mr), "success") == 0;
	ok = ok && chain_object_ok(json_object_get(c, CLAIM_CHAIN), ocsp.nonce_exempt) &&
	     chain_object_ok(json_object_get(c, "x-nvidia-gpu-driver-rim-cert-chain"),
			     drv.ocsp_nonce_exempt) &&
	     chain_object_ok(json_object_get(c, "x-nvidia-gpu-vbios-rim-cert-chain"),
			     vb.ocsp_nonce_exempt);
	g.checks_passed = ok;
	g.integrity = parsed && nonce_ok && sig_ok && cres.valid;
	(void)json_object_set_new(
	    g.timings, "total",
	    json_real((double)(long long)(cn_attest_ms_since(&tstart) * 1000) / 1000));
	r = 0;
out:
	cn_rim_free(drv.own.rim);
	cn_rim_free(vb.own.rim);
	if (r < 0) {
		cn_attest_gpu_clear(&g);
		return r;
	}
	*ret = g;
	return 0;
}

json_t *cn_attest_overall_claims(const struct cn_attest_ctx *ctx, bool overall_result)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	(void)json_object_set_new(o, "sub", json_string("NVIDIA-PLATFORM-ATTESTATION"));
	(void)json_object_set_new(o, "iss", json_string(CN_ATTEST_ISSUER));
	(void)json_object_set_new(o, "iat", json_integer((json_int_t)ctx->now));
	(void)json_object_set_new(o, "nbf", json_integer((json_int_t)ctx->now - 120));
	(void)json_object_set_new(o, "exp",
				  json_integer((json_int_t)ctx->now + CN_ATTEST_TOKEN_LIFETIME_S));
	(void)json_object_set_new(o, "jti", make_jti());
	(void)json_object_set_new(o, "x-nvidia-ver", json_string(CN_ATTEST_CLAIMS_VERSION));
	(void)json_object_set_new(o, "x-nvidia-overall-att-result", json_boolean(overall_result));
	(void)json_object_set_new(o, "eat_nonce", hexstr(ctx->nonce, 32));
	return o;
}

void cn_attest_outcome_clear(struct cn_attest_outcome *o)
{
	json_decref(o->result);
	free(o->eat);
	*o = (struct cn_attest_outcome){0};
}

static void first_reason(json_t *gpus, json_t *mismatches, bool integrity, char *out, size_t size)
{
	size_t i;
	json_t *gpu;

	/* The first failed check of the first GPU that has one, else the first policy mismatch. */
	json_array_foreach(gpus, i, gpu)
	{
		json_t *f = json_array_get(json_object_get(gpu, "failures"), 0);

		if (f) {
			(void)snprintf(out, size, "%s: %s: %s",
				       json_string_value(json_object_get(gpu, "id")),
				       json_string_value(json_object_get(f, "check")),
				       json_string_value(json_object_get(f, "reason")));
			return;
		}
	}
	json_t *m = json_array_get(mismatches, 0);
	if (m) {
		_cleanup_free_ char *want =
		    json_dumps(json_object_get(m, "expected"), JSON_ENCODE_ANY | JSON_COMPACT);
		_cleanup_free_ char *have =
		    json_dumps(json_object_get(m, "actual"), JSON_ENCODE_ANY | JSON_COMPACT);

		(void)snprintf(out, size, "policy: %s: claim '%s' is %s, policy requires %s",
			       json_string_value(json_object_get(m, "token")),
			       json_string_value(json_object_get(m, "claim")),
			       json_is_null(json_object_get(m, "actual")) ? "missing or null"
									  : (have ? have : "?"),
			       want ? want : "?");
		return;
	}
	(void)snprintf(out, size, "%s",
		       integrity ? "rejected" : "evidence integrity checks failed");
}

int cn_attest_run(const struct cn_attest_ctx *ctx, const struct cn_evidence_set *set,
		  const struct cn_policy *policy, const char *policy_source, bool want_eat,
		  EVP_PKEY *key, struct cn_attest_outcome *ret)
{
	struct cn_attest_outcome o = {0};
	json_t *gpus = json_array(), *detached = json_object(), *mismatches = json_array(),
	       *timings = json_object();
	json_t *overall = NULL;
	struct cn_rim_cache *cache = NULL;
	struct cn_attest_ctx run_ctx;
	struct timespec t0, tstart;
	bool all_ok = true, integrity = true, accepted, policy_ok;
	char iso[32] = "";
	struct tm tm;
	int r = -ENOMEM;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	tstart = t0;
	if (!gpus || !detached || !mismatches || !timings)
		goto out;
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		goto out;
	run_ctx = *ctx;
	run_ctx.rim_cache = cache;
	ctx = &run_ctx;
	for (size_t i = 0; i < set->n; i++) {
		struct cn_attest_gpu g;
		char id[32];

		r = cn_attest_verify_gpu(ctx, &set->gpus[i], &g);
		if (r < 0)
			goto out;
		(void)snprintf(id, sizeof(id), "GPU-%zu", i);
		all_ok = all_ok && g.checks_passed;
		integrity = integrity && g.integrity;
		(void)json_object_set(detached, id, g.claims);
		(void)json_array_append_new(
		    gpus, json_pack("{s:s,s:b,s:O,s:O,s:O,s:O,s:O}", "id", id, "checks_passed",
				    g.checks_passed, "claims", g.claims, "failures", g.failures,
				    "measurements", g.measurements ? g.measurements : json_null(),
				    "report", g.report ? g.report : json_null(), "timings_ms",
				    g.timings));
		cn_attest_gpu_clear(&g);
	}
	/* One physical GPU (same leaf serial = ueid) must not stand in for another. */
	for (size_t i = 1; i < json_array_size(gpus); i++) {
		json_t *gi = json_array_get(gpus, i);
		const char *ui =
		    json_string_value(json_object_get(json_object_get(gi, "claims"), "ueid"));

		for (size_t j = 0; ui && j < i; j++) {
			json_t *gj = json_array_get(gpus, j);
			const char *uj = json_string_value(
			    json_object_get(json_object_get(gj, "claims"), "ueid"));

			if (uj && strcmp(ui, uj) == 0) {
				char why[128];

				(void)snprintf(
				    why, sizeof(why),
				    "the evidence of %s is from the same GPU (ueid) as %s",
				    json_string_value(json_object_get(gi, "id")),
				    json_string_value(json_object_get(gj, "id")));
				add_failure(json_object_get(gi, "failures"), "ueid", why,
					    json_pack("{s:s}", "ueid", ui));
				(void)json_object_set_new(gi, "checks_passed", json_false());
				all_ok = false;
				integrity = false;
				break;
			}
		}
	}
	/*
	 * All GPUs must run in the same mode (FEATURE_FLAG: single-GPU, multi-GPU or protected
	 * PCIe). NVIDIA's tools disagree on the value mapping (spec §2.4), so only equality is
	 * required.
	 */
	for (size_t i = 1; i < json_array_size(gpus); i++) {
		json_t *gi = json_array_get(gpus, i), *g0 = json_array_get(gpus, 0);
		json_t *fi = json_object_get(json_object_get(gi, "report"), "feature_flag");
		json_t *f0 = json_object_get(json_object_get(g0, "report"), "feature_flag");

		if (fi && f0 && !json_equal(fi, f0)) {
			add_failure(
			    json_object_get(gi, "failures"), "feature_flag",
			    "GPUs of one machine report different modes (opaque FEATURE_FLAG)",
			    json_pack("{s:O,s:O}", "GPU-0", f0, "this", fi));
			(void)json_object_set_new(gi, "checks_passed", json_false());
			all_ok = false;
		}
	}
	lap(timings, "verify", &t0);

	r = -ENOMEM;
	overall = cn_attest_overall_claims(ctx, all_ok);
	if (!overall)
		goto out;
	policy_ok = cn_policy_evaluate(policy, overall, detached, mismatches);
	accepted = policy_ok && integrity;
	lap(timings, "policy", &t0);

	if (want_eat) {
		r = cn_eat_build(overall, detached, key, &o.eat);
		if (r < 0)
			goto out;
		lap(timings, "eat", &t0);
	}
	(void)json_object_set_new(
	    timings, "total",
	    json_real((double)(long long)(cn_attest_ms_since(&tstart) * 1000) / 1000));

	if (gmtime_r(&ctx->now, &tm))
		(void)strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o.decision = accepted ? CN_ATTEST_ACCEPTED : CN_ATTEST_REJECTED;
	if (!accepted)
		first_reason(gpus, mismatches, integrity, o.reason, sizeof(o.reason));
	o.result = json_pack("{s:s,s:b,s:b,s:{s:s,s:b,s:O},s:o,s:s,s:O,s:O,s:O}", "result",
			     accepted ? "accepted" : "rejected", "x-nvidia-overall-att-result",
			     all_ok, "evidence-integrity", integrity, "policy", "source",
			     policy_source, "accepted", policy_ok, "mismatches", mismatches,
			     "nonce", hexstr(ctx->nonce, 32), "verification-time", iso,
			     "overall-claims", overall, "gpus", gpus, "timings_ms", timings);
	if (!o.result) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
	*ret = o;
	o = (struct cn_attest_outcome){0};
out:
	cn_attest_outcome_clear(&o);
	if (cache) {
		rim_cache_clear(cache);
		free(cache);
	}
	json_decref(overall);
	json_decref(gpus);
	json_decref(detached);
	json_decref(mismatches);
	json_decref(timings);
	return r;
}
