/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Certificate chains (spec §3): splitting the NVML blob, path validation to a pinned root with an
 * injectable clock, the FWID extension, the identity claims (hwmodel, ueid).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "base/cleanup.h"

struct cn_verify_memo;

#define CN_CHAIN_CERTS_MAX 16
#define CN_CHAIN_TEXT_MAX (64u * 1024)
#define CN_DEVICE_CHAIN_LEN 5

/* SHA-256 of the DER of NVIDIA Device Identity CA (spec §3.2). */
extern const uint8_t cn_device_root_sha256[32];

static inline void cn_x509_stack_freep(STACK_OF(X509) * *p)
{
	if (*p)
		sk_X509_pop_free(*p, X509_free);
}
#define _cleanup_x509_stack_ _cleanup_(cn_x509_stack_freep)
CN_DEFINE_CLEANUP(X509 *, X509_free)
CN_DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)

/*
 * Splits a chain: concatenated PEM certificates (whitespace between them only) or concatenated
 * DER certificates. Leaf first. -EBADMSG on anything else, -E2BIG above CN_CHAIN_CERTS_MAX.
 */
int cn_chain_split(const uint8_t *buf, size_t len, STACK_OF(X509) * *ret);
/* The same, parsing each distinct certificate once per run through memo (attest/memo.h). */
int cn_chain_split_memo(const uint8_t *buf, size_t len, struct cn_verify_memo *memo,
			STACK_OF(X509) * *ret);

/* Reads one PEM certificate file (tests' --device-root). */
int cn_cert_load_pem(const char *path, X509 **ret);

/* SHA-256 fingerprint of the DER encoding. */
int cn_cert_sha256(X509 *x, uint8_t out[32]);

struct cn_chain_result {
	bool valid;	     /* path validated to the anchor at the verification time */
	const char *status;  /* "valid" | "invalid" | "expired" */
	char expiration[32]; /* earliest notAfter, ISO-8601 "YYYY-MM-DDTHH:MM:SSZ"; "" if none */
	char reason[256];    /* why not valid; "" when valid */
};

/*
 * Validates chain (leaf first, root last, exactly want_len certificates when want_len > 0)
 * against one trust anchor: the chain's last certificate must have the SHA-256 fingerprint of
 * anchor (when given, tests) or of pin. The anchor alone goes into the store; the other certs are
 * untrusted and the built path must be exactly the given chain. Time is checked at `now`.
 * The outcome is in *res; the return value is < 0 only for internal errors (ENOMEM).
 * memo (optional, attest/memo.h): the run's memo. The same chain again gives the remembered
 * outcome; a chain whose upper part chain[k..] (k >= 1, same length, clock and label) validated
 * earlier in the run is validated with chain[k] as its anchor (X509_V_FLAG_PARTIAL_CHAIN), unless
 * that upper part carries constraints on the certificates below it (names, policies, a path
 * length the lower part could exceed). GPUs of one machine share their upper certificates.
 */
int cn_chain_verify(STACK_OF(X509) * chain, X509 *anchor, const uint8_t pin[32], int want_len,
		    time_t now, const char *what, struct cn_verify_memo *memo,
		    struct cn_chain_result *res);

/* ISO-8601 UTC of an ASN1_TIME ("YYYY-MM-DDTHH:MM:SSZ"); -EINVAL if unparsable. */
int cn_asn1_time_iso(const ASN1_TIME *t, char out[32]);
int cn_asn1_time_to_time_t(const ASN1_TIME *t, time_t *ret);

/*
 * FWID of the TCG extension 2.23.133.5.4.1 (last 48 bytes of its OCTET STRING content, spec §3.5).
 * -ENOENT when the extension is absent, -EBADMSG when shorter than 48 bytes.
 */
int cn_cert_fwid(X509 *x, uint8_t out[48]);

/* CN of the subject (hwmodel from chain[1]); decimal serial (ueid from chain[0]). Caller frees. */
int cn_cert_subject_cn(X509 *x, char **ret);
int cn_cert_serial_dec(X509 *x, char **ret);
