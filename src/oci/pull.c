/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_oci_pull(): registry -> image store, verified before anything is published.
 *   1. the manifest (its digest when the reference pins one), parsed strictly; its spec
 *      annotation must already name the expected root hash (refused before any download);
 *   2. the config blob (digest-checked) must name the same name, commit and root hash;
 *   3. tar and verity stream in parallel into ".oci-<digest>.partial" files, each hashed as it
 *      arrives; a broken connection resumes with Range, and so does a later run;
 *   4. the tar is checked against the verity tree and the expected root hash on all cores (the
 *      data is still in the page cache: a second pass at memory speed, not a second download);
 *   5. publish through the image store (model/store: the model lock, the order manifest, tar,
 *      verity, hash), the partial files renamed into place.
 * A wrong blob is deleted, named in the error, and nothing is published.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "model/model.h"
#include "model/store.h"
#include "net/http.h"
#include "oci/client.h"
#include "oci/job.h"
#include "oci/trail.h"

#define REHASH_CHUNK (4u << 20)

#define notify(o, ...) cn_notifyf((o)->notify, (o)->userdata, __VA_ARGS__)

static int sha_of(const void *buf, size_t len, char ret[72])
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	int r = sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 &&
			EVP_DigestUpdate(sha, buf, len) == 1
		    ? oci_sha_hex(sha, ret)
		    : -ENOMEM;

	EVP_MD_CTX_free(sha);
	return r;
}

/* Opens (or reopens) a partial download and re-hashes what it already holds. */
static int partial_open(int dir_fd, const char *dir, struct oci_job *j)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;

	if (asprintf(&j->path, "%s/.oci-%s.partial", dir, j->digest + 7) < 0) {
		j->path = NULL;
		return -ENOMEM;
	}
	j->fd = openat(dir_fd, strrchr(j->path, '/') + 1, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		       0644);
	if (j->fd < 0 || fstat(j->fd, &st) < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", j->path, strerror(errno));
	j->sha = EVP_MD_CTX_new();
	if (!j->sha || EVP_DigestInit_ex(j->sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	j->off = 0;
	if ((uint64_t)st.st_size > j->size && ftruncate(j->fd, 0) < 0)
		return cn_err_set(-errno, "cannot truncate '%s'", j->path);
	if ((uint64_t)st.st_size > j->size || st.st_size == 0)
		return 0;
	buf = malloc(REHASH_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (j->off < (uint64_t)st.st_size) {
		size_t n = (size_t)CN_MIN((uint64_t)REHASH_CHUNK, (uint64_t)st.st_size - j->off);

		if (cn_pread_all(j->fd, buf, n, j->off) < 0 ||
		    EVP_DigestUpdate(j->sha, buf, n) != 1)
			return cn_err_set(-EIO, "cannot read '%s'", j->path);
		j->off += n;
	}
	j->resumed = j->off;
	return 0;
}

/* The blob's digest (j->sha) must be its name; a wrong blob is deleted (never resumed from). */
static int check_digest(struct oci_job *j)
{
	char got[72];
	int r = oci_sha_hex(j->sha, got);

	if (r >= 0 && strcmp(got, j->digest) != 0) {
		(void)unlink(j->path);
		r = cn_err_set(-EKEYREJECTED,
			       "registry %s: %s blob %s has digest %s; wrong content refused, "
			       "nothing published",
			       j->client->ref.host, j->chunk ? "verity" : "tar", j->digest, got);
	}
	return r;
}

/* The trailing hash did not get through (the server started the blob over): hash it again. */
static int rehash(struct oci_job *j)
{
	_cleanup_free_ uint8_t *buf = malloc(REHASH_CHUNK);

	if (!buf || EVP_DigestInit_ex(j->sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	for (uint64_t off = 0; off < j->size;) {
		size_t n = (size_t)CN_MIN((uint64_t)REHASH_CHUNK, j->size - off);

		if (cn_pread_all(j->fd, buf, n, off) < 0 || EVP_DigestUpdate(j->sha, buf, n) != 1)
			return cn_err_set(-EIO, "cannot read '%s'", j->path);
		off += n;
	}
	return 0;
}

static void *download_thread(void *arg)
{
	struct oci_job *j = arg;
	int r;

	cn_progress_add(j->progress, j->off);
	r = oci_blob_get_fd(j->client, j->digest, j->size, j->fd, &j->off,
			    j->sha_trailed ? NULL : j->sha, &j->restarted, j->progress);
	__atomic_store_n(&j->finished, true, __ATOMIC_RELEASE); /* the trailing threads stop */
	if (r >= 0 && !j->sha_trailed)
		r = check_digest(j);
	if (r >= 0 && fsync(j->fd) < 0)
		r = cn_err_set(-errno, "cannot fsync '%s'", j->path);
	j->r = r < 0 ? oci_job_fail(j, r) : 0;
	return NULL;
}

static int check_config(const uint8_t *buf, size_t len, const struct cn_oci_model_manifest *m,
			enum cn_tar_format *ret_format)
{
	struct cn_model_manifest_info info = {0};
	int r = cn_model_manifest_parse(buf, len, &info);

	if (r < 0)
		return cn_net_err_wrap(-EKEYREJECTED, "config blob %s", m->config.digest);
	*ret_format = strcmp(info.tar_format, "gnu-1.34") == 0 ? CN_TAR_GNU_1_34 : CN_TAR_GNU_1_35;
	if (strcmp(info.name, m->name) || strcmp(info.commit, m->commit) ||
	    strcmp(info.root_hash, m->root_hash))
		r = cn_err_set(-EKEYREJECTED,
			       "config blob %s names %s@%s:%s but the manifest %s@%s:%s; refused",
			       m->config.digest, info.name, info.commit, info.root_hash, m->name,
			       m->commit, m->root_hash);
	cn_model_manifest_info_done(&info);
	return r;
}

/* Step 1: manifest + expectations. */
static int fetch_manifest(struct oci_client *c, const struct cn_oci_ref *ref, const char *exp_root,
			  const char *exp_name, const char *exp_commit,
			  struct cn_oci_model_manifest *m)
{
	_cleanup_free_ uint8_t *buf = NULL;
	char got[72], refs[CN_OCI_REF_MAX + 1];
	size_t len;
	int r;

	cn_oci_ref_format(ref, refs, sizeof(refs));
	r = oci_manifest_get(c, ref->digest[0] ? ref->digest : ref->tag, &buf, &len);
	if (r < 0)
		return r;
	if (ref->digest[0]) {
		r = sha_of(buf, len, got);
		if (r < 0)
			return r;
		if (strcmp(got, ref->digest) != 0)
			return cn_err_set(-EKEYREJECTED,
					  "registry %s: manifest of %s has digest %s; refused",
					  ref->host, refs, got);
	}
	r = cn_oci_manifest_parse(buf, len, m);
	if (r < 0)
		return cn_net_err_wrap(r == -ENOMEM ? r : -EKEYREJECTED, "%s", refs);
	if (exp_root && strcmp(exp_root, m->root_hash) != 0)
		return cn_err_set(-EKEYREJECTED,
				  "%s is %s@%s with root hash %s, expected %s; refused before "
				  "download",
				  refs, m->name, m->commit, m->root_hash, exp_root);
	if ((exp_name && strcmp(exp_name, m->name) != 0) ||
	    (exp_commit && strcmp(exp_commit, m->commit) != 0))
		return cn_err_set(-EKEYREJECTED, "%s is %s@%s, expected %s@%s; refused", refs,
				  m->name, m->commit, exp_name ? exp_name : m->name,
				  exp_commit ? exp_commit : m->commit);
	return 0;
}

/* Hands a verified partial download to the store's publish (renamed, never copied). */
static int adopt(struct cn_atomic_file *f, const struct cn_store *s, struct oci_job *j,
		 const char *final)
{
	*f = (struct cn_atomic_file){.dir_fd = s->dir_fd, .fd = j->fd};
	j->fd = -1;
	f->final = strdup(final);
	f->tmp = strdup(strrchr(j->path, '/') + 1);
	return f->final && f->tmp ? 0 : -ENOMEM;
}

static int publish(struct cn_store *s, const struct cn_store_names *n, struct oci_job *jobs,
		   const uint8_t *cfg, size_t cfg_len, const char *root)
{
	struct cn_atomic_file man = CN_ATOMIC_FILE_INIT, tar = CN_ATOMIC_FILE_INIT,
			      ver = CN_ATOMIC_FILE_INIT, hash = CN_ATOMIC_FILE_INIT;
	int r;

	r = cn_atomic_open(&man, s->dir_fd, n->manifest, false);
	if (r >= 0)
		r = cn_atomic_write(&man, cfg, cfg_len);
	if (r >= 0)
		r = cn_atomic_open(&hash, s->dir_fd, n->hash, false);
	if (r >= 0)
		r = cn_atomic_write(&hash, root, 64);
	if (r >= 0)
		r = adopt(&tar, s, &jobs[0], n->tar);
	if (r >= 0)
		r = adopt(&ver, s, &jobs[1], n->verity);
	if (r >= 0)
		r = cn_store_publish(s, n, &man, &tar, &ver, &hash);
	cn_atomic_abort(&man);
	cn_atomic_abort(&tar);
	cn_atomic_abort(&ver);
	cn_atomic_abort(&hash);
	return r;
}

static int pull_locked(const struct cn_oci_opts *o, struct oci_client *c, struct cn_store *s,
		       const struct cn_store_names *n, const struct cn_oci_model_manifest *m,
		       const uint8_t *cfg, struct cn_oci_pull_result *res)
{
	struct oci_job jobs[2] = {{.fd = -1}, {.fd = -1}};
	struct cn_model_verify_result vr;
	struct oci_trail trail = {.hash_fd = -1};
	struct cn_progress prog;
	char root[65], vdigest[72];
	int r = 0;

	memcpy(jobs[0].digest, m->tar.digest, 72);
	jobs[0].size = m->tar.size;
	memcpy(jobs[1].digest, m->verity.digest, 72);
	jobs[1].size = m->verity.size;
	jobs[1].chunk = 1; /* marks the verity job in messages */
	for (int i = 0; i < 2; i++) {
		jobs[i].client = c;
		jobs[i].progress = &prog;
		r = partial_open(s->dir_fd, s->dir, &jobs[i]);
		if (r < 0)
			goto out;
		res->bytes_resumed += jobs[i].resumed;
	}
	if (res->bytes_resumed)
		notify(o, "resuming a partial download (%llu bytes already here)",
		       (unsigned long long)res->bytes_resumed);
	/* The verity tree of the tar, computed while it lands (no second pass when it works). */
	if (oci_trail_start(&trail, s->dir_fd, jobs[0].fd, m->tar.size, &jobs[0].off,
			    &jobs[0].finished) < 0)
		oci_trail_done(&trail);
	else /* and the tar's SHA-256 on a thread of its own */
		jobs[0].sha_trailed = oci_trail_sha_start(&trail, jobs[0].sha, jobs[0].off) == 0;
	cn_progress_begin(&prog, "pulling", m->tar.size + m->verity.size, o->progress);
	r = oci_jobs_run(jobs, 2, download_thread);
	cn_progress_end(&prog);
	if (r < 0)
		goto out;
	res->bytes_downloaded = m->tar.size + m->verity.size - res->bytes_resumed;
	if (jobs[0].sha_trailed) {
		if ((oci_trail_sha_finish(&trail) < 0 || jobs[0].restarted) &&
		    (r = rehash(&jobs[0])) < 0)
			goto out;
		r = check_digest(&jobs[0]);
		if (r < 0)
			goto out;
	}

	if (!jobs[0].restarted && oci_trail_finish(&trail, root, vdigest) == 0) {
		if (strcmp(root, m->root_hash) != 0)
			r = cn_err_set(
			    -EKEYREJECTED,
			    "tar blob %s has root hash %s, expected %s; refused, nothing "
			    "published",
			    m->tar.digest, root, m->root_hash);
		else if (strcmp(vdigest, m->verity.digest) != 0)
			r = cn_err_set(
			    -EKEYREJECTED,
			    "verity blob %s is not the hash tree of tar blob %s (that is "
			    "%s); refused, nothing published",
			    m->verity.digest, m->tar.digest, vdigest);
	} else { /* the classic way: a full pass over the tar against the downloaded tree */
		r = cn_model_verify(jobs[0].path, jobs[1].path, m->root_hash, o->progress, &vr);
		if (r < 0)
			goto out;
		if (vr.status != 0)
			r = cn_err_set(
			    -EKEYREJECTED,
			    "tar blob %s does not match its verity tree and root hash %s "
			    "(%s); refused, nothing published",
			    m->tar.digest, m->root_hash, vr.message);
	}
	if (r < 0) {
		(void)unlink(jobs[0].path);
		(void)unlink(jobs[1].path);
		goto out;
	}
	r = publish(s, n, jobs, cfg, m->config.size, m->root_hash);
out:
	oci_trail_done(&trail);
	for (int i = 0; i < 2; i++)
		oci_job_done(&jobs[i]);
	return r;
}

int cn_oci_pull(const struct cn_oci_opts *o, const char *images_dir, const struct cn_oci_ref *ref,
		const char *expected_root, const char *expected_name, const char *expected_commit,
		struct cn_oci_pull_result *ret)
{
	struct oci_client c = {0};
	struct cn_oci_model_manifest m;
	struct cn_oci_pull_result res = {0};
	struct cn_store s = CN_STORE_INIT;
	struct cn_store_names n = {0};
	struct cn_model_image img = {0};
	enum cn_tar_format fmt = CN_TAR_GNU_1_35;
	_cleanup_close_ int lock_fd = -EBADF;
	_cleanup_free_ uint8_t *cfg = NULL;
	int r;

	if (!expected_root && !ref->digest[0])
		return cn_err_set(-EINVAL, "pull needs the expected root hash (a spec "
					   "name@commit:roothash or --root-hash) or a reference "
					   "pinned by digest");
	if (expected_root && (strlen(expected_root) != 64 || !cn_is_lower_hex(expected_root, 64)))
		return cn_err_set(-EINVAL, "expected root hash is not 64 lower-case hex digits");
	r = oci_client_init(&c, o, ref, false);
	if (r >= 0)
		r = fetch_manifest(&c, ref, expected_root, expected_name, expected_commit, &m);
	if (r >= 0)
		r = oci_blob_get_mem(&c, m.config.digest, m.config.size, &cfg);
	if (r >= 0)
		r = check_config(cfg, m.config.size, &m, &fmt);
	if (r >= 0)
		r = cn_store_open(&s, images_dir, true);
	if (r >= 0)
		r = cn_store_names_make(m.name, m.commit, &n);
	if (r >= 0)
		r = cn_store_lock(&s, &n, m.name, o->notify, o->userdata, &lock_fd);
	if (r >= 0)
		r = cn_store_lookup(&s, &n, m.name, m.commit, fmt, &img);
	if (r < 0)
		goto out;
	if (r == 1 && strcmp(img.root_hash, m.root_hash) != 0) {
		r = cn_err_set(-EEXIST, "the store already holds %s@%s with root hash %s (not %s)",
			       m.name, m.commit, img.root_hash, m.root_hash);
		goto out;
	}
	res.cached = r == 1;
	if (r == 0) {
		r = pull_locked(o, &c, &s, &n, &m, cfg, &res);
		if (r < 0)
			goto out;
	}
	memcpy(res.name, m.name, sizeof(res.name));
	memcpy(res.commit, m.commit, sizeof(res.commit));
	memcpy(res.root_hash, m.root_hash, 65);
	res.tar_path = cn_store_path(&s, n.tar);
	if (!res.tar_path) {
		r = -ENOMEM;
		goto out;
	}
	*ret = res;
	r = 0;
out:
	cn_model_image_done(&img);
	cn_store_names_done(&n);
	cn_store_close(&s);
	oci_client_done(&c);
	return r;
}

void cn_oci_pull_result_done(struct cn_oci_pull_result *r)
{
	free(r->tar_path);
	r->tar_path = NULL;
}
