/* SPDX-License-Identifier: Apache-2.0 */
/* The model sources: a local folder, the Hugging Face cache (offline), the hub (online). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acquire/source.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "hf/cache.h"

void cn_acquire_snapshot_done(struct cn_acquire_snapshot *s)
{
	if (s->temporary && s->dir)
		(void)cn_rm_rf(s->dir);
	free(s->commit);
	free(s->dir);
	*s = (struct cn_acquire_snapshot){0};
}

static int dir_get(const struct cn_model_fetch_opts *o, bool no_hf_cache,
		   struct cn_acquire_snapshot *ret)
{
	if (!o->from_dir)
		return -ENOENT;
	if (!o->spec->commit)
		return cn_err_set(-EINVAL, "--from-dir needs the commit: %s@COMMIT", o->spec->name);
	*ret = (struct cn_acquire_snapshot){.commit = strdup(o->spec->commit),
					    .dir = strdup(o->from_dir)};
	if (!ret->commit || !ret->dir) {
		cn_acquire_snapshot_done(ret);
		return -ENOMEM;
	}
	return 0;
}

const struct cn_acquire_source cn_acquire_source_dir = {.name = "folder", .get = dir_get};

/* Offline: a cached snapshot is trusted only when it matches the listing the HF client left. */
static int hf_cache_get(const struct cn_model_fetch_opts *o, bool no_hf_cache,
			struct cn_acquire_snapshot *ret)
{
	const struct cn_model_spec *spec = o->spec;
	_cleanup_free_ char *cache = NULL, *commit = NULL, *dir = NULL;
	struct cn_hub_tree t = {0};
	unsigned threads = o->hub.parallel ? o->hub.parallel : 4;
	int r;

	if (no_hf_cache)
		return -ENOENT;
	r = cn_hf_hub_cache(o->hub.hf_home, &cache);
	if (r < 0)
		return r;
	r = cn_hf_cache_resolve(cache, spec->name, spec->commit, &commit, &dir);
	if (r == -ENOENT)
		return cn_err_set(-ENOENT,
				  "offline (HF_HUB_OFFLINE): no snapshot of %s%s%s in the Hugging "
				  "Face cache '%s'",
				  spec->name, spec->commit ? "@" : "",
				  spec->commit ? spec->commit : "", cache);
	if (r < 0)
		return r;
	r = cn_hf_cache_tree(cache, spec->name, commit, &t);
	if (r == -ENOENT)
		return cn_err_set(-ENOENT,
				  "offline (HF_HUB_OFFLINE): the cached snapshot '%s' cannot be "
				  "verified (no trees/%s.json listing beside it); go online once",
				  dir, commit);
	if (r < 0)
		return r;
	r = cn_hub_dir_verify(dir, &t, threads > 16 ? 16 : threads, o->hub.progress);
	cn_hub_tree_done(&t);
	if (r < 0)
		return cn_err_set(
		    r,
		    "offline (HF_HUB_OFFLINE): the cached snapshot '%s' does not match "
		    "its listing: %s",
		    dir, cn_err_msg());
	*ret = (struct cn_acquire_snapshot){
	    .commit = TAKE_PTR(commit), .dir = TAKE_PTR(dir), .hf_cache = true};
	return 0;
}

const struct cn_acquire_source cn_acquire_source_hf_cache = {.name = "hf-cache",
							     .get = hf_cache_get};

static int hub_get(const struct cn_model_fetch_opts *o, bool no_hf_cache,
		   struct cn_acquire_snapshot *ret)
{
	_cleanup_free_ char *staging = cn_path_join(o->build.images_dir, ".staging");
	struct cn_hub_opts h = o->hub;
	bool is_hf = false;
	int r;

	if (!staging)
		return -ENOMEM;
	h.no_hf_cache = no_hf_cache;
	*ret = (struct cn_acquire_snapshot){0};
	r = cn_hub_snapshot(&h, o->spec->name, o->spec->commit, staging, &ret->commit, &ret->dir,
			    &is_hf);
	if (r < 0)
		return cn_err_set(r, "cannot get %s from the hub: %s", o->spec->name, cn_err_msg());
	ret->hf_cache = is_hf;
	ret->temporary = !is_hf;
	return 0;
}

const struct cn_acquire_source cn_acquire_source_hub = {.name = "hub", .get = hub_get};
