/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * NVIDIA Hopper attestation report: SPDM 1.1 GET_MEASUREMENTS request (37 bytes) followed by the
 * MEASUREMENTS response with its opaque data and a raw P-384 ECDSA signature (spec §2).
 * The parser is strict: exact codes and lengths, every measurement block and opaque TLV consumed,
 * no trailing bytes. The parsed report owns a copy of the bytes; every pointer below points into
 * it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cleanup.h"

#define CN_SPDM_NONCE_LEN 32
#define CN_SPDM_SIG_LEN 96
#define CN_SPDM_REQUEST_LEN 37
#define CN_SPDM_REPORT_MAX 0x2000u /* NVML_CC_GPU_ATTESTATION_REPORT_SIZE */
#define CN_SPDM_BLOCKS_MAX 255u
#define CN_SPDM_VALUE_MAX 64u /* largest digest we accept (SHA-512) */
#define CN_SPDM_FWID_LEN 48
#define CN_SPDM_VBIOS_LEN 8

/* Opaque data field ids (spec §2.4). */
enum cn_spdm_opaque_id {
	CN_OPAQUE_CERT_ISSUER_NAME = 1,
	CN_OPAQUE_CERT_AUTHORITY_KEY_IDENTIFIER = 2,
	CN_OPAQUE_DRIVER_VERSION = 3,
	CN_OPAQUE_GPU_INFO = 4,
	CN_OPAQUE_SKU = 5,
	CN_OPAQUE_VBIOS_VERSION = 6,
	CN_OPAQUE_MANUFACTURER_ID = 7,
	CN_OPAQUE_TAMPER_DETECTION = 8,
	CN_OPAQUE_SMC = 9,
	CN_OPAQUE_VPR = 10,
	CN_OPAQUE_NVDEC0_STATUS = 11,
	CN_OPAQUE_MSRSCNT = 12,
	CN_OPAQUE_CPRINFO = 13,
	CN_OPAQUE_BOARD_ID = 14,
	CN_OPAQUE_CHIP_SKU = 15,
	CN_OPAQUE_CHIP_SKU_MOD = 16,
	CN_OPAQUE_PROJECT = 17,
	CN_OPAQUE_PROJECT_SKU = 18,
	CN_OPAQUE_PROJECT_SKU_MOD = 19,
	CN_OPAQUE_FWID = 20,
	CN_OPAQUE_PROTECTED_PCIE_STATUS = 21,
	CN_OPAQUE_SWITCH_PDI = 22,
	CN_OPAQUE_FLOORSWEPT_PORTS = 23,
	CN_OPAQUE_POSITION_ID = 24,
	CN_OPAQUE_LOCK_SWITCH_STATUS = 25,
	CN_OPAQUE_GPU_LINK_CONN = 32,
	CN_OPAQUE_SYS_ENABLE_STATUS = 33,
	CN_OPAQUE_OPAQUE_DATA_VERSION = 34,
	CN_OPAQUE_CHIP_INFO = 35,
	CN_OPAQUE_FEATURE_FLAG = 36,
	CN_OPAQUE_ID_MAX = 36,
};

#define CN_NVDEC0_ENABLED 0xAA
#define CN_NVDEC0_DISABLED 0x55

struct cn_spdm_block {
	uint8_t index;	    /* SPDM index, >= 1; RIM index = index - 1 */
	uint8_t spec;	    /* MeasurementSpecification (1 = DMTF) */
	uint8_t value_type; /* DMTFSpecMeasurementValueType */
	uint16_t value_size;
	const uint8_t *value;
	size_t offset; /* absolute offset of the block in the report */
};

struct cn_spdm_field {
	bool present;
	uint16_t size;
	const uint8_t *data;
	size_t offset; /* absolute offset of the value */
};

struct cn_spdm_report {
	uint8_t *bytes; /* owned copy of the report */
	size_t len;

	/* request */
	uint8_t req_version, req_code, req_param1, req_param2, req_slot;
	uint8_t req_nonce[CN_SPDM_NONCE_LEN];

	/* response */
	uint8_t version, code, param1, param2;
	uint8_t n_blocks;
	uint32_t record_len;
	struct cn_spdm_block *blocks; /* n_blocks entries, in report order */
	uint8_t resp_nonce[CN_SPDM_NONCE_LEN];
	uint16_t opaque_len;
	const uint8_t *opaque;
	struct cn_spdm_field fields[CN_OPAQUE_ID_MAX + 1];
	const uint8_t *signature; /* CN_SPDM_SIG_LEN bytes: r || s */
	size_t signed_len;	  /* bytes covered by the signature: len - 96 */

	/* decoded opaque values */
	char driver_version[64]; /* "" when absent */
	char vbios_version[16];	 /* "96.00.9F.00.01", "" when absent */
	char project[32], project_sku[32], chip_sku[32], chip_info[32];
	uint64_t opaque_data_version; /* 0 when absent */
};

/* Parses a raw report. -EBADMSG (malformed, cn_err_set names field and offset),
 * -EPROTONOSUPPORT (NVDAOD opaque format, newer opaque data version), -E2BIG. */
int cn_spdm_parse(const uint8_t *buf, size_t len, struct cn_spdm_report **ret);
void cn_spdm_report_free(struct cn_spdm_report *r);

/* Block with SPDM index idx (1-based) or NULL. */
const struct cn_spdm_block *cn_spdm_block_by_index(const struct cn_spdm_report *r, unsigned idx);

/* Name of an opaque field id ("DRIVER_VERSION"), NULL if unknown. */
const char *cn_spdm_opaque_name(unsigned id);

/*
 * Reads a report from file contents: hex text (whitespace ignored, as in NVIDIA's samples,
 * optional "0x") or raw binary (first byte 0x11). Returns a malloc'd byte buffer.
 */
int cn_spdm_decode_file(const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len);

CN_DEFINE_CLEANUP(struct cn_spdm_report *, cn_spdm_report_free)
