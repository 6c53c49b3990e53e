/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The NVML binary interface this project calls (spec gpu-attestation.md §1.2/§1.3): struct
 * layouts, the settings struct version and the entry points' types. Written from the layout
 * facts in the spec (no NVIDIA header is used); shared by src/attest/nvml.c and the test
 * suite's fake libnvidia-ml.so.1.
 */
#include <assert.h>
#include <stdint.h>

typedef int cn_nvmlReturn_t;
typedef struct cn_nvmlDevice_st *cn_nvmlDevice_t;

struct cn_nvml_abi_state {
	uint32_t environment;
	uint32_t ccFeature;
	uint32_t devToolsMode;
};
static_assert(sizeof(struct cn_nvml_abi_state) == 12, "nvmlConfComputeSystemState_t");

struct cn_nvml_abi_settings {
	uint32_t version;
	uint32_t environment;
	uint32_t ccFeature;
	uint32_t devToolsMode;
	uint32_t multiGpuMode;
};
static_assert(sizeof(struct cn_nvml_abi_settings) == 20, "nvmlSystemConfComputeSettings_v1_t");
/* NVML_STRUCT_VERSION(SystemConfComputeSettings, 1) = sizeof | 1 << 24 */
#define CN_NVML_SETTINGS_V1 (20u | 1u << 24)

struct cn_nvml_abi_cert {
	uint32_t certChainSize;
	uint32_t attestationCertChainSize;
	uint8_t certChain[0x1000];
	uint8_t attestationCertChain[0x1400];
};
static_assert(sizeof(struct cn_nvml_abi_cert) == 9224, "nvmlConfComputeGpuCertificate_t");

struct cn_nvml_abi_report {
	uint32_t isCecAttestationReportPresent;
	uint32_t attestationReportSize;
	uint32_t cecAttestationReportSize;
	uint8_t nonce[0x20];
	uint8_t attestationReport[0x2000];
	uint8_t cecAttestationReport[0x1000];
};
static_assert(sizeof(struct cn_nvml_abi_report) == 12332, "nvmlConfComputeGpuAttestationReport_t");
