/* SPDX-License-Identifier: Apache-2.0 */
#include "oci/trail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "oci/client.h"

#define TRAIL_BLOCKS 256u /* 1 MiB of tar per step */

static void *trail_thread(void *arg)
{
	struct oci_trail *t = arg;
	_cleanup_free_ uint8_t *buf = malloc((size_t)TRAIL_BLOCKS * CN_VERITY_BLOCK);
	uint8_t dig[TRAIL_BLOCKS * CN_VERITY_DIGEST];
	struct cn_verity_hasher h;
	const struct timespec nap = {.tv_nsec = 2 * 1000 * 1000};

	if (!buf || cn_verity_hasher_init(&h, cn_verity_salt, sizeof(cn_verity_salt)) < 0) {
		t->r = -ENOMEM;
		return NULL;
	}
	while (t->done < t->geo.data_blocks) {
		bool fin = __atomic_load_n(t->finished, __ATOMIC_ACQUIRE);
		uint64_t avail = __atomic_load_n(t->written, __ATOMIC_ACQUIRE) / CN_VERITY_BLOCK;
		uint64_t n;

		if (avail > t->geo.data_blocks)
			avail = t->geo.data_blocks;
		if (avail <= t->done) {
			if (fin) {
				t->r = -EAGAIN; /* the download stopped short */
				break;
			}
			(void)nanosleep(&nap, NULL);
			continue;
		}
		n = CN_MIN(avail - t->done, (uint64_t)TRAIL_BLOCKS);
		if (cn_pread_all(t->tar_fd, buf, (size_t)n * CN_VERITY_BLOCK,
				 t->done * CN_VERITY_BLOCK) < 0) {
			t->r = -EIO;
			break;
		}
		for (uint64_t i = 0; i < n; i++)
			if (cn_verity_hash_block(&h, buf + i * CN_VERITY_BLOCK,
						 dig + i * CN_VERITY_DIGEST) < 0) {
				t->r = -EIO;
				goto out;
			}
		if (t->done == 0)
			memcpy(t->first, dig, CN_VERITY_DIGEST);
		if (t->geo.levels > 0 &&
		    cn_pwrite_all(t->hash_fd, dig, (size_t)n * CN_VERITY_DIGEST,
				  t->geo.level_off[0] + t->done * CN_VERITY_DIGEST) < 0) {
			t->r = -EIO;
			break;
		}
		t->done += n;
	}
out:
	cn_verity_hasher_done(&h);
	return NULL;
}

#define SHA_STEP (4u << 20)

static void *sha_thread(void *arg)
{
	struct oci_trail *t = arg;
	_cleanup_free_ uint8_t *buf = malloc(SHA_STEP);
	const struct timespec nap = {.tv_nsec = 2 * 1000 * 1000};

	if (!buf) {
		t->sha_r = -ENOMEM;
		return NULL;
	}
	while (t->sha_off < t->size) {
		bool fin = __atomic_load_n(t->finished, __ATOMIC_ACQUIRE);
		uint64_t avail = __atomic_load_n(t->written, __ATOMIC_ACQUIRE);
		size_t n;

		if (avail > t->size)
			avail = t->size;
		if (avail <= t->sha_off) {
			if (fin) {
				t->sha_r = -EAGAIN; /* stopped short, or started over */
				break;
			}
			(void)nanosleep(&nap, NULL);
			continue;
		}
		n = (size_t)CN_MIN(avail - t->sha_off, (uint64_t)SHA_STEP);
		if (cn_pread_all(t->tar_fd, buf, n, t->sha_off) < 0 ||
		    EVP_DigestUpdate(t->sha, buf, n) != 1) {
			t->sha_r = -EIO;
			break;
		}
		/* Start the write-back of what was hashed: the final fsync then waits for the tail
		 * only, not for the whole blob. */
		(void)sync_file_range(t->tar_fd, (off64_t)t->sha_off, (off64_t)n,
				      SYNC_FILE_RANGE_WRITE);
		t->sha_off += n;
	}
	return NULL;
}

int oci_trail_sha_start(struct oci_trail *t, EVP_MD_CTX *sha, uint64_t from)
{
	t->sha = sha;
	t->sha_off = from;
	t->sha_r = 0;
	if (pthread_create(&t->sha_thread, NULL, sha_thread, t) != 0)
		return -EAGAIN;
	t->sha_started = true;
	return 0;
}

int oci_trail_sha_finish(struct oci_trail *t)
{
	if (!t->sha_started)
		return -EAGAIN;
	(void)pthread_join(t->sha_thread, NULL);
	t->sha_started = false;
	return t->sha_r < 0 || t->sha_off != t->size ? -EAGAIN : 0;
}

int oci_trail_start(struct oci_trail *t, int dir_fd, int tar_fd, uint64_t tar_size,
		    const uint64_t *written, const bool *finished)
{
	int r;

	*t = (struct oci_trail){.tar_fd = tar_fd,
				.written = written,
				.finished = finished,
				.hash_fd = -1,
				.size = tar_size};
	r = cn_verity_geometry(tar_size / CN_VERITY_BLOCK, &t->geo);
	if (r < 0)
		return r;
	t->hash_fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->hash_fd < 0)
		return -errno; /* no O_TMPFILE here: the caller verifies afterwards instead */
	if (ftruncate(t->hash_fd, (off_t)t->geo.file_size) < 0)
		return -errno;
	if (pthread_create(&t->thread, NULL, trail_thread, t) != 0)
		return -EAGAIN;
	t->started = true;
	return 0;
}

int oci_trail_finish(struct oci_trail *t, char ret_root[65], char ret_digest[72])
{
	struct cn_verity_sb sb = {.salt_size = sizeof(cn_verity_salt)};
	_cleanup_free_ uint8_t *buf = NULL;
	EVP_MD_CTX *sha = NULL;
	uint8_t root[CN_VERITY_DIGEST];
	int r;

	if (!t->started)
		return -EAGAIN;
	(void)pthread_join(t->thread, NULL);
	t->started = false;
	if (t->r < 0 || t->done != t->geo.data_blocks)
		return -EAGAIN;
	memcpy(sb.uuid, cn_verity_uuid, sizeof(sb.uuid));
	memcpy(sb.salt, cn_verity_salt, sizeof(cn_verity_salt));
	sb.data_blocks = t->geo.data_blocks;
	r = cn_verity_finish(t->hash_fd, &t->geo, &sb, t->first, root);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < CN_VERITY_DIGEST; i++)
		(void)snprintf(ret_root + 2 * i, 3, "%02x", root[i]);
	/* The sha256 of the computed hash file, to compare with the verity layer's digest. */
	buf = malloc(1u << 20);
	sha = EVP_MD_CTX_new();
	r = buf && sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
	for (uint64_t off = 0; r >= 0 && off < t->geo.file_size;) {
		size_t n = (size_t)CN_MIN((uint64_t)(1u << 20), t->geo.file_size - off);

		r = cn_pread_all(t->hash_fd, buf, n, off);
		if (r >= 0 && EVP_DigestUpdate(sha, buf, n) != 1)
			r = -EIO;
		off += n;
	}
	if (r >= 0)
		r = oci_sha_hex(sha, ret_digest);
	EVP_MD_CTX_free(sha);
	return r;
}

void oci_trail_done(struct oci_trail *t)
{
	if (t->sha_started) {
		(void)pthread_join(t->sha_thread, NULL);
		t->sha_started = false;
	}
	if (t->started) {
		(void)pthread_join(t->thread, NULL);
		t->started = false;
	}
	if (t->hash_fd >= 0)
		(void)close(t->hash_fd);
	t->hash_fd = -1;
}
