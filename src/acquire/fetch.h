/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A model image by spec, the way `build-model NAME[@REV[:ROOT]]` gets it, for every caller
 * (cocoon model build, cocoon launch): the image store first; then, with a registry prefix and a
 * full spec NAME@COMMIT:ROOTHASH, a pull of exactly that image from the registry (src/oci,
 * verified before it is published; any failure is a note, docs/distribution.md); else a source
 * (source.h) gives a verified snapshot folder that is built into the store:
 *   --from-dir:  the local folder (a commit is required);
 *   offline:     the Hugging Face cache, checked against trees/<commit>.json, else refused as
 *                unverifiable;
 *   online:      the hub: the commit's listing, then the HF cache snapshot if it holds exactly
 *                that listing, else a verified download into a staging folder (removed after).
 * LFS blobs of an HF cache snapshot are read once, by the build's single pass; if one does not
 * match its name, a fresh copy is downloaded (online) instead.
 * With push, the image is then pushed to the registry prefix (cn_acquire_push, the one push of
 * every caller): CN_MODEL_PUSH_BUILT pushes only an image this call built (cocoon launch --push),
 * CN_MODEL_PUSH_STORED also one found in the store (build-model --push). An image this call pulled
 * from the registry is never pushed back.
 */
#include <stdbool.h>

#include "hf/hub.h"
#include "model/model.h"
#include "oci/oci.h"

/* Which image cn_model_fetch() pushes to the registry after it has it. */
enum cn_model_push {
	CN_MODEL_PUSH_NONE = 0,
	CN_MODEL_PUSH_BUILT,  /* an image built by this call (cocoon launch --push) */
	CN_MODEL_PUSH_STORED, /* that, or one found in the image store (build-model --push) */
};

struct cn_model_fetch_opts {
	const struct cn_model_spec *spec; /* borrowed: name, commit or revision, optional root */
	struct cn_model_build_opts
	    build;		 /* images_dir, tar_format, progress, notify/userdata;
				  * name, commit, expected_root and the source are set here */
	struct cn_hub_opts hub;	 /* token, hf_home, offline (or $HF_HUB_OFFLINE), ... */
	bool cache_only;	 /* the image store only (needs a commit) */
	const char *from_dir;	 /* build from this folder (spec->commit required) */
	const char *registry;	 /* registry prefix "host[:port]/path" or NULL (none); the caller
				  * resolves option > config > $COCOON_REGISTRY */
	enum cn_model_push push; /* what to push to registry afterwards (needs registry) */
	struct cn_oci_opts oci;	 /* trust anchors, credentials; notes and progress: build's */
};

/*
 * 0 with *ret filled, or a negative errno with one line in cn_err_msg(). -EKEYREJECTED with
 * ret->name set: the root hash differs from spec->root_hash (a new image is not kept:
 * ret->discarded). -ENOENT: not in the image store (cache_only), or offline without a verifiable
 * cached snapshot. -EINVAL: push without a registry. Notes for the user (a corrupt cache being
 * replaced, the registry pull or push, a stored image not pushed) go to build.notify. A failed
 * push returns its error with *ret filled (the image is in place): the only error other than
 * -EKEYREJECTED with ret->tar_path set.
 */
int cn_model_fetch(const struct cn_model_fetch_opts *o, struct cn_model_image *ret);
