/* SPDX-License-Identifier: Apache-2.0 */
/* Distribution API v2 operations: blobs (HEAD, mount, upload, GET with Range), manifests. */
#include "oci/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/progress.h"
#include "net/http.h"
#include "oci/request.h"

#define RESUME_TRIES 5

static const char *env_nonempty(const char *k)
{
	const char *v = getenv(k);

	return v && *v ? v : NULL;
}

static int load_credentials(struct oci_client *c, const char *path)
{
	char helper[CN_OCI_HELPER_NAME_MAX + 1];
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (path)
		c->config_path = strdup(path);
	else if (env_nonempty("DOCKER_CONFIG")) {
		if (asprintf(&c->config_path, "%s/config.json", getenv("DOCKER_CONFIG")) < 0)
			c->config_path = NULL;
	} else if (env_nonempty("HOME")) {
		if (asprintf(&c->config_path, "%s/.docker/config.json", getenv("HOME")) < 0)
			c->config_path = NULL;
	} else
		return 0;
	if (!c->config_path)
		return -ENOMEM;
	r = cn_read_file(c->config_path, CN_OCI_DOCKER_CONFIG_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cn_err_set(r, "cannot read the Docker config '%s': %s", c->config_path,
				  strerror(-r));
	/* As docker: credHelpers.<host>, else credsStore, else the inline auths entry. */
	r = cn_oci_docker_config_helper(buf, len, c->ref.host, helper);
	if (r == 0) {
		if (asprintf(&c->cred_from, "docker-credential-%s (named in '%s')", helper,
			     c->config_path) < 0) {
			c->cred_from = NULL;
			return -ENOMEM;
		}
		r = cn_oci_cred_helper_get(helper, c->ref.host, getenv("PATH"), &c->user, &c->pass);
		if (r == -ENOENT)
			return 0;
		return r < 0 ? cn_net_err_wrap(r, "registry %s", c->ref.host) : 0;
	}
	if (r != -ENOENT)
		return cn_net_err_wrap(r, "'%s'", c->config_path);
	if (asprintf(&c->cred_from, "'%s'", c->config_path) < 0) {
		c->cred_from = NULL;
		return -ENOMEM;
	}
	r = cn_oci_docker_config_parse(buf, len, c->ref.host, &c->user, &c->pass);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cn_net_err_wrap(r, "'%s'", c->config_path);
	return 0;
}

int oci_client_init(struct oci_client *c, const struct cn_oci_opts *o, const struct cn_oci_ref *ref,
		    bool push)
{
	const char *ca = o->ca_bundle;
	int r;

	*c = (struct oci_client){.ref = *ref, .push = push, .max_rate = o->max_rate};
	(void)pthread_mutex_init(&c->lock, NULL);
	if (!ca)
		ca = env_nonempty("REQUESTS_CA_BUNDLE");
	if (!ca)
		ca = env_nonempty("CURL_CA_BUNDLE");
	if (ca && !(c->ca_bundle = strdup(ca)))
		return -ENOMEM;
	if (o->mount_from && !(c->mount_from = strdup(o->mount_from)))
		return -ENOMEM;
	r = cn_http_global_init();
	if (r < 0)
		return r;
	return load_credentials(c, o->docker_config);
}

void oci_client_done(struct oci_client *c)
{
	free(c->ca_bundle);
	free(c->user);
	if (c->pass)
		explicit_bzero(c->pass, strlen(c->pass));
	free(c->pass);
	free(c->config_path);
	free(c->cred_from);
	free(c->mount_from);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	(void)pthread_mutex_destroy(&c->lock);
	*c = (struct oci_client){0};
}

static char *url_of(struct oci_client *c, const char *kind, const char *what)
{
	char *u;

	if (asprintf(&u, "https://%s/v2/%s/%s/%s", c->ref.host, c->ref.repo, kind, what) < 0)
		return NULL;
	return u;
}

int oci_sha_hex(EVP_MD_CTX *sha, char ret[72])
{
	EVP_MD_CTX *cp = EVP_MD_CTX_new();
	uint8_t md[32];
	unsigned n = 0;

	if (!cp || EVP_MD_CTX_copy_ex(cp, sha) != 1 || EVP_DigestFinal_ex(cp, md, &n) != 1 ||
	    n != 32) {
		EVP_MD_CTX_free(cp);
		return cn_err_set(-EIO, "SHA-256 failed");
	}
	EVP_MD_CTX_free(cp);
	memcpy(ret, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		(void)snprintf(ret + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int oci_blob_exists(struct oci_client *c, const char *digest, bool *ret_exists)
{
	_cleanup_free_ char *url = url_of(c, "blobs", digest);
	char what[96];
	struct oci_resp resp = {0};
	struct oci_req q;
	int r;

	if (!url)
		return -ENOMEM;
	(void)snprintf(what, sizeof(what), "blob %s", digest);
	q = (struct oci_req){.method = "HEAD", .url = url, .what = what, .dst_fd = -1};
	r = oci_request(c, &q, &resp);
	if (r >= 0) {
		if (resp.status == 200)
			*ret_exists = true;
		else if (resp.status == 404)
			*ret_exists = false;
		else
			r = oci_status_error(c, &q, &resp);
	}
	oci_resp_done(&resp);
	return r;
}

/* An upload Location must stay on the registry's origin (credentials go with it). */
static int location_url(struct oci_client *c, const char *loc, char **ret)
{
	char prefix[CN_OCI_HOST_MAX + 16];

	if (!loc)
		return cn_err_set(-EBADMSG, "registry %s: upload response without a Location",
				  c->ref.host);
	for (const char *p = loc; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return cn_err_set(-EBADMSG, "registry %s: malformed upload Location",
					  c->ref.host);
	(void)snprintf(prefix, sizeof(prefix), "https://%s/", c->ref.host);
	if (loc[0] == '/' && loc[1] != '/') {
		if (asprintf(ret, "https://%s%s", c->ref.host, loc) < 0)
			return -ENOMEM;
		return 0;
	}
	if (strncasecmp(loc, prefix, strlen(prefix)) != 0)
		return cn_err_set(-EPERM,
				  "registry %s: upload Location '%.128s' leaves the registry's "
				  "origin; refused",
				  c->ref.host, loc);
	*ret = strdup(loc);
	return *ret ? 0 : -ENOMEM;
}

/* POST .../blobs/uploads/[?mount=..&from=..]: 201 mounted, 202 an upload URL. */
static int upload_start(struct oci_client *c, const char *digest, bool mount, bool *ret_mounted,
			char **ret_loc)
{
	_cleanup_free_ char *url = NULL;
	struct oci_resp resp = {0};
	struct oci_req q;
	int r;

	if (mount) {
		if (asprintf(&url, "https://%s/v2/%s/blobs/uploads/?mount=%s&from=%s", c->ref.host,
			     c->ref.repo, digest, c->mount_from) < 0)
			url = NULL;
	} else
		url = url_of(c, "blobs", "uploads/");
	if (!url)
		return -ENOMEM;
	q = (struct oci_req){.method = "POST", .url = url, .what = "blob upload", .dst_fd = -1};
	r = oci_request(c, &q, &resp);
	if (r >= 0) {
		if (resp.status == 201 && mount)
			*ret_mounted = true;
		else if (resp.status == 202)
			r = location_url(c, resp.location, ret_loc);
		else
			r = oci_status_error(c, &q, &resp);
	}
	oci_resp_done(&resp);
	return r;
}

static int put_or_patch(struct oci_client *c, struct oci_req *q, long want, char **loc)
{
	struct oci_resp resp = {0};
	int r = oci_request(c, q, &resp);

	if (r >= 0 && resp.status != want)
		r = oci_status_error(c, q, &resp);
	if (r >= 0 && loc && want == 202) {
		free(*loc);
		*loc = NULL;
		r = location_url(c, resp.location, loc);
	}
	oci_resp_done(&resp);
	return r;
}

static int upload_body(struct oci_client *c, const char *digest, int fd, const void *mem,
		       uint64_t size, uint64_t chunk, struct cn_progress *progress, char *loc)
{
	_cleanup_free_ char *url = NULL;
	char what[96];
	uint64_t off = 0;
	struct oci_req q;
	int r;

	(void)snprintf(what, sizeof(what), "blob %s", digest);
	while (chunk && off < size) { /* PATCH chunks, each to the Location of the previous */
		uint64_t n = CN_MIN(chunk, size - off);

		q = (struct oci_req){.method = "PATCH",
				     .url = loc,
				     .what = what,
				     .src_mem = NULL,
				     .src_fd = fd,
				     .src_off = off,
				     .src_len = n,
				     .dst_fd = -1,
				     .content_type = "application/octet-stream",
				     .progress = progress};
		if (mem) {
			q.src_mem = (const uint8_t *)mem + off;
			q.src_off = 0;
		}
		(void)snprintf(q.content_range, sizeof(q.content_range), "%llu-%llu",
			       (unsigned long long)off, (unsigned long long)(off + n - 1));
		r = put_or_patch(c, &q, 202, &loc);
		if (r < 0)
			goto out;
		off += n;
	}
	if (asprintf(&url, "%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	q = (struct oci_req){.method = "PUT",
			     .url = url,
			     .what = what,
			     .src_mem = mem,
			     .src_fd = fd,
			     .src_len = size - off,
			     .src_off = off,
			     .dst_fd = -1,
			     .content_type = "application/octet-stream",
			     .progress = progress};
	if (mem)
		q.src_mem = (const uint8_t *)mem + off;
	r = put_or_patch(c, &q, 201, NULL);
out:
	free(loc);
	return r;
}

int oci_blob_upload(struct oci_client *c, const char *digest, int fd, uint64_t size,
		    uint64_t chunk_size, struct cn_progress *progress, bool *ret_mounted)
{
	char *loc = NULL;
	bool mounted = false;
	int r;

	r = upload_start(c, digest, c->mount_from != NULL, &mounted, &loc);
	if (r < 0)
		return r;
	*ret_mounted = mounted;
	if (mounted)
		return 0;
	return upload_body(c, digest, fd, NULL, size, chunk_size, progress, loc);
}

int oci_blob_upload_mem(struct oci_client *c, const char *digest, const void *buf, size_t len)
{
	char *loc = NULL;
	bool mounted = false;
	int r;

	r = upload_start(c, digest, false, &mounted, &loc);
	if (r < 0)
		return r;
	return upload_body(c, digest, -1, buf, len, 0, NULL, loc);
}

int oci_manifest_put(struct oci_client *c, const char *tag, const char *body, char ret_digest[72])
{
	_cleanup_free_ char *url = url_of(c, "manifests", tag);
	struct oci_resp resp = {0};
	char what[CN_OCI_TAG_MAX + 16];
	struct oci_req q;
	int r;

	if (!url)
		return -ENOMEM;
	(void)snprintf(what, sizeof(what), "manifest '%s'", tag);
	q = (struct oci_req){.method = "PUT",
			     .url = url,
			     .what = what,
			     .src_mem = body,
			     .src_len = strlen(body),
			     .dst_fd = -1,
			     .content_type = CN_OCI_MT_MANIFEST};
	r = oci_request(c, &q, &resp);
	if (r >= 0 && resp.status != 201)
		r = oci_status_error(c, &q, &resp);
	if (r >= 0) {
		ret_digest[0] = 0;
		if (resp.digest && strlen(resp.digest) == 71)
			memcpy(ret_digest, resp.digest, 72);
	}
	oci_resp_done(&resp);
	return r;
}

int oci_manifest_get(struct oci_client *c, const char *tag_or_digest, uint8_t **ret,
		     size_t *ret_len)
{
	_cleanup_free_ char *url = url_of(c, "manifests", tag_or_digest);
	struct oci_resp resp = {0};
	char what[CN_OCI_TAG_MAX + 96];
	struct oci_req q;
	int r;

	if (!url)
		return -ENOMEM;
	(void)snprintf(what, sizeof(what), "manifest '%s'", tag_or_digest);
	q = (struct oci_req){.method = "GET",
			     .url = url,
			     .what = what,
			     .dst_fd = -1,
			     .accept = CN_OCI_MT_MANIFEST,
			     .body_max = CN_OCI_MANIFEST_MAX};
	r = oci_request(c, &q, &resp);
	if (r >= 0 && resp.status != 200)
		r = oci_status_error(c, &q, &resp);
	if (r >= 0) {
		*ret = resp.body ? resp.body : calloc(1, 1);
		*ret_len = resp.len;
		resp.body = NULL;
		if (!*ret)
			r = -ENOMEM;
	}
	oci_resp_done(&resp);
	return r;
}

int oci_blob_get_mem(struct oci_client *c, const char *digest, uint64_t size, uint8_t **ret)
{
	_cleanup_free_ char *url = url_of(c, "blobs", digest);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	struct oci_resp resp = {0};
	char what[96], got[72];
	struct oci_req q;
	int r;

	if (!url || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(sha);
		return -ENOMEM;
	}
	(void)snprintf(what, sizeof(what), "blob %s", digest);
	q = (struct oci_req){.method = "GET",
			     .url = url,
			     .what = what,
			     .dst_fd = -1,
			     .body_max = (size_t)size,
			     .follow = true};
	r = oci_request(c, &q, &resp);
	if (r >= 0 && resp.status != 200)
		r = oci_status_error(c, &q, &resp);
	if (r >= 0 && resp.len != size)
		r = cn_err_set(-EKEYREJECTED,
			       "registry %s: blob %s has %zu bytes, the manifest "
			       "says %llu; refused",
			       c->ref.host, digest, resp.len, (unsigned long long)size);
	if (r >= 0 &&
	    (EVP_DigestUpdate(sha, resp.body ? resp.body : (uint8_t *)"", resp.len) != 1 ||
	     oci_sha_hex(sha, got) < 0))
		r = -EIO;
	if (r >= 0 && strcmp(got, digest) != 0)
		r = cn_err_set(-EKEYREJECTED,
			       "registry %s: blob %s has digest %s; wrong content refused",
			       c->ref.host, digest, got);
	if (r >= 0) {
		*ret = resp.body;
		resp.body = NULL;
		if (!*ret && !(*ret = calloc(1, 1)))
			r = -ENOMEM;
	}
	EVP_MD_CTX_free(sha);
	oci_resp_done(&resp);
	return r;
}

int oci_blob_get_fd(struct oci_client *c, const char *digest, uint64_t size, int fd, uint64_t *off,
		    EVP_MD_CTX *sha, bool *restarted, struct cn_progress *progress)
{
	_cleanup_free_ char *url = url_of(c, "blobs", digest);
	char what[96];
	int r = 0;

	if (!url)
		return -ENOMEM;
	(void)snprintf(what, sizeof(what), "blob %s", digest);
	for (int t = 0; *off < size; t++) {
		struct oci_resp resp = {0};
		struct oci_req q = {.method = "GET",
				    .url = url,
				    .what = what,
				    .dst_fd = fd,
				    .dst_off = off,
				    .dst_max = size,
				    .sha = sha,
				    .restarted = restarted,
				    .progress = progress,
				    .follow = true};
		uint64_t before = *off;

		r = oci_request(c, &q, &resp);
		if (r >= 0 && resp.status != 200 && resp.status != 206)
			r = oci_status_error(c, &q, &resp);
		oci_resp_done(&resp);
		if (r == -ECONNRESET || r == -ETIMEDOUT || (r >= 0 && *off < size)) {
			if (t + 1 >= RESUME_TRIES)
				return r < 0 ? r
					     : cn_err_set(-ECONNRESET,
							  "registry %s: blob %s ended at %llu of "
							  "%llu bytes",
							  c->ref.host, digest,
							  (unsigned long long)*off,
							  (unsigned long long)size);
			if (*off > before)
				t = 0; /* progress was made: keep going */
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}
