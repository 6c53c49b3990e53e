/* SPDX-License-Identifier: Apache-2.0 */
/* The operations' context, the GPU read check, its device nodes and who holds them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

void vfio_ctx_done(struct ctx *c)
{
	if (c->sysfs_fd >= 0)
		(void)close(c->sysfs_fd);
	c->sysfs_fd = -EBADF;
}

int vfio_ctx_init(struct ctx *c, const struct cn_vfio_opts *o)
{
	*c = (struct ctx){
	    .o = o,
	    .sysfs_fd = -EBADF,
	    .sysfs = o->roots.sysfs ? o->roots.sysfs : "/sys",
	    .dev = o->roots.dev ? o->roots.dev : "/dev",
	    .proc = o->roots.proc ? o->roots.proc : "/proc",
	};
	return cn_vfio_open_sysfs(o, &c->sysfs_fd);
}

bool vfio_is_vfio_driver(const char *d)
{
	size_t l = strlen(d);

	return strcmp(d, "vfio-pci") == 0 || strcmp(d, "pci-stub") == 0 ||
	       (l > 9 && strcmp(d + l - 9, "_vfio_pci") == 0);
}

/* A group member VFIO tolerates without taking it: bridges and ports. */
bool vfio_member_tolerated(const struct cn_vfio_func *m)
{
	return m->kind == CN_VFIO_KIND_BRIDGE || strcmp(m->driver, "pcieport") == 0;
}

bool vfio_same_slot(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

	return da && db && da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0;
}

int vfio_read_gpu(struct ctx *c, const char *bdf_in, struct cn_vfio_func *f)
{
	char bdf[CN_PCI_ADDR_BUFSZ];
	int r;

	if (cn_pci_addr_normalize(bdf_in, bdf) < 0)
		return cn_err_set(-EINVAL,
				  "'%s' is not a PCI address (forms: 01:00.0, "
				  "0000:01:00.0, 0000:01:00.00)",
				  bdf_in);
	r = cn_vfio_func_read(c->sysfs_fd, bdf, f);
	if (r == -ENOENT)
		return cn_err_set(-ENOENT,
				  "GPU not found: no PCI device %s under %s/bus/pci/devices", bdf,
				  c->sysfs);
	if (r < 0)
		return r;
	if (f->vendor != 0x10de)
		return cn_err_set(-EINVAL, "%s is not an NVIDIA device (vendor 0x%04x)", bdf,
				  f->vendor);
	if (f->kind != CN_VFIO_KIND_GPU)
		return cn_err_set(-EINVAL, "%s is not a GPU (class 0x%06x, %s)", bdf, f->class_code,
				  cn_vfio_kind_name(f->kind));
	return 0;
}

/* The iommufd cdev name of f ("vfio3"); *ret_has_dev false when the kernel has no cdev. */
int vfio_cdev_name(struct ctx *c, const char *bdf, char out[32], bool *ret_has_dev)
{
	char path[PATH_MAX];
	_cleanup_close_ int dfd = -EBADF;
	DIR *d;
	struct dirent *de;
	bool found = false;

	*ret_has_dev = false;
	out[0] = '\0';
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev", bdf);
	dfd = openat(c->sysfs_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		bool ok = l > 4 && l < 16 && memcmp(de->d_name, "vfio", 4) == 0;

		for (size_t i = 4; ok && i < l; i++)
			ok = de->d_name[i] >= '0' && de->d_name[i] <= '9';
		if (!ok)
			continue;
		memcpy(out, de->d_name, l + 1);
		found = true;
		break;
	}
	(void)closedir(d);
	if (found) {
		struct stat st;

		(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev/%s/dev", bdf, out);
		*ret_has_dev = fstatat(c->sysfs_fd, path, &st, 0) == 0;
	}
	return 0;
}

void vfio_pathset_done(struct vfio_pathset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i]);
	s->n = 0;
}

int vfio_pathset_addf(struct vfio_pathset *s, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	if (s->n + 1 >= ELEMENTSOF(s->p))
		return -E2BIG;
	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	s->p[s->n++] = p;
	s->p[s->n] = NULL;
	return 0;
}

/* The nodes through which someone could be using the GPU or its group. */
static int user_paths(struct ctx *c, const struct cn_vfio_func *gpu,
		      const struct cn_vfio_func *members, size_t n_members, struct vfio_pathset *s)
{
	char name[32];
	bool has_dev;
	int r = 0;

	if (gpu->iommu_group >= 0)
		r = vfio_pathset_addf(s, "%s/vfio/%d", c->dev, gpu->iommu_group);
	for (size_t i = 0; r >= 0 && i <= n_members; i++) {
		const struct cn_vfio_func *f = i == 0 ? gpu : &members[i - 1];

		if (vfio_cdev_name(c, f->bdf, name, &has_dev) >= 0 && name[0])
			r = vfio_pathset_addf(s, "%s/vfio/devices/%s", c->dev, name);
	}
	if (r >= 0 && strcmp(gpu->driver, "nvidia") == 0) {
		char path[PATH_MAX];
		_cleanup_free_ char *info = NULL;
		_cleanup_close_ int pfd = open(c->proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
		uint32_t minor;

		(void)snprintf(path, sizeof(path), "driver/nvidia/gpus/%s/information", gpu->bdf);
		if (pfd >= 0 && cn_read_virtual_at(pfd, path, 4096, &info) >= 0 &&
		    cn_nvidia_parse_minor(info, &minor) >= 0) {
			r = vfio_pathset_addf(s, "%s/nvidia%u", c->dev, minor);
		} else {
			/* Minor unknown: any GPU node of the driver counts. */
			for (int m = 0; r >= 0 && m < NVIDIA_MINORS_MAX; m++)
				r = vfio_pathset_addf(s, "%s/nvidia%d", c->dev, m);
		}
	}
	return r < 0 ? cn_err_set(r, "too many device nodes to check") : 0;
}

int vfio_find_holders(struct ctx *c, const struct cn_vfio_func *gpu,
		      const struct cn_vfio_func *members, size_t n_members,
		      struct cn_vfio_user *users, size_t *ret_n)
{
	struct vfio_pathset s = {0};
	int r;

	r = user_paths(c, gpu, members, n_members, &s);
	if (r >= 0 && s.n > 0)
		r = cn_vfio_find_users(c->proc, (const char *const *)s.p, users, USERS_MAX);
	vfio_pathset_done(&s);
	if (r < 0)
		return r;
	*ret_n = (size_t)r;
	return 0;
}

int vfio_in_use_error(const char *bdf, const struct cn_vfio_user *u, size_t n)
{
	return cn_err_set(-EBUSY, "GPU %s is in use: %s is open by pid %d (%s)%s; stop it first",
			  bdf, u[0].path, (int)u[0].pid, u[0].comm, n > 1 ? " and others" : "");
}
