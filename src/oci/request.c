/* SPDX-License-Identifier: Apache-2.0 */
/* One registry request with auth: 401 -> Basic or Bearer token -> one retry. */
#include "oci/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/progress.h"
#include "net/http.h"

#define ERROR_BODY_MAX (64u * 1024)

void oci_resp_done(struct oci_resp *r)
{
	free(r->location);
	free(r->digest);
	free(r->www_auth);
	free(r->body);
	*r = (struct oci_resp){0};
}

static int keep(char **slot, const char *v, size_t n)
{
	char *p;

	if (n > CN_HTTP_HEADER_VALUE_MAX)
		return -E2BIG;
	p = malloc(n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, v, n);
	p[n] = 0;
	free(*slot);
	*slot = p;
	return 0;
}

struct xfer {
	struct oci_req *req;
	struct oci_resp *resp;
	CURL *h;
	uint64_t up_pos;
	size_t body_cap, body_max;
	bool first_write;
	int err; /* callback failure */
};

static size_t header_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * n, nl;
	const char *colon, *v, *end;
	char **slot = NULL;

	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		free(x->resp->location);
		free(x->resp->digest);
		free(x->resp->www_auth);
		x->resp->location = x->resp->digest = x->resp->www_auth = NULL;
		return len;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	nl = (size_t)(colon - buf);
	v = colon + 1;
	end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
#define IS(s) (nl == sizeof(s) - 1 && strncasecmp(buf, s, nl) == 0)
	if (IS("location"))
		slot = &x->resp->location;
	else if (IS("docker-content-digest"))
		slot = &x->resp->digest;
	else if (IS("www-authenticate"))
		slot = &x->resp->www_auth;
#undef IS
	if (!slot)
		return len;
	if (memchr(v, 0, (size_t)(end - v)) || keep(slot, v, (size_t)(end - v)) < 0) {
		x->err = -EBADMSG;
		return 0;
	}
	return len;
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	struct oci_req *q = x->req;
	size_t len = size * n;
	long status = 0;

	(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (q->dst_fd >= 0 && (status == 200 || status == 206)) {
		if (x->first_write) {
			x->first_write = false;
			if (status == 200 && *q->dst_off > 0) {
				/* The server ignored Range: start over. */
				if (q->sha && EVP_DigestInit_ex(q->sha, EVP_sha256(), NULL) != 1) {
					x->err = -EIO;
					return 0;
				}
				__atomic_store_n(q->dst_off, 0, __ATOMIC_RELEASE);
				if (q->restarted)
					*q->restarted = true;
			}
		}
		if (len > q->dst_max - *q->dst_off) {
			x->err = cn_err_set(-EKEYREJECTED, "blob %s is larger than its %llu bytes",
					    q->what, (unsigned long long)q->dst_max);
			return 0;
		}
		if (cn_pwrite_all(q->dst_fd, ptr, len, *q->dst_off) < 0) {
			x->err = cn_err_set(-errno ? -errno : -EIO, "cannot write blob %s: %s",
					    q->what, strerror(errno));
			return 0;
		}
		if (q->sha && EVP_DigestUpdate(q->sha, ptr, len) != 1) {
			x->err = -EIO;
			return 0;
		}
		__atomic_store_n(q->dst_off, *q->dst_off + len, __ATOMIC_RELEASE);
		if (q->progress)
			cn_progress_add(q->progress, len);
		return len;
	}
	/* Into memory: a manifest, a small blob, a token, or an error body. */
	{
		size_t max = (q->dst_fd < 0 && (status == 200 || status == 206)) ? q->body_max
										 : ERROR_BODY_MAX;
		struct oci_resp *r = x->resp;

		if (len > max - r->len) {
			x->err =
			    cn_err_set(-E2BIG, "response for %s is above %zu bytes", q->what, max);
			return 0;
		}
		if (r->len + len + 1 > x->body_cap) {
			size_t cap = x->body_cap ? x->body_cap * 2 : 4096;
			uint8_t *p;

			while (cap < r->len + len + 1)
				cap *= 2;
			p = realloc(r->body, cap);
			if (!p) {
				x->err = -ENOMEM;
				return 0;
			}
			r->body = p;
			x->body_cap = cap;
		}
		memcpy(r->body + r->len, ptr, len);
		r->len += len;
		r->body[r->len] = 0;
	}
	return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct xfer *x = userdata;
	struct oci_req *q = x->req;
	uint64_t left = q->src_len - x->up_pos;
	size_t len = (size_t)CN_MIN((uint64_t)(size * n), left);

	if (len == 0)
		return 0;
	if (q->src_mem)
		memcpy(buf, (const uint8_t *)q->src_mem + x->up_pos, len);
	else if (cn_pread_all(q->src_fd, buf, len, q->src_off + x->up_pos) < 0) {
		x->err = cn_err_set(-EIO, "cannot read blob %s for the upload", q->what);
		return CURL_READFUNC_ABORT;
	}
	x->up_pos += len;
	if (q->progress)
		cn_progress_add(q->progress, len);
	return len;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (curl_easy_setopt(h, (opt), (val)) != CURLE_OK) {                               \
			r = cn_err_set(-EINVAL, "libcurl refused option %s", #opt);                \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

static int attempt(struct oci_client *c, struct oci_req *q, struct oci_resp *resp)
{
	struct cn_http_opts ho = {.ca_bundle = c->ca_bundle, .max_redirects = -1};
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE], hdr[256];
	_cleanup_free_ char *token = NULL;
	struct xfer x = {.req = q, .resp = resp, .first_write = true};
	int mode, r;
	CURL *h = NULL;
	CURLcode cc;

	(void)pthread_mutex_lock(&c->lock);
	mode = c->mode;
	if (mode == 2 && c->token)
		token = strdup(c->token);
	(void)pthread_mutex_unlock(&c->lock);
	if (mode == 2 && !token)
		return -ENOMEM;
	if (q->follow) /* blob GETs may redirect to storage; credentials stay on the registry */
		ho.max_redirects = 0;
	ho.bearer = q->no_auth ? NULL : token;
	if (q->user) { /* the token endpoint: Basic with the config's credentials */
		ho.bearer = NULL;
	}
	r = cn_http_easy_new(&ho, errbuf, &h);
	if (r < 0)
		return r;
	x.h = h;
	if ((mode == 1 && !q->no_auth) || q->user) {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, q->user ? q->user : c->user);
		SET(CURLOPT_PASSWORD, q->user ? q->pass : c->pass);
	}
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, &x);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, &x);
	if (c->max_rate) {
		SET(CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)c->max_rate);
		SET(CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)c->max_rate);
	}
	if (q->dst_fd >= 0) /* large blobs: fewer, larger writes and hash updates */
		SET(CURLOPT_BUFFERSIZE, 1L << 20);
	else if (q->src_len > (1u << 20))
		SET(CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
	if (strcmp(q->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else if (strcmp(q->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		SET(CURLOPT_POSTFIELDS, "");
	} else { /* PUT, PATCH: a body from src (maybe empty) */
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, &x);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->src_len);
		if (strcmp(q->method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, q->method);
	}
	if (q->accept) {
		(void)snprintf(hdr, sizeof(hdr), "Accept: %s", q->accept);
		hl = curl_slist_append(hl, hdr);
	}
	if (q->content_type) {
		(void)snprintf(hdr, sizeof(hdr), "Content-Type: %s", q->content_type);
		hl = curl_slist_append(hl, hdr);
	}
	if (q->content_range[0]) {
		(void)snprintf(hdr, sizeof(hdr), "Content-Range: %s", q->content_range);
		hl = curl_slist_append(hl, hdr);
	}
	if (q->dst_fd >= 0 && *q->dst_off > 0) {
		(void)snprintf(hdr, sizeof(hdr), "Range: bytes=%llu-",
			       (unsigned long long)*q->dst_off);
		hl = curl_slist_append(hl, hdr);
	}
	hl = curl_slist_append(hl, "Expect:");
	if (!hl) {
		r = -ENOMEM;
		goto out;
	}
	SET(CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(h);
	if (x.err) {
		r = x.err;
		goto out;
	}
	if (cc != CURLE_OK) {
		r = cn_http_curl_error(cc, errbuf, q->url);
		goto out;
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	r = 0;
out:
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return r;
}

/* GET realm?service=..&scope=.. (Basic with the config's credentials when present). */
static int fetch_token(struct oci_client *c, const struct cn_oci_challenge *ch)
{
	_cleanup_free_ char *url = NULL;
	char scope[3][CN_OCI_REPO_MAX + 600];
	struct oci_resp resp = {0};
	struct oci_req q;
	char *tok = NULL;
	size_t len;
	FILE *f;
	int r, ns = 0;

	if (!cn_http_url_is_https(ch->realm))
		return cn_err_set(-EPROTONOSUPPORT, "registry %s: token realm '%s' is not https",
				  c->ref.host, ch->realm);
	(void)snprintf(scope[ns++], sizeof(scope[0]), "repository:%s:%s", c->ref.repo,
		       c->push ? "pull,push" : "pull");
	if (c->mount_from)
		(void)snprintf(scope[ns++], sizeof(scope[0]), "repository:%s:pull", c->mount_from);
	if (ch->scope[0] && strcmp(ch->scope, scope[0]) != 0)
		(void)snprintf(scope[ns++], sizeof(scope[0]), "%s", ch->scope);
	f = open_memstream(&url, &len);
	if (!f)
		return -ENOMEM;
	fputs(ch->realm, f);
	fputc(strchr(ch->realm, '?') ? '&' : '?', f);
	if (ch->service[0]) {
		char *e = curl_easy_escape(NULL, ch->service, 0);

		fprintf(f, "service=%s&", e ? e : "");
		curl_free(e);
	}
	for (int i = 0; i < ns; i++) {
		char *e = curl_easy_escape(NULL, scope[i], 0);

		fprintf(f, "scope=%s%s", e ? e : "", i + 1 < ns ? "&" : "");
		curl_free(e);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	q = (struct oci_req){.method = "GET",
			     .url = url,
			     .what = "token",
			     .dst_fd = -1,
			     .body_max = CN_OCI_TOKEN_RESPONSE_MAX,
			     .no_auth = true,
			     .user = c->user,
			     .pass = c->pass};
	r = attempt(c, &q, &resp);
	if (r < 0)
		return cn_net_err_wrap(r, "registry %s: token request", c->ref.host);
	if (resp.status == 401 || resp.status == 403)
		r = cn_err_set(-EACCES, "registry %s: the token service refused %s (HTTP %ld)",
			       c->ref.host,
			       c->user ? "the credentials from the Docker config or its helper"
				       : "anonymous access (no credentials in the Docker config)",
			       resp.status);
	else if (resp.status != 200)
		r = cn_err_set(-EIO, "registry %s: token service answered HTTP %ld", c->ref.host,
			       resp.status);
	else
		r = cn_oci_token_parse(resp.body, resp.len, &tok);
	oci_resp_done(&resp);
	if (r < 0)
		return r;
	(void)pthread_mutex_lock(&c->lock);
	free(c->token);
	c->token = tok;
	c->mode = 2;
	(void)pthread_mutex_unlock(&c->lock);
	return 0;
}

static int authenticate(struct oci_client *c, const struct oci_resp *resp, int mode_used)
{
	struct cn_oci_challenge ch;
	int r;

	if (!resp->www_auth)
		return cn_err_set(-EACCES,
				  "registry %s: HTTP 401 without a WWW-Authenticate "
				  "challenge",
				  c->ref.host);
	r = cn_oci_challenge_parse(resp->www_auth, &ch);
	if (r < 0)
		return cn_net_err_wrap(r, "registry %s", c->ref.host);
	if (ch.bearer)
		return fetch_token(c, &ch);
	if (!c->user)
		return cn_err_set(-EACCES,
				  "registry %s: authentication required and no credentials for "
				  "it from %s",
				  c->ref.host, c->cred_from ? c->cred_from : "(no Docker config)");
	if (mode_used == 1)
		return cn_err_set(-EACCES,
				  "registry %s: the credentials for it from %s were refused",
				  c->ref.host, c->cred_from);
	(void)pthread_mutex_lock(&c->lock);
	c->mode = 1;
	(void)pthread_mutex_unlock(&c->lock);
	return 0;
}

int oci_request(struct oci_client *c, struct oci_req *q, struct oci_resp *ret)
{
	int r;

	for (int i = 0;; i++) {
		int mode;

		(void)pthread_mutex_lock(&c->lock);
		mode = c->mode;
		(void)pthread_mutex_unlock(&c->lock);
		oci_resp_done(ret);
		r = attempt(c, q, ret);
		if (r < 0 || ret->status != 401)
			return r;
		if (i > 0 && mode == 1)
			return cn_err_set(
			    -EACCES,
			    "registry %s: the credentials for it from %s were refused "
			    "(HTTP 401 on %s %s)",
			    c->ref.host, c->cred_from, q->method, q->what);
		if (i > 0)
			return cn_err_set(-EACCES, "registry %s refused %s %s (HTTP 401)",
					  c->ref.host, q->method, q->what);
		r = authenticate(c, ret, mode);
		if (r < 0)
			return r;
	}
}

int oci_status_error(struct oci_client *c, const struct oci_req *q, const struct oci_resp *resp)
{
	char detail[256] = "";

	if (resp->body && resp->len) {
		json_t *j = json_loadb((const char *)resp->body, resp->len, 0, NULL);
		json_t *e = json_array_get(json_object_get(j, "errors"), 0);
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		size_t n;

		if (code)
			(void)snprintf(detail, sizeof(detail), ": %s%s%s", code, msg ? " " : "",
				       msg ? msg : "");
		for (n = 0; detail[n]; n++)
			if ((unsigned char)detail[n] < 0x20 || detail[n] == 0x7f)
				detail[n] = '?';
		json_decref(j);
	}
	if (resp->status == 401 || resp->status == 403)
		return cn_err_set(-EACCES, "registry %s denied %s %s (HTTP %ld%s)", c->ref.host,
				  q->method, q->what, resp->status, detail);
	if (resp->status == 404)
		return cn_err_set(-ENOENT, "registry %s: %s not found in %s (HTTP 404%s)",
				  c->ref.host, q->what, c->ref.repo, detail);
	return cn_err_set(-EIO, "registry %s answered HTTP %ld to %s %s%s", c->ref.host,
			  resp->status, q->method, q->what, detail);
}
