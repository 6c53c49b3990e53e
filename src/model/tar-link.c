/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symlink containment of a scanned tree. Every symlink's target is resolved component by
 * component, following the links that are themselves in the tree (as the kernel will once the
 * image is extracted or mounted), without touching the file system: the plan holds every entry.
 * A name that is not in the tree (dangling) or not a folder is treated as a plain folder, which
 * is stricter than the kernel (it would stop there). A target that goes above the root at any
 * step is refused, naming the link; so are loops and chains longer than the kernel allows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "model/tar.h"

/* Total component steps over all links of one tree: bounds the work of hostile targets. */
#define LINK_STEPS_MAX (UINT64_C(1) << 23)

struct resolver {
	const struct cn_tar_plan *p;
	size_t *by_rel; /* entry indices sorted by rel */
	char *cur;	/* the resolved folder so far, relative to the root ("" = root) */
	size_t cur_len, cur_cap;
	char *rest; /* what is left to resolve */
	uint64_t steps;
};

static int cmp_rel(const void *a, const void *b, void *arg)
{
	const struct cn_tar_plan *p = arg;

	return strcmp(p->e[*(const size_t *)a].rel, p->e[*(const size_t *)b].rel);
}

/* The entry whose rel is exactly key[0..len), or NULL. */
static const struct cn_tar_entry *find_rel(const struct resolver *rs, const char *key, size_t len)
{
	size_t lo = 0, hi = rs->p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = rs->p->e[rs->by_rel[mid]].rel;
		int c = strncmp(key, s, len);

		if (c == 0 && s[len] != '\0')
			c = -1; /* key is a proper prefix of s */
		if (c == 0)
			return &rs->p->e[rs->by_rel[mid]];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int cur_push(struct resolver *rs, const char *c, size_t n)
{
	size_t need = rs->cur_len + 1 + n + 1;

	if (need > rs->cur_cap) {
		size_t cap = need * 2;
		char *b = realloc(rs->cur, cap);

		if (!b)
			return -ENOMEM;
		rs->cur = b;
		rs->cur_cap = cap;
	}
	if (rs->cur_len)
		rs->cur[rs->cur_len++] = '/';
	memcpy(rs->cur + rs->cur_len, c, n);
	rs->cur_len += n;
	rs->cur[rs->cur_len] = '\0';
	return 0;
}

static void cur_pop(struct resolver *rs)
{
	char *s = memrchr(rs->cur, '/', rs->cur_len);

	rs->cur_len = s ? (size_t)(s - rs->cur) : 0;
	rs->cur[rs->cur_len] = '\0';
}

/* rest = target + "/" + tail (tail points into the old rest). */
static int splice_rest(struct resolver *rs, const char *target, const char *tail)
{
	char *n;
	size_t tl = strlen(target), rl = strlen(tail);

	n = malloc(tl + 1 + rl + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n, target, tl);
	n[tl] = '/';
	memcpy(n + tl + 1, tail, rl + 1);
	free(rs->rest);
	rs->rest = n;
	return 0;
}

static int resolve_one(struct resolver *rs, const struct cn_tar_entry *link)
{
	const struct cn_tar_entry *via = NULL;
	const char *s, *slash = strrchr(link->rel, '/');
	unsigned hops = 1;  /* the link itself, as the kernel counts */
	size_t missing = 0; /* cur_len at which the first name not in the tree was pushed */
	int r;

	rs->cur_len = 0;
	if (rs->cur)
		rs->cur[0] = '\0';
	if (slash) {
		r = cur_push(rs, link->rel, (size_t)(slash - link->rel));
		if (r < 0)
			return r;
	}
	free(rs->rest);
	rs->rest = strdup(link->link);
	if (!rs->rest)
		return -ENOMEM;
	s = rs->rest;
	while (*s) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		const struct cn_tar_entry *hit;

		if (++rs->steps > LINK_STEPS_MAX)
			return cn_err_set(-E2BIG,
					  "symlink '%s' -> '%s': the tree's symlinks need too many "
					  "resolution steps (over %llu)",
					  link->rel, link->link,
					  (unsigned long long)LINK_STEPS_MAX);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			s = *e ? e + 1 : e;
			continue;
		}
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (rs->cur_len == 0)
				return via ? cn_err_set(-EINVAL,
							"symlink '%s' -> '%s' leaves the snapshot "
							"(through symlink '%s')",
							link->rel, link->link, via->rel)
					   : cn_err_set(-EINVAL,
							"symlink '%s' -> '%s' leaves the snapshot",
							link->rel, link->link);
			cur_pop(rs);
			if (missing && rs->cur_len < missing)
				missing = 0;
			s = *e ? e + 1 : e;
			continue;
		}
		r = cur_push(rs, s, n);
		if (r < 0)
			return r;
		s = *e ? e + 1 : e;
		if (missing)
			continue; /* below a name that is not in the tree: nothing more to find */
		hit = find_rel(rs, rs->cur, rs->cur_len);
		if (!hit) {
			missing = rs->cur_len;
			continue;
		}
		if (hit->type != CN_TAR_SYMLINK)
			continue;
		if (++hops > CN_TAR_LINK_HOPS_MAX)
			return cn_err_set(-ELOOP,
					  "symlink '%s' -> '%s' is a loop or a chain of more than "
					  "%u symlinks",
					  link->rel, link->link, CN_TAR_LINK_HOPS_MAX);
		if (!hit->link || hit->link[0] == '/' || !hit->link[0])
			return cn_err_set(
			    -EINVAL,
			    "symlink '%s' -> '%s' goes through symlink '%s', which has "
			    "no relative target",
			    link->rel, link->link, hit->rel);
		via = hit;
		cur_pop(rs);
		r = splice_rest(rs, hit->link, s);
		if (r < 0)
			return r;
		s = rs->rest;
	}
	return 0;
}

int cn_tar_plan_check_links(const struct cn_tar_plan *p)
{
	struct resolver rs = {.p = p};
	int r = 0;

	rs.by_rel = calloc(p->n ? p->n : 1, sizeof(*rs.by_rel));
	if (!rs.by_rel)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		rs.by_rel[i] = i;
	qsort_r(rs.by_rel, p->n, sizeof(*rs.by_rel), cmp_rel, (void *)p);
	for (size_t i = 0; i < p->n && r >= 0; i++)
		if (p->e[i].type == CN_TAR_SYMLINK)
			r = resolve_one(&rs, &p->e[i]);
	if (r == -ELOOP)
		r = -EINVAL;
	free(rs.by_rel);
	free(rs.cur);
	free(rs.rest);
	return r;
}
