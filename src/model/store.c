/* SPDX-License-Identifier: Apache-2.0 */
/* The image store (layout and rules in store.h). */
#include "model/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

int cn_store_open(struct cn_store *s, const char *images_dir, bool create)
{
	int r;

	*s = (struct cn_store)CN_STORE_INIT;
	if (create) {
		r = cn_mkdir_p(images_dir, 0755);
		if (r < 0 && r != -EROFS && r != -EACCES)
			return cn_err_set(r, "cannot create the images folder '%s': %s", images_dir,
					  strerror(-r));
	}
	r = cn_abspath(images_dir, &s->dir);
	if (r < 0)
		return cn_err_set(r, "cannot open the images folder '%s': %s", images_dir,
				  strerror(-r));
	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0) {
		r = -errno;
		cn_store_close(s);
		return cn_err_set(r, "cannot open the images folder '%s': %s", images_dir,
				  strerror(-r));
	}
	return 0;
}

void cn_store_close(struct cn_store *s)
{
	if (s->dir_fd >= 0)
		(void)close(s->dir_fd);
	free(s->dir);
	*s = (struct cn_store)CN_STORE_INIT;
}

void cn_store_names_done(struct cn_store_names *n)
{
	free(n->model_path);
	free(n->tar);
	free(n->verity);
	free(n->hash);
	free(n->manifest);
	free(n->lock);
	*n = (struct cn_store_names){0};
}

int cn_store_names_make(const char *name, const char *commit, struct cn_store_names *n)
{
	*n = (struct cn_store_names){0};
	n->model_path = cn_model_path_name(name);
	if (!n->model_path || asprintf(&n->tar, "%s@%s.tar", n->model_path, commit) < 0 ||
	    asprintf(&n->verity, "%s.verity", n->tar) < 0 ||
	    asprintf(&n->hash, "%s.hash", n->tar) < 0 ||
	    asprintf(&n->manifest, "%s.manifest.json", n->tar) < 0 ||
	    asprintf(&n->lock, "%s.lock", n->model_path) < 0) {
		cn_store_names_done(n);
		return -ENOMEM;
	}
	return 0;
}

char *cn_store_path(const struct cn_store *s, const char *name)
{
	return cn_path_join(s->dir, name);
}

const char *cn_store_format_name(enum cn_tar_format f)
{
	return f == CN_TAR_GNU_1_34 ? "gnu-1.34" : "gnu-1.35";
}

/* Removes ".<MODEL_PATH>@..." temporaries left by a killed writer (called with the lock). */
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

struct lock_note {
	void (*notify)(void *userdata, const char *msg);
	void *userdata;
	const char *what;
};

static void on_wait(void *userdata, const char *lock_name)
{
	const struct lock_note *ln = userdata;
	char msg[512];

	if (!ln->notify)
		return;
	(void)snprintf(msg, sizeof(msg), "another build of '%s' holds %s; waiting for it", ln->what,
		       lock_name);
	ln->notify(ln->userdata, msg);
}

int cn_store_lock(struct cn_store *s, const struct cn_store_names *n, const char *name,
		  void (*notify)(void *userdata, const char *msg), void *userdata, int *ret_fd)
{
	struct lock_note ln = {.notify = notify, .userdata = userdata, .what = name};
	int r;

	r = cn_lock_wait_at(s->dir_fd, n->lock, on_wait, &ln, ret_fd);
	if (r == -EROFS || r == -EACCES)
		return cn_err_set(-EROFS, "the images folder '%s' is read-only (%s)", s->dir,
				  cn_err_msg());
	if (r < 0)
		return r;
	remove_stale(s->dir_fd, n->model_path);
	return 0;
}

int cn_store_stat(const struct cn_store *s, const char *name, struct stat *st)
{
	if (fstatat(s->dir_fd, name, st, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return cn_err_set(-errno, "cannot stat '%s': %s", name, strerror(errno));
	}
	if (!S_ISREG(st->st_mode))
		return cn_err_set(-EINVAL, "'%s' exists and is not a regular file", name);
	return 1;
}

int cn_store_check_manifest(const struct cn_store *s, const struct cn_store_names *n,
			    const char *name, const char *commit, enum cn_tar_format format,
			    const char *root_hex, char ret_manifest_root[65])
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct cn_model_manifest_info m = {0};
	const char *fmt = cn_store_format_name(format);
	size_t len;
	int r;

	if (ret_manifest_root)
		ret_manifest_root[0] = '\0';
	r = cn_read_file_at(s->dir_fd, n->manifest, CN_MODEL_MANIFEST_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0; /* e.g. a tar built by the reference script */
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", n->manifest, cn_strerror(r));
	r = cn_model_manifest_parse(buf, len, &m);
	if (r < 0)
		return cn_err_set(r, "'%s': %s (remove the image to rebuild it)", n->manifest,
				  cn_err_msg());
	if (strcmp(m.name, name) != 0 || strcmp(m.commit, commit) != 0)
		r = cn_err_set(-EEXIST,
			       "'%s' holds %s@%s, not %s@%s (the file names collide); use another "
			       "images folder",
			       n->tar, m.name, m.commit, name, commit);
	else if (strcmp(m.tar_format, fmt) != 0)
		r = cn_err_set(-EEXIST,
			       "'%s' was built with --tar-format %s, not %s; remove it or use "
			       "another images folder",
			       n->tar, m.tar_format, fmt);
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

int cn_store_image(const struct cn_store *s, const struct cn_store_names *n, const char *name,
		   const char *commit, const char *root_hex, bool cached,
		   struct cn_model_image *ret)
{
	struct cn_model_image img = {0};
	struct stat st;

	if (fstatat(s->dir_fd, n->tar, &st, 0) < 0)
		return cn_err_set(-errno, "cannot stat '%s': %s", n->tar, strerror(errno));
	img.tar_size = (uint64_t)st.st_size;
	img.name = strdup(name);
	img.commit = strdup(commit);
	img.tar_path = cn_store_path(s, n->tar);
	img.verity_path = cn_store_path(s, n->verity);
	img.hash_path = cn_store_path(s, n->hash);
	img.manifest_path = cn_store_path(s, n->manifest);
	if (!img.name || !img.commit || !img.tar_path || !img.verity_path || !img.hash_path ||
	    !img.manifest_path) {
		cn_model_image_done(&img);
		return -ENOMEM;
	}
	memcpy(img.root_hash, root_hex, 64);
	img.root_hash[64] = '\0';
	img.cached = cached;
	*ret = img;
	return 0;
}

int cn_store_lookup(const struct cn_store *s, const struct cn_store_names *n, const char *name,
		    const char *commit, enum cn_tar_format format, struct cn_model_image *ret)
{
	_cleanup_free_ char *hash_path = NULL;
	char root_hex[65];
	struct stat st;
	int r;

	r = cn_store_stat(s, n->tar, &st);
	if (r <= 0)
		return r;
	r = cn_store_stat(s, n->hash, &st);
	if (r <= 0)
		return r;
	r = cn_store_stat(s, n->verity, &st);
	if (r <= 0)
		return r;
	hash_path = cn_store_path(s, n->hash);
	if (!hash_path)
		return -ENOMEM;
	r = cn_model_read_hash_file(hash_path, root_hex);
	if (r < 0)
		return r;
	r = cn_store_check_manifest(s, n, name, commit, format, root_hex, NULL);
	if (r < 0)
		return r;
	r = cn_store_image(s, n, name, commit, root_hex, true, ret);
	return r < 0 ? r : 1;
}

int cn_store_publish(struct cn_store *s, const struct cn_store_names *n,
		     struct cn_atomic_file *manifest, struct cn_atomic_file *tar,
		     struct cn_atomic_file *verity, struct cn_atomic_file *hash)
{
	struct cn_atomic_file *order[] = {manifest, tar, verity, hash};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		if (order[i]) {
			r = cn_atomic_link(order[i], 0644);
			if (r < 0)
				return r;
		}
	/* A .hash from an older tar must never sit beside the new tar, even after a crash. */
	if (unlinkat(s->dir_fd, n->hash, 0) < 0 && errno != ENOENT)
		return cn_err_set(-errno, "cannot remove the stale '%s'", n->hash);
	r = cn_fsync_dir_fd(s->dir_fd);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		if (order[i]) {
			r = cn_atomic_commit(order[i]);
			if (r < 0)
				return r;
		}
	return cn_fsync_dir_fd(s->dir_fd);
}
