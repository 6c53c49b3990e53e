/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Library initialisation, strict XML parsing and schema validation of RIMs.
 *
 * The schema documents are embedded (rim-xsd-data.c, generated from xsd/) and served to libxml2
 * through input callbacks for the private scheme "cn-rim-xsd:", so validation reads nothing from
 * disk or network. libxml2's and xmlsec's error output is captured per thread instead of printed.
 */
/* xmlsec OpenSSL headers name the deprecated DSA/RSA/EC_KEY types; only the two files that include
 * them undefine this, and they call no deprecated function. */
#undef OPENSSL_NO_DEPRECATED
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmlsec.h>

#include "attest/rim/rim-internal.h"
#include "attest/rim/rim-xsd.h"
#include "base/cleanup.h"
#include "base/log.h"

#define XSD_SCHEME "cn-rim-xsd:"

/* ---- embedded schema documents as a libxml2 input source ---- */

struct xsd_reader {
	const unsigned char *data;
	size_t len, pos;
};

static const struct cn_rim_xsd_file *xsd_find(const char *uri)
{
	if (!uri || strncmp(uri, XSD_SCHEME, strlen(XSD_SCHEME)) != 0)
		return NULL;
	uri += strlen(XSD_SCHEME);
	for (size_t i = 0; i < cn_rim_xsd_n_files; i++)
		if (strcmp(cn_rim_xsd_files[i].name, uri) == 0)
			return &cn_rim_xsd_files[i];
	return NULL;
}

static int xsd_match(const char *uri)
{
	/* Claims the whole scheme so that an unknown name fails instead of reaching other loaders.
	 */
	return uri && strncmp(uri, XSD_SCHEME, strlen(XSD_SCHEME)) == 0;
}

static void *xsd_open(const char *uri)
{
	const struct cn_rim_xsd_file *f = xsd_find(uri);
	struct xsd_reader *r;

	if (!f)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->data = f->data;
	r->len = f->len;
	return r;
}

static int xsd_read(void *ctx, char *buf, int len)
{
	struct xsd_reader *r = ctx;
	size_t n;

	if (len <= 0)
		return 0;
	n = CN_MIN((size_t)len, r->len - r->pos);
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return (int)n;
}

static int xsd_close(void *ctx)
{
	free(ctx);
	return 0;
}

/* ---- quiet error capture ---- */

static _Thread_local char xml_err[CN_RIM_REASON_MAX];

static void xml_generic_quiet(void *ctx, const char *msg, ...)
{
}

static void xml_structured(void *ctx, xmlErrorPtr e)
{
	size_t n;

	if (!e || xml_err[0] != '\0') /* keep the first error: later ones are consequences */
		return;
	(void)snprintf(xml_err, sizeof(xml_err), "line %d: %s", e->line,
		       e->message ? e->message : "error");
	n = strlen(xml_err);
	while (n > 0 && (xml_err[n - 1] == '\n' || xml_err[n - 1] == ' '))
		xml_err[--n] = '\0';
}

static void xmlsec_quiet(const char *file, int line, const char *func, const char *errorObject,
			 const char *errorSubject, int reason, const char *msg)
{
	(void)file;
	(void)line;
	(void)func;
	(void)errorObject;
	(void)reason;
	if (xml_err[0] == '\0')
		(void)snprintf(xml_err, sizeof(xml_err), "xmlsec: %s%s%s",
			       errorSubject ? errorSubject : "", errorSubject ? ": " : "",
			       msg ? msg : "error");
}

void cn_rim_err_reset(void)
{
	xml_err[0] = '\0';
	xmlSetGenericErrorFunc(NULL, xml_generic_quiet);
	xmlSetStructuredErrorFunc(NULL, xml_structured);
}

const char *cn_rim_err_last(void)
{
	return xml_err[0] ? xml_err : "unknown error";
}

/* ---- one-time init ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static xmlSchemaPtr rim_schema;

static void do_init(void)
{
	const struct cn_rim_xsd_file *main_xsd = xsd_find(XSD_SCHEME CN_RIM_XSD_MAIN);
	xmlSchemaParserCtxtPtr pctx;

	xmlInitParser();
	cn_rim_err_reset();
	if (xmlRegisterInputCallbacks(xsd_match, xsd_open, xsd_read, xsd_close) < 0) {
		init_result = cn_err_set(-ENOMEM, "rim: cannot register schema input callbacks");
		return;
	}
	if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1) {
		init_result = cn_err_set(-EIO, "rim: xmlsec initialisation failed");
		return;
	}
	xmlSecErrorsSetCallback(xmlsec_quiet);
	if (xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0) {
		init_result = cn_err_set(-EIO, "rim: xmlsec-openssl initialisation failed");
		return;
	}

	if (!main_xsd) {
		init_result = cn_err_set(-EIO, "rim: embedded schema %s missing", CN_RIM_XSD_MAIN);
		return;
	}
	pctx = xmlSchemaNewMemParserCtxt((const char *)main_xsd->data, (int)main_xsd->len);
	if (!pctx) {
		init_result = cn_err_set(-ENOMEM, "rim: cannot create schema parser");
		return;
	}
	xmlSchemaSetParserStructuredErrors(pctx, xml_structured, NULL);
	rim_schema = xmlSchemaParse(pctx);
	xmlSchemaFreeParserCtxt(pctx);
	if (!rim_schema) {
		init_result = cn_err_set(-EIO, "rim: embedded schema does not compile: %s",
					 cn_rim_err_last());
		return;
	}
	init_result = 0;
}

int cn_rim_lib_init(void)
{
	(void)pthread_once(&init_once, do_init);
	cn_rim_err_reset();
	if (init_result < 0)
		return cn_err_set(init_result, "rim: library initialisation failed");
	return 0;
}

/* ---- parsing ---- */

static const uint8_t *memmem_at(const uint8_t *h, size_t hlen, const char *needle)
{
	return memmem(h, hlen, needle, strlen(needle));
}

int cn_rim_parse_xml(const uint8_t *xml, size_t len, xmlDocPtr *ret)
{
	static const char *const banned[] = {"<!DOCTYPE", "<!ENTITY"};
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	xmlNodePtr root;
	int r;

	r = cn_rim_lib_init();
	if (r < 0)
		return r;
	if (!xml || len == 0)
		return cn_err_set(-EBADMSG, "rim: empty document");
	if (len > CN_RIM_SIZE_MAX)
		return cn_err_set(-E2BIG, "rim: document of %zu bytes exceeds the limit of %u", len,
				  CN_RIM_SIZE_MAX);
	if (len > INT32_MAX)
		return cn_err_set(-E2BIG, "rim: document too large");
	for (size_t i = 0; i < ELEMENTSOF(banned); i++) {
		const uint8_t *p = memmem_at(xml, len, banned[i]);

		if (p)
			return cn_err_set(
			    -EBADMSG, "rim: %s at offset %zu: DTDs and entities are not allowed",
			    banned[i], (size_t)(p - xml));
	}
	if (memchr(xml, '\0', len))
		return cn_err_set(-EBADMSG, "rim: NUL byte at offset %zu",
				  (size_t)((const uint8_t *)memchr(xml, '\0', len) - xml));

	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	/* No network, no DTD loading or attribute defaulting, no entity substitution. */
	doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)len, NULL, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);

		if (xml_err[0] == '\0' && e)
			xml_structured(NULL, e);
		r = cn_err_set(-EBADMSG, "rim: not well-formed XML: %s", cn_rim_err_last());
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return r;
	}
	xmlFreeParserCtxt(ctxt);

	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		return cn_err_set(-EBADMSG, "rim: DTDs are not allowed");
	}
	if (doc->encoding && strcasecmp((const char *)doc->encoding, "UTF-8") != 0) {
		r = cn_err_set(-EBADMSG, "rim: encoding '%s' is not UTF-8",
			       (const char *)doc->encoding);
		xmlFreeDoc(doc);
		return r;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !root->ns || strcmp((const char *)root->name, "SoftwareIdentity") != 0 ||
	    strcmp((const char *)root->ns->href, CN_RIM_NS_SWID) != 0) {
		r = cn_err_set(
		    -EBADMSG,
		    "rim: root element is '%s', expected SoftwareIdentity in namespace %s",
		    root ? (const char *)root->name : "(none)", CN_RIM_NS_SWID);
		xmlFreeDoc(doc);
		return r;
	}
	*ret = doc;
	return 0;
}

/* ---- schema ---- */

int cn_rim_schema_validate(xmlDocPtr doc, char *reason, size_t reason_size)
{
	xmlSchemaValidCtxtPtr v;
	int r;

	r = cn_rim_lib_init();
	if (r < 0)
		return r;
	v = xmlSchemaNewValidCtxt(rim_schema);
	if (!v)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	xmlSchemaSetValidStructuredErrors(v, xml_structured, NULL);
	r = xmlSchemaValidateDoc(v, doc);
	xmlSchemaFreeValidCtxt(v);
	if (r == 0) {
		reason[0] = '\0';
		return 1;
	}
	if (r < 0)
		return cn_err_set(-EIO, "rim: schema validation could not run: %s",
				  cn_rim_err_last());
	(void)snprintf(reason, reason_size, "schema: %s", cn_rim_err_last());
	return 0;
}

/* ---- DOM helpers ---- */

xmlNodePtr cn_rim_child(xmlNodePtr parent, const char *ns, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns &&
		    strcmp((const char *)c->ns->href, ns) == 0 &&
		    strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

bool cn_rim_is_vbios_version(const char *v)
{
	/* "xx.xx.xx.xx.xx" */
	if (strlen(v) != 14)
		return false;
	for (size_t i = 0; i < 14; i++) {
		char c = v[i];

		if (i % 3 == 2) {
			if (c != '.')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
			     (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

static void copy_attr(xmlNodePtr n, const char *name, const char *ns, char *out, size_t size)
{
	xmlChar *v;

	out[0] = '\0';
	if (!n)
		return;
	v = ns ? xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns)
	       : xmlGetNoNsProp(n, (const xmlChar *)name);
	if (!v)
		return;
	/* Only safe characters are kept: the values end up in file names, ids and messages. */
	for (size_t i = 0, j = 0;; i++) {
		if (v[i] == '\0' || j + 1 >= size) {
			out[j] = '\0';
			break;
		}
		if (!cn_rim_char_ok((char)v[i])) {
			out[0] = '\0';
			break;
		}
		out[j++] = (char)v[i];
	}
	xmlFree(v);
}

void cn_rim_read_identity(xmlDocPtr doc, struct cn_rim *rim)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr meta = cn_rim_child(root, CN_RIM_NS_SWID, "Meta");
	size_t n_meta = 0;

	/* Two Meta elements would make the identity ambiguous: then there is none. */
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns &&
		    strcmp((const char *)c->ns->href, CN_RIM_NS_SWID) == 0 &&
		    strcmp((const char *)c->name, "Meta") == 0)
			n_meta++;
	if (n_meta != 1)
		meta = NULL;

	copy_attr(root, "tagId", NULL, rim->tag_id, sizeof(rim->tag_id));
	copy_attr(meta, "colloquialVersion", NULL, rim->version, sizeof(rim->version));
	copy_attr(meta, "product", NULL, rim->product, sizeof(rim->product));
	copy_attr(meta, "FirmwareManufacturerId", CN_RIM_NS_TCG, rim->manufacturer_id,
		  sizeof(rim->manufacturer_id));
	rim->kind = cn_rim_is_vbios_version(rim->version) ? CN_RIM_KIND_VBIOS : CN_RIM_KIND_DRIVER;
}
