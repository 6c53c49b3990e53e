/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tree copy and removal for the spec share (share.c): a fresh copy per launch, as
 * shutil.copytree makes it (symlinks followed, file and folder modes kept).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "launch/launch.h"

#define TREE_DEPTH_MAX 32
#define TREE_ENTRIES_MAX 100000u

static int copy_file(int sfd, const char *name, int dfd, mode_t mode)
{
	_cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	_cleanup_close_ int out = -EBADF;
	char buf[65536];

	if (in < 0)
		return -errno;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
	if (out < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r = cn_write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (fchmod(out, mode & 07777) < 0)
		return -errno;
	return 0;
}

static int copy_dir(int sfd, int dfd, const char *src_path, unsigned depth, unsigned *count)
{
	_cleanup_close_ int dup_fd = -EBADF;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > TREE_DEPTH_MAX)
		return cn_err_set(-E2BIG, "spec folder '%s': nested deeper than %d", src_path,
				  TREE_DEPTH_MAX);
	dup_fd = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	d = fdopendir(dup_fd);
	if (!d)
		return -errno;
	TAKE_FD(dup_fd);
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++*count > TREE_ENTRIES_MAX) {
			r = cn_err_set(-E2BIG, "spec folder '%s': more than %u entries", src_path,
				       TREE_ENTRIES_MAX);
			break;
		}
		/* Symlinks are followed (shutil.copytree's default): the share holds copies. */
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
			r = cn_err_set(-errno, "spec folder '%s/%s': %s", src_path, de->d_name,
				       strerror(errno));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			r = copy_file(dirfd(d), de->d_name, dfd, st.st_mode);
			if (r < 0)
				r = cn_err_set(r, "cannot copy '%s/%s': %s", src_path, de->d_name,
					       strerror(-r));
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int s2 = -EBADF, d2 = -EBADF;
			_cleanup_free_ char *sub = cn_path_join(src_path, de->d_name);

			if (!sub) {
				r = -ENOMEM;
				break;
			}
			s2 = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (s2 < 0 || mkdirat(dfd, de->d_name, (st.st_mode & 07777) | 0700) < 0 ||
			    (d2 = openat(dfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
				r = cn_err_set(-errno, "cannot copy folder '%s': %s", sub,
					       strerror(errno));
			else {
				r = copy_dir(s2, d2, sub, depth + 1, count);
				if (r >= 0 && fchmod(d2, st.st_mode & 07777) < 0)
					r = -errno;
			}
		} else
			r = cn_err_set(-EINVAL, "spec folder '%s/%s': not a file or folder",
				       src_path, de->d_name);
		if (r < 0)
			break;
	}
	(void)closedir(d);
	return r;
}

int cn_launch_remove_tree(const char *path)
{
	return cn_rm_rf(path);
}

int cn_launch_copy_tree(const char *src, const char *dst)
{
	_cleanup_close_ int sfd = -EBADF, dfd = -EBADF;
	unsigned count = 0;
	struct stat st;
	int r;

	sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return cn_err_set(-errno, "spec folder '%s': %s (give --spec DIR)", src,
				  strerror(errno));
	if (fstat(sfd, &st) < 0)
		return -errno;
	r = cn_launch_remove_tree(dst);
	if (r < 0)
		return r;
	if (mkdir(dst, 0755) < 0)
		return cn_err_set(-errno, "cannot create '%s': %s", dst, strerror(errno));
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	r = copy_dir(sfd, dfd, src, 0, &count);
	if (r < 0) {
		(void)cn_launch_remove_tree(dst);
		return r;
	}
	(void)fchmod(dfd, st.st_mode & 07777);
	return 0;
}
