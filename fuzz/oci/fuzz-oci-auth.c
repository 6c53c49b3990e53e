/* SPDX-License-Identifier: Apache-2.0 */
/* Auth inputs from the network and disk: WWW-Authenticate, Docker config.json, token JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_oci_challenge c;
	char *s, *u = NULL, *p = NULL, *t = NULL;

	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (cn_oci_challenge_parse(s, &c) == 0 && c.bearer && !c.realm[0])
		abort();
	if (cn_oci_docker_config_parse(data, size, "127.0.0.1:5000", &u, &p) == 0) {
		if (!u || !p)
			abort();
		free(u);
		free(p);
	}
	if (cn_oci_token_parse(data, size, &t) == 0) {
		if (!t || !t[0])
			abort();
		free(t);
	}
	free(s);
	return 0;
}
