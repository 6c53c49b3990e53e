/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon model mount / unmount: disks -> root-hash check + dm-verity -> tar index -> FUSE mount
 * -> model.env -> serve (daemon child, or this process with foreground).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "guest/guest.h"
#include "model/model.h"

#define WAIT_SERVER_MS 15000
#define WAIT_BUSY_MS 5000

struct resolved {
	const char *mountpoint, *dm_name, *env_path, *pid_path;
};

static void resolve(const struct cn_guest_mount_opts *o, struct resolved *r)
{
	r->mountpoint = o->mountpoint ? o->mountpoint : CN_GUEST_MOUNTPOINT;
	r->dm_name = o->dm_name ? o->dm_name : CN_GUEST_DM_NAME;
	r->env_path = o->env_path ? o->env_path : CN_GUEST_ENV_PATH;
	r->pid_path = o->pid_path ? o->pid_path : CN_GUEST_PID_PATH;
}

#define note(o, ...) cn_notifyf((o)->notify, (o)->userdata, __VA_ARGS__)

/* Writes path atomically, creating its directory. */
static int write_atomic(const char *path, const char *text, mode_t mode)
{
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_close_ int dfd = -EBADF;
	char *slash;
	int r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir || !slash[1])
		return cn_err_set(-EINVAL, "'%s' is not an absolute file path", path);
	*slash = '\0';
	r = cn_mkdir_p(dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create '%s': %s", dir, strerror(-r));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", dir, strerror(errno));
	r = cn_write_file_atomic_at(dfd, slash + 1, text, strlen(text), mode);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static int write_pid(const char *path, pid_t pid)
{
	char buf[32];

	(void)snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	return write_atomic(path, buf, 0644);
}

static int find_disks(const struct cn_guest_mount_opts *o, char **data, char **hash)
{
	int r;

	if (o->data_dev)
		*data = strdup(o->data_dev);
	else {
		r = cn_guest_find_disk(o->dev_dir, o->sys_dir,
				       o->data_serial ? o->data_serial : CN_GUEST_DATA_SERIAL,
				       data);
		if (r < 0)
			return r;
	}
	if (o->hash_dev)
		*hash = strdup(o->hash_dev);
	else {
		r = cn_guest_find_disk(o->dev_dir, o->sys_dir,
				       o->hash_serial ? o->hash_serial : CN_GUEST_HASH_SERIAL,
				       hash);
		if (r < 0)
			return r;
	}
	return *data && *hash ? 0 : -ENOMEM;
}

static void daemon_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		(void)close(fd);
}

/* Best effort: without it reads still work, in 128 KiB requests. */
static void tune(const char *mountpoint)
{
	int r = cn_guest_fs_tune(mountpoint);

	if (r < 0 && geteuid() == 0)
		log_warning("cannot raise the read-ahead of '%s': %s", mountpoint, strerror(-r));
	else if (r < 0)
		log_debug("cannot raise the read-ahead of '%s': %s", mountpoint, strerror(-r));
}

static void *tune_thread(void *mountpoint)
{
	tune(mountpoint);
	return NULL;
}

/*
 * In the serving process: mount, write model.env and the pid file, report success on
 * report_fd (or the error, "E<message>"), then serve until unmounted. -ECANCELED when the
 * server ran and stopped normally. Owns dev_fd.
 */
static int setup_and_serve(int dev_fd, const struct resolved *p, const char *env, int report_fd,
			   bool foreground)
{
	struct cn_guest_fs *fs = NULL;
	int r;

	r = cn_guest_fs_new(dev_fd, p->mountpoint, &fs);
	if (r < 0) {
		(void)close(dev_fd);
		goto report;
	}
	r = write_atomic(p->env_path, env, 0644);
	if (r < 0)
		goto unmount;
	r = write_pid(p->pid_path, getpid());
	if (r < 0) {
		(void)unlink(p->env_path);
		goto unmount;
	}
	if (!foreground) {
		if (chdir("/") < 0) /* "/" is always there; nothing depends on the directory */
			log_debug("chdir /: %s", strerror(errno));
		daemon_stdio();
	}
	if (report_fd >= 0) {
		(void)cn_write_all(report_fd, "K", 1);
		(void)close(report_fd);
	} else {
		/* In the foreground, the read-ahead is raised once the loop below answers. */
		pthread_t t;

		if (pthread_create(&t, NULL, tune_thread, (void *)p->mountpoint) == 0)
			(void)pthread_detach(t);
	}
	r = cn_guest_fs_serve(fs);
	cn_guest_fs_free(fs, true);
	return r < 0 ? r : -ECANCELED;
unmount:
	cn_guest_fs_free(fs, true);
report:
	if (report_fd >= 0) {
		char buf[1024];
		int n = snprintf(buf, sizeof(buf), "E%s", cn_err_msg());

		(void)cn_write_all(report_fd, buf, (size_t)CN_MIN(n, (int)sizeof(buf) - 1));
		(void)close(report_fd);
	}
	return r;
}

/* The parent's side of the report: 0 when the child said "K", else its error. */
static int read_report(int fd)
{
	char buf[1024];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (len >= 1 && buf[0] == 'K')
		return 0;
	if (len >= 1 && buf[0] == 'E')
		return cn_err_set(-EIO, "%s", buf + 1);
	return cn_err_set(-EIO, "the FUSE server exited before the mount was up");
}

int cn_guest_mount(const struct cn_guest_mount_opts *o)
{
	struct resolved p;
	_cleanup_free_ char *env = NULL, *data = NULL, *hash = NULL, *mapper = NULL;
	int fd, pfd[2], r;
	pid_t pid;

	resolve(o, &p);
	if (!o->model)
		return cn_err_set(-EINVAL, "mount: no model given");
	r = cn_guest_env_format(o->model, p.mountpoint, &env);
	if (r < 0)
		return r;
	r = find_disks(o, &data, &hash);
	if (r < 0)
		return r;
	note(o, "data disk %s, hash disk %s", data, hash);
	r = cn_mkdir_p(p.mountpoint, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create the mountpoint '%s': %s", p.mountpoint,
				  strerror(-r));
	r = cn_model_open(data, hash, o->model->root_hash, p.dm_name);
	if (r < 0)
		return r;
	if (asprintf(&mapper, "/dev/mapper/%s", p.dm_name) < 0) {
		r = -ENOMEM;
		goto fail_close;
	}
	fd = open(mapper, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = cn_err_set(-errno, "cannot open '%s': %s", mapper, strerror(errno));
		goto fail_close;
	}
	if (o->foreground) {
		r = setup_and_serve(fd, &p, env, -EBADF, true);
		if (r < 0 && r != -ECANCELED)
			goto fail_close;
		return r == -ECANCELED ? 0 : r;
	}
	/*
	 * The server is a child that mounts, writes model.env and the pid file, reports through a
	 * pipe and then serves; the parent returns once the mount is up (or with the child's
	 * error). The session is made in the process that serves it (libfuse keeps the mountpoint
	 * for its unmount).
	 */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = cn_err_set(-errno, "pipe: %s", strerror(errno));
		(void)close(fd);
		goto fail_close;
	}
	pid = fork();
	if (pid < 0) {
		r = cn_err_set(-errno, "cannot start the FUSE server: %s", strerror(errno));
		(void)close(fd);
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		goto fail_close;
	}
	if (pid == 0) {
		(void)close(pfd[0]);
		(void)setsid();
		r = setup_and_serve(fd, &p, env, pfd[1], false);
		_exit(r < 0 && r != -ECANCELED ? 1 : 0);
	}
	(void)close(fd);
	(void)close(pfd[1]);
	r = read_report(pfd[0]);
	(void)close(pfd[0]);
	if (r < 0) {
		(void)waitpid(pid, NULL, 0);
		goto fail_close;
	}
	tune(p.mountpoint);
	note(o, "%s mounted at %s (server pid %ld)", mapper, p.mountpoint, (long)pid);
	return 0;

fail_close : {
	_cleanup_free_ char *msg = strdup(cn_err_msg());

	(void)cn_model_close(p.dm_name);
	if (msg)
		(void)cn_err_set(r, "%s", msg);
}
	return r;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	(void)nanosleep(&ts, NULL);
}

static int wait_server(const char *pid_path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	uint64_t pid;
	int r;

	r = cn_read_file(pid_path, 64, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", pid_path, strerror(-r));
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (cn_parse_u64((const char *)buf, INT32_MAX, &pid) < 0 || pid < 2)
		return cn_err_set(-EBADMSG, "'%s' does not hold a process id", pid_path);
	for (unsigned waited = 0; kill((pid_t)pid, 0) == 0; waited += 50) {
		if (waited >= WAIT_SERVER_MS)
			return cn_err_set(-ETIMEDOUT, "the FUSE server (pid %llu) did not exit",
					  (unsigned long long)pid);
		sleep_ms(50);
	}
	(void)unlink(pid_path);
	return 0;
}

int cn_guest_unmount(const struct cn_guest_mount_opts *o)
{
	struct resolved p;
	_cleanup_free_ char *mapper = NULL;
	int r;

	resolve(o, &p);
	if (unlink(p.env_path) < 0 && errno != ENOENT)
		return cn_err_set(-errno, "cannot remove '%s': %s", p.env_path, strerror(errno));
	if (umount2(p.mountpoint, UMOUNT_NOFOLLOW) < 0) {
		if (errno == EBUSY)
			return cn_err_set(-EBUSY, "'%s' is in use (a process still has files open)",
					  p.mountpoint);
		if (errno != EINVAL && errno != ENOENT)
			return cn_err_set(-errno, "cannot unmount '%s': %s", p.mountpoint,
					  strerror(errno));
	} else
		note(o, "unmounted %s", p.mountpoint);
	r = wait_server(p.pid_path);
	if (r < 0)
		return r;
	if (asprintf(&mapper, "/dev/mapper/%s", p.dm_name) < 0)
		return -ENOMEM;
	if (access(mapper, F_OK) < 0)
		return 0;
	for (unsigned waited = 0;; waited += 100) {
		r = cn_model_close(p.dm_name);
		if (r != -EBUSY || waited >= WAIT_BUSY_MS)
			break;
		sleep_ms(100);
	}
	if (r == 0)
		note(o, "removed %s", mapper);
	return r;
}
