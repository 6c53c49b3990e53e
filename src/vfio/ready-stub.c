/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for the passthrough readiness check (delete when src/vfio lands). */
#include <errno.h>

#include "base/log.h"
#include "vfio/ready.h"

int cn_vfio_check_ready(const struct cn_vfio_roots *roots, const char *bdf, struct cn_strv *ret_problems)
{
	return cn_err_set(-EOPNOTSUPP, "GPU passthrough checks are not implemented yet");
}
