/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

int cn_open_input_at(int dir_fd, const char *path, bool allow_block, int *ret_fd,
		     struct stat *ret_st)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int fl;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; cleared once it is known. */
	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) && !(allow_block && S_ISBLK(st.st_mode)))
		return -CN_ENOTREG;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	if (ret_st)
		*ret_st = st;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cn_read_file_at(int dir_fd, const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int r;

	r = cn_open_input_at(dir_fd, path, false, &fd, &st);
	if (r < 0)
		return r;
	if ((uint64_t)st.st_size > max)
		return -E2BIG;
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap;
			uint8_t *nb;

			if (cap > max)
				return -E2BIG;
			ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, ncap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -E2BIG;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int cn_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	return cn_read_file_at(AT_FDCWD, path, max, ret, ret_len);
}

int cn_read_virtual_at(int dir_fd, const char *path, size_t max, char **ret)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (max == 0)
		return -EINVAL;
	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	do
		n = read(fd, buf, max);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == max)
		return -E2BIG;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n))
		return -EBADMSG;
	*ret = TAKE_PTR(buf);
	return 0;
}

int cn_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cn_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int cn_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int cn_open_tmp_at(int dir_fd, const char *prefix, int *ret_fd, char **ret_name)
{
	static const char chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	_cleanup_free_ char *name = NULL;
	const char *slash = strrchr(prefix, '/');
	size_t dlen = slash ? (size_t)(slash - prefix) + 1 : 0; /* "dir/" kept in front */
	size_t plen = strlen(prefix) - dlen;
	uint64_t seed;

	name = malloc(dlen + plen + 9);
	if (!name)
		return -ENOMEM;
	seed = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)name;
	for (int attempt = 0; attempt < 100; attempt++) {
		struct timespec ts;
		int fd;

		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		seed =
		    seed * 6364136223846793005ULL + (uint64_t)ts.tv_nsec + 1442695040888963407ULL;
		memcpy(name, prefix, dlen);
		name[dlen] = '.';
		memcpy(name + dlen + 1, prefix + dlen, plen);
		name[dlen + plen + 1] = '.';
		for (int i = 0; i < 6; i++)
			name[dlen + plen + 2 + i] =
			    chars[(seed >> (i * 6 + 8)) % (sizeof(chars) - 1)];
		name[dlen + plen + 8] = '\0';
		fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*ret_fd = fd;
			*ret_name = TAKE_PTR(name);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int cn_fsync_dir_fd(int dir_fd)
{
	if (fsync(dir_fd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int cn_fsync_dir(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return cn_fsync_dir_fd(fd);
}

/* fsync of the folder that holds name (relative to dir_fd, which may be AT_FDCWD). */
static int fsync_parent_at(int dir_fd, const char *name)
{
	const char *slash = strrchr(name, '/');
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (!slash && dir_fd != AT_FDCWD)
		return cn_fsync_dir_fd(dir_fd);
	parent = slash ? strndup(name, slash == name ? 1 : (size_t)(slash - name)) : strdup(".");
	if (!parent)
		return -ENOMEM;
	fd = openat(dir_fd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return cn_fsync_dir_fd(fd);
}

int cn_write_file_atomic_at(int dir_fd, const char *name, const void *buf, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = cn_open_tmp_at(dir_fd, name, &fd, &tmp);
	if (r < 0)
		return r;
	r = cn_write_all(fd, buf, len);
	if (r < 0)
		goto fail;
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || renameat(dir_fd, tmp, dir_fd, name) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_parent_at(dir_fd, name);
fail:
	(void)unlinkat(dir_fd, tmp, 0);
	return r;
}

int cn_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	size_t len;

	if (!p)
		return -ENOMEM;
	len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0) {
		struct stat st;

		if (errno != EEXIST)
			return -errno;
		if (stat(p, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}

int cn_abspath(const char *path, char **ret)
{
	char *p = realpath(path, NULL);

	if (!p)
		return -errno;
	*ret = p;
	return 0;
}

char *cn_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *out;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (asprintf(&out, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return out;
}
