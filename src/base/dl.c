/* SPDX-License-Identifier: Apache-2.0 */
#include "base/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "base/log.h"

static int dl_open(struct cn_dl_lib *l)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (!h) {
		e = dlerror();
		(void)snprintf(l->err, sizeof(l->err), "cannot load %s: %s", l->soname,
			       e ? e : "dlopen failed");
		return -ENOENT;
	}
	for (size_t i = 0; i < l->n; i++) {
		*l->slots[i] = dlsym(h, l->names[i]);
		if (!*l->slots[i]) {
			(void)snprintf(l->err, sizeof(l->err),
				       "cannot load %s: it has no symbol %s", l->soname,
				       l->names[i]);
			for (size_t k = 0; k < i; k++)
				*l->slots[k] = NULL;
			(void)dlclose(h);
			return -ENOENT;
		}
	}
	return l->init ? l->init(l->err, sizeof(l->err)) : 0;
}

int cn_dl_load(struct cn_dl_lib *l)
{
	int r;

	if (cn_dl_loaded(l))
		return 0;
	(void)pthread_mutex_lock(&l->mu);
	if (!l->tried) {
		l->tried = true;
		l->result = dl_open(l);
		if (l->result >= 0)
			atomic_store_explicit(&l->loaded, true, memory_order_release);
	}
	r = l->result;
	(void)pthread_mutex_unlock(&l->mu);
	return r < 0 ? cn_err_set(r, "%s", l->err) : 0;
}
