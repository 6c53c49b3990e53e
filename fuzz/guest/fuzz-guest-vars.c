/* SPDX-License-Identifier: Apache-2.0 */
/* runtime.vars (written by the host: untrusted in the guest) and the model.env it becomes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_guest_model m;
	char *env = NULL;

	if (cn_guest_model_from_vars((const char *)data, size, &m) < 0)
		return 0;
	if (strlen(m.root_hash) != 64 || strchr(m.name, '\n') || strchr(m.commit, '\n') ||
	    strchr(m.name, '='))
		abort();
	if (cn_guest_env_format(&m, "/mnt/model", &env) < 0)
		abort();
	/* Exactly four lines: nothing in the values can add a variable. */
	size_t lines = 0;
	for (const char *p = env; *p; p++)
		lines += *p == '\n';
	if (lines != 4)
		abort();
	free(env);
	cn_guest_model_done(&m);
	return 0;
}
