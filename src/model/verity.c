/* SPDX-License-Identifier: Apache-2.0 */
/* dm-verity format 1: geometry, superblock, salted block hashing, parallel level creation. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/cursor.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "base/threads.h"
#include "model/verity.h"

const uint8_t cn_verity_uuid[16] = {0x64, 0x5a, 0xc3, 0x1f, 0x76, 0x10, 0x42, 0xe1,
				    0x84, 0x34, 0x9d, 0x73, 0x36, 0x99, 0xea, 0xc0};
/* "00010203040506070809101a1b1c1d1e1f": 17 bytes; 0x10 is followed by 0x1a (spec §3.1). */
const uint8_t cn_verity_salt[17] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				    0x09, 0x10, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static const char verity_signature[8] = {'v', 'e', 'r', 'i', 't', 'y', 0, 0};

int cn_verity_geometry(uint64_t data_blocks, struct cn_verity_geo *ret)
{
	struct cn_verity_geo g = {.data_blocks = data_blocks};
	uint64_t total = 0, off;

	if (data_blocks == 0 || data_blocks > CN_VERITY_DATA_BLOCKS_MAX)
		return cn_err_set(-EINVAL, "verity: %llu data blocks is out of range",
				  (unsigned long long)data_blocks);
	while (((data_blocks - 1) >> (7 * g.levels)) != 0)
		g.levels++;
	for (unsigned i = 0; i < g.levels; i++) {
		uint64_t per = UINT64_C(1) << (7 * (i + 1));

		g.level_blocks[i] = (data_blocks + per - 1) / per;
		total += g.level_blocks[i];
	}
	/* Top level first, right after the superblock block. */
	off = CN_VERITY_BLOCK;
	for (unsigned i = g.levels; i-- > 0;) {
		g.level_off[i] = off;
		off += g.level_blocks[i] * CN_VERITY_BLOCK;
	}
	g.file_size = CN_VERITY_BLOCK * (1 + total);
	*ret = g;
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void cn_verity_sb_encode(const struct cn_verity_sb *sb, uint8_t out[CN_VERITY_SB_SIZE])
{
	memset(out, 0, CN_VERITY_SB_SIZE);
	memcpy(out, verity_signature, 8);
	put_le(out + 8, 1, 4);	/* version */
	put_le(out + 12, 1, 4); /* hash_type */
	memcpy(out + 16, sb->uuid, 16);
	memcpy(out + 32, "sha256", 6);
	put_le(out + 64, CN_VERITY_BLOCK, 4);
	put_le(out + 68, CN_VERITY_BLOCK, 4);
	put_le(out + 72, sb->data_blocks, 8);
	put_le(out + 80, sb->salt_size, 2);
	memcpy(out + 88, sb->salt, sb->salt_size);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool is_pow2_block(uint32_t v)
{
	return v >= 512 && v <= (1u << 20) && (v & (v - 1)) == 0;
}

int cn_verity_sb_parse(const uint8_t *buf, size_t len, struct cn_verity_sb *ret)
{
	struct cn_cursor c = cn_cursor_make(buf, len);
	struct cn_verity_sb sb = {0};
	const uint8_t *sig, *alg, *pad, *salt;
	uint32_t version, hash_type, dbs, hbs;
	uint64_t data_blocks;
	uint16_t salt_size;
	size_t at;

	if (len != CN_VERITY_SB_SIZE)
		return cn_err_set(-EBADMSG, "verity superblock: %zu bytes, expected %u", len,
				  CN_VERITY_SB_SIZE);
	(void)cn_cur_take(&c, 8, &sig);
	if (memcmp(sig, verity_signature, 8) != 0)
		return cn_err_set(
		    -EBADMSG, "verity superblock: field 'signature' at offset 0 is not \"verity\"");
	at = c.pos;
	(void)cn_cur_u32le(&c, &version);
	if (version != 1)
		return cn_err_set(
		    -EPROTONOSUPPORT,
		    "verity superblock: field 'version' at offset %zu is %u, expected 1", at,
		    version);
	at = c.pos;
	(void)cn_cur_u32le(&c, &hash_type);
	if (hash_type > 1)
		return cn_err_set(-EBADMSG,
				  "verity superblock: field 'hash_type' at offset %zu is %u", at,
				  hash_type);
	if (hash_type != 1)
		return cn_err_set(-EPROTONOSUPPORT,
				  "verity superblock: field 'hash_type' at offset %zu is 0 (Chrome "
				  "OS), only 1 is supported",
				  at);
	(void)cn_cur_copy(&c, sb.uuid, 16);
	at = c.pos;
	(void)cn_cur_take(&c, 32, &alg);
	{
		size_t n = strnlen((const char *)alg, 32);

		if (n == 0 || n == 32 || !all_zero(alg + n, 32 - n))
			return cn_err_set(-EBADMSG,
					  "verity superblock: field 'algorithm' at offset %zu is "
					  "not a NUL-padded name",
					  at);
		if (n != 6 || memcmp(alg, "sha256", 6) != 0)
			return cn_err_set(-EPROTONOSUPPORT,
					  "verity superblock: field 'algorithm' at offset %zu is "
					  "'%.*s', only sha256 is supported",
					  at, (int)n, (const char *)alg);
	}
	at = c.pos;
	(void)cn_cur_u32le(&c, &dbs);
	if (dbs != CN_VERITY_BLOCK)
		return cn_err_set(
		    is_pow2_block(dbs) ? -EPROTONOSUPPORT : -EBADMSG,
		    "verity superblock: field 'data_block_size' at offset %zu is %u, expected 4096",
		    at, dbs);
	at = c.pos;
	(void)cn_cur_u32le(&c, &hbs);
	if (hbs != CN_VERITY_BLOCK)
		return cn_err_set(
		    is_pow2_block(hbs) ? -EPROTONOSUPPORT : -EBADMSG,
		    "verity superblock: field 'hash_block_size' at offset %zu is %u, expected 4096",
		    at, hbs);
	at = c.pos;
	(void)cn_cur_u64le(&c, &data_blocks);
	if (data_blocks == 0 || data_blocks > CN_VERITY_DATA_BLOCKS_MAX)
		return cn_err_set(
		    -EBADMSG,
		    "verity superblock: field 'data_blocks' at offset %zu is %llu, out of range",
		    at, (unsigned long long)data_blocks);
	at = c.pos;
	(void)cn_cur_u16le(&c, &salt_size);
	if (salt_size > CN_VERITY_SALT_MAX)
		return cn_err_set(
		    -EBADMSG, "verity superblock: field 'salt_size' at offset %zu is %u, above %u",
		    at, salt_size, CN_VERITY_SALT_MAX);
	at = c.pos;
	(void)cn_cur_take(&c, 6, &pad);
	if (!all_zero(pad, 6))
		return cn_err_set(-EBADMSG, "verity superblock: padding at offset %zu is not zero",
				  at);
	at = c.pos;
	(void)cn_cur_take(&c, CN_VERITY_SALT_MAX, &salt);
	if (!all_zero(salt + salt_size, CN_VERITY_SALT_MAX - salt_size))
		return cn_err_set(
		    -EBADMSG,
		    "verity superblock: bytes after the %u-byte salt at offset %zu are not zero",
		    salt_size, at + salt_size);
	at = c.pos;
	(void)cn_cur_take(&c, 168, &pad);
	if (!all_zero(pad, 168))
		return cn_err_set(-EBADMSG, "verity superblock: padding at offset %zu is not zero",
				  at);
	if (!cn_cur_done(&c))
		return cn_err_set(-EBADMSG, "verity superblock: trailing bytes at offset %zu",
				  c.pos);
	memcpy(sb.salt, salt, salt_size);
	sb.salt_size = salt_size;
	sb.data_blocks = data_blocks;
	*ret = sb;
	return 0;
}

static EVP_MD *sha256_md_;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_md_init(void)
{
	sha256_md_ = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	(void)pthread_once(&sha256_once, sha256_md_init);
	return sha256_md_;
}

int cn_verity_hasher_init(struct cn_verity_hasher *h, const uint8_t *salt, size_t salt_size)
{
	const EVP_MD *md = sha256_md();

	*h = (struct cn_verity_hasher){0};
	if (!md)
		return cn_err_set(-EIO, "OpenSSL has no SHA-256");
	if (salt_size > CN_VERITY_SALT_MAX)
		return cn_err_set(-EINVAL, "salt of %zu bytes", salt_size);
	memcpy(h->salt, salt, salt_size);
	h->salt_size = salt_size;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex2(h->ctx, md, NULL) != 1) {
		cn_verity_hasher_done(h);
		return cn_err_set(-ENOMEM, "cannot set up SHA-256");
	}
	return 0;
}

void cn_verity_hasher_done(struct cn_verity_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	*h = (struct cn_verity_hasher){0};
}

int cn_verity_hash_block(struct cn_verity_hasher *h, const uint8_t *block,
			 uint8_t out[CN_VERITY_DIGEST])
{
	/* hash_type 1: SHA-256(salt || block). Re-init with a NULL type reuses the digest. */
	if (EVP_DigestInit_ex(h->ctx, NULL, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, h->salt, h->salt_size) != 1 ||
	    EVP_DigestUpdate(h->ctx, block, CN_VERITY_BLOCK) != 1 ||
	    EVP_DigestFinal_ex(h->ctx, out, NULL) != 1)
		return cn_err_set(-EIO, "SHA-256 failed");
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Parallel level creation and verification. A task is up to TASK_HB hash blocks. */

#define TASK_HB 8u

struct level_job {
	int src_fd;
	uint64_t src_off;
	uint64_t nblocks;
	int dst_fd;
	uint64_t dst_off;
	const uint8_t *salt;
	size_t salt_size;
	bool verify;
	struct cn_progress *progress;

	uint64_t nhb; /* hash blocks in this level */
	uint64_t ntasks;
	atomic_uint_least64_t next;
	atomic_uint_least64_t bad_hb; /* lowest failing hash block, UINT64_MAX if none */

	pthread_mutex_t lock;
	int err;
	char errmsg[256];
	/* The first failure in veritysetup's order. */
	uint64_t fail_hb;
	uint64_t fail_pos;
	bool fail_spare;
};

static void job_error(struct level_job *j, int r)
{
	(void)pthread_mutex_lock(&j->lock);
	if (!j->err) {
		j->err = r;
		(void)snprintf(j->errmsg, sizeof(j->errmsg), "%s", cn_err_msg());
	}
	(void)pthread_mutex_unlock(&j->lock);
	atomic_store(&j->next, j->ntasks); /* stop handing out tasks */
}

static void job_fail(struct level_job *j, uint64_t hb, uint64_t pos, bool spare)
{
	(void)pthread_mutex_lock(&j->lock);
	if (hb < j->fail_hb) {
		j->fail_hb = hb;
		j->fail_pos = pos;
		j->fail_spare = spare;
		atomic_store(&j->bad_hb, hb);
	}
	(void)pthread_mutex_unlock(&j->lock);
}

static void *level_worker(void *arg)
{
	struct level_job *j = arg;
	struct cn_verity_hasher h;
	uint8_t *src = NULL, *hbuf = NULL, *stored = NULL;
	int r;

	r = cn_verity_hasher_init(&h, j->salt, j->salt_size);
	if (r < 0) {
		job_error(j, r);
		return NULL;
	}
	if (posix_memalign((void **)&src, 4096,
			   (size_t)TASK_HB * CN_VERITY_PER_BLOCK * CN_VERITY_BLOCK) != 0 ||
	    posix_memalign((void **)&hbuf, 4096, (size_t)TASK_HB * CN_VERITY_BLOCK) != 0 ||
	    posix_memalign((void **)&stored, 4096, (size_t)TASK_HB * CN_VERITY_BLOCK) != 0) {
		job_error(j, cn_err_set(-ENOMEM, "out of memory"));
		goto out;
	}
	for (;;) {
		uint64_t t = atomic_fetch_add(&j->next, 1), hb0, hbn, b0, nb;

		if (t >= j->ntasks)
			break;
		hb0 = t * TASK_HB;
		if (j->verify && hb0 > atomic_load(&j->bad_hb))
			continue;
		hbn = CN_MIN((uint64_t)TASK_HB, j->nhb - hb0);
		b0 = hb0 * CN_VERITY_PER_BLOCK;
		nb = CN_MIN(hbn * CN_VERITY_PER_BLOCK, j->nblocks - b0);
		r = cn_pread_all(j->src_fd, src, nb * CN_VERITY_BLOCK,
				 j->src_off + b0 * CN_VERITY_BLOCK);
		if (r < 0) {
			job_error(
			    j, cn_err_set(r, "cannot read %llu bytes at offset %llu: %s",
					  (unsigned long long)(nb * CN_VERITY_BLOCK),
					  (unsigned long long)(j->src_off + b0 * CN_VERITY_BLOCK),
					  strerror(-r)));
			break;
		}
		if (j->verify) {
			r = cn_pread_all(j->dst_fd, stored, hbn * CN_VERITY_BLOCK,
					 j->dst_off + hb0 * CN_VERITY_BLOCK);
			if (r < 0) {
				job_error(
				    j, cn_err_set(
					   r, "cannot read the hash file at offset %llu: %s",
					   (unsigned long long)(j->dst_off + hb0 * CN_VERITY_BLOCK),
					   strerror(-r)));
				break;
			}
		}
		memset(hbuf, 0, hbn * CN_VERITY_BLOCK);
		for (uint64_t i = 0; i < nb; i++) {
			uint8_t *d =
			    hbuf + i * CN_VERITY_DIGEST; /* consecutive digests across blocks */

			r = cn_verity_hash_block(&h, src + i * CN_VERITY_BLOCK, d);
			if (r < 0) {
				job_error(j, r);
				goto out;
			}
			if (j->verify &&
			    memcmp(d, stored + i * CN_VERITY_DIGEST, CN_VERITY_DIGEST) != 0) {
				job_fail(j, hb0 + i / CN_VERITY_PER_BLOCK,
					 j->src_off + (b0 + i) * CN_VERITY_BLOCK, false);
				goto next;
			}
		}
		if (j->verify) {
			/* Only a level's last hash block has spare area after its digests. */
			size_t used = (size_t)nb * CN_VERITY_DIGEST,
			       cap = (size_t)hbn * CN_VERITY_BLOCK;

			if (used < cap && !all_zero(stored + used, cap - used))
				job_fail(j, hb0 + hbn - 1,
					 j->dst_off + hb0 * CN_VERITY_BLOCK + used, true);
		} else {
			r = cn_pwrite_all(j->dst_fd, hbuf, hbn * CN_VERITY_BLOCK,
					  j->dst_off + hb0 * CN_VERITY_BLOCK);
			if (r < 0) {
				job_error(j, cn_err_set(r, "cannot write the hash file: %s",
							strerror(-r)));
				break;
			}
		}
	next:
		if (j->progress)
			cn_progress_add(j->progress, nb * CN_VERITY_BLOCK);
	}
out:
	free(src);
	free(hbuf);
	free(stored);
	cn_verity_hasher_done(&h);
	return NULL;
}

static int run_level(struct level_job *j)
{
	unsigned n = cn_threads();
	pthread_t tids[64];
	unsigned started = 0;

	j->nhb = (j->nblocks + CN_VERITY_PER_BLOCK - 1) / CN_VERITY_PER_BLOCK;
	j->ntasks = (j->nhb + TASK_HB - 1) / TASK_HB;
	atomic_init(&j->next, 0);
	atomic_init(&j->bad_hb, UINT64_MAX);
	j->fail_hb = UINT64_MAX;
	(void)pthread_mutex_init(&j->lock, NULL);
	if (n > j->ntasks)
		n = (unsigned)CN_MAX(j->ntasks, 1);
	for (unsigned i = 1; i < n; i++) {
		if (pthread_create(&tids[started], NULL, level_worker, j) != 0)
			break;
		started++;
	}
	(void)level_worker(j);
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(tids[i], NULL);
	(void)pthread_mutex_destroy(&j->lock);
	if (j->err)
		return cn_err_set(j->err, "%s", j->errmsg);
	return 0;
}

int cn_verity_create_level(int src_fd, uint64_t src_off, uint64_t nblocks, int dst_fd,
			   uint64_t dst_off, const uint8_t *salt, size_t salt_size,
			   struct cn_progress *progress)
{
	struct level_job j = {
	    .src_fd = src_fd,
	    .src_off = src_off,
	    .nblocks = nblocks,
	    .dst_fd = dst_fd,
	    .dst_off = dst_off,
	    .salt = salt,
	    .salt_size = salt_size,
	    .progress = progress,
	};

	return run_level(&j);
}

int cn_verity_verify_level(int src_fd, uint64_t src_off, uint64_t nblocks, int hash_fd,
			   uint64_t hash_off, const uint8_t *salt, size_t salt_size,
			   struct cn_progress *progress, bool *ret_bad, uint64_t *ret_pos,
			   bool *ret_spare)
{
	struct level_job j = {
	    .src_fd = src_fd,
	    .src_off = src_off,
	    .nblocks = nblocks,
	    .dst_fd = hash_fd,
	    .dst_off = hash_off,
	    .salt = salt,
	    .salt_size = salt_size,
	    .progress = progress,
	    .verify = true,
	};
	int r = run_level(&j);

	if (r < 0)
		return r;
	*ret_bad = j.fail_hb != UINT64_MAX;
	*ret_pos = j.fail_pos;
	*ret_spare = j.fail_spare;
	return 0;
}

int cn_verity_finish(int hash_fd, const struct cn_verity_geo *g, const struct cn_verity_sb *sb,
		     const uint8_t first_digest[CN_VERITY_DIGEST],
		     uint8_t ret_root[CN_VERITY_DIGEST])
{
	_cleanup_free_ uint8_t *blk = NULL;
	struct cn_verity_hasher h;
	uint8_t root[CN_VERITY_DIGEST];
	int r;

	for (unsigned i = 1; i < g->levels; i++) {
		r = cn_verity_create_level(hash_fd, g->level_off[i - 1], g->level_blocks[i - 1],
					   hash_fd, g->level_off[i], sb->salt, sb->salt_size, NULL);
		if (r < 0)
			return r;
	}
	blk = calloc(1, CN_VERITY_BLOCK);
	if (!blk)
		return -ENOMEM;
	if (g->levels == 0) {
		memcpy(root, first_digest, CN_VERITY_DIGEST);
	} else {
		r = cn_pread_all(hash_fd, blk, CN_VERITY_BLOCK, g->level_off[g->levels - 1]);
		if (r < 0)
			return cn_err_set(r, "cannot read back the top hash level: %s",
					  strerror(-r));
		r = cn_verity_hasher_init(&h, sb->salt, sb->salt_size);
		if (r < 0)
			return r;
		r = cn_verity_hash_block(&h, blk, root);
		cn_verity_hasher_done(&h);
		if (r < 0)
			return r;
		memset(blk, 0, CN_VERITY_BLOCK);
	}
	/* Superblock plus an explicit zero gap (never inherited from a reused file). */
	cn_verity_sb_encode(sb, blk);
	r = cn_pwrite_all(hash_fd, blk, CN_VERITY_BLOCK, 0);
	if (r < 0)
		return cn_err_set(r, "cannot write the verity superblock: %s", strerror(-r));
	memcpy(ret_root, root, CN_VERITY_DIGEST);
	return 0;
}
