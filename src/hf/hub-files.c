/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hub files: the parallel download engine (curl multi) that checks every file while it streams.
 * The checks of existing folders are in hub-check.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "hf/hub-internal.h"

#define ERROR_BODY_MAX (64u * 1024)
#define DOWNLOAD_BUFFER (512u * 1024) /* libcurl receive buffer: fewer, larger writes */

/* ---------------------------------------------------------------------------------------------
 * The download engine.
 */

enum job_state { JOB_WAIT, JOB_ACTIVE, JOB_DONE };

struct dl;

struct job {
	struct dl *dl;
	const struct cn_hub_file *f; /* borrowed: the first file with this content */
	char hex[65];		     /* digest, names the part file */
	char *part;		     /* owned: parts_dir/<hex>.part */
	char *done_path;	     /* owned: parts_dir/<hex> */
	char *url;		     /* owned */
	int fd;
	EVP_MD_CTX *md;
	uint64_t have; /* bytes written and hashed */
	uint64_t have_at_start;
	unsigned stall_fail, http_fail, hash_fail, resumes, slow_fail;
	uint64_t not_before_ns;
	uint64_t win_start_ns, win_have; /* the progress floor's current window */
	enum job_state state;
	/* per attempt */
	CURL *h;
	struct cn_http_headers hh;
	char errbuf[CURL_ERROR_SIZE];
	int err;      /* set by the write callback */
	bool checked; /* status examined (first body byte) */
	bool discard; /* error response: body is thrown away */
	bool ranged;
	bool too_slow; /* aborted by the progress floor */
	size_t discarded;
};

struct dl {
	struct hub *h;
	const char *commit;
	struct job *jobs;
	size_t n;
	CURLM *multi;
	unsigned active;
	size_t done;
	uint64_t bytes_done, bytes_total;
	struct cn_progress bar;
	uint64_t last_label_ns;
	const char *out_dir;
};

static int job_reset(struct job *j)
{
	if (ftruncate(j->fd, 0) < 0)
		return -errno;
	j->dl->bytes_done -= j->have;
	j->have = 0;
	j->have_at_start = 0;
	return cn_hub_digest_start(j->md, j->f);
}

/* The first body byte of a response: is it the one we asked for? */
static int job_check_status(struct job *j)
{
	long st = 0;

	(void)curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &st);
	j->checked = true;
	if (st == 200) {
		/* The server ignored the Range: take the whole body from the start. */
		if (j->have)
			return job_reset(j);
		return 0;
	}
	if (st == 206) {
		const char *cr = j->hh.content_range;
		char want[96];

		(void)snprintf(want, sizeof(want), "bytes %llu-%llu/%llu",
			       (unsigned long long)j->have, (unsigned long long)(j->f->size - 1),
			       (unsigned long long)j->f->size);
		if (!j->ranged || !cr || strcmp(cr, want) != 0)
			return cn_err_set(-EBADMSG,
					  "'%s': bad partial response (Content-Range '%.80s', "
					  "expected '%s')",
					  j->f->path, cr ? cr : "", want);
		return 0;
	}
	j->discard = true;
	return 0;
}

/*
 * The progress floor: a transfer whose average rate over a whole window stays under min_rate
 * (a CDN that trickles bytes) is aborted; libcurl's own low-speed limit only catches < 1 byte/s.
 */
static bool below_floor(struct job *j)
{
	const struct hub *h = j->dl->h;
	uint64_t now, elapsed;

	if (!h->min_rate)
		return false;
	now = cn_now_ns();
	elapsed = now - j->win_start_ns;
	if (elapsed < (uint64_t)h->rate_window_s * 1000000000ull)
		return false;
	if ((j->have - j->win_have) * 1000000000ull / elapsed < h->min_rate)
		return true;
	j->win_start_ns = now;
	j->win_have = j->have;
	return false;
}

static size_t job_write(char *ptr, size_t size, size_t n, void *userdata)
{
	struct job *j = userdata;
	size_t len = size * n;
	int r;

	if (!j->checked) {
		r = job_check_status(j);
		if (r < 0) {
			j->err = r;
			return 0;
		}
	}
	if (j->discard) {
		j->discarded += len;
		return j->discarded > ERROR_BODY_MAX ? 0 : len;
	}
	if (len > j->f->size - j->have) {
		j->err = -EOVERFLOW;
		return 0;
	}
	r = cn_pwrite_all(j->fd, ptr, len, j->have);
	if (r < 0) {
		j->err = r;
		return 0;
	}
	if (EVP_DigestUpdate(j->md, ptr, len) != 1) {
		j->err = -EIO;
		return 0;
	}
	j->have += len;
	j->dl->bytes_done += len;
	if (below_floor(j)) {
		j->too_slow = true;
		return 0;
	}
	return len;
}

static void progress_update(struct dl *d)
{
	const struct job *big = NULL;
	char have[32], size[32];
	uint64_t now = cn_now_ns();

	/* at most 10 times a second (the scan is O(files)); always for the final state */
	if (!d->bar.enabled || (now - d->last_label_ns < 100000000ull && d->done < d->n))
		return;
	d->last_label_ns = now;
	for (size_t i = 0; i < d->n; i++)
		if (d->jobs[i].state == JOB_ACTIVE && (!big || d->jobs[i].f->size > big->f->size))
			big = &d->jobs[i];
	if (big) {
		const char *name = strrchr(big->f->path, '/');

		name = name ? name + 1 : big->f->path;
		(void)snprintf(d->bar.label, sizeof(d->bar.label), "[%zu/%zu] %.24s %s/%s", d->done,
			       d->n, name, cn_format_bytes(big->have, have, sizeof(have)),
			       cn_format_bytes(big->f->size, size, sizeof(size)));
	} else
		(void)snprintf(d->bar.label, sizeof(d->bar.label), "[%zu/%zu] %s", d->done, d->n,
			       d->done == d->n ? "downloaded" : "waiting to retry");
	cn_progress_set(&d->bar, d->bytes_done);
}

static void job_detach(struct job *j)
{
	if (j->h) {
		(void)curl_multi_remove_handle(j->dl->multi, j->h);
		curl_easy_cleanup(j->h);
		j->h = NULL;
		j->dl->active--;
	}
	cn_http_headers_done(&j->hh);
}

static int job_start(struct job *j)
{
	char range[48];
	int r;

	r = cn_http_easy_new(&j->dl->h->dl, j->errbuf, &j->h);
	if (r < 0)
		return r;
	j->checked = j->discard = false;
	j->discarded = 0;
	j->err = 0;
	j->too_slow = false;
	j->ranged = j->have > 0;
	j->have_at_start = j->have;
	j->win_start_ns = cn_now_ns();
	j->win_have = j->have;
	if (curl_easy_setopt(j->h, CURLOPT_URL, j->url) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, job_write) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_HEADERFUNCTION, cn_http_header_cb) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_HEADERDATA, &j->hh) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_PRIVATE, j) != CURLE_OK ||
	    curl_easy_setopt(j->h, CURLOPT_BUFFERSIZE, (long)DOWNLOAD_BUFFER) != CURLE_OK) {
		curl_easy_cleanup(j->h);
		j->h = NULL;
		return cn_err_set(-EINVAL, "libcurl refused the download options");
	}
	if (j->ranged) {
		(void)snprintf(range, sizeof(range), "%llu-", (unsigned long long)j->have);
		if (curl_easy_setopt(j->h, CURLOPT_RANGE, range) != CURLE_OK) {
			curl_easy_cleanup(j->h);
			j->h = NULL;
			return cn_err_set(-EINVAL, "libcurl refused the Range option");
		}
	}
	if (curl_multi_add_handle(j->dl->multi, j->h) != CURLM_OK) {
		curl_easy_cleanup(j->h);
		j->h = NULL;
		return cn_err_set(-ENOMEM, "cannot add a transfer");
	}
	j->dl->active++;
	j->state = JOB_ACTIVE;
	log_debug("hub: GET '%s'%s%s", j->url, j->ranged ? " from byte " : "",
		  j->ranged ? range : "");
	return 0;
}

static void job_retry_at(struct job *j, uint64_t ms)
{
	j->state = JOB_WAIT;
	j->not_before_ns = cn_now_ns() + ms * 1000000ull;
}

static int disk_error(const struct job *j, int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return cn_err_set(-ENOSPC, "disk full while writing '%s' into '%s'", j->f->path,
				  j->part);
	return cn_err_set(err, "cannot write '%s' into '%s': %s", j->f->path, j->part,
			  strerror(-err));
}

/* Starts j again from byte 0 after ms milliseconds. */
static int job_restart(struct job *j, uint64_t ms)
{
	int r = job_reset(j);

	if (r < 0)
		return disk_error(j, r);
	job_retry_at(j, ms);
	return 0;
}

/*
 * A download that did not match the listing is fetched once more from byte 0 (returns 0); the
 * second time its part is removed and 1 is returned, for the caller to name the failure.
 */
static int job_refetch_once(struct job *j)
{
	if (j->hash_fail++ == 0)
		return job_restart(j, 0);
	(void)unlink(j->part);
	return 1;
}

/* Counts one more resume of a transfer that ended early; false when j has run out of them. */
static bool job_may_resume(struct job *j)
{
	if (j->have - j->have_at_start >= CN_HUB_PROGRESS_RESET)
		j->stall_fail = 0;
	else
		j->stall_fail++;
	return j->stall_fail <= CN_HUB_STALL_RETRIES && ++j->resumes <= 8 * (j->dl->h->retries + 1);
}

/* Aborted by the progress floor: resumed after a backoff; a file that stays too slow fails. */
static int job_too_slow(struct job *j)
{
	const struct hub *h = j->dl->h;

	job_detach(j);
	if (++j->slow_fail > CN_HUB_SLOW_RETRIES)
		return cn_err_set(-ETIMEDOUT,
				  "downloading '%s' from %s: slower than %u bytes/s over %u s "
				  "in %u tries; giving up (COCOON_HF_MIN_RATE, "
				  "COCOON_HF_RATE_WINDOW)",
				  j->f->path, j->url, h->min_rate, h->rate_window_s, j->slow_fail);
	log_debug("hub: '%s' is too slow at byte %llu, retrying", j->f->path,
		  (unsigned long long)j->have);
	job_retry_at(j, cn_hub_backoff_ms(j->slow_fail));
	return 0;
}

/* The write callback failed with j->err: a disk error, too many bytes, or a bad 206. */
static int job_write_failed(struct job *j)
{
	int r;

	if (j->err == -ENOSPC || j->err == -EDQUOT || j->err == -EIO || j->err == -EROFS ||
	    j->err == -EFBIG) {
		r = disk_error(j, j->err);
		job_detach(j);
		return r;
	}
	job_detach(j);
	if (j->err == -EOVERFLOW) {
		r = job_refetch_once(j);
		if (r <= 0)
			return r;
		return cn_err_set(
		    -EKEYREJECTED,
		    "'%s' is corrupt: the server sent more than the %llu bytes of the "
		    "listing; downloaded twice, giving up",
		    j->f->path, (unsigned long long)j->f->size);
	}
	/* A malformed partial response: start this file again from byte 0. */
	if (++j->http_fail > j->dl->h->retries)
		return j->err;
	return job_restart(j, cn_hub_backoff_ms(j->http_fail));
}

/* 429 or 5xx with retries left: wait as long as Retry-After asks, within a cap. */
static int job_retry_later(struct job *j, long st, const struct cn_http_headers *hh)
{
	uint64_t ms;
	long s;
	bool clamped = false;

	if (hh->retry_after && cn_http_parse_retry_after(hh->retry_after, CN_HUB_RETRY_AFTER_MAX_S,
							 &s, &clamped) == 0) {
		if (clamped)
			return cn_err_set(
			    -EBUSY,
			    "rate limited while downloading '%s': the hub asks to wait "
			    "more than %ld s; try again later",
			    j->f->path, CN_HUB_RETRY_AFTER_MAX_S);
		ms = (uint64_t)s * 1000;
	} else
		ms = cn_hub_backoff_ms(j->http_fail);
	log_debug("hub: HTTP %ld for '%s', retry in %llu ms", st, j->f->path,
		  (unsigned long long)ms);
	job_retry_at(j, ms);
	return 0;
}

/* 401 or 403. Gated repositories show their listing to anyone; files need an accepted token. */
static int job_denied(const struct job *j, long st, const struct cn_http_headers *hh)
{
	const struct hub *h = j->dl->h;
	bool gated = hh->error_code && strcmp(hh->error_code, "GatedRepo") == 0;

	if (gated && st == 401)
		return cn_err_set(-EACCES,
				  "repository '%s' is gated (401): %s; accept its terms on the hub "
				  "and give a token with --hf-token, HF_TOKEN or $HF_HOME/token",
				  h->repo,
				  h->token ? "the token was not accepted" : "no token was given");
	if (gated)
		return cn_err_set(-EACCES,
				  "repository '%s' is gated and the token has no access (403): "
				  "request access on the hub",
				  h->repo);
	if (st == 401)
		return cn_err_set(-EACCES,
				  h->token ? "downloading '%s': the hub rejected the token (401)"
					   : "downloading '%s' needs a token (401)",
				  j->f->path);
	return cn_err_set(-EACCES, "downloading '%s' is forbidden (403) for %s", j->f->path,
			  h->token ? "this token" : "anonymous requests (no token given)");
}

/* Any other error status, or a retryable one with no retries left. */
static int job_http_failed(struct job *j, long st)
{
	const struct dl *d = j->dl;

	switch (st) {
	case 404:
		return cn_err_set(-ENOENT, "file '%s' not found at commit %s (404)", j->f->path,
				  d->commit);
	case 429:
		return cn_err_set(-EBUSY,
				  "rate limited (429) while downloading '%s' after %u retries; try "
				  "again later",
				  j->f->path, d->h->retries);
	case 416:
		/* Range not satisfiable: start again from byte 0. */
		if (j->http_fail++ < d->h->retries)
			return job_restart(j, 0);
		__attribute__((fallthrough));
	default:
		return cn_err_set(-EIO, "downloading '%s' failed with HTTP %ld", j->f->path, st);
	}
}

/* An error status (the body, if any, was thrown away): retry, or fail naming why. */
static int job_http_error(struct job *j, long st)
{
	struct cn_http_headers hh = j->hh;
	int r;

	j->hh = (struct cn_http_headers){0};
	job_detach(j);
	if ((st == 429 || (st >= 500 && st <= 504)) && ++j->http_fail <= j->dl->h->retries)
		r = job_retry_later(j, st, &hh);
	else if (st == 401 || st == 403)
		r = job_denied(j, st, &hh);
	else
		r = job_http_failed(j, st);
	cn_http_headers_done(&hh);
	return r;
}

/*
 * The transfer ended before the last byte: broken or stalled (c != CURLE_OK), or the server
 * ended the body early. Resumes with a Range request.
 */
static int job_short(struct job *j, CURLcode c)
{
	int r;

	if (c != CURLE_OK) {
		r = cn_http_curl_error(c, j->errbuf, j->url);
		job_detach(j);
		if (!job_may_resume(j))
			return cn_net_err_wrap(r, "downloading '%s'", j->f->path);
		log_debug("hub: '%s' broke at byte %llu (%s), resuming", j->f->path,
			  (unsigned long long)j->have, cn_err_msg());
		job_retry_at(j, j->stall_fail ? cn_hub_backoff_ms(j->stall_fail) : 0);
		return 0;
	}
	job_detach(j);
	if (!job_may_resume(j))
		return cn_err_set(-EIO,
				  "downloading '%s': the server keeps ending the body at byte %llu "
				  "of %llu",
				  j->f->path, (unsigned long long)j->have,
				  (unsigned long long)j->f->size);
	job_retry_at(j, 0);
	return 0;
}

/* All bytes are in: check the digest against the listing and publish the part. */
static int job_complete(struct job *j)
{
	uint8_t actual[32];
	char want_hex[65], got_hex[65];
	int r;

	if (EVP_DigestFinal_ex(j->md, actual, NULL) != 1)
		return cn_err_set(-EIO, "digest failure");
	if (CRYPTO_memcmp(actual, j->f->digest, cn_hub_digest_len(j->f)) != 0) {
		cn_hex(actual, cn_hub_digest_len(j->f), got_hex);
		cn_hex(j->f->digest, cn_hub_digest_len(j->f), want_hex);
		if (j->hash_fail == 0)
			log_debug("hub: '%s' %s mismatch (got %s), downloading it again",
				  j->f->path, cn_hub_algo(j->f), got_hex);
		r = job_refetch_once(j);
		if (r <= 0)
			return r;
		return cn_err_set(-EKEYREJECTED,
				  "'%s' is corrupt: %s %s, expected %s (listing of commit %s); "
				  "downloaded twice, giving up",
				  j->f->path, cn_hub_algo(j->f), got_hex, want_hex, j->dl->commit);
	}
	/* No fdatasync: a part is hashed again before any later run reuses it, and the image
	 * build that follows fsyncs its own outputs. */
	if (rename(j->part, j->done_path) < 0)
		return disk_error(j, -errno);
	j->state = JOB_DONE;
	j->dl->done++;
	return 0;
}

/* The transfer of j ended. Returns < 0 on a fatal error (message set). */
static int job_finished(struct job *j, CURLcode c)
{
	long st = 0;
	int r;

	(void)curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &st);
	if (j->too_slow)
		return job_too_slow(j);
	if (!j->checked && c == CURLE_OK) {
		r = job_check_status(j); /* empty body */
		if (r < 0)
			j->err = r;
	}
	if (j->err < 0)
		return job_write_failed(j);
	if (j->discard)
		return job_http_error(j, st);
	if (j->have < j->f->size)
		return job_short(j, c);
	/* (A transfer that broke after the last byte goes on to the hash check.) */
	job_detach(j);
	return job_complete(j);
}

/*
 * Prepares a job: a complete part from an earlier run is checked again; a partial one is hashed
 * so the transfer resumes where it stopped. Returns 1 when the file is already complete.
 */
static int job_prepare(struct dl *d, struct job *j, const char *parts_dir)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	uint8_t actual[32];
	_cleanup_free_ char *epath = NULL;
	int r;

	cn_hex(j->f->digest, cn_hub_digest_len(j->f), j->hex);
	epath = cn_hub_escape_path(j->f->path);
	if (!epath || asprintf(&j->part, "%s/%s.part", parts_dir, j->hex) < 0 ||
	    asprintf(&j->done_path, "%s/%s", parts_dir, j->hex) < 0 ||
	    asprintf(&j->url, "%s/%s/resolve/%s/%s", d->h->endpoint, d->h->repo, d->commit, epath) <
		0)
		return cn_err_set(-ENOMEM, "out of memory");
	j->md = EVP_MD_CTX_new();
	if (!j->md)
		return cn_err_set(-ENOMEM, "out of memory");

	fd = open(j->done_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (cn_hub_hash_fd(fd, j->f, actual) == 0) {
			j->state = JOB_DONE;
			d->done++;
			d->bytes_done += j->f->size;
			return 1;
		}
		(void)unlink(j->done_path);
	}
	j->fd = open(j->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->fd < 0)
		return disk_error(j, -errno);
	if (fstat(j->fd, &st) < 0)
		return disk_error(j, -errno);
	r = cn_hub_digest_start(j->md, j->f);
	if (r < 0)
		return cn_err_set(r, "digest failure");
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > j->f->size) {
		if (ftruncate(j->fd, 0) < 0)
			return disk_error(j, -errno);
	} else if (st.st_size > 0) {
		/* Resume a part left by an interrupted run of the same commit. */
		r = cn_hub_digest_fd(j->md, j->fd, (uint64_t)st.st_size);
		if (r < 0)
			return disk_error(j, r);
		j->have = (uint64_t)st.st_size;
		d->bytes_done += j->have;
	}
	(void)fchmod(j->fd, 0644);
	j->state = JOB_WAIT;
	return 0;
}

static void dl_done(struct dl *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct job *j = &d->jobs[i];

		job_detach(j);
		if (j->fd >= 0)
			(void)close(j->fd);
		EVP_MD_CTX_free(j->md);
		free(j->part);
		free(j->done_path);
		free(j->url);
	}
	free(d->jobs);
	if (d->multi)
		(void)curl_multi_cleanup(d->multi);
}

static int run_transfers(struct dl *d)
{
	while (d->done < d->n) {
		uint64_t now = cn_now_ns(), next_wake = UINT64_MAX;
		struct CURLMsg *msg;
		int running = 0, q, timeout_ms;

		for (size_t i = 0; i < d->n && d->active < d->h->parallel; i++) {
			struct job *j = &d->jobs[i];

			if (j->state != JOB_WAIT)
				continue;
			if (j->not_before_ns > now) {
				next_wake = CN_MIN(next_wake, j->not_before_ns);
				continue;
			}
			int r = job_start(j);

			if (r < 0)
				return r;
		}
		for (size_t i = 0; i < d->n; i++)
			if (d->jobs[i].state == JOB_WAIT && d->jobs[i].not_before_ns > now)
				next_wake = CN_MIN(next_wake, d->jobs[i].not_before_ns);
		if (d->active == 0) {
			progress_update(d);
			if (next_wake != UINT64_MAX)
				cn_hub_sleep_ms((next_wake - now) / 1000000 + 1);
			continue;
		}
		if (curl_multi_perform(d->multi, &running) != CURLM_OK)
			return cn_err_set(-EIO, "libcurl multi interface failed");
		while ((msg = curl_multi_info_read(d->multi, &q))) {
			struct job *j = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			int r = job_finished(j, msg->data.result);

			if (r < 0)
				return r;
		}
		progress_update(d);
		if (d->done == d->n)
			break;
		timeout_ms = 200;
		if (next_wake != UINT64_MAX)
			timeout_ms =
			    (int)CN_MIN((uint64_t)timeout_ms, (next_wake - now) / 1000000 + 1);
		if (curl_multi_poll(d->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
			return cn_err_set(-EIO, "libcurl multi interface failed");
	}
	return 0;
}

/* Places parts into out_dir at their repository paths: the last user of a part takes it by
 * rename, earlier users get a copy (never a hard link: GNU tar would archive it as one). */
static int assemble(struct dl *d, const struct cn_hub_tree *t, size_t *job_of)
{
	_cleanup_free_ size_t *users = calloc(d->n, sizeof(size_t));
	_cleanup_close_ int out_fd = -EBADF;

	if (!users)
		return cn_err_set(-ENOMEM, "out of memory");
	out_fd = open(d->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out_fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", d->out_dir, strerror(errno));
	for (size_t i = 0; i < t->n; i++)
		users[job_of[i]]++;
	for (size_t i = 0; i < t->n; i++) {
		const struct cn_hub_file *f = &t->files[i];
		struct job *j = &d->jobs[job_of[i]];
		_cleanup_free_ char *dirs = strdup(f->path);
		int r;

		if (!dirs)
			return cn_err_set(-ENOMEM, "out of memory");
		/* Parent folders; paths were validated, so no component is "." or "..". */
		for (char *s = strchr(dirs, '/'); s; s = strchr(s + 1, '/')) {
			*s = 0;
			if (mkdirat(out_fd, dirs, 0755) < 0 && errno != EEXIST)
				return disk_error(j, -errno);
			if (fchmodat(out_fd, dirs, 0755, 0) < 0)
				return disk_error(j, -errno);
			*s = '/';
		}
		if (--users[job_of[i]] == 0) {
			if (renameat(AT_FDCWD, j->done_path, out_fd, f->path) < 0)
				return disk_error(j, -errno);
			continue;
		}
		{
			_cleanup_close_ int src = open(j->done_path, O_RDONLY | O_CLOEXEC);
			_cleanup_close_ int dst = -EBADF;
			uint64_t left = f->size;

			if (src < 0)
				return disk_error(j, -errno);
			dst = openat(out_fd, f->path,
				     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (dst < 0)
				return disk_error(j, -errno);
			(void)fchmod(dst, 0644);
			while (left > 0) {
				ssize_t n =
				    copy_file_range(src, NULL, dst, NULL,
						    (size_t)CN_MIN(left, (uint64_t)1 << 30), 0);

				if (n <= 0) {
					r = n < 0 ? -errno : -EIO;
					return disk_error(j, r);
				}
				left -= (uint64_t)n;
			}
		}
	}
	return 0;
}

static int cmp_content(const void *a, const void *b, void *arg)
{
	const struct cn_hub_tree *t = arg;
	const struct cn_hub_file *x = &t->files[*(const size_t *)a],
				 *y = &t->files[*(const size_t *)b];
	int c;

	if (x->lfs != y->lfs)
		return x->lfs ? 1 : -1;
	c = memcmp(x->digest, y->digest, cn_hub_digest_len(x));
	if (c)
		return c;
	return x->size < y->size ? -1 : x->size > y->size;
}

int cn_hub_download(struct hub *h, const char *commit, const struct cn_hub_tree *t,
		    const char *parts_dir, const char *out_dir)
{
	struct dl d = {.h = h, .commit = commit, .out_dir = out_dir};
	_cleanup_free_ size_t *job_of = NULL, *order = NULL;
	int r;

	r = cn_http_global_init();
	if (r < 0)
		return r;
	d.jobs = calloc(t->n, sizeof(*d.jobs));
	job_of = calloc(t->n, sizeof(*job_of));
	if (!d.jobs || !job_of) {
		free(d.jobs);
		return cn_err_set(-ENOMEM, "out of memory");
	}
	/* One job per distinct content (files with the same digest are downloaded once). */
	order = calloc(t->n, sizeof(*order));
	if (!order) {
		r = cn_err_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	qsort_r(order, t->n, sizeof(*order), cmp_content, (void *)t);
	for (size_t i = 0; i < t->n; i++) {
		const struct cn_hub_file *f = &t->files[order[i]];

		if (i == 0 || cmp_content(&order[i - 1], &order[i], (void *)t) != 0)
			d.jobs[d.n++] = (struct job){.dl = &d, .f = f, .fd = -EBADF};
		job_of[order[i]] = d.n - 1;
	}
	for (size_t k = 0; k < d.n; k++)
		d.bytes_total += d.jobs[k].f->size;
	for (size_t k = 0; k < d.n; k++) {
		r = job_prepare(&d, &d.jobs[k], parts_dir);
		if (r < 0)
			goto out;
	}
	d.multi = curl_multi_init();
	if (!d.multi) {
		r = cn_err_set(-ENOMEM, "cannot create a libcurl multi handle");
		goto out;
	}
	cn_progress_begin(&d.bar, "downloading", d.bytes_total, h->progress);
	r = run_transfers(&d);
	cn_progress_end(&d.bar);
	if (r < 0)
		goto out;
	r = assemble(&d, t, job_of);
out:
	dl_done(&d);
	return r;
}
