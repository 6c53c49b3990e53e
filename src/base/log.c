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

int cn_log_full(enum cn_log_level level, int err, bool with_strerror, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int saved = errno;

	if (!log_fn || level > log_max)
		goto out;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (with_strerror && err != 0) {
		size_t l = strlen(msg);
		(void)snprintf(msg + l, sizeof(msg) - l, ": %s", strerror(-neg(err)));
	}
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
	memcpy(err_buf, tmp, sizeof(tmp));
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
