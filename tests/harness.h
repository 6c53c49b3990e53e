/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Minimal test harness. A test file defines `static void test_NAME(void)` functions, lists
 * them with T(NAME) in a table and ends with CN_TEST_MAIN(table). ASSERT_* print file:line,
 * the expression and both values, then abort. A test calls cn_test_skip("why") to skip the
 * whole program (exit 77). `$CN_TEST_FILTER` runs only tests whose name contains it.
 *
 * Helpers: cn_test_data(rel) finds ../shared/... (NULL if absent), cn_test_tmpdir() makes a
 * per-program temporary directory removed at exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_test {
	const char *name;
	void (*fn)(void);
};

#define T(name)                                                                                    \
	{                                                                                          \
#name, test_##name                                                                 \
	}

#define CN_FAIL_(...)                                                                              \
	do {                                                                                       \
		(void)fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                              \
		(void)fprintf(stderr, __VA_ARGS__);                                                \
		(void)fputc('\n', stderr);                                                         \
		abort();                                                                           \
	} while (0)

#define ASSERT_TRUE(e)                                                                             \
	do {                                                                                       \
		if (!(e))                                                                          \
			CN_FAIL_("assertion failed: %s", #e);                                      \
	} while (0)
#define ASSERT_FALSE(e) ASSERT_TRUE(!(e))

#define ASSERT_OK(e)                                                                               \
	do {                                                                                       \
		long long r_ = (long long)(e);                                                     \
		if (r_ < 0)                                                                        \
			CN_FAIL_("%s failed: %lld (%s)", #e, r_, strerror((int)-r_));              \
	} while (0)

#define ASSERT_ERR(e, want)                                                                        \
	do {                                                                                       \
		long long r_ = (long long)(e), w_ = (long long)(want);                             \
		if (r_ != w_)                                                                      \
			CN_FAIL_("%s = %lld, expected %lld", #e, r_, w_);                          \
	} while (0)

#define ASSERT_FAIL(e)                                                                             \
	do {                                                                                       \
		long long r_ = (long long)(e);                                                     \
		if (r_ >= 0)                                                                       \
			CN_FAIL_("%s = %lld, expected an error", #e, r_);                          \
	} while (0)

#define ASSERT_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			CN_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                        \
	} while (0)

#define ASSERT_U64_EQ(a, b)                                                                        \
	do {                                                                                       \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                   \
		if (a_ != b_)                                                                      \
			CN_FAIL_("%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_);             \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			CN_FAIL_("%s == %s: '%s' != '%s'", #a, #b, a_ ? a_ : "(null)",             \
				 b_ ? b_ : "(null)");                                              \
	} while (0)

#define ASSERT_MEMEQ(a, b, n)                                                                      \
	do {                                                                                       \
		if (memcmp((a), (b), (n)) != 0)                                                    \
			CN_FAIL_("%s and %s differ in %zu bytes", #a, #b, (size_t)(n));            \
	} while (0)

#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

void cn_test_skip(const char *why) __attribute__((noreturn));
/* Absolute path of a file under the shared folder (../shared relative to the repo), or NULL. */
const char *cn_test_shared(const char *rel);
/* Like cn_test_shared() but skips the program (exit 77) when the file is missing. */
const char *cn_test_shared_or_skip(const char *rel);
/* A fresh temporary directory, removed (recursively) when the program exits. */
const char *cn_test_tmpdir(void);
/* Runs a shell command; returns its exit status (or -1). */
int cn_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a whole file into a malloc'd buffer (aborts on error). */
uint8_t *cn_test_slurp(const char *path, size_t *ret_len);
/* Writes a file (aborts on error). */
void cn_test_write(const char *path, const void *buf, size_t len);

int cn_test_main(const struct cn_test *tests, size_t n, int argc, char **argv);

#define CN_TEST_MAIN(table)                                                                        \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return cn_test_main(table, sizeof(table) / sizeof(table[0]), argc, argv);          \
	}
