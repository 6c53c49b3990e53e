/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The .gitignore dialect and wildmatch of the spec tree hash (src/launch/spectree.c): the first
 * line is a path (a trailing '/' makes it a folder), the rest the .gitignore text. Never crash,
 * never hang (the matcher's recursion is bounded).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch/launch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t pl = nl ? (size_t)(nl - data) : size;
	char *path;
	bool dir, ign;

	if (pl > 4096 || memchr(data, '\0', pl))
		return 0;
	path = malloc(pl + 1); /* data is not NUL-terminated */
	if (!path)
		return 0;
	memcpy(path, data, pl);
	path[pl] = '\0';
	dir = pl > 0 && path[pl - 1] == '/';
	if (dir)
		path[pl - 1] = '\0';
	if (nl)
		(void)cn_launch_ignore_match((const char *)nl + 1, size - pl - 1, path, dir, &ign);
	free(path);
	return 0;
}
