/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The Hugging Face cache: the one owner of its layout, its location and the offline rule.
 *
 * Layout, as huggingface_hub writes it, under the hub cache folder:
 *   models--ORG--NAME/blobs/<sha256 or git blob sha1>     the contents
 *   models--ORG--NAME/refs/<branch or tag>                40 hex, no newline
 *   models--ORG--NAME/snapshots/<commit>/<path>           relative symlinks ../../blobs/<digest>
 *                                                         (copies where symlinks failed)
 *   models--ORG--NAME/trees/<commit>.json                 where the client left one: the hub's
 *                                                         recursive tree listing of the commit
 *
 * The hub cache folder: the caller's hf_home + "/hub" when given, else the first set of
 * $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
 * ~/.cache/huggingface/hub (huggingface_hub's precedence).
 * A cached snapshot is only a candidate: what makes it usable is a check of its bytes against
 * the hub's listing for the commit (online) or trees/<commit>.json (offline).
 * All int-returning functions: 0 or a negative errno, details in cn_err_msg().
 */
#include <stdbool.h>

struct cn_hub_tree;

/* The Hugging Face home (token file): hf_home, else $HF_HOME, else $XDG_CACHE_HOME/huggingface,
 * else ~/.cache/huggingface. */
int cn_hf_home(const char *hf_home, char **ret);

/* The hub cache folder (precedence above). */
int cn_hf_hub_cache(const char *hf_home, char **ret);

/*
 * The offline rule, parsed in one place: opt, or $HF_HUB_OFFLINE as a boolean (1/0, true/false,
 * yes/no, on/off). -EINVAL naming the variable for another value.
 */
int cn_hf_offline(bool opt, bool *ret);

/* <hub_cache>/models--ORG--NAME for a validated repository id. */
int cn_hf_cache_repo_dir(const char *hub_cache, const char *repo, char **ret);

/*
 * Finds the snapshot folder of repo at revision (NULL: "main"; a branch or tag through
 * refs/<revision>; a 40-hex commit as is). ret_commit may be NULL. -ENOENT when absent,
 * -EBADMSG for a ref that does not hold a commit.
 */
int cn_hf_cache_resolve(const char *hub_cache, const char *repo, const char *revision,
			char **ret_commit, char **ret_dir);

/*
 * The tree listing huggingface_hub left for commit (trees/<commit>.json, parsed as strictly
 * as the hub's own listing). -ENOENT when there is none.
 */
int cn_hf_cache_tree(const char *hub_cache, const char *repo, const char *commit,
		     struct cn_hub_tree *ret);
