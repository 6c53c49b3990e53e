/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spec folder shared with the guest (9p tag "spec"): a fresh copy per launch, with the
 * runtime variables upserted into runtime/runtime.vars (runtime/ is not part of the measured
 * spec hash, the rest is copied byte for byte).
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
#define VARS_MAX (1024u * 1024)
#define VARS_LINES_MAX 10000u

static int copy_file(int sfd, const char *name, int dfd, mode_t mode)
{
	_cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = cn_err_set(-errno, "spec folder '%s/%s': %s", src_path, de->d_name,
				       strerror(errno));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			r = copy_file(dirfd(d), de->d_name, dfd, st.st_mode);
			if (r < 0)
				r = cn_err_set(r, "cannot copy '%s/%s': %s", src_path, de->d_name,
					       strerror(-r));
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

			if (n < 0 || (size_t)n >= sizeof(target) - 1)
				r = cn_err_set(n < 0 ? -errno : -E2BIG, "cannot read link '%s/%s'",
					       src_path, de->d_name);
			else {
				target[n] = '\0';
				if (symlinkat(target, dfd, de->d_name) < 0)
					r = cn_err_set(-errno, "cannot copy link '%s/%s': %s",
						       src_path, de->d_name, strerror(errno));
			}
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int s2 = -EBADF, d2 = -EBADF;
			_cleanup_free_ char *sub = cn_path_join(src_path, de->d_name);

			if (!sub) {
				r = -ENOMEM;
				break;
			}
			s2 = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
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
			r = cn_err_set(-EINVAL,
				       "spec folder '%s/%s': not a file, folder or symlink",
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

static bool key_ok(const char *k)
{
	if (!*k)
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

int cn_launch_vars_upsert(const char *path, char *const *keys, char *const *values, size_t n)
{
	_cleanup_free_ uint8_t *old = NULL;
	_cleanup_free_ char *out = NULL, *dir = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t old_len = 0, out_len = 0, lines = 0;
	bool done[64] = {false};
	const char *slash = strrchr(path, '/');
	FILE *f;
	int r;

	if (n > ELEMENTSOF(done))
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (!key_ok(keys[i]))
			return cn_err_set(-EINVAL, "runtime variable name '%s' is not [A-Z0-9_]+",
					  keys[i]);
		if (strpbrk(values[i], "\n\r"))
			return cn_err_set(
			    -EINVAL, "runtime variable %s: value contains a line break", keys[i]);
	}
	r = cn_read_file(path, VARS_MAX, &old, &old_len);
	if (r == -ENOENT)
		old_len = 0;
	else if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", path, cn_strerror(r));
	else if (memchr(old, '\0', old_len))
		return cn_err_set(-EBADMSG, "'%s' contains a NUL byte", path);

	f = open_memstream(&out, &out_len);
	if (!f)
		return -ENOMEM;
	/* Keep every line; replace the value of a key we set (first occurrence), drop repeats. */
	for (size_t pos = 0; pos < old_len;) {
		const char *line = (const char *)old + pos;
		const char *nl = memchr(line, '\n', old_len - pos);
		size_t ll = nl ? (size_t)(nl - line) : old_len - pos;
		const char *eq = memchr(line, '=', ll);
		bool replaced = false;

		pos += ll + (nl ? 1 : 0);
		if (++lines > VARS_LINES_MAX) {
			(void)fclose(f);
			return cn_err_set(-E2BIG, "'%s' has more than %u lines", path,
					  VARS_LINES_MAX);
		}
		for (size_t i = 0; eq && i < n; i++) {
			size_t kl = strlen(keys[i]);

			if ((size_t)(eq - line) == kl && memcmp(line, keys[i], kl) == 0) {
				if (!done[i])
					(void)fprintf(f, "%s=%s\n", keys[i], values[i]);
				done[i] = true;
				replaced = true;
				break;
			}
		}
		if (!replaced)
			(void)fprintf(f, "%.*s\n", (int)ll, line);
	}
	for (size_t i = 0; i < n; i++)
		if (!done[i])
			(void)fprintf(f, "%s=%s\n", keys[i], values[i]);
	if (fclose(f) != 0)
		return -ENOMEM;

	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	r = cn_mkdir_p(dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create '%s': %s", dir, strerror(-r));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = cn_write_file_atomic_at(dfd, slash ? slash + 1 : path, out, out_len, 0600);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}
