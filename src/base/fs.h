/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * File-system primitives shared by every area: rm -rf that never follows a symlink, an
 * exclusive lock that waits, atomic outputs (written unnamed, published by rename), and folders
 * opened for *at() use.
 * All int-returning functions: 0 or a negative errno, with details in cn_err_msg().
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deepest folder cn_rm_rf() descends into (one open fd per level). */
#define CN_RM_RF_DEPTH_MAX 256u

/*
 * Removes dir_fd/name (dir_fd may be AT_FDCWD) and, for a folder, everything below it.
 * Symlinks are removed, never followed; an absent path is not an error.
 */
int cn_rm_rf_at(int dir_fd, const char *name);
int cn_rm_rf(const char *path);

/* Called once, before waiting, when another process holds the lock. */
typedef void (*cn_lock_wait_fn)(void *userdata, const char *lock_name);

/*
 * Opens (creating, mode 0644, never through a symlink) dir_fd/name and takes an exclusive
 * flock(2), waiting for it; on_wait (may be NULL) is told first when it has to wait.
 * -EROFS (or -EACCES) when the lock file cannot be opened for writing: a read-only folder,
 * whose callers may fall back to a read-only check. *ret_fd holds the lock until closed.
 */
int cn_lock_wait_at(int dir_fd, const char *name, cn_lock_wait_fn on_wait, void *userdata,
		    int *ret_fd);

/*
 * One atomic output file beside its final name in a folder: written through fd, unnamed
 * (O_TMPFILE, so a crash leaves nothing) where the file system allows it, otherwise as
 * ".<final>.XXXXXX". cn_atomic_link() fsyncs it and gives it a temporary name,
 * cn_atomic_commit() renames it over the final name; cn_atomic_abort() removes whatever is
 * left (safe to call after a commit, and on a zeroed struct with fd = -EBADF).
 * Publishing several files in an order that readers rely on: link all, then commit in order.
 */
struct cn_atomic_file {
	int dir_fd; /* borrowed */
	int fd;
	char *final;
	char *tmp; /* the temporary name, once it has one */
};
#define CN_ATOMIC_FILE_INIT                                                                        \
	{                                                                                          \
		.dir_fd = -EBADF, .fd = -EBADF                                                     \
	}

/* direct: O_DIRECT where supported (large sequential writes). */
int cn_atomic_open(struct cn_atomic_file *f, int dir_fd, const char *final, bool direct);
int cn_atomic_write(struct cn_atomic_file *f, const void *buf, size_t len);
int cn_atomic_link(struct cn_atomic_file *f, unsigned mode);
int cn_atomic_commit(struct cn_atomic_file *f);
void cn_atomic_abort(struct cn_atomic_file *f);

/*
 * Publishes the folder tmp as final by rename(2); with replace, an existing final (a folder
 * left by an earlier run) is removed first. The parent is fsynced.
 */
int cn_publish_dir(const char *tmp, const char *final, bool replace);

/*
 * Creates the folder path with its parents (mode for the ones created, as cn_mkdir_p) and opens
 * it (O_RDONLY | O_DIRECTORY | O_CLOEXEC) into *ret_fd. The message names the path: "cannot
 * create 'PATH': ..." or "cannot open 'PATH': ...".
 */
int cn_mkdir_open(const char *path, mode_t mode, int *ret_fd);

/*
 * A directory stream over a duplicate of dir_fd, from its first entry: dir_fd stays open and
 * usable, and an offset left by earlier reads through it does not matter. NULL with errno set.
 */
DIR *cn_opendir_dup(int dir_fd);
