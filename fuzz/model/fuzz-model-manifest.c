/* SPDX-License-Identifier: Apache-2.0 */
/* The image manifest reader (identity fields of <tar>.manifest.json). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_model_manifest_info m;

	if (cn_model_manifest_parse(data, size, &m) == 0) {
		if (!m.name || !m.commit || strlen(m.root_hash) != 64)
			abort();
		cn_model_manifest_info_done(&m);
	}
	return 0;
}
