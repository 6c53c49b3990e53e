/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The image store: one folder of model images, shared by builds, downloads and registry pulls.
 *
 * Layout (keyed by model AND commit, so a new commit never reuses a tar):
 *   <MODEL_PATH>@<commit>.tar               the padded tar (reference bytes)
 *   <MODEL_PATH>@<commit>.tar.verity        veritysetup-format hash file
 *   <MODEL_PATH>@<commit>.tar.hash          64 lower-case hex, no newline
 *   <MODEL_PATH>@<commit>.tar.manifest.json files, sizes, SHA-256, tar format, root hash
 *   <MODEL_PATH>.lock                       flock(2) held while writing any commit of the model
 *
 * Writers hold the model's lock, write each output as a cn_atomic_file and publish them with
 * cn_store_publish() in the order manifest, tar, verity, hash, so that a present .hash always
 * means a complete set. Readers need no lock: a complete set is never modified in place.
 * All int-returning functions: 0 or a negative errno, details in cn_err_msg().
 */
#include <stdbool.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "model/model.h"

struct cn_store {
	int dir_fd;
	char *dir; /* absolute */
};
#define CN_STORE_INIT                                                                              \
	{                                                                                          \
		.dir_fd = -EBADF                                                                   \
	}

/* Opens images_dir (created with create; an existing read-only folder is fine). */
int cn_store_open(struct cn_store *s, const char *images_dir, bool create);
void cn_store_close(struct cn_store *s);

/* The file names of one image, relative to the store. */
struct cn_store_names {
	char *model_path, *tar, *verity, *hash, *manifest, *lock;
};
int cn_store_names_make(const char *name, const char *commit, struct cn_store_names *ret);
void cn_store_names_done(struct cn_store_names *n);
/* "<dir>/<name>" (NULL on OOM). */
char *cn_store_path(const struct cn_store *s, const char *name);

/* "gnu-1.35" / "gnu-1.34", as recorded in manifests. */
const char *cn_store_format_name(enum cn_tar_format f);

/*
 * Takes the lock of model name (waiting; notify, which may be NULL, is told first) and removes the
 * temporaries a killed writer left. -EROFS when the folder cannot be written (read-only mount
 * or no permission): callers may still use a complete image through cn_store_lookup().
 */
int cn_store_lock(struct cn_store *s, const struct cn_store_names *n, const char *name,
		  void (*notify)(void *userdata, const char *msg), void *userdata, int *ret_fd);

/* 1 and *st when dir/name is a regular file, 0 when absent, else a negative errno. */
int cn_store_stat(const struct cn_store *s, const char *name, struct stat *st);

/*
 * A stored image must be the one asked for: same name and commit (two names can map to the same
 * MODEL_PATH), same tar format, and its root hash (when root_hex is given) must match the
 * manifest's. No manifest (a tar of the reference script) is accepted. ret_manifest_root (may be
 * NULL) gets the manifest's root hash, or "" without a manifest.
 */
int cn_store_check_manifest(const struct cn_store *s, const struct cn_store_names *n,
			    const char *name, const char *commit, enum cn_tar_format format,
			    const char *root_hex, char ret_manifest_root[65]);

/*
 * Looks name@commit up: 1 with *ret filled (cached = true) when the complete set (tar, verity,
 * hash, consistent manifest) is there, 0 when it is not complete, negative on an error or an
 * inconsistent image. Needs no lock and no write access.
 */
int cn_store_lookup(const struct cn_store *s, const struct cn_store_names *n, const char *name,
		    const char *commit, enum cn_tar_format format, struct cn_model_image *ret);

/* Fills *ret with the paths of name@commit and root_hex (the tar must exist). */
int cn_store_image(const struct cn_store *s, const struct cn_store_names *n, const char *name,
		   const char *commit, const char *root_hex, bool cached,
		   struct cn_model_image *ret);

/*
 * Publishes the outputs written so far (any of them may be NULL) with the lock held: fsync and
 * name all, remove a stale .hash, then rename in the order manifest, tar, verity, hash.
 */
int cn_store_publish(struct cn_store *s, const struct cn_store_names *n,
		     struct cn_atomic_file *manifest, struct cn_atomic_file *tar,
		     struct cn_atomic_file *verity, struct cn_atomic_file *hash);
