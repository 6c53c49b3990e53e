/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * NVML evidence collection (spec gpu-attestation.md §1), with no build or package dependency on
 * NVIDIA: libnvidia-ml.so.1 is dlopen()ed at run time (or the library named by the caller /
 * COCOON_NVML_LIB), every entry point is looked up by name, and a missing library or symbol is
 * an error that names it.
 *
 * Everything NVML returns is untrusted input: sizes are checked against the buffers they
 * describe, strings must be NUL-terminated printable ASCII inside their buffers, enumerations
 * must hold a known value.
 *
 * Watchdog: every NVML call runs on one worker thread; the caller waits at most the timeout.
 * A call that does not come back leaves the handle "wedged": every later call fails at once
 * with -ETIMEDOUT, cn_nvml_close() does not unload the library (the hung thread still runs in
 * it) and the process is expected to exit, which it does at the end of `attest run`. A hung
 * driver thus costs at most one timeout, never the boot.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cleanup.h"

#define CN_NVML_DEFAULT_LIB "libnvidia-ml.so.1"
#define CN_NVML_LIB_ENV "COCOON_NVML_LIB"
#define CN_NVML_DEFAULT_TIMEOUT_MS 30000u

/* nvml.h constants (spec §1.2) */
#define CN_NVML_CC_FEATURE_ENABLED 1u
#define CN_NVML_CC_DEVTOOLS_OFF 0u
#define CN_NVML_CC_ENV_UNAVAILABLE 0u
#define CN_NVML_CC_ENV_SIM 1u
#define CN_NVML_CC_ENV_PROD 2u
#define CN_NVML_CC_MULTIGPU_NONE 0u
#define CN_NVML_CC_MULTIGPU_PPCIE 1u
#define CN_NVML_CC_MULTIGPU_NVLE 2u
#define CN_NVML_ARCH_HOPPER 9u
#define CN_NVML_ARCH_BLACKWELL 10u
#define CN_NVML_NONCE_SIZE 0x20u
#define CN_NVML_REPORT_SIZE 0x2000u
#define CN_NVML_CEC_REPORT_SIZE 0x1000u
#define CN_NVML_CERT_CHAIN_SIZE 0x1000u
#define CN_NVML_ATTESTATION_CERT_CHAIN_SIZE 0x1400u
#define CN_NVML_DRIVER_VERSION_SIZE 80u
#define CN_NVML_VBIOS_VERSION_SIZE 32u
#define CN_NVML_UUID_SIZE 96u
#define CN_NVML_GPUS_MAX 64u
#define CN_NVML_LANES_MAX 16u /* GPUs collected at once */
#define CN_NVML_ERR_MAX 512u

/* nvmlReturn_t values that matter (spec §1.5) */
#define CN_NVML_SUCCESS 0
#define CN_NVML_ERROR_TIMEOUT_LOCAL (-1) /* ours: the watchdog fired */

struct cn_nvml;

/* The system's confidential-computing state (GetConfComputeState + GetConfComputeSettings). */
struct cn_nvml_cc_state {
	uint32_t environment;	/* 0 unavailable, 1 SIM, 2 PROD */
	uint32_t cc_feature;	/* 0 disabled, 1 enabled */
	uint32_t devtools_mode; /* 0 off, 1 on */
	uint32_t multigpu_mode; /* 0 none, 1 protected PCIe, 2 NVLE */
};

/* One GPU's evidence and identity, as NVML returned them (validated). */
struct cn_nvml_gpu {
	unsigned index;
	uint32_t arch; /* NVML_DEVICE_ARCH_* */
	uint32_t board_id;
	char uuid[CN_NVML_UUID_SIZE];
	char vbios_version[CN_NVML_VBIOS_VERSION_SIZE];
	uint8_t *report; /* the attestation report (SPDM request + response) */
	size_t report_len;
	uint8_t *chain; /* attestationCertChain: PEM text, leaf first */
	size_t chain_len;
};

/*
 * Loads the library: path, else $COCOON_NVML_LIB, else libnvidia-ml.so.1; resolves every entry
 * point of spec §1.3. timeout_ms bounds each later call (0: the default). -ENOENT naming the
 * library or the symbol when one is missing.
 */
int cn_nvml_open(const char *path, unsigned timeout_ms, struct cn_nvml **ret);
/* nvmlShutdown() (unless wedged or never initialised) and unload (unless wedged). */
void cn_nvml_close(struct cn_nvml *n);
CN_DEFINE_CLEANUP(struct cn_nvml *, cn_nvml_close)

/* The library path that was loaded. */
const char *cn_nvml_path(const struct cn_nvml *n);
/* True once a call timed out: the process should exit soon after. */
bool cn_nvml_wedged(const struct cn_nvml *n);

/*
 * Each wrapper returns 0, or a negative errno with cn_err_set() naming the NVML function and its
 * return code ("nvmlDeviceGetCount_v2 returned 999 (NVML_ERROR_UNKNOWN)"), or -ETIMEDOUT
 * ("... did not return within N s"), or -EBADMSG when a returned value fails validation.
 */
int cn_nvml_init(struct cn_nvml *n);
int cn_nvml_cc_state(struct cn_nvml *n, struct cn_nvml_cc_state *ret);
int cn_nvml_driver_version(struct cn_nvml *n, char ret[CN_NVML_DRIVER_VERSION_SIZE]);
int cn_nvml_gpu_count(struct cn_nvml *n, unsigned *ret);
/* Identity, versions, certificate chain and the report for nonce, in the spec §1.4 CPP order. */
int cn_nvml_gpu_collect(struct cn_nvml *n, unsigned index, const uint8_t nonce[CN_NVML_NONCE_SIZE],
			struct cn_nvml_gpu *ret);
/*
 * Collects GPUs 0..count-1 into gpus[] at once, on up to CN_NVML_LANES_MAX worker threads (each
 * call still under the watchdog). Returns 0, or the error of the first GPU in index order that
 * could not be collected (*ret_failed its index; nothing is left in gpus[] then).
 */
int cn_nvml_gpu_collect_all(struct cn_nvml *n, unsigned count,
			    const uint8_t nonce[CN_NVML_NONCE_SIZE], struct cn_nvml_gpu *gpus,
			    unsigned *ret_failed);
void cn_nvml_gpu_clear(struct cn_nvml_gpu *g);
int cn_nvml_ready_get(struct cn_nvml *n, unsigned *ret);
int cn_nvml_ready_set(struct cn_nvml *n, unsigned accepting);

/* "HOPPER", "BLACKWELL", ... or NULL for a value outside nvml.h's list. */
const char *cn_nvml_arch_name(uint32_t arch);
/* "NVML_ERROR_UNKNOWN" ... ("NVML_ERROR_?" for values not in nvml.h). */
const char *cn_nvml_return_name(int rc);
const char *cn_nvml_env_name(uint32_t env);
const char *cn_nvml_multigpu_name(uint32_t mode);

/*
 * Validates a fixed-size string field NVML filled: NUL inside the buffer, non-empty, printable
 * ASCII only. -EBADMSG naming field otherwise. Exposed for the fuzz target and tests.
 */
int cn_nvml_check_string(const char *field, const char *buf, size_t size);

/*
 * The checks applied to NVML's certificate and report structs (raw = the struct's bytes, of
 * exactly its size): sizes inside their buffers, flags 0/1, the caller's nonce left in place.
 * *ret gets a copy of the attestation chain / report. Exposed for the fuzz target.
 */
int cn_nvml_cert_extract(const void *raw, size_t raw_len, uint8_t **ret, size_t *ret_len);
int cn_nvml_report_extract(const void *raw, size_t raw_len, const uint8_t nonce[CN_NVML_NONCE_SIZE],
			   uint8_t **ret, size_t *ret_len);
