/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The local GPU verifier: runs every check of spec §2–§5 on one GPU's evidence and produces its
 * v3 claim set (named exactly as NVIDIA's), the failures with their evidence, and per-phase
 * timings; then the overall claims, the policy decision and the detached EAT.
 * Sources (RIMs, OCSP) and trust anchors are injected, so the later NVML, RIM-service and
 * OCSP-network issues plug in without touching the checks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "attest/policy.h"

struct cn_rim_source;
struct cn_rim_cache;

#define CN_ATTEST_ISSUER "LOCAL_GPU_VERIFIER"
#define CN_ATTEST_CLAIMS_VERSION "3.0"
#define CN_ATTEST_TOKEN_LIFETIME_S 3600

struct cn_attest_ctx {
	time_t now;			   /* verification clock */
	uint8_t nonce[32];		   /* the caller's nonce */
	X509 *device_root;		   /* NULL: the pinned NVIDIA Device Identity CA */
	struct cn_rim_source *rims;	   /* NULL: RIMs not available (claims false) */
	const char *rim_root_path;	   /* NULL: the pinned CoRIM root (tests replace it) */
	const struct cn_ocsp_source *ocsp; /* NULL: OCSP off (OCSP claims null) */
	struct cn_rim_cache *rim_cache;	   /* NULL: none; cn_attest_run() uses one per run */
};

struct cn_attest_gpu {
	json_t *claims;	      /* the v3 detached claims */
	json_t *failures;     /* [{check, reason, evidence}] */
	json_t *timings;      /* {phase: ms} */
	json_t *measurements; /* {compared, matched, mismatched, msr35_skipped} or NULL */
	json_t *report;	      /* summary of the signed report (opaque fields) or NULL */
	bool checks_passed; /* every check passed (this GPU's share of x-nvidia-overall-att-result)
			     */
	bool integrity; /* report parsed, signed by a key of a valid device chain, nonce matched */
};

/* Verifies one GPU. Returns < 0 only for internal errors (ENOMEM) or I/O failures of a source;
 * every check outcome, including malformed evidence, lands in the claims. */
int cn_attest_verify_gpu(const struct cn_attest_ctx *ctx, const struct cn_gpu_evidence *ev,
			 struct cn_attest_gpu *ret);
void cn_attest_gpu_clear(struct cn_attest_gpu *g);

/* Overall claims for the set (without submods, see cn_eat_build). */
json_t *cn_attest_overall_claims(const struct cn_attest_ctx *ctx, bool overall_result);

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double cn_attest_ms_since(const struct timespec *t0);

enum cn_attest_decision {
	CN_ATTEST_ACCEPTED = 0,
	CN_ATTEST_REJECTED = 3,
};

struct cn_attest_outcome {
	json_t *result; /* the whole JSON document printed by `cocoon attest verify` */
	char *eat;	/* detached EAT text, NULL unless requested */
	enum cn_attest_decision decision;
	char reason[512]; /* one line: why rejected ("" when accepted) */
};

/*
 * Verifies every GPU of set, computes the overall result, evaluates policy and builds the EAT
 * (when want_eat; signed with key when non-NULL). Accepted iff the policy matches and every GPU's
 * evidence integrity holds (report parsed, nonce, signature, device chain): no policy can accept
 * evidence that failed those. Returns < 0 only for internal errors.
 */
int cn_attest_run(const struct cn_attest_ctx *ctx, const struct cn_evidence_set *set,
		  const struct cn_policy *policy, const char *policy_source, bool want_eat,
		  EVP_PKEY *key, struct cn_attest_outcome *ret);
void cn_attest_outcome_clear(struct cn_attest_outcome *o);
