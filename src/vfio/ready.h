/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * GPU passthrough readiness, as `cocoon gpu verify` decides it. Used by the launcher's
 * pre-flight check. Implemented in src/vfio/ (docs/vfio.md, "The readiness contract").
 */
#include "base/strv.h"

struct cn_vfio_roots {
	/* NULL: "/sys" */
	const char *sysfs;
	/* NULL: "/dev" */
	const char *dev;
	/* NULL: $GPU_ADMIN_TOOLS_DIR; the CC mode is "unknown" (so: not ready) without it */
	const char *gpu_admin_tools;
	/* NULL: "/proc" (who holds the device nodes) */
	const char *proc;
};

/*
 * Checks that the GPU at bdf (any accepted form) is ready for passthrough: bound to vfio-pci,
 * CC mode on (read with gpu-admin-tools; needs root unless sysfs is not /sys), PPCIe not on,
 * the rest of its IOMMU group on a vfio driver or unbound, nobody holding it, and the VFIO
 * nodes present with the VMM group and mode 0660. Read-only.
 * 0: ready. -EKEYREJECTED: not ready; one line per unmet condition, "<what>; fix: <command>",
 * is appended to ret_problems (may be NULL). Other negative errno: could not decide (not a PCI
 * address, no such device, not an NVIDIA GPU, unreadable sysfs; message in cn_err_msg()).
 */
int cn_vfio_check_ready(const struct cn_vfio_roots *roots, const char *bdf,
			struct cn_strv *ret_problems);
