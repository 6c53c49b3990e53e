/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the relying-party policy parser and evaluator. */
#include <stdint.h>

#include "attest/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_policy *p = NULL;
	json_t *ov, *det, *mm;

	if (cn_policy_parse((const char *)data, size, &p) < 0)
		return 0;
	ov = json_pack("{s:s,s:b,s:s}", "iss", "LOCAL_GPU_VERIFIER", "x-nvidia-overall-att-result",
		       1, "x-nvidia-ver", "3.0");
	det = json_pack("{s:{s:s,s:b,s:{s:s,s:n}}}", "GPU-0", "measres", "success",
			"x-nvidia-gpu-arch-check", 1, "x-nvidia-gpu-attestation-report-cert-chain",
			"x-nvidia-cert-status", "valid", "x-nvidia-cert-ocsp-status");
	mm = json_array();
	(void)cn_policy_evaluate(p, ov, det, mm);
	json_decref(mm);
	json_decref(det);
	json_decref(ov);
	cn_policy_free(p);
	return 0;
}
