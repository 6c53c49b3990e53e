/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Model sources: where a snapshot folder to build an image from comes from. Each source either
 * has the model (0, a verified folder), does not have it (-ENOENT: the next source is tried),
 * or fails (any other error: final). The registry source (registry.c) gives no folder: it pulls
 * the exact image into the store itself (in_store), and never fails (a failure is a note and
 * -ENOENT: the registry is a faster source, never a required one).
 */
#include <stdbool.h>

#include "acquire/fetch.h"

struct cn_acquire_snapshot {
	char *commit;	/* owned, the commit the folder holds */
	char *dir;	/* owned */
	bool hf_cache;	/* an HF cache snapshot: links into blobs/ are dereferenced */
	bool temporary; /* a staging copy, removed after the build */
	bool in_store;	/* no folder: the image is in the store already (a registry pull) */
};
void cn_acquire_snapshot_done(struct cn_acquire_snapshot *s);

struct cn_acquire_source {
	const char *name; /* for messages: "registry", "folder", "hf-cache", "hub" */
	/* no_hf_cache: a cached snapshot failed the build's content check; do not use it again. */
	int (*get)(const struct cn_model_fetch_opts *o, bool no_hf_cache,
		   struct cn_acquire_snapshot *ret);
};

extern const struct cn_acquire_source cn_acquire_source_dir;
extern const struct cn_acquire_source cn_acquire_source_hf_cache;
extern const struct cn_acquire_source cn_acquire_source_hub;
extern const struct cn_acquire_source cn_acquire_source_registry;

/* Pushes the stored img to o->registry ("<prefix>/<lower-cased name>:<commit>"). */
int cn_acquire_push(const struct cn_model_fetch_opts *o, const struct cn_model_image *img);
