/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: an attestation cache / bundle entry (header, checksum, payload). */
#include <stdint.h>

#include "attest/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = NULL;
	size_t len = 0;

	(void)cn_attest_cache_entry_parse(data, size, &p, &len);
	return 0;
}
