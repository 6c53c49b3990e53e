/* SPDX-License-Identifier: Apache-2.0 */
/* The dm-verity superblock parser (untrusted .verity files) and the geometry it implies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_verity_sb sb;
	struct cn_verity_geo g;
	uint8_t back[CN_VERITY_SB_SIZE];

	if (cn_verity_sb_parse(data, size, &sb) < 0)
		return 0;
	if (sb.salt_size > CN_VERITY_SALT_MAX || sb.data_blocks == 0)
		abort();
	if (cn_verity_geometry(sb.data_blocks, &g) == 0 && g.file_size < 4096)
		abort();
	/* Whatever parses re-encodes to the same bytes (every other byte is checked). */
	cn_verity_sb_encode(&sb, back);
	if (memcmp(back, data, CN_VERITY_SB_SIZE) != 0)
		abort();
	return 0;
}
