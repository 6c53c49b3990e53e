/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * OCSP for the device chain and the RIM signing chains (spec §3.6), stricter than NVIDIA's tools:
 * SHA-384 CertIDs, a 32-byte nonce that must be echoed, the response signature and responder
 * chain verified to the chain's trust anchor at the verification time, and the
 * thisUpdate/nextUpdate window checked.
 *
 * Responses come from a source. Today: a directory of DER responses (`--ocsp-dir`, as an
 * `openssl ocsp` responder or a cache writes them, any file names ending in .der/.ocsp/.resp).
 * The network fetcher of a later issue implements the same callback: it gets the DER request
 * built here and POSTs it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "base/cleanup.h"

#define CN_OCSP_NONCE_LEN 32
#define CN_OCSP_RESPONSE_MAX (64u * 1024)
#define CN_OCSP_DIR_FILES_MAX 512u
#define CN_OCSP_LEEWAY_S 300	/* clock skew allowed around thisUpdate/nextUpdate */
#define CN_OCSP_MAX_AGE_S 86400 /* age limit of a response without nextUpdate */

/* Where an OCSP answer came from: freshness rules differ (issue 12). */
enum cn_ocsp_origin {
	CN_OCSP_ORIGIN_LIVE = 0, /* fetched from a responder in this run, for this request */
	CN_OCSP_ORIGIN_STORED,	 /* recorded earlier: a cache, --ocsp-dir, a bundle */
};

struct cn_ocsp_source {
	/*
	 * Returns 0 and a response (caller frees) for the request, -ENOENT when the source has
	 * none, another negative errno (with cn_err_set) when it failed. req_der is the encoded
	 * request (for a network source); id is its CertID (for a lookup in stored responses).
	 * *ret_origin says whether the answer was fetched live with this request's nonce or came
	 * from storage.
	 */
	int (*fetch)(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
		     const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret,
		     enum cn_ocsp_origin *ret_origin);
	void *userdata;
};

/*
 * Builds the request for cert issued by issuer: one SHA-384 CertID and a 32-byte nonce
 * extension (id-pkix-ocsp-nonce). *ret_id is a copy of the CertID (caller frees); *ret_der
 * (optional) the DER encoding.
 */
int cn_ocsp_request_build(X509 *cert, X509 *issuer, const uint8_t nonce[CN_OCSP_NONCE_LEN],
			  OCSP_REQUEST **ret_req, OCSP_CERTID **ret_id, uint8_t **ret_der,
			  size_t *ret_len);

/* The directory source: loads every response file of dir once (caps above). */
struct cn_ocsp_dir;
int cn_ocsp_dir_open(const char *dir, struct cn_ocsp_dir **ret);
void cn_ocsp_dir_free(struct cn_ocsp_dir *d);
CN_DEFINE_CLEANUP(struct cn_ocsp_dir *, cn_ocsp_dir_free)
struct cn_ocsp_source cn_ocsp_dir_source(struct cn_ocsp_dir *d);

/* Outcome for a whole chain: the claim values of the cert-chain object. */
struct cn_ocsp_result {
	bool checked;	    /* false: OCSP off (all claims null) */
	const char *status; /* "good" | "revoked" | "unknown" | NULL (missing/invalid response) */
	const char *revocation_reason; /* NULL or "certificateHold", "keyCompromise", ... */
	bool nonce_match;	       /* every response echoed our nonce */
	bool
	    response_valid; /* every response present, successful, signed by an authorized
			     * responder chaining to the anchor, covering the cert, in its window */
	bool stored;	    /* some answer came from storage (CN_OCSP_ORIGIN_STORED) */
	char failure[320];  /* most severe problem: revoked, unknown, then the first other */
	int failed_cert;    /* chain index of the first problem, -1 */
};

/*
 * Checks chain[first..last] (each against issuer chain[i+1]); the anchor is the trusted root
 * for the responder chains. now = verification clock. Fills *res; returns < 0 only for internal
 * errors (ENOMEM) or a source failure other than -ENOENT (I/O).
 */
int cn_ocsp_check_chain(STACK_OF(X509) * chain, int first, int last, X509 *anchor,
			const uint8_t nonce[CN_OCSP_NONCE_LEN], time_t now,
			const struct cn_ocsp_source *src, struct cn_ocsp_result *res);

/* Parses one DER response (fuzz target, directory loader). */
int cn_ocsp_response_parse(const uint8_t *buf, size_t len, OCSP_RESPONSE **ret);
