/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every GPU of a run, verified on up to cn_threads() threads. The per-GPU checks share the run's
 * memo and RIM cache (both thread-safe); the OCSP source (the live client keeps state) is asked
 * by one thread at a time. The run's distinct RIMs are the first jobs: GPUs normally share their
 * two RIMs, which then load side by side instead of one after the other on the first GPU's
 * thread while the others wait for them. The outcome is the one of the GPUs verified in order: when
 * a GPU could not be checked, the verdicts before it are kept and the error names it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/threads.h"

#define ERR_MAX 1024

struct locked_ocsp {
	const struct cn_ocsp_source *inner;
	pthread_mutex_t mu;
};

static int locked_fetch(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
			const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	struct locked_ocsp *l = userdata;
	int r;

	(void)pthread_mutex_lock(&l->mu);
	r = l->inner->fetch(l->inner->userdata, req_der, req_len, id, nonce, ret);
	(void)pthread_mutex_unlock(&l->mu);
	return r;
}

struct rim_want {
	char id[CN_RIM_ID_MAX + 1];
	enum cn_rim_kind kind;
};

struct job {
	const struct cn_attest_ctx *ctx;
	const struct cn_evidence_set *set;
	struct cn_attest_gpu_verdict *gpus;
	int *r;
	char (*err)[ERR_MAX];
	const struct rim_want *rims; /* jobs 0..n_rims-1, then the GPUs */
	size_t n_rims;
};

static void add_rim(struct rim_want *w, size_t *n, const char *id, enum cn_rim_kind kind)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(w[i].id, id) == 0)
			return;
	(void)snprintf(w[*n].id, sizeof(w[*n].id), "%s", id);
	w[(*n)++].kind = kind;
}

/* The distinct RIM ids the reports name (a report that does not parse names none). */
static size_t distinct_rims(const struct cn_evidence_set *set, struct rim_want *w)
{
	size_t n = 0;

	for (size_t i = 0; i < set->n; i++) {
		_cleanup_(cn_spdm_report_freep) struct cn_spdm_report *rep = NULL;
		struct cn_rim_ids ids;

		if (cn_spdm_parse(set->gpus[i].report, set->gpus[i].report_len, &rep) < 0 ||
		    cn_rim_ids_from_report(rep, &ids) < 0)
			continue;
		add_rim(w, &n, ids.driver_id, CN_RIM_KIND_DRIVER);
		add_rim(w, &n, ids.vbios_id, CN_RIM_KIND_VBIOS);
	}
	cn_err_clear();
	return n;
}

static void verify_one(void *arg, size_t i)
{
	struct job *j = arg;

	cn_err_clear();
	if (i < j->n_rims) {
		cn_attest_rim_prefetch(j->ctx, j->rims[i].id, j->rims[i].kind);
		return;
	}
	i -= j->n_rims;
	j->r[i] = cn_attest_verify_gpu(j->ctx, &j->set->gpus[i], i, &j->gpus[i]);
	if (j->r[i] < 0)
		(void)snprintf(j->err[i], ERR_MAX, "%s", cn_err_msg());
}

int cn_attest_verify_all(const struct cn_attest_ctx *ctx, const struct cn_evidence_set *set,
			 struct cn_attest_gpu_verdict *gpus, size_t *ret_n)
{
	struct cn_attest_ctx shared = *ctx;
	struct locked_ocsp lo = {.inner = ctx->ocsp};
	struct cn_ocsp_source osrc;
	_cleanup_free_ int *rs = calloc(set->n ? set->n : 1, sizeof(*rs));
	_cleanup_free_ char(*errs)[ERR_MAX] = calloc(set->n ? set->n : 1, ERR_MAX);
	_cleanup_free_ struct rim_want *rims = calloc(2 * set->n + 1, sizeof(*rims));
	struct job j = {
	    .ctx = &shared, .set = set, .gpus = gpus, .r = rs, .err = errs, .rims = rims};
	size_t n = set->n;
	int r = 0;

	*ret_n = 0;
	if (!rs || !errs || !rims)
		return cn_err_set(-ENOMEM, "out of memory");
	if (ctx->rims && ctx->rim_cache)
		j.n_rims = distinct_rims(set, rims);
	if (ctx->ocsp) {
		(void)pthread_mutex_init(&lo.mu, NULL);
		osrc = (struct cn_ocsp_source){.fetch = locked_fetch,
					       .userdata = &lo,
					       .stored_max_age_s = ctx->ocsp->stored_max_age_s};
		shared.ocsp = &osrc;
	}
	(void)cn_parallel_for(j.n_rims + n, cn_threads(), verify_one, &j);
	if (ctx->ocsp)
		(void)pthread_mutex_destroy(&lo.mu);
	for (size_t i = 0; i < n; i++)
		if (rs[i] < 0) {
			r = cn_err_set(rs[i], "GPU-%zu: %s", i, errs[i]);
			for (size_t k = i + 1; k < n; k++)
				if (rs[k] >= 0)
					cn_attest_gpu_verdict_clear(&gpus[k]);
			n = i;
			break;
		}
	*ret_n = n;
	return r;
}
