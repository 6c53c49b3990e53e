/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Many small HTTPS requests at once (curl multi), for clients that need a batch of answers before
 * they can go on: the attestation RIM and OCSP clients fetch every RIM and every OCSP answer of
 * every GPU in one batch.
 *
 *  - Every easy handle is set up by cn_http_easy_new() (https only, TLS verification on,
 *    injectable trust anchors, capped bodies): the rules of net/http.h hold unchanged.
 *  - One multi handle: connections are reused across requests and retries, HTTP/2 is negotiated
 *    where the server offers it (ALPN) and then multiplexes the requests of one host.
 *  - Retries with jittered exponential backoff on connect/TLS-handshake/reset errors and on HTTP
 *    408, 429 and 5xx; a Retry-After header (seconds or date) sets the wait instead. A wait that
 *    would end after the batch deadline is not waited: the request fails at once.
 *  - Deadlines: each attempt is bounded by request_timeout_ms, the whole batch by deadline_ms.
 *    Nothing waits past the deadline; every request still unanswered then fails with -ETIMEDOUT
 *    and a message naming its URL.
 * Thread-compatible (no global state besides curl_global_init).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

#define CN_NET_REQUEST_TIMEOUT_MS_DEFAULT 10000L
#define CN_NET_DEADLINE_MS_DEFAULT 30000L
#define CN_NET_ATTEMPTS_DEFAULT 4u
#define CN_NET_BACKOFF_INITIAL_MS_DEFAULT 100L
#define CN_NET_BACKOFF_MAX_MS_DEFAULT 5000L
#define CN_NET_PARALLEL_DEFAULT 64u
#define CN_NET_BATCH_MAX 4096u

enum cn_net_method {
	CN_NET_GET = 0,
	CN_NET_POST,
};

struct cn_net_request {
	/* in (borrowed) */
	const char *url;
	enum cn_net_method method;
	const void *body; /* POST */
	size_t body_len;
	const char *content_type; /* POST: "Content-Type: ..." value */
	const char *accept;	  /* NULL: no Accept header */
	size_t max_body;	  /* 0: the batch's http.max_body */

	/* out: result 0 when a final HTTP response arrived (any status, after the retries), else a
	 * negative errno with err naming the URL. */
	int result;
	long status;
	uint8_t *resp; /* owned, NUL-terminated (not counted) */
	size_t resp_len;
	unsigned attempts;
	long http_version; /* CURL_HTTP_VERSION_* of the final response */
	double ms;	   /* from the batch start to the final answer */
	char err[512];
};

struct cn_net_batch_opts {
	struct cn_http_opts http; /* transport rules (total_timeout_ms is ignored) */
	long request_timeout_ms;  /* one attempt; 0: default */
	long deadline_ms;	  /* the whole batch; 0: default */
	unsigned max_attempts;	  /* 0: default; 1: no retry */
	long backoff_initial_ms;  /* 0: default */
	long backoff_max_ms;	  /* 0: default */
	unsigned max_parallel;	  /* transfers at once; 0: default */
	bool http1_only;	  /* tests/benchmarks: no HTTP/2 */
	long retry_after_max_s;	  /* 0: the deadline decides */
};

struct cn_net_batch_stats {
	unsigned attempts;    /* transfers started */
	unsigned retries;     /* of which retries */
	unsigned connections; /* new connections opened */
	double ms;	      /* wall time of the batch */
};

/*
 * Runs every request of reqs[0..n) to completion or failure. Returns 0 when the batch ran (look at
 * each request's result), < 0 only when it could not run at all (-ENOMEM, -EINVAL, libcurl
 * unusable). stats may be NULL.
 */
int cn_net_batch_run(const struct cn_net_batch_opts *o, struct cn_net_request *reqs, size_t n,
		     struct cn_net_batch_stats *stats);

/*
 * An engine keeps one multi handle, and with it the open connections (and TLS sessions), from
 * one batch to the next: a client that sends several batches to the same hosts connects once.
 */
struct cn_net_engine;
int cn_net_engine_new(struct cn_net_engine **ret);
void cn_net_engine_free(struct cn_net_engine *e);
int cn_net_engine_run(struct cn_net_engine *e, const struct cn_net_batch_opts *o,
		      struct cn_net_request *reqs, size_t n, struct cn_net_batch_stats *stats);

/* Frees the response of a request (the inputs are borrowed). */
void cn_net_request_clear(struct cn_net_request *r);

/* True for an HTTP status the engine retries (408, 429, 5xx). */
bool cn_net_status_retryable(long status);

/*
 * The trust anchors for a client that follows the hub's convention: explicit (non-NULL) wins,
 * then $REQUESTS_CA_BUNDLE, then $CURL_CA_BUNDLE, else NULL (the system store).
 */
const char *cn_net_ca_bundle(const char *explicit_path);
