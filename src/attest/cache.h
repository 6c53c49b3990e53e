/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The attestation cache (`--cache-dir`, default /var/cache/cocoon/attest) and bundles (`cocoon
 * attest bundle --out DIR`, `--bundle DIR`): one directory layout for both.
 *
 *   DIR/rim/<rim-id>.entry            a RIM's XML, as the RIM service returned it
 *   DIR/ocsp/<sha256(CertID DER)>.entry  a DER OCSP response for that CertID
 *   DIR/.lock                         flock(2) held while writing
 *
 * An entry is "cocoon-attest-cache 1\n" + the lower-case hex SHA-256 of the payload + "\n" + the
 * payload; it is written atomically (temporary file, fsync, rename) under the lock, mode 0600 in
 * directories of mode 0700. A read checks the header and the checksum: a torn, truncated or
 * bit-flipped entry is reported as -EBADMSG (the caller ignores it and fetches again), never
 * returned. Entries are content the verifier checks again on every use (RIM signature and chain,
 * OCSP signature, responder and window): the checksum only sorts out damage.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ocsp.h>

#include "base/cleanup.h"

#define CN_ATTEST_CACHE_DIR_DEFAULT "/var/cache/cocoon/attest"
#define CN_ATTEST_CACHE_ENTRY_MAX (4u * 1024 * 1024)

enum cn_cache_kind {
	CN_CACHE_RIM = 0,
	CN_CACHE_OCSP,
};

struct cn_attest_cache;

/*
 * Opens dir. writable: creates it (and rim/, ocsp/) with mode 0700 if missing; the lock file is
 * created on first write. Read-only (a bundle): dir must exist (-ENOENT).
 */
int cn_attest_cache_open(const char *dir, bool writable, struct cn_attest_cache **ret);
void cn_attest_cache_free(struct cn_attest_cache *c);
CN_DEFINE_CLEANUP(struct cn_attest_cache *, cn_attest_cache_free)
const char *cn_attest_cache_dir(const struct cn_attest_cache *c);

/* The key of an OCSP entry: hex SHA-256 of the DER CertID (65 bytes with the NUL). */
int cn_attest_cache_ocsp_key(OCSP_CERTID *id, char key[65]);

/*
 * Reads entry key of kind: 0 and the payload (malloc'd, NUL-terminated), -ENOENT if absent,
 * -EBADMSG when damaged (with a message naming the file). *ret_path (optional): the entry's path.
 */
int cn_attest_cache_get(struct cn_attest_cache *c, enum cn_cache_kind kind, const char *key,
			uint8_t **ret, size_t *ret_len, char **ret_path);

/* Writes entry key atomically under the lock (waits for another writer). -EROFS for a bundle. */
int cn_attest_cache_put(struct cn_attest_cache *c, enum cn_cache_kind kind, const char *key,
			const uint8_t *buf, size_t len);

/* Parses an entry's bytes (the fuzz target and the reader): *ret_payload points into buf. */
int cn_attest_cache_entry_parse(const uint8_t *buf, size_t len, const uint8_t **ret_payload,
				size_t *ret_len);
