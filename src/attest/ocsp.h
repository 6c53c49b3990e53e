/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * OCSP for the device chain and the RIM signing chains (spec §3.6), stricter than NVIDIA's tools:
 * SHA-384 CertIDs, a 32-byte nonce that must be echoed, the response signature and responder
 * chain verified to the chain's trust anchor at the verification time, and the
 * thisUpdate/nextUpdate window checked.
 *
 * Responses come from a source: a directory of DER responses (`--ocsp-dir`, as an `openssl ocsp`
 * responder or a cache writes them, any file names ending in .der/.ocsp/.resp), or the live
 * client of attest/live.h (network, cache, bundle), which gets the DER request built here.
 *
 * Freshness (docs/attest-online.md): a response fetched live in this run must echo the request's
 * nonce. A stored response (cache, directory, bundle: the source's fetch returns
 * CN_OCSP_FROM_STORE) cannot echo it; it counts only inside
 *   thisUpdate - CN_OCSP_LEEWAY_S <= now <= nextUpdate + CN_OCSP_LEEWAY_S
 * and when now - thisUpdate <= the source's stored_max_age_s, and then reports
 * x-nvidia-cert-ocsp-nonce-matches false (result.nonce_exempt tells that this is not a defect).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "base/cleanup.h"

struct cn_verify_memo;

#define CN_OCSP_NONCE_LEN 32
#define CN_OCSP_RESPONSE_MAX (64u * 1024)
#define CN_OCSP_DIR_FILES_MAX 512u
#define CN_OCSP_LEEWAY_S 300	/* clock skew allowed around thisUpdate/nextUpdate */
#define CN_OCSP_MAX_AGE_S 86400 /* age limit of a response without nextUpdate */
#define CN_OCSP_STORED_MAX_AGE_S_DEFAULT (7L * 86400) /* --ocsp-max-age default */
#define CN_OCSP_FROM_STORE 1			      /* fetch(): a stored response */

struct cn_ocsp_source {
	/*
	 * Returns 0 and a response (caller frees) fetched live for this very request,
	 * CN_OCSP_FROM_STORE and a response taken from storage, -ENOENT when the source has none,
	 * another negative errno (with cn_err_set) when it failed. req_der is the encoded request
	 * (for a network source); id is its CertID (for a lookup in stored responses).
	 */
	int (*fetch)(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
		     const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret);
	void *userdata;
	long stored_max_age_s; /* age limit of stored responses; 0: the 7-day default */
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
	bool nonce_exempt; /* !nonce_match only because of fresh stored responses (not a defect) */
	bool
	    response_valid; /* every response present, successful, signed by an authorized
			     * responder chaining to the anchor, covering the cert, in its window */
	char failure[320];  /* most severe problem: revoked, unknown, then the first other */
	int failed_cert;    /* chain index of the first problem, -1 */
};

struct cn_ocsp_check_opts {
	/* Optional (attest/memo.h): response parses and signature checks shared by the run. */
	struct cn_verify_memo *memo;
	/*
	 * The caller verified chain to anchor at now (every certificate valid then). A response
	 * signed by the certificate's own issuer, chain[i + 1] itself, then needs its signature
	 * checked but not that issuer's chain again. Delegated responders are checked in full.
	 */
	bool chain_validated;
};

/*
 * Checks chain[first..last] (each against issuer chain[i+1]); the anchor is the trusted root
 * for the responder chains. now = verification clock. opts may be NULL. Fills *res; returns < 0
 * only for internal errors (ENOMEM) or a source failure other than -ENOENT (I/O).
 */
int cn_ocsp_check_chain(STACK_OF(X509) * chain, int first, int last, X509 *anchor,
			const uint8_t nonce[CN_OCSP_NONCE_LEN], time_t now,
			const struct cn_ocsp_source *src, const struct cn_ocsp_check_opts *opts,
			struct cn_ocsp_result *res);

/*
 * The freshness rule for a stored response (see above) at now: 0 when it covers id, is successful
 * and fresh; -ESTALE when outside its window or older than max_age_s (0: the default); -EBADMSG
 * when unusable. why (optional) gets one line ("nextUpdate 2026-12-01T00:00:00Z has passed").
 * Signature and responder are not checked here (cn_ocsp_check_chain() does that on every use).
 */
int cn_ocsp_stored_fresh(OCSP_RESPONSE *resp, OCSP_CERTID *id, time_t now, long max_age_s,
			 char *why, size_t why_len);

/* Parses one DER response (fuzz target, directory loader). */
int cn_ocsp_response_parse(const uint8_t *buf, size_t len, OCSP_RESPONSE **ret);
