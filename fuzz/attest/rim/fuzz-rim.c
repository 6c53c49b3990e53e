/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: RIM load + verify (strict parse, schema, XML-DSig, chain, measurements) and the
 * comparison over whatever measurements come out. */
#include <stdint.h>
#include <string.h>

#include "attest/rim/rim.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t digest[48] = {0};
	const struct cn_rim_verify_opts opts = {.time = 1700000000};
	struct cn_rim_runtime rt[64];
	const struct cn_rim_measurement *m;
	struct cn_rim_comparison *c = NULL;
	struct cn_rim *rim = NULL;
	const uint8_t nvdec0 = 0x55;
	size_t n;

	if (cn_rim_load(data, size, &opts, &rim) < 0)
		return 0;
	(void)cn_rim_trusted(rim);
	(void)cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "550.90.07");
	(void)cn_rim_version_match(rim, CN_RIM_KIND_VBIOS, "96.00.9F.00.01");
	(void)strlen(cn_rim_get_status(rim)->schema_reason);
	if (cn_rim_get_measurements(rim, &m, &n) == 0) {
		for (size_t i = 0; i < 64; i++)
			rt[i] = (struct cn_rim_runtime){(unsigned)i + 1, digest, i % 2 ? 48 : 32};
		if (cn_rim_compare(rim, rim, rt, 64, &nvdec0, 1, &c) == 0)
			cn_rim_comparison_free(c);
	}
	cn_rim_free(rim);
	return 0;
}
