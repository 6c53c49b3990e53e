/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verity tree of the tar, computed while it downloads (internal to src/oci): a thread trails
 * the writer, reading each 4 KiB block back from the page cache right after it lands and
 * writing its salted digest into a hash file of its own; once the download ends, the upper
 * levels and the root follow (model/verity, the code `model build` uses). The pull then needs
 * no second pass over the tar. If the server ever restarted a blob from byte 0 (it ignored
 * Range), the result is not used and the pull falls back to a full verification pass.
 * A second thread feeds the tar blob's SHA-256 the same way, so the receiving thread only
 * decrypts and writes (the two hash passes and the transfer overlap on separate cores).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "model/verity.h"

struct oci_trail {
	int tar_fd;		 /* borrowed */
	const uint64_t *written; /* bytes of the tar on disk (read atomically) */
	const bool *finished;	 /* the download ended (read atomically) */
	int hash_fd;		 /* owned: unnamed file with the computed hash tree */
	struct cn_verity_geo geo;
	uint8_t first[CN_VERITY_DIGEST];
	uint64_t done; /* blocks hashed */
	int r;
	char err[512];
	pthread_t thread;
	bool started;
	/* the trailing SHA-256 of the blob */
	EVP_MD_CTX *sha;  /* borrowed; holds the first sha_off bytes already */
	uint64_t sha_off; /* bytes fed so far */
	uint64_t size;	  /* the tar's size */
	int sha_r;
	pthread_t sha_thread;
	bool sha_started;
};

/* Creates the hash file in dir_fd and starts the thread. */
int oci_trail_start(struct oci_trail *t, int dir_fd, int tar_fd, uint64_t tar_size,
		    const uint64_t *written, const bool *finished);
/* Starts the second thread: feeds sha (which holds the first `from` bytes) up to the tar's
 * size. 0, or a negative errno (no thread: the caller hashes as it receives). */
int oci_trail_sha_start(struct oci_trail *t, EVP_MD_CTX *sha, uint64_t from);
/* Joins it: 0 when sha holds the whole tar, -EAGAIN when it did not get through. */
int oci_trail_sha_finish(struct oci_trail *t);
/*
 * Joins the thread; when every block was hashed, finishes the tree and gives its root (hex) and
 * the sha256 of the whole hash file ("sha256:<hex>"). -EAGAIN when the thread did not get
 * through (the caller verifies the classic way).
 */
int oci_trail_finish(struct oci_trail *t, char ret_root[65], char ret_digest[72]);
void oci_trail_done(struct oci_trail *t);
