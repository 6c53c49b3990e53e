/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * File helpers. Every fd is O_CLOEXEC. All return 0 or a negative errno.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/log.h" /* CN_ENOTREG, cn_strerror() */

/* Hard cap used when a caller has no better one. */
#define CN_READ_FILE_MAX (64u * 1024 * 1024)

/*
 * Opens an input for reading without ever blocking on a FIFO: O_NONBLOCK until fstat() shows a
 * regular file (or, with allow_block, a block device), then cleared. -EISDIR for a folder,
 * -CN_ENOTREG ("not a regular file") for a FIFO, socket, character device... ret_st may be NULL.
 */
int cn_open_input_at(int dir_fd, const char *path, bool allow_block, int *ret_fd,
		     struct stat *ret_st);

/*
 * Reads a whole regular file (dir_fd may be AT_FDCWD); anything else fails as cn_open_input_at().
 * -E2BIG if it holds more than max bytes. The buffer is NUL-terminated (not counted in *ret_len) so
 * text can be used as a string.
 */
int cn_read_file_at(int dir_fd, const char *path, size_t max, uint8_t **ret, size_t *ret_len);
int cn_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);

/*
 * Reads a sysfs/procfs attribute with exactly one read() of at most max bytes (kernfs may not
 * buffer between reads). A trailing newline is stripped. -E2BIG if the value fills the buffer.
 */
int cn_read_virtual_at(int dir_fd, const char *path, size_t max, char **ret);

/* Writes all of buf, retrying on EINTR and short writes. */
int cn_write_all(int fd, const void *buf, size_t len);
/* pwrite() variant. */
int cn_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Reads exactly len bytes at off; -EIO on a short read (file shrank). */
int cn_pread_all(int fd, void *buf, size_t len, uint64_t off);

/*
 * Writes buf to dir_fd/name atomically: a temporary ".name.XXXXXX" in the same directory,
 * fsync, rename over name, fsync the directory. On failure the temporary is removed.
 */
int cn_write_file_atomic_at(int dir_fd, const char *name, const void *buf, size_t len, mode_t mode);

/* Creates a unique temporary file "[dir/].<name>.XXXXXX" beside dir_fd/prefix (O_RDWR|O_CLOEXEC,
 * mode 0600 before umask). *ret_name gets the name relative to dir_fd (caller frees). */
int cn_open_tmp_at(int dir_fd, const char *prefix, int *ret_fd, char **ret_name);

/* fsync() of a directory, by fd or path. */
int cn_fsync_dir_fd(int dir_fd);
int cn_fsync_dir(const char *path);

/* mkdir -p with the given mode for created directories. */
int cn_mkdir_p(const char *path, mode_t mode);

/* Returns a malloc'd absolute, canonical path (realpath). */
int cn_abspath(const char *path, char **ret);

/* Joins a and b with exactly one '/' between. NULL on OOM. */
char *cn_path_join(const char *a, const char *b);
