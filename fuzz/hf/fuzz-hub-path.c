/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository path validator (and the repo id / revision checks on the same bytes). An
 * accepted path must be safe to join under a staging folder: no "." or ".." component, no empty
 * component, not absolute, no backslash or control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/hub-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char *s;

	if (size > 2 * CN_HUB_PATH_MAX)
		return 0;
	if (cn_hub_path_check(p, size) == 0) {
		size_t start = 0;

		if (size == 0 || size > CN_HUB_PATH_MAX || p[0] == '/' || p[size - 1] == '/')
			abort();
		for (size_t i = 0; i <= size; i++) {
			if (i < size &&
			    (p[i] == '\\' || (unsigned char)p[i] < 0x20 || p[i] == 0x7f))
				abort();
			if (i < size && p[i] != '/')
				continue;
			if (i == start || (i - start == 1 && p[start] == '.') ||
			    (i - start == 2 && p[start] == '.' && p[start + 1] == '.') ||
			    i - start > CN_HUB_NAME_MAX)
				abort();
			start = i + 1;
		}
	}
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, p, size);
	s[size] = 0;
	(void)cn_hub_repo_id_check(s);
	(void)cn_hub_revision_check(s);
	free(s);
	return 0;
}
