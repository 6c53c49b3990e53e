/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The registry client internal to src/oci: one per (registry, repository), shared by the
 * transfer threads (the auth state is under a mutex). Every request goes through net/http's
 * rule-applied libcurl handles (https only, verification on, timeouts), answers 401 once by
 * authenticating (Basic from the Docker config, or the Bearer realm flow) and retries.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "oci/oci.h"

struct cn_progress;

struct oci_client {
	struct cn_oci_ref ref;
	char *ca_bundle;   /* owned or NULL */
	char *user, *pass; /* owned: credentials for ref.host from the Docker config, or NULL */
	char *config_path; /* owned: the Docker config consulted (for messages) */
	char *cred_from;   /* owned: "'PATH'" or "docker-credential-NAME (...)", for messages */
	bool push;	   /* bearer scope: pull,push */
	char *mount_from;  /* owned or NULL: also asks pull on this repository */
	uint64_t max_rate;
	pthread_mutex_t lock; /* guards mode and token */
	int mode;	      /* 0 anonymous, 1 basic, 2 bearer */
	char *token;
};

int oci_client_init(struct oci_client *c, const struct cn_oci_opts *o, const struct cn_oci_ref *ref,
		    bool push);
void oci_client_done(struct oci_client *c);

/* HEAD a blob: *ret_exists. */
int oci_blob_exists(struct oci_client *c, const char *digest, bool *ret_exists);
/*
 * Uploads size bytes of fd (from offset 0) as digest: cross-repository mount from c->mount_from
 * first when set (*ret_mounted), else a monolithic PUT or PATCH chunks of chunk_size.
 */
int oci_blob_upload(struct oci_client *c, const char *digest, int fd, uint64_t size,
		    uint64_t chunk_size, struct cn_progress *progress, bool *ret_mounted);
int oci_blob_upload_mem(struct oci_client *c, const char *digest, const void *buf, size_t len);
/* PUT a manifest under tag; ret_digest gets the registry's Docker-Content-Digest (may be ""). */
int oci_manifest_put(struct oci_client *c, const char *tag, const char *body, char ret_digest[72]);
/* GET the manifest of tag_or_digest (capped at CN_OCI_MANIFEST_MAX). */
int oci_manifest_get(struct oci_client *c, const char *tag_or_digest, uint8_t **ret,
		     size_t *ret_len);
/* GET a small blob into memory, checked against digest and size. */
int oci_blob_get_mem(struct oci_client *c, const char *digest, uint64_t size, uint8_t **ret);
/*
 * GET a blob into fd from offset *off (the first *off bytes are already in fd and in sha),
 * hashing as it streams; resumes with Range after a broken connection. On return *off = size and
 * sha holds the digest of the whole blob (the caller compares it).
 */
int oci_blob_get_fd(struct oci_client *c, const char *digest, uint64_t size, int fd, uint64_t *off,
		    EVP_MD_CTX *sha, bool *restarted, struct cn_progress *progress);

/* "sha256:<hex>" of an EVP context (finalizes a copy). */
int oci_sha_hex(EVP_MD_CTX *sha, char ret[72]);
