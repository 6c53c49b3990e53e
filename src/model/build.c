/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_model_build(): an image from a source folder into the image store (model/store.h: layout,
 * per-model lock, atomic publish, manifest check). A present tar is reused (as the reference
 * does). A freshly built image whose root hash differs from the expected one is not kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "model/image.h"
#include "model/model.h"
#include "model/store.h"

static int reserve(struct cn_atomic_file *o, uint64_t size)
{
	/* fallocate(2), not posix_fallocate(): no slow zero-writing emulation where unsupported. */
	if (fallocate(o->fd, 0, 0, (off_t)size) == 0 || errno == EOPNOTSUPP || errno == ENOSYS ||
	    errno == EINVAL)
		return 0;
	return cn_err_set(-errno, "cannot reserve %llu bytes for '%s': %s",
			  (unsigned long long)size, o->final, strerror(errno));
}

#define notify(o, ...) cn_notifyf((o)->notify, (o)->userdata, __VA_ARGS__)

static int json_set_path(json_t *obj, const char *key, const char *hexkey, const char *path)
{
	json_t *s = json_string(path);

	if (!s) {
		/* Not UTF-8: GNU tar stores the raw bytes; the manifest records them in hex. */
		_cleanup_free_ char *hex = cn_hex_alloc((const uint8_t *)path, strlen(path));

		if (!hex)
			return -ENOMEM;
		s = json_string(hex);
		key = hexkey;
	}
	if (!s || json_object_set_new(obj, key, s) < 0)
		return -ENOMEM;
	return 0;
}

static char *manifest_json(const struct cn_model_build_opts *o, const struct cn_tar_plan *plan,
			   const char *root_hex)
{
	json_t *m = json_object(), *files = json_array(), *links = json_array();
	char salt[2 * sizeof(cn_verity_salt) + 1];
	char *out = NULL;

	if (!m || !files || !links)
		goto out;
	cn_hex(cn_verity_salt, sizeof(cn_verity_salt), salt);
	if (json_object_set_new(m, "manifest_version", json_integer(1)) < 0 ||
	    json_object_set_new(m, "name", json_string(o->name)) < 0 ||
	    json_object_set_new(m, "commit", json_string(o->commit)) < 0 ||
	    json_object_set_new(m, "root_hash", json_string(root_hex)) < 0 ||
	    json_object_set_new(m, "tar_format", json_string(cn_store_format_name(plan->format))) <
		0 ||
	    json_object_set_new(m, "tar_size", json_integer((json_int_t)plan->tar_size)) < 0 ||
	    json_object_set_new(m, "padded_size", json_integer((json_int_t)plan->padded_size)) <
		0 ||
	    json_object_set_new(m, "data_bytes", json_integer((json_int_t)plan->data_bytes)) < 0 ||
	    json_object_set_new(m, "source",
				json_string(o->hf_cache_snapshot ? "hf-cache" : "directory")) < 0 ||
	    json_object_set_new(m, "verity",
				json_pack("{s:i,s:s,s:i,s:i,s:s,s:s}", "format", 1, "hash",
					  "sha256", "data_block_size", 4096, "hash_block_size",
					  4096, "salt", salt, "uuid",
					  "645ac31f-7610-42e1-8434-9d733699eac0")) < 0)
		goto out;
	for (size_t i = 0; i < plan->n; i++) {
		const struct cn_tar_entry *e = &plan->e[i];
		char hex[65];
		json_t *f;

		if (e->type != CN_TAR_REG && e->type != CN_TAR_SYMLINK &&
		    e->type != CN_TAR_HARDLINK)
			continue;
		f = json_object();
		if (!f || json_array_append_new(e->type == CN_TAR_REG ? files : links, f) < 0 ||
		    json_set_path(f, "path", "path_hex", e->rel) < 0)
			goto out;
		if (e->type == CN_TAR_REG) {
			cn_hex(e->sha256, 32, hex);
			if (json_object_set_new(f, "size", json_integer((json_int_t)e->size)) < 0 ||
			    json_object_set_new(f, "sha256", json_string(hex)) < 0)
				goto out;
		} else if (json_object_set_new(
			       f, "type",
			       json_string(e->type == CN_TAR_SYMLINK ? "symlink" : "hardlink")) <
			       0 ||
			   json_set_path(f, "target", "target_hex", e->link) < 0) {
			goto out;
		}
	}
	if (json_object_set(m, "files", files) < 0 || json_object_set(m, "links", links) < 0)
		goto out;
	out = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
out:
	json_decref(files);
	json_decref(links);
	json_decref(m);
	return out;
}

int cn_model_read_hash_file(const char *path, char ret[65])
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = cn_read_file(path, 128, &buf, &len);
	if (r == -E2BIG)
		return cn_err_set(
		    r, "'%s' is larger than a root hash (64 hex digits and a newline)", path);
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", path, cn_strerror(r));
	if (len == 65 && buf[64] == '\n')
		buf[--len] = '\0'; /* `echo $HASH > F`: one trailing newline is accepted */
	if (len != 64 || !cn_is_lower_hex((const char *)buf, 64))
		return cn_err_set(-EBADMSG,
				  "'%s' does not hold exactly 64 lower-case hex digits (%zu bytes)",
				  path, len);
	memcpy(ret, buf, 64);
	ret[64] = '\0';
	return 0;
}

static int hex_check(const char *what, const char *s)
{
	if (s && !cn_is_lower_hex(s, 64))
		return cn_err_set(-EINVAL, "%s must be 64 lower-case hex digits", what);
	return 0;
}

/* A corrupted HF cache LFS blob: its content's SHA-256 is not its name. */
static int lfs_check(const struct cn_tar_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct cn_tar_entry *e = &plan->e[i];
		char got[65], want[65];

		if (e->type != CN_TAR_REG || !e->has_lfs_sha256 ||
		    memcmp(e->sha256, e->lfs_sha256, sizeof(e->sha256)) == 0)
			continue;
		return cn_err_set(
		    -EKEYREJECTED,
		    "'%s' is corrupted: its content has SHA-256 %s but its LFS blob is "
		    "named %s (re-download it)",
		    e->rel, cn_hex(e->sha256, 32, got), cn_hex(e->lfs_sha256, 32, want));
	}
	return 0;
}

/*
 * Build everything from the source folder. A root hash other than o->expected_root publishes
 * nothing and returns 1 (root_hex filled, *ret_size the tar's size).
 */
static int build_full(const struct cn_model_build_opts *o, struct cn_store *st,
		      const struct cn_store_names *n, char root_hex[65], uint64_t *ret_size)
{
	struct cn_tar_plan plan = {0};
	struct cn_atomic_file tar = CN_ATOMIC_FILE_INIT, ver = CN_ATOMIC_FILE_INIT,
			      hash = CN_ATOMIC_FILE_INIT, man = CN_ATOMIC_FILE_INIT;
	struct cn_progress prog;
	uint8_t root[CN_VERITY_DIGEST];
	_cleanup_free_ char *json = NULL;
	int r;

	r = cn_tar_plan_scan(o->source_dir, o->hf_cache_snapshot, o->tar_format, &plan);
	if (r < 0)
		return r;
	r = cn_atomic_open(&tar, st->dir_fd, n->tar, !getenv("COCOON_NO_DIRECT"));
	if (r < 0)
		goto out;
	r = cn_atomic_open(&ver, st->dir_fd, n->verity, false);
	if (r < 0)
		goto out;
	/* Reserve the space up front: a full disk fails now, not after gigabytes of work. */
	r = reserve(&tar, plan.padded_size);
	if (r < 0)
		goto out;
	cn_progress_begin(&prog, "building", plan.padded_size, o->progress);
	r = cn_image_write(&plan, o->source_dir, tar.fd, ver.fd, &prog, root);
	cn_progress_end(&prog);
	if (r >= 0)
		r = lfs_check(&plan);
	if (r < 0)
		goto out;
	cn_hex(root, sizeof(root), root_hex);
	*ret_size = plan.padded_size;
	if (o->expected_root && strcmp(o->expected_root, root_hex) != 0) {
		r = 1; /* never keep an image that is not the one asked for */
		goto out;
	}
	json = manifest_json(o, &plan, root_hex);
	if (!json) {
		r = -ENOMEM;
		goto out;
	}
	r = cn_atomic_open(&man, st->dir_fd, n->manifest, false);
	if (r >= 0)
		r = cn_atomic_write(&man, json, strlen(json));
	if (r >= 0)
		r = cn_atomic_open(&hash, st->dir_fd, n->hash, false);
	if (r >= 0)
		r = cn_atomic_write(&hash, root_hex, 64);
	if (r >= 0)
		r = cn_store_publish(st, n, &man, &tar, &ver, &hash);
out:
	cn_atomic_abort(&man);
	cn_atomic_abort(&hash);
	cn_atomic_abort(&ver);
	cn_atomic_abort(&tar);
	cn_tar_plan_done(&plan);
	return r;
}

/* The tar exists (ours, or the reference's) but its hash file does not. */
static int build_verity(const struct cn_model_build_opts *o, struct cn_store *st,
			const struct cn_store_names *n, uint64_t size, const char *manifest_root,
			char root_hex[65])
{
	struct cn_atomic_file ver = CN_ATOMIC_FILE_INIT, hash = CN_ATOMIC_FILE_INIT;
	_cleanup_close_ int fd = -EBADF;
	struct cn_progress prog;
	uint8_t root[CN_VERITY_DIGEST];
	int r;

	fd = openat(st->dir_fd, n->tar, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", n->tar, strerror(errno));
	r = cn_atomic_open(&ver, st->dir_fd, n->verity, false);
	if (r < 0)
		return r;
	cn_progress_begin(&prog, "hashing", size, o->progress);
	r = cn_image_verity_from_tar(fd, size, ver.fd, &prog, root);
	cn_progress_end(&prog);
	if (r < 0)
		goto out;
	cn_hex(root, sizeof(root), root_hex);
	if (manifest_root[0] && strcmp(manifest_root, root_hex) != 0) {
		r = cn_err_set(-EBADMSG,
			       "'%s' does not match its manifest (root hash %s, manifest %s); "
			       "remove the image to rebuild it",
			       n->tar, root_hex, manifest_root);
		goto out;
	}
	r = cn_atomic_open(&hash, st->dir_fd, n->hash, false);
	if (r >= 0)
		r = cn_atomic_write(&hash, root_hex, 64);
	if (r >= 0)
		r = cn_store_publish(st, n, NULL, NULL, &ver, &hash);
out:
	cn_atomic_abort(&hash);
	cn_atomic_abort(&ver);
	return r;
}

/* The source folder must not contain the images folder. */
static int source_check(const char *source_dir, const char *images_abs)
{
	_cleanup_free_ char *src_abs = NULL;
	size_t slen;
	int r;

	r = cn_abspath(source_dir, &src_abs);
	if (r < 0)
		return cn_err_set(r, "cannot open source folder '%s': %s", source_dir,
				  strerror(-r));
	slen = strlen(src_abs);
	if (strncmp(images_abs, src_abs, slen) == 0 &&
	    (images_abs[slen] == '/' || images_abs[slen] == '\0' || slen == 1))
		return cn_err_set(-EINVAL,
				  "the images folder '%s' is inside the source folder '%s'",
				  images_abs, src_abs);
	return 0;
}

/* With the lock held: finds, completes or builds the image. */
static int build_locked(const struct cn_model_build_opts *o, struct cn_store *st,
			const struct cn_store_names *n, struct cn_model_image *ret)
{
	char root_hex[65] = "", manifest_root[65] = "";
	uint64_t size = 0;
	struct stat sb;
	int r;

	r = cn_store_lookup(st, n, o->name, o->commit, o->tar_format, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	r = cn_store_stat(st, n->tar, &sb);
	if (r < 0)
		return r;
	if (o->cache_only)
		return -ENOENT;
	if (r > 0) {
		r = cn_store_check_manifest(st, n, o->name, o->commit, o->tar_format, NULL,
					    manifest_root);
		if (r >= 0)
			r = build_verity(o, st, n, (uint64_t)sb.st_size, manifest_root, root_hex);
		if (r < 0)
			return r;
		return cn_store_image(st, n, o->name, o->commit, root_hex, false, ret);
	}
	if (!o->source_dir)
		return cn_err_set(-ENOENT, "no image of '%s@%s' in the cache and no source folder",
				  o->name, o->commit);
	r = source_check(o->source_dir, st->dir);
	if (r >= 0)
		r = build_full(o, st, n, root_hex, &size);
	if (r < 0)
		return r;
	if (r == 0)
		return cn_store_image(st, n, o->name, o->commit, root_hex, false, ret);
	/* Not kept: the paths it would have had, for the message. */
	*ret = (struct cn_model_image){
	    .name = strdup(o->name),
	    .commit = strdup(o->commit),
	    .tar_path = cn_store_path(st, n->tar),
	    .verity_path = cn_store_path(st, n->verity),
	    .hash_path = cn_store_path(st, n->hash),
	    .manifest_path = cn_store_path(st, n->manifest),
	    .tar_size = size,
	    .discarded = true,
	};
	memcpy(ret->root_hash, root_hex, sizeof(ret->root_hash));
	if (!ret->name || !ret->commit || !ret->tar_path || !ret->verity_path || !ret->hash_path ||
	    !ret->manifest_path) {
		cn_model_image_done(ret);
		return -ENOMEM;
	}
	return 0;
}

static void notify_fn(void *userdata, const char *msg)
{
	const struct cn_model_build_opts *o = userdata;

	notify(o, "%s", msg);
}

int cn_model_build(const struct cn_model_build_opts *o, struct cn_model_image *ret)
{
	_cleanup_close_ int lock_fd = -EBADF;
	struct cn_store st = CN_STORE_INIT;
	struct cn_store_names n = {0};
	struct cn_model_image img = {0};
	int r;

	if (!o || !o->name || !o->commit || !o->images_dir)
		return cn_err_set(-EINVAL,
				  "model build: name, commit and images folder are required");
	r = cn_model_name_check(o->name, strlen(o->name));
	if (r >= 0)
		r = cn_model_commit_check(o->commit, strlen(o->commit));
	if (r >= 0)
		r = hex_check("the expected root hash", o->expected_root);
	if (r < 0)
		return r;
	if (o->tar_format != CN_TAR_GNU_1_35 && o->tar_format != CN_TAR_GNU_1_34)
		return cn_err_set(-EINVAL, "unknown tar format");
	r = cn_store_open(&st, o->images_dir, true);
	if (r < 0)
		return r;
	r = cn_store_names_make(o->name, o->commit, &n);
	if (r < 0)
		goto out;
	r = cn_store_lock(&st, &n, o->name, notify_fn, (void *)o, &lock_fd);
	if (r == -EROFS) {
		/* A read-only images folder: a complete image is still usable. */
		_cleanup_free_ char *why = strdup(cn_err_msg());
		int l = cn_store_lookup(&st, &n, o->name, o->commit, o->tar_format, &img);

		if (l == 0)
			r = cn_err_set(-EROFS, "no complete image of %s@%s, and %s", o->name,
				       o->commit, why ? why : "the images folder is read-only");
		else
			r = l < 0 ? l : 0;
	} else if (r >= 0) {
		r = build_locked(o, &st, &n, &img);
	}
	if (r < 0)
		goto out;
	*ret = img;
	if (img.discarded)
		r = cn_err_set(-EKEYREJECTED,
			       "root hash mismatch: expected %s, got %s (the image was not kept)",
			       o->expected_root, img.root_hash);
	else if (o->expected_root && strcmp(o->expected_root, img.root_hash) != 0)
		r = cn_err_set(-EKEYREJECTED, "root hash mismatch: expected %s, got %s",
			       o->expected_root, img.root_hash);
out:
	cn_store_names_done(&n);
	cn_store_close(&st);
	return r;
}

void cn_model_image_done(struct cn_model_image *img)
{
	free(img->name);
	free(img->commit);
	free(img->tar_path);
	free(img->verity_path);
	free(img->hash_path);
	free(img->manifest_path);
	*img = (struct cn_model_image){0};
}
