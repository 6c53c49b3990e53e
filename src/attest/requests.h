/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The OCSP requests a verification will need answers to (`cocoon attest ocsp-request`), for a
 * responder or a cache to answer ahead of time: one DER request per checked certificate of a
 * chain (SHA-384 CertID, the attestation nonce as 32-byte OCSP nonce).
 */
#include <stdbool.h>
#include <stdint.h>

struct cn_ocsp_requests_config {
	/* The chain: exactly one of these. */
	const char *chain_path;	   /* PEM or DER chain file, leaf first */
	const char *evidence_path; /* NVIDIA JSON evidence: the chain of GPU `gpu` */
	unsigned gpu;
	const char *rim_path; /* the signing chain embedded in a RIM file (KeyInfo) */
	bool rim_chain;	      /* a RIM signing chain (certificates 0..n-2, "rim-<i>.req"); else a
			       * device chain (1..n-2, the per-boot leaf unchecked, "device-<i>.req") */
	uint8_t nonce[32];
	const char *out_dir; /* created if missing */
	/* Called for each request written (path, chain index, subject CN or "?"). */
	void (*written)(void *userdata, const char *path, int index, const char *cn);
	void *userdata;
};

/* 0, or a negative errno with cn_err_set() naming what failed; -EDOM when gpu is not in the
 * evidence (a usage error). */
int cn_attest_ocsp_requests(const struct cn_ocsp_requests_config *cfg);
