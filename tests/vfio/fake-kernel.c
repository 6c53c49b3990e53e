/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plays the kernel's part behind a fake sysfs tree (tests only). The write-only attributes
 * bus/pci/drivers/<drv>/{bind,unbind} and bus/pci/drivers_probe become FIFOs; each line written
 * to them moves the driver links as the kernel would, honours driver_override, and creates or
 * removes the VFIO nodes (<dev>/vfio/<group>, <dev>/vfio/devices/vfioN and the sysfs
 * vfio-dev/vfioN/dev) when vfio-pci binds or lets go.
 *
 * Misbehaviour on request: --hang-unbind DRV never opens DRV's unbind FIFO (the writer blocks in
 * open(), as a hung driver remove would block it); --refuse-bind DRV ignores binds of DRV;
 * --no-cdev leaves out the iommufd cdev (a kernel without CONFIG_VFIO_DEVICE_CDEV).
 *
 * Usage: fake-kernel --sysfs DIR --dev DIR [--hang-unbind DRV] [--refuse-bind DRV] [--no-cdev]
 *        [--lifetime SEC]. Writes DIR/.fake-kernel-ready when listening; exits on SIGTERM.
 */
/* Paths here are built from a test tree of known depth; truncation cannot happen in practice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIFOS_MAX 64

static const char *sysfs, *devroot;
static const char *hang_unbind = "", *refuse_bind = "";
static bool no_cdev;
static volatile sig_atomic_t stop;

struct fifo {
	char path[PATH_MAX];
	char driver[64]; /* "" for drivers_probe */
	char op[16];	 /* bind, unbind, probe */
	int fd;
};

static struct fifo fifos[FIFOS_MAX];
static size_t n_fifos;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	(void)fprintf(stderr, "fake-kernel: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void read_small(const char *p, char *out, size_t outsz)
{
	FILE *f = fopen(p, "re");
	size_t n = 0;

	out[0] = '\0';
	if (!f)
		return;
	n = fread(out, 1, outsz - 1, f);
	(void)fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

static void link_base(const char *p, char *out, size_t outsz)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);
	const char *b;

	out[0] = '\0';
	if (n <= 0)
		return;
	buf[n] = '\0';
	b = strrchr(buf, '/');
	(void)snprintf(out, outsz, "%s", b ? b + 1 : buf);
}

static void add_fifo(const char *path, const char *driver, const char *op)
{
	struct fifo *f;

	if (n_fifos == FIFOS_MAX)
		return;
	f = &fifos[n_fifos++];
	(void)snprintf(f->path, sizeof(f->path), "%s", path);
	(void)snprintf(f->driver, sizeof(f->driver), "%s", driver);
	(void)snprintf(f->op, sizeof(f->op), "%s", op);
	(void)unlink(path);
	if (mkfifo(path, 0200) < 0)
		die(path);
	f->fd = -1;
}

static bool hung(const struct fifo *f)
{
	return strcmp(f->op, "unbind") == 0 && strcmp(f->driver, hang_unbind) == 0;
}

static void open_fifo(struct fifo *f)
{
	if (f->fd >= 0 || hung(f))
		return;
	f->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0)
		die(f->path);
}

/* The device dir relative to sysfs ("devices/pci0000:00/0000:01:00.0"). */
static bool device_rel(const char *bdf, char *out)
{
	char p[PATH_MAX], real[PATH_MAX], root[PATH_MAX];

	pathf(p, "%s/bus/pci/devices/%s", sysfs, bdf);
	if (!realpath(p, real) || !realpath(sysfs, root))
		return false;
	if (strncmp(real, root, strlen(root)) != 0 || real[strlen(root)] != '/')
		return false;
	(void)snprintf(out, PATH_MAX, "%s", real + strlen(root) + 1);
	return true;
}

static int device_group(const char *rel)
{
	char p[PATH_MAX], g[32];

	pathf(p, "%s/%s/iommu_group", sysfs, rel);
	link_base(p, g, sizeof(g));
	return g[0] ? atoi(g) : -1;
}

static void vfio_add(const char *rel)
{
	char p[PATH_MAX];
	int group = device_group(rel), k;

	pathf(p, "%s/vfio", devroot);
	(void)mkdir(p, 0755);
	pathf(p, "%s/vfio/devices", devroot);
	(void)mkdir(p, 0755);
	if (group >= 0) {
		pathf(p, "%s/vfio/%d", devroot, group);
		if (!exists(p)) {
			int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

			if (fd >= 0)
				(void)close(fd);
			(void)chmod(p, 0600);
			if (chown(p, 0, 0) < 0)
				die(p);
		}
	}
	for (k = 0; k < 1000; k++) {
		pathf(p, "%s/vfio/devices/vfio%d", devroot, k);
		if (!exists(p))
			break;
	}
	pathf(p, "%s/%s/vfio-dev", sysfs, rel);
	(void)mkdir(p, 0755);
	pathf(p, "%s/%s/vfio-dev/vfio%d", sysfs, rel, k);
	(void)mkdir(p, 0755);
	if (no_cdev)
		return;
	pathf(p, "%s/%s/vfio-dev/vfio%d/dev", sysfs, rel, k);
	{
		FILE *f = fopen(p, "we");

		if (f) {
			(void)fprintf(f, "511:%d\n", k);
			(void)fclose(f);
		}
	}
	pathf(p, "%s/vfio/devices/vfio%d", devroot, k);
	{
		int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

		if (fd >= 0)
			(void)close(fd);
		(void)chmod(p, 0600);
		if (chown(p, 0, 0) < 0)
			die(p);
	}
}

static bool group_has_vfio(int group)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	bool any = false;

	pathf(p, "%s/kernel/iommu_groups/%d/devices", sysfs, group);
	d = opendir(p);
	if (!d)
		return false;
	while ((de = readdir(d))) {
		char q[PATH_MAX], drv[64];

		if (de->d_name[0] == '.')
			continue;
		pathf(q, "%s/%s/driver", p, de->d_name);
		link_base(q, drv, sizeof(drv));
		if (strcmp(drv, "vfio-pci") == 0)
			any = true;
	}
	(void)closedir(d);
	return any;
}

static void vfio_remove(const char *rel)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int group = device_group(rel);

	pathf(p, "%s/%s/vfio-dev", sysfs, rel);
	d = opendir(p);
	if (d) {
		while ((de = readdir(d))) {
			char q[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			pathf(q, "%s/vfio/devices/%s", devroot, de->d_name);
			(void)unlink(q);
			pathf(q, "%s/%s/vfio-dev/%s/dev", sysfs, rel, de->d_name);
			(void)unlink(q);
			pathf(q, "%s/%s/vfio-dev/%s", sysfs, rel, de->d_name);
			(void)rmdir(q);
		}
		(void)closedir(d);
		(void)rmdir(p);
	}
	if (group >= 0 && !group_has_vfio(group)) {
		pathf(p, "%s/vfio/%d", devroot, group);
		(void)unlink(p);
	}
}

static void do_bind(const char *bdf, const char *rel, const char *drv)
{
	char p[PATH_MAX], target[PATH_MAX];

	if (strcmp(drv, refuse_bind) == 0)
		return;
	pathf(p, "%s/bus/pci/drivers/%s", sysfs, drv);
	if (!exists(p))
		return;
	pathf(p, "%s/%s/driver", sysfs, rel);
	pathf(target, "../../../bus/pci/drivers/%s", drv);
	if (symlink(target, p) < 0)
		return;
	pathf(p, "%s/bus/pci/drivers/%s/%s", sysfs, drv, bdf);
	pathf(target, "../../../../%s", rel);
	if (symlink(target, p) < 0 && errno != EEXIST)
		die(p);
	if (strcmp(drv, "vfio-pci") == 0)
		vfio_add(rel);
}

static void handle(const struct fifo *f, const char *bdf)
{
	char rel[PATH_MAX], p[PATH_MAX], cur[64], ovr[64];

	if (!device_rel(bdf, rel))
		return;
	pathf(p, "%s/%s/driver", sysfs, rel);
	link_base(p, cur, sizeof(cur));
	if (strcmp(f->op, "unbind") == 0) {
		if (strcmp(cur, f->driver) != 0)
			return;
		(void)unlink(p);
		pathf(p, "%s/bus/pci/drivers/%s/%s", sysfs, f->driver, bdf);
		(void)unlink(p);
		if (strcmp(f->driver, "vfio-pci") == 0)
			vfio_remove(rel);
		return;
	}
	if (cur[0])
		return;
	pathf(p, "%s/%s/driver_override", sysfs, rel);
	read_small(p, ovr, sizeof(ovr));
	if (strcmp(ovr, "(null)") == 0)
		ovr[0] = '\0';
	if (strcmp(f->op, "bind") == 0) {
		if (!ovr[0] || strcmp(ovr, f->driver) == 0)
			do_bind(bdf, rel, f->driver);
		return;
	}
	/* drivers_probe */
	if (ovr[0]) {
		do_bind(bdf, rel, ovr);
		return;
	}
	{
		char vendor[16], cls[16];

		pathf(p, "%s/%s/vendor", sysfs, rel);
		read_small(p, vendor, sizeof(vendor));
		pathf(p, "%s/%s/class", sysfs, rel);
		read_small(p, cls, sizeof(cls));
		if (strcmp(vendor, "0x10de") == 0 && strncmp(cls, "0x03", 4) == 0)
			do_bind(bdf, rel, "nvidia");
		else if (strncmp(cls, "0x0403", 6) == 0)
			do_bind(bdf, rel, "snd_hda_intel");
		else if (strncmp(cls, "0x0200", 6) == 0)
			do_bind(bdf, rel, "e1000e");
	}
}

static void drain(struct fifo *f)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	while ((n = read(f->fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (n == 0) {
		/* Writer gone: reopen so poll() stops reporting the hang-up. */
		(void)close(f->fd);
		f->fd = -1;
	}
	for (char *line = buf, *end; *line; line = end) {
		end = line + strcspn(line, "\n");
		if (*end)
			*end++ = '\0';
		while (*line == ' ')
			line++;
		if (*line)
			handle(f, line);
	}
}

int main(int argc, char **argv)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int lifetime = 120;
	time_t start = time(NULL);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sysfs") == 0 && i + 1 < argc)
			sysfs = argv[++i];
		else if (strcmp(argv[i], "--dev") == 0 && i + 1 < argc)
			devroot = argv[++i];
		else if (strcmp(argv[i], "--hang-unbind") == 0 && i + 1 < argc)
			hang_unbind = argv[++i];
		else if (strcmp(argv[i], "--refuse-bind") == 0 && i + 1 < argc)
			refuse_bind = argv[++i];
		else if (strcmp(argv[i], "--no-cdev") == 0)
			no_cdev = true;
		else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc)
			lifetime = atoi(argv[++i]);
		else {
			(void)fprintf(stderr, "fake-kernel: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!sysfs || !devroot)
		return 2;
	(void)signal(SIGTERM, on_term);
	(void)signal(SIGINT, on_term);
	(void)signal(SIGPIPE, SIG_IGN);

	pathf(p, "%s/bus/pci/drivers", sysfs);
	d = opendir(p);
	if (!d)
		die(p);
	while ((de = readdir(d))) {
		char q[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		pathf(q, "%s/%s/bind", p, de->d_name);
		add_fifo(q, de->d_name, "bind");
		pathf(q, "%s/%s/unbind", p, de->d_name);
		add_fifo(q, de->d_name, "unbind");
	}
	(void)closedir(d);
	pathf(p, "%s/bus/pci/drivers_probe", sysfs);
	add_fifo(p, "", "probe");
	for (size_t i = 0; i < n_fifos; i++)
		open_fifo(&fifos[i]);
	pathf(p, "%s/.fake-kernel-ready", sysfs);
	{
		FILE *f = fopen(p, "we");

		if (f)
			(void)fclose(f);
	}

	while (!stop && time(NULL) - start < lifetime) {
		struct pollfd pfd[FIFOS_MAX];
		size_t map[FIFOS_MAX], n = 0;
		int r;

		for (size_t i = 0; i < n_fifos; i++) {
			open_fifo(&fifos[i]);
			if (fifos[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = fifos[i].fd, .events = POLLIN};
			map[n++] = i;
		}
		r = poll(pfd, n, 200);
		if (r <= 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP))
				drain(&fifos[map[i]]);
	}
	pathf(p, "%s/.fake-kernel-ready", sysfs);
	(void)unlink(p);
	return 0;
}
