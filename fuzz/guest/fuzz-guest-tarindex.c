/* SPDX-License-Identifier: Apache-2.0 */
/* The guest's tar index parser (the model tar is untrusted until dm-verity has checked it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guest/tarindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_taridx *idx;
	uint32_t found;

	if (cn_taridx_build_mem(data, size, &idx) < 0)
		return 0;
	/* Invariants the FUSE server relies on. */
	if (idx->n == 0 || !S_ISDIR(idx->nodes[0].mode) || idx->end > size)
		abort();
	for (uint32_t i = 0; i < idx->n; i++) {
		const struct cn_taridx_node *nd = &idx->nodes[i];

		if (nd->parent >= idx->n || nd->target >= idx->n ||
		    !S_ISDIR(idx->nodes[nd->parent].mode))
			abort();
		if (S_ISREG(nd->mode) && (nd->data_off > size || size - nd->data_off < nd->size))
			abort();
		if (nd->name_off + (uint64_t)nd->name_len > idx->names_len)
			abort();
		if (S_ISDIR(nd->mode) && (uint64_t)nd->child_first + nd->child_count > idx->n)
			abort();
		/* Every entry is found again by name in its directory. */
		if (i > 0 && (cn_taridx_lookup(idx, nd->parent, idx->names + nd->name_off,
					       nd->name_len, &found) < 0 ||
			      found != i))
			abort();
	}
	cn_taridx_free(idx);
	return 0;
}
