/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The guest boot gate (`cocoon attest run`): collect every GPU's evidence through NVML with one
 * fresh nonce, verify it with the local verifier in the same process, and only when every GPU is
 * accepted mark the GPUs ready (nvmlSystemSetConfComputeGpusReadyState(1), then read back).
 * On any rejection or error the ready state is never written.
 *
 * Order: load NVML -> init -> pre-checks (CC feature on, dev-tools off, environment PROD, no
 * protected-PCIe / multi-GPU mode; spec §1.4) -> count (none, or fewer than expected, is a
 * rejection) -> per GPU identity, versions, certificate chain and report -> verify (chain,
 * signature, nonce, RIMs, OCSP, policy) -> NVML's driver/VBIOS versions against the signed
 * report -> output file -> ready state -> output file again with the read-back value.
 */
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/session.h"

#define CN_GATE_DEFAULT_OUT "/run/cocoon/gpu-attestation.json"
#define CN_GATE_NONCE_LABEL "cocoon-gpu-attest-v1"
#define CN_GATE_KEY_MAX (64u * 1024)

struct cn_gate_config {
	const char *nvml_lib; /* NULL: $COCOON_NVML_LIB, else libnvidia-ml.so.1 */
	unsigned timeout_ms;  /* per NVML call; 0: 30 s */
	unsigned expect_gpus; /* 0: at least one */
	bool no_ready;	      /* never touch the ready state */
	const char *out_path; /* NULL: no file */
	uint8_t nonce[32];
	const char *nonce_key_path; /* the key the nonce was derived from, or NULL (random) */
	const char *nonce_key_pem;  /* its public key (PEM), or NULL */
	/*
	 * The verifier (attest/session.h): trust anchors, sources by name, the live services,
	 * policy, clock. Its evidence and nonce are the gate's; the live services are asked once
	 * the evidence is collected.
	 */
	const struct cn_attest_config *verify;
};

enum cn_gate_decision {
	CN_GATE_ACCEPTED = 0,
	CN_GATE_ERROR = 1,
	CN_GATE_REJECTED = 3,
};

struct cn_gate_result {
	enum cn_gate_decision decision; /* also the exit status */
	char reason[640];		/* one line: the GPU and the rule ("" when accepted) */
	json_t *doc;			/* the output document (also written to out_path) */
	bool ready_written;		/* nvmlSystemSetConfComputeGpusReadyState was called */
	json_t *live_report;		/* with verify->live: the session's live report */
};

/*
 * Runs the gate. Every outcome, errors included, lands in *ret (decision + reason + doc);
 * returns < 0 only when even that failed (ENOMEM).
 */
int cn_gate_run(const struct cn_gate_config *cfg, struct cn_gate_result *ret);
void cn_gate_result_clear(struct cn_gate_result *r);

/*
 * nonce = SHA-256("cocoon-gpu-attest-v1" || 0x00 || DER SubjectPublicKeyInfo) of the public or
 * private key in the PEM file at path; *ret_pem (optional) gets the public key as PEM.
 * -EBADMSG naming the file when it holds no key.
 */
int cn_gate_nonce_from_key(const char *path, uint8_t nonce[32], char **ret_pem);
/* The same from DER SubjectPublicKeyInfo bytes. */
int cn_gate_nonce_from_spki(const uint8_t *der, size_t len, uint8_t nonce[32]);
/* 32 bytes from getrandom(). */
int cn_gate_nonce_random(uint8_t nonce[32]);
