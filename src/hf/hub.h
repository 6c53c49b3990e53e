/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Hugging Face hub client (libcurl): resolves a revision to a commit and downloads a verified
 * snapshot into a fresh staging folder. Implemented in src/hf/. The HF cache itself: hf/cache.h.
 */
#include <stdbool.h>

#include "hf/hub-parse.h"

struct cn_hub_opts {
	const char *endpoint; /* NULL: $HF_ENDPOINT, else https://huggingface.co */
	const char *token;    /* NULL: $HF_TOKEN, else $HF_HOME/token; never logged */
	const char
	    *hf_home;  /* NULL: the environment (hf/cache.h); given: <hf_home>/hub is the cache */
	bool offline;  /* or HF_HUB_OFFLINE: the hub is not contacted (-ENOENT) */
	bool progress; /* per-file and total progress on a TTY */
	unsigned parallel; /* concurrent downloads; 0 = default (4), at most 16 */
	/* Fields added with the implementation (issue 3): */
	const char *
	    ca_bundle; /* trust anchors (PEM file); NULL: $REQUESTS_CA_BUNDLE, else $CURL_CA_BUNDLE,
			* else the system store. Verification is never switched off. */
	unsigned timeout_s; /* connect timeout and stall (< 1 byte/s) timeout; 0:
			       $HF_HUB_DOWNLOAD_TIMEOUT, else 10 */
	unsigned retries;   /* retries of 429/5xx and of broken transfers; 0: 4 */
	bool no_hf_cache;   /* never use the HF cache snapshot (it failed the build's check) */
	/* The progress floor of file downloads: a try averaging under min_rate bytes/s over
	 * rate_window_s seconds is aborted and retried once after a backoff, then the download
	 * fails naming the file and its URL. 0: $COCOON_HF_MIN_RATE (0 there switches the floor
	 * off), else 64 KiB/s; $COCOON_HF_RATE_WINDOW, else 60 s. A stalled model download thus
	 * ends in about 2 minutes. */
	unsigned min_rate;
	unsigned rate_window_s;
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
 * verified snapshot available: an HF cache snapshot for that commit when it holds exactly the
 * hub's listing (*ret_is_hf_cache = true; LFS blobs that are plain files named by the listed
 * SHA-256 are checked by size here and by content in the image build's single pass; every other
 * file is hashed here), else a fresh staging folder under staging_root.
 * ret_commit: the 40-hex commit. ret_dir: the folder to build from (caller owns both).
 */
int cn_hub_snapshot(const struct cn_hub_opts *o, const char *repo, const char *revision,
		    const char *staging_root, char **ret_commit, char **ret_dir,
		    bool *ret_is_hf_cache);

/*
 * Checks that dir holds exactly the files of t (no other file, no empty directory, every size
 * and digest right), hashing with up to `threads` threads. Symlinks are followed (HF cache
 * snapshots). An HF cache link to blobs/<the listing's LFS SHA-256> is checked by name and size
 * only: its content is checked by the image build's single pass, which fails on a mismatch, so a
 * model is read once. -EKEYREJECTED / -ENOENT / -EBADMSG naming the first difference.
 */
int cn_hub_dir_verify(const char *dir, const struct cn_hub_tree *t, unsigned threads,
		      bool progress);
