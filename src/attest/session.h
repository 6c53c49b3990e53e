/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The attestation use case: a config in, a typed verdict out.
 *
 *	struct cn_attest_config cfg = {.evidence = set, .now = time(NULL), ...};
 *	struct cn_attest_verdict v = {0};
 *	r = cn_attest_session_run(&cfg, &v);	// < 0: could not run at all (ENOMEM, bad config)
 *	switch (v.decision) {
 *	case CN_ATTEST_ACCEPTED: ...
 *	case CN_ATTEST_REJECTED: v.gpu, v.rule, v.reason say which GPU, which rule, why
 *	case CN_ATTEST_ERROR:    v.reason says what could not be checked (input/IO error)
 *	}
 *	cn_attest_verdict_clear(&v);
 *
 * Evidence comes in memory (an NVML collector fills a struct cn_evidence_set) or from files
 * (NVIDIA's JSON evidence, or one report + chain). RIMs and OCSP answers come from ordered lists
 * of sources: the first source that has an answer gives it (-ENOENT from a source means "ask the
 * next one"; any other error makes the verdict an error, never a rejection or an acceptance).
 * Trust anchors and the clock are injected. The session never prints; the CLI prints
 * cn_attest_verdict.document (the v3 claims JSON) and the reason.
 *
 * Decisions: ACCEPTED only when the policy matches and every GPU's evidence integrity holds.
 * REJECTED only for evidence that could be read and judged. ERROR when something needed for the
 * decision could not be obtained or read (a file, a source's I/O error, memory): callers must
 * treat ERROR as "not accepted" and may retry. `cocoon attest verify` exits 0 / 3 / 1.
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
#include "attest/policy.h"
#include "attest/verify.h"

struct cn_live_opts;
struct cn_rim_source;

struct cn_attest_config {
	/* Evidence: exactly one of evidence, evidence_path, (report_path + chain_path). */
	const struct cn_evidence_set *evidence; /* in memory, borrowed (NVML collector, tests) */
	const char *evidence_path;		/* NVIDIA JSON: [{arch, nonce, evidence, ...}] */
	const char *report_path;		/* one GPU: SPDM report (hex text or binary) */
	const char *chain_path;			/* ... and its certificate chain (PEM or DER) */
	const char *arch;			/* with report_path; NULL: "HOPPER" */

	uint8_t nonce[32]; /* the nonce the caller issued; the evidence must echo it */
	time_t now;	   /* verification clock; 0: time(NULL) */

	/* Policy: policy (borrowed) or policy_path; neither: the built-in default. */
	const struct cn_policy *policy;
	const char *policy_path;
	const char *policy_source; /* the document's policy.source; NULL: the path, "caller" or
				    * "builtin" */

	/* RIM sources, tried in order per RIM id (borrowed). None: RIM claims false/null. */
	struct cn_rim_source *const *rim_sources;
	size_t n_rim_sources;
	/* OCSP sources, tried in order per certificate (borrowed). None: OCSP off (OCSP claims
	 * null; the default policy then rejects). */
	const struct cn_ocsp_source *ocsp_sources;
	size_t n_ocsp_sources;

	/* Sources by name, opened by the session and tried after the lists above. */
	const char *rim_dir;  /* RIMs: <rim-id>.xml or NVIDIA's sample names */
	const char *ocsp_dir; /* DER OCSP responses (stored answers) */
	bool ocsp_off;	      /* no OCSP at all (not even live) */
	/*
	 * The live NVIDIA services, the cache and bundles (attest/live.h; NULL: none). Before
	 * verifying, the session fetches at once everything the evidence needs. RIMs then come
	 * from there unless rim_dir is given; OCSP answers unless ocsp_off, with ocsp_dir as the
	 * stored fallback. The options' now, rim_root_path and ocsp_dir are the session's.
	 */
	const struct cn_live_opts *live;

	/* Injected trust anchors (tests, private PKIs). NULL: NVIDIA's pinned roots. */
	X509 *device_root;	      /* replaces the NVIDIA Device Identity CA (borrowed) */
	const char *device_root_path; /* the same from a PEM file */
	const char *rim_root_path;    /* PEM: replaces the NVIDIA CoRIM signing root */

	bool want_eat;		  /* build the detached EAT (verdict.eat) */
	EVP_PKEY *eat_key;	  /* P-384: sign the EAT's JWTs with ES384; NULL: alg none */
	const char *eat_key_path; /* the same from a PEM file */
};

/* "accepted" / "rejected" / "error". */
const char *cn_attest_decision_name(enum cn_attest_decision d);

struct cn_attest_verdict {
	enum cn_attest_decision decision;
	/*
	 * REJECTED: gpu is the index of the first GPU with a failed check (-1 when the policy
	 * rejected the overall token, or no single GPU is to blame); rule is the failed check (a
	 * claim name such as "x-nvidia-gpu-attestation-report-nonce-match", "ueid",
	 * "feature_flag") or "policy:<claim>"; reason one line for humans.
	 * ERROR: gpu -1, rule "", reason what could not be checked.
	 */
	int gpu;
	char rule[128];
	char reason[1280];

	bool overall_result; /* x-nvidia-overall-att-result: every check of every GPU passed */
	bool integrity;	     /* every GPU's report parsed, nonce, signature, device chain held */
	bool policy_matched;

	size_t n_gpus;
	struct cn_attest_gpu_verdict *gpus; /* typed per-GPU checks and facts */

	json_t *document;    /* the JSON `cocoon attest verify` prints (NULL on ERROR) */
	json_t *live_report; /* with config.live: what was fetched, from where (cn_live_report) */
	char *eat;	     /* detached EAT text (want_eat and not ERROR), else NULL */
};

/*
 * Runs the whole verification. Returns 0 with *ret filled (any decision, ERROR included: the
 * reason says what failed), or -EINVAL (with cn_err_set) for an unusable config (no evidence,
 * two kinds of evidence). *ret must be zeroed or cleared before.
 */
int cn_attest_session_run(const struct cn_attest_config *cfg, struct cn_attest_verdict *ret);
void cn_attest_verdict_clear(struct cn_attest_verdict *v);

/* ---------------------------------------------------------------------------------------------
 * Helpers for callers that assemble sources.
 */

/* The RIM source that asks each of srcs in order (borrowed; freed with the returned source). */
int cn_rim_source_new_list(struct cn_rim_source *const *srcs, size_t n, struct cn_rim_source **ret);

/* The OCSP source that asks each of list[0..n) in order (an answer keeps its origin: live, or
 * CN_OCSP_FROM_STORE). The result borrows list (keep it alive). */
struct cn_ocsp_source_list {
	const struct cn_ocsp_source *srcs;
	size_t n;
};
struct cn_ocsp_source cn_ocsp_source_list(const struct cn_ocsp_source_list *list);

/* Loads the evidence files named by cfg (evidence_path, or report_path + chain_path) into a new
 * set, for callers that need the evidence before the run (prefetching RIMs and OCSP answers).
 * -EBADMSG / an errno with cn_err_set() naming the file. */
int cn_attest_load_evidence(const struct cn_attest_config *cfg, struct cn_evidence_set **ret);

/* Reads and parses a policy file (-EBADMSG naming the member; I/O errors as errno). */
int cn_attest_policy_load(const char *path, struct cn_policy **ret);

/*
 * --time: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (also with a space for T), optional "Z"; UTC.
 * -EINVAL for anything else, including impossible dates (2024-02-31) and leap seconds.
 */
int cn_attest_parse_time(const char *s, time_t *ret);
