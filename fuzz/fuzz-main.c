/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay main for fuzz targets built without libFuzzer: feeds every file named on the command
 * line (directories are walked one level deep) to LLVMFuzzerTestOneInput, so each target's
 * corpus runs as an ordinary `meson test` (suite fuzz-regress).
 */
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f) {
		(void)fprintf(stderr, "cannot open '%s'\n", path);
		return 1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		(void)fclose(f);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		(void)fclose(f);
		return 1;
	}
	(void)fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	size_t count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0) {
			(void)fprintf(stderr, "cannot stat '%s'\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]))
				return 1;
			count++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((de = readdir(d))) {
			char p[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			if (run_file(p)) {
				(void)closedir(d);
				return 1;
			}
			count++;
		}
		(void)closedir(d);
	}
	(void)printf("replayed %zu inputs\n", count);
	return 0;
}
