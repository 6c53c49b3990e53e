/* SPDX-License-Identifier: Apache-2.0 */
/* Live RIM and OCSP clients with the cache and bundles (see live.h, docs/attest-online.md). */
#include "attest/live.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>

#include "attest/cache.h"
#include "attest/chain.h"
#include "attest/rim/rim.h"
#include "attest/spdm.h"
#include "base/log.h"
#include "net/multi.h"

#define MSG_MAX 640
#define ITEMS_MAX 1024u /* distinct RIMs or certificates of one run */

struct rim_item {
	char id[CN_RIM_ID_MAX + 1];
	uint8_t *xml;
	size_t len;
	bool tried;	   /* the service was asked */
	bool stored;	   /* the bundle and the cache were consulted */
	int err;	   /* < 0: not obtained */
	char msg[MSG_MAX]; /* why not, naming the URL or file */
	char origin[MSG_MAX];
	double ms;
	long http;	    /* CURL_HTTP_VERSION_* of the answer */
	struct cn_rim *rim; /* xml loaded and verified at the verification time */
};

struct ocsp_item {
	OCSP_CERTID *id;
	char key[65];
	char name[128]; /* subject CN, for messages */
	uint8_t *req;
	size_t req_len;
	bool sent;
	OCSP_RESPONSE *live; /* the answer to this run's request */
	int err;	     /* < 0: live failed */
	char msg[MSG_MAX];
	char origin[MSG_MAX]; /* where the answer handed out came from */
	double ms;
	long http;
};

struct cn_live {
	char *rim_url, *ocsp_url, *ca_bundle, *bearer, *rim_root;
	long timeout_s, max_age;
	bool offline, http1;
	unsigned par;
	time_t now;
	struct cn_attest_cache *cache, *bundle;
	struct cn_ocsp_dir *odir;
	struct cn_net_engine *net; /* connections kept from one batch to the next */
	struct rim_item *rims;
	size_t n_rims;
	struct ocsp_item *ocsp;
	size_t n_ocsp;
	unsigned batches, requests, retries, connections;
	double net_ms;
	uint8_t nonce[CN_OCSP_NONCE_LEN]; /* of the prefetched requests */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *env_or(const char *v, const char *env, const char *def)
{
	const char *e = env ? getenv(env) : NULL;

	if (v)
		return v;
	return e && e[0] ? e : def;
}

void cn_live_free(struct cn_live *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_rims; i++) {
		free(l->rims[i].xml);
		cn_rim_free(l->rims[i].rim);
	}
	for (size_t i = 0; i < l->n_ocsp; i++) {
		OCSP_CERTID_free(l->ocsp[i].id);
		OCSP_RESPONSE_free(l->ocsp[i].live);
		free(l->ocsp[i].req);
	}
	free(l->rims);
	free(l->ocsp);
	cn_attest_cache_free(l->cache);
	cn_attest_cache_free(l->bundle);
	cn_ocsp_dir_free(l->odir);
	cn_net_engine_free(l->net);
	free(l->rim_url);
	free(l->ocsp_url);
	free(l->ca_bundle);
	free(l->bearer);
	free(l->rim_root);
	free(l);
}

int cn_live_new(const struct cn_live_opts *o, struct cn_live **ret)
{
	_cleanup_(cn_live_freep) struct cn_live *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return cn_err_set(-ENOMEM, "out of memory");
	l->rim_url = strdup(env_or(o->rim_url, "NV_RIM_URL", CN_LIVE_RIM_URL_DEFAULT));
	l->ocsp_url = strdup(env_or(o->ocsp_url, "NV_OCSP_URL", CN_LIVE_OCSP_URL_DEFAULT));
	l->ca_bundle = dup_or_null(cn_net_ca_bundle(o->ca_bundle));
	l->bearer = dup_or_null(env_or(o->service_key, "NVIDIA_ATTESTATION_SERVICE_KEY", NULL));
	l->rim_root = dup_or_null(o->rim_root_path);
	l->rims = calloc(ITEMS_MAX, sizeof(*l->rims));
	l->ocsp = calloc(ITEMS_MAX, sizeof(*l->ocsp));
	if (!l->rim_url || !l->ocsp_url || !l->rims || !l->ocsp)
		return cn_err_set(-ENOMEM, "out of memory");
	l->timeout_s = o->net_timeout_s > 0 ? o->net_timeout_s : CN_LIVE_NET_TIMEOUT_S_DEFAULT;
	l->max_age = o->ocsp_max_age_s > 0 ? o->ocsp_max_age_s : CN_OCSP_STORED_MAX_AGE_S_DEFAULT;
	l->offline = o->offline;
	l->http1 = o->http1_only;
	l->par = o->max_parallel;
	l->now = o->now ? o->now : time(NULL);
	if (!o->offline && (r = cn_http_global_init()) < 0)
		return r; /* named: libcurl and why it could not be loaded */
	if (!o->offline &&
	    (!cn_http_url_is_https(l->rim_url) || !cn_http_url_is_https(l->ocsp_url)))
		return cn_err_set(-EINVAL,
				  "the RIM service URL '%s' and the OCSP URL '%s' must be https",
				  l->rim_url, l->ocsp_url);
	if (o->cache_dir && cn_attest_cache_open(o->cache_dir, true, &l->cache) < 0) {
		log_warning("attest cache disabled: %s", cn_err_msg());
		l->cache = NULL;
	}
	if (o->bundle_dir) {
		r = cn_attest_cache_open(o->bundle_dir, false, &l->bundle);
		if (r < 0)
			return cn_net_err_wrap(r, "--bundle '%s'", o->bundle_dir);
	}
	if (o->ocsp_dir) {
		r = cn_ocsp_dir_open(o->ocsp_dir, &l->odir);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* ---- items ---- */

static struct rim_item *rim_get(struct cn_live *l, const char *id, bool add)
{
	for (size_t i = 0; i < l->n_rims; i++)
		if (strcmp(l->rims[i].id, id) == 0)
			return &l->rims[i];
	if (!add || l->n_rims >= ITEMS_MAX || !cn_rim_id_valid(id))
		return NULL;
	struct rim_item *it = &l->rims[l->n_rims++];
	(void)snprintf(it->id, sizeof(it->id), "%s", id);
	return it;
}

static struct ocsp_item *ocsp_find(struct cn_live *l, const char *key)
{
	for (size_t i = 0; i < l->n_ocsp; i++)
		if (strcmp(l->ocsp[i].key, key) == 0)
			return &l->ocsp[i];
	return NULL;
}

/* Adds the OCSP request for cert (issued by issuer) unless already there. */
static int ocsp_add(struct cn_live *l, X509 *cert, X509 *issuer,
		    const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	OCSP_CERTID *id = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char key[65], *cn = NULL;
	int r;

	r = cn_ocsp_request_build(cert, issuer, nonce, NULL, &id, &der, &len);
	if (r < 0)
		return r;
	r = cn_attest_cache_ocsp_key(id, key);
	if (r < 0 || ocsp_find(l, key) || l->n_ocsp >= ITEMS_MAX) {
		OCSP_CERTID_free(id);
		free(der);
		return r < 0 ? r : 0;
	}
	struct ocsp_item *it = &l->ocsp[l->n_ocsp++];
	*it = (struct ocsp_item){.id = id, .req = der, .req_len = len};
	memcpy(it->key, key, sizeof(key));
	(void)cn_cert_subject_cn(cert, &cn);
	(void)snprintf(it->name, sizeof(it->name), "%s", cn ? cn : "?");
	free(cn);
	return 0;
}

static int ocsp_add_chain(struct cn_live *l, STACK_OF(X509) * chain, int first, int last,
			  const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	for (int i = first; i <= last && i + 1 < sk_X509_num(chain); i++) {
		int r = ocsp_add(l, sk_X509_value(chain, i), sk_X509_value(chain, i + 1), nonce);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- RIMs from the bundle or the cache, verified before use ---- */

static bool rim_usable(struct cn_live *l, const uint8_t *xml, size_t len, const char *path,
		       struct cn_rim **ret)
{
	struct cn_rim_verify_opts vo = {.time = l->now, .root_pem_path = l->rim_root};
	struct cn_rim *rim = NULL;

	if (cn_rim_load(xml, len, &vo, &rim) < 0) {
		log_warning("ignoring stored RIM '%s': %s", path, cn_err_msg());
		return false;
	}
	if (!cn_rim_trusted(rim)) {
		const struct cn_rim_status *st = cn_rim_get_status(rim);

		log_warning(
		    "ignoring stored RIM '%s': not trusted at the verification time (%s%s%s)", path,
		    st->schema_reason, st->signature_reason, st->chain_reason);
		cn_rim_free(rim);
		return false;
	}
	*ret = rim; /* loaded once: the prefetch and the verifier use it */
	return true;
}

static void rim_from_store(struct cn_live *l, struct rim_item *it)
{
	struct cn_attest_cache *stores[2] = {l->bundle, l->cache};

	if (it->stored)
		return;
	it->stored = true;
	for (int s = 0; s < 2 && !it->xml; s++) {
		_cleanup_free_ char *path = NULL;
		uint8_t *buf = NULL;
		size_t len = 0;
		int r;

		if (!stores[s])
			continue;
		r = cn_attest_cache_get(stores[s], CN_CACHE_RIM, it->id, &buf, &len, &path);
		if (r == -EBADMSG)
			log_warning("ignoring %s (fetching again)", cn_err_msg());
		if (r < 0)
			continue;
		if (!rim_usable(l, buf, len, path, &it->rim)) {
			free(buf);
			continue;
		}
		it->xml = buf;
		it->len = len;
		it->err = 0;
		(void)snprintf(it->origin, sizeof(it->origin), "%s", path);
	}
	cn_err_clear();
}

/* ---- one batch of network requests ---- */

static void rim_answer(struct cn_live *l, struct rim_item *it, const struct cn_net_request *q)
{
	int r;

	it->ms = q->ms;
	it->http = q->http_version;
	if (q->result < 0) {
		it->err = q->result;
		(void)snprintf(it->msg, sizeof(it->msg), "RIM service: %s", q->err);
		return;
	}
	if (q->status != 200) {
		it->err = q->status == 404			 ? -ENOENT
			  : q->status == 401 || q->status == 403 ? -EACCES
								 : -EIO;
		(void)snprintf(it->msg, sizeof(it->msg), "RIM service: %s '%s' (HTTP %ld)",
			       q->status == 404 ? "no RIM at" : "refused by", q->url, q->status);
		return;
	}
	r = cn_live_rim_json_parse(q->resp, q->resp_len, it->id, &it->xml, &it->len);
	if (r < 0) {
		it->err = r;
		(void)snprintf(it->msg, sizeof(it->msg), "RIM service '%s': %s", q->url,
			       cn_err_msg());
		return;
	}
	it->err = 0;
	(void)snprintf(it->origin, sizeof(it->origin), "%s", q->url);
	if (l->cache && cn_attest_cache_put(l->cache, CN_CACHE_RIM, it->id, it->xml, it->len) < 0)
		log_warning("%s", cn_err_msg());
}

static void ocsp_answer(struct cn_live *l, struct ocsp_item *it, const struct cn_net_request *q)
{
	OCSP_RESPONSE *resp = NULL;
	int st;

	it->ms = q->ms;
	it->http = q->http_version;
	if (q->result < 0) {
		it->err = q->result;
		(void)snprintf(it->msg, sizeof(it->msg), "OCSP: %s", q->err);
		return;
	}
	if (q->status != 200) {
		it->err = q->status == 401 || q->status == 403 ? -EACCES : -EIO;
		(void)snprintf(it->msg, sizeof(it->msg), "OCSP: HTTP %ld from '%s'", q->status,
			       q->url);
		return;
	}
	if (cn_ocsp_response_parse(q->resp, q->resp_len, &resp) < 0) {
		it->err = -EBADMSG;
		(void)snprintf(it->msg, sizeof(it->msg), "OCSP: answer from '%s': %s", q->url,
			       cn_err_msg());
		return;
	}
	st = OCSP_response_status(resp);
	if (st == OCSP_RESPONSE_STATUS_TRYLATER || st == OCSP_RESPONSE_STATUS_INTERNALERROR) {
		it->err = -EAGAIN;
		(void)snprintf(it->msg, sizeof(it->msg), "OCSP: '%s' answered %s", q->url,
			       OCSP_response_status_str(st));
		OCSP_RESPONSE_free(resp);
		return;
	}
	it->live = resp;
	it->err = 0;
	(void)snprintf(it->origin, sizeof(it->origin), "%s", q->url);
	/* Cache only answers that a later run could use: fresh and covering the certificate. */
	if (l->cache && cn_ocsp_stored_fresh(resp, it->id, l->now, l->max_age, NULL, 0) == 0) {
		char key[65];

		memcpy(key, it->key, sizeof(key));
		if (cn_attest_cache_put(l->cache, CN_CACHE_OCSP, key, q->resp, q->resp_len) < 0)
			log_warning("%s", cn_err_msg());
	}
}

static int run_batch(struct cn_live *l)
{
	_cleanup_free_ struct cn_net_request *q = NULL;
	_cleanup_free_ char **urls = NULL;
	_cleanup_free_ size_t *which = NULL;
	struct cn_net_batch_opts bo = {
	    .http = {.ca_bundle = l->ca_bundle, .bearer = l->bearer},
	    .deadline_ms = l->timeout_s * 1000,
	    .request_timeout_ms = l->timeout_s * 1000,
	    .max_parallel = l->par,
	    .http1_only = l->http1,
	};
	struct cn_net_batch_stats st = {0};
	size_t n = 0, cap = l->n_rims + l->n_ocsp;
	int r;

	if (l->offline || !cap)
		return 0;
	q = calloc(cap, sizeof(*q));
	urls = calloc(cap, sizeof(*urls));
	which = calloc(cap, sizeof(*which));
	if (!q || !urls || !which)
		return cn_err_set(-ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n_rims; i++) {
		struct rim_item *it = &l->rims[i];

		if (it->xml || it->tried)
			continue;
		it->tried = true;
		urls[n] = cn_live_rim_url(l->rim_url, it->id);
		if (!urls[n]) {
			r = cn_err_set(-ENOMEM, "out of memory");
			goto out;
		}
		q[n] = (struct cn_net_request){.url = urls[n],
					       .method = CN_NET_GET,
					       .accept = "application/json",
					       .max_body = CN_LIVE_RIM_BODY_MAX};
		which[n++] = i;
	}
	for (size_t i = 0; i < l->n_ocsp; i++) {
		struct ocsp_item *it = &l->ocsp[i];

		if (it->sent)
			continue;
		it->sent = true;
		q[n] = (struct cn_net_request){.url = l->ocsp_url,
					       .method = CN_NET_POST,
					       .body = it->req,
					       .body_len = it->req_len,
					       .content_type = "application/ocsp-request",
					       .accept = "application/ocsp-response",
					       .max_body = CN_OCSP_RESPONSE_MAX};
		which[n++] = l->n_rims + i;
	}
	r = 0;
	if (!n)
		goto out;
	if (!l->net) {
		r = cn_net_engine_new(&l->net);
		if (r < 0)
			goto out;
	}
	r = cn_net_engine_run(l->net, &bo, q, n, &st);
	if (r < 0)
		goto out;
	l->batches++;
	l->requests += st.attempts;
	l->retries += st.retries;
	l->connections += st.connections;
	l->net_ms += st.ms;
	for (size_t k = 0; k < n; k++) {
		if (which[k] < l->n_rims)
			rim_answer(l, &l->rims[which[k]], &q[k]);
		else
			ocsp_answer(l, &l->ocsp[which[k] - l->n_rims], &q[k]);
		cn_net_request_clear(&q[k]);
	}
out:
	for (size_t k = 0; k < cap; k++)
		free(urls[k]);
	return r;
}

/* ---- prefetch ---- */

static int add_gpu(struct cn_live *l, const struct cn_gpu_evidence *ev,
		   const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	_cleanup_(cn_spdm_report_freep) struct cn_spdm_report *rep = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
	struct cn_rim_ids ids;
	int r;

	/* Malformed evidence is the verifier's to report: skip what cannot be read here. */
	if (cn_spdm_parse(ev->report, ev->report_len, &rep) >= 0 &&
	    cn_rim_ids_from_report(rep, &ids) >= 0) {
		(void)rim_get(l, ids.driver_id, true);
		(void)rim_get(l, ids.vbios_id, true);
	}
	if (cn_chain_split(ev->chain, ev->chain_len, &chain) >= 0 && sk_X509_num(chain) >= 3) {
		r = ocsp_add_chain(l, chain, 1, sk_X509_num(chain) - 2, nonce);
		if (r < 0)
			return r;
	}
	cn_err_clear();
	return 0;
}

/* Stored RIMs first; then one batch with the missing RIMs and every OCSP request known so far;
 * then one with the OCSP requests of the RIM signing chains. */
static int prefetch_run(struct cn_live *l, const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	int r;

	for (size_t i = 0; i < l->n_rims; i++)
		if (!l->rims[i].xml)
			rim_from_store(l, &l->rims[i]);
	r = run_batch(l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n_rims; i++) {
		struct rim_item *it = &l->rims[i];
		struct cn_rim_verify_opts vo = {.time = l->now, .root_pem_path = l->rim_root};
		STACK_OF(X509) * chain;

		if (!it->xml || (!it->rim && cn_rim_load(it->xml, it->len, &vo, &it->rim) < 0))
			continue;
		chain = cn_rim_get_chain(it->rim);
		r = chain ? ocsp_add_chain(l, chain, 0, sk_X509_num(chain) - 2, nonce) : 0;
		if (r < 0)
			return r;
	}
	cn_err_clear();
	return run_batch(l);
}

int cn_live_prefetch(struct cn_live *l, const struct cn_evidence_set *set,
		     const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	memcpy(l->nonce, nonce, CN_OCSP_NONCE_LEN);
	for (size_t g = 0; g < set->n; g++) {
		int r = add_gpu(l, &set->gpus[g], nonce);

		if (r < 0)
			return r;
	}
	return prefetch_run(l, nonce);
}

int cn_live_prefetch_rims(struct cn_live *l, const char *const *ids, size_t n,
			  const uint8_t nonce[CN_OCSP_NONCE_LEN])
{
	memcpy(l->nonce, nonce, CN_OCSP_NONCE_LEN);
	for (size_t i = 0; i < n; i++)
		if (!rim_get(l, ids[i], true))
			return cn_err_set(-EINVAL, "invalid RIM id '%.*s' (or too many)",
					  (int)CN_RIM_ID_MAX, ids[i]);
	return prefetch_run(l, nonce);
}

/* ---- the sources ---- */

static int rim_src_get(void *userdata, const char *id, uint8_t **ret_xml, size_t *ret_len)
{
	struct cn_live *l = userdata;
	struct rim_item *it = rim_get(l, id, true);
	uint8_t *copy;
	int r;

	if (!it)
		return cn_err_set(-E2BIG, "too many RIMs in one run");
	if (!it->xml && !it->tried) {
		rim_from_store(l, it);
		if (!it->xml) {
			if (l->offline) {
				it->tried = true;
				it->err = -ENOENT;
				(void)snprintf(it->msg, sizeof(it->msg),
					       "RIM '%s' is neither in the bundle nor in the cache "
					       "(offline)",
					       id);
			} else {
				r = run_batch(l);
				if (r < 0)
					return r;
			}
		}
	}
	if (!it->xml)
		return cn_err_set(it->err < 0 ? it->err : -ENOENT, "%s",
				  it->msg[0] ? it->msg : "RIM not available");
	copy = malloc(it->len + 1);
	if (!copy)
		return cn_err_set(-ENOMEM, "out of memory");
	memcpy(copy, it->xml, it->len);
	copy[it->len] = 0;
	*ret_xml = copy;
	*ret_len = it->len;
	return 0;
}

void cn_live_give_rims(struct cn_live *l,
		       void (*fn)(void *userdata, const char *id, struct cn_rim *rim),
		       void *userdata)
{
	for (size_t i = 0; i < l->n_rims; i++)
		if (l->rims[i].rim)
			fn(userdata, l->rims[i].id, TAKE_PTR(l->rims[i].rim));
}

int cn_live_rim_source(struct cn_live *l, struct cn_rim_source **ret)
{
	static const struct cn_rim_source_ops ops = {.get = rim_src_get};

	return cn_rim_source_new_custom(&ops, l, ret);
}

/* A stored answer for it: the first fresh one of cache, bundle, --ocsp-dir; else the first stale
 * one (so that the verifier rejects it with its dates), named in *why. */
static int ocsp_stored(struct cn_live *l, struct ocsp_item *it, const uint8_t *nonce,
		       OCSP_RESPONSE **ret, char *why, size_t why_len)
{
	struct cn_attest_cache *stores[2] = {l->cache, l->bundle};
	OCSP_RESPONSE *stale = NULL;

	why[0] = 0;
	for (int s = 0; s < 3; s++) {
		_cleanup_free_ char *path = NULL;
		OCSP_RESPONSE *resp = NULL;
		char w[200];
		int r;

		if (s < 2) {
			_cleanup_free_ uint8_t *buf = NULL;
			size_t len = 0;

			if (!stores[s])
				continue;
			r = cn_attest_cache_get(stores[s], CN_CACHE_OCSP, it->key, &buf, &len,
						&path);
			if (r == -EBADMSG)
				log_warning("ignoring %s", cn_err_msg());
			if (r < 0 || cn_ocsp_response_parse(buf, len, &resp) < 0)
				continue;
		} else {
			struct cn_ocsp_source ds;

			if (!l->odir)
				continue;
			ds = cn_ocsp_dir_source(l->odir);
			if (ds.fetch(ds.userdata, it->req, it->req_len, it->id, nonce, &resp) < 0)
				continue;
			path = strdup("--ocsp-dir");
		}
		r = cn_ocsp_stored_fresh(resp, it->id, l->now, l->max_age, w, sizeof(w));
		if (r == 0) {
			OCSP_RESPONSE_free(stale);
			(void)snprintf(it->origin, sizeof(it->origin), "%s", path ? path : "");
			*ret = resp;
			return CN_OCSP_FROM_STORE;
		}
		if (r == -ESTALE && !stale) {
			stale = resp;
			(void)snprintf(why, why_len, "the stored answer '%s' %s", path ? path : "",
				       w);
			(void)snprintf(it->origin, sizeof(it->origin), "%s (stale)",
				       path ? path : "");
		} else {
			OCSP_RESPONSE_free(resp);
		}
	}
	cn_err_clear();
	if (!stale)
		return -ENOENT;
	*ret = stale;
	return CN_OCSP_FROM_STORE;
}

static int ocsp_src_fetch(void *userdata, const uint8_t *req_der, size_t req_len, OCSP_CERTID *id,
			  const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	struct cn_live *l = userdata;
	struct ocsp_item *it;
	char key[65], why[MSG_MAX];
	int r;

	r = cn_attest_cache_ocsp_key(id, key);
	if (r < 0)
		return r;
	it = ocsp_find(l, key);
	if (!it) {
		if (l->n_ocsp >= ITEMS_MAX)
			return cn_err_set(-E2BIG, "too many OCSP requests in one run");
		it = &l->ocsp[l->n_ocsp];
		*it = (struct ocsp_item){.id = OCSP_CERTID_dup(id),
					 .req = malloc(req_len ? req_len : 1),
					 .req_len = req_len};
		if (!it->id || !it->req) {
			OCSP_CERTID_free(it->id);
			free(it->req);
			return cn_err_set(-ENOMEM, "out of memory");
		}
		memcpy(it->req, req_der, req_len);
		memcpy(it->key, key, sizeof(key));
		(void)snprintf(it->name, sizeof(it->name), "CertID %.16s", key);
		l->n_ocsp++;
		r = run_batch(l);
		if (r < 0)
			return r;
	}
	if (it->live) {
		*ret = ASN1_item_dup(ASN1_ITEM_rptr(OCSP_RESPONSE), it->live);
		return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
	}
	r = ocsp_stored(l, it, nonce, ret, why, sizeof(why));
	if (r >= 0) {
		if (why[0])
			log_warning("OCSP for '%s': %s%s%s", it->name, l->offline ? "" : it->msg,
				    l->offline ? "" : "; ", why);
		else if (!l->offline)
			log_warning("OCSP for '%s': %s; using the stored answer '%s'", it->name,
				    it->msg, it->origin);
		return r;
	}
	if (l->offline)
		return cn_err_set(-ENOENT,
				  "OCSP for '%s': no stored answer in the cache, bundle or "
				  "--ocsp-dir (offline)",
				  it->name);
	return cn_err_set(it->err < 0 ? it->err : -EIO, "OCSP for '%s': %s; no stored answer",
			  it->name, it->msg);
}

struct cn_ocsp_source cn_live_ocsp_source(struct cn_live *l)
{
	return (struct cn_ocsp_source){
	    .fetch = ocsp_src_fetch, .userdata = l, .stored_max_age_s = l->max_age};
}

/* ---- bundles and the report ---- */

/* 1 if resp is successful and echoes l->nonce, 0 if not, < 0 on ENOMEM. */
static int nonce_echoed(struct cn_live *l, OCSP_RESPONSE *resp)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_BASICRESP *bs = NULL;
	int ok = 0;

	if (!req || OCSP_request_add1_nonce(req, l->nonce, CN_OCSP_NONCE_LEN) != 1) {
		OCSP_REQUEST_free(req);
		return cn_err_set(-ENOMEM, "out of memory");
	}
	if (OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
	    (bs = OCSP_response_get1_basic(resp)))
		ok = OCSP_check_nonce(req, bs) == 1;
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	return ok;
}

int cn_live_write_bundle(struct cn_live *l, const char *dir, size_t *ret_rims, size_t *ret_ocsp)
{
	_cleanup_(cn_attest_cache_freep) struct cn_attest_cache *out = NULL;
	size_t nr = 0, no = 0;
	int r;

	for (size_t i = 0; i < l->n_rims; i++)
		if (!l->rims[i].xml)
			return cn_err_set(-ENODATA, "RIM '%s': %s", l->rims[i].id,
					  l->rims[i].msg[0] ? l->rims[i].msg : "not fetched");
	for (size_t i = 0; i < l->n_ocsp; i++) {
		if (!l->ocsp[i].live)
			return cn_err_set(-ENODATA, "OCSP for '%s': %s", l->ocsp[i].name,
					  l->ocsp[i].msg[0] ? l->ocsp[i].msg : "not fetched");
		r = nonce_echoed(l, l->ocsp[i].live);
		if (r <= 0)
			return r < 0 ? r
				     : cn_err_set(-ENODATA,
						  "OCSP for '%s': the answer from '%s' is not "
						  "successful or does not echo the nonce",
						  l->ocsp[i].name, l->ocsp[i].origin);
	}
	r = cn_attest_cache_open(dir, true, &out);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n_rims; i++, nr++) {
		r = cn_attest_cache_put(out, CN_CACHE_RIM, l->rims[i].id, l->rims[i].xml,
					l->rims[i].len);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < l->n_ocsp; i++, no++) {
		unsigned char *der = NULL;
		int n = i2d_OCSP_RESPONSE(l->ocsp[i].live, &der);

		if (n <= 0)
			return cn_err_set(-ENOMEM, "out of memory");
		r = cn_attest_cache_put(out, CN_CACHE_OCSP, l->ocsp[i].key, der, (size_t)n);
		OPENSSL_free(der);
		if (r < 0)
			return r;
	}
	*ret_rims = nr;
	*ret_ocsp = no;
	return 0;
}

static const char *http_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0:
		return "1.0";
	case CURL_HTTP_VERSION_1_1:
		return "1.1";
	case CURL_HTTP_VERSION_2_0:
		return "2";
	case CURL_HTTP_VERSION_3:
		return "3";
	default:
		return NULL;
	}
}

json_t *cn_live_report(const struct cn_live *l)
{
	json_t *rims = json_array(), *ocsp = json_array();

	for (size_t i = 0; i < l->n_rims; i++) {
		const struct rim_item *it = &l->rims[i];

		(void)json_array_append_new(
		    rims, json_pack("{s:s,s:s?,s:s?,s:f,s:s?}", "id", it->id, "origin",
				    it->xml ? it->origin : NULL, "error", it->xml ? NULL : it->msg,
				    "ms", it->ms, "http", http_name(it->http)));
	}
	for (size_t i = 0; i < l->n_ocsp; i++) {
		const struct ocsp_item *it = &l->ocsp[i];

		(void)json_array_append_new(ocsp,
					    json_pack("{s:s,s:s,s:s?,s:s?,s:f,s:s?}", "cert",
						      it->name, "certid-sha256", it->key, "origin",
						      it->origin[0] ? it->origin : NULL, "error",
						      it->msg[0] ? it->msg : NULL, "ms", it->ms,
						      "http", http_name(it->http)));
	}
	return json_pack("{s:o,s:o,s:i,s:i,s:i,s:i,s:f}", "rims", rims, "ocsp", ocsp, "batches",
			 (int)l->batches, "requests", (int)l->requests, "retries", (int)l->retries,
			 "connections", (int)l->connections, "ms", l->net_ms);
}
