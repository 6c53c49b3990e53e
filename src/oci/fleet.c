/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet convention: name@commit lives at "<prefix>/<lower-cased name>:<commit>". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "oci/oci.h"

const char *cn_oci_registry_prefix(const char *opt)
{
	const char *e = getenv("COCOON_REGISTRY");

	return opt && *opt ? opt : e && *e ? e : NULL;
}

int cn_oci_pull_spec(const struct cn_oci_opts *o, const char *prefix, const char *images_dir,
		     const char *name, const char *commit, const char *root_hash, char *ret_ref,
		     size_t ref_size)
{
	struct cn_oci_pull_result res = {0};
	struct cn_oci_ref ref;
	int r;

	if (!commit || !root_hash)
		return cn_err_set(-ENODATA, "a registry pull needs NAME@COMMIT:ROOTHASH");
	r = cn_oci_ref_for_model(prefix, name, commit, &ref);
	if (r < 0)
		return r;
	cn_oci_ref_format(&ref, ret_ref, ref_size);
	r = cn_oci_pull(o, images_dir, &ref, root_hash, name, commit, &res);
	cn_oci_pull_result_done(&res);
	return r;
}

int cn_oci_push_spec(const struct cn_oci_opts *o, const char *prefix, const char *images_dir,
		     const char *name, const char *commit, const char *root_hash, char *ret_ref,
		     size_t ref_size, struct cn_oci_push_result *ret)
{
	struct cn_oci_ref ref;
	int r;

	r = cn_oci_ref_for_model(prefix, name, commit, &ref);
	if (r < 0)
		return r;
	cn_oci_ref_format(&ref, ret_ref, ref_size);
	return cn_oci_push(o, images_dir, name, commit, root_hash, &ref, ret);
}
