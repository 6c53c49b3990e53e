/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Libraries opened at their first use rather than linked (house style: libcurl and
 * libcryptsetup bring dozens of libraries that cost every process milliseconds at start, and
 * most commands never call them). One call opens the library and resolves every symbol a
 * caller's table lists, or says which one is missing; the handle stays open for the process.
 */
#include <stddef.h>

/*
 * Opens soname with RTLD_NOW | RTLD_LOCAL and stores dlsym(names[i]) into *slots[i] for each i.
 * 0, or -ENOENT with err (errlen bytes) naming the library and why: dlerror()'s reason, or the
 * first symbol it lacks. Not thread-safe by itself: callers run it under pthread_once().
 */
int cn_dl_open(const char *soname, const char *const *names, void **const *slots, size_t n,
	       char *err, size_t errlen);

/*
 * A table of function pointers typed by the library's own header, for X-macro lists:
 *   #define FUNCS(X) X(crypt_load) X(crypt_free)
 *   static struct { FUNCS(CN_DL_FIELD) } lib;
 *   static const char *const names[] = {FUNCS(CN_DL_NAME)};
 *   static void **const slots[] = {FUNCS(CN_DL_SLOT)};   (with `lib` in scope)
 */
#define CN_DL_FIELD(f) __typeof__(f) *f;
#define CN_DL_NAME(f) #f,
#define CN_DL_SLOT(f) (void **)&lib.f,
