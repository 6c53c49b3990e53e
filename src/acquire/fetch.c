/* SPDX-License-Identifier: Apache-2.0 */
/* cn_model_fetch(): the image store, the registry, else a source built into the store; the push
 * after a build (see fetch.h). */
#include "acquire/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acquire/source.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "hf/cache.h"
#include "hf/hub-parse.h"

/* Tells the user (build.notify) that a corrupt cache is being replaced. */
static void note_fresh_copy(const struct cn_model_fetch_opts *o, const char *why)
{
	char msg[1200];

	if (!o->build.notify)
		return;
	(void)snprintf(msg, sizeof(msg), "%s; downloading a fresh copy", why);
	o->build.notify(o->build.userdata, msg);
}

static int build_from(struct cn_model_build_opts *b, const struct cn_acquire_snapshot *s,
		      struct cn_model_image *ret)
{
	b->commit = s->commit;
	b->source_dir = s->dir;
	b->hf_cache_snapshot = s->hf_cache;
	b->cache_only = s->in_store; /* a registry pull: look the published image up */
	return cn_model_build(b, ret);
}

/* Where fetch() found the image: what may be pushed (enum cn_model_push). */
enum origin { FROM_STORE, FROM_REGISTRY, FROM_BUILD };

static int fetch(const struct cn_model_fetch_opts *o, struct cn_model_image *ret, enum origin *from)
{
	const struct cn_model_spec *spec = o->spec;
	const struct cn_acquire_source *src;
	struct cn_model_build_opts b = o->build;
	struct cn_acquire_snapshot snap = {0};
	bool offline;
	int r;

	b.name = spec->name;
	b.expected_root = spec->root_hash;
	b.source_dir = NULL;
	b.hf_cache_snapshot = false;
	r = cn_hf_offline(o->hub.offline, &offline);
	if (r < 0)
		return r;
	/* A hub model's name is checked once, by the hub's rules, before any path is made of it. */
	if (!o->from_dir) {
		r = cn_hub_repo_id_check(spec->name);
		if (r < 0)
			return r;
	}

	/* As the reference: an existing image is used without touching any source. */
	if (spec->commit) {
		struct cn_model_build_opts c = b;

		/* A tar without its hash file is completed from the tar (unless cache_only). */
		c.commit = spec->commit;
		c.cache_only = o->cache_only;
		*from = FROM_STORE;
		r = cn_model_build(&c, ret);
		if (r != -ENOENT || o->cache_only)
			return r;
	} else if (o->cache_only)
		return cn_err_set(-EINVAL,
				  "'%s' has no commit: the image cache is keyed by commit "
				  "(give %s@COMMIT)",
				  spec->name, spec->name);

	/* The exact image from the registry, verified before it is published (never final). */
	r = cn_acquire_source_registry.get(o, false, &snap);
	if (r != -ENOENT) {
		if (r == 0) {
			*from = FROM_REGISTRY;
			r = build_from(&b, &snap, ret);
		}
		cn_acquire_snapshot_done(&snap);
		return r;
	}

	src = o->from_dir ? &cn_acquire_source_dir
	      : offline	  ? &cn_acquire_source_hf_cache
			  : &cn_acquire_source_hub;
	r = src->get(o, false, &snap);
	if (r < 0)
		return r;
	*from = FROM_BUILD;
	r = build_from(&b, &snap, ret);
	if (r == -EKEYREJECTED && !ret->name && snap.hf_cache && !offline) {
		/* An LFS blob of the HF cache does not match its name: the build's pass found it
		 * and wrote nothing. Download a fresh copy, bypassing the cache. */
		note_fresh_copy(o, cn_err_msg());
		cn_acquire_snapshot_done(&snap);
		r = cn_acquire_source_hub.get(o, true, &snap);
		if (r < 0)
			return r;
		r = build_from(&b, &snap, ret);
	}
	cn_acquire_snapshot_done(&snap);
	return r;
}

int cn_model_fetch(const struct cn_model_fetch_opts *o, struct cn_model_image *ret)
{
	enum origin from = FROM_BUILD;
	int r;

	if (o->push != CN_MODEL_PUSH_NONE && (!o->registry || !*o->registry))
		return cn_err_set(-EINVAL, "a push needs a registry prefix");
	r = fetch(o, ret, &from);
	if (r < 0 || o->push == CN_MODEL_PUSH_NONE)
		return r;
	/* One host builds and pushes; an image that came from the registry is there already. */
	if (from == FROM_REGISTRY)
		return r;
	/* Found in the store (a tar whose hash file was completed counts as found). */
	if (from == FROM_STORE && o->push == CN_MODEL_PUSH_BUILT) {
		cn_notifyf(o->build.notify, o->build.userdata,
			   "registry: %s@%s was in the image store, not built: not pushed "
			   "(cocoon model push pushes it)",
			   ret->name, ret->commit);
		return r;
	}
	return cn_acquire_push(o, ret);
}
