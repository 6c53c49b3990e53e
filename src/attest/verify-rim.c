/* SPDX-License-Identifier: Apache-2.0 */
/* The RIM steps of one GPU's verification (spec §4): fetch, verify, OCSP, compare. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/chain.h"
#include "attest/rim/rim.h"
#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/log.h"
#include "base/parse.h"

#define CLAIM_CONFLICT "x-nvidia-gpu-vbios-index-no-conflict"

/*
 * One verified RIM per id and run: all GPUs of a machine normally share their driver and VBIOS
 * RIMs, and a RIM's verification depends only on its bytes, the clock and the anchor. GPUs are
 * verified on several threads: the first to ask for an id loads it, the others wait for it
 * (different ids load at the same time). The sources are asked one call at a time.
 */
struct cn_rim_cache_entry {
	char id[CN_RIM_ID_MAX + 1];
	enum cn_attest_rim_state state;
	char err[320];
	char origin[256];
	struct cn_rim *rim;
	bool ready; /* loaded (or failed: fetch_r < 0, err says why) */
	int fetch_r;
};

struct cn_rim_cache {
	pthread_mutex_t mu, source_mu;
	pthread_cond_t cv;
	struct cn_rim_cache_entry e[2 * CN_EVIDENCE_GPUS_MAX];
	size_t n;
};

struct cn_rim_cache *cn_rim_cache_new(void)
{
	struct cn_rim_cache *c = calloc(1, sizeof(struct cn_rim_cache));

	if (!c)
		return NULL;
	(void)pthread_mutex_init(&c->mu, NULL);
	(void)pthread_mutex_init(&c->source_mu, NULL);
	(void)pthread_cond_init(&c->cv, NULL);
	return c;
}

void cn_rim_cache_free(struct cn_rim_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		cn_rim_free(c->e[i].rim);
	(void)pthread_cond_destroy(&c->cv);
	(void)pthread_mutex_destroy(&c->source_mu);
	(void)pthread_mutex_destroy(&c->mu);
	free(c);
}

void cn_rim_cache_adopt(struct cn_rim_cache *c, const char *id, struct cn_rim *rim)
{
	struct cn_rim_cache_entry *e;
	bool taken = false;

	(void)pthread_mutex_lock(&c->mu);
	if (c->n < ELEMENTSOF(c->e)) {
		for (size_t i = 0; i < c->n; i++)
			if (strcmp(c->e[i].id, id) == 0)
				goto out;
		e = &c->e[c->n++];
		*e = (struct cn_rim_cache_entry){
		    .state = CN_ATTEST_RIM_LOADED, .rim = rim, .ready = true};
		(void)snprintf(e->id, sizeof(e->id), "%s", id);
		(void)snprintf(e->origin, sizeof(e->origin), "source:%s", id);
		taken = true;
	}
out:
	(void)pthread_mutex_unlock(&c->mu);
	if (!taken)
		cn_rim_free(rim);
}

/*
 * Fetches and loads the RIM id into *e: state NOT_FETCHED, UNPARSABLE (e->err says why) or
 * LOADED. Returns -ENOMEM, or a source's error other than -ENOENT: a RIM that exists but cannot
 * be read is an input error, not a rejection.
 */
static int rim_fetch(const struct cn_attest_ctx *ctx, const char *id, struct cn_rim_cache_entry *e)
{
	struct cn_rim_verify_opts opts = {.time = ctx->now, .root_pem_path = ctx->rim_root_path};
	_cleanup_free_ uint8_t *xml = NULL;
	_cleanup_free_ char *origin = NULL;
	size_t len = 0;
	int r;

	*e = (struct cn_rim_cache_entry){.state = CN_ATTEST_RIM_LOADED};
	(void)snprintf(e->id, sizeof(e->id), "%s", id);
	cn_err_clear();
	if (ctx->rim_cache)
		(void)pthread_mutex_lock(&ctx->rim_cache->source_mu);
	r = cn_rim_source_get(ctx->rims, id, &xml, &len, &origin);
	if (ctx->rim_cache)
		(void)pthread_mutex_unlock(&ctx->rim_cache->source_mu);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r < 0) {
		e->state = CN_ATTEST_RIM_NOT_FETCHED;
		(void)snprintf(e->err, sizeof(e->err), "%s", cn_err_msg());
		return 0;
	}
	(void)snprintf(e->origin, sizeof(e->origin), "%s", origin ? origin : "");
	r = cn_rim_load(xml, len, &opts, &e->rim);
	if (r < 0 && r != -EBADMSG && r != -E2BIG)
		return r; /* not the RIM's fault: memory, the injected root, the library */
	if (r < 0) {
		e->rim = NULL;
		e->state = CN_ATTEST_RIM_UNPARSABLE;
		(void)snprintf(e->err, sizeof(e->err), "%s", cn_err_msg());
	}
	return 0;
}

/* The cache's entry for id once it is ready (waiting while another thread loads it). */
static int cached(struct cn_rim_cache *cache, struct cn_rim_cache_entry *e,
		  struct cn_attest_rim_verdict *v, const struct cn_rim_cache_entry **ret)
{
	while (!e->ready)
		(void)pthread_cond_wait(&cache->cv, &cache->mu);
	(void)pthread_mutex_unlock(&cache->mu);
	if (e->fetch_r < 0)
		return cn_err_set(e->fetch_r, "%s", e->err);
	*ret = e;
	v->rim = e->rim;
	return 0;
}

static int rim_obtain(const struct cn_attest_ctx *ctx, const char *id,
		      struct cn_attest_rim_verdict *v, struct cn_rim_cache_entry *own,
		      const struct cn_rim_cache_entry **ret)
{
	struct cn_rim_cache *cache = ctx->rim_cache;
	struct cn_rim_cache_entry *e = own, got;
	int r;

	if (cache) {
		(void)pthread_mutex_lock(&cache->mu);
		for (size_t i = 0; i < cache->n; i++)
			if (strcmp(cache->e[i].id, id) == 0)
				return cached(cache, &cache->e[i], v, ret);
		if (cache->n < ELEMENTSOF(cache->e)) {
			e = &cache->e[cache->n++];
			*e = (struct cn_rim_cache_entry){0};
			(void)snprintf(e->id, sizeof(e->id), "%s", id);
		}
		(void)pthread_mutex_unlock(&cache->mu);
	}
	r = rim_fetch(ctx, id, &got);
	if (e == own) {
		*own = got;
	} else {
		(void)pthread_mutex_lock(&cache->mu);
		*e = got;
		e->fetch_r = r;
		if (r < 0)
			(void)snprintf(e->err, sizeof(e->err), "%s", cn_err_msg());
		e->ready = true;
		(void)pthread_cond_broadcast(&cache->cv);
		(void)pthread_mutex_unlock(&cache->mu);
	}
	if (r < 0)
		return r;
	v->rim = e->rim;
	v->owned_rim = e == own;
	*ret = e;
	return 0;
}

static int rim_ocsp(const struct cn_attest_ctx *ctx, struct cn_attest_rim_verdict *v)
{
	STACK_OF(X509) *chain = cn_rim_get_chain(v->rim);
	struct cn_ocsp_result *o = &v->chain.ocsp;

	*o = (struct cn_ocsp_result){.checked = false};
	if (!ctx->ocsp)
		return 0;
	if (chain && sk_X509_num(chain) >= 2) {
		int n = sk_X509_num(chain);
		struct cn_ocsp_check_opts oo = {
		    .memo = ctx->memo, .chain_validated = v->chain.status == CN_CERT_VALID};

		return cn_ocsp_check_chain(chain, 0, n - 2, sk_X509_value(chain, n - 1), ctx->nonce,
					   ctx->now, ctx->ocsp, &oo, o);
	}
	*o = (struct cn_ocsp_result){.checked = true, .failed_cert = -1};
	(void)snprintf(o->failure, sizeof(o->failure), "no validated signing chain to check");
	return 0;
}

/* The chain verdict of a loaded RIM, from its own verification status. */
static void rim_chain_status(struct cn_attest_rim_verdict *v)
{
	const struct cn_rim_status *st = cn_rim_get_status(v->rim);

	v->chain.status = st->chain_status == CN_RIM_CHAIN_VALID     ? CN_CERT_VALID
			  : st->chain_status == CN_RIM_CHAIN_EXPIRED ? CN_CERT_EXPIRED
								     : CN_CERT_INVALID;
}

void cn_attest_rim_prefetch(const struct cn_attest_ctx *ctx, const char *id, enum cn_rim_kind kind)
{
	struct cn_attest_rim_verdict v = {.kind = kind};
	struct cn_rim_cache_entry own = {0};
	const struct cn_rim_cache_entry *e = NULL;

	if (!ctx->rims || !ctx->rim_cache)
		return;
	(void)snprintf(v.id, sizeof(v.id), "%s", id);
	if (rim_obtain(ctx, id, &v, &own, &e) == 0 && e->state == CN_ATTEST_RIM_LOADED && v.rim) {
		rim_chain_status(&v);
		(void)rim_ocsp(ctx, &v);
	}
	if (v.owned_rim) /* the cache was full: nothing to share */
		cn_rim_free(v.rim);
	cn_err_clear();
}

static int fail_id(struct cn_attest_gpu_verdict *g, const char *prefix, const char *suffix,
		   const char *reason, const char *id)
{
	char key[96];

	(void)snprintf(key, sizeof(key), "%s-%s", prefix, suffix);
	return cn_attest_fail_ev(g, key, reason, json_pack("{s:s}", "rim_id", id));
}

static int rim_checks(struct cn_attest_gpu_verdict *g, struct cn_attest_rim_verdict *v,
		      const char *prefix, const char *version)
{
	const struct cn_rim_status *st = cn_rim_get_status(v->rim);
	char key[96], why[200];
	int r;

	if (!st->schema_validated &&
	    (r = fail_id(g, prefix, "schema-validated", st->schema_reason, v->id)) < 0)
		return r;
	(void)snprintf(key, sizeof(key), "%s-cert-chain", prefix);
	if (st->chain_status != CN_RIM_CHAIN_VALID) {
		r = cn_attest_fail_ev(
		    g, key, st->chain_reason,
		    json_pack("{s:s,s:s}", "x-nvidia-cert-status",
			      v->chain.status == CN_CERT_EXPIRED ? "expired" : "invalid",
			      "x-nvidia-cert-expiration-date", v->chain.expiration));
		if (r < 0)
			return r;
	}
	if ((r = cn_attest_ocsp_failure(g, key, &v->chain.ocsp)) < 0)
		return r;
	if (!st->signature_verified &&
	    (r = fail_id(g, prefix, "signature-verified", st->signature_reason, v->id)) < 0)
		return r;
	if (!v->version_match) {
		(void)snprintf(key, sizeof(key), "%s-version-match", prefix);
		(void)snprintf(
		    why, sizeof(why),
		    "the %s RIM's colloquialVersion '%s' differs from the signed report's '%s'",
		    cn_rim_kind_name(v->kind), cn_rim_get_version(v->rim), version);
		r = cn_attest_fail_ev(
		    g, key, why,
		    json_pack("{s:s,s:s}", "report", version, "rim", cn_rim_get_version(v->rim)));
		if (r < 0)
			return r;
	}
	if (!st->measurements_available)
		return fail_id(g, prefix, "measurements-available", st->measurements_reason, v->id);
	return 0;
}

static int step_rim(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g,
		    struct cn_attest_rim_verdict *v, const char *version)
{
	const char *prefix =
	    v->kind == CN_RIM_KIND_DRIVER ? "x-nvidia-gpu-driver-rim" : "x-nvidia-gpu-vbios-rim";
	struct cn_rim_cache_entry own = {0};
	const struct cn_rim_cache_entry *e = NULL;
	const struct cn_rim_status *st;
	int r;

	r = rim_obtain(ctx, v->id, v, &own, &e);
	if (r < 0)
		return r;
	v->state = e->state;
	if (v->state == CN_ATTEST_RIM_NOT_FETCHED)
		return fail_id(g, prefix, "fetched", e->err[0] ? e->err : "RIM not found", v->id);
	if (v->state == CN_ATTEST_RIM_UNPARSABLE) {
		char key[96];

		v->chain = (struct cn_attest_chain_verdict){.status = CN_CERT_INVALID};
		(void)snprintf(key, sizeof(key), "%s-schema-validated", prefix);
		return cn_attest_fail_ev(
		    g, key, e->err, json_pack("{s:s,s:s}", "rim_id", v->id, "file", e->origin));
	}
	st = cn_rim_get_status(v->rim);
	v->schema_validated = st->schema_validated;
	v->signature_verified = st->signature_verified;
	v->measurements_available = st->measurements_available;
	v->version_match = cn_rim_version_match(v->rim, v->kind, version);
	rim_chain_status(v);
	if (st->chain_not_after > 0) {
		struct tm tm;

		if (gmtime_r(&st->chain_not_after, &tm))
			(void)strftime(v->chain.expiration, sizeof(v->chain.expiration),
				       "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	r = rim_ocsp(ctx, v);
	if (r < 0)
		return r;
	return rim_checks(g, v, prefix, version);
}

int cn_attest_step_rims(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g)
{
	struct cn_rim_ids ids;
	int r;

	if (!g->parsed)
		return 0;
	r = cn_rim_ids_from_report(g->report, &ids);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cn_attest_fail(g, "x-nvidia-gpu-driver-rim-fetched", cn_err_msg(), NULL);
	if (!ctx->rims)
		return cn_attest_fail_ev(
		    g, "x-nvidia-gpu-driver-rim-fetched", "no RIM source (--rim-dir) given",
		    json_pack("{s:s,s:s}", "driver", ids.driver_id, "vbios", ids.vbios_id));
	(void)snprintf(g->driver_rim.id, sizeof(g->driver_rim.id), "%s", ids.driver_id);
	(void)snprintf(g->vbios_rim.id, sizeof(g->vbios_rim.id), "%s", ids.vbios_id);
	r = step_rim(ctx, g, &g->driver_rim, ids.driver_version);
	if (r < 0)
		return r;
	return step_rim(ctx, g, &g->vbios_rim, ids.vbios_version);
}

static json_t *hexstr(const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);
	json_t *j = h ? json_string(h) : NULL;

	free(h);
	return j;
}

static json_t *golden_list(const struct cn_rim_mismatch *m)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < m->n_golden; i++)
		if (json_array_append_new(a, hexstr(m->golden[i], m->golden_size)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int mismatch_failure(struct cn_attest_gpu_verdict *g, const struct cn_rim_mismatch *m)
{
	size_t rl = m->runtime_present ? CN_MIN(m->runtime_len, (size_t)CN_RIM_DIGEST_MAX) : 0;
	const char *src = m->source == CN_RIM_KIND_DRIVER ? "Driver" : "Firmware";
	char why[200], gh[17] = "", rh[17] = "";

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
			       m->index, m->index + 1, cn_rim_kind_name(m->source), rh,
			       m->runtime_len, m->n_golden, gh, m->golden_size);
	return cn_attest_fail_ev(
	    g, "measres", why,
	    json_pack("{s:i,s:i,s:s,s:s,s:o,s:i,s:o,s:i}", "index", (int)m->index, "spdm_index",
		      (int)m->index + 1, "source", src, "mismatch",
		      cn_rim_mismatch_reason_name(m->reason), "golden", golden_list(m),
		      "golden_size", (int)m->golden_size, "runtime",
		      m->runtime_present ? hexstr(m->runtime, rl) : json_null(), "runtime_size",
		      (int)(m->runtime_present ? m->runtime_len : 0)));
}

static int conflict_failure(struct cn_attest_gpu_verdict *g, const struct cn_rim_comparison *cmp)
{
	json_t *idx = json_array();
	char why[200];
	size_t off;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < cmp->n_conflicts; i++)
		if (json_array_append_new(idx, json_integer(cmp->conflicts[i])) < 0) {
			json_decref(idx);
			return -ENOMEM;
		}
	off = (size_t)snprintf(why, sizeof(why),
			       "indices active in both the driver and the VBIOS RIM:");
	for (size_t i = 0; i < cmp->n_conflicts && off < sizeof(why); i++)
		off += (size_t)snprintf(why + off, sizeof(why) - off, " %u", cmp->conflicts[i]);
	return cn_attest_fail_ev(g, CLAIM_CONFLICT, why, json_pack("{s:o}", "indices", idx));
}

int cn_attest_step_compare(struct cn_attest_gpu_verdict *g)
{
	const struct cn_attest_rim_verdict *drv = &g->driver_rim, *vb = &g->vbios_rim;
	_cleanup_free_ struct cn_rim_runtime *rt = NULL;
	const struct cn_spdm_report *rep = g->report;
	const struct cn_spdm_field *nv;
	struct cn_rim_comparison *cmp = NULL;
	int r;

	if (!g->parsed || !drv->rim || !vb->rim || !drv->measurements_available ||
	    !vb->measurements_available)
		return 0;
	rt = calloc(rep->n_blocks ? rep->n_blocks : 1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	for (unsigned i = 0; i < rep->n_blocks; i++)
		rt[i] = (struct cn_rim_runtime){.spdm_index = rep->blocks[i].index,
						.digest = rep->blocks[i].value,
						.len = rep->blocks[i].value_size};
	nv = &rep->fields[CN_OPAQUE_NVDEC0_STATUS];
	r = cn_rim_compare(drv->rim, vb->rim, rt, rep->n_blocks, nv->present ? nv->data : NULL,
			   nv->present ? nv->size : 0, &cmp);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		g->measres = CN_CHECK_FAILED;
		return cn_attest_fail(g, "measres", cn_err_msg(), NULL);
	}
	g->comparison = cmp;
	g->index_no_conflict = cmp->index_no_conflict ? CN_CHECK_PASSED : CN_CHECK_FAILED;
	g->measres = cmp->success ? CN_CHECK_PASSED : CN_CHECK_FAILED;
	if (!cmp->index_no_conflict && (r = conflict_failure(g, cmp)) < 0)
		return r;
	if (cmp->success)
		return 0;
	for (size_t i = 0; i < cmp->n_mismatches; i++)
		if ((r = mismatch_failure(g, &cmp->mismatches[i])) < 0)
			return r;
	if (cmp->n_mismatches == 0 && cmp->index_no_conflict)
		return cn_attest_fail(g, "measres", "no active golden measurement to compare",
				      NULL);
	return 0;
}
