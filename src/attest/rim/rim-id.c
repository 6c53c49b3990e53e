/* SPDX-License-Identifier: Apache-2.0 */
/* RIM ids from the report's signed opaque data (spec §4.1). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest/rim/rim-internal.h"
#include "attest/spdm.h"
#include "base/log.h"

const char *cn_rim_kind_name(enum cn_rim_kind kind)
{
	return kind == CN_RIM_KIND_VBIOS ? "vbios" : "driver";
}

bool cn_rim_char_ok(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '.' || c == '_' || c == '-';
}

bool cn_rim_id_valid(const char *id)
{
	size_t n;

	if (!id || id[0] == '\0' || id[0] == '.')
		return false;
	n = strnlen(id, CN_RIM_ID_MAX + 1);
	if (n > CN_RIM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!cn_rim_char_ok(id[i]))
			return false;
	return true;
}

int cn_rim_vbios_version_format(const uint8_t *raw, size_t len, char out[15])
{
	static const uint8_t order[5] = {3, 2, 1, 0, 4};
	static const char hex[] = "0123456789ABCDEF";

	if (!raw || len != 8)
		return cn_err_set(-EINVAL, "rim: VBIOS_VERSION must be 8 bytes, got %zu",
				  raw ? len : 0);
	for (size_t i = 0; i < 5; i++) {
		out[3 * i] = hex[raw[order[i]] >> 4];
		out[3 * i + 1] = hex[raw[order[i]] & 0xf];
		out[3 * i + 2] = i < 4 ? '.' : '\0';
	}
	return 0;
}

/*
 * Copies an opaque text value into out (size CN_RIM_VERSION_MAX + 1): the bytes up to the first
 * NUL, everything after it must be NUL too. With trim, blanks around the value are dropped and
 * letters upper-cased (PY semantics for project and SKU fields).
 */
static int opaque_text(const char *field, const uint8_t *v, size_t len, bool trim, char *out)
{
	size_t n = 0, start = 0, end;

	if (!v || len == 0)
		return cn_err_set(-EBADMSG, "rim: opaque field %s is missing or empty", field);
	while (n < len && v[n] != '\0')
		n++;
	for (size_t i = n; i < len; i++)
		if (v[i] != '\0')
			return cn_err_set(
			    -EBADMSG,
			    "rim: opaque field %s: byte %zu after the NUL terminator is not NUL",
			    field, i);
	end = n;
	if (trim) {
		while (start < end && (v[start] == ' ' || v[start] == '\t'))
			start++;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
	}
	if (end == start)
		return cn_err_set(-EBADMSG, "rim: opaque field %s is empty", field);
	if (end - start > CN_RIM_VERSION_MAX)
		return cn_err_set(-EBADMSG, "rim: opaque field %s is longer than %u characters",
				  field, CN_RIM_VERSION_MAX);
	for (size_t i = start; i < end; i++) {
		char c = (char)v[i];

		if (!cn_rim_char_ok(c))
			return cn_err_set(
			    -EBADMSG,
			    "rim: opaque field %s: byte %zu (0x%02x) is not one of [0-9A-Za-z._-]",
			    field, i, v[i]);
		if (trim && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[i - start] = c;
	}
	out[end - start] = '\0';
	return 0;
}

int cn_rim_ids_derive(const struct cn_rim_id_inputs *in, struct cn_rim_ids *ret)
{
	struct cn_rim_ids ids = {0};
	char project[CN_RIM_VERSION_MAX + 1], sku[CN_RIM_VERSION_MAX + 1],
	    chip[CN_RIM_VERSION_MAX + 1];
	char vhex[11];
	const char *driver_chip;
	int r;

	if (!in || !ret)
		return cn_err_set(-EINVAL, "rim: no inputs");
	driver_chip = in->driver_chip ? in->driver_chip : "GH100";
	if (!cn_rim_id_valid(driver_chip) || strlen(driver_chip) > 16)
		return cn_err_set(-EINVAL, "rim: invalid chip name '%s'", driver_chip);

	r = opaque_text("DRIVER_VERSION", in->driver_version, in->driver_version_len, false,
			ids.driver_version);
	if (r < 0)
		return r;
	if (in->vbios_version_len != 8 || !in->vbios_version)
		return cn_err_set(-EBADMSG,
				  "rim: opaque field VBIOS_VERSION must be 8 bytes, got %zu",
				  in->vbios_version ? in->vbios_version_len : 0);
	r = cn_rim_vbios_version_format(in->vbios_version, 8, ids.vbios_version);
	if (r < 0)
		return r;
	r = opaque_text("PROJECT", in->project, in->project_len, true, project);
	if (r < 0)
		return r;
	r = opaque_text("PROJECT_SKU", in->project_sku, in->project_sku_len, true, sku);
	if (r < 0)
		return r;
	r = opaque_text("CHIP_SKU", in->chip_sku, in->chip_sku_len, true, chip);
	if (r < 0)
		return r;

	for (size_t i = 0, j = 0; i < 15; i++)
		if (ids.vbios_version[i] != '.')
			vhex[j++] = ids.vbios_version[i];
	vhex[10] = '\0';

	if (snprintf(ids.driver_id, sizeof(ids.driver_id), "NV_GPU_DRIVER_%s_%s", driver_chip,
		     ids.driver_version) >= (int)sizeof(ids.driver_id))
		return cn_err_set(-EBADMSG, "rim: driver RIM id is longer than %u characters",
				  CN_RIM_ID_MAX);
	if (snprintf(ids.vbios_id, sizeof(ids.vbios_id), "NV_GPU_VBIOS_%s_%s_%s_%s", project, sku,
		     chip, vhex) >= (int)sizeof(ids.vbios_id))
		return cn_err_set(-EBADMSG, "rim: VBIOS RIM id is longer than %u characters",
				  CN_RIM_ID_MAX);
	*ret = ids;
	return 0;
}

int cn_rim_ids_from_report(const struct cn_spdm_report *rep, struct cn_rim_ids *ret)
{
	const struct cn_spdm_field *f = rep->fields;
	struct cn_rim_id_inputs in = {
	    .driver_version = f[CN_OPAQUE_DRIVER_VERSION].data,
	    .driver_version_len = f[CN_OPAQUE_DRIVER_VERSION].size,
	    .vbios_version = f[CN_OPAQUE_VBIOS_VERSION].data,
	    .vbios_version_len = f[CN_OPAQUE_VBIOS_VERSION].size,
	    .project = f[CN_OPAQUE_PROJECT].data,
	    .project_len = f[CN_OPAQUE_PROJECT].size,
	    .project_sku = f[CN_OPAQUE_PROJECT_SKU].data,
	    .project_sku_len = f[CN_OPAQUE_PROJECT_SKU].size,
	    .chip_sku = f[CN_OPAQUE_CHIP_SKU].data,
	    .chip_sku_len = f[CN_OPAQUE_CHIP_SKU].size,
	};

	return cn_rim_ids_derive(&in, ret);
}
