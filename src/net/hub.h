/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Hugging Face hub client (libcurl): resolves a revision to a commit and downloads a verified
 * snapshot into a fresh staging folder. Implemented in src/net/ (issue: build-model by name).
 */
#include <stdbool.h>

struct cn_hub_opts {
	const char *endpoint; /* NULL: $HF_ENDPOINT, else https://huggingface.co */
	const char *token;    /* NULL: $HF_TOKEN, else $HF_HOME/token; never logged */
	const char *hf_home;  /* NULL: $HF_HOME, else ~/.cache/huggingface */
	bool offline;	      /* HF_HUB_OFFLINE=1: only a complete HF cache snapshot */
	bool progress;	      /* per-file and total progress on a TTY */
	unsigned parallel;    /* concurrent downloads; 0 = default (4), at most 16 */
	/* Fields added with the implementation (issue 3): */
	const char *
	    ca_bundle; /* trust anchors (PEM file); NULL: $REQUESTS_CA_BUNDLE, else $CURL_CA_BUNDLE,
			* else the system store. Verification is never switched off. */
	unsigned timeout_s; /* connect timeout and stall (< 1 byte/s) timeout; 0:
			       $HF_HUB_DOWNLOAD_TIMEOUT, else 10 */
	unsigned retries;   /* retries of 429/5xx and of broken transfers; 0: 4 */
	bool no_hf_cache;   /* never use the HF cache snapshot (it failed the build's check) */
};

/*
 * Errors (0 or a negative errno; one line in cn_err_msg()):
 *  -EINVAL bad repo id, revision, endpoint or token file; -ENOENT repository, revision or file not
 *  found (404), or offline without a cached snapshot; -EACCES 401/403 (the message says which, and
 *  whether the repository is gated); -EBUSY rate limited (429) after the retries; -ETIMEDOUT
 *  network timeout; -EKEYREJECTED a file's size or hash differs from the listing twice (the message
 *  names the file and both hashes), or TLS trust failed; -EBADMSG malformed hub response or unsafe
 *  repository path; -ENOSPC disk full; -EIO other transfer failures.
 * Nothing is written under staging_root before the whole listing has been validated.
 *
 * Resolves repo@revision (revision NULL = "main", or a 40-hex commit) and makes a complete,
 * verified snapshot available: a complete HF cache snapshot for that commit when one exists
 * (*ret_is_hf_cache = true; its LFS blobs are then checked by name and size only, their content
 * by the image build's pass), else a fresh staging folder under staging_root.
 * ret_commit: the 40-hex commit. ret_dir: the folder to build from (caller owns both).
 */
int cn_hub_snapshot(const struct cn_hub_opts *o, const char *repo, const char *revision,
		    const char *staging_root, char **ret_commit, char **ret_dir,
		    bool *ret_is_hf_cache);

/*
 * Checks a Hugging Face cache snapshot folder without the network, for callers that found one
 * themselves: every file must be a symlink into blobs/ whose name is the SHA-256 (LFS) or git
 * blob SHA-1 of its content. Git-blob files are hashed here (on o->parallel threads); LFS blobs
 * are hashed once, by the image build's single pass (cn_model_build() with hf_cache_snapshot),
 * which fails with -EKEYREJECTED naming the file if the content does not match the name.
 * The HF client does not check downloads; a corrupt blob in the cache must not reach an image.
 * 0, or -EKEYREJECTED naming the file and both hashes, -EBADMSG for a file that is not such a
 * link, -ENOENT for an empty snapshot.
 */
int cn_hub_cache_check(const struct cn_hub_opts *o, const char *dir);

/* The Hugging Face home: o->hf_home, else $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
 * ~/.cache/huggingface (as the official client). Caller frees *ret. */
int cn_hub_hf_home(const struct cn_hub_opts *o, char **ret);
