/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Driver binding through sysfs: driver_override + unbind + drivers_probe, with bounded waits, and
 * the per-GPU lock of setup and restore (spec host-tools §2.6).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

static int unbind_timeout(const struct ctx *c)
{
	return c->o->unbind_timeout_ms > 0 ? c->o->unbind_timeout_ms : 30000;
}

static int probe_timeout(const struct ctx *c)
{
	return c->o->probe_timeout_ms > 0 ? c->o->probe_timeout_ms : 10000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void printable(const char *v, char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s", strcmp(v, "\n") == 0 ? "\\n" : v);
}

static int do_write(struct ctx *c, const char *rel, const char *value, int timeout_ms)
{
	char pv[64];
	int r;

	printable(value, pv, sizeof(pv));
	cn_vfio_notef(c->o, "%swrite '%s' to %s/%s", c->o->dry_run ? "would " : "", pv, c->sysfs,
		      rel);
	if (c->o->dry_run)
		return 0;
	r = cn_vfio_sysfs_write(c->sysfs_fd, rel, value, timeout_ms);
	return r;
}

/* Waits until f's driver is want ("" = unbound; NULL = any driver). */
static int wait_driver(struct ctx *c, struct cn_vfio_func *f, const char *want, int timeout_ms)
{
	struct timespec t0, t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = cn_vfio_func_read(c->sysfs_fd, f->bdf, f);

		if (r < 0)
			return r;
		if (want ? strcmp(f->driver, want) == 0 : f->driver[0] != '\0')
			return 0;
		(void)clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >=
		    timeout_ms)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

/* After a hung unbind: who might the driver be waiting for? Any NVIDIA or VFIO node holder. */
static void holders_hint(struct ctx *c, const struct cn_vfio_func *f, char *out, size_t outsz)
{
	struct vfio_pathset s = {0};
	struct cn_vfio_user u[USERS_MAX];
	int r = vfio_pathset_addf(&s, "%s/nvidiactl", c->dev);

	if (r >= 0)
		r = vfio_pathset_addf(&s, "%s/nvidia-uvm", c->dev);
	for (int m = 0; r >= 0 && m < NVIDIA_MINORS_MAX; m++)
		r = vfio_pathset_addf(&s, "%s/nvidia%d", c->dev, m);
	if (r >= 0 && f->iommu_group >= 0)
		r = vfio_pathset_addf(&s, "%s/vfio/%d", c->dev, f->iommu_group);
	if (r >= 0)
		r = cn_vfio_find_users(c->proc, (const char *const *)s.p, u, USERS_MAX);
	vfio_pathset_done(&s);
	cn_err_clear();
	if (r > 0)
		(void)snprintf(out, outsz, "pid %d (%s) holds %s%s", (int)u[0].pid, u[0].comm,
			       u[0].path, r > 1 ? " and others" : "");
	else
		(void)snprintf(out, outsz, "no process holds an NVIDIA or VFIO node; see dmesg");
}

int vfio_unbind(struct ctx *c, struct cn_vfio_func *f)
{
	char rel[PATH_MAX], old[CN_VFIO_NAME_MAX];
	int r;

	memcpy(old, f->driver, sizeof(old));
	/* Through the driver's own file: the kernel refuses (-ENODEV) if the device has meanwhile
	 * moved to another driver, where devices/BDF/driver/unbind would follow the new link. */
	(void)snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/unbind", f->driver);
	r = do_write(c, rel, f->bdf, unbind_timeout(c));
	if (r == -ETIMEDOUT) {
		char hint[512];

		holders_hint(c, f, hint, sizeof(hint));
		return cn_err_set(r,
				  "unbinding %s from %s did not finish within %d s (the kernel "
				  "keeps trying); %s",
				  f->bdf, old, unbind_timeout(c) / 1000, hint);
	}
	if (r < 0)
		return cn_err_set(r, "cannot unbind %s from %s: %s", f->bdf, old, cn_err_msg());
	if (c->o->dry_run) {
		f->driver[0] = '\0';
		return 0;
	}
	r = wait_driver(c, f, "", unbind_timeout(c));
	if (r == -ETIMEDOUT)
		return cn_err_set(r, "%s is still bound to %s %d s after the unbind", f->bdf, old,
				  unbind_timeout(c) / 1000);
	return r;
}

int vfio_set_override(struct ctx *c, struct cn_vfio_func *f, const char *value)
{
	char rel[PATH_MAX];
	int r;

	(void)snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", f->bdf);
	r = do_write(c, rel, value, probe_timeout(c));
	if (r < 0)
		return cn_err_set(r, "cannot set driver_override of %s: %s", f->bdf, cn_err_msg());
	if (c->o->dry_run) {
		(void)snprintf(f->override, sizeof(f->override), "%s",
			       strcmp(value, "\n") == 0 ? "" : value);
		return 0;
	}
	r = cn_vfio_func_read(c->sysfs_fd, f->bdf, f);
	if (r < 0)
		return r;
	if (strcmp(f->override, strcmp(value, "\n") == 0 ? "" : value) != 0)
		return cn_err_set(-EIO, "driver_override of %s reads '%s' after writing '%s'",
				  f->bdf, f->override, value);
	return 0;
}

int vfio_probe(struct ctx *c, struct cn_vfio_func *f, const char *want)
{
	int r = do_write(c, "bus/pci/drivers_probe", f->bdf, probe_timeout(c));

	if (r < 0)
		return cn_err_set(r, "cannot probe %s: %s", f->bdf, cn_err_msg());
	if (c->o->dry_run) {
		(void)snprintf(f->driver, sizeof(f->driver), "%s", want ? want : "");
		return 0;
	}
	/* drivers_probe is synchronous; the wait covers drivers that probe asynchronously. */
	r = wait_driver(c, f, want, want ? probe_timeout(c) : CN_MIN(probe_timeout(c), 1000));
	if (r == -ETIMEDOUT && want)
		return cn_err_set(r, "%s did not bind to %s within %d s (now: %s)", f->bdf, want,
				  probe_timeout(c) / 1000, f->driver[0] ? f->driver : "no driver");
	return r;
}

int vfio_bind(struct ctx *c, struct cn_vfio_func *f, bool *changed)
{
	int r;

	if (strcmp(f->override, "vfio-pci") != 0) {
		r = vfio_set_override(c, f, "vfio-pci");
		if (r < 0)
			return r;
		*changed = true;
	}
	if (strcmp(f->driver, "vfio-pci") == 0)
		return 0;
	*changed = true;
	if (f->driver[0]) {
		cn_vfio_notef(c->o, "%s %s from %s", c->o->dry_run ? "would detach" : "detaching",
			      f->bdf, f->driver);
		r = vfio_unbind(c, f);
		if (r < 0)
			return r;
	}
	return vfio_probe(c, f, "vfio-pci");
}

int vfio_ensure_driver(struct ctx *c)
{
	_cleanup_free_ char *modprobe = NULL;
	struct stat st;
	int r;

	if (fstatat(c->sysfs_fd, "bus/pci/drivers/vfio-pci", &st, 0) == 0)
		return 0;
	r = cn_vfio_find_exe("modprobe", &modprobe);
	if (r < 0)
		return cn_err_set(-ENOENT, "vfio-pci is not loaded and modprobe was not found");
	r = vfio_run_cmd(c, (const char *const[]){modprobe, "vfio-pci", NULL});
	if (r < 0)
		return r;
	if (!c->o->dry_run && fstatat(c->sysfs_fd, "bus/pci/drivers/vfio-pci", &st, 0) < 0)
		return cn_err_set(-ENOENT, "the vfio-pci driver is not available after modprobe");
	return 0;
}

/* Which group members setup takes: same-slot NVIDIA functions and explicitly allowed ones. */
int vfio_members_to_take(const struct cn_vfio_opts *o, const struct cn_vfio_func *gpu,
			 const struct cn_vfio_func *members, size_t n, bool *take)
{
	for (size_t i = 0; i < n; i++) {
		const struct cn_vfio_func *m = &members[i];
		bool allowed = m->vendor == 0x10de && vfio_same_slot(m->bdf, gpu->bdf);

		take[i] = false;
		if (vfio_member_tolerated(m))
			continue;
		for (size_t j = 0; !allowed && j < o->n_allow_members; j++) {
			char a[CN_PCI_ADDR_BUFSZ];

			allowed = cn_pci_addr_normalize(o->allow_members[j], a) >= 0 &&
				  strcmp(a, m->bdf) == 0;
		}
		if (!allowed)
			return cn_err_set(
			    -EPERM,
			    "IOMMU group %d of %s also holds %s (%s, class 0x%06x, driver %s); "
			    "passthrough takes the whole group: add --allow-group-member %s "
			    "if that is intended",
			    gpu->iommu_group, gpu->bdf, m->bdf, cn_vfio_kind_name(m->kind),
			    m->class_code, m->driver[0] ? m->driver : "none", m->bdf);
		take[i] = true;
	}
	return 0;
}

/*
 * One setup/restore per GPU at a time: an exclusive flock on its sysfs directory (works on
 * sysfs, is released with the process). Another run on the same GPU fails at once.
 */
int vfio_lock_device(struct ctx *c, const char *bdf, int *ret_fd)
{
	char path[PATH_MAX];
	int fd;

	*ret_fd = -EBADF;
	if (c->o->dry_run)
		return 0;
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s", bdf);
	fd = openat(c->sysfs_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		(void)close(fd);
		if (e == EWOULDBLOCK)
			return cn_err_set(-EBUSY, "another setup or restore of %s is running", bdf);
		return cn_err_set(-e, "cannot lock %s: %s", path, strerror(e));
	}
	*ret_fd = fd;
	return 0;
}
