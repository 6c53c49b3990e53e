/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * dm-verity hash device, format 1 (what `veritysetup format` writes), internal to src/model.
 * Layout: superblock (512 bytes) + zero gap to 4096, then the hash levels top level first,
 * level 0 last. Digest of a block = SHA-256(salt || block). See specs/model-image.md §3.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define CN_VERITY_BLOCK 4096u
#define CN_VERITY_DIGEST 32u
#define CN_VERITY_PER_BLOCK (CN_VERITY_BLOCK / CN_VERITY_DIGEST) /* 128 */
#define CN_VERITY_SB_SIZE 512u
#define CN_VERITY_SALT_MAX 256u
#define CN_VERITY_LEVELS_MAX 10u		      /* 128^10 blocks is far beyond any file */
#define CN_VERITY_DATA_BLOCKS_MAX (UINT64_C(1) << 40) /* 4 PiB of data */

/* The reference's fixed parameters (scripts/build-model), fixed in code, not tool defaults. */
extern const uint8_t cn_verity_uuid[16];
extern const uint8_t cn_verity_salt[17];

struct cn_verity_sb {
	uint8_t uuid[16];
	uint8_t salt[CN_VERITY_SALT_MAX];
	uint16_t salt_size;
	uint64_t data_blocks;
};

struct cn_verity_geo {
	uint64_t data_blocks;
	unsigned levels;			     /* 0 iff data_blocks == 1 */
	uint64_t level_blocks[CN_VERITY_LEVELS_MAX]; /* [0] = leaf level */
	uint64_t level_off[CN_VERITY_LEVELS_MAX];    /* byte offset in the hash file */
	uint64_t file_size;			     /* 4096 * (1 + Σ level_blocks) */
};

/* -EINVAL for 0 or too many blocks. */
int cn_verity_geometry(uint64_t data_blocks, struct cn_verity_geo *ret);

/* Encodes the 512-byte superblock (format 1, sha256, 4096/4096). */
void cn_verity_sb_encode(const struct cn_verity_sb *sb, uint8_t out[CN_VERITY_SB_SIZE]);

/*
 * Parses a superblock strictly: signature, version 1, hash type 1, "sha256", 4096/4096, salt size
 * <= 256, zero padding, data blocks within limits. -EBADMSG (field and offset in cn_err_msg()) or
 * -EPROTONOSUPPORT for a well-formed superblock with parameters this tool does not handle.
 */
int cn_verity_sb_parse(const uint8_t *buf, size_t len, struct cn_verity_sb *ret);

/* A salted hasher: one per thread. */
struct cn_verity_hasher {
	EVP_MD_CTX *ctx; /* SHA-256 set once; re-initialized per block without a fetch or copy */
	uint8_t salt[CN_VERITY_SALT_MAX];
	size_t salt_size;
};
int cn_verity_hasher_init(struct cn_verity_hasher *h, const uint8_t *salt, size_t salt_size);
void cn_verity_hasher_done(struct cn_verity_hasher *h);
int cn_verity_hash_block(struct cn_verity_hasher *h, const uint8_t *block,
			 uint8_t out[CN_VERITY_DIGEST]);

/*
 * Hashes nblocks 4 KiB blocks of src_fd starting at src_off into hash blocks written to dst_fd at
 * dst_off (128 digests per block, zero fill), on all cores. Used for the upper levels and for
 * a tar that exists without its hash file. progress may be NULL.
 */
struct cn_progress;
int cn_verity_create_level(int src_fd, uint64_t src_off, uint64_t nblocks, int dst_fd,
			   uint64_t dst_off, const uint8_t *salt, size_t salt_size,
			   struct cn_progress *progress);

/*
 * Completes a hash file whose level 0 (or, for one data block, nothing) is already written:
 * upper levels, superblock and zero gap. first_digest is the digest of data block 0 (used
 * when there is a single data block). Returns the root digest.
 */
int cn_verity_finish(int hash_fd, const struct cn_verity_geo *g, const struct cn_verity_sb *sb,
		     const uint8_t first_digest[CN_VERITY_DIGEST],
		     uint8_t ret_root[CN_VERITY_DIGEST]);

/* Result of a userspace verification (like `veritysetup verify`). */
enum cn_verity_status {
	CN_VERITY_OK = 0,
	CN_VERITY_BAD_ROOT = 1,
	CN_VERITY_CORRUPT = 2,
};

/* Verifies one level: nblocks blocks of src_fd at src_off against the hash blocks of hash_fd at
 * hash_off. *ret_bad with the first failing position in veritysetup's order (block start in the
 * source, or the start of non-zero spare area in the hash file when *ret_spare). */
int cn_verity_verify_level(int src_fd, uint64_t src_off, uint64_t nblocks, int hash_fd,
			   uint64_t hash_off, const uint8_t *salt, size_t salt_size,
			   struct cn_progress *progress, bool *ret_bad, uint64_t *ret_pos,
			   bool *ret_spare);
