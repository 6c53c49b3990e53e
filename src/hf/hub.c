/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hugging Face hub client: configuration, the metadata API (revision → commit, paginated tree
 * listing), the HF cache shortcut and the staging folder. The download engine is in hub-files.c.
 * Design and decisions: docs/hub.md.
 */
#include "hf/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/parse.h"
#include "hf/cache.h"
#include "hf/hub-internal.h"

#define CN_HUB_TOKEN_MAX 4096u
#define CN_HUB_PAGES_MAX 1000u
#define CN_HUB_API_BODY_MAX (16u * 1024 * 1024)
#define CN_HUB_DEFAULT_ENDPOINT "https://huggingface.co"

uint64_t cn_hub_backoff_ms(unsigned attempt)
{
	uint64_t ms = CN_HUB_BACKOFF_BASE_MS;

	while (attempt-- > 1 && ms < CN_HUB_BACKOFF_MAX_MS)
		ms *= 2;
	return CN_MIN(ms, (uint64_t)CN_HUB_BACKOFF_MAX_MS);
}

void cn_hub_sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void hub_done(struct hub *h)
{
	if (h->token) {
		OPENSSL_cleanse(h->token, strlen(h->token));
		free(h->token);
	}
	free(h->endpoint);
	free(h->hf_home);
	free(h->hub_cache);
	free(h->ca_bundle);
	*h = (struct hub){0};
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* A token is printable ASCII without blanks (it becomes an HTTP header). Never echoed. */
static int token_check(const char *t, size_t len, const char *where)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return cn_err_set(-EINVAL,
					  "the token from %s contains a byte that is not printable "
					  "ASCII (offset %zu)",
					  where, i);
	return 0;
}

static int resolve_token(const struct cn_hub_opts *o, const char *hf_home, char **ret)
{
	_cleanup_free_ char *path = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, start = 0;
	const char *v, *where;
	int r;

	*ret = NULL;
	v = o->token;
	where = "--hf-token";
	if (!v) {
		v = env_nonempty("HF_TOKEN");
		where = "HF_TOKEN";
	}
	if (!v) {
		v = env_nonempty("HUGGING_FACE_HUB_TOKEN");
		where = "HUGGING_FACE_HUB_TOKEN";
	}
	if (v) {
		if (!*v)
			return 0;
		r = token_check(v, strlen(v), where);
		if (r < 0)
			return r;
		*ret = strdup(v);
		return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
	}
	v = env_nonempty("HF_TOKEN_PATH");
	path = v ? strdup(v) : cn_path_join(hf_home, "token");
	if (!path)
		return cn_err_set(-ENOMEM, "out of memory");
	r = cn_read_file(path, CN_HUB_TOKEN_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cn_err_set(r, "cannot read the token file '%s': %s", path, cn_strerror(r));
	while (start < len && (buf[start] == ' ' || buf[start] == '\n' || buf[start] == '\r' ||
			       buf[start] == '\t'))
		start++;
	while (len > start && (buf[len - 1] == ' ' || buf[len - 1] == '\n' ||
			       buf[len - 1] == '\r' || buf[len - 1] == '\t'))
		len--;
	if (len > start) {
		r = token_check((const char *)buf + start, len - start, path);
		if (r >= 0) {
			*ret = strndup((const char *)buf + start, len - start);
			if (!*ret)
				r = cn_err_set(-ENOMEM, "out of memory");
		}
	} else
		r = 0;
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

static int resolve_endpoint(const struct cn_hub_opts *o, char **ret)
{
	const char *v = o->endpoint ? o->endpoint : env_nonempty("HF_ENDPOINT");
	size_t len;
	int r;

	if (!v)
		v = CN_HUB_DEFAULT_ENDPOINT;
	len = strlen(v);
	while (len > 0 && v[len - 1] == '/')
		len--;
	if (len > 512 || strcspn(v, "?#@ \t\r\n\\") < len)
		return cn_err_set(-EINVAL, "hub endpoint '%.200s' is not a plain https URL", v);
	r = cn_http_global_init(); /* libcurl parses the URL: a missing one is named as such */
	if (r < 0)
		return r;
	*ret = strndup(v, len);
	if (!*ret)
		return cn_err_set(-ENOMEM, "out of memory");
	if (!cn_http_url_is_https(*ret)) {
		r = cn_err_set(-EINVAL, "hub endpoint '%s' must be an https URL", *ret);

		free(*ret);
		*ret = NULL;
		return r;
	}
	return 0;
}

/* The progress floor of downloads (hub.h): options, else the environment, else defaults. */
static int rate_floor(const struct cn_hub_opts *o, struct hub *h)
{
	const char *v;
	uint32_t n;

	h->min_rate = o->min_rate ? o->min_rate : CN_HUB_MIN_RATE_DEFAULT;
	h->rate_window_s = o->rate_window_s ? o->rate_window_s : CN_HUB_RATE_WINDOW_DEFAULT;
	if (!o->min_rate && (v = env_nonempty("COCOON_HF_MIN_RATE"))) {
		if (cn_parse_u32(v, 1u << 30, &n) < 0)
			return cn_err_set(
			    -EINVAL, "COCOON_HF_MIN_RATE='%.32s' is not 0..1073741824 bytes/s", v);
		h->min_rate = n;
	}
	if (!o->rate_window_s && (v = env_nonempty("COCOON_HF_RATE_WINDOW"))) {
		if (cn_parse_u32(v, 3600, &n) < 0 || n == 0)
			return cn_err_set(
			    -EINVAL, "COCOON_HF_RATE_WINDOW='%.32s' is not 1..3600 seconds", v);
		h->rate_window_s = n;
	}
	return 0;
}

static int hub_init(const struct cn_hub_opts *o, const char *repo, struct hub *h)
{
	const char *v;
	unsigned timeout = o->timeout_s;
	int r;

	*h = (struct hub){.repo = (char *)repo, .progress = o->progress};
	r = resolve_endpoint(o, &h->endpoint);
	if (r < 0)
		return r;
	r = cn_hf_home(o->hf_home, &h->hf_home);
	if (r < 0)
		return r;
	r = cn_hf_hub_cache(o->hf_home, &h->hub_cache);
	if (r < 0)
		return r;
	r = resolve_token(o, h->hf_home, &h->token);
	if (r < 0)
		return r;
	v = o->ca_bundle ? o->ca_bundle : env_nonempty("REQUESTS_CA_BUNDLE");
	if (!v)
		v = env_nonempty("CURL_CA_BUNDLE");
	if (v) {
		if (access(v, R_OK) < 0)
			return cn_err_set(-errno, "cannot read the CA bundle '%s': %s", v,
					  strerror(errno));
		h->ca_bundle = strdup(v);
		if (!h->ca_bundle)
			return cn_err_set(-ENOMEM, "out of memory");
	}
	r = cn_hf_offline(o->offline, &h->offline);
	if (r < 0)
		return r;
	if (!timeout && (v = env_nonempty("HF_HUB_DOWNLOAD_TIMEOUT"))) {
		uint32_t t;

		r = cn_parse_u32(v, 3600, &t);
		if (r < 0 || t == 0)
			return cn_err_set(
			    -EINVAL, "HF_HUB_DOWNLOAD_TIMEOUT='%.32s' is not 1..3600 seconds", v);
		timeout = t;
	}
	if (!timeout)
		timeout = 10;
	h->parallel =
	    o->parallel ? CN_MIN(o->parallel, CN_HUB_PARALLEL_MAX) : CN_HUB_PARALLEL_DEFAULT;
	h->retries = o->retries ? o->retries : CN_HUB_RETRIES_DEFAULT;
	r = rate_floor(o, h);
	if (r < 0)
		return r;
	h->api = (struct cn_http_opts){
	    .ca_bundle = h->ca_bundle,
	    .bearer = h->token,
	    .connect_timeout_ms = (long)timeout * 1000,
	    .low_speed_time_s = (long)timeout,
	    .total_timeout_ms = (long)timeout * 6000,
	    .max_body = CN_HUB_API_BODY_MAX,
	};
	h->dl = h->api;
	h->dl.total_timeout_ms = 0;
	return 0;
}

char *cn_hub_escape_path(const char *path)
{
	size_t cap = strlen(path) * 3 + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	/* RFC 3986 unreserved characters and '/' stay; everything else is %XX. */
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' || *s == '~' ||
		    *s == '/')
			out[o++] = (char)*s;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", *s);
	}
	out[o] = 0;
	return out;
}

/* Server text in a message: printable ASCII only, bounded. */
static void sanitize(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; in && *in && o + 1 < size; in++)
		out[o++] = (unsigned char)*in >= 0x20 && (unsigned char)*in < 0x7f ? *in : '?';
	out[o] = 0;
}

/* One line for a metadata request that got an error status. */
static int status_error(const struct hub *h, const struct cn_http_response *resp, const char *rev)
{
	const char *code = resp->headers.error_code ? resp->headers.error_code : "";
	char msg[160];

	sanitize(resp->headers.error_message, msg, sizeof(msg));
	switch (resp->status) {
	case 401:
		if (strcmp(code, "GatedRepo") == 0)
			return cn_err_set(
			    -EACCES,
			    "repository '%s' is gated (401): %s; accept its terms on the hub "
			    "and give a token with --hf-token, HF_TOKEN or $HF_HOME/token",
			    h->repo,
			    h->token ? "the token was not accepted" : "no token was given");
		if (h->token)
			return cn_err_set(
			    -EACCES,
			    "the hub rejected the token for '%s' (401): it is invalid or "
			    "expired, or the repository is private to another account",
			    h->repo);
		return cn_err_set(
		    -EACCES,
		    "repository '%s' needs a token (401): it is private or gated, or "
		    "does not exist; give one with --hf-token, HF_TOKEN or $HF_HOME/token",
		    h->repo);
	case 403:
		if (strcmp(code, "GatedRepo") == 0)
			return cn_err_set(
			    -EACCES,
			    "repository '%s' is gated and the token has no access (403): "
			    "request access on the hub",
			    h->repo);
		return cn_err_set(-EACCES, "access to repository '%s' is forbidden (403) for %s",
				  h->repo,
				  h->token ? "this token" : "anonymous requests (no token given)");
	case 404:
		if (strcmp(code, "RevisionNotFound") == 0)
			return cn_err_set(-ENOENT, "revision '%s' not found in repository '%s'",
					  rev, h->repo);
		if (strcmp(code, "EntryNotFound") == 0)
			return cn_err_set(-ENOENT, "entry not found in '%s' at '%s' (404)", h->repo,
					  rev);
		return cn_err_set(-ENOENT, "repository '%s' not found on %s (404)", h->repo,
				  h->endpoint);
	case 429:
		return cn_err_set(-EBUSY,
				  "rate limited by %s (429) after %u retries; try again later",
				  h->endpoint, h->retries);
	default:
		return cn_err_set(-EIO, "hub answered HTTP %ld for '%s'%s%s", resp->status, h->repo,
				  msg[0] ? ": " : "", msg);
	}
}

static bool status_retryable(long st)
{
	return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* Retry-After when present and sane, else the exponential backoff. -EBUSY when too long. */
static int retry_delay(const struct hub *h, const struct cn_http_headers *hh, unsigned attempt,
		       uint64_t *ret_ms)
{
	long s;
	bool clamped;

	if (hh->retry_after && cn_http_parse_retry_after(hh->retry_after, CN_HUB_RETRY_AFTER_MAX_S,
							 &s, &clamped) == 0) {
		if (clamped)
			return cn_err_set(-EBUSY,
					  "rate limited by %s: it asks to wait more than %ld s "
					  "(Retry-After: %.40s); try again later",
					  h->endpoint, CN_HUB_RETRY_AFTER_MAX_S, hh->retry_after);
		*ret_ms = (uint64_t)s * 1000;
		return 0;
	}
	*ret_ms = cn_hub_backoff_ms(attempt);
	return 0;
}

/*
 * GET a metadata URL. Retries 429/5xx (backoff, Retry-After) and broken or stalled
 * connections; returns 0 with the final response for any other status.
 */
static int api_get(const struct hub *h, const char *url, struct cn_http_response *ret)
{
	unsigned net_fail = 0;
	int r;

	for (unsigned attempt = 1;; attempt++) {
		struct cn_http_response resp = {0};
		uint64_t ms = 0;
		long st;

		r = cn_http_get(&h->api, url, &resp);
		if (r < 0) {
			if ((r == -ETIMEDOUT || r == -ECONNRESET) &&
			    net_fail++ < CN_HUB_STALL_RETRIES) {
				log_debug("hub: %s, retrying", cn_err_msg());
				cn_hub_sleep_ms(cn_hub_backoff_ms(attempt));
				continue;
			}
			return r;
		}
		if (!status_retryable(resp.status) || attempt > h->retries) {
			*ret = resp;
			return 0;
		}
		st = resp.status;
		r = retry_delay(h, &resp.headers, attempt, &ms);
		cn_http_response_done(&resp);
		if (r < 0)
			return r;
		log_debug("hub: HTTP %ld from '%s', retry %u in %llu ms", st, url, attempt,
			  (unsigned long long)ms);
		cn_hub_sleep_ms(ms);
	}
}

static void json_unrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}

static int resolve_commit(const struct hub *h, const char *rev, char **ret)
{
	__attribute__((cleanup(json_unrefp))) json_t *root = NULL;
	_cleanup_free_ char *url = NULL, *erev = NULL;
	struct cn_http_response resp = {0};
	json_error_t jerr;
	const char *sha;
	int r;

	erev = curl_easy_escape(NULL, rev, 0);
	if (!erev)
		return cn_err_set(-ENOMEM, "out of memory");
	if (asprintf(&url, "%s/api/models/%s/revision/%s", h->endpoint, h->repo, erev) < 0) {
		url = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	r = api_get(h, url, &resp);
	if (r < 0)
		return r;
	if (resp.status != 200) {
		r = status_error(h, &resp, rev);
		cn_http_response_done(&resp);
		return r;
	}
	root = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	cn_http_response_done(&resp);
	if (!json_is_object(root))
		return cn_err_set(-EBADMSG, "revision info of '%s@%s' is not a JSON object",
				  h->repo, rev);
	sha = json_string_value(json_object_get(root, "sha"));
	if (!sha || json_string_length(json_object_get(root, "sha")) != 40 ||
	    !cn_is_lower_hex(sha, 40))
		return cn_err_set(-EBADMSG,
				  "revision info of '%s@%s': 'sha' is not a 40-hex commit", h->repo,
				  rev);
	if (cn_is_lower_hex(rev, 40) && strcmp(rev, sha) != 0)
		return cn_err_set(-EBADMSG, "hub resolved commit '%s' to a different commit '%s'",
				  rev, sha);
	*ret = strdup(sha);
	return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
}

static int list_tree(const struct hub *h, const char *commit, struct cn_hub_tree *ret)
{
	_cleanup_free_ char *url = NULL, *prefix = NULL;
	struct cn_hub_tree t = {0};
	unsigned pages = 0;
	int r;

	if (asprintf(&prefix, "%s/api/models/%s/tree/%s?", h->endpoint, h->repo, commit) < 0) {
		prefix = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	if (asprintf(&url, "%srecursive=true", prefix) < 0) {
		url = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	while (url) {
		struct cn_http_response resp = {0};
		char *next = NULL;

		if (++pages > CN_HUB_PAGES_MAX) {
			r = cn_err_set(-E2BIG, "tree listing of '%s' has more than %u pages",
				       h->repo, CN_HUB_PAGES_MAX);
			goto fail;
		}
		r = api_get(h, url, &resp);
		if (r < 0)
			goto fail;
		if (resp.status != 200) {
			r = status_error(h, &resp, commit);
			cn_http_response_done(&resp);
			goto fail;
		}
		r = cn_hub_tree_parse_page(resp.body, resp.len, &t);
		if (r >= 0 && resp.headers.link)
			r = cn_hub_link_next(resp.headers.link, strlen(resp.headers.link), &next);
		cn_http_response_done(&resp);
		if (r < 0) {
			r = cn_net_err_wrap(r, "tree listing of '%s' page %u", h->repo, pages);
			goto fail;
		}
		if (next) {
			r = cn_hub_next_url_check(prefix, next);
			if (r >= 0 && strcmp(next, url) == 0)
				r = cn_err_set(-EBADMSG,
					       "tree listing of '%s': page %u links to itself",
					       h->repo, pages);
			if (r < 0) {
				free(next);
				goto fail;
			}
		}
		free(url);
		url = next;
	}
	r = cn_hub_tree_finish(&t);
	if (r < 0) {
		r = cn_net_err_wrap(r, "tree listing of '%s'", h->repo);
		goto fail;
	}
	if (t.n == 0) {
		r = cn_err_set(-ENOENT, "repository '%s' has no files at commit %s", h->repo,
			       commit);
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	cn_hub_tree_done(&t);
	return r;
}

/* The reference's file name for a model: every byte that is not ASCII alnum becomes '_'. */
static char *path_name(const char *repo)
{
	char *s = strdup(repo);

	for (char *c = s; c && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			*c = '_';
	return s;
}

static void on_lock_wait(void *userdata, const char *lock_name)
{
	log_info("waiting for another download of the same commit to finish (lock '%s')",
		 lock_name);
}

static int ensure_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return cn_err_set(-errno, "cannot create '%s': %s", path, strerror(errno));
	if (lstat(path, &st) < 0)
		return cn_err_set(-errno, "cannot stat '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cn_err_set(-ENOTDIR, "'%s' exists and is not a folder", path);
	return 0;
}

static int snapshot_download(struct hub *h, const char *commit, const struct cn_hub_tree *t,
			     const char *staging_root, char **ret_dir)
{
	_cleanup_free_ char *name = NULL, *final = NULL, *parts = NULL, *tmp = NULL, *lock = NULL;
	_cleanup_close_ int lock_fd = -EBADF;
	struct stat st;
	int r;

	name = path_name(h->repo);
	if (!name)
		return cn_err_set(-ENOMEM, "out of memory");
	r = cn_mkdir_p(staging_root, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create the staging folder '%s': %s", staging_root,
				  strerror(-r));
	if (asprintf(&final, "%s/%s@%s", staging_root, name, commit) < 0 ||
	    asprintf(&parts, "%s/.%s@%s.parts", staging_root, name, commit) < 0 ||
	    asprintf(&tmp, "%s/.%s@%s.tmp", staging_root, name, commit) < 0 ||
	    asprintf(&lock, "%s/.%s@%s.lock", staging_root, name, commit) < 0)
		return cn_err_set(-ENOMEM, "out of memory");
	r = cn_lock_wait_at(AT_FDCWD, lock, on_lock_wait, NULL, &lock_fd);
	if (r < 0)
		return r;

	/* A folder of this commit left by an earlier run is used only if it checks out completely.
	 */
	if (lstat(final, &st) == 0) {
		if (S_ISDIR(st.st_mode) &&
		    cn_hub_dir_verify(final, t, h->parallel, h->progress) == 0) {
			log_debug("hub: staging folder '%s' verified, reusing it", final);
			*ret_dir = TAKE_PTR(final);
			return 0;
		}
		log_debug("hub: staging folder '%s' is incomplete (%s), replacing it", final,
			  cn_err_msg());
		r = cn_rm_rf(final);
		if (r < 0)
			return r;
	}
	r = ensure_dir(parts);
	if (r < 0)
		return r;
	r = cn_rm_rf(tmp);
	if (r < 0)
		return r;
	r = ensure_dir(tmp);
	if (r < 0)
		return r;
	r = cn_hub_download(h, commit, t, parts, tmp);
	if (r < 0) {
		(void)cn_rm_rf(tmp);
		return r;
	}
	r = cn_publish_dir(tmp, final, false);
	if (r < 0) {
		(void)cn_rm_rf(tmp);
		return r;
	}
	(void)cn_rm_rf(parts);
	*ret_dir = TAKE_PTR(final);
	return 0;
}

int cn_hub_snapshot(const struct cn_hub_opts *o, const char *repo, const char *revision,
		    const char *staging_root, char **ret_commit, char **ret_dir,
		    bool *ret_is_hf_cache)
{
	_cleanup_free_ char *commit = NULL, *dir = NULL;
	struct cn_hub_tree t = {0};
	const char *rev = revision ? revision : "main";
	struct hub h;
	int r;

	r = cn_hub_repo_id_check(repo);
	if (r < 0)
		return r;
	r = cn_hub_revision_check(rev);
	if (r < 0)
		return r;
	if (!staging_root || !*staging_root)
		return cn_err_set(-EINVAL, "no staging folder given");
	r = hub_init(o, repo, &h);
	if (r < 0)
		goto out;

	if (h.offline) {
		r = cn_err_set(-ENOENT, "offline (HF_HUB_OFFLINE): the hub is not contacted");
		goto out;
	}
	r = resolve_commit(&h, rev, &commit);
	if (r < 0)
		goto out;
	r = list_tree(&h, commit, &t);
	if (r < 0)
		goto out;
	/* A snapshot in the HF cache is used only when it holds exactly the listed files (partial,
	 * copy-mode or empty ones included: their bytes are checked, whatever their names). */
	if (!(o && o->no_hf_cache) &&
	    cn_hf_cache_resolve(h.hub_cache, repo, commit, NULL, &dir) == 0) {
		if (cn_hub_dir_verify(dir, &t, h.parallel, h.progress) == 0) {
			*ret_is_hf_cache = true;
			goto success;
		}
		log_warning(
		    "the Hugging Face cache snapshot '%s' does not match the hub listing (%s); "
		    "downloading a fresh copy",
		    dir, cn_err_msg());
		free(dir);
		dir = NULL;
	}
	r = snapshot_download(&h, commit, &t, staging_root, &dir);
	if (r < 0)
		goto out;
	*ret_is_hf_cache = false;
success:
	*ret_commit = TAKE_PTR(commit);
	*ret_dir = TAKE_PTR(dir);
	r = 0;
out:
	cn_hub_tree_done(&t);
	hub_done(&h);
	return r;
}
