/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symlink containment (cn_tar_plan_check_links) over a hostile tree. Input: lines "T REL\tTARGET"
 * with T one of d (folder), f (file), l (symlink to TARGET). Accepted trees are checked again
 * with an extra link "zz-up -> .." at the root, which must always be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 256

/* A NUL-terminated copy of n bytes that are not (strndup would read past them). */
static char *copy(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

static int add(struct cn_tar_plan *p, char type, const char *rel, size_t rl, const char *link,
	       size_t ll)
{
	struct cn_tar_entry *e = &p->e[p->n];

	*e = (struct cn_tar_entry){.type = type};
	e->rel = copy(rel, rl);
	e->link = link ? copy(link, ll) : NULL;
	if (!e->rel || (link && !e->link)) {
		free(e->rel);
		free(e->link);
		return -1;
	}
	p->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_tar_plan p = {0};
	const char *s = (const char *)data, *end = s + size;

	if (size > 16384)
		return 0;
	p.e = calloc(MAX_ENTRIES + 2, sizeof(*p.e));
	if (!p.e)
		return 0;
	if (add(&p, CN_TAR_DIR, "", 0, NULL, 0) < 0)
		goto out;
	while (s < end && p.n < MAX_ENTRIES) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *tab;
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char t;

		if (len < 2 || memchr(s, '\0', len))
			goto next;
		t = s[0] == 'd' ? CN_TAR_DIR : s[0] == 'l' ? CN_TAR_SYMLINK : CN_TAR_REG;
		tab = memchr(s + 2, '\t', len - 2);
		if (t == CN_TAR_SYMLINK && tab) {
			if (add(&p, t, s + 2, (size_t)(tab - s - 2), tab + 1,
				(size_t)(s + len - tab - 1)) < 0)
				goto out;
		} else if (t != CN_TAR_SYMLINK) {
			if (add(&p, t, s + 2, len - 2, NULL, 0) < 0)
				goto out;
		}
	next:
		s += len + (nl ? 1 : 0);
	}
	if (cn_tar_plan_check_links(&p) == 0) {
		if (add(&p, CN_TAR_SYMLINK, "zz-up", 5, "..", 2) < 0)
			goto out;
		if (cn_tar_plan_check_links(&p) == 0)
			abort();
	}
out:
	cn_tar_plan_done(&p);
	return 0;
}
