/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: NVIDIA serialized GPU evidence JSON. */
#include <stdint.h>

#include "attest/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_evidence_set *s = NULL;

	if (cn_evidence_parse_json((const char *)data, size, &s) >= 0)
		cn_evidence_set_free(s);
	return 0;
}
