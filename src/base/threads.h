/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Worker threads: how many (one answer for the whole program) and a parallel loop.
 *
 *	static void one(void *arg, size_t i) { struct job *j = arg; work(&j->items[i]); }
 *	r = cn_parallel_for(n, cn_threads(), one, &job);
 *
 * cn_parallel_for() runs fn(arg, i) once for every i in [0, n), on up to `threads` threads (the
 * caller's thread is one of them), handing out indices in increasing order, and returns when all
 * are done. fn must be thread-safe for distinct i; it reports its own outcome through arg.
 */
#include <stddef.h>

#define CN_THREADS_MAX 64u

/* Online CPUs (at most CN_THREADS_MAX); $COCOON_THREADS (1..256) overrides. */
unsigned cn_threads(void);

/* 0, or a negative errno when no thread could be started (then nothing ran). With threads <= 1
 * or n <= 1 everything runs on the caller's thread. A thread that cannot be started is not an
 * error: the others (and the caller) take its share. */
int cn_parallel_for(size_t n, unsigned threads, void (*fn)(void *arg, size_t i), void *arg);
