/* SPDX-License-Identifier: Apache-2.0 */
/* restore (docs/vfio.md): setup mirrored, with CC off while nothing is bound, then reprobe. */
#include <errno.h>
#include <fcntl.h>
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

int cn_vfio_restore(const struct cn_vfio_opts *o, const char *bdf_in)
{
	_cleanup_(vfio_ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	struct cn_gat_query cc, pp = {0};
	bool hopper, give[CN_VFIO_GROUP_MEMBERS_MAX], nvidia_loaded;
	size_t n_members = 0, n_users = 0;
	struct stat st;
	_cleanup_close_ int lock_fd = -EBADF;
	int r;

	r = vfio_begin_change(o, "restore a GPU", bdf_in, &c, &f, &lock_fd);
	if (r < 0)
		return r;
	hopper = cn_vfio_is_hopper(f.device);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		return r;
	r = vfio_find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		return r;
	/* Held through vfio: a VMM runs on it; never query or touch it. */
	if (n_users > 0 && strcmp(f.driver, "nvidia") != 0)
		return vfio_in_use_error(f.bdf, users, n_users);
	nvidia_loaded = fstatat(c.sysfs_fd, "bus/pci/drivers/nvidia", &st, 0) == 0;

	/* Ask first: a missing tool must fail before anything is unbound. */
	r = cn_gat_query(o, f.bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (!cc.known && strcmp(f.driver, "nvidia") != 0 && !o->dry_run)
		return cn_err_set(-EIO, "cannot read the CC mode of %s: %s", f.bdf, cc.raw);
	if (hopper && cc.known) {
		r = cn_gat_query(o, f.bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
	}
	/* Already restored: nothing to do, even while nvidia users (persistenced) hold it. */
	if (strcmp(f.driver, "nvidia") == 0 && !f.override[0] && cc.known &&
	    cc.mode == CN_GAT_MODE_OFF && (!pp.known || pp.mode == CN_GAT_MODE_OFF)) {
		cn_vfio_notef(o, "%s is already on nvidia with CC mode off; nothing changed",
			      f.bdf);
		return 0;
	}
	if (n_users > 0)
		return vfio_in_use_error(f.bdf, users, n_users);

	/* Unbind (vfio-pci, or nvidia with CC still on) and clear the overrides. */
	for (size_t i = 0; i <= n_members; i++) {
		struct cn_vfio_func *m = i == 0 ? &f : &members[i - 1];

		if (i > 0) {
			give[i - 1] =
			    !vfio_member_tolerated(m) && (strcmp(m->override, "vfio-pci") == 0 ||
							  strcmp(m->driver, "vfio-pci") == 0);
			if (!give[i - 1])
				continue;
		}
		if (m->driver[0]) {
			cn_vfio_notef(o, "%s %s from %s", o->dry_run ? "would detach" : "detaching",
				      m->bdf, m->driver);
			r = vfio_unbind(&c, m);
			if (r < 0)
				return r;
		}
		if (m->override[0]) {
			r = vfio_set_override(&c, m, "\n");
			if (r < 0)
				return r;
		}
	}

	/* Mode switches while nothing is bound (spec §1.4 item 7). */
	if (o->dry_run || !cc.known || cc.mode != CN_GAT_MODE_OFF) {
		if (!cc.known && !o->dry_run) {
			r = vfio_query_required(o, f.bdf, "CC", &cc);
			if (r < 0)
				return r;
		}
		if (o->dry_run)
			cn_vfio_notef(o, "(only if CC mode is not off)");
		if (o->dry_run || cc.mode != CN_GAT_MODE_OFF) {
			r = cn_gat_set(o, f.bdf, "cc", "off");
			if (r < 0)
				return r;
		}
		if (!o->dry_run) {
			r = vfio_query_required(o, f.bdf, "CC", &cc);
			if (r < 0)
				return r;
			if (!cc.known || cc.mode != CN_GAT_MODE_OFF)
				return cn_err_set(-EIO,
						  "CC mode of %s did not take: it reads %s after "
						  "the reset (the GPU is left unbound)",
						  f.bdf, cc.raw);
		}
	}
	if (hopper) {
		r = vfio_query_required(o, f.bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		if (o->dry_run)
			cn_vfio_notef(o, "(only if PPCIe mode is on)");
		if (o->dry_run || (pp.known && pp.mode != CN_GAT_MODE_OFF)) {
			r = cn_gat_set(o, f.bdf, "ppcie", "off");
			if (r < 0)
				return r;
		}
	}

	/* Reprobe so the host drivers take the functions back. */
	for (size_t i = 0; i < n_members; i++) {
		if (!give[i])
			continue;
		r = vfio_probe(&c, &members[i], NULL);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		cn_err_clear();
	}
	if (!nvidia_loaded) {
		r = vfio_probe(&c, &f, NULL);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		cn_err_clear();
		cn_vfio_notef(o,
			      "the nvidia module is not loaded: %s is left %s; run 'modprobe "
			      "nvidia' and then 'cocoon gpu restore %s'",
			      f.bdf, f.driver[0] ? f.driver : "without a driver", f.bdf);
		return 1;
	}
	r = vfio_probe(&c, &f, "nvidia");
	if (r < 0)
		return r;
	if (o->dry_run)
		cn_vfio_notef(o, "dry run: nothing was changed");
	else
		cn_vfio_notef(o, "%s is back on nvidia with CC mode off", f.bdf);
	return 0;
}
