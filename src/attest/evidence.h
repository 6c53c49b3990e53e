/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Evidence input (spec §1.6): NVIDIA's serialized evidence, a JSON array with one object per GPU
 * {"arch": "HOPPER", "nonce": "<64 hex>", "evidence": "<base64 report>",
 *  "certificate": "<base64 PEM chain>"}, also accepted wrapped as {"evidences": [...]} (the
 * `nvattest collect-evidence` output). Later an NVML collector produces the same structure.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cleanup.h"

#define CN_EVIDENCE_MAX (4u * 1024 * 1024)
#define CN_EVIDENCE_GPUS_MAX 64u

struct cn_gpu_evidence {
	char arch[16]; /* "HOPPER" ... */
	bool has_nonce;
	uint8_t nonce[32]; /* the entry's (unsigned) nonce field */
	uint8_t *report;   /* raw SPDM report */
	size_t report_len;
	uint8_t *chain; /* certificate chain bytes (PEM text or DER) */
	size_t chain_len;
	/* Versions the collector read outside the report (NVML), "" when unknown: when given,
	 * they must equal the signed report's (a mismatch fails the GPU). */
	char driver_version[64]; /* "550.90.07" */
	char vbios_version[32];	 /* "96.00.9F.00.01" (hex digits, case-insensitive) */
};

struct cn_evidence_set {
	struct cn_gpu_evidence *gpus;
	size_t n;
};

int cn_evidence_parse_json(const char *text, size_t len, struct cn_evidence_set **ret);
void cn_evidence_set_free(struct cn_evidence_set *s);
CN_DEFINE_CLEANUP(struct cn_evidence_set *, cn_evidence_set_free)

/* One GPU from separate report and chain bytes (copied). */
int cn_evidence_from_parts(const uint8_t *report, size_t report_len, const uint8_t *chain,
			   size_t chain_len, const char *arch, struct cn_evidence_set **ret);

/* Strict standard base64 (padding required, whitespace not allowed). *ret malloc'd. */
int cn_base64_decode(const char *s, size_t len, size_t max, uint8_t **ret, size_t *ret_len);
