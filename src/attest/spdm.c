/* SPDX-License-Identifier: Apache-2.0 */
/* Strict parser of the SPDM 1.1 GET_MEASUREMENTS transcript NVIDIA GPUs return (spec §2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/spdm.h"
#include "base/cursor.h"
#include "base/log.h"
#include "base/parse.h"

#define SPDM_VERSION_11 0x11
#define SPDM_GET_MEASUREMENTS 0xE0
#define SPDM_MEASUREMENTS 0x60
#define DMTF_MEASUREMENT_SPEC 0x01
#define OPAQUE_DATA_VERSION_MAX 1

static const char *const opaque_names[CN_OPAQUE_ID_MAX + 1] = {
    [1] = "CERT_ISSUER_NAME",
    [2] = "CERT_AUTHORITY_KEY_IDENTIFIER",
    [3] = "DRIVER_VERSION",
    [4] = "GPU_INFO",
    [5] = "SKU",
    [6] = "VBIOS_VERSION",
    [7] = "MANUFACTURER_ID",
    [8] = "TAMPER_DETECTION",
    [9] = "SMC",
    [10] = "VPR",
    [11] = "NVDEC0_STATUS",
    [12] = "MSRSCNT",
    [13] = "CPRINFO",
    [14] = "BOARD_ID",
    [15] = "CHIP_SKU",
    [16] = "CHIP_SKU_MOD",
    [17] = "PROJECT",
    [18] = "PROJECT_SKU",
    [19] = "PROJECT_SKU_MOD",
    [20] = "FWID",
    [21] = "PROTECTED_PCIE_STATUS",
    [22] = "SWITCH_PDI",
    [23] = "FLOORSWEPT_PORTS",
    [24] = "POSITION_ID",
    [25] = "LOCK_SWITCH_STATUS",
    [32] = "GPU_LINK_CONN",
    [33] = "SYS_ENABLE_STATUS",
    [34] = "OPAQUE_DATA_VERSION",
    [35] = "CHIP_INFO",
    [36] = "FEATURE_FLAG",
};

const char *cn_spdm_opaque_name(unsigned id)
{
	return id <= CN_OPAQUE_ID_MAX ? opaque_names[id] : NULL;
}

void cn_spdm_report_free(struct cn_spdm_report *r)
{
	if (!r)
		return;
	free(r->blocks);
	free(r->bytes);
	free(r);
}

static int bad(size_t off, const char *field, const char *why)
{
	return cn_err_set(-EBADMSG, "report: field '%s' at offset %zu: %s", field, off, why);
}

static int expect_u8(struct cn_cursor *c, const char *field, uint8_t want, uint8_t *ret)
{
	size_t off = c->pos;
	uint8_t v;

	if (cn_cur_u8(c, &v) < 0)
		return bad(off, field, "truncated");
	if (v != want)
		return cn_err_set(-EBADMSG,
				  "report: field '%s' at offset %zu: 0x%02x, expected 0x%02x",
				  field, off, v, want);
	*ret = v;
	return 0;
}

/* ASCII text field: NULs stripped at the end, printable characters only, no NUL inside. */
static int decode_ascii(const struct cn_spdm_field *f, const char *field, char *out, size_t size)
{
	size_t n = f->size;

	while (n > 0 && f->data[n - 1] == 0)
		n--;
	if (n >= size)
		return bad(f->offset, field, "text too long");
	for (size_t i = 0; i < n; i++)
		if (f->data[i] < 0x20 || f->data[i] > 0x7e)
			return bad(f->offset + i, field, "not printable ASCII");
	memcpy(out, f->data, n);
	out[n] = 0;
	return 0;
}

/* Per-type size rules; anything not listed is free-form bytes. */
static int check_field(unsigned type, const struct cn_spdm_field *f)
{
	const char *name = opaque_names[type];

	switch (type) {
	case CN_OPAQUE_VBIOS_VERSION:
		if (f->size != CN_SPDM_VBIOS_LEN)
			return bad(f->offset, name, "must be 8 bytes");
		break;
	case CN_OPAQUE_NVDEC0_STATUS:
	case CN_OPAQUE_PROTECTED_PCIE_STATUS:
		if (f->size != 1)
			return bad(f->offset, name, "must be 1 byte");
		break;
	case CN_OPAQUE_FWID:
		if (f->size != CN_SPDM_FWID_LEN)
			return bad(f->offset, name, "must be 48 bytes");
		break;
	case CN_OPAQUE_MSRSCNT:
		if (f->size % 4 != 0)
			return bad(f->offset, name, "length is not a multiple of 4");
		break;
	case CN_OPAQUE_SWITCH_PDI:
		if (f->size % 8 != 0)
			return bad(f->offset, name, "length is not a multiple of 8");
		break;
	case CN_OPAQUE_BOARD_ID:
		if (f->size != 4)
			return bad(f->offset, name, "must be 4 bytes");
		break;
	case CN_OPAQUE_OPAQUE_DATA_VERSION:
	case CN_OPAQUE_FEATURE_FLAG:
		if (f->size == 0 || f->size > 8)
			return bad(f->offset, name, "must be 1..8 bytes");
		break;
	default:
		break;
	}
	return 0;
}

static uint64_t le_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = v << 8 | p[i - 1];
	return v;
}

static int parse_opaque(struct cn_spdm_report *r, struct cn_cursor *c)
{
	int k;

	if (c->left >= 6 && memcmp(c->p, "NVDAOD", 6) == 0)
		return cn_err_set(
		    -EPROTONOSUPPORT,
		    "report: opaque data at offset %zu uses the versioned NVDAOD format "
		    "(drivers of CUDA 13.5 and later), which this verifier does not support yet",
		    c->pos);
	while (!cn_cur_done(c)) {
		size_t off = c->pos;
		uint16_t type, size;
		struct cn_spdm_field *f;
		const uint8_t *data;

		if (cn_cur_u16le(c, &type) < 0 || cn_cur_u16le(c, &size) < 0)
			return bad(off, "OpaqueData", "truncated TLV header");
		if (type > CN_OPAQUE_ID_MAX || !opaque_names[type])
			return cn_err_set(-EBADMSG,
					  "report: opaque field at offset %zu: unknown type %u",
					  off, type);
		if (cn_cur_take(c, size, &data) < 0)
			return cn_err_set(-EBADMSG,
					  "report: opaque field '%s' at offset %zu: size %u "
					  "exceeds the opaque data",
					  opaque_names[type], off, size);
		f = &r->fields[type];
		if (f->present)
			return cn_err_set(-EBADMSG,
					  "report: opaque field '%s' at offset %zu: duplicate",
					  opaque_names[type], off);
		*f = (struct cn_spdm_field){
		    .present = true, .size = size, .data = data, .offset = off + 4};
		k = check_field(type, f);
		if (k < 0)
			return k;
	}

	if (r->fields[CN_OPAQUE_OPAQUE_DATA_VERSION].present) {
		const struct cn_spdm_field *f = &r->fields[CN_OPAQUE_OPAQUE_DATA_VERSION];

		r->opaque_data_version = le_uint(f->data, f->size);
		if (r->opaque_data_version > OPAQUE_DATA_VERSION_MAX)
			return cn_err_set(-EPROTONOSUPPORT,
					  "report: opaque data version %llu at offset %zu is newer "
					  "than supported (%d)",
					  (unsigned long long)r->opaque_data_version, f->offset,
					  OPAQUE_DATA_VERSION_MAX);
	}

	static const struct {
		unsigned type;
		size_t off;
		size_t size;
	} texts[] = {
	    {CN_OPAQUE_DRIVER_VERSION, offsetof(struct cn_spdm_report, driver_version), 64},
	    {CN_OPAQUE_PROJECT, offsetof(struct cn_spdm_report, project), 32},
	    {CN_OPAQUE_PROJECT_SKU, offsetof(struct cn_spdm_report, project_sku), 32},
	    {CN_OPAQUE_CHIP_SKU, offsetof(struct cn_spdm_report, chip_sku), 32},
	    {CN_OPAQUE_CHIP_INFO, offsetof(struct cn_spdm_report, chip_info), 32},
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const struct cn_spdm_field *f = &r->fields[texts[i].type];

		if (!f->present)
			continue;
		k = decode_ascii(f, opaque_names[texts[i].type], (char *)r + texts[i].off,
				 texts[i].size);
		if (k < 0)
			return k;
	}

	if (r->fields[CN_OPAQUE_VBIOS_VERSION].present) {
		const uint8_t *b = r->fields[CN_OPAQUE_VBIOS_VERSION].data;

		(void)snprintf(r->vbios_version, sizeof(r->vbios_version),
			       "%02X.%02X.%02X.%02X.%02X", b[3], b[2], b[1], b[0], b[4]);
	}
	return 0;
}

static int parse_record(struct cn_spdm_report *r, struct cn_cursor *rec)
{
	bool seen[256] = {false};

	r->blocks = calloc(r->n_blocks, sizeof(*r->blocks));
	if (!r->blocks)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n_blocks; i++) {
		struct cn_spdm_block *b = &r->blocks[i];
		size_t off = rec->pos;
		uint16_t msize;
		struct cn_cursor m;

		b->offset = off;
		if (cn_cur_u8(rec, &b->index) < 0 || cn_cur_u8(rec, &b->spec) < 0 ||
		    cn_cur_u16le(rec, &msize) < 0)
			return cn_err_set(
			    -EBADMSG,
			    "report: measurement block %u at offset %zu: truncated header "
			    "(record length too small for NumberOfBlocks)",
			    i + 1, off);
		if (b->index == 0)
			return bad(off, "Index", "measurement index 0 is reserved");
		if (seen[b->index])
			return cn_err_set(-EBADMSG,
					  "report: field 'Index' at offset %zu: duplicate index %u",
					  off, b->index);
		seen[b->index] = true;
		if (b->spec != DMTF_MEASUREMENT_SPEC)
			return bad(off + 1, "MeasurementSpecification", "not DMTF (0x01)");
		if (cn_cur_sub(rec, msize, &m) < 0)
			return bad(off + 2, "MeasurementSize", "exceeds the measurement record");
		if (cn_cur_u8(&m, &b->value_type) < 0 || cn_cur_u16le(&m, &b->value_size) < 0)
			return bad(m.pos, "DMTFSpecMeasurementValue", "truncated DMTF header");
		if (b->value_type & 0x80)
			return bad(off + 4, "DMTFSpecMeasurementValueType",
				   "raw bit stream, expected a digest");
		if (b->value_size == 0 || b->value_size > CN_SPDM_VALUE_MAX)
			return bad(off + 5, "DMTFSpecMeasurementValueSize", "not a digest size");
		if (cn_cur_take(&m, b->value_size, &b->value) < 0 || !cn_cur_done(&m))
			return bad(off + 2, "MeasurementSize",
				   "does not equal 3 + DMTFSpecMeasurementValueSize");
	}
	if (!cn_cur_done(rec))
		return cn_err_set(-EBADMSG,
				  "report: field 'MeasurementRecordLength': %zu bytes left after "
				  "%u blocks at offset %zu",
				  rec->left, r->n_blocks, rec->pos);
	return 0;
}

int cn_spdm_parse(const uint8_t *buf, size_t len, struct cn_spdm_report **ret)
{
	_cleanup_(cn_spdm_report_freep) struct cn_spdm_report *r = NULL;
	struct cn_cursor c, rec, opq;
	size_t off;
	int k;

	if (len > CN_SPDM_REPORT_MAX)
		return cn_err_set(-E2BIG, "report: %zu bytes, more than the maximum %u", len,
				  CN_SPDM_REPORT_MAX);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->bytes = malloc(len ? len : 1);
	if (!r->bytes)
		return -ENOMEM;
	if (len)
		memcpy(r->bytes, buf, len);
	r->len = len;
	c = cn_cursor_make(r->bytes, len);

	/* request */
	if ((k = expect_u8(&c, "SPDMVersion", SPDM_VERSION_11, &r->req_version)) < 0 ||
	    (k = expect_u8(&c, "RequestResponseCode", SPDM_GET_MEASUREMENTS, &r->req_code)) < 0)
		return k;
	off = c.pos;
	if (cn_cur_u8(&c, &r->req_param1) < 0 || cn_cur_u8(&c, &r->req_param2) < 0)
		return bad(off, "Param1", "truncated");
	if (!(r->req_param1 & 0x01))
		return bad(off, "Param1", "signature not requested");
	if (r->req_param2 != 0xFF)
		return bad(off + 1, "Param2", "not all measurement blocks (0xFF) requested");
	if (cn_cur_copy(&c, r->req_nonce, CN_SPDM_NONCE_LEN) < 0)
		return bad(c.pos, "Nonce", "truncated");
	off = c.pos;
	if (cn_cur_u8(&c, &r->req_slot) < 0)
		return bad(off, "SlotIDParam", "truncated");
	if (r->req_slot > 7)
		return bad(off, "SlotIDParam", "slot id above 7");

	/* response header */
	if ((k = expect_u8(&c, "SPDMVersion", SPDM_VERSION_11, &r->version)) < 0 ||
	    (k = expect_u8(&c, "RequestResponseCode", SPDM_MEASUREMENTS, &r->code)) < 0)
		return k;
	off = c.pos;
	if (cn_cur_u8(&c, &r->param1) < 0 || cn_cur_u8(&c, &r->param2) < 0)
		return bad(off, "Param1", "truncated");
	if ((r->param2 & 0x0F) != r->req_slot)
		return bad(off + 1, "Param2", "slot id differs from the request");
	off = c.pos;
	if (cn_cur_u8(&c, &r->n_blocks) < 0)
		return bad(off, "NumberOfBlocks", "truncated");
	if (r->n_blocks == 0)
		return bad(off, "NumberOfBlocks", "zero measurement blocks");
	off = c.pos;
	if (cn_cur_u24le(&c, &r->record_len) < 0)
		return bad(off, "MeasurementRecordLength", "truncated");
	if (cn_cur_sub(&c, r->record_len, &rec) < 0)
		return cn_err_set(-EBADMSG,
				  "report: field 'MeasurementRecordLength' at offset %zu: %u bytes "
				  "exceed the report",
				  off, r->record_len);
	k = parse_record(r, &rec);
	if (k < 0)
		return k;

	if (cn_cur_copy(&c, r->resp_nonce, CN_SPDM_NONCE_LEN) < 0)
		return bad(c.pos, "Nonce (response)", "truncated");
	off = c.pos;
	if (cn_cur_u16le(&c, &r->opaque_len) < 0)
		return bad(off, "OpaqueLength", "truncated");
	if (r->opaque_len == 0)
		return bad(off, "OpaqueLength", "no opaque data");
	if (cn_cur_sub(&c, r->opaque_len, &opq) < 0)
		return cn_err_set(
		    -EBADMSG,
		    "report: field 'OpaqueLength' at offset %zu: %u bytes exceed the report", off,
		    r->opaque_len);
	r->opaque = opq.p;
	k = parse_opaque(r, &opq);
	if (k < 0)
		return k;

	r->signed_len = c.pos;
	if (cn_cur_take(&c, CN_SPDM_SIG_LEN, &r->signature) < 0)
		return cn_err_set(-EBADMSG,
				  "report: field 'Signature' at offset %zu: %zu bytes, expected %d",
				  c.pos, c.left, CN_SPDM_SIG_LEN);
	if (!cn_cur_done(&c))
		return cn_err_set(-EBADMSG,
				  "report: %zu trailing bytes after the signature at offset %zu",
				  c.left, c.pos);
	*ret = TAKE_PTR(r);
	return 0;
}

const struct cn_spdm_block *cn_spdm_block_by_index(const struct cn_spdm_report *r, unsigned idx)
{
	for (unsigned i = 0; i < r->n_blocks; i++)
		if (r->blocks[i].index == idx)
			return &r->blocks[i];
	return NULL;
}

int cn_spdm_decode_file(const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *out = NULL;
	size_t n = 0, i = 0;
	int hi = -1;

	if (len > 0 && buf[0] == 0x11) {
		if (len > CN_SPDM_REPORT_MAX)
			return cn_err_set(-E2BIG, "report: %zu bytes, more than the maximum %u",
					  len, CN_SPDM_REPORT_MAX);
		out = malloc(len);
		if (!out)
			return -ENOMEM;
		memcpy(out, buf, len);
		*ret_len = len;
		*ret = TAKE_PTR(out);
		return 0;
	}
	out = malloc(len / 2 + 1);
	if (!out)
		return -ENOMEM;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (i + 1 < len && buf[i] == '0' && (buf[i + 1] == 'x' || buf[i + 1] == 'X'))
		i += 2;
	for (; i < len; i++) {
		int v;

		if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
			continue;
		v = cn_hexval(buf[i]);
		if (v < 0)
			return cn_err_set(
			    -EBADMSG, "report: byte %zu is neither hex text nor a binary report",
			    i);
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		return cn_err_set(-EBADMSG, "report: odd number of hex digits");
	if (n == 0)
		return cn_err_set(-EBADMSG, "report: empty");
	if (n > CN_SPDM_REPORT_MAX)
		return cn_err_set(-E2BIG, "report: %zu bytes, more than the maximum %u", n,
				  CN_SPDM_REPORT_MAX);
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}
