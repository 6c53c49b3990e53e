/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A strict index of the model tar (the format `cocoon model build` writes: GNU tar posix,
 * specs/model-image.md §2), built from the headers only. The tar is untrusted until dm-verity
 * has checked it, so the parser checks every field and caps everything; file data is never
 * read here. Entries: regular files, directories, symlinks and hardlinks (to an earlier
 * regular file); pax records path, linkpath, size and mtime. Anything else is rejected with
 * -EBADMSG naming the field and the offset (cn_err_msg()).
 */
#include <stddef.h>
#include <stdint.h>

#define CN_TARIDX_ENTRIES_MAX 200000u /* = the writer's cap */
#define CN_TARIDX_PATH_MAX 4095u
#define CN_TARIDX_NAME_MAX 255u /* one path component */
#define CN_TARIDX_DEPTH_MAX 128u
#define CN_TARIDX_PAX_MAX 16384u

/* Reads exactly len bytes at off (0, or a negative errno; -EIO when short). */
typedef int (*cn_taridx_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);

struct cn_taridx_node {
	uint64_t data_off; /* regular file: byte offset of its data in the tar */
	uint64_t size;	   /* regular file: bytes; symlink: target length; else 0 */
	int64_t mtime;
	uint32_t mode;	      /* S_IFREG/S_IFDIR/S_IFLNK | permission bits (0777 at most) */
	uint32_t parent;      /* node index (root: 0) */
	uint32_t child_first; /* index into children[] of the first child (directories) */
	uint32_t child_count;
	uint32_t name_off; /* base name in names[] (root: empty) */
	uint32_t name_len;
	uint32_t link_off; /* symlink target in names[] */
	uint32_t target;   /* the node presented for this entry (a hardlink's file; else itself) */
	uint32_t nlink;
};

struct cn_taridx {
	struct cn_taridx_node *nodes; /* nodes[0] is the root "./" */
	uint32_t n;
	uint32_t *children; /* per directory, its children sorted by name (byte order) */
	char *names;	    /* base names and symlink targets */
	size_t names_len;
	uint64_t end;	 /* offset just after the end-of-archive blocks */
	uint64_t nfiles; /* regular files */
	uint64_t data_bytes;
};

/* Parses the tar of dev_size bytes read through rd. */
int cn_taridx_build(cn_taridx_read_fn rd, void *ctx, uint64_t dev_size, struct cn_taridx **ret);
/* The same over a memory buffer (tests, fuzzing). */
int cn_taridx_build_mem(const uint8_t *buf, size_t len, struct cn_taridx **ret);
void cn_taridx_free(struct cn_taridx *idx);

/* The child of directory dir named name[0..len), or -ENOENT / -ENOTDIR. */
int cn_taridx_lookup(const struct cn_taridx *idx, uint32_t dir, const char *name, size_t len,
		     uint32_t *ret);
/* Resolves a relative path "a/b/c" from the root (no symlinks followed). */
int cn_taridx_resolve(const struct cn_taridx *idx, const char *path, uint32_t *ret);
