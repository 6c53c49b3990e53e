/* SPDX-License-Identifier: Apache-2.0 */
#include "net/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "config.h"

void cn_http_headers_done(struct cn_http_headers *h)
{
	free(h->link);
	free(h->content_range);
	free(h->content_type);
	free(h->error_code);
	free(h->error_message);
	free(h->retry_after);
	*h = (struct cn_http_headers){0};
}

void cn_http_response_done(struct cn_http_response *r)
{
	free(r->body);
	free(r->effective_url);
	cn_http_headers_done(&r->headers);
	*r = (struct cn_http_response){0};
}

static int store_header(char **slot, const char *v, size_t len, bool join)
{
	size_t old = *slot && join ? strlen(*slot) : 0;
	size_t total = old ? old + 2 + len : len;
	char *p;

	if (total > CN_HTTP_HEADER_VALUE_MAX)
		return -E2BIG;
	if (!join || !*slot) {
		p = malloc(len + 1); /* v is not NUL-terminated: no strndup() */
		if (!p)
			return -ENOMEM;
		memcpy(p, v, len);
		p[len] = 0;
		free(*slot);
		*slot = p;
		return 0;
	}
	p = realloc(*slot, total + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + old, ", ", 2);
	memcpy(p + old + 2, v, len);
	p[total] = 0;
	*slot = p;
	return 0;
}

size_t cn_http_header_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct cn_http_headers *h = userdata;
	size_t len = size * n, name_len;
	const char *colon, *v, *end;
	char **slot = NULL;
	bool join = false;
	int r;

	/* A new status line: this is a new response (redirect, 100-continue); start over. */
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		int saved = h->error;

		cn_http_headers_done(h);
		h->error = saved;
		return len;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return len; /* blank line ending the header block, or a folded line: ignored */
	name_len = (size_t)(colon - buf);
	v = colon + 1;
	end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;

#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(buf, name, name_len) == 0)
	if (IS("link")) {
		slot = &h->link;
		join = true;
	} else if (IS("content-range"))
		slot = &h->content_range;
	else if (IS("content-type"))
		slot = &h->content_type;
	else if (IS("x-error-code"))
		slot = &h->error_code;
	else if (IS("x-error-message"))
		slot = &h->error_message;
	else if (IS("retry-after"))
		slot = &h->retry_after;
#undef IS
	if (!slot)
		return len;
	if (memchr(v, 0, (size_t)(end - v))) {
		if (!h->error)
			h->error = -EBADMSG;
		return len;
	}
	r = store_header(slot, v, (size_t)(end - v), join);
	if (r < 0 && !h->error)
		h->error = r;
	return len;
}

size_t cn_http_body_write(char *ptr, size_t size, size_t n, void *userdata)
{
	struct cn_http_body *b = userdata;
	size_t len = size * n; /* libcurl passes size == 1 */

	if (len > b->max - b->len) {
		b->over = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *p;

		/* doubling, but never past max + 1: a body of max bytes fits exactly */
		while (cap < b->len + len + 1)
			cap = cap > b->max / 2 ? b->max + 1 : cap * 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, len);
	b->len += len;
	b->data[b->len] = 0;
	return len;
}

#define SETOPT(h, opt, val)                                                                        \
	do {                                                                                       \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)                               \
			return cn_err_set(-EINVAL, "libcurl refused option %s", #opt);             \
	} while (0)

static int apply_opts(CURL *h, const struct cn_http_opts *o, char *errbuf)
{
	long redirects = o->max_redirects ? o->max_redirects : CN_HTTP_MAX_REDIRECTS_DEFAULT;

	SETOPT(h, CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_bundle)
		SETOPT(h, CURLOPT_CAINFO, o->ca_bundle);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS,
	       o->connect_timeout_ms > 0 ? o->connect_timeout_ms
					 : CN_HTTP_CONNECT_TIMEOUT_MS_DEFAULT);
	SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(h, CURLOPT_LOW_SPEED_TIME,
	       o->low_speed_time_s > 0 ? o->low_speed_time_s : CN_HTTP_LOW_SPEED_TIME_S_DEFAULT);
	if (o->total_timeout_ms > 0)
		SETOPT(h, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
	if (redirects > 0) {
		SETOPT(h, CURLOPT_FOLLOWLOCATION, 1L);
		SETOPT(h, CURLOPT_MAXREDIRS, redirects);
	}
	/* Never resend credentials to another host on a redirect (the default; stated here). */
	SETOPT(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (o->bearer) {
		SETOPT(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SETOPT(h, CURLOPT_XOAUTH2_BEARER, o->bearer);
	}
	SETOPT(h, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "cocoon/" COCOON_VERSION);
	if (errbuf) {
		errbuf[0] = 0;
		SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	}
	return 0;
}

int cn_http_easy_new(const struct cn_http_opts *o, char *errbuf, CURL **ret)
{
	CURL *h;
	int r;

	r = cn_http_global_init();
	if (r < 0)
		return r;
	h = curl_easy_init();
	if (!h)
		return cn_err_set(-ENOMEM, "cannot create a libcurl handle");
	r = apply_opts(h, o, errbuf);
	if (r < 0) {
		curl_easy_cleanup(h);
		return r;
	}
	*ret = h;
	return 0;
}

int cn_http_curl_error(CURLcode c, const char *errbuf, const char *url)
{
	const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(c);

	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return cn_err_set(-ETIMEDOUT, "network timeout on '%s' (%s)", url, detail);
	case CURLE_COULDNT_CONNECT:
		return cn_err_set(-ECONNREFUSED, "cannot connect to '%s' (%s)", url, detail);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return cn_err_set(-EHOSTUNREACH, "cannot resolve the host of '%s' (%s)", url,
				  detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return cn_err_set(-EKEYREJECTED, "TLS: the server of '%s' is not trusted (%s)", url,
				  detail);
	case CURLE_SSL_CONNECT_ERROR:
		return cn_err_set(-ECONNREFUSED, "TLS handshake with '%s' failed (%s)", url,
				  detail);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return cn_err_set(-EPROTONOSUPPORT,
				  "refusing a non-https URL or redirect from '%s' (%s)", url,
				  detail);
	case CURLE_TOO_MANY_REDIRECTS:
		return cn_err_set(-ELOOP, "too many redirects from '%s'", url);
	case CURLE_FILESIZE_EXCEEDED:
		return cn_err_set(-E2BIG, "response from '%s' is too large", url);
	case CURLE_OUT_OF_MEMORY:
		return cn_err_set(-ENOMEM, "out of memory while fetching '%s'", url);
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return cn_err_set(-ECONNRESET, "connection to '%s' broke (%s)", url, detail);
	default:
		return cn_err_set(-EIO, "transfer of '%s' failed (%s)", url, detail);
	}
}

static int perform(CURL *h, const struct cn_http_opts *o, const char *url, char *errbuf,
		   struct cn_http_response *ret)
{
	struct cn_http_body b = {.max = o->max_body ? o->max_body : CN_HTTP_BODY_MAX_DEFAULT};
	struct cn_http_headers hdrs = {0};
	char *eff = NULL;
	long status = 0;
	CURLcode c;
	int r;

	if (strlen(url) > CN_HTTP_URL_MAX)
		return cn_err_set(-E2BIG, "URL is too long (%zu bytes)", strlen(url));
	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_WRITEFUNCTION, cn_http_body_write);
	SETOPT(h, CURLOPT_WRITEDATA, &b);
	SETOPT(h, CURLOPT_HEADERFUNCTION, cn_http_header_cb);
	SETOPT(h, CURLOPT_HEADERDATA, &hdrs);
	SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b.max);

	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		if (b.over || c == CURLE_FILESIZE_EXCEEDED)
			r = cn_err_set(-E2BIG, "response from '%s' exceeds %zu bytes", url, b.max);
		else
			r = cn_http_curl_error(c, errbuf, url);
		goto fail;
	}
	if (hdrs.error) {
		r = cn_err_set(hdrs.error, "malformed or oversized response header from '%s'", url);
		goto fail;
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
	if (!b.data) {
		b.data = calloc(1, 1);
		if (!b.data) {
			r = cn_err_set(-ENOMEM, "out of memory");
			goto fail;
		}
	}
	*ret = (struct cn_http_response){
	    .status = status,
	    .body = b.data,
	    .len = b.len,
	    .effective_url = strdup(eff ? eff : url),
	    .headers = hdrs,
	};
	if (!ret->effective_url) {
		cn_http_response_done(ret);
		return cn_err_set(-ENOMEM, "out of memory");
	}
	return 0;
fail:
	free(b.data);
	cn_http_headers_done(&hdrs);
	return r;
}

static void curl_easy_cleanupp(CURL **h)
{
	if (*h)
		curl_easy_cleanup(*h);
}

int cn_http_get(const struct cn_http_opts *o, const char *url, struct cn_http_response *ret)
{
	__attribute__((cleanup(curl_easy_cleanupp))) CURL *h = NULL;
	char errbuf[CURL_ERROR_SIZE];
	int r;

	r = cn_http_easy_new(o, errbuf, &h);
	if (r < 0)
		return r;
	SETOPT(h, CURLOPT_HTTPGET, 1L);
	return perform(h, o, url, errbuf, ret);
}

int cn_http_post(const struct cn_http_opts *o, const char *url, const char *content_type,
		 const void *body, size_t len, struct cn_http_response *ret)
{
	__attribute__((cleanup(curl_easy_cleanupp))) CURL *h = NULL;
	_cleanup_free_ char *ct = NULL;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	int r;

	r = cn_http_easy_new(o, errbuf, &h);
	if (r < 0)
		return r;
	if (asprintf(&ct, "Content-Type: %s", content_type) < 0) {
		ct = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	hdrs = curl_slist_append(NULL, ct);
	if (!hdrs)
		return cn_err_set(-ENOMEM, "out of memory");
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK) {
		curl_slist_free_all(hdrs);
		return cn_err_set(-EINVAL, "libcurl refused the POST options");
	}
	r = perform(h, o, url, errbuf, ret);
	curl_slist_free_all(hdrs);
	return r;
}

int cn_http_parse_retry_after(const char *v, long max_s, long *ret_s, bool *ret_clamped)
{
	uint64_t secs;
	bool clamped = false;
	long s;

	if (!v || !*v)
		return -EBADMSG;
	if (v[0] >= '0' && v[0] <= '9') {
		int r = cn_parse_u64(v, UINT64_MAX, &secs);

		if (r == -ERANGE)
			secs = UINT64_MAX; /* absurdly large: clamped below */
		else if (r < 0)
			return -EBADMSG;
		if (secs > (uint64_t)max_s) {
			s = max_s;
			clamped = true;
		} else
			s = (long)secs;
	} else {
		/* IMF-fixdate only, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"; curl_getdate() is strict
		 * enough for this fixed shape once the length is checked. */
		time_t when, now = time(NULL);

		if (strlen(v) != 29 || strcmp(v + 25, " GMT") != 0)
			return -EBADMSG;
		when = curl_getdate(v, NULL);
		if (when == (time_t)-1)
			return -EBADMSG;
		if (when <= now)
			s = 0;
		else if (when - now > max_s) {
			s = max_s;
			clamped = true;
		} else
			s = (long)(when - now);
	}
	*ret_s = s;
	if (ret_clamped)
		*ret_clamped = clamped;
	return 0;
}

bool cn_http_url_is_https(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	bool ok = false;

	if (!url || strncasecmp(url, "https://", 8) != 0 || strlen(url) > CN_HTTP_URL_MAX)
		return false;
	u = curl_url();
	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		ok = strcasecmp(scheme, "https") == 0 && host[0];
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

int cn_net_err_wrap(int err, const char *fmt, ...)
{
	char prev[1024], ctx[512];
	va_list ap;

	(void)snprintf(prev, sizeof(prev), "%s", cn_err_msg());
	va_start(ap, fmt);
	(void)vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return cn_err_set(err, "%s: %s", ctx, prev);
}
