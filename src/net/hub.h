/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Hugging Face hub client (libcurl): resolves a revision to a commit and downloads a verified
 * snapshot into a fresh staging folder. Implemented in src/net/ (issue: build-model by name).
 */
#include <stdbool.h>

struct cn_hub_opts {
	const char *endpoint;   /* NULL: $HF_ENDPOINT, else https://huggingface.co */
	const char *token;      /* NULL: $HF_TOKEN, else $HF_HOME/token; never logged */
	const char *hf_home;    /* NULL: $HF_HOME, else ~/.cache/huggingface */
	bool offline;           /* HF_HUB_OFFLINE=1: only a complete HF cache snapshot */
	bool progress;          /* per-file and total progress on a TTY */
	unsigned parallel;      /* concurrent downloads; 0 = default */
};

/*
 * Resolves repo@revision (revision NULL = "main", or a 40-hex commit) and makes a complete,
 * verified snapshot available: a complete HF cache snapshot for that commit when one exists
 * (*ret_is_hf_cache = true), else a fresh staging folder under staging_root.
 * ret_commit: the 40-hex commit. ret_dir: the folder to build from (caller owns both).
 */
int cn_hub_snapshot(const struct cn_hub_opts *o, const char *repo, const char *revision,
		    const char *staging_root, char **ret_commit, char **ret_dir, bool *ret_is_hf_cache);
