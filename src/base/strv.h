/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A growable, NULL-terminated vector of owned strings (argv building, lists). */
#include <stddef.h>

struct cn_strv {
	char **v; /* owned; v[n] == NULL once anything was pushed */
	size_t n;
	size_t cap;
};

/* Appends a copy of s. -ENOMEM on failure (the vector is unchanged). */
int cn_strv_push(struct cn_strv *sv, const char *s);
/* Appends a formatted string. */
int cn_strv_pushf(struct cn_strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of s (freed on failure). */
int cn_strv_consume(struct cn_strv *sv, char *s);
/* Frees every string and the array; leaves an empty vector. */
void cn_strv_done(struct cn_strv *sv);
