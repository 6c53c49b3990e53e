/* SPDX-License-Identifier: Apache-2.0 */
/* Guest test helper: writes FILE to stdout through a read-only shared mmap (as safetensors
 * loaders read shards), so `mmap-cat F | sha256sum` checks the mmap path. Exit 1 on SIGBUS. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void on_bus(int sig)
{
	static const char msg[] = "mmap-cat: SIGBUS (an I/O error under the mapping)\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

int main(int argc, char **argv)
{
	struct stat st;
	const char *p;
	size_t off = 0;
	int fd;

	if (argc != 2)
		return 2;
	(void)signal(SIGBUS, on_bus);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	if (st.st_size == 0)
		return 0;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = write(STDOUT_FILENO, p + off, (size_t)st.st_size - off);

		if (n <= 0) {
			perror("write");
			return 1;
		}
		off += (size_t)n;
	}
	return 0;
}
