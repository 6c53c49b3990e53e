/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * NVIDIA Reference Integrity Manifests (RIMs): SWID tags (ISO/IEC 19770-2:2015 with the TCG
 * RIM-IM binding) signed with an enveloped XML-DSig, one for the GPU driver and one for the VBIOS
 * (spec gpu-attestation.md §4). This module
 *
 *   - derives the RIM ids from values of the report's signed opaque data (§4.1),
 *   - gets a RIM's XML from a source (a directory today; the RIM service plugs in later through
 *     cn_rim_source_new_custom()),
 *   - loads and verifies a RIM: size cap, strict XML parse (no network, no DTD, no entities),
 *     validation against the project's own embedded XSD, XML-DSig (c14n 1.1, ecdsa-sha384,
 *     exactly one enveloped signature with URI=""), the signing chain to NVIDIA's CoRIM signing
 *     Root CA (pinned by SHA-256 fingerprint) at a caller-given time,
 *   - extracts golden measurements and compares them with the runtime measurements (§4.9),
 *     reporting every mismatch with index, source, golden and runtime values.
 *
 * OCSP for the signing chain is not done here: cn_rim_chain() hands the chain to the caller.
 * All functions return 0 or a negative errno and describe failures with cn_err_set().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/* Limits on untrusted RIM content. */
#define CN_RIM_SIZE_MAX (1024u * 1024u) /* bytes of XML (NVIDIA's are ~21 KiB) */
#define CN_RIM_ID_MAX 128u		/* characters of a RIM id, without NUL */
#define CN_RIM_VERSION_MAX 64u		/* characters of a version string, without NUL */
#define CN_RIM_INDEX_MAX 254u		/* highest RIM index (SPDM block index 255) */
#define CN_RIM_RESOURCES_MAX (CN_RIM_INDEX_MAX + 1u)
#define CN_RIM_ALTERNATIVES_MAX 16u /* ns2:Hash0 .. Hash15 */
#define CN_RIM_DIGEST_MAX 64u	    /* bytes of one golden value */
#define CN_RIM_CHAIN_MAX 8u	    /* X509Certificate elements in KeyInfo */
#define CN_RIM_REASON_MAX 256u	    /* bytes of a *_reason string incl. NUL */

/* SHA-256 fingerprint of "NVIDIA CoRIM signing Root CA" (spec §4.5), pinned. */
extern const uint8_t cn_rim_root_sha256[32];

enum cn_rim_kind {
	CN_RIM_KIND_DRIVER = 0,
	CN_RIM_KIND_VBIOS = 1,
};

/* "driver" / "vbios" (for messages); the v3 claim source names are "Driver" / "Firmware". */
const char *cn_rim_kind_name(enum cn_rim_kind kind);

/* ---------------------------------------------------------------------------------------------
 * RIM ids (§4.1) from plain values of the signed opaque data. Each input is the raw TLV value;
 * trailing NULs (and for project/SKU fields surrounding blanks) are stripped. Values must be
 * printable ASCII from [0-9A-Za-z._-] after stripping.
 */

/* Formats the 8 raw VBIOS_VERSION bytes (opaque type 6) as "96.00.9F.00.01" (upper case).
 * out must hold 15 bytes. -EINVAL if len != 8. */
int cn_rim_vbios_version_format(const uint8_t *raw, size_t len, char out[15]);

struct cn_rim_id_inputs {
	const uint8_t *driver_version; /* opaque 3 DRIVER_VERSION, e.g. "550.90.07\0" */
	size_t driver_version_len;
	const uint8_t *vbios_version; /* opaque 6 VBIOS_VERSION, 8 raw bytes */
	size_t vbios_version_len;
	const uint8_t *project; /* opaque 17 PROJECT, e.g. "1010" */
	size_t project_len;
	const uint8_t *project_sku; /* opaque 18 PROJECT_SKU, e.g. "0200" */
	size_t project_sku_len;
	const uint8_t *chip_sku; /* opaque 15 CHIP_SKU, e.g. "882" */
	size_t chip_sku_len;
	const char *driver_chip; /* NULL: "GH100" (Hopper) */
};

struct cn_rim_ids {
	char driver_id[CN_RIM_ID_MAX + 1];	     /* "NV_GPU_DRIVER_GH100_550.90.07" */
	char vbios_id[CN_RIM_ID_MAX + 1];	     /* "NV_GPU_VBIOS_1010_0200_882_96009F0001" */
	char driver_version[CN_RIM_VERSION_MAX + 1]; /* "550.90.07" (for the version match) */
	char vbios_version[CN_RIM_VERSION_MAX + 1];  /* "96.00.9F.00.01" (for the version match) */
};

/* -EBADMSG (naming the field) when a value is missing, empty, too long or has odd characters. */
int cn_rim_ids_derive(const struct cn_rim_id_inputs *in, struct cn_rim_ids *ret);

/* The same, from the opaque fields of a parsed SPDM measurement report. */
struct cn_spdm_report;
int cn_rim_ids_from_report(const struct cn_spdm_report *rep, struct cn_rim_ids *ret);

/* True if id is a syntactically acceptable RIM id (safe as a file name: [0-9A-Za-z._-], not
 * starting with '.', at most CN_RIM_ID_MAX characters). */
bool cn_rim_id_valid(const char *id);

/* ---------------------------------------------------------------------------------------------
 * RIM sources. A source maps a RIM id to the RIM's XML bytes (not yet verified).
 */
struct cn_rim_source;

struct cn_rim_source_ops {
	/* Returns 0 and a malloc'd buffer (NUL-terminated, NUL not counted), -ENOENT if the source
	 * has no RIM with that id, another negative errno on failure (with cn_err_set()). */
	int (*get)(void *userdata, const char *rim_id, uint8_t **ret_xml, size_t *ret_len);
	/* Optional: frees userdata with the source. */
	void (*free_userdata)(void *userdata);
};

/*
 * A directory source. cn_rim_source_get(id) reads "<dir>/<id>.xml" if it exists. Otherwise it
 * consults an index built (once, on first need) by reading every "*.xml" / "*.swidtag" file in
 * dir and deriving the RIM id the file provides from its identity (Meta colloquialVersion and
 * product; for VBIOS RIMs the project/SKU/chip-SKU come from NVIDIA's file name
 * "<project>_<sku>_<chip>_<vbios hex>_*.swidtag" or "NV_GPU_VBIOS_..._<hex>*.xml" and must agree
 * with colloquialVersion). Two different files providing the same id make that id ambiguous:
 * -ENOTUNIQ with both names (name one "<id>.xml" to choose). The directory must exist (-ENOENT).
 */
int cn_rim_source_new_dir(const char *dir, struct cn_rim_source **ret);

/* A source backed by ops (e.g. the RIM service fetcher). */
int cn_rim_source_new_custom(const struct cn_rim_source_ops *ops, void *userdata,
			     struct cn_rim_source **ret);

/* Gets the XML for rim_id (-EINVAL for an invalid id, -ENOENT if not found, -E2BIG over
 * CN_RIM_SIZE_MAX). On success *ret_origin (optional) gets a malloc'd description of where it
 * came from ("DIR/FILE"), for messages. */
int cn_rim_source_get(struct cn_rim_source *src, const char *rim_id, uint8_t **ret_xml,
		      size_t *ret_len, char **ret_origin);

struct cn_rim_source *cn_rim_source_free(struct cn_rim_source *src);

/* Identity of one indexed file of a directory source (for `--rim-dir` listings and tests). */
struct cn_rim_index_entry {
	char id[CN_RIM_ID_MAX + 1];
	char file[256]; /* file name inside the directory */
	enum cn_rim_kind kind;
	char version[CN_RIM_VERSION_MAX + 1]; /* colloquialVersion */
	char tag_id[CN_RIM_ID_MAX + 1];	      /* SoftwareIdentity/@tagId (truncated if longer) */
};

/* Builds (if needed) and returns the directory index: *ret points into src (valid until
 * cn_rim_source_free()). -EOPNOTSUPP for a non-directory source. Files that are not RIMs are
 * skipped. */
int cn_rim_source_index(struct cn_rim_source *src, const struct cn_rim_index_entry **ret,
			size_t *ret_n);

/* Reads the identity of one RIM file's bytes (used by the index; exposed for the fuzz target):
 * kind, colloquialVersion, product and tagId without validating or verifying anything. file_name
 * (may be NULL) supplies project/SKU/chip for VBIOS RIMs. */
int cn_rim_identify(const uint8_t *xml, size_t len, const char *file_name,
		    struct cn_rim_index_entry *ret);

/* ---------------------------------------------------------------------------------------------
 * Load + verify.
 */

enum cn_rim_chain_status {
	CN_RIM_CHAIN_NOT_CHECKED = 0, /* the signature structure was unusable (no certificates) */
	CN_RIM_CHAIN_VALID,   /* chains to the pinned root, every cert valid at opts->time */
	CN_RIM_CHAIN_EXPIRED, /* chains to the pinned root, but a cert is outside its validity
			       * window at opts->time */
	CN_RIM_CHAIN_INVALID, /* does not chain to the pinned root (or other defect) */
};

/* "valid" / "expired" / "invalid" / "not-checked" (the first three = x-nvidia-cert-status). */
const char *cn_rim_chain_status_name(enum cn_rim_chain_status st);

struct cn_rim_verify_opts {
	time_t time;		   /* verification clock (required, > 0; pass time(NULL) for now) */
	const char *root_pem_path; /* tests only: PEM file whose cert replaces the pinned root */
};

/*
 * Outcome of each check, so that each v3 claim can be set on its own. A check that could not
 * run is false. Every *_reason is "" when the check passed, else one line naming the element,
 * attribute or certificate concerned.
 */
struct cn_rim_status {
	bool schema_validated;	 /* x-nvidia-gpu-*-rim-schema-validated */
	bool signature_verified; /* x-nvidia-gpu-*-rim-signature-verified (XML-DSig math and the
				  * structural rules; key = embedded signer cert) */
	enum cn_rim_chain_status chain_status; /* x-nvidia-cert-status of *-rim-cert-chain */
	time_t chain_not_after; /* earliest notAfter of the chain (x-nvidia-cert-expiration-date);
				 * 0 if no certificate could be read */
	bool measurements_available; /* x-nvidia-gpu-*-rim-measurements-available */
	char schema_reason[CN_RIM_REASON_MAX];
	char signature_reason[CN_RIM_REASON_MAX];
	char chain_reason[CN_RIM_REASON_MAX];
	char measurements_reason[CN_RIM_REASON_MAX];
};

struct cn_rim;

/*
 * Parses and verifies one RIM. Returns 0 with *ret when the XML could be parsed at all (the
 * checks' outcomes are in cn_rim_get_status(); any of them may have failed). Returns -E2BIG over
 * CN_RIM_SIZE_MAX, -EBADMSG when the bytes are not a well-formed XML document acceptable to the
 * strict parser (DTD, entities, not UTF-8, root not SoftwareIdentity...), -EINVAL for bad opts,
 * -ENOMEM. No network access of any kind happens.
 */
int cn_rim_load(const uint8_t *xml, size_t len, const struct cn_rim_verify_opts *opts,
		struct cn_rim **ret);

struct cn_rim *cn_rim_free(struct cn_rim *rim);

const struct cn_rim_status *cn_rim_get_status(const struct cn_rim *rim);

/* True iff schema, signature and chain (VALID) all passed and measurements are available. */
bool cn_rim_trusted(const struct cn_rim *rim);

/* Identity from the (parsed) document; "" when absent. */
enum cn_rim_kind cn_rim_get_kind(const struct cn_rim *rim); /* from colloquialVersion form */
const char *cn_rim_get_version(const struct cn_rim *rim);   /* Meta/@colloquialVersion */
const char *cn_rim_get_product(const struct cn_rim *rim);   /* Meta/@product ("GH100") */
const char *cn_rim_get_tag_id(const struct cn_rim *rim);    /* SoftwareIdentity/@tagId */
const char *
cn_rim_get_manufacturer_id(const struct cn_rim *rim); /* Meta/@ns1:FirmwareManufacturerId
						       * (oemid claim, "5703") */

/*
 * Version match (§4.7, x-nvidia-gpu-*-rim-version-match): the RIM must be of the given kind;
 * the driver version must equal colloquialVersion exactly; a VBIOS version ("96.00.9F.00.01")
 * is compared case-insensitively (hex digits). Pass cn_rim_ids.driver_version / vbios_version.
 */
bool cn_rim_version_match(const struct cn_rim *rim, enum cn_rim_kind kind, const char *version);

/*
 * The signing chain, leaf first, ending with the pinned root, as built by path validation
 * (VALID or EXPIRED status); NULL otherwise. Borrowed (valid until cn_rim_free()). For OCSP query
 * chain[i] with issuer chain[i+1] for i = 0 .. n-2 (spec §3.6).
 */
STACK_OF(X509) * cn_rim_get_chain(const struct cn_rim *rim);
/* The certificates embedded in the signature's KeyInfo, in document order (may be empty). */
STACK_OF(X509) * cn_rim_get_embedded_certs(const struct cn_rim *rim);

/* ---------------------------------------------------------------------------------------------
 * Golden measurements (§4.8).
 */
struct cn_rim_measurement {
	unsigned index;	       /* RIM index (0-based) = SPDM block Index - 1 */
	bool active;	       /* active="True" exactly (CPP semantics) */
	size_t size;	       /* size attribute (bytes) */
	size_t n_alternatives; /* alternatives attribute = number of Hash<i> */
	uint8_t value[CN_RIM_ALTERNATIVES_MAX]
		     [CN_RIM_DIGEST_MAX]; /* Hash0..Hash<n-1>, size bytes */
	char name[64];			  /* name attribute (truncated) */
};

/* All Resource entries in document order (empty when measurements_available is false). */
int cn_rim_get_measurements(const struct cn_rim *rim, const struct cn_rim_measurement **ret,
			    size_t *ret_n);

/* ---------------------------------------------------------------------------------------------
 * Comparison (§4.9).
 */

/* One runtime measurement from the report: SPDM block Index (1-based, as in the report) and its
 * digest (borrowed). */
struct cn_rim_runtime {
	unsigned spdm_index;
	const uint8_t *digest;
	size_t len;
};

enum cn_rim_mismatch_reason {
	CN_RIM_MISMATCH_VALUE = 0, /* no alternative equals the runtime value */
	CN_RIM_MISMATCH_SIZE,	   /* runtime length differs from the golden size */
	CN_RIM_MISMATCH_MISSING,   /* the report has no block for this golden index */
};

/* "value" / "size" / "missing". */
const char *cn_rim_mismatch_reason_name(enum cn_rim_mismatch_reason r);

struct cn_rim_mismatch {
	unsigned index;		 /* RIM index (0-based); SPDM block = index + 1 */
	enum cn_rim_kind source; /* which RIM holds the golden value */
	enum cn_rim_mismatch_reason reason;
	size_t golden_size;
	size_t n_golden;
	uint8_t golden[CN_RIM_ALTERNATIVES_MAX][CN_RIM_DIGEST_MAX]; /* golden_size bytes each */
	bool runtime_present;
	size_t runtime_len;
	uint8_t runtime[CN_RIM_DIGEST_MAX]; /* first min(runtime_len, CN_RIM_DIGEST_MAX) bytes */
};

struct cn_rim_comparison {
	bool index_no_conflict; /* x-nvidia-gpu-vbios-index-no-conflict */
	size_t n_conflicts;	/* indices active in both RIMs (comparison not run) */
	unsigned conflicts[CN_RIM_RESOURCES_MAX];
	bool success;	    /* measres "success" (else "fail") */
	bool msr35_skipped; /* NVDEC0_STATUS was 0x55: golden index 35 not compared */
	size_t n_compared;  /* active golden values compared */
	size_t n_matched;
	size_t n_mismatches;
	struct cn_rim_mismatch *mismatches; /* n_mismatches entries, ordered by source then index */
};

/*
 * Compares the active golden values of the driver and VBIOS RIMs with the runtime measurements:
 * index conflict (fail without comparing), the NVDEC0 rule (nvdec0_status = the opaque type-11
 * value, must be exactly one byte 0x55 or 0xAA; -EBADMSG otherwise, also when NULL), then for each
 * active golden index i the runtime block i+1: match iff its length equals the golden size and
 * some alternative equals it byte for byte. A comparison with no active golden value at all
 * fails. Does not look at the RIMs' verification status: the caller decides whether an
 * untrusted RIM may be compared. -EBADMSG for a duplicate or out-of-range runtime index.
 */
int cn_rim_compare(const struct cn_rim *driver, const struct cn_rim *vbios,
		   const struct cn_rim_runtime *runtime, size_t n_runtime,
		   const uint8_t *nvdec0_status, size_t nvdec0_status_len,
		   struct cn_rim_comparison **ret);

struct cn_rim_comparison *cn_rim_comparison_free(struct cn_rim_comparison *c);
