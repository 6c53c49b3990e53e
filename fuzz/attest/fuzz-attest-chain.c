/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the certificate-chain splitter (PEM or DER) and what reads the certificates. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "attest/chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = NULL;
	struct cn_chain_result res;

	if (cn_chain_split(data, size, &sk) < 0)
		return 0;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		uint8_t fw[48];
		char *s = NULL;

		(void)cn_cert_fwid(sk_X509_value(sk, i), fw);
		if (cn_cert_subject_cn(sk_X509_value(sk, i), &s) >= 0)
			free(s);
		s = NULL;
		if (cn_cert_serial_dec(sk_X509_value(sk, i), &s) >= 0)
			free(s);
	}
	(void)cn_chain_verify(sk, NULL, cn_device_root_sha256, 5, (time_t)1700000000, "fuzz", NULL,
			      &res);
	sk_X509_pop_free(sk, X509_free);
	return 0;
}
