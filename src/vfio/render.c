/* SPDX-License-Identifier: Apache-2.0 */
/* The results of list and verify as JSON (for --json and other programs) and as text lines. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "vfio/vfio.h"

static json_t *func_json(const struct cn_vfio_func *m)
{
	char id[16], cls[16];

	(void)snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
	(void)snprintf(cls, sizeof(cls), "0x%06x", m->class_code);
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "bdf", m->bdf, "kind",
			 cn_vfio_kind_name(m->kind), "id", id, "class", cls, "driver",
			 m->driver[0] ? json_string(m->driver) : json_null());
}

/* One list entry, in the order the keys have always had. */
static json_t *gpu_json(const struct cn_vfio_gpu_info *g)
{
	json_t *members = json_array();
	char id[16], cls[16];

	for (size_t j = 0; members && j < g->n_members; j++)
		if (json_array_append_new(members, func_json(&g->members[j])) < 0) {
			json_decref(members);
			return NULL;
		}
	if (!members)
		return NULL;
	(void)snprintf(id, sizeof(id), "%04x:%04x", g->f.vendor, g->f.device);
	(void)snprintf(cls, sizeof(cls), "0x%06x", g->f.class_code);
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:s}", "bdf", g->f.bdf,
			 "kind", cn_vfio_kind_name(g->f.kind), "id", id, "name",
			 g->product ? json_string(g->product) : json_null(), "class", cls, "driver",
			 g->f.driver[0] ? json_string(g->f.driver) : json_null(), "iommu_group",
			 g->f.iommu_group >= 0 ? json_integer(g->f.iommu_group) : json_null(),
			 "group_members", members, "numa_node",
			 g->f.numa_node >= 0 ? json_integer(g->f.numa_node) : json_null(),
			 "cc_mode", g->cc.raw, "ppcie_mode", g->ppcie.raw);
}

json_t *cn_vfio_list_json(const struct cn_vfio_gpu_info *g, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, gpu_json(&g[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

void cn_vfio_list_print(FILE *f, const struct cn_vfio_gpu_info *g, size_t n)
{
	(void)fprintf(f, "NVIDIA GPUs found in system:\n");
	for (size_t i = 0; i < n; i++) {
		char numa[16];

		(void)snprintf(numa, sizeof(numa), "%d", g[i].f.numa_node);
		(void)fprintf(f, "  %s  %s [%04x:%04x]\n", g[i].f.bdf,
			      g[i].product			     ? g[i].product
			      : g[i].f.kind == CN_VFIO_KIND_NVSWITCH ? "NVSwitch"
								     : "NVIDIA GPU",
			      g[i].f.vendor, g[i].f.device);
		(void)fprintf(f, "      driver: %s, NUMA node: %s, CC mode: %s, PPCIe mode: %s\n",
			      g[i].f.driver[0] ? g[i].f.driver : "none",
			      g[i].f.numa_node >= 0 ? numa : "none", g[i].cc.raw, g[i].ppcie.raw);
		if (g[i].f.iommu_group < 0) {
			(void)fprintf(f, "      IOMMU group: none (IOMMU off)\n");
			continue;
		}
		(void)fprintf(f, "      IOMMU group %d:%s", g[i].f.iommu_group,
			      g[i].n_members ? "" : " no other members\n");
		for (size_t j = 0; j < g[i].n_members; j++)
			(void)fprintf(f, " %s (%s, %s)%s", g[i].members[j].bdf,
				      cn_vfio_kind_name(g[i].members[j].kind),
				      g[i].members[j].driver[0] ? g[i].members[j].driver
								: "no driver",
				      j + 1 == g[i].n_members ? "\n" : ",");
	}
}

json_t *cn_vfio_verdict_json(const struct cn_vfio_verdict *v)
{
	json_t *probs = json_array();

	for (size_t i = 0; probs && i < v->n; i++)
		if (json_array_append_new(probs, json_pack("{s:s, s:s}", "problem", v->p[i].what,
							   "fix", v->p[i].fix)) < 0) {
			json_decref(probs);
			return NULL;
		}
	if (!probs)
		return NULL;
	return json_pack("{s:s, s:b, s:o, s:o, s:s, s:o}", "bdf", v->bdf, "ready", v->n == 0,
			 "driver", v->driver[0] ? json_string(v->driver) : json_null(),
			 "iommu_group",
			 v->iommu_group >= 0 ? json_integer(v->iommu_group) : json_null(),
			 "cc_mode", v->cc.raw, "problems", probs);
}

json_t *cn_vfio_verify_error_json(const char *bdf, const char *error)
{
	return json_pack("{s:s, s:b, s:s}", "bdf", bdf, "ready", 0, "error", error);
}

void cn_vfio_verdict_print(FILE *f, const struct cn_vfio_verdict *v)
{
	if (v->n == 0) {
		(void)fprintf(f,
			      "GPU %s is ready for TDX passthrough (vfio-pci, CC mode on, IOMMU "
			      "group %d)\n",
			      v->bdf, v->iommu_group);
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		(void)fprintf(f, "not ready: %s; fix: %s\n", v->p[i].what, v->p[i].fix);
}
