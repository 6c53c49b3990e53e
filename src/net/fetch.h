/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A model image by spec, the way `build-model NAME[@REV[:ROOT]]` gets it, for every caller
 * (cocoon model build, cocoon launch): the image cache; else a Hugging Face cache snapshot (for a
 * pinned commit, or offline); else the hub (a verified staging copy, removed after the build).
 * LFS blobs of an HF cache snapshot are read once, by the build's single pass; if one does not
 * match its name, a fresh copy is downloaded (online) instead.
 */
#include <stdbool.h>

#include "model/model.h"
#include "net/hub.h"

struct cn_model_fetch_opts {
	const struct cn_model_spec *spec; /* borrowed: name, commit or revision, optional root */
	struct cn_model_build_opts
	    build;		/* images_dir, tar_format, progress, notify/userdata;
				 * name, commit, expected_root and the source are set here */
	struct cn_hub_opts hub; /* token, hf_home, offline (or $HF_HUB_OFFLINE), ... */
	bool cache_only;	/* the image cache only (needs a commit) */
};

/*
 * 0 with *ret filled, or a negative errno with one line in cn_err_msg(). -EKEYREJECTED with
 * ret->name set: the root hash differs from spec->root_hash (outputs kept, as the reference).
 * -ENOENT: not in the image cache (cache_only), or offline without a cached snapshot.
 * Notes for the user (a corrupt cache being replaced) go to build.notify.
 */
int cn_model_fetch(const struct cn_model_fetch_opts *o, struct cn_model_image *ret);
