/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: serves a tar file (no dm-verity; the host has none) through the same FUSE server
 * cocoon model mount uses, in the foreground until unmounted. Usage: fuse-serve TAR MOUNTPOINT.
 * Exit 77 when FUSE cannot be mounted here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "guest/guest.h"

int main(int argc, char **argv)
{
	struct cn_guest_fs *fs;
	int fd, r;

	if (argc != 3) {
		(void)fprintf(stderr, "usage: fuse-serve TAR MOUNTPOINT\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		(void)fprintf(stderr, "fuse-serve: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	r = cn_guest_fs_new(fd, argv[2], &fs);
	if (r < 0) {
		(void)fprintf(stderr, "fuse-serve: %s\n", cn_err_msg());
		return strstr(cn_err_msg(), "FUSE") ? 77 : 1;
	}
	r = cn_guest_fs_serve(fs);
	cn_guest_fs_free(fs, true);
	return r < 0 ? 1 : 0;
}
