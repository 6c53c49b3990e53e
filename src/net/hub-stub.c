/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for the hub client (delete this file when src/net/hub.c lands). */
#include <errno.h>

#include "base/log.h"
#include "net/hub.h"

int cn_hub_snapshot(const struct cn_hub_opts *o, const char *repo, const char *revision,
		    const char *staging_root, char **ret_commit, char **ret_dir, bool *ret_is_hf_cache)
{
	return cn_err_set(-EOPNOTSUPP, "downloading '%s' from the hub is not implemented yet; use --from-dir", repo);
}
