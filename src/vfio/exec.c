/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running helpers (gpu-admin-tools, udevadm) with an argv array and a deadline, and sysfs writes
 * that may block in the kernel (unbind waits for the old driver to let go) done in a child so a
 * hung write is reported instead of waited on forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/proc.h"
#include "vfio/vfio.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cn_vfio_find_exe(const char *name, char **ret)
{
	int r = cn_proc_find_executable(name, CN_PROC_SYSTEM_PATH, ret);

	if (r == -ENOENT)
		return cn_err_set(r, "'%s' not found in the system directories", name);
	return r;
}

void cn_vfio_proc_result_done(struct cn_vfio_proc_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int cn_vfio_spawn(const char *const *argv, int timeout_ms, struct cn_vfio_proc_result *ret)
{
	const struct cn_proc_opts o = {
	    .timeout_ms = timeout_ms, .out_max = CN_GAT_OUTPUT_MAX, .err_max = CN_GAT_OUTPUT_MAX};
	struct cn_proc_result p;
	int r = cn_proc_run(argv, &o, &p);

	if (r < 0)
		return r;
	*ret = (struct cn_vfio_proc_result){.status = p.status,
					    .timed_out = p.timed_out,
					    .out = p.out,
					    .out_len = p.out_len,
					    .err = p.err,
					    .err_len = p.err_len};
	return 0;
}

int cn_vfio_sysfs_write(int sysfs_fd, const char *rel, const char *value, int timeout_ms)
{
	int64_t deadline;
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return cn_err_set(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* O_TRUNC as a shell's '>' does: ignored by sysfs, right for plain files. */
		int fd = openat(sysfs_fd, rel, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
		int e = 0;

		if (fd < 0)
			_exit(errno & 0x7f);
		if (cn_write_all(fd, value, strlen(value)) < 0)
			e = errno;
		if (close(fd) < 0 && e == 0)
			e = errno;
		_exit(e & 0x7f);
	}
	deadline = now_ms() + timeout_ms;
	for (int wait = 1;; wait = CN_MIN(wait * 2, 50)) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return cn_err_set(-errno, "waitpid: %s", strerror(errno));
		if (now_ms() >= deadline) {
			/* The writer may sit in an uninterruptible kernel wait; don't reap it. */
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &status, WNOHANG);
			return cn_err_set(-ETIMEDOUT,
					  "writing '%s' to %s did not finish within %d s (pid %d)",
					  value, rel, timeout_ms / 1000, (int)pid);
		}
		sleep_ms(wait);
	}
	if (!WIFEXITED(status))
		return cn_err_set(-EIO, "writing '%s' to %s: writer died", value, rel);
	if (WEXITSTATUS(status) != 0)
		return cn_err_set(-WEXITSTATUS(status), "writing '%s' to %s: %s", value, rel,
				  strerror(WEXITSTATUS(status)));
	return 0;
}
