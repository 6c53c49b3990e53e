/* SPDX-License-Identifier: Apache-2.0 */
/* The launcher's readiness gate: exactly what `cocoon gpu verify` decides. */
#include <errno.h>
#include <stdlib.h>

#include "base/log.h"
#include "vfio/ready.h"
#include "vfio/vfio.h"

int cn_vfio_check_ready(const struct cn_vfio_roots *roots, const char *bdf,
			struct cn_strv *ret_problems)
{
	struct cn_vfio_opts o = {0};
	struct cn_vfio_verdict *v;
	struct cn_strv out = {0};
	int r;

	if (!bdf)
		return cn_err_set(-EINVAL, "no GPU address given");
	if (roots)
		o.roots = *roots;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r = cn_vfio_verify(&o, bdf, v);
	if (r < 0)
		goto out;
	if (v->n == 0)
		goto out;
	for (size_t i = 0; i < v->n; i++) {
		r = cn_strv_pushf(&out, "%s; fix: %s", v->p[i].what, v->p[i].fix);
		if (r < 0) {
			cn_strv_done(&out);
			goto out;
		}
	}
	r = cn_err_set(-EKEYREJECTED, "GPU %s is not ready for passthrough: %s", v->bdf,
		       v->p[0].what);
	/* Appended, so a caller's vector keeps what it had. */
	for (size_t i = 0; ret_problems && i < out.n; i++) {
		if (cn_strv_push(ret_problems, out.v[i]) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	cn_strv_done(&out);
out:
	free(v);
	return r;
}
