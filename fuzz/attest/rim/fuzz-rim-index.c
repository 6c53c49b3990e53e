/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: identity of one file for the RIM directory index. Input = file name, '\n', XML. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/rim/rim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
	struct cn_rim_index_entry e;
	char *name;

	if (!nl)
		return 0;
	name = malloc((size_t)(nl - data) + 1);
	if (!name)
		return 0;
	memcpy(name, data, (size_t)(nl - data));
	name[nl - data] = '\0';
	if (cn_rim_identify(nl + 1, size - (size_t)(nl - data) - 1, name, &e) == 0 &&
	    !cn_rim_id_valid(e.id))
		abort(); /* an indexed id must always be a valid id */
	free(name);
	return 0;
}
