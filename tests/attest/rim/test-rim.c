/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RIM tests: NVIDIA's sample RIMs (read from $CN_SHARED_DIR at test time), structurally broken
 * copies, the negative vectors of spec §6.2, the offline comparison of §6.3, and synthetic RIMs
 * signed with xmlsec1 under a test PKI made with openssl (make-test-rim.sh), with single defects.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/rim/rim.h"
#include "base/log.h"
#include "base/cleanup.h"
#include "base/parse.h"
#include "harness.h"

#define SAMPLES "nvidia-testdata/nvtrust/local_gpu_verifier/samples"
#define SDK "nvidia-testdata/attestation-sdk/unit-tests/testdata"

static time_t at(const char *iso)
{
	struct tm tm = {0};

	ASSERT_NOT_NULL(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
	return timegm(&tm);
}

static struct cn_rim *load_mem(const void *xml, size_t len, time_t t, const char *root)
{
	struct cn_rim_verify_opts o = {.time = t, .root_pem_path = root};
	struct cn_rim *rim = NULL;

	int r = cn_rim_load(xml, len, &o, &rim);

	if (r < 0)
		CN_FAIL_("cn_rim_load: %d: %s", r, cn_err_msg());
	return rim;
}

static struct cn_rim *load_file(const char *path, time_t t, const char *root)
{
	size_t len;
	uint8_t *b = cn_test_slurp(path, &len);
	struct cn_rim *rim = load_mem(b, len, t, root);

	free(b);
	return rim;
}

static struct cn_rim *load_shared(const char *rel, time_t t)
{
	return load_file(cn_test_shared_or_skip(rel), t, NULL);
}

/* ---- ids ---- */

static void test_ids(void)
{
	static const uint8_t vb[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};
	struct cn_rim_id_inputs in = {
	    .driver_version = (const uint8_t *)"550.90.07\0\0",
	    .driver_version_len = 11,
	    .vbios_version = vb,
	    .vbios_version_len = 8,
	    .project = (const uint8_t *)"1010\0",
	    .project_len = 5,
	    .project_sku = (const uint8_t *)"0200",
	    .project_sku_len = 4,
	    .chip_sku = (const uint8_t *)"882\0\0\0",
	    .chip_sku_len = 6,
	};
	struct cn_rim_ids ids;
	char v[15];

	ASSERT_OK(cn_rim_ids_derive(&in, &ids));
	ASSERT_STREQ(ids.driver_id, "NV_GPU_DRIVER_GH100_550.90.07");
	ASSERT_STREQ(ids.vbios_id, "NV_GPU_VBIOS_1010_0200_882_96009F0001");
	ASSERT_STREQ(ids.driver_version, "550.90.07");
	ASSERT_STREQ(ids.vbios_version, "96.00.9F.00.01");
	ASSERT_OK(cn_rim_vbios_version_format(vb, 8, v));
	ASSERT_STREQ(v, "96.00.9F.00.01");
	ASSERT_ERR(cn_rim_vbios_version_format(vb, 7, v), -EINVAL);

	/* PY semantics for project fields: trimmed and upper-cased. */
	in.project = (const uint8_t *)" g520 ";
	in.project_len = 6;
	ASSERT_OK(cn_rim_ids_derive(&in, &ids));
	ASSERT_STREQ(ids.vbios_id, "NV_GPU_VBIOS_G520_0200_882_96009F0001");

	/* Defects. */
	in.project = (const uint8_t *)"10/0";
	in.project_len = 4;
	ASSERT_ERR(cn_rim_ids_derive(&in, &ids), -EBADMSG);
	in.project = (const uint8_t *)"1010";
	in.driver_version = (const uint8_t *)"550\0x";
	in.driver_version_len = 5;
	ASSERT_ERR(cn_rim_ids_derive(&in, &ids), -EBADMSG);
	in.driver_version = (const uint8_t *)"\0\0";
	in.driver_version_len = 2;
	ASSERT_ERR(cn_rim_ids_derive(&in, &ids), -EBADMSG);
	in.driver_version = (const uint8_t *)"550.90.07";
	in.driver_version_len = 9;
	in.vbios_version_len = 9;
	ASSERT_ERR(cn_rim_ids_derive(&in, &ids), -EBADMSG);
	in.vbios_version_len = 8;
	in.chip_sku = NULL;
	ASSERT_ERR(cn_rim_ids_derive(&in, &ids), -EBADMSG);

	ASSERT_TRUE(cn_rim_id_valid("NV_GPU_DRIVER_GH100_550.90.07"));
	ASSERT_FALSE(cn_rim_id_valid("../etc/passwd"));
	ASSERT_FALSE(cn_rim_id_valid(".hidden"));
	ASSERT_FALSE(cn_rim_id_valid(""));
	ASSERT_FALSE(cn_rim_id_valid("a b"));
}

/* ---- every NVIDIA sample passes our schema and verifies at a time inside its chain ---- */

static size_t for_each_sample(void (*fn)(const char *path, const char *name))
{
	static const char *const dirs[] = {SAMPLES, SDK, SDK "/sample_rims"};
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		const char *d = cn_test_shared_or_skip(dirs[i]);
		DIR *dir = opendir(d);
		struct dirent *de;

		ASSERT_NOT_NULL(dir);
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			char path[4096];

			if (!(l > 4 && strcmp(de->d_name + l - 4, ".xml") == 0) &&
			    !(l > 8 && strcmp(de->d_name + l - 8, ".swidtag") == 0))
				continue;
			(void)snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
			fn(path, de->d_name);
			n++;
		}
		closedir(dir);
	}
	return n;
}

static void check_sample_schema(const char *path, const char *name)
{
	struct cn_rim *rim = load_file(path, at("2025-06-01T00:00:00Z"), NULL);
	const struct cn_rim_status *st = cn_rim_get_status(rim);

	if (!st->schema_validated)
		CN_FAIL_("%s: schema: %s", name, st->schema_reason);
	ASSERT_TRUE(st->measurements_available);
	cn_rim_free(rim);
}

static void test_samples_schema(void)
{
	ASSERT_EQ(for_each_sample(check_sample_schema), 32);
}

static void test_samples_nvtrust_signatures(void)
{
	const char *d = cn_test_shared_or_skip(SAMPLES);
	DIR *dir = opendir(d);
	struct dirent *de;
	size_t n = 0;

	ASSERT_NOT_NULL(dir);
	while ((de = readdir(dir))) {
		char path[4096];
		struct cn_rim *rim;
		const struct cn_rim_status *st;

		if (!strstr(de->d_name, ".swidtag"))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
		/* All 26 verify at 2025-06-01 ... */
		rim = load_file(path, at("2025-06-01T00:00:00Z"), NULL);
		st = cn_rim_get_status(rim);
		if (!cn_rim_trusted(rim))
			CN_FAIL_("%s: sig=%s chain=%s", de->d_name, st->signature_reason,
				 st->chain_reason);
		ASSERT_EQ(sk_X509_num(cn_rim_get_chain(rim)), 4);
		ASSERT_STREQ(cn_rim_get_manufacturer_id(rim), "5703");
		cn_rim_free(rim);
		/* ... and every one of their chains is expired today (spec §6.7). */
		rim = load_file(path, at("2026-11-28T00:00:00Z"), NULL);
		st = cn_rim_get_status(rim);
		ASSERT_TRUE(st->signature_verified);
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_EXPIRED);
		ASSERT_FALSE(cn_rim_trusted(rim));
		ASSERT_NOT_NULL(strstr(st->chain_reason, "expired"));
		ASSERT_NOT_NULL(cn_rim_get_chain(rim)); /* still handed out for OCSP / the claim */
		cn_rim_free(rim);
		n++;
	}
	closedir(dir);
	ASSERT_EQ(n, 26);
}

static void test_sample_test_no_gpu_window(void)
{
	struct cn_rim *rim;

	/* Valid in [2023-06-27T06:10:12Z, 2025-06-22T09:38:54Z] (spec §6.3). */
	rim = load_shared(SAMPLES "/1010_0200_882_96005E0001_test_no_gpu.swidtag",
			  at("2023-06-27T06:10:13Z"));
	ASSERT_EQ(cn_rim_get_status(rim)->chain_status, CN_RIM_CHAIN_VALID);
	ASSERT_EQ(cn_rim_get_kind(rim), CN_RIM_KIND_VBIOS);
	ASSERT_TRUE(cn_rim_version_match(rim, CN_RIM_KIND_VBIOS, "96.00.5e.00.01"));
	ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_VBIOS, "96.00.9F.00.01"));
	ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "96.00.5E.00.01"));
	cn_rim_free(rim);
	rim = load_shared(SAMPLES "/1010_0200_882_96005E0001_test_no_gpu.swidtag",
			  at("2025-06-22T09:38:55Z"));
	ASSERT_EQ(cn_rim_get_status(rim)->chain_status, CN_RIM_CHAIN_EXPIRED);
	cn_rim_free(rim);
	rim = load_shared(SAMPLES "/1010_0200_882_96005E0001_test_no_gpu.swidtag",
			  at("2020-01-01T00:00:00Z"));
	ASSERT_EQ(cn_rim_get_status(rim)->chain_status, CN_RIM_CHAIN_INVALID); /* not yet valid */
	cn_rim_free(rim);

	rim = load_shared(SAMPLES "/Driver_RIM_test_no_gpu.swidtag", at("2024-01-01T00:00:00Z"));
	ASSERT_TRUE(cn_rim_trusted(rim));
	ASSERT_EQ(cn_rim_get_kind(rim), CN_RIM_KIND_DRIVER);
	ASSERT_STREQ(cn_rim_get_version(rim), "545.00");
	ASSERT_STREQ(cn_rim_get_product(rim), "GH100");
	ASSERT_TRUE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "545.00"));
	ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "545.0"));
	cn_rim_free(rim);
}

static void test_sdk_vectors(void)
{
	const time_t today = at("2026-11-28T00:00:00Z");
	const struct cn_rim_status *st;
	struct cn_rim *rim;
	char *drv550;

	/* Valid today (until 2026-12-30), expired right after. */
	rim = load_shared(SDK "/NV_GPU_DRIVER_GH100_550.144.03.xml", today);
	ASSERT_TRUE(cn_rim_trusted(rim));
	ASSERT_EQ(cn_rim_get_status(rim)->chain_not_after, at("2026-12-30T16:56:50Z"));
	cn_rim_free(rim);
	rim = load_shared(SDK "/NV_GPU_DRIVER_GH100_550.144.03.xml", at("2026-12-31T00:00:00Z"));
	ASSERT_EQ(cn_rim_get_status(rim)->chain_status, CN_RIM_CHAIN_EXPIRED);
	cn_rim_free(rim);

	/* cn_test_shared_or_skip() returns a static buffer: keep a copy. */
	drv550 = strdup(cn_test_shared_or_skip(SDK "/NV_GPU_DRIVER_GH100_550.144.03.xml"));
	/* Pinned root replaced by the same root as a PEM: still valid; by an L4 signer: invalid. */
	rim = load_file(drv550, today, cn_test_shared_or_skip(SDK "/trusted_certs/rim_root.crt"));
	ASSERT_TRUE(cn_rim_trusted(rim));
	cn_rim_free(rim);
	rim = load_file(drv550, today, cn_test_shared_or_skip(SDK "/incorrect_rim_root.crt"));
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->signature_verified);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_INVALID);
	ASSERT_NULL(cn_rim_get_chain(rim));
	cn_rim_free(rim);

	free(drv550);

	/* Incorrect signature: digest fine, ECDSA bad; chain valid today. */
	rim = load_shared(SDK "/incorrect_signature_driver_rim.xml", today);
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->schema_validated);
	ASSERT_FALSE(st->signature_verified);
	ASSERT_NOT_NULL(strstr(st->signature_reason, "SignatureValue"));
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
	cn_rim_free(rim);

	/* Incorrect chain: signature math fine, debug root is not the pinned one. */
	rim = load_shared(SDK "/incorrect_cert_chain_driver_rim.xml", at("2026-01-01T00:00:00Z"));
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->signature_verified);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_INVALID);
	ASSERT_NOT_NULL(strstr(st->chain_reason, "pinned"));
	cn_rim_free(rim);

	/* Measurement-mismatch driver RIMs were edited after signing: digest mismatch. */
	rim = load_shared(SDK "/sample_rims/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml",
			  today);
	st = cn_rim_get_status(rim);
	ASSERT_FALSE(st->signature_verified);
	ASSERT_NOT_NULL(strstr(st->signature_reason, "digest"));
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
	cn_rim_free(rim);
	rim = load_shared(SDK "/sample_rims/NV_GPU_DRIVER_GH100_570.124.03_expired.xml", today);
	st = cn_rim_get_status(rim);
	ASSERT_FALSE(st->signature_verified);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_EXPIRED);
	ASSERT_EQ(st->chain_not_after, at("2025-01-02T00:00:00Z"));
	cn_rim_free(rim);

	/* The VBIOS mismatch RIM is properly signed; its chain expired 2025-12-12. */
	rim = load_shared(
	    SDK "/sample_rims/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml",
	    at("2025-06-01T00:00:00Z"));
	ASSERT_TRUE(cn_rim_trusted(rim));
	cn_rim_free(rim);
	rim = load_shared(
	    SDK "/sample_rims/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml",
	    today);
	ASSERT_EQ(cn_rim_get_status(rim)->chain_status, CN_RIM_CHAIN_EXPIRED);
	cn_rim_free(rim);
}

/* ---- structurally broken copies of a sample ---- */

static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	size_t n = strlen(s), a = strlen(from), b = strlen(to);
	char *out;

	if (!p)
		CN_FAIL_("'%s' not found", from);
	out = malloc(n - a + b + 1);
	ASSERT_NOT_NULL(out);
	memcpy(out, s, (size_t)(p - s));
	memcpy(out + (p - s), to, b);
	memcpy(out + (p - s) + b, p + a, n - (size_t)(p - s) - a + 1);
	return out;
}

struct edit {
	const char *from, *to;
	bool schema, signature, measurements; /* expected results after the edit */
};

static void test_broken_copies(void)
{
	static const struct edit edits[] = {
	    /* schema-only defects (still well-formed; content changed, so the digest fails too) */
	    {"colloquialVersion=\"545.00\" ", "", false, false, true},
	    {"edition=\"GPU\"", "edition=\"GPU\" bogus=\"1\"", false, false, true},
	    {"active=\"False\"", "active=\"false\"", false, false, false},
	    {"index=\"3\"", "index=\"4\"", false, false, false}, /* duplicate index */
	    {"index=\"3\"", "index=\"300\"", false, false, false},
	    {"alternatives=\"1\"", "alternatives=\"0\"", false, false, false},
	    {"size=\"48\"", "size=\"65\"", false, false, false},
	    {"type=\"Measurement\"", "type=\"Other\"", false, false, false},
	    {"<ns0:Entity ", "<ns0:Evidence/><ns0:Entity ", false, false, true},
	    {"ns1:BindingSpec=\"RIMIM\"", "ns1:BindingSpec=\"X\"", false, false, true},
	    {"<ds:KeyInfo>", "<ds:Object/><ds:KeyInfo>", false, false, true},
	    {"<ns0:Payload ", "<ns0:Payload/><ns0:Payload ", false, false, false},
	    /* a second Reference inside SignedInfo: schema and the one-reference rule */
	    {"</ds:Reference>",
	     "</ds:Reference><ds:Reference URI=\"\"><ds:DigestMethod "
	     "Algorithm=\"x\"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>",
	     false, false, true},
	    /* signature-structure defects that the schema cannot see */
	    {"<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">", true, false, true},
	    {"<ds:Reference URI=\"\">", "<ds:Reference>", true, false, true},
	    {"xmldsig-more#ecdsa-sha384", "xmldsig-more#ecdsa-sha256", true, false, true},
	    {"<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"",
	     "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
	     true, false, true},
	    {"<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
	     "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"/>", true,
	     false, true},
	    {"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#sha384\"",
	     "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"", true, false,
	     true},
	};
	size_t len;
	char *orig = (char *)cn_test_slurp(
	    cn_test_shared_or_skip(SAMPLES "/Driver_RIM_test_no_gpu.swidtag"), &len);
	const time_t t = at("2024-01-01T00:00:00Z");
	struct cn_rim_verify_opts o = {.time = t};
	struct cn_rim *rim;

	orig = realloc(orig, len + 1);
	orig[len] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
		char *s = replace(orig, edits[i].from, edits[i].to);
		const struct cn_rim_status *st;

		rim = load_mem(s, strlen(s), t, NULL);
		st = cn_rim_get_status(rim);
		if (st->schema_validated != edits[i].schema ||
		    st->signature_verified != edits[i].signature ||
		    st->measurements_available != edits[i].measurements)
			CN_FAIL_("edit %zu (%s): schema=%d[%s] sig=%d[%s] meas=%d[%s]", i,
				 edits[i].to, st->schema_validated, st->schema_reason,
				 st->signature_verified, st->signature_reason,
				 st->measurements_available, st->measurements_reason);
		ASSERT_FALSE(cn_rim_trusted(rim));
		/* The chain does not depend on these edits. */
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
		cn_rim_free(rim);
		free(s);
	}

	/* Two Meta elements: no identity at all, so no version can match. */
	{
		char *s = replace(
		    orig, "<ns0:Payload ",
		    "<ns0:Meta colloquialVersion=\"999.99\" product=\"GH100\"/><ns0:Payload ");

		rim = load_mem(s, strlen(s), t, NULL);
		ASSERT_FALSE(cn_rim_get_status(rim)->schema_validated);
		ASSERT_STREQ(cn_rim_get_version(rim), "");
		ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "545.00"));
		ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "999.99"));
		cn_rim_free(rim);
		free(s);
	}

	/* Moving the signature out of place, or a second signature. */
	{
		char *sig = strstr(orig, "<ds:Signature");
		char *end = strstr(orig, "</SoftwareIdentity>");
		size_t siglen = (size_t)(end - sig);
		char *s = malloc(len + siglen + 64), *p = s;
		const struct cn_rim_status *st;

		p = mempcpy(p, orig, (size_t)(sig - orig));
		p = mempcpy(p, end, strlen("</SoftwareIdentity>"));
		*p = '\0';
		rim = load_mem(s, strlen(s), t, NULL); /* no signature at all */
		st = cn_rim_get_status(rim);
		ASSERT_FALSE(st->schema_validated);
		ASSERT_FALSE(st->signature_verified);
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_NOT_CHECKED);
		cn_rim_free(rim);

		p = s;
		p = mempcpy(p, orig, (size_t)(sig - orig));
		p = mempcpy(p, sig, siglen);
		p = mempcpy(p, sig, siglen);
		p = mempcpy(p, end, strlen(end));
		*p = '\0';
		rim = load_mem(s, strlen(s), t, NULL); /* two signatures */
		st = cn_rim_get_status(rim);
		ASSERT_FALSE(st->schema_validated);
		ASSERT_FALSE(st->signature_verified);
		ASSERT_NOT_NULL(strstr(st->signature_reason, "exactly one"));
		cn_rim_free(rim);

		/* Signature wrapped into Payload (not a child of the root). */
		p = s;
		p = mempcpy(p, orig, (size_t)(strstr(orig, "</ns0:Payload>") - orig));
		p = mempcpy(p, sig, siglen);
		p = mempcpy(p, "</ns0:Payload>", 14);
		p = mempcpy(p, end, strlen(end));
		*p = '\0';
		rim = load_mem(s, strlen(s), t, NULL);
		st = cn_rim_get_status(rim);
		ASSERT_FALSE(st->schema_validated);
		ASSERT_FALSE(st->signature_verified);
		ASSERT_FALSE(st->measurements_available);
		cn_rim_free(rim);
		free(s);
	}

	/* Rejected by the strict parser itself. */
	{
		static const char *const bad[] = {
		    "<!DOCTYPE x [<!ENTITY a \"b\">]>",
		    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
		    "<x/>",
		};
		for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
			char *s = malloc(len + strlen(bad[i]) + 1);

			memcpy(s, bad[i], strlen(bad[i]));
			memcpy(s + strlen(bad[i]), orig, len + 1);
			ASSERT_ERR(cn_rim_load((uint8_t *)s, strlen(s), &o, &rim), -EBADMSG);
			free(s);
		}
		ASSERT_ERR(cn_rim_load((const uint8_t *)"<a xmlns=\"x\"/>", 14, &o, &rim),
			   -EBADMSG);
		ASSERT_ERR(cn_rim_load((const uint8_t *)"", 0, &o, &rim), -EBADMSG);
		ASSERT_ERR(
		    cn_rim_load((const uint8_t *)orig, len, &(struct cn_rim_verify_opts){0}, &rim),
		    -EINVAL);
		ASSERT_ERR(cn_rim_load((const uint8_t *)orig, CN_RIM_SIZE_MAX + 1, &o, &rim),
			   -E2BIG);
		ASSERT_ERR(cn_rim_load((const uint8_t *)orig, len - 5, &o, &rim), -EBADMSG);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), "not well-formed"));
		ASSERT_NOT_NULL(strstr(cn_err_msg(), "line "));
	}
	free(orig);
}

/* ---- offline comparison (spec §6.3) ---- */

struct report {
	uint8_t *buf;
	size_t len;
	struct cn_rim_runtime rt[255];
	size_t n;
	const uint8_t *nvdec0;
};

/* Minimal local walk over an SPDM 1.1 MEASUREMENTS report (the real parser is the attest area's).
 */
static void report_parse(struct report *r)
{
	const uint8_t *b = r->buf;
	size_t l1, p = 45, end, l2, q;

	ASSERT_TRUE(r->len > 45);
	l1 = b[42] | (size_t)b[43] << 8 | (size_t)b[44] << 16;
	end = 45 + l1;
	ASSERT_TRUE(end + 34 <= r->len);
	for (unsigned i = 0; i < b[41]; i++) {
		size_t msize = b[p + 2] | (size_t)b[p + 3] << 8;
		size_t vsize = b[p + 5] | (size_t)b[p + 6] << 8;

		ASSERT_TRUE(p + 4 + msize <= end);
		r->rt[r->n].spdm_index = b[p];
		r->rt[r->n].digest = b + p + 7;
		r->rt[r->n].len = vsize;
		r->n++;
		p += 4 + msize;
	}
	ASSERT_EQ(p, end);
	l2 = b[end + 32] | (size_t)b[end + 33] << 8;
	q = end + 34;
	while (q + 4 <= end + 34 + l2) {
		unsigned type = b[q] | b[q + 1] << 8;
		size_t size = b[q + 2] | (size_t)b[q + 3] << 8;

		if (type == 11 && size == 1)
			r->nvdec0 = b + q + 4;
		q += 4 + size;
	}
}

static void report_load_bin(struct report *r, const char *rel)
{
	memset(r, 0, sizeof(*r));
	r->buf = cn_test_slurp(cn_test_shared_or_skip(rel), &r->len);
	report_parse(r);
}

static void report_load_hex(struct report *r, const char *rel)
{
	size_t len, j = 0;
	char *t = (char *)cn_test_slurp(cn_test_shared_or_skip(rel), &len);

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < len; i++)
		if (t[i] != ' ' && t[i] != '\n' && t[i] != '\r')
			t[j++] = t[i];
	ASSERT_OK(cn_unhex_alloc(t, j, 1 << 16, &r->buf, &r->len));
	free(t);
	report_parse(r);
}

static void test_offline_full_pass(void)
{
	const time_t t = at("2024-01-01T00:00:00Z");
	struct cn_rim *drv = load_shared(SAMPLES "/Driver_RIM_test_no_gpu.swidtag", t);
	struct cn_rim *vb = load_shared(SAMPLES "/1010_0200_882_96005E0001_test_no_gpu.swidtag", t);
	const struct cn_rim_measurement *m;
	struct cn_rim_comparison *c;
	struct report rep;
	size_t n, active = 0;
	uint8_t aa = 0xAA;

	report_load_bin(&rep, "nvidia-testdata/derived/go-nvtrust-mock/report.bin");
	ASSERT_EQ(rep.n, 64);
	ASSERT_NOT_NULL(rep.nvdec0);
	ASSERT_EQ(rep.nvdec0[0], 0x55);
	ASSERT_TRUE(cn_rim_trusted(drv) && cn_rim_trusted(vb));
	ASSERT_TRUE(cn_rim_version_match(drv, CN_RIM_KIND_DRIVER, "545.00"));
	ASSERT_TRUE(cn_rim_version_match(vb, CN_RIM_KIND_VBIOS, "96.00.5E.00.01"));
	ASSERT_OK(cn_rim_get_measurements(drv, &m, &n));
	for (size_t i = 0; i < n; i++)
		active += m[i].active;
	ASSERT_OK(cn_rim_get_measurements(vb, &m, &n));
	for (size_t i = 0; i < n; i++)
		active += m[i].active;
	ASSERT_EQ(active, 33);

	ASSERT_OK(cn_rim_compare(drv, vb, rep.rt, rep.n, rep.nvdec0, 1, &c));
	ASSERT_TRUE(c->index_no_conflict);
	ASSERT_TRUE(c->success);
	ASSERT_TRUE(c->msr35_skipped);
	ASSERT_EQ(c->n_compared, 32);
	ASSERT_EQ(c->n_matched, 32);
	cn_rim_comparison_free(c);
	/* With NVDEC0 enabled index 35 is compared too: all 33 golden values match. */
	ASSERT_OK(cn_rim_compare(drv, vb, rep.rt, rep.n, &aa, 1, &c));
	ASSERT_TRUE(c->success);
	ASSERT_FALSE(c->msr35_skipped);
	ASSERT_EQ(c->n_compared, 33);
	ASSERT_EQ(c->n_matched, 33);
	cn_rim_comparison_free(c);

	/* Driver vs VBIOS swapped: index conflict? No (disjoint), but the other RIM's values
	 * mismatch. */
	ASSERT_ERR(cn_rim_compare(drv, vb, rep.rt, rep.n, NULL, 0, &c), -EBADMSG);
	cn_rim_free(drv);
	cn_rim_free(vb);
	free(rep.buf);
}

static void test_offline_vbios_mismatch_index9(void)
{
	const time_t t = at("2025-06-01T00:00:00Z");
	struct cn_rim *drv = load_shared(
	    SDK "/sample_rims/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml", t);
	struct cn_rim *prod = load_shared(SAMPLES "/1010_0200_882_96005E0001_PROD.swidtag", t);
	struct cn_rim *mm = load_shared(
	    SDK "/sample_rims/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml", t);
	struct cn_rim_comparison *c;
	struct report rep;
	size_t vb_mismatches = 0;

	report_load_hex(&rep, SDK "/sample_attestation_data/gpu/hopperAttestationReport.txt");
	ASSERT_OK(cn_rim_compare(drv, prod, rep.rt, rep.n, rep.nvdec0, 1, &c));
	for (size_t i = 0; i < c->n_mismatches; i++)
		vb_mismatches += c->mismatches[i].source == CN_RIM_KIND_VBIOS;
	ASSERT_EQ(vb_mismatches, 0);
	cn_rim_comparison_free(c);

	ASSERT_OK(cn_rim_compare(drv, mm, rep.rt, rep.n, rep.nvdec0, 1, &c));
	ASSERT_FALSE(c->success);
	vb_mismatches = 0;
	for (size_t i = 0; i < c->n_mismatches; i++) {
		const struct cn_rim_mismatch *x = &c->mismatches[i];

		if (x->source != CN_RIM_KIND_VBIOS)
			continue;
		vb_mismatches++;
		ASSERT_EQ(x->index, 9);
		ASSERT_EQ(x->reason, CN_RIM_MISMATCH_VALUE);
		ASSERT_TRUE(x->runtime_present);
		ASSERT_EQ(x->runtime_len, 48);
		ASSERT_EQ(x->golden_size, 48);
		ASSERT_MEMEQ(x->runtime, rep.rt[9].digest, 48); /* SPDM block 10 */
	}
	ASSERT_EQ(vb_mismatches, 1);
	cn_rim_comparison_free(c);
	cn_rim_free(drv);
	cn_rim_free(prod);
	cn_rim_free(mm);
	free(rep.buf);
}

/* ---- comparison rules on small unsigned RIMs ---- */

static struct cn_rim *mini_rim(const char *version, const char *resources)
{
	char *xml;
	struct cn_rim *rim;

	ASSERT_TRUE(
	    asprintf(
		&xml,
		"<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
		"xmlns:ns2=\"http://www.w3.org/2001/04/xmlenc#sha384\" name=\"GH100\" tagId=\"t\">"
		"<Meta colloquialVersion=\"%s\" "
		"product=\"GH100\"/><Payload>%s</Payload></SoftwareIdentity>",
		version, resources) > 0);
	rim = load_mem(xml, strlen(xml), at("2024-01-01T00:00:00Z"), NULL);
	free(xml);
	ASSERT_TRUE(cn_rim_get_status(rim)->measurements_available);
	ASSERT_FALSE(cn_rim_get_status(rim)->schema_validated);
	return rim;
}

#define H(c)                                                                                       \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	    c c c
#define RES(idx, act, alts, hashes, size)                                                          \
	"<Resource type=\"Measurement\" index=\"" idx "\" active=\"" act "\" alternatives=\"" alts \
	"\" " hashes " name=\"m\" size=\"" size "\"/>"

static void test_compare_rules(void)
{
	uint8_t v11[48], v22[48], v33[48], small[32];
	const uint8_t off = 0x55, on = 0xAA, bad = 0x00;
	struct cn_rim *drv, *vb, *vb_conflict;
	struct cn_rim_comparison *c;
	struct cn_rim_runtime rt[4];

	memset(v11, 0x11, 48);
	memset(v22, 0x22, 48);
	memset(v33, 0x33, 48);
	memset(small, 0x11, 32);
	drv = mini_rim("550.90.07",
		       RES("7", "True", "2", "ns2:Hash0=\"" H("11") "\" ns2:Hash1=\"" H("22") "\"",
			   "48") RES("35", "True", "1", "ns2:Hash0=\"" H("33") "\"", "48")
			   RES("0", "False", "1", "ns2:Hash0=\"" H("00") "\"", "48"));
	vb = mini_rim("96.00.9F.00.01",
		      RES("0", "True", "1", "ns2:Hash0=\"" H("11") "\"", "48")
			  RES("7", "False", "1", "ns2:Hash0=\"" H("00") "\"", "48"));
	vb_conflict = mini_rim("96.00.9F.00.01",
			       RES("0", "True", "1", "ns2:Hash0=\"" H("11") "\"", "48")
				   RES("7", "True", "1", "ns2:Hash0=\"" H("11") "\"", "48"));

	/* Runtime: SPDM index = RIM index + 1. idx 7 matches the second alternative. */
	rt[0] = (struct cn_rim_runtime){1, v11, 48};
	rt[1] = (struct cn_rim_runtime){8, v22, 48};
	rt[2] = (struct cn_rim_runtime){36, v11, 48}; /* != golden 35 (0x33) */
	ASSERT_OK(cn_rim_compare(drv, vb, rt, 3, &off, 1, &c));
	ASSERT_TRUE(c->success);
	ASSERT_TRUE(c->msr35_skipped);
	ASSERT_EQ(c->n_compared, 2);
	cn_rim_comparison_free(c);

	ASSERT_OK(cn_rim_compare(drv, vb, rt, 3, &on, 1, &c));
	ASSERT_FALSE(c->success);
	ASSERT_EQ(c->n_mismatches, 1);
	ASSERT_EQ(c->mismatches[0].index, 35);
	ASSERT_EQ(c->mismatches[0].source, CN_RIM_KIND_DRIVER);
	ASSERT_EQ(c->mismatches[0].reason, CN_RIM_MISMATCH_VALUE);
	ASSERT_EQ(c->mismatches[0].n_golden, 1);
	ASSERT_MEMEQ(c->mismatches[0].golden[0], v33, 48);
	ASSERT_MEMEQ(c->mismatches[0].runtime, v11, 48);
	cn_rim_comparison_free(c);

	ASSERT_ERR(cn_rim_compare(drv, vb, rt, 3, &bad, 1, &c), -EBADMSG);
	ASSERT_ERR(cn_rim_compare(drv, vb, rt, 3, &off, 2, &c), -EBADMSG);

	/* Size mismatch, missing block. */
	rt[1] = (struct cn_rim_runtime){8, small, 32};
	ASSERT_OK(cn_rim_compare(drv, vb, rt, 2, &off, 1, &c));
	ASSERT_FALSE(c->success);
	ASSERT_EQ(c->n_mismatches, 1);
	ASSERT_EQ(c->mismatches[0].index, 7);
	ASSERT_EQ(c->mismatches[0].reason, CN_RIM_MISMATCH_SIZE);
	ASSERT_EQ(c->mismatches[0].n_golden, 2);
	ASSERT_MEMEQ(c->mismatches[0].golden[1], v22, 48);
	cn_rim_comparison_free(c);
	ASSERT_OK(cn_rim_compare(drv, vb, rt, 1, &off, 1, &c));
	ASSERT_EQ(c->n_mismatches, 1);
	ASSERT_EQ(c->mismatches[0].reason, CN_RIM_MISMATCH_MISSING);
	ASSERT_FALSE(c->mismatches[0].runtime_present);
	cn_rim_comparison_free(c);

	/* Index conflict: fail without comparing. */
	rt[1] = (struct cn_rim_runtime){8, v22, 48};
	ASSERT_OK(cn_rim_compare(drv, vb_conflict, rt, 2, &off, 1, &c));
	ASSERT_FALSE(c->index_no_conflict);
	ASSERT_FALSE(c->success);
	ASSERT_EQ(c->n_conflicts, 1);
	ASSERT_EQ(c->conflicts[0], 7);
	ASSERT_EQ(c->n_compared, 0);
	cn_rim_comparison_free(c);

	/* Bad runtime input. */
	rt[1] = (struct cn_rim_runtime){1, v22, 48};
	ASSERT_ERR(cn_rim_compare(drv, vb, rt, 2, &off, 1, &c), -EBADMSG);
	rt[1] = (struct cn_rim_runtime){0, v22, 48};
	ASSERT_ERR(cn_rim_compare(drv, vb, rt, 2, &off, 1, &c), -EBADMSG);

	/* Nothing active at all proves nothing. */
	{
		struct cn_rim *e1 =
		    mini_rim("1.0", RES("1", "False", "1", "ns2:Hash0=\"" H("00") "\"", "48"));
		struct cn_rim *e2 = mini_rim(
		    "96.00.9F.00.01", RES("2", "False", "1", "ns2:Hash0=\"" H("00") "\"", "48"));

		ASSERT_OK(cn_rim_compare(e1, e2, rt, 1, &off, 1, &c));
		ASSERT_FALSE(c->success);
		ASSERT_EQ(c->n_compared, 0);
		cn_rim_comparison_free(c);
		cn_rim_free(e1);
		cn_rim_free(e2);
	}
	cn_rim_free(drv);
	cn_rim_free(vb);
	cn_rim_free(vb_conflict);
}

/* ---- sources ---- */

static void test_sources(void)
{
	const char *samples = cn_test_shared_or_skip(SAMPLES);
	const char *tmp = cn_test_tmpdir();
	const struct cn_rim_index_entry *idx;
	struct cn_rim_source *src;
	uint8_t *xml;
	size_t len, n;
	char *origin;

	/* NVIDIA's sample directory as is: names come from each file's identity. */
	ASSERT_OK(cn_rim_source_new_dir(samples, &src));
	ASSERT_OK(cn_rim_source_index(src, &idx, &n));
	ASSERT_EQ(n, 26);
	ASSERT_OK(cn_rim_source_get(src, "NV_GPU_DRIVER_GH100_545.00", &xml, &len, &origin));
	ASSERT_NOT_NULL(strstr(origin, "Driver_RIM_test_no_gpu.swidtag"));
	free(xml);
	free(origin);
	ASSERT_OK(
	    cn_rim_source_get(src, "NV_GPU_VBIOS_G520_0228_889_96006D0029", &xml, &len, NULL));
	free(xml);
	/* PROD and test_no_gpu both provide this id: refuse to guess. */
	ASSERT_ERR(
	    cn_rim_source_get(src, "NV_GPU_VBIOS_1010_0200_882_96005E0001", &xml, &len, NULL),
	    -ENOTUNIQ);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "_PROD.swidtag"));
	ASSERT_ERR(cn_rim_source_get(src, "NV_GPU_DRIVER_GH100_550.90.07", &xml, &len, NULL),
		   -ENOENT);
	ASSERT_ERR(cn_rim_source_get(src, "../samples/x", &xml, &len, NULL), -EINVAL);
	cn_rim_source_free(src);

	/* "<id>.xml" wins over the index; non-RIM files are skipped. */
	ASSERT_EQ(
	    cn_test_sh(
		"cp '%s/1010_0200_882_96005E0001_test_no_gpu.swidtag' "
		"'%s/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml' && "
		"cp '%s/1010_0200_882_96005E0001_PROD.swidtag' '%s/' && echo junk > '%s/junk.xml'",
		samples, tmp, samples, tmp, tmp),
	    0);
	ASSERT_OK(cn_rim_source_new_dir(tmp, &src));
	ASSERT_OK(
	    cn_rim_source_get(src, "NV_GPU_VBIOS_1010_0200_882_96005E0001", &xml, &len, &origin));
	ASSERT_NOT_NULL(strstr(origin, "NV_GPU_VBIOS_1010_0200_882_96005E0001.xml"));
	free(xml);
	free(origin);
	ASSERT_OK(cn_rim_source_index(src, &idx, &n));
	ASSERT_EQ(n, 2);
	cn_rim_source_free(src);

	ASSERT_ERR(cn_rim_source_new_dir("/nonexistent-rim-dir", &src), -ENOENT);
}

static int custom_get(void *ud, const char *id, uint8_t **ret, size_t *ret_len)
{
	if (strcmp(id, "NV_GPU_DRIVER_GH100_1.0") != 0)
		return -ENOENT;
	*ret = (uint8_t *)strdup((const char *)ud);
	*ret_len = strlen((const char *)ud);
	return 0;
}

static void test_source_custom(void)
{
	static const struct cn_rim_source_ops ops = {.get = custom_get};
	struct cn_rim_source *src;
	uint8_t *xml;
	size_t len;

	ASSERT_OK(cn_rim_source_new_custom(&ops, (void *)"<x/>", &src));
	ASSERT_OK(cn_rim_source_get(src, "NV_GPU_DRIVER_GH100_1.0", &xml, &len, NULL));
	ASSERT_EQ(len, 4);
	free(xml);
	ASSERT_ERR(cn_rim_source_get(src, "NV_GPU_DRIVER_GH100_2.0", &xml, &len, NULL), -ENOENT);
	{
		const struct cn_rim_index_entry *idx;
		size_t n;

		ASSERT_ERR(cn_rim_source_index(src, &idx, &n), -EOPNOTSUPP);
	}
	cn_rim_source_free(src);
}

/* ---- synthetic PKI, RIMs signed with xmlsec1, single defects ---- */

static const char *script(void)
{
	static char path[4096];
	const char *src = getenv("CN_SOURCE_DIR");

	if (!src)
		cn_test_skip("CN_SOURCE_DIR not set");
	(void)snprintf(path, sizeof(path), "%s/tests/attest/rim/make-test-rim.sh", src);
	if (cn_test_sh("command -v openssl >/dev/null && command -v xmlsec1 >/dev/null") != 0)
		cn_test_skip("openssl or xmlsec1 missing");
	return path;
}

static const char *pki_dir(void)
{
	static char dir[2048];

	if (dir[0] == '\0') {
		(void)snprintf(dir, sizeof(dir), "%s/pki", cn_test_tmpdir());
		ASSERT_EQ(cn_test_sh("SIGNER_DAYS=30 '%s' pki '%s'", script(), dir), 0);
	}
	return dir;
}

#define HEX48                                                                                      \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b" \
	"2c2d2e2f"

static char *signed_rim(const char *name, const char *product, const char *version,
			const char *specs)
{
	const char *pki = pki_dir();
	char *out;

	ASSERT_TRUE(asprintf(&out, "%s/%s.xml", cn_test_tmpdir(), name) > 0);
	ASSERT_EQ(cn_test_sh("'%s' template %s %s %s > '%s.in' && '%s' sign '%s' '%s.in' '%s'",
			     script(), product, version, specs, out, script(), pki, out, out),
		  0);
	return out;
}

static void test_synthetic_single_defects(void)
{
	const char *pki = pki_dir();
	char root[4096], other[4096];
	const time_t now = time(NULL);
	char *path =
	    signed_rim("good", "GH100", "550.90.07", "7=" HEX48 " 8- 21=" HEX48 "/" H("ab"));
	size_t len;
	char *orig = (char *)cn_test_slurp(path, &len);
	struct cn_rim *rim;
	const struct cn_rim_status *st;

	(void)snprintf(root, sizeof(root), "%s/root.crt", pki);
	(void)snprintf(other, sizeof(other), "%s/other-root.crt", pki);
	orig = realloc(orig, len + 1);
	orig[len] = '\0';

	/* Baseline: everything passes with the test root replacing the pin. */
	rim = load_mem(orig, len, now, root);
	ASSERT_TRUE(cn_rim_trusted(rim));
	ASSERT_EQ(sk_X509_num(cn_rim_get_chain(rim)), 3);
	ASSERT_EQ(sk_X509_num(cn_rim_get_embedded_certs(rim)), 3);
	ASSERT_TRUE(cn_rim_version_match(rim, CN_RIM_KIND_DRIVER, "550.90.07"));
	cn_rim_free(rim);

	/* The pinned NVIDIA root: not ours → chain invalid, nothing else changes. */
	rim = load_mem(orig, len, now, NULL);
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->schema_validated && st->signature_verified && st->measurements_available);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_INVALID);
	cn_rim_free(rim);

	/* Wrong anchor (same subject, other key): chain invalid only. */
	rim = load_mem(orig, len, now, other);
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->schema_validated && st->signature_verified && st->measurements_available);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_INVALID);
	cn_rim_free(rim);

	/* Signer expired (30 days) at the verification clock: chain expired only. */
	rim = load_mem(orig, len, now + 60 * 86400, root);
	st = cn_rim_get_status(rim);
	ASSERT_TRUE(st->schema_validated && st->signature_verified && st->measurements_available);
	ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_EXPIRED);
	ASSERT_NOT_NULL(cn_rim_get_chain(rim));
	ASSERT_NOT_NULL(strstr(st->chain_reason, "Test RIM L4 Signer"));
	cn_rim_free(rim);

	/* One golden digit changed after signing: signature only. */
	{
		char *s = replace(orig, "ns2:Hash0=\"000102", "ns2:Hash0=\"010102");

		rim = load_mem(s, strlen(s), now, root);
		st = cn_rim_get_status(rim);
		ASSERT_TRUE(st->schema_validated && st->measurements_available);
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
		ASSERT_FALSE(st->signature_verified);
		cn_rim_free(rim);
		free(s);
	}
	/* SignatureValue altered: signature only. */
	{
		char *p = strstr(orig, "<ds:SignatureValue>") + strlen("<ds:SignatureValue>");
		char *s = strdup(orig);

		s[p - orig] = p[0] == 'A' ? 'B' : 'A';
		rim = load_mem(s, strlen(s), now, root);
		st = cn_rim_get_status(rim);
		ASSERT_TRUE(st->schema_validated && st->measurements_available);
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
		ASSERT_FALSE(st->signature_verified);
		cn_rim_free(rim);
		free(s);
	}
	/* Signed but schema-invalid (unknown attribute): schema only. */
	{
		char *in, *s;

		ASSERT_TRUE(asprintf(&in, "%s/schema-bad.in", cn_test_tmpdir()) > 0);
		ASSERT_EQ(
		    cn_test_sh("'%s' template GH100 550.90.07 7=" HEX48
			       " | sed 's/edition=\"GPU\"/edition=\"GPU\" extra=\"1\"/' > '%s' && "
			       "'%s' sign '%s' '%s' '%s.xml'",
			       script(), in, script(), pki, in, in),
		    0);
		free(in);
		ASSERT_TRUE(asprintf(&in, "%s/schema-bad.in.xml", cn_test_tmpdir()) > 0);
		s = (char *)cn_test_slurp(in, &len);
		rim = load_mem(s, len, now, root);
		st = cn_rim_get_status(rim);
		ASSERT_FALSE(st->schema_validated);
		ASSERT_NOT_NULL(strstr(st->schema_reason, "extra"));
		ASSERT_TRUE(st->signature_verified && st->measurements_available);
		ASSERT_EQ(st->chain_status, CN_RIM_CHAIN_VALID);
		cn_rim_free(rim);
		free(s);
		free(in);
	}
	/* A VBIOS RIM: kind from colloquialVersion, version match case-insensitive. */
	{
		char *p = signed_rim("vbios", "GH100", "96.00.9F.00.01", "0=" HEX48);
		char *s = (char *)cn_test_slurp(p, &len);

		rim = load_mem(s, len, now, root);
		ASSERT_TRUE(cn_rim_trusted(rim));
		ASSERT_EQ(cn_rim_get_kind(rim), CN_RIM_KIND_VBIOS);
		ASSERT_TRUE(cn_rim_version_match(rim, CN_RIM_KIND_VBIOS, "96.00.9f.00.01"));
		ASSERT_FALSE(cn_rim_version_match(rim, CN_RIM_KIND_VBIOS, "96.00.9F.00.02"));
		cn_rim_free(rim);
		free(s);
		free(p);
	}
	free(orig);
	free(path);
}

/* ---- sweeps ---- */

static void same_golden(const struct cn_rim *a, const struct cn_rim *b)
{
	const struct cn_rim_measurement *ma, *mb;
	size_t na, nb;

	ASSERT_OK(cn_rim_get_measurements(a, &ma, &na));
	ASSERT_OK(cn_rim_get_measurements(b, &mb, &nb));
	ASSERT_EQ(na, nb);
	for (size_t i = 0; i < na; i++) {
		ASSERT_EQ(ma[i].index, mb[i].index);
		ASSERT_EQ(ma[i].active, mb[i].active);
		ASSERT_EQ(ma[i].size, mb[i].size);
		ASSERT_EQ(ma[i].n_alternatives, mb[i].n_alternatives);
		ASSERT_MEMEQ(ma[i].value, mb[i].value, sizeof(ma[i].value));
	}
	ASSERT_STREQ(cn_rim_get_version(a), cn_rim_get_version(b));
}

static void test_sweeps(void)
{
	const char *pki = pki_dir();
	char root[4096];
	char *path = signed_rim("sweep", "GH100", "1.0", "7=" HEX48);
	size_t len;
	uint8_t *orig = cn_test_slurp(path, &len);
	const time_t now = time(NULL);
	struct cn_rim_verify_opts o = {.time = now, .root_pem_path = root};
	struct cn_rim *ref, *rim;
	size_t trusted = 0;

	(void)snprintf(root, sizeof(root), "%s/root.crt", pki);
	ref = load_mem(orig, len, now, root);
	ASSERT_TRUE(cn_rim_trusted(ref));

	/* Every truncation: never trusted, never a crash or leak. */
	for (size_t l = 0; l < len; l++) {
		uint8_t *b = malloc(l + 1);

		memcpy(b, orig, l);
		if (cn_rim_load(b, l, &o, &rim) == 0) {
			if (cn_rim_trusted(rim))
				same_golden(ref, rim); /* only trailing whitespace may go */
			cn_rim_free(rim);
		}
		free(b);
	}
	/* One bit flipped in every byte (bit position cycling): a RIM that is still trusted must
	 * carry exactly the original golden values. The embedded copy of the root (last
	 * X509Certificate) is not used when the anchor comes from outside, so flips there may
	 * survive; anywhere else only the odd line break inside base64 can. */
	{
		const char *s = (const char *)orig;
		const char *rs = strstr(s, "<ds:X509Certificate>");
		const char *re;

		for (const char *p = rs; p; p = strstr(p + 1, "<ds:X509Certificate>"))
			rs = p;
		re = strstr(rs, "</ds:X509Certificate>");
		ASSERT_TRUE(rs && re);
		/* Every byte outside X509Data (the signed content and the signature), every 16th
		 * inside the certificates (a flipped certificate byte fails DER or the chain). */
		const char *xs = strstr(s, "<ds:X509Data>"), *xe = strstr(s, "</ds:X509Data>");

		ASSERT_TRUE(xs && xe);
		for (size_t i = 0; i < len; i++) {
			uint8_t *b;

			if (i > (size_t)(xs - s) && i < (size_t)(xe - s) && i % 16 != 0)
				continue;
			b = malloc(len);
			memcpy(b, orig, len);
			b[i] ^= (uint8_t)(1u << (i % 8));
			if (cn_rim_load(b, len, &o, &rim) == 0) {
				if (cn_rim_trusted(rim)) {
					same_golden(ref, rim);
					if (i < (size_t)(rs - s) || i > (size_t)(re - s))
						trusted++;
				}
				cn_rim_free(rim);
			}
			free(b);
		}
	}
	if (trusted > 8)
		CN_FAIL_("%zu flips outside the embedded root still trusted", trusted);
	cn_rim_free(ref);
	free(orig);
	free(path);
}

static const struct cn_test tests[] = {
    T(ids),
    T(compare_rules),
    T(source_custom),
    T(samples_schema),
    T(samples_nvtrust_signatures),
    T(sample_test_no_gpu_window),
    T(sdk_vectors),
    T(broken_copies),
    T(offline_full_pass),
    T(offline_vbios_mismatch_index9),
    T(sources),
    T(synthetic_single_defects),
    T(sweeps),
};

CN_TEST_MAIN(tests)
