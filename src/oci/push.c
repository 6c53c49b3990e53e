/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_oci_push(): a store image (tar, verity, manifest) to a registry as an OCI artifact.
 * Digests of tar and verity are computed in parallel, then each blob is HEADed and only what
 * the registry lacks is mounted or uploaded (tar and verity in parallel), then the manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/progress.h"
#include "model/model.h"
#include "model/verity.h"
#include "net/http.h"
#include "oci/client.h"
#include "oci/job.h"

#define READ_CHUNK (4u << 20)

static void *hash_thread(void *arg)
{
	struct oci_job *j = arg;
	_cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	uint64_t off = 0;

	if (!buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		j->r = oci_job_fail(j, -ENOMEM);
		goto out;
	}
	(void)posix_fadvise(j->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < j->size) {
		size_t n = (size_t)CN_MIN((uint64_t)READ_CHUNK, j->size - off);

		if (cn_pread_all(j->fd, buf, n, off) < 0 || EVP_DigestUpdate(sha, buf, n) != 1) {
			j->r = oci_job_fail(j, cn_err_set(-EIO, "cannot read '%s'", j->path));
			goto out;
		}
		off += n;
		cn_progress_add(j->progress, n);
	}
	j->r = oci_sha_hex(sha, j->digest) < 0 ? oci_job_fail(j, -EIO) : 0;
out:
	EVP_MD_CTX_free(sha);
	return NULL;
}

static void *upload_thread(void *arg)
{
	struct oci_job *j = arg;
	bool exists = false, mounted = false;
	int r;

	r = oci_blob_exists(j->client, j->digest, &exists);
	if (r >= 0 && exists) {
		j->present = true;
		cn_progress_add(j->progress, j->size);
	} else if (r >= 0)
		r = oci_blob_upload(j->client, j->digest, j->fd, j->size, j->chunk, j->progress,
				    &mounted);
	j->mounted = mounted;
	j->r = r < 0 ? oci_job_fail(j, r) : 0;
	return NULL;
}

static int open_image(const char *images_dir, const char *name, const char *commit,
		      struct oci_job *tar, struct oci_job *ver, char **ret_manifest_path,
		      char ret_root[65])
{
	_cleanup_free_ char *mp = cn_model_path_name(name), *hash = NULL;
	struct cn_verity_geo g;
	struct stat st;
	int r;

	if (!mp || asprintf(&tar->path, "%s/%s@%s.tar", images_dir, mp, commit) < 0 ||
	    asprintf(&ver->path, "%s.verity", tar->path) < 0 ||
	    asprintf(&hash, "%s.hash", tar->path) < 0 ||
	    asprintf(ret_manifest_path, "%s.manifest.json", tar->path) < 0)
		return -ENOMEM;
	r = cn_model_read_hash_file(hash, ret_root);
	if (r == -ENOENT)
		return cn_err_set(-ENOENT, "no complete image of '%s@%s' in '%s' (no %s)", name,
				  commit, images_dir, hash);
	if (r < 0)
		return r;
	for (struct oci_job *j = tar; j; j = j == tar ? ver : NULL) {
		j->fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (j->fd < 0 || fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode))
			return cn_err_set(-errno ? -errno : -EINVAL, "cannot open '%s': %s",
					  j->path, strerror(errno ? errno : EINVAL));
		j->size = (uint64_t)st.st_size;
	}
	if (tar->size == 0 || tar->size % CN_VERITY_BLOCK ||
	    cn_verity_geometry(tar->size / CN_VERITY_BLOCK, &g) < 0 || g.file_size != ver->size)
		return cn_err_set(-EBADMSG, "'%s' and its .verity do not have matching sizes",
				  tar->path);
	return 0;
}

static int check_config(const uint8_t *buf, size_t len, const char *path, const char *name,
			const char *commit, const char *root)
{
	struct cn_model_manifest_info m = {0};
	int r = cn_model_manifest_parse(buf, len, &m);

	if (r < 0)
		return cn_net_err_wrap(r, "'%s'", path);
	if (strcmp(m.name, name) != 0 || strcmp(m.commit, commit) != 0 ||
	    strcmp(m.root_hash, root) != 0)
		r = cn_err_set(-EBADMSG, "'%s' names %s@%s:%s, not %s@%s:%s", path, m.name,
			       m.commit, m.root_hash, name, commit, root);
	cn_model_manifest_info_done(&m);
	return r;
}

int cn_oci_push(const struct cn_oci_opts *o, const char *images_dir, const char *name,
		const char *commit, const char *expected_root, const struct cn_oci_ref *ref,
		struct cn_oci_push_result *ret)
{
	struct oci_client c = {0};
	struct oci_job jobs[2] = {{.fd = -1}, {.fd = -1}};
	struct cn_oci_model_manifest m = {0};
	struct cn_oci_push_result res = {0};
	struct cn_progress prog;
	_cleanup_free_ char *man_path = NULL, *body = NULL;
	_cleanup_free_ uint8_t *cfg = NULL;
	char root[65], got[72];
	size_t cfg_len;
	bool exists = false;
	int r;

	if (!ref->tag[0] || ref->digest[0])
		return cn_err_set(-EINVAL, "push needs a reference with a tag and no digest");
	r = open_image(images_dir, name, commit, &jobs[0], &jobs[1], &man_path, root);
	if (r < 0)
		goto out;
	if (expected_root && strcmp(expected_root, root) != 0) {
		r = cn_err_set(-EKEYREJECTED, "the stored image of %s@%s has root hash %s, not %s",
			       name, commit, root, expected_root);
		goto out;
	}
	r = cn_read_file(man_path, CN_MODEL_MANIFEST_MAX, &cfg, &cfg_len);
	if (r < 0) {
		r = cn_err_set(r, "cannot read '%s': %s", man_path, strerror(-r));
		goto out;
	}
	r = check_config(cfg, cfg_len, man_path, name, commit, root);
	if (r < 0)
		goto out;
	r = oci_client_init(&c, o, ref, true);
	if (r < 0)
		goto out;

	/* 1. digests (both files at once) */
	cn_progress_begin(&prog, "hashing", jobs[0].size + jobs[1].size, o->progress);
	for (int i = 0; i < 2; i++)
		jobs[i].progress = &prog;
	r = oci_jobs_run(jobs, 2, hash_thread);
	cn_progress_end(&prog);
	if (r < 0)
		goto out;

	/* 2. the config blob, then tar and verity in parallel: HEAD, then mount or upload */
	{
		EVP_MD_CTX *sha = EVP_MD_CTX_new();

		r = sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 &&
			    EVP_DigestUpdate(sha, cfg, cfg_len) == 1
			? oci_sha_hex(sha, m.config.digest)
			: -ENOMEM;
		EVP_MD_CTX_free(sha);
		if (r < 0)
			goto out;
	}
	m.config.size = cfg_len;
	r = oci_blob_exists(&c, m.config.digest, &exists);
	if (r >= 0 && !exists)
		r = oci_blob_upload_mem(&c, m.config.digest, cfg, cfg_len);
	if (r < 0)
		goto out;
	res.blobs_present += exists;
	res.blobs_uploaded += !exists;
	res.bytes_uploaded += exists ? 0 : cfg_len;

	cn_progress_begin(&prog, "pushing", jobs[0].size + jobs[1].size, o->progress);
	for (int i = 0; i < 2; i++) {
		jobs[i].client = &c;
		jobs[i].chunk = o->chunk_size;
	}
	r = oci_jobs_run(jobs, 2, upload_thread);
	cn_progress_end(&prog);
	if (r < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		res.blobs_present += jobs[i].present;
		res.blobs_mounted += jobs[i].mounted;
		if (!jobs[i].present && !jobs[i].mounted) {
			res.blobs_uploaded++;
			res.bytes_uploaded += jobs[i].size;
		}
	}

	/* 3. the manifest */
	memcpy(m.tar.digest, jobs[0].digest, 72);
	m.tar.size = jobs[0].size;
	memcpy(m.verity.digest, jobs[1].digest, 72);
	m.verity.size = jobs[1].size;
	(void)snprintf(m.name, sizeof(m.name), "%s", name);
	(void)snprintf(m.commit, sizeof(m.commit), "%s", commit);
	memcpy(m.root_hash, root, 65);
	body = cn_oci_manifest_build(&m);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}
	{
		EVP_MD_CTX *sha = EVP_MD_CTX_new();

		r = sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 &&
			    EVP_DigestUpdate(sha, body, strlen(body)) == 1
			? oci_sha_hex(sha, res.manifest_digest)
			: -ENOMEM;
		EVP_MD_CTX_free(sha);
		if (r < 0)
			goto out;
	}
	r = oci_manifest_put(&c, ref->tag, body, got);
	if (r < 0)
		goto out;
	if (got[0] && strcmp(got, res.manifest_digest) != 0) {
		r = cn_err_set(-EBADMSG, "registry %s stored the manifest as %s, not %s", ref->host,
			       got, res.manifest_digest);
		goto out;
	}
	*ret = res;
out:
	for (int i = 0; i < 2; i++)
		oci_job_done(&jobs[i]);
	oci_client_done(&c);
	return r;
}
