/* SPDX-License-Identifier: Apache-2.0 */
/* OCI references: strict parse; what parses formats back to a reference that parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_oci_ref r, r2;
	char *s, buf[CN_OCI_REF_MAX + 8];

	if (size > 1024)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (cn_oci_ref_parse(s, &r) == 0) {
		if (!r.host[0] || !r.repo[0] || (!r.tag[0] && !r.digest[0]))
			abort();
		cn_oci_ref_format(&r, buf, sizeof(buf));
		if (cn_oci_ref_parse(buf, &r2) != 0 || strcmp(r.repo, r2.repo) != 0)
			abort();
	}
	/* the same bytes as a model name under a fixed prefix */
	if (memchr(s, 0, size) == NULL && size < 300)
		(void)cn_oci_ref_for_model("reg.example:5000/m", s, "c0ffee", &r);
	free(s);
	return 0;
}
