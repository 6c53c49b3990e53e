/* SPDX-License-Identifier: Apache-2.0 */
/*
 * setup (docs/vfio.md). Order (spec host-tools §2.6, §6.4): check device, class and IOMMU group ->
 * refuse if anyone holds it -> udev rule -> driver_override + unbind + drivers_probe to vfio-pci
 * for the whole group -> PPCIe off (Hopper, only if on) -> CC on -> re-query -> device nodes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

int vfio_require_priv(const struct cn_vfio_opts *o, const char *what)
{
	/* A dry run changes nothing, so anyone may preview one. */
	if (!o->dry_run && !cn_vfio_privileged(o))
		return cn_err_set(-EPERM, "root required to %s", what);
	return 0;
}

int vfio_query_required(const struct cn_vfio_opts *o, const char *bdf, const char *knob,
			struct cn_gat_query *q)
{
	int r = cn_gat_query(o, bdf, knob, q);

	if (r < 0)
		return r;
	if (!q->known && !q->unsupported && !o->dry_run)
		return cn_err_set(-EIO, "cannot read the %s mode of %s: %s", knob, bdf, q->raw);
	return 0;
}

/* CC on (PPCIe off first on Hopper when it is on), then re-query. */
static int cc_on(struct ctx *c, const struct cn_vfio_func *f, bool *changed)
{
	const struct cn_vfio_opts *o = c->o;
	bool hopper = cn_vfio_is_hopper(f->device), ppcie_off = false, need_cc;
	struct cn_gat_query cc, pp = {0};
	int r;

	r = vfio_query_required(o, f->bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (hopper) {
		r = vfio_query_required(o, f->bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		ppcie_off = o->dry_run || (pp.known && pp.mode != CN_GAT_MODE_OFF);
	}
	need_cc = o->dry_run || !cc.known || cc.mode != CN_GAT_MODE_ON || ppcie_off;
	if (cc.known && cc.mode == CN_GAT_MODE_INVALID)
		cn_vfio_notef(o, "CC mode of %s is '%s' (an interrupted switch): setting it again",
			      f->bdf, cc.raw);
	if (ppcie_off) {
		/* Before CC on: PPCIe off rewrites the BAR0 knob (spec §2.5). */
		if (o->dry_run)
			cn_vfio_notef(o, "(only if PPCIe mode is on)");
		else
			cn_vfio_notef(o, "PPCIe mode of %s is %s: switching it off", f->bdf,
				      pp.raw);
		r = cn_gat_set(o, f->bdf, "ppcie", "off");
		if (r < 0)
			return r;
		*changed = !o->dry_run;
	}
	if (!need_cc)
		return 0;
	if (o->dry_run)
		cn_vfio_notef(o, "(only if CC mode is not on)");
	else
		cn_vfio_notef(o, "CC mode of %s is %s: switching it on", f->bdf, cc.raw);
	r = cn_gat_set(o, f->bdf, "cc", "on");
	if (r < 0)
		return r;
	if (o->dry_run)
		return 0;
	*changed = true;
	r = vfio_query_required(o, f->bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (!cc.known || cc.mode != CN_GAT_MODE_ON)
		return cn_err_set(-EIO, "CC mode of %s did not take: it reads %s after the reset",
				  f->bdf, cc.raw);
	if (ppcie_off) {
		r = vfio_query_required(o, f->bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		if (pp.known && pp.mode != CN_GAT_MODE_OFF)
			return cn_err_set(-EIO, "PPCIe mode of %s did not take: it reads %s",
					  f->bdf, pp.raw);
	}
	return 0;
}

/* The common start of setup and restore: privileges, sysfs, the GPU, and its per-GPU lock. */
int vfio_begin_change(const struct cn_vfio_opts *o, const char *what, const char *bdf_in,
		      struct ctx *c, struct cn_vfio_func *f, int *ret_lock_fd)
{
	int r;

	r = vfio_require_priv(o, what);
	if (r < 0)
		return r;
	r = vfio_ctx_init(c, o);
	if (r < 0)
		return r;
	r = vfio_read_gpu(c, bdf_in, f);
	if (r < 0)
		return r;
	return vfio_lock_device(c, f->bdf, ret_lock_fd);
}

int cn_vfio_setup(const struct cn_vfio_opts *o, const char *bdf_in)
{
	_cleanup_(vfio_ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	bool take[CN_VFIO_GROUP_MEMBERS_MAX], changed = false, rule_changed = false;
	size_t n_members = 0, n_users = 0;
	char gname[40];
	gid_t gid;
	_cleanup_close_ int lock_fd = -EBADF;
	int r;

	r = vfio_begin_change(o, "set up a GPU for passthrough", bdf_in, &c, &f, &lock_fd);
	if (r < 0)
		return r;
	if (f.iommu_group < 0)
		return cn_err_set(-EOPNOTSUPP,
				  "%s has no IOMMU group: the IOMMU is off (boot with "
				  "intel_iommu=on iommu=pt)",
				  f.bdf);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		return r;
	r = vfio_members_to_take(o, &f, members, n_members, take);
	if (r < 0)
		return r;
	r = vfio_find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		return r;
	if (n_users > 0)
		return vfio_in_use_error(f.bdf, users, n_users);
	r = vfio_resolve_group(o, gname, &gid);
	if (r < 0)
		return r;
	r = vfio_ensure_driver(&c);
	if (r < 0)
		return r;
	/* The rule first, so the add events of the new nodes already apply it. */
	r = vfio_write_rule(&c, gname, &rule_changed);
	if (r < 0)
		return r;

	/*
	 * --rebind: cycle vfio-pci once, the known cure for iommufd binds failing with EINVAL
	 * after a VMM crash loop (spec §3.5; canonical's reattach-then-detach).
	 */
	if (o->rebind && strcmp(f.driver, "vfio-pci") == 0) {
		cn_vfio_notef(o, "%s %s from vfio-pci (--rebind)",
			      o->dry_run ? "would detach" : "detaching", f.bdf);
		r = vfio_unbind(&c, &f);
		if (r < 0)
			return r;
	}

	/* Detach from nvidia and bind vfio-pci before any mode switch (spec §2.6). */
	r = vfio_bind(&c, &f, &changed);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_members; i++) {
		if (!take[i])
			continue;
		r = vfio_bind(&c, &members[i], &changed);
		if (r < 0)
			return r;
	}

	r = cc_on(&c, &f, &changed);
	if (r < 0)
		return r;

	if (!o->dry_run) {
		struct cn_vfio_verdict *v = calloc(1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		vfio_check_nodes(&c, &f, v, "");
		if (v->n > 0 || rule_changed)
			r = vfio_udev_apply(&c, rule_changed);
		free(v);
		if (r < 0)
			return r;
		/* Without a running udev (containers, early boot) set them ourselves. */
		r = vfio_fix_nodes(&c, &f, gid);
		if (r < 0)
			return r;
	} else {
		r = vfio_udev_apply(&c, true);
		if (r < 0)
			return r;
		cn_vfio_notef(o, "dry run: nothing was changed");
		return 0;
	}

	{
		struct cn_vfio_verdict *v = calloc(1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		r = cn_vfio_verify(o, f.bdf, v);
		if (r >= 0 && v->n > 0)
			r = cn_err_set(-EIO, "%s is still not ready after setup: %s", f.bdf,
				       v->p[0].what);
		free(v);
		if (r < 0)
			return r;
	}
	cn_vfio_notef(o, "%s %s", f.bdf,
		      changed || rule_changed ? "is ready for TDX passthrough"
					      : "was already set up; nothing changed");
	return 0;
}
