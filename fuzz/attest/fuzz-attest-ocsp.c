/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: DER OCSP responses as read from --ocsp-dir. */
#include <stdint.h>

#include "attest/ocsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OCSP_RESPONSE *r = NULL;

	if (cn_ocsp_response_parse(data, size, &r) >= 0) {
		OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);

		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(r);
	}
	return 0;
}
