/* SPDX-License-Identifier: Apache-2.0 */
#include "base/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

int cn_dl_open(const char *soname, const char *const *names, void **const *slots, size_t n,
	       char *err, size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (!h) {
		e = dlerror();
		(void)snprintf(err, errlen, "cannot load %s: %s", soname, e ? e : "dlopen failed");
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		*slots[i] = dlsym(h, names[i]);
		if (!*slots[i]) {
			(void)snprintf(err, errlen, "cannot load %s: it has no symbol %s", soname,
				       names[i]);
			for (size_t k = 0; k < i; k++)
				*slots[k] = NULL;
			(void)dlclose(h);
			return -ENOENT;
		}
	}
	return 0;
}
