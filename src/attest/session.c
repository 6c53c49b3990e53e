/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation use case: evidence, sources and policy in; a typed verdict out. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/chain.h"
#include "attest/eat.h"
#include "attest/live.h"
#include "attest/memo.h"
#include "attest/rim/rim.h"
#include "attest/session.h"
#include "attest/spdm.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"

const char *cn_attest_decision_name(enum cn_attest_decision d)
{
	return d == CN_ATTEST_ACCEPTED	 ? "accepted"
	       : d == CN_ATTEST_REJECTED ? "rejected"
					 : "error";
}

/* ---- source lists ---- */

struct rim_list {
	struct cn_rim_source **srcs;
	size_t n;
};

static int rim_list_get(void *userdata, const char *rim_id, uint8_t **ret_xml, size_t *ret_len)
{
	struct rim_list *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		int r = cn_rim_source_get(l->srcs[i], rim_id, ret_xml, ret_len, NULL);

		if (r != -ENOENT)
			return r;
	}
	return cn_err_set(-ENOENT, "RIM %s: not found in any of %zu sources", rim_id, l->n);
}

static void rim_list_free(void *userdata)
{
	struct rim_list *l = userdata;

	free(l->srcs);
	free(l);
}

int cn_rim_source_new_list(struct cn_rim_source *const *srcs, size_t n, struct cn_rim_source **ret)
{
	static const struct cn_rim_source_ops ops = {.get = rim_list_get,
						     .free_userdata = rim_list_free};
	struct rim_list *l = calloc(1, sizeof(*l));
	int r;

	if (!l || !(l->srcs = calloc(n ? n : 1, sizeof(*l->srcs)))) {
		free(l);
		return -ENOMEM;
	}
	memcpy(l->srcs, srcs, n * sizeof(*srcs));
	l->n = n;
	r = cn_rim_source_new_custom(&ops, l, ret);
	if (r < 0)
		rim_list_free(l);
	return r;
}

static int ocsp_list_fetch(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
			   const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	const struct cn_ocsp_source_list *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		int r = l->srcs[i].fetch(l->srcs[i].userdata, req_der, req_len, id, nonce, ret);

		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

struct cn_ocsp_source cn_ocsp_source_list(const struct cn_ocsp_source_list *list)
{
	long max_age = 0;

	/* The strictest age limit of the members applies to the stored answers of all. */
	for (size_t i = 0; i < list->n; i++)
		if (list->srcs[i].stored_max_age_s > 0 &&
		    (max_age == 0 || list->srcs[i].stored_max_age_s < max_age))
			max_age = list->srcs[i].stored_max_age_s;
	return (struct cn_ocsp_source){
	    .fetch = ocsp_list_fetch, .userdata = (void *)list, .stored_max_age_s = max_age};
}

/* ---- inputs ---- */

/* Sets the verdict to ERROR with a reason; returns 0 (the run itself completed). */
static int __attribute__((format(printf, 3, 4)))
error(struct cn_attest_verdict *v, int err, const char *fmt, ...)
{
	va_list ap;
	size_t l;

	va_start(ap, fmt);
	(void)vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	l = strlen(v->reason);
	if (err < 0 && l < sizeof(v->reason))
		(void)snprintf(v->reason + l, sizeof(v->reason) - l, ": %s", cn_strerror(err));
	v->decision = CN_ATTEST_ERROR;
	v->gpu = -1;
	v->rule[0] = 0;
	return 0;
}

int cn_attest_policy_load(const char *path, struct cn_policy **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = cn_read_file(path, CN_POLICY_MAX, &buf, &len);
	if (r < 0)
		return r;
	return cn_policy_parse((const char *)buf, len, ret);
}

/* Loads the evidence files of cfg; false (with the verdict set to ERROR) on failure. */
static bool load_evidence(const struct cn_attest_config *cfg, struct cn_evidence_set **ret,
			  struct cn_attest_verdict *v)
{
	_cleanup_free_ uint8_t *buf = NULL, *cbuf = NULL, *rep = NULL;
	size_t len, clen, rlen;
	int r;

	if (cfg->evidence_path) {
		r = cn_read_file(cfg->evidence_path, CN_EVIDENCE_MAX, &buf, &len);
		if (r < 0)
			return error(v, r, "cannot read evidence '%s'", cfg->evidence_path), false;
		r = cn_evidence_parse_json((const char *)buf, len, ret);
		if (r < 0)
			return error(v, 0, "invalid evidence '%s': %s", cfg->evidence_path,
				     cn_err_msg()),
			       false;
		return true;
	}
	r = cn_read_file(cfg->report_path, 4 * CN_SPDM_REPORT_MAX, &buf, &len);
	if (r < 0)
		return error(v, r, "cannot read report '%s'", cfg->report_path), false;
	r = cn_spdm_decode_file(buf, len, &rep, &rlen);
	if (r < 0)
		return error(v, 0, "invalid report '%s': %s", cfg->report_path, cn_err_msg()),
		       false;
	r = cn_read_file(cfg->chain_path, CN_CHAIN_TEXT_MAX, &cbuf, &clen);
	if (r < 0)
		return error(v, r, "cannot read certificate chain '%s'", cfg->chain_path), false;
	r = cn_evidence_from_parts(rep, rlen, cbuf, clen, cfg->arch ? cfg->arch : "HOPPER", ret);
	if (r < 0)
		return error(v, r, "cannot prepare evidence"), false;
	return true;
}

int cn_attest_load_evidence(const struct cn_attest_config *cfg, struct cn_evidence_set **ret)
{
	struct cn_attest_verdict v = {0};

	if (!cfg->evidence_path && (!cfg->report_path || !cfg->chain_path))
		return cn_err_set(-EINVAL, "no evidence files");
	if (!load_evidence(cfg, ret, &v))
		return cn_err_set(-EBADMSG, "%s", v.reason);
	return 0;
}

static bool load_policy(const struct cn_attest_config *cfg, struct cn_policy **ret,
			struct cn_attest_verdict *v)
{
	int r;

	if (!cfg->policy_path) {
		r = cn_policy_parse(cn_policy_default_json, strlen(cn_policy_default_json), ret);
		return r < 0 ? error(v, r, "cannot load the built-in policy"), false : true;
	}
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;

	r = cn_read_file(cfg->policy_path, CN_POLICY_MAX, &buf, &len);
	if (r < 0)
		return error(v, r, "cannot read policy '%s'", cfg->policy_path), false;
	r = cn_policy_parse((const char *)buf, len, ret);
	if (r < 0)
		return error(v, 0, "invalid policy '%s': %s", cfg->policy_path, cn_err_msg()),
		       false;
	return true;
}

/* ---- the clock ---- */

static int parse_fixed(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	return cn_parse_u64_n(s, len, max, ret);
}

int cn_attest_parse_time(const char *s, time_t *ret)
{
	uint64_t y, mo, d, h = 0, mi = 0, se = 0;
	size_t n = strlen(s);
	struct tm tm = {0};

	if (n == 20 && s[19] == 'Z')
		n = 19;
	if (n != 10 && n != 19)
		return -EINVAL;
	if (s[4] != '-' || s[7] != '-' || parse_fixed(s, 4, 9999, &y) < 0 ||
	    parse_fixed(s + 5, 2, 12, &mo) < 0 || parse_fixed(s + 8, 2, 31, &d) < 0 || y < 1970 ||
	    mo < 1 || d < 1)
		return -EINVAL;
	if (n == 19 && ((s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
			parse_fixed(s + 11, 2, 23, &h) < 0 || parse_fixed(s + 14, 2, 59, &mi) < 0 ||
			parse_fixed(s + 17, 2, 60, &se) < 0))
		return -EINVAL;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)se;
	*ret = timegm(&tm);
	/* Impossible dates (2024-02-31) and leap seconds do not come back the same: refuse them
	 * rather than let timegm() move them to another day. */
	if (*ret == (time_t)-1 || !gmtime_r(ret, &tm) || tm.tm_year != (int)y - 1900 ||
	    tm.tm_mon != (int)mo - 1 || tm.tm_mday != (int)d || tm.tm_hour != (int)h ||
	    tm.tm_min != (int)mi || tm.tm_sec != (int)se)
		return -EINVAL;
	return 0;
}

/* "cocoon attest" or the alias name ("gpu-attest"). */

/* ---- decision ---- */

static json_t *hexstr(const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);
	json_t *j = h ? json_string(h) : NULL;

	free(h);
	return j;
}

static void first_reason(struct cn_attest_verdict *v, json_t *mismatches)
{
	json_t *m;

	/* The first failed check of the first GPU that has one, else the first policy mismatch. */
	for (size_t i = 0; i < v->n_gpus; i++) {
		const struct cn_attest_gpu_verdict *g = &v->gpus[i];

		if (g->n_failures == 0)
			continue;
		v->gpu = (int)i;
		(void)snprintf(v->rule, sizeof(v->rule), "%s", g->failures[0].check);
		(void)snprintf(v->reason, sizeof(v->reason), "GPU-%zu: %s: %s", i,
			       g->failures[0].check, g->failures[0].reason);
		return;
	}
	m = json_array_get(mismatches, 0);
	if (m) {
		_cleanup_free_ char *want =
		    json_dumps(json_object_get(m, "expected"), JSON_ENCODE_ANY | JSON_COMPACT);
		_cleanup_free_ char *have =
		    json_dumps(json_object_get(m, "actual"), JSON_ENCODE_ANY | JSON_COMPACT);
		const char *tok = json_string_value(json_object_get(m, "token"));
		const char *claim = json_string_value(json_object_get(m, "claim"));

		v->gpu = -1;
		for (size_t i = 0; tok && i < v->n_gpus; i++) {
			char id[32];

			(void)snprintf(id, sizeof(id), "GPU-%zu", i);
			if (strcmp(id, tok) == 0)
				v->gpu = (int)i;
		}
		(void)snprintf(v->rule, sizeof(v->rule), "policy:%s", claim ? claim : "?");
		(void)snprintf(v->reason, sizeof(v->reason),
			       "policy: %s: claim '%s' is %s, policy requires %s", tok ? tok : "?",
			       claim ? claim : "?",
			       json_is_null(json_object_get(m, "actual")) ? "missing or null"
									  : (have ? have : "?"),
			       want ? want : "?");
		return;
	}
	v->gpu = -1;
	(void)snprintf(v->rule, sizeof(v->rule), "%s", v->integrity ? "policy" : "integrity");
	(void)snprintf(v->reason, sizeof(v->reason), "%s",
		       v->integrity ? "rejected" : "evidence integrity checks failed");
}

static void lap(json_t *timings, const char *phase, struct timespec *t0, bool *ok)
{
	double ms = cn_attest_ms_since(t0);

	*ok = json_object_set_new(timings, phase,
				  json_real((double)(long long)(ms * 1000) / 1000)) == 0 &&
	      *ok;
	(void)clock_gettime(CLOCK_MONOTONIC, t0);
}

struct run {
	const struct cn_attest_config *cfg;
	struct cn_attest_ctx ctx;
	const struct cn_evidence_set *set;
	const struct cn_policy *policy;
	json_t *gpus, *detached, *mismatches, *timings, *overall;
	struct timespec t0, tstart;
	double read_ms;
	EVP_PKEY *key;
};

/* Verifies every GPU; returns < 0 (the verdict says why) when one could not be checked. */
static int verify_gpus(struct run *run, struct cn_attest_verdict *v)
{
	int r;

	v->gpus = calloc(run->set->n, sizeof(*v->gpus));
	if (!v->gpus)
		return error(v, -ENOMEM, "cannot verify"), -ENOMEM;
	v->overall_result = true;
	v->integrity = true;
	r = cn_attest_verify_all(&run->ctx, run->set, v->gpus, &v->n_gpus);
	if (r < 0)
		return error(v, r, "verification could not complete: %s", cn_err_msg()), r;
	r = cn_attest_cross_check(v->gpus, v->n_gpus);
	if (r < 0)
		return error(v, r, "verification could not complete: %s", cn_err_msg()), r;
	for (size_t i = 0; i < v->n_gpus; i++) {
		v->overall_result = v->overall_result && v->gpus[i].checks_passed;
		v->integrity = v->integrity && v->gpus[i].integrity;
	}
	return 0;
}

static const char *policy_source(const struct cn_attest_config *cfg)
{
	if (cfg->policy_source)
		return cfg->policy_source;
	if (cfg->policy_path)
		return cfg->policy_path;
	return cfg->policy ? "caller" : "builtin";
}

/* Renders the claims, evaluates the policy, builds the EAT and the document. */
static int decide(struct run *run, struct cn_attest_verdict *v)
{
	const struct cn_attest_config *cfg = run->cfg;
	bool ok = true;
	char iso[32] = "";
	struct tm tm;
	int r;

	for (size_t i = 0; i < v->n_gpus; i++) {
		json_t *claims = cn_attest_render_claims(&run->ctx, &v->gpus[i]);
		char id[32];

		(void)snprintf(id, sizeof(id), "GPU-%zu", i);
		ok = ok && claims && json_object_set(run->detached, id, claims) == 0 &&
		     json_array_append_new(run->gpus, cn_attest_render_gpu(&v->gpus[i], claims)) ==
			 0;
		json_decref(claims);
	}
	lap(run->timings, "verify", &run->t0, &ok);
	run->overall = cn_attest_overall_claims(&run->ctx, v->overall_result);
	if (!ok || !run->overall)
		return error(v, -ENOMEM, "cannot render the claims"), -ENOMEM;
	v->policy_matched =
	    cn_policy_evaluate(run->policy, run->overall, run->detached, run->mismatches);
	/* A failed match always records a mismatch: none means an allocation failed. */
	if (!v->policy_matched && json_array_size(run->mismatches) == 0)
		return error(v, -ENOMEM, "cannot evaluate the policy"), -ENOMEM;
	lap(run->timings, "policy", &run->t0, &ok);
	v->decision = v->policy_matched && v->integrity ? CN_ATTEST_ACCEPTED : CN_ATTEST_REJECTED;
	if (cfg->want_eat) {
		r = cn_eat_build(run->overall, run->detached, run->key, &v->eat);
		if (r < 0)
			return error(v, r, "cannot build the EAT: %s", cn_err_msg()), r;
		lap(run->timings, "eat", &run->t0, &ok);
	}
	ok = ok &&
	     json_object_set_new(
		 run->timings, "total",
		 json_real((double)(long long)(cn_attest_ms_since(&run->tstart) * 1000) / 1000)) ==
		 0 &&
	     json_object_set_new(run->timings, "read",
				 json_real((double)(long long)(run->read_ms * 1000) / 1000)) == 0;
	if (gmtime_r(&run->ctx.now, &tm))
		(void)strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (v->decision == CN_ATTEST_REJECTED)
		first_reason(v, run->mismatches);
	v->document = json_pack("{s:s,s:b,s:b,s:{s:s,s:b,s:O},s:o,s:s,s:O,s:O,s:O}", "result",
				cn_attest_decision_name(v->decision), "x-nvidia-overall-att-result",
				v->overall_result, "evidence-integrity", v->integrity, "policy",
				"source", policy_source(cfg), "accepted", v->policy_matched,
				"mismatches", run->mismatches, "nonce", hexstr(run->ctx.nonce, 32),
				"verification-time", iso, "overall-claims", run->overall, "gpus",
				run->gpus, "timings_ms", run->timings);
	if (!ok || !v->document)
		return error(v, -ENOMEM, "cannot render the result"), -ENOMEM;
	return 0;
}

static int check_config(const struct cn_attest_config *cfg)
{
	int kinds =
	    !!cfg->evidence + !!cfg->evidence_path + !!(cfg->report_path || cfg->chain_path);

	if (kinds != 1)
		return cn_err_set(-EINVAL, "give exactly one kind of evidence");
	if (!cfg->evidence && !cfg->evidence_path && (!cfg->report_path || !cfg->chain_path))
		return cn_err_set(-EINVAL, "a report needs its certificate chain and vice versa");
	if (cfg->evidence && (cfg->evidence->n == 0 || cfg->evidence->n > CN_EVIDENCE_GPUS_MAX))
		return cn_err_set(-EINVAL, "evidence of %zu GPUs (1..%u allowed)", cfg->evidence->n,
				  CN_EVIDENCE_GPUS_MAX);
	if (cfg->policy && cfg->policy_path)
		return cn_err_set(-EINVAL, "give a policy or a policy file, not both");
	if ((cfg->n_rim_sources && !cfg->rim_sources) ||
	    (cfg->n_ocsp_sources && !cfg->ocsp_sources))
		return cn_err_set(-EINVAL, "source list missing");
	return 0;
}

static void run_clear(struct run *run)
{
	json_decref(run->gpus);
	json_decref(run->detached);
	json_decref(run->mismatches);
	json_decref(run->timings);
	json_decref(run->overall);
}

/* What the session opens from names in the config. */
struct named {
	struct cn_rim_source *rims[2]; /* the config's list (or its list source), rim_dir or live */
	struct cn_rim_source *dir, *list, *live_rims;
	struct cn_live *live;
	struct cn_ocsp_dir *od;
	struct cn_ocsp_source osrcs[2];
	struct cn_ocsp_source_list olist;
	struct cn_ocsp_source osrc;
	X509 *droot;
	EVP_PKEY *key;
};

static void named_clear(struct named *n)
{
	cn_rim_source_free(n->dir);
	cn_rim_source_free(n->list);
	cn_rim_source_free(n->live_rims);
	cn_live_free(n->live);
	cn_ocsp_dir_free(n->od);
	X509_free(n->droot);
	EVP_PKEY_free(n->key);
}

/* The live services, the cache and bundles: everything the evidence needs, fetched at once. */
static bool open_live(const struct cn_attest_config *cfg, const struct cn_evidence_set *set,
		      struct named *n, const struct cn_attest_ctx *ctx, struct cn_attest_verdict *v)
{
	struct cn_live_opts lo = *cfg->live;
	int r;

	lo.now = ctx->now;
	lo.rim_root_path = cfg->rim_root_path;
	lo.ocsp_dir = cfg->ocsp_dir;
	r = cn_live_new(&lo, &n->live);
	if (r < 0)
		return error(v, r, "%s", cn_err_msg()), false;
	r = cn_live_prefetch(n->live, set, ctx->nonce);
	if (r < 0)
		return error(v, r, "fetching RIMs and OCSP answers: %s", cn_err_msg()), false;
	if (!cfg->rim_dir && cn_live_rim_source(n->live, &n->live_rims) < 0)
		return error(v, -ENOMEM, "cannot set up the RIM sources"), false;
	return true;
}

/* Opens the named sources, anchors and keys and puts every source into ctx. */
static bool open_sources(const struct cn_attest_config *cfg, const struct cn_evidence_set *set,
			 struct named *n, struct cn_attest_ctx *ctx, struct cn_attest_verdict *v)
{
	size_t nr = 0, no = 0;
	int r;

	if (cfg->live && !open_live(cfg, set, n, ctx, v))
		return false;

	if (cfg->device_root_path && cn_cert_load_pem(cfg->device_root_path, &n->droot) < 0)
		return error(v, 0, "device root: %s", cn_err_msg()), false;
	if (n->droot)
		ctx->device_root = n->droot;
	if (cfg->eat_key_path && cn_eat_load_key(cfg->eat_key_path, &n->key) < 0)
		return error(v, 0, "%s", cn_err_msg()), false;
	if (cfg->n_rim_sources == 1) {
		n->rims[nr++] = cfg->rim_sources[0];
	} else if (cfg->n_rim_sources > 1) {
		r = cn_rim_source_new_list(cfg->rim_sources, cfg->n_rim_sources, &n->list);
		if (r < 0)
			return error(v, r, "cannot set up the RIM sources"), false;
		n->rims[nr++] = n->list;
	}
	if (cfg->rim_dir) {
		r = cn_rim_source_new_dir(cfg->rim_dir, &n->dir);
		if (r < 0)
			return error(v, 0, "RIM directory '%s': %s", cfg->rim_dir, cn_err_msg()),
			       false;
		n->rims[nr++] = n->dir;
	} else if (n->live_rims) {
		n->rims[nr++] = n->live_rims;
	}
	if (nr == 2 && cn_rim_source_new_list(n->rims, 2, &n->list) < 0)
		return error(v, -ENOMEM, "cannot set up the RIM sources"), false;
	ctx->rims = nr == 2 ? n->list : nr == 1 ? n->rims[0] : NULL;

	n->olist = (struct cn_ocsp_source_list){cfg->ocsp_sources, cfg->n_ocsp_sources};
	if (cfg->n_ocsp_sources == 1)
		n->osrcs[no++] = cfg->ocsp_sources[0];
	else if (cfg->n_ocsp_sources > 1)
		n->osrcs[no++] = cn_ocsp_source_list(&n->olist);
	if (n->live && !cfg->ocsp_off) { /* the live source falls back on ocsp_dir itself */
		n->osrcs[no++] = cn_live_ocsp_source(n->live);
	} else if (cfg->ocsp_dir && !cfg->ocsp_off) {
		r = cn_ocsp_dir_open(cfg->ocsp_dir, &n->od);
		if (r < 0)
			return error(v, 0, "%s", cn_err_msg()), false;
		n->osrcs[no++] = cn_ocsp_dir_source(n->od);
	}
	if (no == 2) {
		n->olist = (struct cn_ocsp_source_list){n->osrcs, 2};
		n->osrc = cn_ocsp_source_list(&n->olist);
		ctx->ocsp = &n->osrc;
	} else if (no == 1) {
		ctx->ocsp = &n->osrcs[0];
	}
	return true;
}

static void adopt_rim(void *userdata, const char *id, struct cn_rim *rim)
{
	cn_rim_cache_adopt(userdata, id, rim);
}

int cn_attest_session_run(const struct cn_attest_config *cfg, struct cn_attest_verdict *ret)
{
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *loaded = NULL;
	struct cn_policy *own_policy = NULL;
	struct named named = {0};
	struct cn_attest_verdict *v = ret;
	struct run run = {.cfg = cfg};
	int r;

	r = check_config(cfg);
	if (r < 0)
		return r;
	*v = (struct cn_attest_verdict){.decision = CN_ATTEST_ERROR, .gpu = -1};
	(void)clock_gettime(CLOCK_MONOTONIC, &run.t0);
	run.tstart = run.t0;
	run.ctx = (struct cn_attest_ctx){.now = cfg->now ? cfg->now : time(NULL),
					 .device_root = cfg->device_root,
					 .rim_root_path = cfg->rim_root_path};
	memcpy(run.ctx.nonce, cfg->nonce, sizeof(run.ctx.nonce));

	run.set = cfg->evidence;
	if (!run.set) {
		if (!load_evidence(cfg, &loaded, v))
			goto out;
		run.set = loaded;
	}
	run.policy = cfg->policy;
	if (!run.policy) {
		if (!load_policy(cfg, &own_policy, v))
			goto out;
		run.policy = own_policy;
	}
	run.read_ms = cn_attest_ms_since(&run.t0);
	(void)clock_gettime(CLOCK_MONOTONIC, &run.t0);

	if (!open_sources(cfg, run.set, &named, &run.ctx, v))
		goto out;
	run.key = cfg->eat_key ? cfg->eat_key : named.key;

	run.ctx.rim_cache = cn_rim_cache_new();
	if (cn_verify_memo_new(&run.ctx.memo) < 0)
		run.ctx.memo = NULL;
	/* The live client verified the RIMs it fetched: one load per RIM and run. */
	if (run.ctx.rim_cache && named.live_rims && run.ctx.rims == named.live_rims)
		cn_live_give_rims(named.live, adopt_rim, run.ctx.rim_cache);
	run.gpus = json_array();
	run.detached = json_object();
	run.mismatches = json_array();
	run.timings = json_object();
	if (!run.ctx.rim_cache || !run.ctx.memo || !run.gpus || !run.detached || !run.mismatches ||
	    !run.timings) {
		error(v, -ENOMEM, "cannot verify");
		goto out;
	}
	if (named.live) { /* the live services' share of the time (the rest is "verify") */
		bool ok = true;

		lap(run.timings, "sources", &run.t0, &ok);
		if (!ok) {
			error(v, -ENOMEM, "cannot verify");
			goto out;
		}
	}
	if (verify_gpus(&run, v) < 0 || decide(&run, v) < 0)
		goto out;
out:
	if (named.live)
		v->live_report = cn_live_report(named.live);
	if (v->decision == CN_ATTEST_ERROR) {
		json_decref(v->document);
		v->document = NULL;
		free(v->eat);
		v->eat = NULL;
	}
	/* The verdicts borrow RIMs from the run's cache: forget them before the cache goes. */
	for (size_t i = 0; i < v->n_gpus; i++) {
		if (!v->gpus[i].driver_rim.owned_rim)
			v->gpus[i].driver_rim.rim = NULL;
		if (!v->gpus[i].vbios_rim.owned_rim)
			v->gpus[i].vbios_rim.rim = NULL;
	}
	cn_rim_cache_free(run.ctx.rim_cache);
	cn_verify_memo_free(run.ctx.memo);
	named_clear(&named);
	cn_policy_free(own_policy);
	run_clear(&run);
	return 0;
}

void cn_attest_verdict_clear(struct cn_attest_verdict *v)
{
	for (size_t i = 0; i < v->n_gpus; i++)
		cn_attest_gpu_verdict_clear(&v->gpus[i]);
	free(v->gpus);
	json_decref(v->document);
	json_decref(v->live_report);
	free(v->eat);
	*v = (struct cn_attest_verdict){0};
}
