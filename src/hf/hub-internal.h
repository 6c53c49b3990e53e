/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between hub.c (protocol, orchestration) and hub-files.c (download engine, checks). */
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "base/fs.h"
#include "net/http.h"
#include "hf/hub-parse.h"

#define CN_HUB_PARALLEL_DEFAULT 4u
#define CN_HUB_PARALLEL_MAX 16u
#define CN_HUB_RETRIES_DEFAULT 4u
#define CN_HUB_RETRY_AFTER_MAX_S 60L /* a longer Retry-After fails at once, saying so */
#define CN_HUB_BACKOFF_BASE_MS 500u
#define CN_HUB_BACKOFF_MAX_MS 30000u
#define CN_HUB_STALL_RETRIES 1u /* extra attempts after a transfer broke without progress */
#define CN_HUB_PROGRESS_RESET (1u << 20)     /* progress that forgives earlier broken attempts */
#define CN_HUB_MIN_RATE_DEFAULT (64u * 1024) /* the progress floor, bytes/s ... */
#define CN_HUB_RATE_WINDOW_DEFAULT 60u	     /* ... averaged over this many seconds */
#define CN_HUB_SLOW_RETRIES 1u		     /* extra attempts of a file under the floor */

struct hub {
	char *endpoint;	 /* owned, https, no trailing '/' */
	char *token;	 /* owned secret or NULL; erased when freed */
	char *hf_home;	 /* owned */
	char *hub_cache; /* owned: the HF cache folder (cache.h) */
	char *ca_bundle; /* owned or NULL */
	char *repo;	 /* borrowed */
	bool offline;
	bool progress;
	unsigned parallel;
	unsigned retries;
	unsigned min_rate;	 /* bytes/s; 0: no progress floor */
	unsigned rate_window_s;	 /* > 0 */
	struct cn_http_opts api; /* metadata requests: body capped */
	struct cn_http_opts dl;	 /* file downloads: streamed */
};

/* Backoff before attempt number `attempt` (1-based): 0.5 s, 1 s, 2 s ... capped. */
uint64_t cn_hub_backoff_ms(unsigned attempt);
void cn_hub_sleep_ms(uint64_t ms);

/* Digest of a file's content: SHA-256 for LFS files, else the git blob SHA-1 ("blob <size>\0"
 * prefix). cn_hub_algo() names it for messages. */
int cn_hub_digest_start(EVP_MD_CTX *md, const struct cn_hub_file *f);
int cn_hub_digest_fd(EVP_MD_CTX *md, int fd, uint64_t len);
const char *cn_hub_algo(const struct cn_hub_file *f);

/* SHA-256 (LFS) or git blob SHA-1 of fd's content, compared with f; fills hex of the actual digest.
 */
int cn_hub_hash_fd(int fd, const struct cn_hub_file *f, uint8_t actual[32]);

/*
 * Downloads every file of t into staging (created fresh by the caller), verifying each while it
 * streams; resumes partial files kept in parts_dir from an earlier run of the same commit.
 */
int cn_hub_download(struct hub *h, const char *commit, const struct cn_hub_tree *t,
		    const char *parts_dir, const char *out_dir);

/* A repository path with each component URL-escaped. */
char *cn_hub_escape_path(const char *path);
