/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* One registry request (internal to src/oci). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "oci/client.h"

struct cn_progress;

struct oci_req {
	const char *method; /* GET HEAD POST PUT PATCH */
	const char *url;
	const char *what; /* for messages: "blob sha256:..", "manifest 'tag'" */
	const char *accept, *content_type;
	char content_range[64];
	/* PUT/PATCH body: src_mem, else src_len bytes of src_fd from src_off */
	const void *src_mem;
	int src_fd;
	uint64_t src_off, src_len;
	/* GET into a file: dst_fd >= 0 (else into resp->body, capped at body_max) */
	int dst_fd;
	uint64_t *dst_off; /* resumes with Range when > 0 */
	uint64_t dst_max;
	EVP_MD_CTX *sha; /* NULL: not hashed here (a trailing thread does it) */
	bool *restarted; /* set when the server ignored Range and the blob started over */
	size_t body_max;
	struct cn_progress *progress;
	bool follow;		 /* follow redirects (blob GETs) */
	bool no_auth;		 /* never send the registry credentials (token endpoint) */
	const char *user, *pass; /* token endpoint: Basic credentials */
};

struct oci_resp {
	long status;
	char *location, *digest, *www_auth; /* owned */
	uint8_t *body;			    /* owned, NUL-terminated */
	size_t len;
};
void oci_resp_done(struct oci_resp *r);

/* 0 when a response arrived (any status but a 401 that auth could not cure). */
int oci_request(struct oci_client *c, struct oci_req *q, struct oci_resp *ret);
/* The error for an unexpected status: -EACCES, -ENOENT or -EIO naming the registry. */
int oci_status_error(struct oci_client *c, const struct oci_req *q, const struct oci_resp *resp);
