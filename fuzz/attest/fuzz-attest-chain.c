/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the certificate-chain splitter (PEM or DER) and what reads the certificates; the
 * split through a run's pool of parsed certificates (twice: parsed, then shared) must give the
 * same certificates as a plain split, or fail the same way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "attest/chain.h"
#include "attest/memo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_as_pooled(const uint8_t *data, size_t size, STACK_OF(X509) * sk)
{
	struct cn_verify_memo *m = NULL;

	if (cn_verify_memo_new(&m) < 0)
		return;
	for (int round = 0; round < 2; round++) {
		STACK_OF(X509) *p = NULL;
		int r = cn_chain_split_memo(data, size, m, &p);

		if ((r < 0) != (sk == NULL) || (p && sk_X509_num(p) != sk_X509_num(sk)))
			abort();
		for (int i = 0; p && i < sk_X509_num(p); i++)
			if (X509_cmp(sk_X509_value(p, i), sk_X509_value(sk, i)) != 0)
				abort();
		sk_X509_pop_free(p, X509_free);
	}
	cn_verify_memo_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = NULL;
	struct cn_chain_result res;

	if (cn_chain_split(data, size, &sk) < 0) {
		same_as_pooled(data, size, NULL);
		return 0;
	}
	same_as_pooled(data, size, sk);
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
