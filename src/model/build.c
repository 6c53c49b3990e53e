/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_model_build(): cache, per-model lock, atomic outputs, manifest.
 *
 * Layout under images_dir (keyed by model AND commit, so a new commit never reuses a tar):
 *   <MODEL_PATH>@<commit>.tar               the padded tar (reference bytes)
 *   <MODEL_PATH>@<commit>.tar.verity        veritysetup-format hash file
 *   <MODEL_PATH>@<commit>.tar.hash          64 lower-case hex, no newline
 *   <MODEL_PATH>@<commit>.tar.manifest.json files, sizes, SHA-256, tar format, root hash
 *   <MODEL_PATH>.lock                       flock(2) held while building any commit of the model
 *
 * Outputs are written to unnamed O_TMPFILE files (a crash leaves nothing), fsynced, linked to
 * ".<final>.<pid>.<n>" and renamed in the order manifest, tar, verity, hash, so that a present
 * .hash always means a complete set. A present tar is reused (as the reference does); stale
 * temporaries of the model are removed under the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

struct outfile {
	int dir_fd;
	int fd;
	char *final;
	char *tmp; /* named temporary (fallback, or after linking) */
};

static void out_abort(struct outfile *o)
{
	if (o->tmp)
		(void)unlinkat(o->dir_fd, o->tmp, 0);
	if (o->fd >= 0)
		(void)close(o->fd);
	free(o->tmp);
	free(o->final);
	*o = (struct outfile){.fd = -EBADF, .dir_fd = -EBADF};
}

static int out_open(struct outfile *o, int dir_fd, const char *final, bool direct)
{
	int fd;

	*o = (struct outfile){.dir_fd = dir_fd, .fd = -EBADF};
	o->final = strdup(final);
	if (!o->final)
		return -ENOMEM;
	fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0 && direct && errno == EINVAL)
		fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		int r = cn_open_tmp_at(dir_fd, final, &fd, &o->tmp);

		if (r < 0) {
			out_abort(o);
			return cn_err_set(r, "cannot create a temporary file for '%s': %s", final,
					  strerror(-r));
		}
	} else if (fd < 0) {
		int r = -errno;

		out_abort(o);
		return cn_err_set(r, "cannot create a temporary file for '%s': %s", final,
				  strerror(-r));
	}
	o->fd = fd;
	return 0;
}

/* fsync and give the data a (temporary) name in the directory. */
static int out_link(struct outfile *o)
{
	static unsigned counter;
	char proc[64], *name;

	if (fchmod(o->fd, 0644) < 0 || fsync(o->fd) < 0)
		return cn_err_set(-errno, "cannot write '%s': %s", o->final, strerror(errno));
	if (o->tmp)
		return 0;
	if (asprintf(&name, ".%s.%d.%u", o->final, (int)getpid(), counter++) < 0)
		return -ENOMEM;
	(void)unlinkat(o->dir_fd, name, 0);
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	if (linkat(AT_FDCWD, proc, o->dir_fd, name, AT_SYMLINK_FOLLOW) < 0) {
		int r = -errno;

		free(name);
		return cn_err_set(r, "cannot link '%s': %s", o->final, strerror(-r));
	}
	o->tmp = name;
	return 0;
}

static int out_rename(struct outfile *o)
{
	if (renameat(o->dir_fd, o->tmp, o->dir_fd, o->final) < 0)
		return cn_err_set(-errno, "cannot rename '%s' into place: %s", o->final,
				  strerror(errno));
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

static int reserve(struct outfile *o, uint64_t size)
{
	/* fallocate(2), not posix_fallocate(): no slow zero-writing emulation where unsupported. */
	if (fallocate(o->fd, 0, 0, (off_t)size) == 0 || errno == EOPNOTSUPP || errno == ENOSYS ||
	    errno == EINVAL)
		return 0;
	return cn_err_set(-errno, "cannot reserve %llu bytes for '%s': %s",
			  (unsigned long long)size, o->final, strerror(errno));
}

static int out_write_all(struct outfile *o, const void *buf, size_t len)
{
	int r = cn_write_all(o->fd, buf, len);

	if (r < 0)
		return cn_err_set(r, "cannot write '%s': %s", o->final, strerror(-r));
	return 0;
}

static void notify(const struct cn_model_build_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void notify(const struct cn_model_build_opts *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!o->notify)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->notify(o->userdata, buf);
}

static const char *format_name(enum cn_tar_format f)
{
	return f == CN_TAR_GNU_1_34 ? "gnu-1.34" : "gnu-1.35";
}

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
	    json_object_set_new(m, "tar_format", json_string(format_name(plan->format))) < 0 ||
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

/* Removes ".<MODEL_PATH>@..." temporaries left by a killed build (called with the lock). */
static void remove_stale(int dir_fd, const char *model_path)
{
	_cleanup_free_ char *prefix = NULL;
	size_t plen;
	DIR *d;
	struct dirent *de;
	int fd;

	if (asprintf(&prefix, ".%s@", model_path) < 0)
		return;
	plen = strlen(prefix);
	fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, plen) == 0)
			(void)unlinkat(dir_fd, de->d_name, 0);
	(void)closedir(d);
}

static int file_exists_at(int dir_fd, const char *name, struct stat *st)
{
	if (fstatat(dir_fd, name, st, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return cn_err_set(-errno, "cannot stat '%s': %s", name, strerror(errno));
	}
	if (!S_ISREG(st->st_mode))
		return cn_err_set(-EINVAL, "'%s' exists and is not a regular file", name);
	return 1;
}

static int hex_check(const char *what, const char *s)
{
	if (s && !cn_is_lower_hex(s, 64))
		return cn_err_set(-EINVAL, "%s must be 64 lower-case hex digits", what);
	return 0;
}

struct names {
	char *model_path, *tar, *verity, *hash, *manifest, *lock;
};

static void names_done(struct names *n)
{
	free(n->model_path);
	free(n->tar);
	free(n->verity);
	free(n->hash);
	free(n->manifest);
	free(n->lock);
}

static int names_make(const struct cn_model_build_opts *o, struct names *n)
{
	*n = (struct names){0};
	n->model_path = cn_model_path_name(o->name);
	if (!n->model_path || asprintf(&n->tar, "%s@%s.tar", n->model_path, o->commit) < 0 ||
	    asprintf(&n->verity, "%s.verity", n->tar) < 0 ||
	    asprintf(&n->hash, "%s.hash", n->tar) < 0 ||
	    asprintf(&n->manifest, "%s.manifest.json", n->tar) < 0 ||
	    asprintf(&n->lock, "%s.lock", n->model_path) < 0) {
		names_done(n);
		return -ENOMEM;
	}
	return 0;
}

/* Build everything from the source folder. */
static int build_full(const struct cn_model_build_opts *o, int dir_fd, const struct names *n,
		      char root_hex[65])
{
	struct cn_tar_plan plan = {0};
	struct outfile tar = {.fd = -EBADF}, ver = {.fd = -EBADF}, hash = {.fd = -EBADF},
		       man = {.fd = -EBADF};
	struct cn_progress prog;
	uint8_t root[CN_VERITY_DIGEST];
	_cleanup_free_ char *json = NULL;
	int r;

	r = cn_tar_plan_scan(o->source_dir, o->hf_cache_snapshot, o->tar_format, &plan);
	if (r < 0)
		return r;
	r = out_open(&tar, dir_fd, n->tar, !getenv("COCOON_NO_DIRECT"));
	if (r < 0)
		goto out;
	r = out_open(&ver, dir_fd, n->verity, false);
	if (r < 0)
		goto out;
	/* Reserve the space up front: a full disk fails now, not after gigabytes of work. */
	r = reserve(&tar, plan.padded_size);
	if (r < 0)
		goto out;
	cn_progress_begin(&prog, "building", plan.padded_size, o->progress);
	r = cn_image_write(&plan, o->source_dir, tar.fd, ver.fd, &prog, root);
	cn_progress_end(&prog);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < plan.n; i++) {
		const struct cn_tar_entry *e = &plan.e[i];
		char got[65], want[65];

		if (e->type != CN_TAR_REG || !e->has_lfs_sha256 ||
		    memcmp(e->sha256, e->lfs_sha256, sizeof(e->sha256)) == 0)
			continue;
		r = cn_err_set(-EKEYREJECTED,
			       "'%s' is corrupted: its content has SHA-256 %s but its LFS blob is "
			       "named %s (re-download it)",
			       e->rel, cn_hex(e->sha256, 32, got), cn_hex(e->lfs_sha256, 32, want));
		goto out;
	}
	cn_hex(root, sizeof(root), root_hex);
	json = manifest_json(o, &plan, root_hex);
	if (!json) {
		r = -ENOMEM;
		goto out;
	}
	r = out_open(&man, dir_fd, n->manifest, false);
	if (r >= 0)
		r = out_write_all(&man, json, strlen(json));
	if (r >= 0)
		r = out_open(&hash, dir_fd, n->hash, false);
	if (r >= 0)
		r = out_write_all(&hash, root_hex, 64);
	if (r >= 0)
		r = out_link(&man);
	if (r >= 0)
		r = out_link(&tar);
	if (r >= 0)
		r = out_link(&ver);
	if (r >= 0)
		r = out_link(&hash);
	if (r < 0)
		goto out;
	/* A .hash from an older tar must never sit beside the new tar, even after a crash. */
	if (unlinkat(dir_fd, n->hash, 0) < 0 && errno != ENOENT) {
		r = cn_err_set(-errno, "cannot remove the stale '%s'", n->hash);
		goto out;
	}
	r = cn_fsync_dir_fd(dir_fd);
	if (r >= 0)
		r = out_rename(&man);
	if (r >= 0)
		r = out_rename(&tar);
	if (r >= 0)
		r = out_rename(&ver);
	if (r >= 0)
		r = out_rename(&hash);
	if (r >= 0)
		r = cn_fsync_dir_fd(dir_fd);
out:
	out_abort(&man);
	out_abort(&hash);
	out_abort(&ver);
	out_abort(&tar);
	cn_tar_plan_done(&plan);
	return r;
}

/* The tar exists (ours, or the reference's) but its hash file does not. */
static int build_verity(const struct cn_model_build_opts *o, int dir_fd, const struct names *n,
			uint64_t size, const char *manifest_root, char root_hex[65])
{
	struct outfile ver = {.fd = -EBADF}, hash = {.fd = -EBADF};
	_cleanup_close_ int fd = -EBADF;
	struct cn_progress prog;
	uint8_t root[CN_VERITY_DIGEST];
	int r;

	fd = openat(dir_fd, n->tar, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", n->tar, strerror(errno));
	r = out_open(&ver, dir_fd, n->verity, false);
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
	r = out_open(&hash, dir_fd, n->hash, false);
	if (r >= 0)
		r = out_write_all(&hash, root_hex, 64);
	if (r >= 0)
		r = out_link(&ver);
	if (r >= 0)
		r = out_link(&hash);
	if (r >= 0)
		r = out_rename(&ver);
	if (r >= 0)
		r = out_rename(&hash);
	if (r >= 0)
		r = cn_fsync_dir_fd(dir_fd);
out:
	out_abort(&hash);
	out_abort(&ver);
	return r;
}

/* A cached image must be the one asked for: same name and commit (two names can map to the same
 * MODEL_PATH), same tar format, and its root hash (when known) must match the manifest's. */
static int check_manifest(int dir_fd, const struct names *n, const struct cn_model_build_opts *o,
			  const char *root_hex, char ret_manifest_root[65])
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct cn_model_manifest_info m = {0};
	size_t len;
	int r;

	r = cn_read_file_at(dir_fd, n->manifest, CN_MODEL_MANIFEST_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0; /* e.g. a tar built by the reference script */
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", n->manifest, strerror(-r));
	r = cn_model_manifest_parse(buf, len, &m);
	if (r < 0)
		return cn_err_set(r, "'%s': %s (remove the image to rebuild it)", n->manifest,
				  cn_err_msg());
	if (strcmp(m.name, o->name) != 0 || strcmp(m.commit, o->commit) != 0)
		r = cn_err_set(-EEXIST,
			       "'%s' holds %s@%s, not %s@%s (the file names collide); use another "
			       "images folder",
			       n->tar, m.name, m.commit, o->name, o->commit);
	else if (strcmp(m.tar_format, format_name(o->tar_format)) != 0)
		r = cn_err_set(-EEXIST,
			       "'%s' was built with --tar-format %s, not %s; remove it or use "
			       "another images folder",
			       n->tar, m.tar_format, format_name(o->tar_format));
	else if (root_hex && strcmp(m.root_hash, root_hex) != 0)
		r = cn_err_set(
		    -EBADMSG,
		    "'%s' says root hash %s but the image has %s; remove the image to rebuild it",
		    n->manifest, m.root_hash, root_hex);
	if (r >= 0 && ret_manifest_root)
		memcpy(ret_manifest_root, m.root_hash, 65);
	cn_model_manifest_info_done(&m);
	return r;
}

static int lock_model(const struct cn_model_build_opts *o, int dir_fd, const char *lock_name,
		      int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF;

	fd = openat(dir_fd, lock_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open the lock file '%s': %s", lock_name,
				  strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return cn_err_set(-errno, "cannot lock '%s': %s", lock_name,
					  strerror(errno));
		notify(o, "another build of '%s' holds %s; waiting for it", o->name, lock_name);
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return cn_err_set(-errno, "cannot lock '%s': %s", lock_name,
						  strerror(errno));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static char *join_abs(const char *dir, const char *name)
{
	return cn_path_join(dir, name);
}

int cn_model_build(const struct cn_model_build_opts *o, struct cn_model_image *ret)
{
	_cleanup_close_ int dir_fd = -EBADF, lock_fd = -EBADF;
	_cleanup_free_ char *images_abs = NULL;
	struct names n = {0};
	struct cn_model_image img = {0};
	char root_hex[65] = "";
	struct stat st;
	bool built = false;
	int r, have_tar, have_hash, have_verity;

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
	r = cn_mkdir_p(o->images_dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create the images folder '%s': %s", o->images_dir,
				  strerror(-r));
	r = cn_abspath(o->images_dir, &images_abs);
	if (r < 0)
		return cn_err_set(r, "cannot resolve '%s'", o->images_dir);
	dir_fd = open(images_abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cn_err_set(-errno, "cannot open the images folder '%s': %s", images_abs,
				  strerror(errno));
	r = names_make(o, &n);
	if (r < 0)
		return r;
	r = lock_model(o, dir_fd, n.lock, &lock_fd);
	if (r < 0)
		goto out;
	remove_stale(dir_fd, n.model_path);

	r = have_tar = file_exists_at(dir_fd, n.tar, &st);
	if (r < 0)
		goto out;
	if (!have_tar) {
		if (o->cache_only) {
			r = -ENOENT;
			goto out;
		}
		if (o->source_dir) {
			_cleanup_free_ char *src_abs = NULL;
			size_t slen;

			r = cn_abspath(o->source_dir, &src_abs);
			if (r < 0) {
				r = cn_err_set(r, "cannot open source folder '%s': %s",
					       o->source_dir, strerror(-r));
				goto out;
			}
			slen = strlen(src_abs);
			if (strncmp(images_abs, src_abs, slen) == 0 &&
			    (images_abs[slen] == '/' || images_abs[slen] == '\0' || slen == 1)) {
				r = cn_err_set(
				    -EINVAL,
				    "the images folder '%s' is inside the source folder '%s'",
				    images_abs, src_abs);
				goto out;
			}
		}
		if (!o->source_dir) {
			r = cn_err_set(-ENOENT,
				       "no image of '%s@%s' in the cache and no source folder",
				       o->name, o->commit);
			goto out;
		}
		r = build_full(o, dir_fd, &n, root_hex);
		if (r < 0)
			goto out;
		built = true;
	} else {
		uint64_t tar_size = (uint64_t)st.st_size;
		_cleanup_free_ char *hash_path = join_abs(images_abs, n.hash);

		if (!hash_path) {
			r = -ENOMEM;
			goto out;
		}
		r = have_hash = file_exists_at(dir_fd, n.hash, &st);
		if (r < 0)
			goto out;
		r = have_verity = file_exists_at(dir_fd, n.verity, &st);
		if (r < 0)
			goto out;
		if (have_hash && have_verity) {
			r = cn_model_read_hash_file(hash_path, root_hex);
			if (r < 0)
				goto out;
			r = check_manifest(dir_fd, &n, o, root_hex, NULL);
			if (r < 0)
				goto out;
		} else {
			if (o->cache_only) {
				r = -ENOENT;
				goto out;
			}
			char manifest_root[65] = "";

			r = check_manifest(dir_fd, &n, o, NULL, manifest_root);
			if (r < 0)
				goto out;
			r = build_verity(o, dir_fd, &n, tar_size, manifest_root, root_hex);
			if (r < 0)
				goto out;
			built = true;
		}
	}
	r = fstatat(dir_fd, n.tar, &st, 0) < 0 ? -errno : 0;
	if (r < 0)
		goto out;
	img.tar_size = (uint64_t)st.st_size;
	img.name = strdup(o->name);
	img.commit = strdup(o->commit);
	img.tar_path = join_abs(images_abs, n.tar);
	img.verity_path = join_abs(images_abs, n.verity);
	img.hash_path = join_abs(images_abs, n.hash);
	img.manifest_path = join_abs(images_abs, n.manifest);
	if (!img.name || !img.commit || !img.tar_path || !img.verity_path || !img.hash_path ||
	    !img.manifest_path) {
		cn_model_image_done(&img);
		r = -ENOMEM;
		goto out;
	}
	memcpy(img.root_hash, root_hex, sizeof(img.root_hash));
	img.cached = !built;
	*ret = img;
	r = 0;
	if (o->expected_root && strcmp(o->expected_root, root_hex) != 0)
		r = cn_err_set(-EKEYREJECTED, "root hash mismatch: expected %s, got %s",
			       o->expected_root, root_hex);
out:
	names_done(&n);
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
