/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the sysfs/procfs value parsers (hex attributes, numa_node, nvidia's
 * "Device Minor:" line). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/vfio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t v;
	int32_t n;
	char *s;

	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (cn_sysfs_parse_hex(s, 0xffff, &v) == 0 && v > 0xffff)
		abort();
	(void)cn_sysfs_parse_hex(s, 0xffffffff, &v);
	if (cn_sysfs_parse_numa(s, &n) == 0 && (n < -1 || n > 65535))
		abort();
	if (cn_nvidia_parse_minor(s, &v) == 0 && v > 255)
		abort();
	free(s);
	return 0;
}
