/* SPDX-License-Identifier: Apache-2.0 */
/* The read-only readiness check of one GPU (docs/reference/gpu.md, verify). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

void vfio_add_problem(struct cn_vfio_verdict *v, const char *fix, const char *fmt, ...)
{
	va_list ap;

	if (v->n == CN_VFIO_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(v->p[v->n].what, sizeof(v->p[v->n].what), fmt, ap);
	va_end(ap);
	(void)snprintf(v->p[v->n].fix, sizeof(v->p[v->n].fix), "%s", fix);
	v->n++;
}

int cn_vfio_verify(const struct cn_vfio_opts *o, const char *bdf_in, struct cn_vfio_verdict *ret)
{
	_cleanup_(vfio_ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	struct cn_vfio_verdict *v;
	char fix_setup[128], fix_allow[192];
	size_t n_members = 0, n_users = 0;
	int r;

	r = vfio_ctx_init(&c, o);
	if (r < 0)
		return r;
	r = vfio_read_gpu(&c, bdf_in, &f);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v->bdf, f.bdf, sizeof(v->bdf));
	memcpy(v->driver, f.driver, sizeof(v->driver));
	v->iommu_group = f.iommu_group;
	(void)snprintf(fix_setup, sizeof(fix_setup), "cocoon gpu setup %s", f.bdf);

	if (f.iommu_group < 0)
		vfio_add_problem(v,
				 "enable the IOMMU: boot with intel_iommu=on iommu=pt, then reboot",
				 "%s has no IOMMU group (the IOMMU is off)", f.bdf);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		goto fail;

	if (strcmp(f.driver, "vfio-pci") != 0) {
		if (f.driver[0])
			vfio_add_problem(v, fix_setup, "%s is bound to %s (expected vfio-pci)",
					 f.bdf, f.driver);
		else
			vfio_add_problem(v, fix_setup,
					 "%s is not bound to any driver (expected vfio-pci)",
					 f.bdf);
	}
	for (size_t i = 0; i < n_members; i++) {
		const struct cn_vfio_func *m = &members[i];

		if (vfio_member_tolerated(m) || !m->driver[0] || vfio_is_vfio_driver(m->driver))
			continue;
		bool own = m->vendor == 0x10de && vfio_same_slot(m->bdf, f.bdf);

		(void)snprintf(fix_allow, sizeof(fix_allow), "cocoon gpu setup %s%s%s", f.bdf,
			       own ? "" : " --allow-group-member ", own ? "" : m->bdf);
		vfio_add_problem(
		    v, fix_allow,
		    "%s (%s, in IOMMU group %d with %s) is bound to %s (expected vfio-pci or "
		    "no driver)",
		    m->bdf, cn_vfio_kind_name(m->kind), f.iommu_group, f.bdf, m->driver);
	}

	r = vfio_find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n_users; i++) {
		char fix[96];

		(void)snprintf(fix, sizeof(fix), "stop pid %d (%s) first", (int)users[i].pid,
			       users[i].comm);
		vfio_add_problem(v, fix, "%s is in use: %s is open by pid %d (%s)", f.bdf,
				 users[i].path, (int)users[i].pid, users[i].comm);
	}

	/* CC mode: never query a GPU someone holds (the query touches BAR0 and power state). */
	if (n_users > 0) {
		(void)snprintf(v->cc.raw, sizeof(v->cc.raw), "unknown (in use)");
	} else if (!cn_vfio_privileged(o)) {
		(void)snprintf(v->cc.raw, sizeof(v->cc.raw), "unknown (needs root)");
		(void)snprintf(fix_allow, sizeof(fix_allow), "sudo cocoon gpu verify %s", f.bdf);
		vfio_add_problem(v, fix_allow, "CC mode of %s is unknown (needs root)", f.bdf);
	} else {
		r = cn_gat_query(o, f.bdf, "CC", &v->cc);
		if (r < 0)
			goto fail;
		if (!v->cc.known)
			vfio_add_problem(
			    v,
			    strstr(v->cc.raw, "not found")
				? "install gpu-admin-tools and set GPU_ADMIN_TOOLS_DIR or "
				  "--gpu-admin-tools"
				: fix_setup,
			    "CC mode of %s is %s", f.bdf, v->cc.raw);
		else if (v->cc.mode != CN_GAT_MODE_ON)
			vfio_add_problem(v, fix_setup, "CC mode of %s is %s (expected on)", f.bdf,
					 v->cc.raw);
		if (v->cc.known && cn_vfio_is_hopper(f.device)) {
			struct cn_gat_query pq;

			r = cn_gat_query(o, f.bdf, "PPCIe", &pq);
			if (r < 0)
				goto fail;
			if (pq.known && pq.mode != CN_GAT_MODE_OFF)
				vfio_add_problem(v, fix_setup,
						 "PPCIe mode of %s is %s (expected off)", f.bdf,
						 pq.raw);
		}
	}

	if (strcmp(f.driver, "vfio-pci") == 0 && f.iommu_group >= 0)
		vfio_check_nodes(&c, &f, v, fix_setup);
	*ret = *v;
	free(v);
	return 0;
fail:
	free(v);
	return r;
}
