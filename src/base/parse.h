/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Strict text parsers (no strtol/atoi/sscanf anywhere in the project).
 * All return 0 or a negative errno and write ret_* only on success.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal digits only: no sign, blanks, or "0x". -EINVAL malformed, -ERANGE above max. */
int cn_parse_u64(const char *s, uint64_t max, uint64_t *ret);
int cn_parse_u32(const char *s, uint32_t max, uint32_t *ret);
/* Same, for the first len bytes of s (no NUL needed). */
int cn_parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *ret);
/* Octal digits of exactly len bytes, optionally NUL/space terminated (tar fields). */
int cn_parse_octal_n(const char *s, size_t len, uint64_t *ret);
/* "1", "yes", "true", "on" / "0", "no", "false", "off" (case-insensitive). */
int cn_parse_bool(const char *s, bool *ret);

/* Value of one hex digit (either case), or -1. */
int cn_hexval(int c);

/* Hex of exactly 2*len characters (either case) into buf[len]. -EINVAL otherwise. */
int cn_unhex_exact(const char *s, uint8_t *buf, size_t len);
/* Hex of any even length into a new buffer (caller frees). max caps the decoded length. */
int cn_unhex_alloc(const char *s, size_t slen, size_t max, uint8_t **ret, size_t *ret_len);
/* Lower-case hex of buf into out, which must hold 2*len+1 bytes. Returns out. */
char *cn_hex(const uint8_t *buf, size_t len, char *out);
/* Allocating variant; NULL on OOM. */
char *cn_hex_alloc(const uint8_t *buf, size_t len);

/* True if s is exactly n lower-case hex digits. */
bool cn_is_lower_hex(const char *s, size_t n);
