/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The local GPU verifier: runs every check of spec §2–§5 on one GPU's evidence, step by step,
 * and fills a typed per-GPU verdict (each check's outcome, the facts read from the evidence, the
 * failures with their details). render.c turns verdicts into NVIDIA's v3 claims JSON and the
 * policy input; session.c is the use case (sources, policy, decision).
 * Sources (RIMs, OCSP) and trust anchors are injected.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "attest/rim/rim.h"

struct cn_rim_cache;
struct cn_verify_memo;
struct cn_spdm_report;
struct cn_policy;

#define CN_ATTEST_ISSUER "LOCAL_GPU_VERIFIER"
#define CN_ATTEST_CLAIMS_VERSION "3.0"
#define CN_ATTEST_TOKEN_LIFETIME_S 3600
#define CN_ATTEST_FAILURES_MAX 1024u /* per GPU (each measurement mismatch is one) */

struct cn_attest_ctx {
	time_t now;			   /* verification clock */
	uint8_t nonce[32];		   /* the caller's nonce */
	X509 *device_root;		   /* NULL: the pinned NVIDIA Device Identity CA */
	struct cn_rim_source *rims;	   /* NULL: RIMs not available (claims false) */
	const char *rim_root_path;	   /* NULL: the pinned CoRIM root (tests replace it) */
	const struct cn_ocsp_source *ocsp; /* NULL: OCSP off (OCSP claims null) */
	struct cn_rim_cache *rim_cache;	   /* NULL: none (one RIM load per GPU) */
	struct cn_verify_memo *memo;	   /* NULL: none (attest/memo.h) */
};

/* A boolean check whose claim is null when it could not run. */
enum cn_check {
	CN_CHECK_NOT_RUN = 0,
	CN_CHECK_PASSED,
	CN_CHECK_FAILED,
};

/* Path validation of a chain (x-nvidia-cert-status before OCSP). */
enum cn_cert_status {
	CN_CERT_INVALID = 0,
	CN_CERT_VALID,
	CN_CERT_EXPIRED,
};

/* One cert-chain claim object (spec §5.2). */
struct cn_attest_chain_verdict {
	enum cn_cert_status status;
	char expiration[32];	    /* earliest notAfter, ISO-8601; "" unknown (claim null) */
	struct cn_ocsp_result ocsp; /* ocsp.checked false: OCSP off (OCSP claims null) */
};

/*
 * The claimed x-nvidia-cert-status: "invalid" when path validation failed or an OCSP answer
 * said revoked or unknown (spec §5.2, as NVIDIA's Python verifier), else "valid"/"expired".
 */
const char *cn_attest_chain_status_claim(const struct cn_attest_chain_verdict *c);
/* What a relying party needs: valid, OCSP good from a valid response echoing the nonce. */
bool cn_attest_chain_ok(const struct cn_attest_chain_verdict *c);

enum cn_attest_rim_state {
	CN_ATTEST_RIM_ABSENT = 0, /* not looked up: no RIM source, or no RIM ids */
	CN_ATTEST_RIM_NOT_FETCHED,
	CN_ATTEST_RIM_UNPARSABLE, /* fetched, but not an acceptable XML document */
	CN_ATTEST_RIM_LOADED,	  /* parsed; the checks below ran */
};

struct cn_attest_rim_verdict {
	enum cn_rim_kind kind;
	enum cn_attest_rim_state state;
	char id[CN_RIM_ID_MAX + 1];
	bool schema_validated, signature_verified, version_match, measurements_available;
	struct cn_attest_chain_verdict chain; /* LOADED or UNPARSABLE */
	struct cn_rim *rim; /* LOADED: borrowed from the run's cache or owned (owned_rim) */
	bool owned_rim;
};

struct cn_attest_failure {
	char check[96];	   /* claim name or check ("ueid", "feature_flag", "measres") */
	char reason[1024]; /* one line */
	json_t *evidence;  /* details for the JSON output (owned); NULL: none */
};

struct cn_attest_gpu_verdict {
	size_t index; /* GPU-<index> */

	/* Checks, in the order they run. */
	bool arch_ok;
	bool parsed;
	enum cn_check nonce, signature, fwid;
	enum cn_check versions; /* collector's driver/VBIOS versions = the report's (NOT_RUN:
				 * none given) */
	struct cn_attest_chain_verdict device_chain;
	bool ocsp_off; /* OCSP was not checked at all (a failure of its own) */
	struct cn_attest_rim_verdict driver_rim, vbios_rim;
	enum cn_check index_no_conflict, measres;
	struct cn_rim_comparison *comparison; /* the comparison ran: its details (owned) */

	/* Facts read from the evidence (owned; NULL when not available). */
	char arch[16];
	struct cn_spdm_report *report; /* parsed report */
	STACK_OF(X509) * chain;	       /* device chain, leaf first */
	char *hwmodel;		       /* CN of chain[1] */
	char *ueid;		       /* decimal serial of the leaf */
	bool has_feature_flag;
	uint64_t feature_flag;
	double ms[8]; /* phase timings, see cn_attest_phase_name() */

	/* Failures, in the order the checks found them. */
	struct cn_attest_failure *failures;
	size_t n_failures;

	bool checks_passed; /* every check passed (this GPU's share of the overall result) */
	bool integrity;	    /* report parsed, nonce, signature, device chain valid */
};

enum {
	CN_PHASE_PARSE,
	CN_PHASE_CHAIN,
	CN_PHASE_SIGNATURE,
	CN_PHASE_OCSP,
	CN_PHASE_RIM,
	CN_PHASE_COMPARE,
	CN_PHASE_TOTAL,
	CN_PHASES,
};
const char *cn_attest_phase_name(unsigned phase);

/*
 * Verifies one GPU into *ret (zeroed here). Returns < 0 only when a check could not be run:
 * ENOMEM, or a source's I/O error (with cn_err_set). Every outcome of a check, including
 * malformed evidence, lands in the verdict.
 */
int cn_attest_verify_gpu(const struct cn_attest_ctx *ctx, const struct cn_gpu_evidence *ev,
			 size_t index, struct cn_attest_gpu_verdict *ret);
void cn_attest_gpu_verdict_clear(struct cn_attest_gpu_verdict *g);

/* The run's RIM cache (thread-safe): one load per RIM id and run. */
struct cn_rim_cache *cn_rim_cache_new(void);
void cn_rim_cache_free(struct cn_rim_cache *c);
/* Takes a RIM that this run already loaded and verified (the same clock and CoRIM root, e.g. by
 * the live client) as the one for id; frees it when id is already there or the cache is full. */
void cn_rim_cache_adopt(struct cn_rim_cache *c, const char *id, struct cn_rim *rim);

/*
 * Verifies every GPU of set into gpus[0..set->n) (zeroed by the caller), on up to cn_threads()
 * threads sharing ctx's memo and RIM cache. Returns 0 with *ret_n = set->n, or the error of the
 * first GPU (in index order) that could not be checked, "GPU-<i>: ..." in cn_err_msg(), with
 * *ret_n = i and the verdicts from i on cleared.
 */
int cn_attest_verify_all(const struct cn_attest_ctx *ctx, const struct cn_evidence_set *set,
			 struct cn_attest_gpu_verdict *gpus, size_t *ret_n);

/*
 * Checks across the GPUs of one machine: no physical GPU twice (the leaf certificates' issuer
 * and serial compared as ASN.1 values), the same FEATURE_FLAG mode everywhere. Appends failures
 * to the GPUs concerned and clears their checks_passed (and integrity for a duplicate).
 * Returns -ENOMEM when a failure could not be recorded.
 */
int cn_attest_cross_check(struct cn_attest_gpu_verdict *gpus, size_t n);

/* Appends a failure (evidence: owned, may be NULL). -ENOMEM, or -E2BIG over the cap. */
int cn_attest_fail(struct cn_attest_gpu_verdict *g, const char *check, const char *reason,
		   json_t *evidence);
/* Same, but evidence is required: NULL (a failed json_pack) is -ENOMEM. */
int cn_attest_fail_ev(struct cn_attest_gpu_verdict *g, const char *check, const char *reason,
		      json_t *evidence);

/* Records the OCSP failure of a chain (the most severe finding first). */
int cn_attest_ocsp_failure(struct cn_attest_gpu_verdict *g, const char *check,
			   const struct cn_ocsp_result *o);

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double cn_attest_ms_since(const struct timespec *t0);

/* RIM steps (verify-rim.c). */
int cn_attest_step_rims(const struct cn_attest_ctx *ctx, struct cn_attest_gpu_verdict *g);
int cn_attest_step_compare(struct cn_attest_gpu_verdict *g);
/*
 * Loads RIM id into ctx's RIM cache and checks the OCSP answers of its signing chain into the
 * memo before the GPUs ask, so that a run's distinct RIMs load side by side on its threads.
 * Nothing is reported: the GPUs' own steps meet the outcome (from the cache and the memo) and
 * report it. A no-op without a RIM source or cache.
 */
void cn_attest_rim_prefetch(const struct cn_attest_ctx *ctx, const char *id, enum cn_rim_kind kind);

/* ---------------------------------------------------------------------------------------------
 * Rendering (render.c): the typed verdict as NVIDIA's v3 claims and the verifier's document.
 */

/* The detached v3 claims of one GPU (the policy input). */
json_t *cn_attest_render_claims(const struct cn_attest_ctx *ctx,
				const struct cn_attest_gpu_verdict *g);
/* {"id", "checks_passed", "claims", "failures", "measurements", "report", "timings_ms"}. */
json_t *cn_attest_render_gpu(const struct cn_attest_gpu_verdict *g, json_t *claims);
/* Overall claims for the set (without submods, see cn_eat_build). */
json_t *cn_attest_overall_claims(const struct cn_attest_ctx *ctx, bool overall_result);

/* The decision of a verification (attest/session.h). */
enum cn_attest_decision {
	CN_ATTEST_ACCEPTED = 0,
	CN_ATTEST_REJECTED, /* the evidence was read and judged: a check or the policy failed */
	CN_ATTEST_ERROR,    /* could not check: input, I/O or memory error */
};
