/* SPDX-License-Identifier: Apache-2.0 */
/* A Hugging Face cache ref file (refs/<revision>, untrusted text) and the .hash reader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf/cache.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return;
	(void)fwrite(data, 1, size, f);
	(void)fclose(f);
}

static void cleanup(void)
{
	static const char *const parts[] = {"/hub/models--o--m/refs/main", "/hub/models--o--m/refs",
					    "/hub/models--o--m", "/hub", ""};
	char p[160];

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", root, parts[i]);
		(void)remove(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char p[128], hub[96], hash[65];
	char *commit = NULL, *dir = NULL;

	if (!root[0]) {
		(void)snprintf(root, sizeof(root), "/tmp/cn-fuzz-hf.%d", (int)getpid());
		(void)snprintf(p, sizeof(p), "%s/hub/models--o--m/refs", root);
		(void)mkdir(root, 0700);
		(void)snprintf(p, sizeof(p), "%s/hub", root);
		(void)mkdir(p, 0700);
		(void)snprintf(p, sizeof(p), "%s/hub/models--o--m", root);
		(void)mkdir(p, 0700);
		(void)snprintf(p, sizeof(p), "%s/hub/models--o--m/refs", root);
		(void)mkdir(p, 0700);
		(void)atexit(cleanup);
	}
	(void)snprintf(p, sizeof(p), "%s/hub/models--o--m/refs/main", root);
	write_file(p, data, size);
	(void)snprintf(hub, sizeof(hub), "%s/hub", root);
	if (cn_hf_cache_resolve(hub, "o/m", NULL, &commit, &dir) == 0) {
		if (strlen(commit) != 40)
			abort();
		free(commit);
		free(dir);
	}
	if (cn_model_read_hash_file(p, hash) == 0 && strlen(hash) != 64)
		abort();
	(void)unlink(p);
	return 0;
}
