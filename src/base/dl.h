/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Libraries opened at their first use rather than linked: libcurl and libcryptsetup bring
 * dozens of libraries that cost every process milliseconds at start, and most commands never
 * call them. A struct cn_dl_lib names the library and a table of function pointers typed by
 * the library's own header; cn_dl_load() opens it once per process (thread-safe), resolves
 * every symbol or says which one is missing, and remembers the outcome. The handle stays open.
 *
 *   #define FUNCS(X) X(crypt_load) X(crypt_free)
 *   static struct { FUNCS(CN_DL_FIELD) } lib;
 *   static struct cn_dl_lib cs = CN_DL_LIB("libcryptsetup.so.12", FUNCS, NULL);
 *   ... if ((r = cn_dl_load(&cs)) < 0) return r;  lib.crypt_load(...);
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct cn_dl_lib {
	const char *soname;
	const char *const *names;
	void **const *slots; /* where each dlsym(names[i]) goes */
	size_t n;
	/* Optional, once after the symbols resolved (libcurl's global init): 0, or < 0 with err. */
	int (*init)(char *err, size_t errlen);
	pthread_mutex_t mu;
	bool tried;
	atomic_bool loaded;
	int result;
	char err[256];
};

#define CN_DL_FIELD(f) __typeof__(f) *f;
#define CN_DL_NAME(f) #f,
#define CN_DL_SLOT(f) (void **)&lib.f,
/* A struct cn_dl_lib initializer; the table the slots point into is named `lib`. */
#define CN_DL_LIB(soname_, FUNCS, init_)                                                           \
	{                                                                                          \
		.soname = (soname_), .names = (const char *const[]){FUNCS(CN_DL_NAME)},            \
		.slots = (void **const[]){FUNCS(CN_DL_SLOT)},                                      \
		.n = sizeof((const char *const[]){FUNCS(CN_DL_NAME)}) / sizeof(const char *),      \
		.init = (init_), .mu = PTHREAD_MUTEX_INITIALIZER                                   \
	}

/*
 * Opens l->soname (RTLD_NOW | RTLD_LOCAL) and resolves every symbol, the first call only.
 * 0, or (every call) -ENOENT naming the library and why: dlerror()'s reason or the first
 * symbol it lacks; or the init hook's error.
 */
int cn_dl_load(struct cn_dl_lib *l);

/* True once cn_dl_load() succeeded (any thread); lock-free. */
static inline bool cn_dl_loaded(struct cn_dl_lib *l)
{
	return atomic_load_explicit(&l->loaded, memory_order_acquire);
}
