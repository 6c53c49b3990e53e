/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Live NVIDIA services for the verifier (spec §3.6, §4.2; docs/attest-online.md): the RIM service
 * client, the OCSP client, the cache and bundles, behind the verifier's source interfaces
 * (cn_rim_source, cn_ocsp_source).
 *
 *  - RIM: GET <rim-url>/v1/rim/<id>; the JSON body's "id" must equal the requested id, "rim" is
 *    strict base64 of the XML (capped). Order: bundle, cache (each entry verified before use:
 *    schema, XML-DSig, chain to the anchor at the verification time), then the service.
 *  - OCSP: POST the DER request (SHA-384 CertID, 32-byte nonce) to <ocsp-url> with
 *    Content-Type application/ocsp-request and Accept application/ocsp-response. Order: live
 *    first; if that fails (network, deadline, HTTP error, tryLater/internalError), the stored
 *    answers: cache, bundle, --ocsp-dir. Offline: stored answers only. The freshness rules for
 *    stored answers are in attest/ocsp.h.
 *  - cn_live_prefetch() sends every request an evidence set needs at once (attest/net multi):
 *    the RIMs and the device-chain OCSP requests of every GPU in one batch, then the OCSP
 *    requests of the RIM signing chains in a second. Identical requests (the same RIM or the
 *    same certificate on several GPUs) go out once. Sources then answer from memory; a request
 *    that was not prefetched is sent on its own.
 *  - Live answers are written to the cache (RIMs by id, OCSP by CertID) for a later outage.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "base/cleanup.h"

struct cn_rim;
struct cn_rim_source;

#define CN_LIVE_RIM_URL_DEFAULT "https://rim.attestation.nvidia.com"
#define CN_LIVE_OCSP_URL_DEFAULT "https://ocsp.ndis.nvidia.com/"
#define CN_LIVE_NET_TIMEOUT_S_DEFAULT 30L
#define CN_LIVE_RIM_BODY_MAX (4u * 1024 * 1024) /* JSON body of one RIM */

struct cn_live_opts {
	const char *rim_url;	 /* NULL: $NV_RIM_URL, else CN_LIVE_RIM_URL_DEFAULT */
	const char *ocsp_url;	 /* NULL: $NV_OCSP_URL, else CN_LIVE_OCSP_URL_DEFAULT */
	const char *ca_bundle;	 /* NULL: $REQUESTS_CA_BUNDLE, $CURL_CA_BUNDLE, system store */
	const char *service_key; /* NULL: $NVIDIA_ATTESTATION_SERVICE_KEY, else no Authorization */
	long net_timeout_s;	 /* deadline of each batch; 0: CN_LIVE_NET_TIMEOUT_S_DEFAULT */
	const char *cache_dir;	 /* NULL: no cache */
	const char *bundle_dir;	 /* NULL: none (read-only, cache layout) */
	const char *ocsp_dir;	 /* NULL: none (DER responses, any names) */
	bool offline;		 /* no network at all */
	long ocsp_max_age_s;	 /* stored OCSP answers; 0: CN_OCSP_STORED_MAX_AGE_S_DEFAULT */
	const char *rim_root_path; /* tests: replaces the pinned CoRIM root for cached RIMs */
	time_t now;		   /* verification clock (0: time(NULL)) */
	bool http1_only;	   /* benchmarks: the HTTP/1.1 path */
	unsigned max_parallel;	   /* 0: default; 1: one request at a time (benchmarks) */
};

struct cn_live;

int cn_live_new(const struct cn_live_opts *o, struct cn_live **ret);
void cn_live_free(struct cn_live *l);
CN_DEFINE_CLEANUP(struct cn_live *, cn_live_free)

/*
 * Fetches what set needs (see above), with nonce the nonce of this run (the OCSP requests carry
 * it, exactly as cn_ocsp_check_chain() builds them). Failures are not returned here: they are
 * kept and reported by the sources when the verifier asks. < 0 only for -ENOMEM / internal errors.
 */
int cn_live_prefetch(struct cn_live *l, const struct cn_evidence_set *set,
		     const uint8_t nonce[CN_OCSP_NONCE_LEN]);

/* Fetches RIMs by id, and the OCSP answers of their signing chains (for bundles). */
int cn_live_prefetch_rims(struct cn_live *l, const char *const *ids, size_t n,
			  const uint8_t nonce[CN_OCSP_NONCE_LEN]);

/*
 * Hands every RIM that l loaded and verified (at opts.now against opts.rim_root_path) to fn,
 * which takes it: the verifier's per-run RIM cache, so that a run loads each RIM once. The RIM
 * source keeps answering with the XML.
 */
void cn_live_give_rims(struct cn_live *l,
		       void (*fn)(void *userdata, const char *id, struct cn_rim *rim),
		       void *userdata);

/* A RIM source answering from l (borrowed: free the source before l). */
int cn_live_rim_source(struct cn_live *l, struct cn_rim_source **ret);
/* An OCSP source answering from l. */
struct cn_ocsp_source cn_live_ocsp_source(struct cn_live *l);

/*
 * Writes every RIM and OCSP answer l holds into dir (cache layout, created 0700) and returns the
 * number of RIMs and OCSP answers written. -ENODATA (with a message naming what is missing) when
 * a prefetched RIM or OCSP answer could not be fetched.
 */
int cn_live_write_bundle(struct cn_live *l, const char *dir, size_t *ret_rims, size_t *ret_ocsp);

/*
 * What happened, for --json and benchmarks: {"rims": [{id, origin, ms}], "ocsp": [{cert,
 * origin, ms}], "batches": n, "requests": n, "retries": n, "connections": n, "ms": total}.
 */
json_t *cn_live_report(const struct cn_live *l);

/* The RIM service URL for id under base (…/v1/rim/<id>; a base already ending in /v1/rim/ is
 * used as is). Caller frees. */
char *cn_live_rim_url(const char *base, const char *id);

/*
 * Parses the RIM service's JSON body: an object whose "id" equals want_id and whose "rim" is
 * standard base64 (padding, no whitespace) of at most CN_RIM_SIZE_MAX bytes. *ret (malloc'd,
 * NUL-terminated) is the XML. -EBADMSG naming the field otherwise.
 */
int cn_live_rim_json_parse(const uint8_t *buf, size_t len, const char *want_id, uint8_t **ret,
			   size_t *ret_len);
