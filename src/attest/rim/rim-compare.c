/* SPDX-License-Identifier: Apache-2.0 */
/* Golden vs runtime measurement comparison (spec §4.9). */
#include <errno.h>
#include <string.h>

#include "attest/rim/rim-internal.h"
#include "base/cleanup.h"
#include "base/log.h"

#define NVDEC0_ENABLED 0xAA
#define NVDEC0_DISABLED 0x55
#define MSR_NVDEC0 35u /* golden index skipped when NVDEC0 is disabled */

const char *cn_rim_mismatch_reason_name(enum cn_rim_mismatch_reason r)
{
	switch (r) {
	case CN_RIM_MISMATCH_SIZE:
		return "size";
	case CN_RIM_MISMATCH_MISSING:
		return "missing";
	case CN_RIM_MISMATCH_VALUE:
	default:
		return "value";
	}
}

struct cn_rim_comparison *cn_rim_comparison_free(struct cn_rim_comparison *c)
{
	if (!c)
		return NULL;
	free(c->mismatches);
	free(c);
	return NULL;
}
CN_DEFINE_CLEANUP(struct cn_rim_comparison *, cn_rim_comparison_free)

static const struct cn_rim_measurement *find_active(const struct cn_rim *rim, unsigned index)
{
	for (size_t i = 0; i < rim->n_meas; i++)
		if (rim->meas[i].index == index && rim->meas[i].active)
			return &rim->meas[i];
	return NULL;
}

static int compare_one(struct cn_rim_comparison *c, enum cn_rim_kind source,
		       const struct cn_rim_measurement *g,
		       const struct cn_rim_runtime *const *by_index, bool skip35)
{
	const struct cn_rim_runtime *rt;
	struct cn_rim_mismatch *mm;
	bool match = false;

	if (!g->active)
		return 0;
	if (skip35 && g->index == MSR_NVDEC0) {
		c->msr35_skipped = true;
		return 0;
	}
	c->n_compared++;
	rt = by_index[g->index + 1];
	if (rt && rt->len == g->size)
		for (size_t k = 0; k < g->n_alternatives && !match; k++)
			match = memcmp(g->value[k], rt->digest, g->size) == 0;
	if (match) {
		c->n_matched++;
		return 0;
	}
	mm = &c->mismatches[c->n_mismatches++];
	memset(mm, 0, sizeof(*mm));
	mm->index = g->index;
	mm->source = source;
	mm->reason = !rt		  ? CN_RIM_MISMATCH_MISSING
		     : rt->len != g->size ? CN_RIM_MISMATCH_SIZE
					  : CN_RIM_MISMATCH_VALUE;
	mm->golden_size = g->size;
	mm->n_golden = g->n_alternatives;
	memcpy(mm->golden, g->value, sizeof(mm->golden));
	if (rt) {
		mm->runtime_present = true;
		mm->runtime_len = rt->len;
		memcpy(mm->runtime, rt->digest, CN_MIN(rt->len, (size_t)CN_RIM_DIGEST_MAX));
	}
	return 0;
}

int cn_rim_compare(const struct cn_rim *driver, const struct cn_rim *vbios,
		   const struct cn_rim_runtime *runtime, size_t n_runtime,
		   const uint8_t *nvdec0_status, size_t nvdec0_status_len,
		   struct cn_rim_comparison **ret)
{
	_cleanup_(cn_rim_comparison_freep) struct cn_rim_comparison *c = NULL;
	/* by_index[spdm index] -> runtime entry; SPDM indices are 1..255. */
	const struct cn_rim_runtime *by_index[CN_RIM_RESOURCES_MAX + 1] = {NULL};
	bool skip35;

	if (!driver || !vbios || !ret || (n_runtime > 0 && !runtime))
		return cn_err_set(-EINVAL, "rim compare: missing argument");
	if (!nvdec0_status || nvdec0_status_len != 1 ||
	    (nvdec0_status[0] != NVDEC0_ENABLED && nvdec0_status[0] != NVDEC0_DISABLED))
		return cn_err_set(
		    -EBADMSG,
		    "rim compare: opaque NVDEC0_STATUS must be one byte 0x55 or 0xAA (%s)",
		    !nvdec0_status	     ? "absent"
		    : nvdec0_status_len != 1 ? "wrong length"
					     : "other value");
	skip35 = nvdec0_status[0] == NVDEC0_DISABLED;
	if (n_runtime > CN_RIM_RESOURCES_MAX)
		return cn_err_set(-EBADMSG, "rim compare: %zu runtime measurements exceed %u",
				  n_runtime, CN_RIM_RESOURCES_MAX);
	for (size_t i = 0; i < n_runtime; i++) {
		unsigned idx = runtime[i].spdm_index;

		if (idx < 1 || idx > CN_RIM_RESOURCES_MAX)
			return cn_err_set(
			    -EBADMSG,
			    "rim compare: runtime measurement index %u out of range 1..%u", idx,
			    CN_RIM_RESOURCES_MAX);
		if (by_index[idx])
			return cn_err_set(-EBADMSG,
					  "rim compare: runtime measurement index %u appears twice",
					  idx);
		if (runtime[i].len > 0 && !runtime[i].digest)
			return cn_err_set(-EINVAL,
					  "rim compare: runtime measurement %u has no digest", idx);
		by_index[idx] = &runtime[i];
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return cn_err_set(-ENOMEM, "rim compare: out of memory");
	c->index_no_conflict = true;

	/* 1. Index conflict: an index active in both RIMs fails the comparison without running it.
	 */
	for (size_t i = 0; i < driver->n_meas; i++)
		if (driver->meas[i].active && find_active(vbios, driver->meas[i].index))
			c->conflicts[c->n_conflicts++] = driver->meas[i].index;
	if (c->n_conflicts > 0) {
		c->index_no_conflict = false;
		c->success = false;
		*ret = TAKE_PTR(c);
		return 0;
	}

	c->mismatches = calloc(driver->n_meas + vbios->n_meas + 1, sizeof(*c->mismatches));
	if (!c->mismatches)
		return cn_err_set(-ENOMEM, "rim compare: out of memory");
	/* 2./3. Every active golden value, driver first then VBIOS, in RIM index order. */
	for (unsigned idx = 0; idx <= CN_RIM_INDEX_MAX; idx++) {
		const struct cn_rim_measurement *g = find_active(driver, idx);

		if (g)
			(void)compare_one(c, CN_RIM_KIND_DRIVER, g, by_index, skip35);
	}
	for (unsigned idx = 0; idx <= CN_RIM_INDEX_MAX; idx++) {
		const struct cn_rim_measurement *g = find_active(vbios, idx);

		if (g)
			(void)compare_one(c, CN_RIM_KIND_VBIOS, g, by_index, skip35);
	}
	/* A comparison that compared nothing proves nothing. */
	c->success = c->n_mismatches == 0 && c->n_compared > 0;
	*ret = TAKE_PTR(c);
	return 0;
}
