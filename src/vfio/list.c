/* SPDX-License-Identifier: Apache-2.0 */
/* list: NVIDIA GPUs and NVSwitches with their group, driver and modes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

static int cmp_info(const void *a, const void *b)
{
	const struct cn_vfio_gpu_info *x = a, *y = b;

	return strcmp(x->f.bdf, y->f.bdf);
}

int cn_vfio_list(const struct cn_vfio_opts *o, bool query_modes, struct cn_vfio_gpu_info **ret,
		 size_t *ret_n)
{
	_cleanup_(vfio_ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	_cleanup_free_ struct cn_vfio_gpu_info *list = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t n = 0, cap = 0, seen = 0;
	bool priv = cn_vfio_privileged(o);
	DIR *d;
	struct dirent *de;
	int r = 0;

	r = vfio_ctx_init(&c, o);
	if (r < 0)
		return r;
	dfd = openat(c.sysfs_fd, "bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot list %s/bus/pci/devices: %s", c.sysfs,
				  strerror(errno));
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		char bdf[CN_PCI_ADDR_BUFSZ];
		struct cn_vfio_func f;

		if (de->d_name[0] == '.')
			continue;
		if (++seen > CN_VFIO_DEVICES_MAX) {
			r = cn_err_set(-E2BIG, "more than %d PCI devices", CN_VFIO_DEVICES_MAX);
			break;
		}
		if (cn_pci_addr_normalize(de->d_name, bdf) < 0 || strcmp(bdf, de->d_name) != 0)
			continue;
		r = cn_vfio_func_read(c.sysfs_fd, bdf, &f);
		if (r < 0)
			break;
		if (f.vendor != 0x10de ||
		    (f.kind != CN_VFIO_KIND_GPU && f.kind != CN_VFIO_KIND_NVSWITCH))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct cn_vfio_gpu_info *nl = reallocarray(list, ncap, sizeof(*list));

			if (!nl) {
				r = -ENOMEM;
				break;
			}
			list = nl;
			cap = ncap;
		}
		memset(&list[n], 0, sizeof(list[n]));
		list[n].f = f;
		list[n].product = cn_vfio_product_name(f.vendor, f.device);
		r = cn_vfio_group_members(c.sysfs_fd, &f, list[n].members,
					  ELEMENTSOF(list[n].members), &list[n].n_members);
		if (r < 0)
			break;
		n++;
	}
	(void)closedir(d);
	if (r < 0)
		return r;
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_info);

	for (size_t i = 0; i < n; i++) {
		struct cn_vfio_gpu_info *g = &list[i];
		struct cn_vfio_user users[USERS_MAX];
		size_t n_users = 0;
		bool ppcie_applies = g->f.kind == CN_VFIO_KIND_NVSWITCH
					 ? g->f.device == 0x22a3
					 : cn_vfio_is_hopper(g->f.device);

		(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw), "n/a");
		if (!query_modes) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (not queried)");
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw),
					       "unknown (not queried)");
			continue;
		}
		if (!priv) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (needs root)");
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw),
					       "unknown (needs root)");
			continue;
		}
		r = vfio_find_holders(&c, &g->f, g->members, g->n_members, users, &n_users);
		if (r < 0)
			return r;
		if (n_users > 0) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (in use by pid %d)",
				       (int)users[0].pid);
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw), "%s", g->cc.raw);
			continue;
		}
		r = cn_gat_query(o, g->f.bdf, "CC", &g->cc);
		if (r < 0)
			return r;
		if (ppcie_applies) {
			r = cn_gat_query(o, g->f.bdf, "PPCIe", &g->ppcie);
			if (r < 0)
				return r;
		}
	}
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}
