/* SPDX-License-Identifier: Apache-2.0 */
/* Who holds a device node open: a scan of /proc/<pid>/fd (spec host-tools §2.7, §3.5). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "vfio/vfio.h"

/* Bounds: a host has at most a few hundred thousand fds per process. */
#define FDS_PER_PROC_MAX 1048576

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void read_comm(int proc_fd, const char *pid, char *out, size_t outsz)
{
	char path[300];
	_cleanup_free_ char *s = NULL;

	(void)snprintf(path, sizeof(path), "%s/comm", pid);
	if (cn_read_virtual_at(proc_fd, path, 64, &s) < 0) {
		(void)snprintf(out, outsz, "?");
		return;
	}
	(void)snprintf(out, outsz, "%s", s);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
}

int cn_vfio_find_users(const char *proc_root, const char *const *paths, struct cn_vfio_user *users,
		       size_t max)
{
	_cleanup_close_ int proc_fd = -EBADF;
	DIR *pd;
	struct dirent *pe;
	size_t n = 0;
	pid_t self = getpid();

	if (!proc_root)
		proc_root = "/proc";
	proc_fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", proc_root, strerror(errno));
	{
		int dfd = fcntl(proc_fd, F_DUPFD_CLOEXEC, 3);

		pd = dfd >= 0 ? fdopendir(dfd) : NULL;
		if (!pd) {
			int e = errno;

			if (dfd >= 0)
				(void)close(dfd);
			return cn_err_set(-e, "cannot list '%s': %s", proc_root, strerror(e));
		}
	}
	while ((pe = readdir(pd)) && n < max) {
		char fdpath[300];
		int dfd;
		DIR *fdd;
		struct dirent *fe;
		size_t count = 0;
		uint32_t pidv;

		if (!is_pid_name(pe->d_name) || cn_parse_u32(pe->d_name, INT32_MAX, &pidv) < 0 ||
		    (pid_t)pidv == self)
			continue;
		(void)snprintf(fdpath, sizeof(fdpath), "%s/fd", pe->d_name);
		dfd = openat(proc_fd, fdpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue; /* gone, or not ours to see (non-root) */
		fdd = fdopendir(dfd);
		if (!fdd) {
			(void)close(dfd);
			continue;
		}
		while ((fe = readdir(fdd)) && n < max && count++ < FDS_PER_PROC_MAX) {
			char target[PATH_MAX];
			ssize_t l;

			if (!is_pid_name(fe->d_name))
				continue;
			l = readlinkat(dirfd(fdd), fe->d_name, target, sizeof(target) - 1);
			if (l <= 0)
				continue;
			target[l] = '\0';
			for (const char *const *p = paths; *p; p++) {
				if (strcmp(target, *p) != 0)
					continue;
				users[n].pid = (pid_t)pidv;
				read_comm(proc_fd, pe->d_name, users[n].comm,
					  sizeof(users[n].comm));
				(void)snprintf(users[n].path, sizeof(users[n].path), "%s", *p);
				n++;
				break;
			}
		}
		(void)closedir(fdd);
	}
	(void)closedir(pd);
	return (int)n;
}
