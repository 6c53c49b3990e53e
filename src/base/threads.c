/* SPDX-License-Identifier: Apache-2.0 */
#include "base/threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"

unsigned cn_threads(void)
{
	const char *e = getenv("COCOON_THREADS");
	uint32_t v;
	long n;

	if (e && *e && cn_parse_u32(e, 256, &v) == 0 && v > 0)
		return v;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return (unsigned)CN_MIN(n, (long)CN_THREADS_MAX);
}

struct loop {
	pthread_mutex_t mu;
	size_t next, n;
	void (*fn)(void *arg, size_t i);
	void *arg;
};

static void *loop_main(void *p)
{
	struct loop *l = p;

	for (;;) {
		size_t i;

		(void)pthread_mutex_lock(&l->mu);
		i = l->next < l->n ? l->next++ : l->n;
		(void)pthread_mutex_unlock(&l->mu);
		if (i == l->n)
			return NULL;
		l->fn(l->arg, i);
	}
}

int cn_parallel_for(size_t n, unsigned threads, void (*fn)(void *arg, size_t i), void *arg)
{
	struct loop l = {.n = n, .fn = fn, .arg = arg};
	pthread_t tids[CN_THREADS_MAX];
	unsigned started = 0, want;

	want = (unsigned)CN_MIN((size_t)CN_MIN(threads, CN_THREADS_MAX), n);
	if (want <= 1) {
		for (size_t i = 0; i < n; i++)
			fn(arg, i);
		return 0;
	}
	(void)pthread_mutex_init(&l.mu, NULL);
	for (unsigned t = 1; t < want; t++)
		if (pthread_create(&tids[started], NULL, loop_main, &l) == 0)
			started++;
	(void)loop_main(&l);
	for (unsigned t = 0; t < started; t++)
		(void)pthread_join(tids[t], NULL);
	(void)pthread_mutex_destroy(&l.mu);
	return 0;
}
