/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the gpu-admin-tools status-line parser (cn_gat_parse_mode), for CC and PPCIe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/vfio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const knobs[] = {"CC", "PPCIe"};
	enum cn_gat_mode m;
	char raw[CN_GAT_MODE_TEXT_MAX];
	char *buf;

	if (size > CN_GAT_OUTPUT_MAX)
		return 0;
	/* Not NUL-terminated on purpose: the parser must stay within len. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (size_t k = 0; k < 2; k++)
		if (cn_gat_parse_mode(buf, size, "0000:3a:00.0", knobs[k], &m, raw) == 0 &&
		    (strlen(raw) == 0 || strlen(raw) >= CN_GAT_MODE_TEXT_MAX))
			abort();
	free(buf);
	return 0;
}
