/* SPDX-License-Identifier: Apache-2.0 */
/* Docker credential helpers: the helper named in config.json, and the helper's JSON answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char h[CN_OCI_HELPER_NAME_MAX + 1];
	char *u = NULL, *p = NULL;

	if (size > 16384)
		return 0;
	if (cn_oci_docker_config_helper(data, size, "127.0.0.1:5000", h) == 0 &&
	    (!h[0] || strlen(h) > CN_OCI_HELPER_NAME_MAX || strchr(h, '/')))
		abort();
	if (cn_oci_cred_helper_parse(data, size, &u, &p) == 0) {
		if (!u || !p || !u[0] || !p[0] || strchr(u, ':'))
			abort();
		free(u);
		free(p);
	}
	return 0;
}
