/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading and verifying one RIM (spec §4.4–§4.8): schema, XML-DSig with xmlsec (key = the
 * embedded signer certificate, algorithms whitelisted, exactly one enveloped signature with
 * URI=""), the signing chain to the pinned NVIDIA CoRIM signing Root CA at the caller's time,
 * and the golden measurements, all from the same parsed document.
 */
/* xmlsec OpenSSL headers name the deprecated DSA/RSA/EC_KEY types; only the two files that include
 * them undefine this, and they call no deprecated function. */
#undef OPENSSL_NO_DEPRECATED
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include "attest/rim/rim-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"

/* SHA-256 of the DER of "NVIDIA CoRIM signing Root CA" (C=US, O=NVIDIA, serial
 * 45DAE3A00E5037BDDF875375ECB5E270, 2023-03-16 .. 2053-03-08), spec §4.5. */
const uint8_t cn_rim_root_sha256[32] = {
    0x12, 0x97, 0x7B, 0x51, 0x15, 0xAC, 0xB0, 0x38, 0x11, 0x79, 0x27, 0x9F, 0xFF, 0xEB, 0x5A, 0x8C,
    0x4D, 0x26, 0x49, 0x71, 0xEB, 0xB3, 0x22, 0x98, 0x02, 0x3A, 0x46, 0x5F, 0xA4, 0x1D, 0xF5, 0xD1,
};

#define ALG_C14N11 "http://www.w3.org/2006/12/xml-c14n11"
#define ALG_ECDSA384 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
#define ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define ALG_SHA384 "http://www.w3.org/2001/04/xmldsig-more#sha384"

CN_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)

static void x509_stack_free(STACK_OF(X509) * s)
{
	sk_X509_pop_free(s, X509_free);
}

void cn_rim_set_reason(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, CN_RIM_REASON_MAX, fmt, ap);
	va_end(ap);
}

static bool attr_is(xmlNodePtr n, const char *name, const char *want)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	bool ok = v && strcmp((const char *)v, want) == 0;

	xmlFree(v);
	return ok;
}

static size_t count_elements(xmlNodePtr n, const char *ns, const char *name)
{
	size_t count = 0;

	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (n->ns && strcmp((const char *)n->ns->href, ns) == 0 &&
		    strcmp((const char *)n->name, name) == 0)
			count++;
		count += count_elements(n->children, ns, name);
	}
	return count;
}

static size_t count_element_children(xmlNodePtr n)
{
	size_t count = 0;

	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			count++;
	return count;
}

static size_t count_children_named(xmlNodePtr n, const char *ns, const char *name)
{
	size_t count = 0;

	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns &&
		    strcmp((const char *)c->ns->href, ns) == 0 &&
		    strcmp((const char *)c->name, name) == 0)
			count++;
	return count;
}

static xmlNodePtr last_element_child(xmlNodePtr n)
{
	xmlNodePtr last = NULL;

	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			last = c;
	return last;
}

/*
 * The structural rules of spec §4.6 that xmlsec does not enforce by itself. Returns the Signature
 * node or NULL with a reason.
 */
static xmlNodePtr check_signature_structure(xmlDocPtr doc, char *reason)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr sig, si, m, ref, tr, t;
	size_t n;
	xmlChar *uri;

	n = count_elements(root, CN_RIM_NS_DSIG, "Signature");
	if (n != 1) {
		cn_rim_set_reason(
		    reason, "signature: %zu ds:Signature elements, exactly one is required", n);
		return NULL;
	}
	sig = cn_rim_child(root, CN_RIM_NS_DSIG, "Signature");
	if (!sig || last_element_child(root) != sig) {
		cn_rim_set_reason(reason, "signature: ds:Signature must be the last child of "
					  "SoftwareIdentity (enveloped)");
		return NULL;
	}
	if (count_elements(root, CN_RIM_NS_DSIG, "Reference") != 1 ||
	    count_elements(root, CN_RIM_NS_DSIG, "Object") != 0 ||
	    count_elements(root, CN_RIM_NS_DSIG, "Manifest") != 0 ||
	    count_elements(root, CN_RIM_NS_DSIG, "RetrievalMethod") != 0) {
		cn_rim_set_reason(reason, "signature: exactly one ds:Reference and no "
					  "Object/Manifest/RetrievalMethod allowed");
		return NULL;
	}
	si = cn_rim_child(sig, CN_RIM_NS_DSIG, "SignedInfo");
	if (!si) {
		cn_rim_set_reason(reason, "signature: ds:SignedInfo missing");
		return NULL;
	}
	m = cn_rim_child(si, CN_RIM_NS_DSIG, "CanonicalizationMethod");
	if (!m || !attr_is(m, "Algorithm", ALG_C14N11) || m->children) {
		cn_rim_set_reason(reason, "signature: CanonicalizationMethod must be %s",
				  ALG_C14N11);
		return NULL;
	}
	m = cn_rim_child(si, CN_RIM_NS_DSIG, "SignatureMethod");
	if (!m || !attr_is(m, "Algorithm", ALG_ECDSA384) || m->children) {
		cn_rim_set_reason(reason, "signature: SignatureMethod must be %s", ALG_ECDSA384);
		return NULL;
	}
	ref = cn_rim_child(si, CN_RIM_NS_DSIG, "Reference");
	if (!ref) {
		cn_rim_set_reason(reason, "signature: ds:Reference missing from SignedInfo");
		return NULL;
	}
	uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
	if (!uri || uri[0] != '\0') {
		cn_rim_set_reason(reason,
				  "signature: Reference URI must be \"\" (the whole document)");
		xmlFree(uri);
		return NULL;
	}
	xmlFree(uri);
	tr = cn_rim_child(ref, CN_RIM_NS_DSIG, "Transforms");
	n = count_element_children(tr);
	t = tr ? cn_rim_child(tr, CN_RIM_NS_DSIG, "Transform") : NULL;
	/* Whitelist: enveloped-signature, optionally followed by c14n 1.1. */
	if (n < 1 || n > 2 || !t || !attr_is(t, "Algorithm", ALG_ENVELOPED) || t->children) {
		cn_rim_set_reason(
		    reason,
		    "signature: Reference transforms must be enveloped-signature[, c14n 1.1]");
		return NULL;
	}
	if (n == 2) {
		for (t = t->next; t && t->type != XML_ELEMENT_NODE; t = t->next)
			;
		if (!t || !attr_is(t, "Algorithm", ALG_C14N11) || t->children) {
			cn_rim_set_reason(
			    reason, "signature: second Reference transform must be %s", ALG_C14N11);
			return NULL;
		}
	}
	m = cn_rim_child(ref, CN_RIM_NS_DSIG, "DigestMethod");
	if (!m || !attr_is(m, "Algorithm", ALG_SHA384) || m->children) {
		cn_rim_set_reason(reason, "signature: DigestMethod must be %s", ALG_SHA384);
		return NULL;
	}
	return sig;
}

/* ---- certificates ---- */

static void verify_signature(struct cn_rim *rim, xmlNodePtr sig)
{
	struct cn_rim_status *st = &rim->status;
	X509 *leaf = sk_X509_value(rim->embedded, 0);
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	xmlSecDSigCtxPtr ctx = NULL;
	xmlSecKeyDataPtr data = NULL;
	xmlSecKeyPtr key = NULL;
	EVP_PKEY *dup = NULL;

	if (!cn_rim_key_is_p384(pk)) {
		cn_rim_set_reason(st->signature_reason,
				  "signature: signer certificate key is not ECDSA P-384");
		return;
	}
	if (!EVP_PKEY_up_ref(pk))
		goto oom;
	dup = pk;
	data = xmlSecOpenSSLEvpKeyAdopt(dup);
	if (!data) {
		EVP_PKEY_free(dup);
		goto oom;
	}
	key = xmlSecKeyCreate();
	if (!key || xmlSecKeySetValue(key, data) < 0) {
		xmlSecKeyDataDestroy(data);
		goto oom;
	}
	ctx = xmlSecDSigCtxCreate(NULL);
	if (!ctx)
		goto oom;
	ctx->signKey = key;
	key = NULL;
	ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
	ctx->flags |= XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES;
	if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14N11Id) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha384Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14N11Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha384Id) < 0)
		goto oom;

	cn_rim_err_reset();
	if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
		cn_rim_set_reason(st->signature_reason, "signature: XML-DSig processing failed: %s",
				  cn_rim_err_last());
		goto out;
	}
	if (ctx->status != xmlSecDSigStatusSucceeded) {
		xmlSecDSigReferenceCtxPtr ref =
		    xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1
			? xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0)
			: NULL;

		if (ref && ref->status != xmlSecDSigStatusSucceeded)
			cn_rim_set_reason(st->signature_reason,
					  "signature: digest of the document does not match "
					  "ds:DigestValue (content changed after signing)");
		else
			cn_rim_set_reason(
			    st->signature_reason,
			    "signature: ds:SignatureValue does not verify with the signer "
			    "certificate's key");
		goto out;
	}
	if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1) {
		cn_rim_set_reason(st->signature_reason,
				  "signature: exactly one reference must be processed");
		goto out;
	}
	{
		xmlSecDSigReferenceCtxPtr ref = xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0);

		if (!ref || ref->status != xmlSecDSigStatusSucceeded) {
			cn_rim_set_reason(st->signature_reason,
					  "signature: reference did not verify");
			goto out;
		}
	}
	st->signature_verified = true;
	st->signature_reason[0] = '\0';
	goto out;
oom:
	cn_rim_set_reason(st->signature_reason, "signature: out of memory");
out:
	if (key)
		xmlSecKeyDestroy(key);
	if (ctx)
		xmlSecDSigCtxDestroy(ctx);
}

/* ---- golden measurements ---- */

static int get_u32_attr(xmlNodePtr n, const char *name, uint32_t max, uint32_t *ret)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	int r;

	if (!v)
		return -ENOENT;
	r = cn_parse_u32((const char *)v, max, ret);
	xmlFree(v);
	return r;
}

static void read_measurements(struct cn_rim *rim, xmlDocPtr doc)
{
	struct cn_rim_status *st = &rim->status;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr payload = cn_rim_child(root, CN_RIM_NS_SWID, "Payload");
	_cleanup_free_ struct cn_rim_measurement *meas = NULL;
	bool seen[CN_RIM_RESOURCES_MAX] = {false};
	size_t n = 0;

	if (!payload || count_children_named(root, CN_RIM_NS_SWID, "Payload") != 1) {
		cn_rim_set_reason(st->measurements_reason,
				  "measurements: exactly one swid:Payload element is required");
		return;
	}
	meas = calloc(CN_RIM_RESOURCES_MAX, sizeof(*meas));
	if (!meas) {
		cn_rim_set_reason(st->measurements_reason, "measurements: out of memory");
		return;
	}
	for (xmlNodePtr c = payload->children; c; c = c->next) {
		struct cn_rim_measurement *m;
		uint32_t v;
		xmlChar *s;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!c->ns || strcmp((const char *)c->ns->href, CN_RIM_NS_SWID) != 0 ||
		    strcmp((const char *)c->name, "Resource") != 0) {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: unexpected element '%s' in Payload (line %d)",
			    (const char *)c->name, c->line);
			return;
		}
		if (n >= CN_RIM_RESOURCES_MAX) {
			cn_rim_set_reason(st->measurements_reason,
					  "measurements: more than %u Resource elements",
					  CN_RIM_RESOURCES_MAX);
			return;
		}
		m = &meas[n];
		if (!attr_is(c, "type", "Measurement")) {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: Resource (line %d): type is not \"Measurement\"",
			    c->line);
			return;
		}
		if (get_u32_attr(c, "index", CN_RIM_INDEX_MAX, &v) < 0) {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: Resource (line %d): attribute 'index' missing or "
			    "not in 0..%u",
			    c->line, CN_RIM_INDEX_MAX);
			return;
		}
		m->index = v;
		if (seen[v]) {
			cn_rim_set_reason(st->measurements_reason,
					  "measurements: index %u appears twice (line %d)", v,
					  c->line);
			return;
		}
		seen[v] = true;
		if (attr_is(c, "active", "True"))
			m->active = true;
		else if (attr_is(c, "active", "False"))
			m->active = false;
		else {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: index %u: attribute 'active' must be \"True\" or "
			    "\"False\"",
			    m->index);
			return;
		}
		if (get_u32_attr(c, "alternatives", CN_RIM_ALTERNATIVES_MAX, &v) < 0 || v == 0) {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: index %u: attribute 'alternatives' missing or "
			    "not in 1..%u",
			    m->index, CN_RIM_ALTERNATIVES_MAX);
			return;
		}
		m->n_alternatives = v;
		if (get_u32_attr(c, "size", CN_RIM_DIGEST_MAX, &v) < 0 || v == 0) {
			cn_rim_set_reason(
			    st->measurements_reason,
			    "measurements: index %u: attribute 'size' missing or not in 1..%u",
			    m->index, CN_RIM_DIGEST_MAX);
			return;
		}
		m->size = v;
		s = xmlGetNoNsProp(c, (const xmlChar *)"name");
		if (s) {
			(void)snprintf(m->name, sizeof(m->name), "%s", (const char *)s);
			for (char *p = m->name; *p; p++)
				if (!cn_rim_char_ok(*p))
					*p = '?';
			xmlFree(s);
		}
		/* Hash0..Hash<n-1> present with exactly 2*size hex digits; no other Hash<k>. */
		for (xmlAttrPtr a = c->properties; a; a = a->next) {
			uint32_t k;

			if (!a->ns || strcmp((const char *)a->ns->href, CN_RIM_NS_HASH) != 0)
				continue;
			if (strncmp((const char *)a->name, "Hash", 4) != 0 ||
			    cn_parse_u32((const char *)a->name + 4, UINT32_MAX, &k) < 0 ||
			    k >= m->n_alternatives) {
				cn_rim_set_reason(
				    st->measurements_reason,
				    "measurements: index %u: unexpected attribute '%s' "
				    "(alternatives=%zu)",
				    m->index, (const char *)a->name, m->n_alternatives);
				return;
			}
		}
		for (size_t k = 0; k < m->n_alternatives; k++) {
			char an[32];

			(void)snprintf(an, sizeof(an), "Hash%zu", k);
			s = xmlGetNsProp(c, (const xmlChar *)an, (const xmlChar *)CN_RIM_NS_HASH);
			if (!s || strlen((const char *)s) != 2 * m->size ||
			    cn_unhex_exact((const char *)s, m->value[k], m->size) < 0) {
				cn_rim_set_reason(
				    st->measurements_reason,
				    "measurements: index %u: attribute %s missing or not "
				    "%zu hex bytes",
				    m->index, an, m->size);
				xmlFree(s);
				return;
			}
			xmlFree(s);
		}
		n++;
	}
	if (n == 0) {
		cn_rim_set_reason(st->measurements_reason, "measurements: Payload has no Resource");
		return;
	}
	rim->meas = TAKE_PTR(meas);
	rim->n_meas = n;
	st->measurements_available = true;
	st->measurements_reason[0] = '\0';
}

/* ---- public ---- */

int cn_rim_load(const uint8_t *xml, size_t len, const struct cn_rim_verify_opts *opts,
		struct cn_rim **ret)
{
	_cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
	struct cn_rim *rim;
	xmlNodePtr sig;
	int r;

	if (!opts || !ret)
		return cn_err_set(-EINVAL, "rim: no options");
	if (opts->time <= 0)
		return cn_err_set(-EINVAL, "rim: verification time not set");
	r = cn_rim_parse_xml(xml, len, &doc);
	if (r < 0)
		return r;
	rim = calloc(1, sizeof(*rim));
	if (!rim)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	cn_rim_read_identity(doc, rim);

	r = cn_rim_schema_validate(doc, rim->status.schema_reason,
				   sizeof(rim->status.schema_reason));
	if (r < 0)
		goto fail;
	rim->status.schema_validated = r > 0;

	sig = check_signature_structure(doc, rim->status.signature_reason);
	{
		xmlNodePtr s =
		    sig ? sig
			: cn_rim_child(xmlDocGetRootElement(doc), CN_RIM_NS_DSIG, "Signature");

		if (s) {
			r = cn_rim_read_embedded_certs(s, &rim->embedded, rim->status.chain_reason);
			if (r == -ENOMEM) {
				r = cn_err_set(r, "rim: out of memory");
				goto fail;
			}
		} else {
			cn_rim_set_reason(rim->status.chain_reason, "chain: no ds:Signature");
		}
	}
	if (!rim->embedded)
		rim->embedded = sk_X509_new_null();
	if (!rim->embedded) {
		r = cn_err_set(-ENOMEM, "rim: out of memory");
		goto fail;
	}
	if (sk_X509_num(rim->embedded) > 0) {
		r = cn_rim_verify_chain(rim, opts);
		if (r < 0)
			goto fail;
		if (rim->status.chain_status == CN_RIM_CHAIN_INVALID) {
			x509_stack_free(rim->chain);
			rim->chain = NULL;
		}
		if (sig)
			verify_signature(rim, sig);
	} else if (sig) {
		cn_rim_set_reason(rim->status.signature_reason,
				  "signature: no signer certificate in ds:KeyInfo");
	}

	read_measurements(rim, doc);
	*ret = rim;
	return 0;
fail:
	cn_rim_free(rim);
	return r;
}

struct cn_rim *cn_rim_free(struct cn_rim *rim)
{
	if (!rim)
		return NULL;
	x509_stack_free(rim->embedded);
	x509_stack_free(rim->chain);
	free(rim->meas);
	free(rim);
	return NULL;
}

const struct cn_rim_status *cn_rim_get_status(const struct cn_rim *rim)
{
	return &rim->status;
}

bool cn_rim_trusted(const struct cn_rim *rim)
{
	return rim && rim->status.schema_validated && rim->status.signature_verified &&
	       rim->status.chain_status == CN_RIM_CHAIN_VALID && rim->status.measurements_available;
}

const char *cn_rim_chain_status_name(enum cn_rim_chain_status st)
{
	switch (st) {
	case CN_RIM_CHAIN_VALID:
		return "valid";
	case CN_RIM_CHAIN_EXPIRED:
		return "expired";
	case CN_RIM_CHAIN_INVALID:
		return "invalid";
	case CN_RIM_CHAIN_NOT_CHECKED:
	default:
		return "not-checked";
	}
}

enum cn_rim_kind cn_rim_get_kind(const struct cn_rim *rim)
{
	return rim->kind;
}

const char *cn_rim_get_version(const struct cn_rim *rim)
{
	return rim->version;
}

const char *cn_rim_get_product(const struct cn_rim *rim)
{
	return rim->product;
}

const char *cn_rim_get_tag_id(const struct cn_rim *rim)
{
	return rim->tag_id;
}

const char *cn_rim_get_manufacturer_id(const struct cn_rim *rim)
{
	return rim->manufacturer_id;
}

bool cn_rim_version_match(const struct cn_rim *rim, enum cn_rim_kind kind, const char *version)
{
	if (!rim || !version || rim->version[0] == '\0' || rim->kind != kind)
		return false;
	if (kind == CN_RIM_KIND_VBIOS)
		return cn_rim_is_vbios_version(rim->version) &&
		       strcasecmp(rim->version, version) == 0;
	return strcmp(rim->version, version) == 0;
}

STACK_OF(X509) * cn_rim_get_chain(const struct cn_rim *rim)
{
	return rim->chain;
}

STACK_OF(X509) * cn_rim_get_embedded_certs(const struct cn_rim *rim)
{
	return rim->embedded;
}

int cn_rim_get_measurements(const struct cn_rim *rim, const struct cn_rim_measurement **ret,
			    size_t *ret_n)
{
	if (!rim || !ret || !ret_n)
		return cn_err_set(-EINVAL, "rim: no RIM");
	*ret = rim->meas;
	*ret_n = rim->n_meas;
	return 0;
}
