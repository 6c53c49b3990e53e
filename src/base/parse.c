/* SPDX-License-Identifier: Apache-2.0 */
#include "base/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cn_parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v) || v > max)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

int cn_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	if (!s)
		return -EINVAL;
	return cn_parse_u64_n(s, strlen(s), max, ret);
}

int cn_parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r = cn_parse_u64(s, max, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int cn_parse_octal_n(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	if (len == 0)
		return -EINVAL;
	for (; i < len && s[i] >= '0' && s[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return -ERANGE;
		v = v << 3 | (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	for (; i < len; i++)
		if (s[i] != '\0' && s[i] != ' ')
			return -EINVAL;
	*ret = v;
	return 0;
}

int cn_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int cn_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = cn_hexval(s[2 * i]), lo = cn_hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int cn_unhex_exact(const char *s, uint8_t *buf, size_t len)
{
	if (!s || strlen(s) != 2 * len)
		return -EINVAL;
	return unhex(s, len, buf);
}

int cn_unhex_alloc(const char *s, size_t slen, size_t max, uint8_t **ret, size_t *ret_len)
{
	uint8_t *b;
	int r;

	if (!s || slen % 2 != 0)
		return -EINVAL;
	if (slen / 2 > max)
		return -E2BIG;
	b = malloc(slen / 2 + 1);
	if (!b)
		return -ENOMEM;
	r = unhex(s, slen / 2, b);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	*ret_len = slen / 2;
	return 0;
}

char *cn_hex(const uint8_t *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

char *cn_hex_alloc(const uint8_t *buf, size_t len)
{
	char *out = malloc(2 * len + 1);

	return out ? cn_hex(buf, len, out) : NULL;
}

bool cn_is_lower_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
