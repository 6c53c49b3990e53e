/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * GPU passthrough readiness, as `cocoon gpu verify` decides it. Used by the launcher's
 * pre-flight check. Implemented in src/vfio/ (issue: host GPU passthrough).
 */
#include "base/strv.h"

struct cn_vfio_roots {
	const char *sysfs;           /* NULL: "/sys" */
	const char *dev;             /* NULL: "/dev" */
	const char *gpu_admin_tools; /* NULL: $GPU_ADMIN_TOOLS_DIR; CC mode is "unknown" without it */
	const char *proc;            /* NULL: "/proc" (who holds the device nodes) */
};

/*
 * Checks that the GPU at bdf (any accepted form) is ready for passthrough.
 * 0: ready. -EKEYREJECTED: not ready; ret_problems gets one line per unmet condition, each with
 * the command that fixes it. Other negative errno: could not decide (message in cn_err_msg()).
 */
int cn_vfio_check_ready(const struct cn_vfio_roots *roots, const char *bdf, struct cn_strv *ret_problems);
