/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Parallel blob transfers (internal to src/oci): one thread per job, errors carried back. */
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

struct oci_client;
struct cn_progress;

struct oci_job {
	struct oci_client *client;
	char *path; /* owned */
	int fd;	    /* owned, -1 if none */
	uint64_t size;
	char digest[72];
	uint64_t chunk;
	struct cn_progress *progress;
	/* push */
	bool present, mounted;
	/* pull */
	EVP_MD_CTX *sha;       /* owned */
	uint64_t off, resumed; /* off: bytes on disk, updated atomically while downloading */
	bool finished;	       /* the download ended (set atomically, success or not) */
	bool restarted;	       /* the server ignored Range once: the blob started over */
	bool sha_trailed;      /* sha is fed by a trailing thread (trail.h), checked after */
	/* result */
	int r;
	char err[1024];
};

/* Records cn_err_msg() of this thread in j->err; returns -abs(r). */
int oci_job_fail(struct oci_job *j, int r);
/* Runs fn on every job in its own thread, joins all; the first failure becomes this thread's
 * cn_err_msg() and the return value. */
int oci_jobs_run(struct oci_job *jobs, unsigned n, void *(*fn)(void *));
void oci_job_done(struct oci_job *j);
