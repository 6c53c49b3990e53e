/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The project's one libcurl wrapper (house style §5.10). Every handle it sets up is:
 *  - https only, for the first URL and for every redirect (CURLOPT_PROTOCOLS_STR and
 *    CURLOPT_REDIR_PROTOCOLS_STR), TLS >= 1.2, peer and host verification always on; the trust
 *    anchors can be replaced (ca_bundle) but verification can never be switched off;
 *  - bounded in time: a connect timeout and a low-speed timeout (less than 1 byte/s for
 *    low_speed_time_s seconds aborts the transfer), optionally a total timeout;
 *  - bounded in size: bodies read into memory are capped, captured header values are capped;
 *  - careful with credentials: a bearer token goes through CURLOPT_XOAUTH2_BEARER +
 *    CURLAUTH_BEARER with CURLOPT_UNRESTRICTED_AUTH off, so libcurl sends it to the host (and
 *    port and scheme) of the first URL only, never to a redirect target such as a CDN. The token
 *    is never part of a URL, a message or a log line. No .netrc, no cookies.
 * Errors: 0 when an HTTP response arrived (whatever its status), else a negative errno with a
 * one-line message in cn_err_msg() naming the URL (see cn_http_curl_error()).
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_HTTP_BODY_MAX_DEFAULT (16u * 1024 * 1024)
#define CN_HTTP_HEADER_VALUE_MAX 4096u /* a longer captured header is an error */
#define CN_HTTP_URL_MAX 8192u
#define CN_HTTP_CONNECT_TIMEOUT_MS_DEFAULT 10000L
#define CN_HTTP_LOW_SPEED_TIME_S_DEFAULT 10L
#define CN_HTTP_MAX_REDIRECTS_DEFAULT 5L

struct cn_http_opts {
	const char *ca_bundle;	 /* borrowed; NULL: the system trust store */
	const char *bearer;	 /* borrowed; NULL: no Authorization header */
	const char *user_agent;	 /* borrowed; NULL: "cocoon/VERSION" */
	long connect_timeout_ms; /* 0: CN_HTTP_CONNECT_TIMEOUT_MS_DEFAULT */
	long low_speed_time_s;	 /* 0: CN_HTTP_LOW_SPEED_TIME_S_DEFAULT */
	long total_timeout_ms;	 /* 0: none (large downloads rely on the low-speed timeout) */
	long max_redirects;	 /* 0: CN_HTTP_MAX_REDIRECTS_DEFAULT; < 0: do not follow */
	size_t max_body;	 /* in-memory bodies only; 0: CN_HTTP_BODY_MAX_DEFAULT */
};

/*
 * Headers of the final response that callers act on. The capture restarts at every status line,
 * so headers of a redirect response never leak into the final one.
 */
struct cn_http_headers {
	char *link;	     /* owned: Link (several Link lines are joined with ", ") */
	char *content_range; /* owned */
	char *content_type;  /* owned */
	char *error_code;    /* owned: X-Error-Code (Hugging Face) */
	char *error_message; /* owned: X-Error-Message (Hugging Face) */
	char *retry_after;   /* owned: Retry-After */
	int error;	     /* first capture error (-E2BIG, -ENOMEM, -EBADMSG), 0 if none */
};

void cn_http_headers_done(struct cn_http_headers *h);
/* CURLOPT_HEADERFUNCTION callback; userdata is a struct cn_http_headers. */
size_t cn_http_header_cb(char *buf, size_t size, size_t n, void *userdata);

/* A response body in memory, at most max bytes, NUL-terminated (the NUL not counted in len). */
struct cn_http_body {
	uint8_t *data; /* owned */
	size_t len, cap, max;
	bool over; /* more than max bytes came: the transfer was stopped */
};

/* CURLOPT_WRITEFUNCTION callback; userdata is a struct cn_http_body. */
size_t cn_http_body_write(char *ptr, size_t size, size_t n, void *userdata);

struct cn_http_response {
	long status;   /* final HTTP status */
	uint8_t *body; /* owned, NUL-terminated (not counted in len) */
	size_t len;
	char *effective_url; /* owned: URL of the final response */
	struct cn_http_headers headers;
};

void cn_http_response_done(struct cn_http_response *r);

/*
 * Loads libcurl (it is opened at the first network use, not linked: net/curl-load.c) and runs
 * curl_global_init(), once per process (thread-safe). 0, -ENOENT naming the library and why it
 * could not be loaded, or -EIO.
 */
int cn_http_global_init(void);

/*
 * Creates an easy handle with every rule above applied. errbuf (CURL_ERROR_SIZE bytes, may be
 * NULL) receives libcurl's detail for cn_http_curl_error(). The caller sets the URL and the
 * write callback. -ENOMEM / -EINVAL (option refused, e.g. a libcurl without https).
 */
int cn_http_easy_new(const struct cn_http_opts *o, char *errbuf, CURL **ret);

/*
 * Translates a libcurl failure into a negative errno and one message naming url:
 *  timeouts -ETIMEDOUT, refused/unreachable -ECONNREFUSED/-EHOSTUNREACH, TLS trust failures
 *  -EKEYREJECTED, a non-https URL or redirect -EPROTONOSUPPORT, too many redirects -ELOOP,
 *  body over its cap -E2BIG, write failure -EIO (callers report their own errno first),
 *  anything else -EIO.
 */
int cn_http_curl_error(CURLcode c, const char *errbuf, const char *url);

/* GET url into memory (capped at o->max_body). 0 when a response arrived. */
int cn_http_get(const struct cn_http_opts *o, const char *url, struct cn_http_response *ret);

/* POST body (content_type, e.g. "application/ocsp-request") and read the response into memory. */
int cn_http_post(const struct cn_http_opts *o, const char *url, const char *content_type,
		 const void *body, size_t len, struct cn_http_response *ret);

/*
 * Retry-After: delta-seconds, or an IMF-fixdate (RFC 9110) relative to now. The result is clamped
 * to [0, max_s]; *ret_clamped tells whether it was. -EBADMSG when malformed.
 */
int cn_http_parse_retry_after(const char *v, long max_s, long *ret_s, bool *ret_clamped);

/* True if url is an https URL (scheme compared case-insensitively) libcurl can parse. */
bool cn_http_url_is_https(const char *url);

/*
 * Prefixes the current cn_err_msg() with a formatted context: "<context>: <previous message>".
 * Returns -abs(err). (cn_err_set() cannot take cn_err_msg() as an argument: same buffer.)
 */
int cn_net_err_wrap(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
