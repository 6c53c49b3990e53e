/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals shared by the files of src/attest/rim (not for other areas). */
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/rim/rim.h"

#define CN_RIM_NS_SWID "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
#define CN_RIM_NS_TCG                                                                              \
	"https://trustedcomputinggroup.org/resource/"                                              \
	"tcg-reference-integrity-manifest-rim-information-model/"
#define CN_RIM_NS_HASH "http://www.w3.org/2001/04/xmlenc#sha384"
#define CN_RIM_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"

struct cn_rim {
	struct cn_rim_status status;
	enum cn_rim_kind kind;
	char version[CN_RIM_VERSION_MAX + 1];
	char product[CN_RIM_VERSION_MAX + 1];
	char tag_id[CN_RIM_ID_MAX + 1];
	char manufacturer_id[CN_RIM_VERSION_MAX + 1];
	STACK_OF(X509) * embedded;
	STACK_OF(X509) * chain;
	struct cn_rim_measurement *meas;
	size_t n_meas;
};

/* [0-9A-Za-z._-] */
bool cn_rim_char_ok(char c);

/* One-time initialisation of libxml2, xmlsec and the compiled schema. */
int cn_rim_lib_init(void);

/* Strict parse of untrusted RIM bytes (size cap, no DTD/entities/network, UTF-8, root element
 * swid:SoftwareIdentity). -E2BIG / -EBADMSG with cn_err_set(). */
int cn_rim_parse_xml(const uint8_t *xml, size_t len, xmlDocPtr *ret);

/* Reads version/product/tagId/oemid and the kind from the parsed document (best effort). */
void cn_rim_read_identity(xmlDocPtr doc, struct cn_rim *rim);

/* True if v has the VBIOS colloquialVersion form "xx.xx.xx.xx.xx" (hex). */
bool cn_rim_is_vbios_version(const char *v);

/* First element child of parent (or next sibling element after cur) with ns+name; NULL if none. */
xmlNodePtr cn_rim_child(xmlNodePtr parent, const char *ns, const char *name);

/* Per-thread capture of libxml2/xmlsec errors (they never print). */
void cn_rim_err_reset(void);
const char *cn_rim_err_last(void);

/* Validates doc against the embedded schema: 1 valid, 0 invalid (reason set), <0 error. */
int cn_rim_schema_validate(xmlDocPtr doc, char *reason, size_t reason_size);

/* Sets a *_reason buffer (CN_RIM_REASON_MAX bytes). */
void cn_rim_set_reason(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rim-chain.c: the KeyInfo certificates of sig (document order), the P-384 key check, and the
 * signing chain's validation into rim->status / rim->chain. */
int cn_rim_read_embedded_certs(xmlNodePtr sig, STACK_OF(X509) * *ret, char *reason);
bool cn_rim_key_is_p384(EVP_PKEY *k);
int cn_rim_verify_chain(struct cn_rim *rim, const struct cn_rim_verify_opts *opts);
