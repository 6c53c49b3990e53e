/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tree listing parser (GET /api/models/{repo}/tree/{commit}): one page, then a second copy
 * of it (duplicates across pages), then finish. Invariants of an accepted listing are checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/hub-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_hub_tree t = {0};

	if (size > (1u << 20))
		return 0;
	if (cn_hub_tree_parse_page(data, size, &t) < 0) {
		if (t.n != 0 || t.files)
			abort(); /* a failed page leaves the tree unchanged */
		return 0;
	}
	if (cn_hub_tree_finish(&t) == 0)
		for (size_t i = 0; i < t.n; i++) {
			const struct cn_hub_file *f = &t.files[i];

			if (cn_hub_path_check(f->path, strlen(f->path)) < 0 ||
			    f->size > CN_HUB_FILE_SIZE_MAX || cn_hub_tree_find(&t, f->path) != f ||
			    (i && strcmp(t.files[i - 1].path, f->path) >= 0))
				abort();
		}
	(void)cn_hub_tree_parse_page(data, size, &t);
	(void)cn_hub_tree_finish(&t);
	cn_hub_tree_done(&t);
	return 0;
}
