/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running helpers (gpu-admin-tools, udevadm) with an argv array and a deadline, and sysfs writes
 * that may block in the kernel (unbind waits for the old driver to let go) done in a child so a
 * hung write is reported instead of waited on forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/vfio.h"

extern char **environ;

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
	static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					   "/usr/bin",	      "/sbin",		"/bin"};

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		char *p = cn_path_join(dirs[i], name);

		if (!p)
			return -ENOMEM;
		if (access(p, X_OK) == 0) {
			*ret = p;
			return 0;
		}
		free(p);
	}
	return cn_err_set(-ENOENT, "'%s' not found in the system directories", name);
}

void cn_vfio_proc_result_done(struct cn_vfio_proc_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

struct capbuf {
	char *buf;
	size_t len, cap;
	bool truncated;
};

static int cap_read(int fd, struct capbuf *b)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (b->len + (size_t)n > CN_GAT_OUTPUT_MAX) {
		b->truncated = true;
		n = (ssize_t)(CN_GAT_OUTPUT_MAX - b->len);
	}
	if (n > 0) {
		if (b->len + (size_t)n + 1 > b->cap) {
			size_t ncap = CN_MAX(b->cap * 2, b->len + (size_t)n + 1);
			char *nb = realloc(b->buf, ncap);

			if (!nb)
				return -ENOMEM;
			b->buf = nb;
			b->cap = ncap;
		}
		memcpy(b->buf + b->len, tmp, (size_t)n);
		b->len += (size_t)n;
		b->buf[b->len] = '\0';
	}
	return 1;
}

int cn_vfio_spawn(const char *const *argv, int timeout_ms, struct cn_vfio_proc_result *ret)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	struct capbuf out = {0}, err = {0};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int64_t deadline;
	bool out_open = true, err_open = true, timed_out = false;
	int status = 0, r;

	if (pipe2(outp, O_CLOEXEC) < 0)
		return cn_err_set(-errno, "pipe: %s", strerror(errno));
	if (pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		(void)close(outp[0]);
		(void)close(outp[1]);
		return cn_err_set(r, "pipe: %s", strerror(-r));
	}
	(void)posix_spawn_file_actions_init(&fa);
	(void)posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	(void)posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	(void)posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	(void)posix_spawn_file_actions_destroy(&fa);
	(void)close(outp[1]);
	(void)close(errp[1]);
	if (r != 0) {
		(void)close(outp[0]);
		(void)close(errp[0]);
		return cn_err_set(-r, "cannot run '%s': %s", argv[0], strerror(r));
	}

	deadline = now_ms() + timeout_ms;
	while (out_open || err_open) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int64_t left = deadline - now_ms();
		int pr;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (out_open)
			pfd[n++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
		if (err_open)
			pfd[n++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
		pr = poll(pfd, n, (int)CN_MIN(left, 1000));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (nfds_t i = 0; i < n; i++) {
			bool is_out = pfd[i].fd == outp[0];

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = cap_read(pfd[i].fd, is_out ? &out : &err);
			if (r <= 0) {
				if (is_out)
					out_open = false;
				else
					err_open = false;
			}
		}
	}
	(void)close(outp[0]);
	(void)close(errp[0]);
	if (timed_out)
		(void)kill(pid, SIGKILL);
	for (;;) {
		pid_t w = waitpid(pid, &status, 0);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = 0;
			break;
		}
	}
	if (!out.buf)
		out.buf = strdup("");
	if (!err.buf)
		err.buf = strdup("");
	if (!out.buf || !err.buf) {
		free(out.buf);
		free(err.buf);
		return -ENOMEM;
	}
	*ret = (struct cn_vfio_proc_result){
	    .status = WIFEXITED(status)	    ? WEXITSTATUS(status)
		      : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
					    : 255,
	    .timed_out = timed_out,
	    .out = out.buf,
	    .out_len = out.len,
	    .err = err.buf,
	    .err_len = err.len,
	};
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
