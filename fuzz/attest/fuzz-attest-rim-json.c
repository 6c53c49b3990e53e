/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the RIM service's JSON body (GET /v1/rim/<id>). */
#include <stdint.h>
#include <stdlib.h>

#include "attest/live.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *xml = NULL;
	size_t len = 0;

	if (cn_live_rim_json_parse(data, size, "NV_GPU_DRIVER_GH100_550.90.07", &xml, &len) >= 0)
		free(xml);
	return 0;
}
