/* SPDX-License-Identifier: Apache-2.0 */
/* Temporary skeleton of rim.h so that other areas can link against it; replaced by the real
 * implementation files in this directory. */
#include <errno.h>

#include "attest/rim/rim.h"
#include "base/log.h"

const uint8_t cn_rim_root_sha256[32] = {
	0x12, 0x97, 0x7B, 0x51, 0x15, 0xAC, 0xB0, 0x38, 0x11, 0x79, 0x27, 0x9F, 0xFF, 0xEB, 0x5A, 0x8C,
	0x4D, 0x26, 0x49, 0x71, 0xEB, 0xB3, 0x22, 0x98, 0x02, 0x3A, 0x46, 0x5F, 0xA4, 0x1D, 0xF5, 0xD1,
};

#define STUB() return cn_err_set(-EOPNOTSUPP, "rim: %s not implemented yet", __func__)

const char *cn_rim_kind_name(enum cn_rim_kind kind) { return kind == CN_RIM_KIND_VBIOS ? "vbios" : "driver"; }
int cn_rim_vbios_version_format(const uint8_t *raw, size_t len, char out[15]) { STUB(); }
int cn_rim_ids_derive(const struct cn_rim_id_inputs *in, struct cn_rim_ids *ret) { STUB(); }
bool cn_rim_id_valid(const char *id) { return false; }
int cn_rim_source_new_dir(const char *dir, struct cn_rim_source **ret) { STUB(); }
int cn_rim_source_new_custom(const struct cn_rim_source_ops *ops, void *userdata, struct cn_rim_source **ret) { STUB(); }
int cn_rim_source_get(struct cn_rim_source *src, const char *rim_id, uint8_t **ret_xml, size_t *ret_len, char **ret_origin) { STUB(); }
struct cn_rim_source *cn_rim_source_free(struct cn_rim_source *src) { return NULL; }
int cn_rim_source_index(struct cn_rim_source *src, const struct cn_rim_index_entry **ret, size_t *ret_n) { STUB(); }
int cn_rim_identify(const uint8_t *xml, size_t len, const char *file_name, struct cn_rim_index_entry *ret) { STUB(); }
const char *cn_rim_chain_status_name(enum cn_rim_chain_status st) { return "not-checked"; }
int cn_rim_load(const uint8_t *xml, size_t len, const struct cn_rim_verify_opts *opts, struct cn_rim **ret) { STUB(); }
struct cn_rim *cn_rim_free(struct cn_rim *rim) { return NULL; }
const struct cn_rim_status *cn_rim_get_status(const struct cn_rim *rim) { return NULL; }
bool cn_rim_trusted(const struct cn_rim *rim) { return false; }
enum cn_rim_kind cn_rim_get_kind(const struct cn_rim *rim) { return CN_RIM_KIND_DRIVER; }
const char *cn_rim_get_version(const struct cn_rim *rim) { return ""; }
const char *cn_rim_get_product(const struct cn_rim *rim) { return ""; }
const char *cn_rim_get_tag_id(const struct cn_rim *rim) { return ""; }
const char *cn_rim_get_manufacturer_id(const struct cn_rim *rim) { return ""; }
bool cn_rim_version_match(const struct cn_rim *rim, enum cn_rim_kind kind, const char *version) { return false; }
STACK_OF(X509) *cn_rim_get_chain(const struct cn_rim *rim) { return NULL; }
STACK_OF(X509) *cn_rim_get_embedded_certs(const struct cn_rim *rim) { return NULL; }
int cn_rim_get_measurements(const struct cn_rim *rim, const struct cn_rim_measurement **ret, size_t *ret_n) { STUB(); }
const char *cn_rim_mismatch_reason_name(enum cn_rim_mismatch_reason r) { return "value"; }
int cn_rim_compare(const struct cn_rim *driver, const struct cn_rim *vbios, const struct cn_rim_runtime *runtime, size_t n_runtime, const uint8_t *nvdec0_status, size_t nvdec0_status_len, struct cn_rim_comparison **ret) { STUB(); }
struct cn_rim_comparison *cn_rim_comparison_free(struct cn_rim_comparison *c) { return NULL; }
