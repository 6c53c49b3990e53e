/* SPDX-License-Identifier: Apache-2.0 */
/* SPDM report parser: NVIDIA's golden parse, every vector, strictness, truncation and bit flips. */
#include <jansson.h>

#include "attest/spdm.h"
#include "base/log.h"
#include "base/parse.h"
#include "harness.h"

static uint8_t *load_report(const char *rel, size_t *ret_len)
{
	char path[4096];
	size_t len;
	uint8_t *text, *bin;

	(void)snprintf(path, sizeof(path), "%s", cn_test_shared_or_skip(rel));
	text = cn_test_slurp(path, &len);
	ASSERT_OK(cn_spdm_decode_file(text, len, &bin, ret_len));
	free(text);
	return bin;
}

static void hexcmp(const char *want0x, const uint8_t *b, size_t n)
{
	char *h = cn_hex_alloc(b, n);

	ASSERT_TRUE(strncmp(want0x, "0x", 2) == 0);
	ASSERT_STREQ(want0x + 2, h);
	free(h);
}

static void test_golden(void)
{
	size_t len;
	uint8_t *bin = load_report(
	    "nvidia-testdata/attestation-sdk/unit-tests/testdata/hopperAttestationReport.txt",
	    &len);
	char path[4096];
	json_error_t err;
	json_t *g, *q, *blocks, *fields;
	struct cn_spdm_report *r = NULL;
	const char *k;
	json_t *v;

	(void)snprintf(
	    path, sizeof(path), "%s",
	    cn_test_shared_or_skip(
		"nvidia-testdata/attestation-sdk/unit-tests/testdata/spdm_parsed_output.json"));
	g = json_load_file(path, 0, &err);
	ASSERT_NOT_NULL(g);
	(void)snprintf(
	    path, sizeof(path), "%s",
	    cn_test_shared_or_skip(
		"nvidia-testdata/attestation-sdk/unit-tests/testdata/spdm_req_parsed_output.json"));
	q = json_load_file(path, 0, &err);
	ASSERT_NOT_NULL(q);
	ASSERT_OK(cn_spdm_parse(bin, len, &r));

	/* request */
	ASSERT_EQ(r->req_version, 0x11);
	ASSERT_STREQ(json_string_value(json_object_get(q, "RequestResponseCode")), "0xe0");
	ASSERT_EQ(r->req_code, 0xe0);
	ASSERT_EQ(r->req_param1, 0x01);
	ASSERT_EQ(r->req_param2, 0xff);
	ASSERT_EQ(r->req_slot, 0);
	hexcmp(json_string_value(json_object_get(q, "Nonce")), r->req_nonce, 32);

	/* response */
	ASSERT_STREQ(json_string_value(json_object_get(g, "SPDMVersion")), "0x11");
	ASSERT_EQ(r->version, 0x11);
	ASSERT_EQ(r->code, 0x60);
	ASSERT_EQ(r->param1, 0);
	ASSERT_EQ(r->param2, 0);
	ASSERT_EQ(r->n_blocks, json_integer_value(json_object_get(g, "NumberOfBlocks")));
	ASSERT_EQ(r->record_len, json_integer_value(json_object_get(g, "MeasurementRecordLength")));
	ASSERT_EQ(r->opaque_len, json_integer_value(json_object_get(g, "OpaqueLength")));
	hexcmp(json_string_value(json_object_get(g, "Nonce")), r->resp_nonce, 32);
	hexcmp(json_string_value(json_object_get(g, "Signature")), r->signature, 96);
	ASSERT_EQ(r->signed_len, len - 96);

	blocks = json_object_get(json_object_get(g, "MeasurementRecord"), "MeasurementBlocks");
	ASSERT_EQ(json_object_size(blocks), r->n_blocks);
	json_object_foreach(blocks, k, v)
	{
		uint32_t idx;
		const struct cn_spdm_block *b;

		ASSERT_OK(cn_parse_u32(k, 255, &idx));
		b = cn_spdm_block_by_index(r, idx);
		ASSERT_NOT_NULL(b);
		ASSERT_EQ(b->value_type,
			  json_integer_value(json_object_get(v, "DMTFSpecMeasurementValueType")));
		ASSERT_EQ(b->value_size,
			  json_integer_value(json_object_get(v, "DMTFSpecMeasurementValueSize")));
		hexcmp(json_string_value(json_object_get(v, "DMTFSpecMeasurementValue")), b->value,
		       b->value_size);
	}

	fields = json_object_get(json_object_get(g, "OpaqueData"), "OpaqueDataField");
	ASSERT_TRUE(json_object_size(fields) >= 10);
	json_object_foreach(fields, k, v)
	{
		unsigned id;
		const struct cn_spdm_field *f = NULL;

		ASSERT_TRUE(strncmp(k, "OPAQUE_FIELD_ID_", 16) == 0);
		for (id = 1; id <= CN_OPAQUE_ID_MAX; id++)
			if (cn_spdm_opaque_name(id) && strcmp(cn_spdm_opaque_name(id), k + 16) == 0)
				break;
		ASSERT_TRUE(id <= CN_OPAQUE_ID_MAX);
		f = &r->fields[id];
		ASSERT_TRUE(f->present);
		if (json_is_array(v)) { /* MSRSCNT: u32 LE each */
			size_t i;
			json_t *e;

			ASSERT_EQ(json_array_size(v) * 4, f->size);
			json_array_foreach(v, i, e)
			{
				const uint8_t *p = f->data + 4 * i;

				ASSERT_EQ(json_integer_value(e),
					  (long long)(p[0] | p[1] << 8 | p[2] << 16 |
						      (uint32_t)p[3] << 24));
			}
		} else {
			hexcmp(json_string_value(v), f->data, f->size);
		}
	}
	ASSERT_STREQ(r->driver_version, "580.159.03");
	ASSERT_STREQ(r->vbios_version, "96.00.74.00.20");
	ASSERT_STREQ(r->project, "1010");
	ASSERT_STREQ(r->project_sku, "0205");
	ASSERT_STREQ(r->chip_sku, "862");
	ASSERT_EQ(r->opaque_data_version, 1);
	cn_spdm_report_free(r);
	json_decref(g);
	json_decref(q);
	free(bin);
}

static void test_vectors(void)
{
	static const struct {
		const char *rel;
		size_t len;
		const char *driver, *vbios;
		bool fwid;
	} v[] = {
	    {"nvidia-testdata/nvtrust/local_gpu_verifier/samples/hopperAttestationReport.txt", 4117,
	     "550.90.07", "96.00.9F.00.01", true},
	    {"nvidia-testdata/go-nvtrust/mocks/attestationReport.txt", 4049, "545.00",
	     "96.00.5E.00.01", false},
	    {"nvidia-testdata/attestation-sdk/unit-tests/testdata/hopperAttestationReport.txt",
	     4130, "580.159.03", "96.00.74.00.20", true},
	    {"nvidia-testdata/attestation-sdk/unit-tests/testdata/sample_attestation_data/gpu/"
	     "hopperAttestationReport.txt",
	     4052, "535.86.09", "96.00.5E.00.01", false},
	    {"nvidia-testdata/attestation-sdk/unit-tests/testdata/sample_attestation_data/gpu/"
	     "hopperAttestationReportExpired.txt",
	     4118, "570.124.03", "96.00.5E.00.04", true},
	    {"nvidia-testdata/attestation-sdk/unit-tests/testdata/sample_attestation_data/gpu/"
	     "hopperAttestationReportInvalidSignature.txt",
	     0, "560.00", "96.00.A5.00.01", true},
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		size_t len;
		uint8_t *bin = load_report(v[i].rel, &len);
		struct cn_spdm_report *r = NULL;

		ASSERT_OK(cn_spdm_parse(bin, len, &r));
		if (v[i].len)
			ASSERT_EQ(len, v[i].len);
		ASSERT_EQ(r->n_blocks, 64);
		ASSERT_EQ(r->record_len, 3520);
		ASSERT_STREQ(r->driver_version, v[i].driver);
		ASSERT_STREQ(r->vbios_version, v[i].vbios);
		ASSERT_EQ(r->fields[CN_OPAQUE_FWID].present, v[i].fwid);
		ASSERT_TRUE(r->fields[CN_OPAQUE_NVDEC0_STATUS].present);
		cn_spdm_report_free(r);
		free(bin);
	}
}

/* Every proper prefix fails; single bit flips never crash and either fail or parse. */
static void test_sweeps(void)
{
	size_t len;
	uint8_t *bin = load_report(
	    "nvidia-testdata/nvtrust/local_gpu_verifier/samples/hopperAttestationReport.txt", &len);
	uint8_t *copy = malloc(len + 1);
	struct cn_spdm_report *r = NULL;
	size_t parsed = 0;

	for (size_t n = 0; n < len; n++) {
		ASSERT_FAIL(cn_spdm_parse(bin, n, &r));
		ASSERT_NULL(r);
	}
	/* one trailing byte */
	memcpy(copy, bin, len);
	copy[len] = 0;
	ASSERT_ERR(cn_spdm_parse(copy, len + 1, &r), -EBADMSG);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit += 3) {
			int k;

			memcpy(copy, bin, len);
			copy[i] ^= (uint8_t)(1u << bit);
			k = cn_spdm_parse(copy, len, &r);
			if (k >= 0) {
				parsed++;
				cn_spdm_report_free(r);
				r = NULL;
			} else {
				ASSERT_TRUE(k == -EBADMSG || k == -EPROTONOSUPPORT);
				ASSERT_TRUE(cn_err_msg()[0] != 0);
			}
		}
	ASSERT_TRUE(parsed > 0); /* flips in values, nonces and the signature still parse */
	free(copy);
	free(bin);
}

/* A minimal synthetic report: 1 block, given opaque bytes. */
static size_t build(uint8_t *b, const uint8_t *opq, size_t ol)
{
	size_t n = 0;

	b[n++] = 0x11;
	b[n++] = 0xE0;
	b[n++] = 0x01;
	b[n++] = 0xFF;
	memset(b + n, 0x42, 32);
	n += 32;
	b[n++] = 0;
	b[n++] = 0x11;
	b[n++] = 0x60;
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 1;
	b[n++] = 55;
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 1;
	b[n++] = 1;
	b[n++] = 51;
	b[n++] = 0;
	b[n++] = 1;
	b[n++] = 48;
	b[n++] = 0;
	memset(b + n, 0x33, 48);
	n += 48;
	memset(b + n, 0x24, 32);
	n += 32;
	b[n++] = (uint8_t)ol;
	b[n++] = (uint8_t)(ol >> 8);
	if (ol)
		memcpy(b + n, opq, ol);
	n += ol;
	memset(b + n, 0x77, 96);
	n += 96;
	return n;
}

static void test_strict(void)
{
	uint8_t b[1024];
	struct cn_spdm_report *r = NULL;
	static const uint8_t ok[] = {3, 0, 4, 0, '1', '.', '0', 0, 11, 0, 1, 0, 0x55};
	static const uint8_t nvdaod[] = {'N', 'V', 'D', 'A', 'O', 'D', 0, 0, 2, 0, 0, 0};
	static const uint8_t unknown[] = {26, 0, 1, 0, 0};
	static const uint8_t dup[] = {11, 0, 1, 0, 0x55, 11, 0, 1, 0, 0xAA};
	static const uint8_t over[] = {3, 0, 9, 0, '1'};
	static const uint8_t newver[] = {34, 0, 2, 0, 2, 0};
	static const uint8_t badvbios[] = {6, 0, 4, 0, 1, 2, 3, 4};
	size_t n;

	n = build(b, ok, sizeof(ok));
	ASSERT_OK(cn_spdm_parse(b, n, &r));
	ASSERT_STREQ(r->driver_version, "1.0");
	ASSERT_EQ(r->fields[CN_OPAQUE_NVDEC0_STATUS].data[0], 0x55);
	cn_spdm_report_free(r);
	r = NULL;

	n = build(b, nvdaod, sizeof(nvdaod));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EPROTONOSUPPORT);
	ASSERT_TRUE(strstr(cn_err_msg(), "NVDAOD") != NULL);
	n = build(b, unknown, sizeof(unknown));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG);
	n = build(b, dup, sizeof(dup));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "duplicate") != NULL);
	n = build(b, over, sizeof(over));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG);
	n = build(b, newver, sizeof(newver));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EPROTONOSUPPORT);
	n = build(b, badvbios, sizeof(badvbios));
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG);
	n = build(b, NULL, 0);
	ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG); /* OpaqueLength 0 */

	/* wrong codes and block fields, each naming the field */
	static const struct {
		size_t off;
		uint8_t val;
		const char *field;
	} bad[] = {
	    {0, 0x12, "SPDMVersion"},
	    {1, 0xE1, "RequestResponseCode"},
	    {2, 0x00, "Param1"},
	    {3, 0x01, "Param2"},
	    {37, 0x10, "SPDMVersion"},
	    {38, 0x61, "RequestResponseCode"},
	    {41, 0, "NumberOfBlocks"},
	    {45, 0, "Index"},
	    {46, 2, "MeasurementSpecification"},
	    {47, 50, "MeasurementSize"},
	    {49, 0x81, "DMTFSpecMeasurementValueType"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		n = build(b, ok, sizeof(ok));
		b[bad[i].off] = bad[i].val;
		ASSERT_ERR(cn_spdm_parse(b, n, &r), -EBADMSG);
		ASSERT_TRUE(strstr(cn_err_msg(), bad[i].field) != NULL);
	}
	ASSERT_ERR(cn_spdm_parse(b, CN_SPDM_REPORT_MAX + 1, &r), -E2BIG);
	ASSERT_NULL(r);
}

static void test_decode_file(void)
{
	uint8_t *out = NULL;
	size_t n = 0;
	static const uint8_t bin[] = {0x11, 0xE0, 0x01};

	ASSERT_OK(cn_spdm_decode_file((const uint8_t *)"11 e0\n01FF\r\n", 12, &out, &n));
	ASSERT_EQ(n, 4);
	ASSERT_EQ(out[3], 0xFF);
	free(out);
	ASSERT_OK(cn_spdm_decode_file((const uint8_t *)"0x11e0", 6, &out, &n));
	ASSERT_EQ(n, 2);
	free(out);
	ASSERT_OK(cn_spdm_decode_file(bin, sizeof(bin), &out, &n));
	ASSERT_EQ(n, 3);
	free(out);
	ASSERT_ERR(cn_spdm_decode_file((const uint8_t *)"11e", 3, &out, &n), -EBADMSG);
	ASSERT_ERR(cn_spdm_decode_file((const uint8_t *)"11zz", 4, &out, &n), -EBADMSG);
	ASSERT_ERR(cn_spdm_decode_file((const uint8_t *)"  ", 2, &out, &n), -EBADMSG);
}

static const struct cn_test tests[] = {
    T(strict), T(decode_file), T(golden), T(vectors), T(sweeps),
};
CN_TEST_MAIN(tests)
