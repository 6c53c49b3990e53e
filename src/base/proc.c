/* SPDX-License-Identifier: Apache-2.0 */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

extern char **environ;

#define PROC_OUT_DEFAULT (1024u * 1024)

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct capbuf {
	char *buf;
	size_t len, cap, max;
	bool truncated;
};

/* 1: more to read; 0: end of file; negative errno. */
static int cap_read(int fd, struct capbuf *b)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (b->len + (size_t)n > b->max) {
		b->truncated = true;
		n = (ssize_t)(b->max - b->len);
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

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		(void)close(p[0]);
	if (p[1] >= 0)
		(void)close(p[1]);
}

static int spawn(const char *const *argv, const struct cn_proc_opts *o, int in_fd, int outp[2],
		 int errp[2], pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	int r;

	(void)posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		(void)posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		(void)posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	(void)posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	if (o->discard_err)
		(void)posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	else
		(void)posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	r = posix_spawn(ret_pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	(void)posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* Reads both pipes until they close or the deadline passes; true when it passed. */
static bool collect(const struct cn_proc_opts *o, int out_fd, int err_fd, struct capbuf *out,
		    struct capbuf *err)
{
	int64_t deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : INT64_MAX;
	bool out_open = true, err_open = err_fd >= 0;

	while (out_open || err_open) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int64_t left = deadline - now_ms();
		int pr;

		if (left <= 0)
			return true;
		if (out_open)
			pfd[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		if (err_open)
			pfd[n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
		pr = poll(pfd, n, (int)CN_MIN(left, 1000));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		for (nfds_t i = 0; i < n; i++) {
			bool is_out = pfd[i].fd == out_fd;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (cap_read(pfd[i].fd, is_out ? out : err) <= 0) {
				if (is_out)
					out_open = false;
				else
					err_open = false;
			}
		}
	}
	return false;
}

/* A pipe already holding the whole input, its write end closed: the read end, or -errno. */
static int input_pipe(const char *in, size_t len)
{
	int p[2], r;

	if (len > CN_PROC_IN_MAX)
		return cn_err_set(-E2BIG, "input for the child above %u bytes", CN_PROC_IN_MAX);
	if (pipe2(p, O_CLOEXEC) < 0)
		return cn_err_set(-errno, "pipe: %s", strerror(errno));
	/* At most PIPE_BUF bytes into an empty pipe: one write, never blocks. */
	if (len && write(p[1], in, len) != (ssize_t)len) {
		r = errno ? -errno : -EIO;
		close_pair(p);
		return cn_err_set(r, "pipe write: %s", strerror(-r));
	}
	(void)close(p[1]);
	return p[0];
}

int cn_proc_run(const char *const *argv, const struct cn_proc_opts *o, struct cn_proc_result *ret)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, in_fd = -1;
	struct cn_proc_opts d = {0};
	struct capbuf out = {0}, err = {0};
	bool timed_out;
	pid_t pid;
	int status = 0, r;

	if (!o)
		o = &d;
	out.max = o->out_max ? o->out_max : PROC_OUT_DEFAULT;
	err.max = o->err_max ? o->err_max : PROC_OUT_DEFAULT;
	if (o->in) {
		in_fd = input_pipe(o->in, o->in_len);
		if (in_fd < 0)
			return in_fd;
	}
	if (pipe2(outp, O_CLOEXEC) < 0 || (!o->discard_err && pipe2(errp, O_CLOEXEC) < 0)) {
		r = -errno;
		close_pair(outp);
		if (in_fd >= 0)
			(void)close(in_fd);
		return cn_err_set(r, "pipe: %s", strerror(-r));
	}
	r = spawn(argv, o, in_fd, outp, errp, &pid);
	if (in_fd >= 0)
		(void)close(in_fd);
	(void)close(outp[1]);
	if (errp[1] >= 0)
		(void)close(errp[1]);
	if (r != 0) {
		(void)close(outp[0]);
		if (errp[0] >= 0)
			(void)close(errp[0]);
		return cn_err_set(-r, "cannot run '%s': %s", argv[0], strerror(r));
	}
	timed_out = collect(o, outp[0], errp[0], &out, &err);
	(void)close(outp[0]);
	if (errp[0] >= 0)
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
	*ret = (struct cn_proc_result){
	    .status = WIFEXITED(status)	    ? WEXITSTATUS(status)
		      : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
					    : 255,
	    .timed_out = timed_out,
	    .truncated = out.truncated || err.truncated,
	    .out = out.buf,
	    .out_len = out.len,
	    .err = err.buf,
	    .err_len = err.len,
	};
	return 0;
}

void cn_proc_result_done(struct cn_proc_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int cn_proc_find_executable(const char *name, const char *path_list, char **ret)
{
	const char *p;

	if (!name || !*name)
		return cn_err_set(-EINVAL, "no program name given");
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return cn_err_set(-errno, "'%s' is not executable: %s", name,
					  strerror(errno));
		*ret = strdup(name);
		return *ret ? 0 : -ENOMEM;
	}
	p = path_list && *path_list ? path_list : "/usr/local/bin:/usr/bin:/bin";
	for (const char *s = p;;) {
		const char *e = strchrnul(s, ':');
		_cleanup_free_ char *dir = strndup(s, (size_t)(e - s));
		_cleanup_free_ char *full = NULL;
		struct stat st;

		if (!dir)
			return -ENOMEM;
		full = cn_path_join(*dir ? dir : ".", name);
		if (!full)
			return -ENOMEM;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
			*ret = TAKE_PTR(full);
			return 0;
		}
		if (!*e)
			break;
		s = e + 1;
	}
	return cn_err_set(-ENOENT, "'%s' not found in %s", name, p);
}
