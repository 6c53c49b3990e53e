/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"

#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static char shared_path[PATH_MAX];

void cn_test_skip(const char *why)
{
	(void)printf("SKIP: %s\n", why);
	(void)fflush(stdout);
	exit(77);
}

const char *cn_test_shared(const char *rel)
{
	const char *root = getenv("CN_SHARED_DIR");

	if (!root || !*root)
		root = CN_DEFAULT_SHARED_DIR;
	(void)snprintf(shared_path, sizeof(shared_path), "%s/%s", root, rel);
	if (access(shared_path, R_OK) != 0)
		return NULL;
	return shared_path;
}

const char *cn_test_shared_or_skip(const char *rel)
{
	const char *p = cn_test_shared(rel);
	char msg[PATH_MAX + 64];

	if (!p) {
		(void)snprintf(msg, sizeof(msg), "shared test data '%s' not found", rel);
		cn_test_skip(msg);
	}
	return p;
}

static void rm_tmpdir(void)
{
	char cmd[PATH_MAX + 32];

	if (!tmpdir[0] || getenv("CN_TEST_KEEP"))
		return;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
}

const char *cn_test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");

		(void)snprintf(tmpdir, sizeof(tmpdir), "%s/cn-test.XXXXXX",
			       base && *base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			(void)fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
			abort();
		}
		(void)atexit(rm_tmpdir);
	}
	return tmpdir;
}

int cn_test_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	r = system(cmd);
	free(cmd);
	if (r == -1 || !WIFEXITED(r))
		return -1;
	return WEXITSTATUS(r);
}

uint8_t *cn_test_slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		(void)fprintf(stderr, "cannot open '%s': %s\n", path, strerror(errno));
		abort();
	}
	do {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	(void)fclose(f);
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
}

void cn_test_write(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		(void)fprintf(stderr, "cannot write '%s'\n", path);
		abort();
	}
}

int cn_test_main(const struct cn_test *tests, size_t n, int argc, char **argv)
{
	const char *filter = getenv("CN_TEST_FILTER");
	size_t ran = 0;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < n; i++) {
		if (filter && *filter && !strstr(tests[i].name, filter))
			continue;
		(void)printf("# %s\n", tests[i].name);
		(void)fflush(stdout);
		tests[i].fn();
		ran++;
	}
	(void)printf("ok: %zu tests\n", ran);
	return 0;
}
