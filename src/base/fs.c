/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

static int rm_at(int dfd, const char *name, unsigned depth)
{
	_cleanup_close_ int sub = -EBADF;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth >= CN_RM_RF_DEPTH_MAX)
		return -ELOOP;
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sub < 0)
		return -errno;
	d = fdopendir(sub);
	if (!d)
		return -errno;
	TAKE_FD(sub);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = rm_at(dirfd(d), de->d_name, depth + 1);
			if (r < 0)
				break;
		}
	(void)closedir(d);
	if (r < 0)
		return r;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int cn_rm_rf_at(int dir_fd, const char *name)
{
	int r = rm_at(dir_fd, name, 0);

	if (r < 0)
		return cn_err_set(r, "cannot remove '%s': %s", name, strerror(-r));
	return 0;
}

int cn_rm_rf(const char *path)
{
	return cn_rm_rf_at(AT_FDCWD, path);
}

int cn_lock_wait_at(int dir_fd, const char *name, cn_lock_wait_fn on_wait, void *userdata,
		    int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF;

	fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open the lock file '%s': %s", name,
				  strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return cn_err_set(-errno, "cannot lock '%s': %s", name, strerror(errno));
		if (on_wait)
			on_wait(userdata, name);
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return cn_err_set(-errno, "cannot lock '%s': %s", name,
						  strerror(errno));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void cn_atomic_abort(struct cn_atomic_file *f)
{
	if (f->tmp)
		(void)unlinkat(f->dir_fd, f->tmp, 0);
	if (f->fd >= 0)
		(void)close(f->fd);
	free(f->tmp);
	free(f->final);
	*f = (struct cn_atomic_file)CN_ATOMIC_FILE_INIT;
}

int cn_atomic_open(struct cn_atomic_file *f, int dir_fd, const char *final, bool direct)
{
	int fd, r;

	*f = (struct cn_atomic_file){.dir_fd = dir_fd, .fd = -EBADF};
	f->final = strdup(final);
	if (!f->final)
		return -ENOMEM;
	fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0 && direct && errno == EINVAL)
		fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		r = cn_open_tmp_at(dir_fd, final, &fd, &f->tmp);
		if (r < 0)
			goto fail;
	} else if (fd < 0) {
		r = -errno;
		goto fail;
	}
	f->fd = fd;
	return 0;
fail:
	cn_atomic_abort(f);
	return cn_err_set(r, "cannot create a temporary file for '%s': %s", final, strerror(-r));
}

int cn_atomic_write(struct cn_atomic_file *f, const void *buf, size_t len)
{
	int r = cn_write_all(f->fd, buf, len);

	if (r < 0)
		return cn_err_set(r, "cannot write '%s': %s", f->final, strerror(-r));
	return 0;
}

int cn_atomic_link(struct cn_atomic_file *f, unsigned mode)
{
	static unsigned counter;
	char proc[64], *name;

	if (fchmod(f->fd, (mode_t)mode) < 0 || fsync(f->fd) < 0)
		return cn_err_set(-errno, "cannot write '%s': %s", f->final, strerror(errno));
	if (f->tmp)
		return 0;
	if (asprintf(&name, ".%s.%d.%u", f->final, (int)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) < 0)
		return -ENOMEM;
	(void)unlinkat(f->dir_fd, name, 0);
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	if (linkat(AT_FDCWD, proc, f->dir_fd, name, AT_SYMLINK_FOLLOW) < 0) {
		int r = -errno;

		free(name);
		return cn_err_set(r, "cannot link '%s': %s", f->final, strerror(-r));
	}
	f->tmp = name;
	return 0;
}

int cn_atomic_commit(struct cn_atomic_file *f)
{
	if (renameat(f->dir_fd, f->tmp, f->dir_fd, f->final) < 0)
		return cn_err_set(-errno, "cannot rename '%s' into place: %s", f->final,
				  strerror(errno));
	f->tmp = mfree(f->tmp);
	return 0;
}

int cn_publish_dir(const char *tmp, const char *final, bool replace)
{
	_cleanup_free_ char *parent = strdup(final);
	int r;

	if (!parent)
		return -ENOMEM;
	if (replace) {
		r = cn_rm_rf(final);
		if (r < 0)
			return r;
	}
	if (rename(tmp, final) < 0)
		return cn_err_set(-errno, "cannot rename '%s' to '%s': %s", tmp, final,
				  strerror(errno));
	(void)cn_fsync_dir(dirname(parent));
	return 0;
}

int cn_mkdir_open(const char *path, mode_t mode, int *ret_fd)
{
	int fd, r;

	r = cn_mkdir_p(path, mode);
	if (r < 0)
		return cn_err_set(r, "cannot create '%s': %s", path, strerror(-r));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", path, strerror(errno));
	*ret_fd = fd;
	return 0;
}

DIR *cn_opendir_dup(int dir_fd)
{
	int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		(void)close(fd);
		errno = e;
		return NULL;
	}
	rewinddir(d); /* the duplicate shares the offset with reads through dir_fd */
	return d;
}
