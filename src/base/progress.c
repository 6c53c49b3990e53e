/* SPDX-License-Identifier: Apache-2.0 */
#include "base/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t cn_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double cn_now_ms(void)
{
	return (double)cn_now_ns() / 1e6;
}

const char *cn_format_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		(void)snprintf(buf, size, "%llu B", (unsigned long long)n);
	else
		(void)snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

void cn_progress_begin(struct cn_progress *p, const char *label, uint64_t total, bool enable)
{
	memset(p, 0, sizeof(*p));
	(void)snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
	p->total = total;
	p->enabled = enable && isatty(STDERR_FILENO);
	p->start_ns = cn_now_ns();
	(void)pthread_mutex_init(&p->lock, NULL);
}

static void draw(struct cn_progress *p, uint64_t now)
{
	char done[32], tot[32], rate[32], eta[32] = "";
	double secs = (double)(now - p->start_ns) / 1e9;
	double bps = secs > 0 ? (double)p->done / secs : 0;
	int width = 30, fill = 0;

	if (p->total) {
		fill = (int)((double)width * (double)p->done / (double)p->total);
		if (fill > width)
			fill = width;
		if (bps > 0 && p->done < p->total) {
			unsigned long s = (unsigned long)((double)(p->total - p->done) / bps);
			(void)snprintf(eta, sizeof(eta), " ETA %lu:%02lu", s / 60, s % 60);
		}
	}
	(void)fprintf(stderr, "\r\033[K%s [%.*s%*s] %s/%s %s/s%s", p->label, fill,
		      "##############################", width - fill, "",
		      cn_format_bytes(p->done, done, sizeof(done)),
		      cn_format_bytes(p->total, tot, sizeof(tot)),
		      cn_format_bytes((uint64_t)bps, rate, sizeof(rate)), eta);
	(void)fflush(stderr);
	p->drawn = true;
	p->last_draw_ns = now;
}

static void update(struct cn_progress *p, uint64_t done, bool add)
{
	uint64_t now;

	if (!p->enabled)
		return;
	(void)pthread_mutex_lock(&p->lock);
	p->done = add ? p->done + done : done;
	now = cn_now_ns();
	if (now - p->last_draw_ns >= 100000000ULL)
		draw(p, now);
	(void)pthread_mutex_unlock(&p->lock);
}

void cn_progress_add(struct cn_progress *p, uint64_t n)
{
	update(p, n, true);
}

void cn_progress_set(struct cn_progress *p, uint64_t done)
{
	update(p, done, false);
}

void cn_progress_end(struct cn_progress *p)
{
	if (p->enabled && p->drawn) {
		(void)fputs("\r\033[K", stderr);
		(void)fflush(stderr);
	}
	(void)pthread_mutex_destroy(&p->lock);
	p->enabled = false;
}
