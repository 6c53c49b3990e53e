/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Logging. The library is quiet: it logs at debug level at most, through the function the
 * program installs (default: discard), and describes failures with cn_err_set() so that the
 * caller can log exactly one line. The CLI logs once, where it handles the error:
 *
 *	return log_error_errno(r, "cannot read report '%s': %s", path, cn_err_msg());
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * An error code of our own beside errno's (returned negated, like them): an input that must be a
 * regular file is a FIFO, socket or device. cn_strerror() names it; strerror() does not.
 */
#define CN_ENOTREG 4095

/* strerror() of a positive or negative error code, including CN_ENOTREG. */
const char *cn_strerror(int err);

/*
 * Progress notes of a use case (the "waiting for the lock" kind), given to the caller's callback
 * as one formatted line of at most 511 bytes. fn NULL: nothing is formatted.
 */
typedef void (*cn_notify_fn)(void *userdata, const char *msg);
void cn_notifyf(cn_notify_fn fn, void *userdata, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum cn_log_level { CN_LOG_ERR, CN_LOG_WARN, CN_LOG_INFO, CN_LOG_DEBUG };

typedef void (*cn_log_fn)(enum cn_log_level level, const char *msg, void *userdata);

/* Installs fn (NULL: discard). Not thread-safe against concurrent logging; call early. */
void cn_set_log_func(cn_log_fn fn, void *userdata);
/* Messages above this level are dropped before formatting. Default CN_LOG_INFO. */
void cn_set_log_level(enum cn_log_level max);
enum cn_log_level cn_get_log_level(void);

/* Returns -abs(err) (or 0 when err == 0) so it can sit in a return statement. */
int cn_log_full(enum cn_log_level level, int err, bool with_strerror, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error_errno(err, ...) cn_log_full(CN_LOG_ERR, (err), true, __VA_ARGS__)
#define log_error_synth(err, ...) cn_log_full(CN_LOG_ERR, (err), false, __VA_ARGS__)
#define log_error(...) ((void)cn_log_full(CN_LOG_ERR, 0, false, __VA_ARGS__))
#define log_warning(...) ((void)cn_log_full(CN_LOG_WARN, 0, false, __VA_ARGS__))
#define log_info(...) ((void)cn_log_full(CN_LOG_INFO, 0, false, __VA_ARGS__))
#define log_debug(...) ((void)cn_log_full(CN_LOG_DEBUG, 0, false, __VA_ARGS__))

/*
 * Per-thread detail of the last library failure ("report: field 'nonce' at offset 36: ...").
 * cn_err_set() records the message and returns -abs(err); cn_err_msg() never returns NULL
 * ("" when nothing was recorded). cn_err_clear() resets it.
 */
int cn_err_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cn_err_setv(int err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
const char *cn_err_msg(void);
void cn_err_clear(void);

/*
 * Copies s into out (outsz bytes, always NUL-terminated, cut only between characters) with
 * every control character written as "\xNN": C0 (tabs and newlines included), DEL, the UTF-8
 * encodings of C1 (U+0080..U+009F) and every byte that is not valid UTF-8. Printable text,
 * UTF-8 included, is kept. Idempotent. cn_log_full() and cn_err_set() apply it to every message,
 * so a file name or hub path with an ESC byte never reaches a terminal raw.
 */
void cn_escape_ctl(const char *s, char *out, size_t outsz);

/* Installs a stderr logger "PROG: message" for CLI programs. */
void cn_log_open_stderr(const char *prog);
