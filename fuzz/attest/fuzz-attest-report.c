/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the SPDM attestation report parser (binary and hex-text input). */
#include <stdint.h>
#include <stdlib.h>

#include "attest/spdm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_spdm_report *r = NULL;
	uint8_t *bin = NULL;
	size_t len = 0;

	if (cn_spdm_parse(data, size, &r) >= 0) {
		for (unsigned i = 1; i <= 255; i++)
			(void)cn_spdm_block_by_index(r, i);
		cn_spdm_report_free(r);
	}
	if (cn_spdm_decode_file(data, size, &bin, &len) >= 0) {
		r = NULL;
		if (cn_spdm_parse(bin, len, &r) >= 0)
			cn_spdm_report_free(r);
		free(bin);
	}
	return 0;
}
