/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the PCI address parser (cn_pci_addr_parse). Whatever parses must format to a
 * canonical address that parses again to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfio/vfio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cn_pci_addr a, b;
	char out[CN_PCI_ADDR_BUFSZ];
	char *s;

	if (size > 64)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (cn_pci_addr_parse(s, &a) == 0) {
		cn_pci_addr_format(&a, out);
		if (cn_pci_addr_parse(out, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0 ||
		    a.dev > 31 || a.fn > 7)
			abort();
	}
	free(s);
	return 0;
}
