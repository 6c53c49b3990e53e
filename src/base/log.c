/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cn_log_fn log_fn;
static void *log_userdata;
static enum cn_log_level log_max = CN_LOG_INFO;
static const char *log_prog = "cocoon";

static _Thread_local char err_buf[1024];

void cn_set_log_func(cn_log_fn fn, void *userdata)
{
	log_fn = fn;
	log_userdata = userdata;
}

void cn_set_log_level(enum cn_log_level max)
{
	log_max = max;
}

enum cn_log_level cn_get_log_level(void)
{
	return log_max;
}

static int neg(int err)
{
	return err > 0 ? -err : err;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (p[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (p[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (p[0] == 0xf4)
		hi = 0x8f; /* > U+10FFFF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

void cn_escape_ctl(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!outsz)
		return;
	while (*p) {
		size_t n = 1;
		bool esc;

		if (*p < 0x80) {
			esc = *p < 0x20 || *p == 0x7f;
		} else {
			n = utf8_seq(p);
			esc = n == 0 || (p[0] == 0xc2 && p[1] < 0xa0); /* invalid, or C1 */
			if (n == 0)
				n = 1;
		}
		if (o + (esc ? 4 * n : n) >= outsz)
			break;
		for (size_t i = 0; i < n; i++) {
			if (esc) {
				static const char hex[] = "0123456789abcdef";

				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[p[i] >> 4];
				out[o++] = hex[p[i] & 15];
			} else {
				out[o++] = (char)p[i];
			}
		}
		p += n;
	}
	out[o] = '\0';
}

const char *cn_strerror(int err)
{
	err = err < 0 ? -err : err;
	if (err == CN_ENOTREG)
		return "not a regular file";
	return strerror(err);
}

int cn_log_full(enum cn_log_level level, int err, bool with_strerror, const char *fmt, ...)
{
	char raw[2048], msg[2048];
	va_list ap;
	int saved = errno;

	if (!log_fn || level > log_max)
		goto out;
	va_start(ap, fmt);
	(void)vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (with_strerror && err != 0) {
		size_t l = strlen(raw);
		(void)snprintf(raw + l, sizeof(raw) - l, ": %s", cn_strerror(err));
	}
	cn_escape_ctl(raw, msg, sizeof(msg));
	log_fn(level, msg, log_userdata);
out:
	errno = saved;
	return neg(err);
}

int cn_err_setv(int err, const char *fmt, va_list ap)
{
	/* Format aside first: callers may pass cn_err_msg() itself as an argument (wrapping). */
	char tmp[sizeof(err_buf)];

	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
	cn_escape_ctl(tmp, err_buf, sizeof(err_buf));
	return neg(err);
}

int cn_err_set(int err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cn_err_setv(err, fmt, ap);
	va_end(ap);
	return r;
}

const char *cn_err_msg(void)
{
	return err_buf;
}

void cn_err_clear(void)
{
	err_buf[0] = '\0';
}

static void stderr_log(enum cn_log_level level, const char *msg, void *userdata)
{
	const char *prefix = "";

	switch (level) {
	case CN_LOG_ERR:
		prefix = "error: ";
		break;
	case CN_LOG_WARN:
		prefix = "warning: ";
		break;
	case CN_LOG_DEBUG:
		prefix = "debug: ";
		break;
	case CN_LOG_INFO:
		break;
	}
	(void)fprintf(stderr, "%s: %s%s\n", log_prog, prefix, msg);
}

void cn_log_open_stderr(const char *prog)
{
	if (prog)
		log_prog = prog;
	cn_set_log_func(stderr_log, NULL);
}

void cn_notifyf(cn_notify_fn fn, void *userdata, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(userdata, buf);
}
