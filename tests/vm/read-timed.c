/* SPDX-License-Identifier: Apache-2.0 */
/* Guest bench helper: reads each FILE to the end with 1 MiB read()s and prints
 * "FILE BYTES NANOSECONDS" (CLOCK_MONOTONIC), or "FILE error ERRNO-TEXT". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF (1024 * 1024)

static long long now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char *buf = malloc(BUF);
	int rc = 0;

	if (!buf)
		return 1;
	for (int i = 1; i < argc; i++) {
		long long t0 = now_ns(), bytes = 0;
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		ssize_t n = 0;

		while (fd >= 0 && (n = read(fd, buf, BUF)) > 0)
			bytes += n;
		if (fd < 0 || n < 0) {
			(void)printf("%s error %s\n", argv[i], strerror(errno));
			rc = 1;
		} else
			(void)printf("%s %lld %lld\n", argv[i], bytes, now_ns() - t0);
		if (fd >= 0)
			(void)close(fd);
	}
	free(buf);
	return rc;
}
