/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The reference tar (GNU tar --format=posix with the build-model flags), internal to src/model.
 * A stat walk builds a plan (entries in GNU tar's order with every header decided and every
 * offset known); the build pipeline then streams headers and file data. specs/model-image.md §2.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "model/model.h"

#define CN_TAR_BLOCK 512u
#define CN_TAR_RECORD 10240u
#define CN_TAR_ENTRIES_MAX                                                                         \
	200000u		      /* files + dirs + links in one model (keeps the plan < ~64 MiB) */
#define CN_TAR_PATH_MAX 4095u /* bytes of a member name */
#define CN_TAR_DEPTH_MAX 128u
#define CN_TAR_HDR_MAX 16384u		    /* pax header + records + ustar header of one entry */
#define CN_TAR_SIZE_MAX (UINT64_C(1) << 46) /* 64 TiB per file */
#define CN_TAR_LINK_HOPS_MAX 40u	    /* symlinks followed resolving one target (Linux) */

enum cn_tar_type {
	CN_TAR_REG = '0',
	CN_TAR_HARDLINK = '1',
	CN_TAR_SYMLINK = '2',
	CN_TAR_DIR = '5',
};

struct cn_tar_entry {
	char *name;    /* "./rel" (directories end in '/'), raw bytes */
	char *rel;     /* path relative to the root ("" for the root), for openat() */
	char *src;     /* absolute path to read (HF cache blob) or NULL: open rel */
	char *link;    /* symlink target, or "./first" of a hardlink; NULL otherwise */
	uint64_t size; /* data bytes (CN_TAR_REG only) */
	uint32_t mode; /* header mode (go+u,go-w applied) */
	char type;     /* enum cn_tar_type */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	struct timespec ctime;	/* change detection only (as GNU tar) */
	uint64_t off;		/* offset of the entry's first header in the tar */
	uint32_t hdr_len;	/* bytes of headers before the data */
	uint8_t sha256[32];	/* filled by the build for CN_TAR_REG */
	bool has_lfs_sha256;	/* HF cache blob named by a SHA-256 (an LFS file) */
	uint8_t lfs_sha256[32]; /* ... that the content must have */
};

struct cn_tar_plan {
	struct cn_tar_entry *e;
	size_t n;
	size_t cap;
	enum cn_tar_format format;
	uint64_t tar_size;    /* GNU tar's output: records of 10240 */
	uint64_t padded_size; /* + the reference's 4096 - size % 4096 zero bytes (never 0) */
	uint64_t data_bytes;  /* Σ file sizes */
	uint64_t nfiles;      /* regular files */
};

/*
 * Walks root_dir (following only root_dir itself). With hf_cache, symlinks must resolve into the
 * repository's blobs/ folder and become regular files of mode 0644. Rejects special files,
 * symlinks that leave the tree, pre-1970 mtimes and anything over the caps, with -EINVAL and the
 * path in cn_err_msg().
 */
int cn_tar_plan_scan(const char *root_dir, bool hf_cache, enum cn_tar_format format,
		     struct cn_tar_plan *ret);
void cn_tar_plan_done(struct cn_tar_plan *p);

/*
 * Resolves every symlink target of a scanned plan component by component through the plan's own
 * symlinks, touching no file. -EINVAL naming the link when a target leaves the root at any step,
 * loops, or needs more than CN_TAR_LINK_HOPS_MAX links; -E2BIG when the tree as a whole needs
 * too much work. cn_tar_plan_scan() calls it (outside HF cache mode).
 */
int cn_tar_plan_check_links(const struct cn_tar_plan *p);

/* Writes the headers of e (pax 'x' block if needed, then the ustar header) into buf; returns
 * their length (== e->hdr_len). buf holds CN_TAR_HDR_MAX bytes. */
size_t cn_tar_entry_headers(const struct cn_tar_plan *p, const struct cn_tar_entry *e,
			    uint8_t *buf);

/* The reference padding: total bytes of tar + padding for a tar of tar_size bytes. */
uint64_t cn_tar_padded_size(uint64_t tar_size);
