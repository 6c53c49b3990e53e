/* SPDX-License-Identifier: Apache-2.0 */
/* The model artifact manifest (untrusted registry bytes): strict parse, invariants, rebuild. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_oci_model_manifest m, m2;
	char *s;

	if (cn_oci_manifest_parse(data, size, &m) != 0)
		return 0;
	if (m.tar.size == 0 || m.tar.size % 4096 || strlen(m.root_hash) != 64 || !m.name[0] ||
	    !m.commit[0])
		abort();
	s = cn_oci_manifest_build(&m);
	if (!s)
		return 0;
	if (cn_oci_manifest_parse((const uint8_t *)s, strlen(s), &m2) != 0 ||
	    memcmp(&m, &m2, sizeof(m)) != 0)
		abort();
	free(s);
	return 0;
}
