/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry source (docs/distribution.md): the exact image NAME@COMMIT:ROOTHASH pulled from
 * "<prefix>/<lower-cased name>:<commit>" straight into the image store (src/oci verifies every
 * blob, the verity tree and the root hash before it publishes), and the push after a build.
 * The registry is a faster source, never a required one: any failure is a note and the next
 * source is tried.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acquire/source.h"
#include "base/log.h"
#include "oci/oci.h"

/* The client options: the caller's, with the build's progress and notes unless set. */
static struct cn_oci_opts oci_opts(const struct cn_model_fetch_opts *o)
{
	struct cn_oci_opts c = o->oci;

	if (!c.notify) {
		c.notify = o->build.notify;
		c.userdata = o->build.userdata;
		c.progress = o->build.progress;
	}
	return c;
}

static int registry_get(const struct cn_model_fetch_opts *o, bool no_hf_cache,
			struct cn_acquire_snapshot *ret)
{
	const struct cn_model_spec *spec = o->spec;
	struct cn_oci_opts c = oci_opts(o);
	char ref[CN_OCI_REF_MAX + 1] = "";
	int r;

	(void)no_hf_cache;
	*ret = (struct cn_acquire_snapshot){0};
	if (!o->registry || !*o->registry || o->from_dir || o->cache_only)
		return -ENOENT;
	if (!spec->commit || !spec->root_hash) {
		cn_notifyf(o->build.notify, o->build.userdata,
			   "registry %s not tried: a registry pull needs the full spec "
			   "%s@COMMIT:ROOTHASH",
			   o->registry, spec->name);
		return -ENOENT;
	}
	r = cn_oci_pull_spec(&c, o->registry, o->build.images_dir, spec->name, spec->commit,
			     spec->root_hash, ref, sizeof(ref));
	if (r < 0) {
		cn_notifyf(o->build.notify, o->build.userdata,
			   "registry: %s not used: %s; building instead",
			   ref[0] ? ref : o->registry, cn_err_msg());
		cn_err_clear();
		return -ENOENT;
	}
	cn_notifyf(o->build.notify, o->build.userdata, "registry: pulled %s (verified against %s)",
		   ref, spec->root_hash);
	ret->commit = strdup(spec->commit);
	ret->in_store = true;
	return ret->commit ? 0 : -ENOMEM;
}

const struct cn_acquire_source cn_acquire_source_registry = {.name = "registry",
							     .get = registry_get};

int cn_acquire_push(const struct cn_model_fetch_opts *o, const struct cn_model_image *img)
{
	struct cn_oci_opts c = oci_opts(o);
	struct cn_oci_push_result res;
	char ref[CN_OCI_REF_MAX + 1] = "", msg[1200];
	int r;

	if (!o->registry || !*o->registry)
		return cn_err_set(-EINVAL, "a push needs a registry prefix");
	r = cn_oci_push_spec(&c, o->registry, o->build.images_dir, img->name, img->commit,
			     img->root_hash, ref, sizeof(ref), &res);
	if (r < 0) {
		(void)snprintf(msg, sizeof(msg), "%s", cn_err_msg());
		return cn_err_set(r, "the image is in place, but the push to %s failed: %s",
				  ref[0] ? ref : o->registry, msg);
	}
	cn_notifyf(o->build.notify, o->build.userdata,
		   "registry: pushed %s@%s (%u blob(s) uploaded, %u already there, %u mounted)",
		   ref, res.manifest_digest, res.blobs_uploaded, res.blobs_present,
		   res.blobs_mounted);
	return 0;
}
