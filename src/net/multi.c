/* SPDX-License-Identifier: Apache-2.0 */
/* The parallel request engine: one curl multi handle, retries, deadlines (see multi.h). */
#include "net/multi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "base/cleanup.h"
#include "base/log.h"

enum slot_state { SLOT_WAITING = 0, SLOT_ACTIVE, SLOT_DONE };

struct slot {
	struct cn_net_request *req;
	enum slot_state state;
	int64_t start_at; /* ms (monotonic) when the next attempt may start */
	CURL *h;
	struct curl_slist *hl;
	struct cn_http_headers hdrs;
	struct cn_http_body body;
	char errbuf[CURL_ERROR_SIZE];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cn_net_status_retryable(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

const char *cn_net_ca_bundle(const char *explicit_path)
{
	const char *v = explicit_path ? explicit_path : env_nonempty("REQUESTS_CA_BUNDLE");

	return v ? v : env_nonempty("CURL_CA_BUNDLE");
}

void cn_net_request_clear(struct cn_net_request *r)
{
	free(r->resp);
	r->resp = NULL;
	r->resp_len = 0;
}

static void slot_reset(struct slot *s)
{
	if (s->h)
		curl_easy_cleanup(s->h);
	s->h = NULL;
	curl_slist_free_all(s->hl);
	s->hl = NULL;
	cn_http_headers_done(&s->hdrs);
	free(s->body.data);
	s->body = (struct cn_http_body){0};
}

static void slot_fail(struct slot *s, int err, const char *msg, int64_t t0)
{
	struct cn_net_request *q = s->req;

	q->result = err < 0 ? err : -EIO;
	(void)snprintf(q->err, sizeof(q->err), "%s", msg);
	q->ms = (double)(mono_ms() - t0);
	s->state = SLOT_DONE;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (curl_easy_setopt(s->h, (opt), (val)) != CURLE_OK)                              \
			return cn_err_set(-EINVAL, "libcurl refused option %s", #opt);             \
	} while (0)

static int slot_start(const struct cn_net_batch_opts *o, CURLM *m, struct slot *s, int64_t deadline)
{
	struct cn_net_request *q = s->req;
	long per =
	    o->request_timeout_ms > 0 ? o->request_timeout_ms : CN_NET_REQUEST_TIMEOUT_MS_DEFAULT;
	int64_t left = deadline - mono_ms();
	int r;

	if (left < 1)
		left = 1;
	if (per > left)
		per = (long)left;
	r = cn_http_easy_new(&o->http, s->errbuf, &s->h);
	if (r < 0)
		return r;
	s->body.max = q->max_body
			  ? q->max_body
			  : (o->http.max_body ? o->http.max_body : CN_HTTP_BODY_MAX_DEFAULT);
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_TIMEOUT_MS, per);
	if (o->http.connect_timeout_ms <= 0 || o->http.connect_timeout_ms > per)
		SET(CURLOPT_CONNECTTIMEOUT_MS, per);
	SET(CURLOPT_WRITEFUNCTION, cn_http_body_write);
	SET(CURLOPT_WRITEDATA, &s->body);
	SET(CURLOPT_HEADERFUNCTION, cn_http_header_cb);
	SET(CURLOPT_HEADERDATA, &s->hdrs);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->body.max);
	SET(CURLOPT_HTTP_VERSION,
	    o->http1_only ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for a connection that may multiplex (HTTP/2) rather than open one per request. */
	SET(CURLOPT_PIPEWAIT, o->http1_only ? 0L : 1L);
	SET(CURLOPT_PRIVATE, s);
	if (q->accept) {
		char line[256];

		(void)snprintf(line, sizeof(line), "Accept: %s", q->accept);
		s->hl = curl_slist_append(s->hl, line);
		if (!s->hl)
			return cn_err_set(-ENOMEM, "out of memory");
	}
	if (q->method == CN_NET_POST) {
		char line[256];
		struct curl_slist *n;

		(void)snprintf(line, sizeof(line), "Content-Type: %s",
			       q->content_type ? q->content_type : "application/octet-stream");
		n = curl_slist_append(s->hl, line);
		if (!n)
			return cn_err_set(-ENOMEM, "out of memory");
		s->hl = n;
		SET(CURLOPT_POSTFIELDS, q->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
	if (s->hl)
		SET(CURLOPT_HTTPHEADER, s->hl);
	if (curl_multi_add_handle(m, s->h) != CURLM_OK)
		return cn_err_set(-ENOMEM, "libcurl refused a transfer");
	q->attempts++;
	s->state = SLOT_ACTIVE;
	return 0;
}

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Backoff for attempt k (1 = after the first failure): initial * 2^(k-1), capped, jittered into
 * [50%, 100%] of that so that a fleet does not retry in lockstep. */
static int64_t backoff_ms(const struct cn_net_batch_opts *o, unsigned k)
{
	long init =
	    o->backoff_initial_ms > 0 ? o->backoff_initial_ms : CN_NET_BACKOFF_INITIAL_MS_DEFAULT;
	long max = o->backoff_max_ms > 0 ? o->backoff_max_ms : CN_NET_BACKOFF_MAX_MS_DEFAULT;
	int64_t d = init;
	uint16_t rnd = 0;

	for (unsigned i = 1; i < k && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = 0x8000;
	return d / 2 + (d / 2) * rnd / 0xffff;
}

/* A transfer finished: final answer, retry, or failure. */
static void slot_finish(const struct cn_net_batch_opts *o, CURLM *m, struct slot *s, CURLcode c,
			int64_t t0, int64_t deadline, struct cn_net_batch_stats *st)
{
	struct cn_net_request *q = s->req;
	unsigned max_att = o->max_attempts ? o->max_attempts : CN_NET_ATTEMPTS_DEFAULT;
	long status = 0, ver = 0;
	int64_t wait = -1;
	char why[400] = "";

	(void)curl_multi_remove_handle(m, s->h);
	if (c == CURLE_OK) {
		long conns = 0;

		(void)curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		(void)curl_easy_getinfo(s->h, CURLINFO_HTTP_VERSION, &ver);
		(void)curl_easy_getinfo(s->h, CURLINFO_NUM_CONNECTS, &conns);
		st->connections += (unsigned)conns;
		if (s->hdrs.error) {
			(void)snprintf(why, sizeof(why),
				       "malformed or oversized response header from '%s'", q->url);
			slot_fail(s, s->hdrs.error, why, t0);
			goto out;
		}
		if (!cn_net_status_retryable(status) || q->attempts >= max_att) {
			q->result = 0;
			q->status = status;
			q->http_version = ver;
			q->resp = s->body.data ? s->body.data : calloc(1, 1);
			q->resp_len = s->body.len;
			s->body.data = NULL;
			q->ms = (double)(mono_ms() - t0);
			s->state = SLOT_DONE;
			if (!q->resp)
				slot_fail(s, -ENOMEM, "out of memory", t0);
			goto out;
		}
		(void)snprintf(why, sizeof(why), "HTTP %ld from '%s'", status, q->url);
		if ((status == 429 || status == 503) && s->hdrs.retry_after) {
			long secs;

			if (cn_http_parse_retry_after(s->hdrs.retry_after, 86400, &secs, NULL) >=
			    0) {
				wait = (int64_t)secs * 1000;
				if (o->retry_after_max_s > 0 && secs > o->retry_after_max_s) {
					(void)snprintf(
					    why, sizeof(why),
					    "HTTP %ld from '%s' asks to retry after %ld s, "
					    "more than %ld s",
					    status, q->url, secs, o->retry_after_max_s);
					slot_fail(s, -EAGAIN, why, t0);
					goto out;
				}
			}
		}
	} else {
		if (s->body.over || c == CURLE_FILESIZE_EXCEEDED) {
			(void)snprintf(why, sizeof(why), "response from '%s' exceeds %zu bytes",
				       q->url, s->body.max);
			slot_fail(s, -E2BIG, why, t0);
			goto out;
		}
		int e = cn_http_curl_error(c, s->errbuf, q->url);
		(void)snprintf(why, sizeof(why), "%s", cn_err_msg());
		cn_err_clear();
		if (!curl_retryable(c) || q->attempts >= max_att) {
			slot_fail(s, e, why, t0);
			goto out;
		}
	}
	/* retry */
	if (wait < 0)
		wait = backoff_ms(o, q->attempts);
	if (mono_ms() + wait >= deadline) {
		char m2[512];

		(void)snprintf(m2, sizeof(m2), "%.440s; no retry within the deadline (%u attempts)",
			       why, q->attempts);
		slot_fail(s, status ? -EAGAIN : -ETIMEDOUT, m2, t0);
		goto out;
	}
	if (q->attempts >= max_att) {
		slot_fail(s, -EAGAIN, why, t0);
		goto out;
	}
	(void)snprintf(q->err, sizeof(q->err), "%s", why); /* last problem, for a later failure */
	st->retries++;
	s->start_at = mono_ms() + wait;
	s->state = SLOT_WAITING;
out:
	slot_reset(s);
}

static void fail_rest(struct slot *slots, size_t n, CURLM *m, const struct cn_net_batch_opts *o,
		      int64_t t0)
{
	long dl = o->deadline_ms > 0 ? o->deadline_ms : CN_NET_DEADLINE_MS_DEFAULT;

	for (size_t i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		char msg[512];

		if (s->state == SLOT_DONE)
			continue;
		if (s->state == SLOT_ACTIVE)
			(void)curl_multi_remove_handle(m, s->h);
		if (s->req->err[0])
			(void)snprintf(
			    msg, sizeof(msg),
			    "no answer from '%.300s' within the deadline of %ld ms (last: %.120s)",
			    s->req->url, dl, s->req->err);
		else
			(void)snprintf(msg, sizeof(msg),
				       "no answer from '%.400s' within the deadline of %ld ms",
				       s->req->url, dl);
		slot_fail(s, -ETIMEDOUT, msg, t0);
		slot_reset(s);
	}
}

static int run_loop(const struct cn_net_batch_opts *o, CURLM *m, struct slot *slots, size_t n,
		    int64_t t0, struct cn_net_batch_stats *st)
{
	long dl = o->deadline_ms > 0 ? o->deadline_ms : CN_NET_DEADLINE_MS_DEFAULT;
	unsigned par = o->max_parallel ? o->max_parallel : CN_NET_PARALLEL_DEFAULT;
	int64_t deadline = t0 + dl;

	for (;;) {
		int64_t now = mono_ms(), wake = deadline;
		unsigned active = 0;
		size_t pending = 0;
		int running = 0, left = 0, r;
		CURLMsg *msg;

		if (now >= deadline) {
			fail_rest(slots, n, m, o, t0);
			return 0;
		}
		for (size_t i = 0; i < n; i++)
			active += slots[i].state == SLOT_ACTIVE;
		for (size_t i = 0; i < n; i++) {
			struct slot *s = &slots[i];

			if (s->state == SLOT_DONE)
				continue;
			pending++;
			if (s->state != SLOT_WAITING)
				continue;
			if (s->start_at > now || active >= par) {
				if (s->start_at > now && s->start_at < wake)
					wake = s->start_at;
				continue;
			}
			r = slot_start(o, m, s, deadline);
			if (r < 0) {
				slot_fail(s, r, cn_err_msg(), t0);
				slot_reset(s);
				continue;
			}
			st->attempts++;
			active++;
		}
		if (!pending)
			return 0;
		if (curl_multi_perform(m, &running) != CURLM_OK)
			return cn_err_set(-EIO, "libcurl multi transfer failed");
		while ((msg = curl_multi_info_read(m, &left))) {
			struct slot *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			if (s)
				slot_finish(o, m, s, msg->data.result, t0, deadline, st);
		}
		pending = 0;
		for (size_t i = 0; i < n; i++) {
			pending += slots[i].state != SLOT_DONE;
			/* a waiting transfer may start now that one ended, or at its retry time */
			if (slots[i].state == SLOT_WAITING && slots[i].start_at < wake)
				wake = slots[i].start_at;
		}
		if (!pending)
			return 0;
		now = mono_ms();
		if (wake > now + 1000)
			wake = now + 1000;
		if (wake > now) {
			if (curl_multi_poll(m, NULL, 0, (int)(wake - now), NULL) != CURLM_OK)
				return cn_err_set(-EIO, "libcurl multi poll failed");
		}
	}
}

struct cn_net_engine {
	CURLM *m;
};

int cn_net_engine_new(struct cn_net_engine **ret)
{
	struct cn_net_engine *e;
	int r = cn_http_global_init();

	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cn_err_set(-ENOMEM, "out of memory");
	e->m = curl_multi_init();
	if (!e->m) {
		free(e);
		return cn_err_set(-ENOMEM, "cannot create a libcurl multi handle");
	}
	(void)curl_multi_setopt(e->m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*ret = e;
	return 0;
}

void cn_net_engine_free(struct cn_net_engine *e)
{
	if (!e)
		return;
	(void)curl_multi_cleanup(e->m);
	free(e);
}

int cn_net_engine_run(struct cn_net_engine *e, const struct cn_net_batch_opts *o,
		      struct cn_net_request *reqs, size_t n, struct cn_net_batch_stats *stats)
{
	_cleanup_free_ struct slot *slots = NULL;
	struct cn_net_batch_stats st = {0};
	int64_t t0 = mono_ms();
	int r;

	if (!e || !o || (n && !reqs))
		return cn_err_set(-EINVAL, "net: no requests");
	if (n > CN_NET_BATCH_MAX)
		return cn_err_set(-E2BIG, "net: %zu requests in one batch, more than %u", n,
				  CN_NET_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		reqs[i].result = -EINPROGRESS;
		reqs[i].status = 0;
		reqs[i].resp = NULL;
		reqs[i].resp_len = 0;
		reqs[i].attempts = 0;
		reqs[i].err[0] = 0;
	}
	if (!n)
		goto done;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return cn_err_set(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		slots[i].req = &reqs[i];
		slots[i].start_at = t0;
		if (!reqs[i].url || !cn_http_url_is_https(reqs[i].url)) {
			char msg[512];

			(void)snprintf(msg, sizeof(msg), "refusing the non-https URL '%.400s'",
				       reqs[i].url ? reqs[i].url : "");
			slot_fail(&slots[i], -EPROTONOSUPPORT, msg, t0);
		}
	}
	r = run_loop(o, e->m, slots, n, t0, &st);
	for (size_t i = 0; i < n; i++) {
		if (slots[i].state == SLOT_ACTIVE)
			(void)curl_multi_remove_handle(e->m, slots[i].h);
		if (slots[i].state != SLOT_DONE)
			slot_fail(&slots[i], -ECANCELED, "transfer cancelled", t0);
		slot_reset(&slots[i]);
	}
	if (r < 0)
		return r;
done:
	st.ms = (double)(mono_ms() - t0);
	if (stats)
		*stats = st;
	return 0;
}

int cn_net_batch_run(const struct cn_net_batch_opts *o, struct cn_net_request *reqs, size_t n,
		     struct cn_net_batch_stats *stats)
{
	struct cn_net_engine *e = NULL;
	int r = cn_net_engine_new(&e);

	if (r < 0)
		return r;
	r = cn_net_engine_run(e, o, reqs, n, stats);
	cn_net_engine_free(e);
	return r;
}
