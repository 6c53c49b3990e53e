/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The detached EAT (spec §5.4): [["JWT", <overall JWT>], {"GPU-0": <JWT>, ...}], where the
 * overall token's submods carry ["DIGEST", ["SHA256", hex(SHA-256(GPU JWT compact string))]].
 * Tokens are unsigned (alg "none") unless a P-384 key is given (ES384). Never HMAC.
 */
#include <jansson.h>
#include <openssl/evp.h>

/* Compact JWT of payload; key NULL: alg none (empty signature). *ret malloc'd. */
int cn_jwt_encode(json_t *payload, EVP_PKEY *key, char **ret);

/*
 * Builds the EAT from the overall claims (without submods; they are added to a copy) and the
 * per-GPU claims object {"GPU-0": {...}}. *ret malloc'd JSON text.
 */
int cn_eat_build(json_t *overall, json_t *detached, EVP_PKEY *key, char **ret);

/* Loads a P-384 private key (PEM) for ES384. */
int cn_eat_load_key(const char *path, EVP_PKEY **ret);
