/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML layer: the checks on what NVML returns (sizes, flags, strings; boundaries and a bit-flip
 * sweep of the size fields), the key-derived nonce against an independent known answer, the
 * loader's named errors, and the watchdog against the fake library's hanging call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/gate.h"
#include "attest/nvml-abi.h"
#include "attest/nvml.h"
#include "base/log.h"
#include "base/parse.h"
#include "harness.h"

static const uint8_t nonce[32] = {0xab, 0xcd};

static int report(uint32_t cec_present, uint32_t size, uint32_t cec_size, size_t *ret_len)
{
	static struct cn_nvml_abi_report rep;
	uint8_t *out = NULL;
	int r;

	memset(&rep, 0, sizeof(rep));
	rep.isCecAttestationReportPresent = cec_present;
	rep.attestationReportSize = size;
	rep.cecAttestationReportSize = cec_size;
	memcpy(rep.nonce, nonce, 32);
	rep.attestationReport[0] = 0x11;
	r = cn_nvml_report_extract(&rep, sizeof(rep), nonce, &out, ret_len);
	if (r == 0)
		ASSERT_EQ(out[0], 0x11);
	free(out);
	return r;
}

static void test_report(void)
{
	size_t len = 0;

	ASSERT_OK(report(0, 1, 0, &len));
	ASSERT_EQ(len, 1);
	ASSERT_OK(report(1, 0x2000, 0x1000, &len));
	ASSERT_EQ(len, 0x2000);
	ASSERT_ERR(report(0, 0, 0, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "attestationReportSize 0 is outside 1..8192"));
	ASSERT_ERR(report(0, 0x2001, 0, &len), -EBADMSG);
	ASSERT_ERR(report(0, 0xffffffffu, 0, &len), -EBADMSG);
	ASSERT_ERR(report(2, 10, 0, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "isCecAttestationReportPresent is 2"));
	ASSERT_ERR(report(1, 10, 0x1001, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "cecAttestationReportSize 4097"));

	/* the struct must be exactly NVML's size; the nonce field must be left alone */
	struct cn_nvml_abi_report rep = {.attestationReportSize = 10};
	uint8_t *out = NULL;
	ASSERT_ERR(cn_nvml_report_extract(&rep, sizeof(rep) - 1, nonce, &out, &len), -EINVAL);
	ASSERT_ERR(cn_nvml_report_extract(&rep, sizeof(rep), nonce, &out, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "changed the nonce"));
}

/* Every single-bit flip of the three header words: accepted only with sizes inside buffers. */
static void test_report_bitflips(void)
{
	static struct cn_nvml_abi_report rep;

	for (unsigned bit = 0; bit < 96; bit++) {
		uint8_t *out = NULL;
		size_t len = 0;
		int r;

		memset(&rep, 0, sizeof(rep));
		rep.attestationReportSize = 4117;
		memcpy(rep.nonce, nonce, 32);
		((uint8_t *)&rep)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = cn_nvml_report_extract(&rep, sizeof(rep), nonce, &out, &len);
		if (r == 0)
			ASSERT_TRUE(len >= 1 && len <= 0x2000 &&
				    rep.isCecAttestationReportPresent <= 1 &&
				    rep.cecAttestationReportSize <= 0x1000);
		else
			ASSERT_EQ(r, -EBADMSG);
		free(out);
	}
}

static void test_cert(void)
{
	static struct cn_nvml_abi_cert c;
	uint8_t *out = NULL;
	size_t len = 0;

	memset(&c, 0, sizeof(c));
	c.attestationCertChainSize = 0x1400;
	c.attestationCertChain[0x13ff] = 'x';
	ASSERT_OK(cn_nvml_cert_extract(&c, sizeof(c), &out, &len));
	ASSERT_EQ(len, 0x1400);
	ASSERT_EQ(out[0x13ff], 'x');
	free(out);
	c.attestationCertChainSize = 0x1401;
	ASSERT_ERR(cn_nvml_cert_extract(&c, sizeof(c), &out, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "attestationCertChainSize 5121 is outside 1..5120"));
	c.attestationCertChainSize = 0;
	ASSERT_ERR(cn_nvml_cert_extract(&c, sizeof(c), &out, &len), -EBADMSG);
	c.attestationCertChainSize = 10;
	c.certChainSize = 0x1001;
	ASSERT_ERR(cn_nvml_cert_extract(&c, sizeof(c), &out, &len), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "certChainSize 4097"));
}

static void test_strings(void)
{
	ASSERT_OK(cn_nvml_check_string("driver version", "550.90.07\0junk", 15));
	ASSERT_ERR(cn_nvml_check_string("UUID", "GPU-0123", 8), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "UUID: not NUL-terminated within 8 bytes"));
	ASSERT_ERR(cn_nvml_check_string("VBIOS version", "\0abc", 4), -EBADMSG);
	ASSERT_ERR(cn_nvml_check_string("VBIOS version", "96.\n00", 7), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "byte 0x0a at offset 3"));
	ASSERT_ERR(cn_nvml_check_string("VBIOS version", "96.\xff", 5), -EBADMSG);
}

static void test_names(void)
{
	ASSERT_STREQ(cn_nvml_return_name(999), "NVML_ERROR_UNKNOWN");
	ASSERT_STREQ(cn_nvml_return_name(25), "NVML_ERROR_ARGUMENT_VERSION_MISMATCH");
	ASSERT_STREQ(cn_nvml_return_name(12345), "NVML_ERROR_?");
	ASSERT_STREQ(cn_nvml_arch_name(9), "HOPPER");
	ASSERT_NULL(cn_nvml_arch_name(1));
	ASSERT_NULL(cn_nvml_arch_name(0x1234));
	ASSERT_STREQ(cn_nvml_env_name(2), "PROD");
	ASSERT_STREQ(cn_nvml_multigpu_name(1), "PROTECTED_PCIE");
}

/* Known answer made with Python hashlib: SHA-256(b"cocoon-gpu-attest-v1\0" + spki). */
static void test_nonce(void)
{
	static const uint8_t spki[] = {0x30, 0x03, 0x02, 0x01, 0x00};
	uint8_t n[32], want[32], n2[32];

	ASSERT_OK(cn_unhex_exact("556875e6520d8af7c44f807c98aed48df5f05f31aa27147c7f78859a9efa0577",
				 want, 32));
	ASSERT_OK(cn_gate_nonce_from_spki(spki, sizeof(spki), n));
	ASSERT_MEMEQ(n, want, 32);
	ASSERT_OK(cn_gate_nonce_random(n));
	ASSERT_OK(cn_gate_nonce_random(n2));
	ASSERT_TRUE(memcmp(n, n2, 32) != 0);

	char path[4096];
	(void)snprintf(path, sizeof(path), "%s/nokey.pem", cn_test_tmpdir());
	cn_test_write(path, "not a key\n", 10);
	ASSERT_ERR(cn_gate_nonce_from_key(path, n, NULL), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "holds no PEM public key"));
}

static void test_open_errors(void)
{
	struct cn_nvml *n = NULL;

	ASSERT_ERR(cn_nvml_open("/nonexistent/libnvidia-ml.so.1", 0, &n), -ENOENT);
	ASSERT_TRUE(strstr(cn_err_msg(), "cannot load the NVML library '/nonexistent/"));
	ASSERT_ERR(cn_nvml_open("libc.so.6", 0, &n), -ENOENT);
	ASSERT_TRUE(strstr(cn_err_msg(), "lacks nvmlInit_v2"));
}

/* The watchdog: a hung call costs one timeout, later calls fail at once, close returns. */
static void test_watchdog(void)
{
	const char *lib = getenv("CN_FAKE_NVML_LIB");
	struct cn_nvml *n = NULL;
	struct timespec t0, t1;
	unsigned count = 0;

	if (!lib)
		cn_test_skip("CN_FAKE_NVML_LIB not set");
	ASSERT_OK(setenv("CN_FAKE_NVML_REPLAY_REPORT", "/dev/null", 1));
	ASSERT_OK(setenv("CN_FAKE_NVML_REPLAY_CHAIN", "/dev/null", 1));
	ASSERT_OK(setenv("CN_FAKE_NVML_FAULT", "hang=nvmlDeviceGetCount_v2", 1));
	ASSERT_OK(cn_nvml_open(lib, 200, &n));
	ASSERT_OK(cn_nvml_init(n));
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_ERR(cn_nvml_gpu_count(n, &count), -ETIMEDOUT);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_TRUE(strstr(cn_err_msg(), "nvmlDeviceGetCount_v2 did not return within 0.200 s"));
	ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 5);
	ASSERT_TRUE(cn_nvml_wedged(n));
	ASSERT_ERR(cn_nvml_ready_set(n, 1), -ETIMEDOUT);
	ASSERT_TRUE(strstr(cn_err_msg(), "not called: an earlier NVML call hung"));
	cn_nvml_close(n); /* returns: leaves the hung thread and the library to process exit */
}

static const struct cn_test tests[] = {
    T(report), T(report_bitflips), T(cert),	   T(strings),
    T(names),  T(nonce),	   T(open_errors), T(watchdog),
};
CN_TEST_MAIN(tests)
