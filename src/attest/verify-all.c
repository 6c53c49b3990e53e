/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every GPU of a run, verified on up to cn_threads() threads. The per-GPU checks share the run's
 * memo and RIM cache (both thread-safe); the OCSP source (the live client keeps state) is asked
 * by one thread at a time. The outcome is the one of the GPUs verified in order: when a GPU could
 * not be checked, the verdicts before it are kept and the error names it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

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

struct job {
	const struct cn_attest_ctx *ctx;
	const struct cn_evidence_set *set;
	struct cn_attest_gpu_verdict *gpus;
	int *r;
	char (*err)[ERR_MAX];
};

static void verify_one(void *arg, size_t i)
{
	struct job *j = arg;

	cn_err_clear();
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
	struct job j = {.ctx = &shared, .set = set, .gpus = gpus, .r = rs, .err = errs};
	size_t n = set->n;
	int r = 0;

	*ret_n = 0;
	if (!rs || !errs)
		return cn_err_set(-ENOMEM, "out of memory");
	if (ctx->ocsp) {
		(void)pthread_mutex_init(&lo.mu, NULL);
		osrc = (struct cn_ocsp_source){.fetch = locked_fetch,
					       .userdata = &lo,
					       .stored_max_age_s = ctx->ocsp->stored_max_age_s};
		shared.ocsp = &osrc;
	}
	(void)cn_parallel_for(n, cn_threads(), verify_one, &j);
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
