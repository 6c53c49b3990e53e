/* SPDX-License-Identifier: Apache-2.0 */
/* The model spec grammar "<name>[@<commit>[:<roothash>]]" and the file-name mapping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_model_spec s;
	char *str, *p;

	if (size > 4096)
		return 0;
	str = malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	if (cn_model_spec_parse(str, &s) == 0) {
		if (!s.name || strchr(s.name, '@') || (s.root_hash && strlen(s.root_hash) != 64))
			abort();
		p = cn_model_path_name(s.name);
		if (!p || strlen(p) != strlen(s.name))
			abort();
		free(p);
		cn_model_spec_done(&s);
	}
	free(str);
	return 0;
}
