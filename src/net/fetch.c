/* SPDX-License-Identifier: Apache-2.0 */
#include "net/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "net/hub-internal.h"

/* Tells the user (build.notify) that a corrupt cache is being replaced. */
static void note_fresh_copy(const struct cn_model_fetch_opts *o, const char *why)
{
	char msg[1200];

	if (!o->build.notify)
		return;
	(void)snprintf(msg, sizeof(msg), "%s; downloading a fresh copy", why);
	o->build.notify(o->build.userdata, msg);
}

static int offline_of(const struct cn_model_fetch_opts *o, bool *ret)
{
	const char *v = getenv("HF_HUB_OFFLINE");

	*ret = o->hub.offline;
	if (!*ret && v && *v && cn_parse_bool(v, ret) < 0)
		return cn_err_set(-EINVAL, "HF_HUB_OFFLINE='%.32s' is not a boolean", v);
	return 0;
}

/* The hub's snapshot (or its verified HF cache snapshot unless no_hf_cache). */
static int from_hub(const struct cn_model_fetch_opts *o, const char *hf_home, bool no_hf_cache,
		    char **ret_commit, char **ret_dir, bool *ret_staged)
{
	_cleanup_free_ char *staging = cn_path_join(o->build.images_dir, ".staging");
	struct cn_hub_opts h = o->hub;
	bool is_hf = false;
	int r;

	if (!staging)
		return cn_err_set(-ENOMEM, "out of memory");
	h.hf_home = hf_home;
	h.no_hf_cache = no_hf_cache;
	r = cn_hub_snapshot(&h, o->spec->name, o->spec->commit, staging, ret_commit, ret_dir,
			    &is_hf);
	if (r < 0)
		return cn_err_set(r, "cannot get %s from the hub: %s", o->spec->name, cn_err_msg());
	*ret_staged = !is_hf;
	return 0;
}

/* Builds from dir: a staging copy of plain files, or an HF cache snapshot. */
static int build_from(struct cn_model_build_opts *b, const char *commit, const char *dir,
		      bool staged, struct cn_model_image *ret)
{
	b->commit = commit;
	b->source_dir = dir;
	b->hf_cache_snapshot = !staged;
	return cn_model_build(b, ret);
}

int cn_model_fetch(const struct cn_model_fetch_opts *o, struct cn_model_image *ret)
{
	const struct cn_model_spec *spec = o->spec;
	struct cn_model_build_opts b = o->build;
	_cleanup_free_ char *hf_home = NULL, *commit = NULL, *dir = NULL;
	bool offline, staged = false, pinned;
	int r;

	b.name = spec->name;
	b.expected_root = spec->root_hash;
	b.source_dir = NULL;
	b.hf_cache_snapshot = false;
	r = offline_of(o, &offline);
	if (r < 0)
		return r;

	/* As the reference: an existing tar is used (its hash file completed unless cache_only)
	 * without touching any source. */
	if (spec->commit) {
		struct cn_model_build_opts c = b;

		c.commit = spec->commit;
		c.cache_only = o->cache_only;
		r = cn_model_build(&c, ret);
		if (r != -ENOENT || o->cache_only)
			return r;
	} else if (o->cache_only)
		return cn_err_set(-EINVAL,
				  "'%s' has no commit: the image cache is keyed by commit "
				  "(give %s@COMMIT)",
				  spec->name, spec->name);

	r = cn_hub_hf_home(&o->hub, &hf_home);
	if (r < 0)
		return r;
	/* A pinned commit (or offline mode) may use the local HF cache; a branch or tag name online
	 * is resolved by the hub, since the cache's refs/ may be stale. */
	pinned = spec->commit && cn_is_lower_hex(spec->commit, 40);
	if (pinned || offline) {
		r = cn_model_hf_cache_resolve(hf_home, spec->name, spec->commit, &commit, &dir);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r >= 0) {
			/* The HF client does not check what it downloads: check the git-blob files
			 * here, the LFS blobs in the build's pass. */
			r = cn_hub_cache_check(&o->hub, dir);
			if (r < 0 && (offline || r != -EKEYREJECTED))
				return r;
			if (r < 0) {
				note_fresh_copy(o, cn_err_msg());
				dir = mfree(dir);
				commit = mfree(commit);
			}
		}
	}
	if (!dir) {
		if (offline)
			return cn_err_set(
			    -ENOENT,
			    "HF_HUB_OFFLINE is set and no Hugging Face cache snapshot of "
			    "%s%s%s exists under %s/hub",
			    spec->name, spec->commit ? "@" : "", spec->commit ? spec->commit : "",
			    hf_home);
		r = from_hub(o, hf_home, false, &commit, &dir, &staged);
		if (r < 0)
			return r;
	}
	r = build_from(&b, commit, dir, staged, ret);
	if (r == -EKEYREJECTED && !ret->name && b.hf_cache_snapshot && !offline) {
		/* An LFS blob of the HF cache does not match its name: the build's pass found it
		 * and wrote nothing. Download a fresh copy, bypassing the cache, and build from
		 * that. */
		note_fresh_copy(o, cn_err_msg());
		dir = mfree(dir);
		commit = mfree(commit);
		r = from_hub(o, hf_home, true, &commit, &dir, &staged);
		if (r < 0)
			return r;
		r = build_from(&b, commit, dir, staged, ret);
	}
	if (staged)
		(void)cn_rm_rf(dir);
	return r;
}
