/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * One run's memo of pure verification outcomes, shared by the GPUs of the run and its threads.
 *
 * The GPUs of one machine share most of what is verified: the upper certificates of their device
 * chains, the OCSP answers for those, their RIMs and the RIMs' signing chains. Each outcome here
 * is a pure function of its inputs (bytes, trust anchor, verification clock), so it is keyed by
 * SHA-256 over every input, length-prefixed (cn_memo_key_*), never by a name: one different byte
 * is a different key. Callers remember successes only (a failure may be the library's, out of
 * memory, rather than the input's), so the memo can skip work but never turn a failure into a
 * success or a success into a failure.
 *
 *	struct cn_memo_key k;
 *	uint8_t key[32];
 *	int ok;
 *
 *	cn_memo_key_begin(&k, "ocsp-basic");
 *	cn_memo_key_add_u64(&k, (uint64_t)now);
 *	cn_memo_key_add_cert(&k, issuer);
 *	if (cn_memo_key_end(&k, key) == 0 && cn_verify_memo_claim(m, key, &ok, sizeof(ok)))
 *		return ok;
 *	ok = expensive_check(...);
 *	cn_verify_memo_put(m, key, &ok, sizeof(ok));
 *
 * Thread-safe. Bounded: at most CN_MEMO_ENTRIES_MAX outcomes of at most CN_MEMO_VALUE_MAX bytes;
 * beyond that an outcome is not remembered (and is computed again). A NULL memo remembers
 * nothing, so callers need no special case.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#define CN_MEMO_ENTRIES_MAX 1024u
#define CN_MEMO_VALUE_MAX 512u
#define CN_MEMO_OBJECTS_MAX 512u

struct cn_verify_memo;

int cn_verify_memo_new(struct cn_verify_memo **ret);
void cn_verify_memo_free(struct cn_verify_memo *m);

/* Copies the outcome stored under key into val (exactly len bytes): true; false when unknown. */
bool cn_verify_memo_get(struct cn_verify_memo *m, const uint8_t key[32], void *val, size_t len);
/*
 * The same, for a caller about to compute the outcome: true with val filled when known; false
 * when not, and then key is the caller's to compute: it must cn_verify_memo_put() the outcome or
 * cn_verify_memo_release() the key. While another thread computes key, waits for its outcome
 * (the GPUs of a run then verify what they share once). A caller holds one claim at a time.
 */
bool cn_verify_memo_claim(struct cn_verify_memo *m, const uint8_t key[32], void *val, size_t len);
/* Remembers val under key (first outcome wins: outcomes are deterministic). */
void cn_verify_memo_put(struct cn_verify_memo *m, const uint8_t key[32], const void *val,
			size_t len);
/* Gives up a claim without an outcome (an internal error): another caller computes it. */
void cn_verify_memo_release(struct cn_verify_memo *m, const uint8_t key[32]);

/*
 * Parsed objects shared by the run. The GPUs' chains repeat the same upper certificates and every
 * chain's OCSP answers repeat; in OpenSSL 3.0 parsing a certificate costs a provider decoder
 * lookup for its public key, about as much as checking a signature. So each distinct encoding is
 * parsed once, keyed by SHA-256 of its exact bytes, and shared read-only by the threads (OpenSSL's
 * certificate objects are safe for concurrent readers; their cached extension data is locked).
 * Bounded: beyond CN_MEMO_OBJECTS_MAX objects, each call parses anew. A NULL memo parses anew.
 */
/*
 * The certificate encoded by the DER item that starts der (at most len bytes): a new reference
 * (caller frees) and *used, the item's length; NULL when it does not parse (or no memory).
 */
X509 *cn_verify_memo_x509(struct cn_verify_memo *m, const uint8_t *der, size_t len, size_t *used);
/*
 * resp's BasicOCSPResponse, as OCSP_response_get1_basic(): with a memo, parsed once per distinct
 * response and owned by the memo (*owned = false: the caller must not free it, nor change it);
 * without one, a copy the caller frees (*owned = true). NULL when there is none.
 */
OCSP_BASICRESP *cn_verify_memo_ocsp_basic(struct cn_verify_memo *m, OCSP_RESPONSE *resp,
					  bool *owned);

/* A key under construction: SHA-256 over the kind and every input, each length-prefixed. */
struct cn_memo_key {
	EVP_MD_CTX *md;
	bool failed;
};
void cn_memo_key_begin(struct cn_memo_key *k, const char *kind);
void cn_memo_key_add(struct cn_memo_key *k, const void *p, size_t n);
void cn_memo_key_add_u64(struct cn_memo_key *k, uint64_t v);
/* Adds the certificate's DER; NULL adds an empty item. */
void cn_memo_key_add_cert(struct cn_memo_key *k, X509 *x);
/* Finishes the key: 0, or -ENOMEM (the key is unusable; the caller just computes). */
int cn_memo_key_end(struct cn_memo_key *k, uint8_t out[32]);
