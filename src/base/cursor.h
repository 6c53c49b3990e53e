/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Bounded cursor over untrusted bytes. Every read checks the remaining length first and
 * advances only on success; a failed read returns -EBADMSG and leaves the cursor unchanged.
 * `base` and `pos` let parsers report the absolute offset of a bad field.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cn_cursor {
	const uint8_t *p; /* borrowed: next unread byte */
	size_t left;	  /* bytes left */
	size_t pos;	  /* absolute offset of p in the outermost buffer */
};

static inline struct cn_cursor cn_cursor_make(const void *buf, size_t len)
{
	return (struct cn_cursor){.p = buf, .left = len, .pos = 0};
}

static inline int cn_cur_take(struct cn_cursor *c, size_t n, const uint8_t **ret)
{
	if (n > c->left)
		return -EBADMSG;
	if (ret)
		*ret = c->p;
	c->p += n;
	c->left -= n;
	c->pos += n;
	return 0;
}

static inline int cn_cur_skip(struct cn_cursor *c, size_t n)
{
	return cn_cur_take(c, n, NULL);
}

static inline int cn_cur_copy(struct cn_cursor *c, void *dst, size_t n)
{
	const uint8_t *b;
	int r = cn_cur_take(c, n, &b);

	if (r < 0)
		return r;
	if (n)
		memcpy(dst, b, n);
	return 0;
}

static inline int cn_cur_u8(struct cn_cursor *c, uint8_t *ret)
{
	const uint8_t *b;
	int r = cn_cur_take(c, 1, &b);

	if (r < 0)
		return r;
	*ret = b[0];
	return 0;
}

static inline int cn_cur_u16le(struct cn_cursor *c, uint16_t *ret)
{
	const uint8_t *b;
	int r = cn_cur_take(c, 2, &b);

	if (r < 0)
		return r;
	*ret = (uint16_t)(b[0] | (uint16_t)b[1] << 8);
	return 0;
}

static inline int cn_cur_u24le(struct cn_cursor *c, uint32_t *ret)
{
	const uint8_t *b;
	int r = cn_cur_take(c, 3, &b);

	if (r < 0)
		return r;
	*ret = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
	return 0;
}

static inline int cn_cur_u32le(struct cn_cursor *c, uint32_t *ret)
{
	const uint8_t *b;
	int r = cn_cur_take(c, 4, &b);

	if (r < 0)
		return r;
	*ret = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static inline int cn_cur_u64le(struct cn_cursor *c, uint64_t *ret)
{
	const uint8_t *b;
	uint64_t v = 0;
	int r = cn_cur_take(c, 8, &b);

	if (r < 0)
		return r;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	*ret = v;
	return 0;
}

/* A length-prefixed record becomes a child cursor that cannot read past its end. */
static inline int cn_cur_sub(struct cn_cursor *c, size_t n, struct cn_cursor *ret)
{
	size_t pos = c->pos;
	const uint8_t *b;
	int r = cn_cur_take(c, n, &b);

	if (r < 0)
		return r;
	*ret = (struct cn_cursor){.p = b, .left = n, .pos = pos};
	return 0;
}

static inline bool cn_cur_done(const struct cn_cursor *c)
{
	return c->left == 0;
}
