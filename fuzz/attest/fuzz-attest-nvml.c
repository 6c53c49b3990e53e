/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: what NVML returns (the report and certificate structs, string fields). The input
 * is laid over zeroed structs; byte 0 selects which one; for the report the nonce field is the
 * expected nonce unless byte 1 is odd.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/nvml-abi.h"
#include "attest/nvml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cn_nvml_abi_report rep;
	static struct cn_nvml_abi_cert cert;
	static const uint8_t nonce[32] = {1, 2, 3};
	uint8_t *out = NULL;
	size_t len = 0;

	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0:
		memset(&rep, 0, sizeof(rep));
		memcpy(&rep, data + 2, size - 2 < sizeof(rep) ? size - 2 : sizeof(rep));
		if (!(data[1] & 1))
			memcpy(rep.nonce, nonce, sizeof(nonce));
		if (cn_nvml_report_extract(&rep, sizeof(rep), nonce, &out, &len) == 0 &&
		    len > sizeof(rep.attestationReport))
			abort();
		break;
	case 1:
		memset(&cert, 0, sizeof(cert));
		memcpy(&cert, data + 2, size - 2 < sizeof(cert) ? size - 2 : sizeof(cert));
		if (cn_nvml_cert_extract(&cert, sizeof(cert), &out, &len) == 0 &&
		    len > sizeof(cert.attestationCertChain))
			abort();
		break;
	default:
		(void)cn_nvml_check_string("field", (const char *)data + 1, size - 1);
		break;
	}
	free(out);
	return 0;
}
