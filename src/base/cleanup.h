/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Scope cleanup: _cleanup_free_ char *p = NULL; frees p when it leaves scope.
 * Hand ownership on with TAKE_PTR()/TAKE_FD(). Destructors used here accept NULL / -EBADF.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Generates fnp(type *) that calls fn(*p) when *p is non-NULL. */
#define CN_DEFINE_CLEANUP(type, fn)                                                                \
	static inline void fn##p(type *pp)                                                         \
	{                                                                                          \
		if (*pp)                                                                           \
			fn(*pp);                                                                   \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(const int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void *cn_take_ptr_(void **pp)
{
	void *p = *pp;
	*pp = NULL;
	return p;
}
#define TAKE_PTR(p) cn_take_ptr_((void **)&(p))

static inline int cn_take_fd_(int *fdp)
{
	int fd = *fdp;
	*fdp = -EBADF;
	return fd;
}
#define TAKE_FD(fd) cn_take_fd_(&(fd))

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define CN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* free() that returns NULL: p = mfree(p); */
static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}
