/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A progress bar on stderr: bytes done/total, rate and ETA. It draws only when stderr is a TTY
 * and it is enabled, at most 10 times a second, and erases itself when finished.
 * Thread-safe: cn_progress_add() may be called from worker threads.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct cn_progress {
	char label[64];
	uint64_t total; /* 0: unknown */
	uint64_t done;
	uint64_t start_ns;
	uint64_t last_draw_ns;
	bool enabled;
	bool drawn;
	pthread_mutex_t lock;
};

/* enable=false (e.g. --quiet) or a non-TTY stderr makes every call a no-op. */
void cn_progress_begin(struct cn_progress *p, const char *label, uint64_t total, bool enable);
void cn_progress_add(struct cn_progress *p, uint64_t n);
void cn_progress_set(struct cn_progress *p, uint64_t done);
/* Erases the bar. */
void cn_progress_end(struct cn_progress *p);

/* Monotonic clock in nanoseconds / milliseconds (double). */
uint64_t cn_now_ns(void);
double cn_now_ms(void);
/* Formats a byte count as "1.5 GiB" into buf. */
const char *cn_format_bytes(uint64_t n, char *buf, size_t size);
