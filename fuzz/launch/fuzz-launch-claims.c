/* SPDX-License-Identifier: Apache-2.0 */
/* The claims file other instances leave in the run folder: strict JSON, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch/launch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_launch_claims k, mine = {.cid = 6,
					   .ports = {12005, 12000},
					   .n_ports = 2,
					   .persistent = (char *)"/p.img",
					   .gpu = (char *)"0000:41:00.0",
					   .name = (char *)"cocoon-worker-0"};

	if (cn_launch_claims_parse((const char *)data, size, &k) < 0)
		return 0;
	(void)cn_launch_claims_conflict(&mine, &k);
	{
		char *j = cn_launch_claims_json(&k);

		free(j);
	}
	cn_launch_claims_done(&k);
	return 0;
}
