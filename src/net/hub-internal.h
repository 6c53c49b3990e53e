/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between hub.c (protocol, orchestration) and hub-files.c (download engine, checks). */
#include <stdbool.h>
#include <stdint.h>

#include "base/fs.h"
#include "net/http.h"
#include "net/hub-parse.h"

#define CN_HUB_PARALLEL_DEFAULT 4u
#define CN_HUB_PARALLEL_MAX 16u
#define CN_HUB_RETRIES_DEFAULT 4u
#define CN_HUB_RETRY_AFTER_MAX_S 60L /* a longer Retry-After fails at once, saying so */
#define CN_HUB_BACKOFF_BASE_MS 500u
#define CN_HUB_BACKOFF_MAX_MS 30000u
#define CN_HUB_STALL_RETRIES 1u /* extra attempts after a transfer broke without progress */
#define CN_HUB_PROGRESS_RESET (1u << 20) /* progress that forgives earlier broken attempts */

struct hub {
	char *endpoint;	 /* owned, https, no trailing '/' */
	char *token;	 /* owned secret or NULL; erased when freed */
	char *hf_home;	 /* owned */
	char *ca_bundle; /* owned or NULL */
	char *repo;	 /* borrowed */
	bool offline;
	bool progress;
	unsigned parallel;
	unsigned retries;
	struct cn_http_opts api; /* metadata requests: body capped */
	struct cn_http_opts dl;	 /* file downloads: streamed */
};

/* Backoff before attempt number `attempt` (1-based): 0.5 s, 1 s, 2 s ... capped. */
uint64_t cn_hub_backoff_ms(unsigned attempt);
void cn_hub_sleep_ms(uint64_t ms);

/* SHA-256 (LFS) or git blob SHA-1 of fd's content, compared with f; fills hex of the actual digest.
 */
int cn_hub_hash_fd(int fd, const struct cn_hub_file *f, uint8_t actual[32]);

/*
 * Checks that dir holds exactly the files of t (no other file, no empty directory, every size
 * and digest right), hashing with up to `threads` threads. Symlinks are followed (HF cache
 * snapshots). An HF cache link to blobs/<the listing's LFS SHA-256> is checked by name and size
 * only: its content is checked by the image build's single pass, which fails on a mismatch, so a
 * model is read once. -EKEYREJECTED / -ENOENT / -EBADMSG naming the first difference.
 */
int cn_hub_dir_verify(const char *dir, const struct cn_hub_tree *t, unsigned threads,
		      bool progress);

/*
 * Offline check of an HF cache snapshot: every entry is a symlink into blobs/ whose name is its
 * digest (64 hex: SHA-256, 40 hex: git blob SHA-1). Git-blob files are hashed here; SHA-256
 * (LFS) blobs are left to the image build's single pass, as in cn_hub_dir_verify().
 */
int cn_hub_cache_verify_offline(const char *dir, unsigned threads, bool progress);

/*
 * Downloads every file of t into staging (created fresh by the caller), verifying each while it
 * streams; resumes partial files kept in parts_dir from an earlier run of the same commit.
 */
int cn_hub_download(struct hub *h, const char *commit, const struct cn_hub_tree *t,
		    const char *parts_dir, const char *out_dir);

/* A repository path with each component URL-escaped. */
char *cn_hub_escape_path(const char *path);
