/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hub files: the parallel download engine (curl multi) that checks every file while it streams,
 * and the checks of existing folders (an earlier staging folder, an HF cache snapshot).
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
#include "net/hub-internal.h"

#define READ_CHUNK (1u << 20)
#define ERROR_BODY_MAX (64u * 1024)
#define DOWNLOAD_BUFFER (512u * 1024) /* libcurl receive buffer: fewer, larger writes */

CN_DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)

static int digest_start(EVP_MD_CTX *md, const struct cn_hub_file *f)
{
	char pre[32];
	int n;

	if (EVP_DigestInit_ex(md, f->lfs ? EVP_sha256() : EVP_sha1(), NULL) != 1)
		return -EIO;
	if (f->lfs)
		return 0;
	/* git blob id: sha1("blob <size>\0" + content) */
	n = snprintf(pre, sizeof(pre), "blob %llu", (unsigned long long)f->size);
	if (EVP_DigestUpdate(md, pre, (size_t)n + 1) != 1)
		return -EIO;
	return 0;
}

/* Hashes len bytes of fd from offset 0 into md (already started). -EIO on a short read. */
static int digest_fd(EVP_MD_CTX *md, int fd, uint64_t len)
{
	_cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
	uint64_t off = 0;

	if (!buf)
		return -ENOMEM;
	while (off < len) {
		size_t n = (size_t)CN_MIN((uint64_t)READ_CHUNK, len - off);
		int r = cn_pread_all(fd, buf, n, off);

		if (r < 0)
			return r;
		if (EVP_DigestUpdate(md, buf, n) != 1)
			return -EIO;
		off += n;
	}
	return 0;
}

int cn_hub_hash_fd(int fd, const struct cn_hub_file *f, uint8_t actual[32])
{
	__attribute__((cleanup(EVP_MD_CTX_freep))) EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct stat st;
	int r;

	if (!md)
		return -ENOMEM;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size != f->size)
		return -EMSGSIZE;
	r = digest_start(md, f);
	if (r < 0)
		return r;
	r = digest_fd(md, fd, f->size);
	if (r < 0)
		return r;
	if (EVP_DigestFinal_ex(md, actual, NULL) != 1)
		return -EIO;
	return CRYPTO_memcmp(actual, f->digest, cn_hub_digest_len(f)) == 0 ? 0 : -EKEYREJECTED;
}

static const char *algo(const struct cn_hub_file *f)
{
	return f->lfs ? "SHA-256" : "git blob SHA-1";
}

/* ---------------------------------------------------------------------------------------------
 * Checking a folder against the listing (or, offline, against blob names).
 */

struct entry {
	char *path;		 /* relative */
	struct cn_hub_file want; /* borrowed path in want.path; digest to check */
	bool by_name;		 /* an HF cache link to blobs/<want.digest>: the content is checked
				  * by the image build's single pass (cn_model_build), only the
				  * size here, so a model is not read twice */
};

struct walk {
	int root_fd;
	struct entry *e;
	size_t n, cap;
	bool offline;
	char *bad; /* first problem */
};

static int walk_add(struct walk *w, const char *rel)
{
	if (w->n >= CN_HUB_FILES_MAX)
		return cn_err_set(-E2BIG, "more than %u files", CN_HUB_FILES_MAX);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct entry *p = reallocarray(w->e, cap, sizeof(*p));

		if (!p)
			return cn_err_set(-ENOMEM, "out of memory");
		w->e = p;
		w->cap = cap;
	}
	w->e[w->n] = (struct entry){.path = strdup(rel)};
	if (!w->e[w->n].path)
		return cn_err_set(-ENOMEM, "out of memory");
	w->n++;
	return 0;
}

static int walk_dir(struct walk *w, const char *rel, unsigned depth)
{
	_cleanup_close_ int fd = -EBADF;
	DIR *d;
	struct dirent *de;
	size_t seen = 0;
	int r = 0;

	if (depth > CN_HUB_DEPTH_MAX)
		return cn_err_set(-E2BIG, "folder deeper than %u levels at '%s'", CN_HUB_DEPTH_MAX,
				  rel);
	fd =
	    openat(w->root_fd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open folder '%s': %s", rel, strerror(errno));
	d = fdopendir(fd);
	if (!d)
		return cn_err_set(-errno, "cannot read folder '%s': %s", rel, strerror(errno));
	TAKE_FD(fd);
	while ((de = readdir(d))) {
		_cleanup_free_ char *child = NULL;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		seen++;
		if (asprintf(&child, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) < 0) {
			child = NULL;
			r = cn_err_set(-ENOMEM, "out of memory");
			break;
		}
		if (fstatat(w->root_fd, child, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = cn_err_set(-errno, "cannot stat '%s': %s", child, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			r = walk_dir(w, child, depth + 1);
			if (r < 0)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			r = cn_err_set(-EBADMSG, "'%s' is not a regular file", child);
			break;
		}
		r = walk_add(w, child);
		if (r < 0)
			break;
	}
	(void)closedir(d);
	if (r >= 0 && seen == 0 && rel[0])
		r = cn_err_set(-EBADMSG, "empty folder '%s' (not in the listing)", rel);
	return r;
}

struct hash_pool {
	struct walk *w;
	atomic_size_t next;
	atomic_int err;
	pthread_mutex_t lock;
	struct cn_progress *progress;
	char msg[512];
};

static void *hash_worker(void *arg)
{
	struct hash_pool *p = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		_cleanup_close_ int fd = -EBADF;
		struct entry *e;
		uint8_t actual[32];
		char want_hex[65], got_hex[65];
		int r;

		if (i >= p->w->n || atomic_load(&p->err))
			return NULL;
		e = &p->w->e[i];
		/* Symlinks are followed here: HF cache snapshots point into blobs/. A FIFO or
		 * device fails at once (cn_open_input_at) instead of blocking the build. */
		r = cn_open_input_at(p->w->root_fd, e->path, false, &fd, NULL);
		if (r < 0)
			;
		else if (e->by_name) {
			struct stat st;

			r = fstat(fd, &st) < 0			   ? -errno
			    : (uint64_t)st.st_size != e->want.size ? -EMSGSIZE
								   : 0;
		} else
			r = cn_hub_hash_fd(fd, &e->want, actual);
		if (r < 0) {
			int expected = 0;

			(void)pthread_mutex_lock(&p->lock);
			if (atomic_compare_exchange_strong(&p->err, &expected, r)) {
				if (r == -EKEYREJECTED)
					(void)snprintf(
					    p->msg, sizeof(p->msg), "'%s': %s %s, expected %s",
					    e->path, algo(&e->want),
					    cn_hex(actual, cn_hub_digest_len(&e->want), got_hex),
					    cn_hex(e->want.digest, cn_hub_digest_len(&e->want),
						   want_hex));
				else if (r == -EMSGSIZE)
					(void)snprintf(
					    p->msg, sizeof(p->msg),
					    "'%s': size differs from the expected %llu bytes",
					    e->path, (unsigned long long)e->want.size);
				else
					(void)snprintf(p->msg, sizeof(p->msg), "'%s': %s", e->path,
						       cn_strerror(r));
			}
			(void)pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		cn_progress_add(p->progress, e->want.size);
	}
}

static int hash_all(struct walk *w, unsigned threads, bool progress)
{
	struct hash_pool p = {.w = w, .progress = NULL};
	struct cn_progress bar;
	pthread_t tid[CN_HUB_PARALLEL_MAX];
	unsigned started = 0;
	uint64_t total = 0;

	for (size_t i = 0; i < w->n; i++)
		total += w->e[i].want.size;
	cn_progress_begin(&bar, "checking files", total, progress);
	p.progress = &bar;
	(void)pthread_mutex_init(&p.lock, NULL);
	threads = CN_MAX(1u, CN_MIN(threads, CN_HUB_PARALLEL_MAX));
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&tid[started], NULL, hash_worker, &p) == 0)
			started++;
	(void)hash_worker(&p);
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(tid[i], NULL);
	cn_progress_end(&bar);
	(void)pthread_mutex_destroy(&p.lock);
	if (atomic_load(&p.err))
		return cn_err_set(atomic_load(&p.err), "%s", p.msg);
	return 0;
}

static void walk_done(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->e[i].path);
	free(w->e);
	if (w->root_fd >= 0)
		(void)close(w->root_fd);
	*w = (struct walk){.root_fd = -EBADF};
}

static int walk_open(struct walk *w, const char *dir)
{
	int r;

	*w = (struct walk){.root_fd = -EBADF};
	w->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->root_fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", dir, strerror(errno));
	r = walk_dir(w, "", 0);
	return r;
}

/* True if path is an HF cache link whose blob is named by the expected LFS SHA-256. */
static bool lfs_link_named(int root_fd, const char *path, const struct cn_hub_file *want)
{
	char target[4096], hex[65];
	const char *base;
	ssize_t n;

	if (!want->lfs)
		return false;
	n = readlinkat(root_fd, path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return strcmp(base, cn_hex(want->digest, 32, hex)) == 0;
}

int cn_hub_dir_verify(const char *dir, const struct cn_hub_tree *t, unsigned threads, bool progress)
{
	struct walk w;
	int r;

	r = walk_open(&w, dir);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < w.n; i++) {
		const struct cn_hub_file *f = cn_hub_tree_find(t, w.e[i].path);

		if (!f) {
			r = cn_err_set(-EBADMSG, "'%s' is not in the listing", w.e[i].path);
			goto out;
		}
		w.e[i].want = *f;
		w.e[i].by_name = lfs_link_named(w.root_fd, w.e[i].path, f);
	}
	if (w.n != t->n) {
		r = cn_err_set(-ENOENT, "%zu of %zu files are missing", t->n - w.n, t->n);
		goto out;
	}
	r = hash_all(&w, threads, progress);
out:
	walk_done(&w);
	return r;
}

int cn_hub_cache_verify_offline(const char *dir, unsigned threads, bool progress)
{
	struct walk w;
	int r;

	r = walk_open(&w, dir);
	if (r < 0)
		goto out;
	if (w.n == 0) {
		r = cn_err_set(-ENOENT, "the snapshot is empty");
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		char target[4096];
		struct stat st;
		const char *base;
		ssize_t n = readlinkat(w.root_fd, w.e[i].path, target, sizeof(target) - 1);

		if (n < 0) {
			r = cn_err_set(
			    -EBADMSG,
			    "'%s' is not a link into the cache's blobs/ (cannot check it offline)",
			    w.e[i].path);
			goto out;
		}
		target[n] = 0;
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (strlen(base) == 64 && cn_is_lower_hex(base, 64))
			w.e[i].want.lfs = w.e[i].by_name = true;
		else if (!(strlen(base) == 40 && cn_is_lower_hex(base, 40))) {
			r = cn_err_set(-EBADMSG,
				       "'%s' links to '%s', not into blobs/ under its content hash",
				       w.e[i].path, target);
			goto out;
		}
		(void)cn_unhex_exact(base, w.e[i].want.digest, cn_hub_digest_len(&w.e[i].want));
		if (fstatat(w.root_fd, w.e[i].path, &st, 0) < 0) {
			r = cn_err_set(-errno, "'%s': %s", w.e[i].path, strerror(errno));
			goto out;
		}
		w.e[i].want.size = (uint64_t)st.st_size;
		w.e[i].want.path = w.e[i].path;
	}
	r = hash_all(&w, threads, progress);
out:
	walk_done(&w);
	return r;
}

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
	unsigned stall_fail, http_fail, hash_fail, resumes;
	uint64_t not_before_ns;
	enum job_state state;
	/* per attempt */
	CURL *h;
	struct cn_http_headers hh;
	char errbuf[CURL_ERROR_SIZE];
	int err;      /* set by the write callback */
	bool checked; /* status examined (first body byte) */
	bool discard; /* error response: body is thrown away */
	bool ranged;
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
	return digest_start(j->md, j->f);
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
	j->ranged = j->have > 0;
	j->have_at_start = j->have;
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

/* The transfer of j ended. Returns < 0 on a fatal error (message set). */
static int job_finished(struct job *j, CURLcode c)
{
	struct dl *d = j->dl;
	uint8_t actual[32];
	char want_hex[65], got_hex[65];
	long st = 0;
	uint64_t ms;
	int r;

	(void)curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &st);
	if (!j->checked && c == CURLE_OK) {
		r = job_check_status(j); /* empty body */
		if (r < 0)
			j->err = r;
	}
	if (j->err == -ENOSPC || j->err == -EDQUOT || j->err == -EIO || j->err == -EROFS ||
	    j->err == -EFBIG) {
		r = disk_error(j, j->err);
		job_detach(j);
		return r;
	}
	if (j->err == -EOVERFLOW) {
		job_detach(j);
		goto mismatch_size;
	}
	if (j->err < 0) {
		/* A malformed partial response: start this file again from byte 0. */
		job_detach(j);
		if (++j->http_fail > d->h->retries)
			return j->err;
		r = job_reset(j);
		if (r < 0)
			return disk_error(j, r);
		job_retry_at(j, cn_hub_backoff_ms(j->http_fail));
		return 0;
	}
	if (j->discard) {
		/* An error status (the body, if any, was thrown away). */
		struct cn_http_headers hh = j->hh;

		j->hh = (struct cn_http_headers){0};
		job_detach(j);
		if ((st == 429 || (st >= 500 && st <= 504)) && ++j->http_fail <= d->h->retries) {
			long s;
			bool clamped = false;

			if (hh.retry_after &&
			    cn_http_parse_retry_after(hh.retry_after, CN_HUB_RETRY_AFTER_MAX_S, &s,
						      &clamped) == 0) {
				if (clamped) {
					cn_http_headers_done(&hh);
					return cn_err_set(-EBUSY,
							  "rate limited while downloading '%s': "
							  "the hub asks to wait "
							  "more than %ld s; try again later",
							  j->f->path, CN_HUB_RETRY_AFTER_MAX_S);
				}
				ms = (uint64_t)s * 1000;
			} else
				ms = cn_hub_backoff_ms(j->http_fail);
			cn_http_headers_done(&hh);
			log_debug("hub: HTTP %ld for '%s', retry in %llu ms", st, j->f->path,
				  (unsigned long long)ms);
			job_retry_at(j, ms);
			return 0;
		}
		if (st == 401 || st == 403) {
			/* Gated repositories show their listing to anyone; files need an accepted
			 * token. */
			bool gated = hh.error_code && strcmp(hh.error_code, "GatedRepo") == 0;

			cn_http_headers_done(&hh);
			if (gated && st == 401)
				return cn_err_set(
				    -EACCES,
				    "repository '%s' is gated (401): %s; accept its terms on the "
				    "hub "
				    "and give a token with --hf-token, HF_TOKEN or $HF_HOME/token",
				    d->h->repo,
				    d->h->token ? "the token was not accepted"
						: "no token was given");
			if (gated)
				return cn_err_set(
				    -EACCES,
				    "repository '%s' is gated and the token has no access (403): "
				    "request access on the hub",
				    d->h->repo);
			if (st == 401)
				return cn_err_set(
				    -EACCES,
				    d->h->token
					? "downloading '%s': the hub rejected the token (401)"
					: "downloading '%s' needs a token (401)",
				    j->f->path);
			return cn_err_set(
			    -EACCES, "downloading '%s' is forbidden (403) for %s", j->f->path,
			    d->h->token ? "this token" : "anonymous requests (no token given)");
		}
		cn_http_headers_done(&hh);
		switch (st) {
		case 404:
			return cn_err_set(-ENOENT, "file '%s' not found at commit %s (404)",
					  j->f->path, d->commit);
		case 429:
			return cn_err_set(
			    -EBUSY,
			    "rate limited (429) while downloading '%s' after %u retries; try "
			    "again later",
			    j->f->path, d->h->retries);
		case 416:
			/* Range not satisfiable: start again from byte 0. */
			if (j->http_fail++ < d->h->retries) {
				r = job_reset(j);
				if (r < 0)
					return disk_error(j, r);
				job_retry_at(j, 0);
				return 0;
			}
			__attribute__((fallthrough));
		default:
			return cn_err_set(-EIO, "downloading '%s' failed with HTTP %ld", j->f->path,
					  st);
		}
	}
	if (c != CURLE_OK && j->have < j->f->size) {
		/* Broken or stalled transfer: resume with a Range request. (A transfer that broke
		 * after the last byte goes on to the hash check.) */
		r = cn_http_curl_error(c, j->errbuf, j->url);
		job_detach(j);
		if (j->have - j->have_at_start >= CN_HUB_PROGRESS_RESET)
			j->stall_fail = 0;
		else
			j->stall_fail++;
		if (j->stall_fail > CN_HUB_STALL_RETRIES || ++j->resumes > 8 * (d->h->retries + 1))
			return cn_net_err_wrap(r, "downloading '%s'", j->f->path);
		log_debug("hub: '%s' broke at byte %llu (%s), resuming", j->f->path,
			  (unsigned long long)j->have, cn_err_msg());
		job_retry_at(j, j->stall_fail ? cn_hub_backoff_ms(j->stall_fail) : 0);
		return 0;
	}
	job_detach(j);
	if (j->have < j->f->size) {
		/* The server ended the body early without an error: resume. */
		if (j->have - j->have_at_start >= CN_HUB_PROGRESS_RESET)
			j->stall_fail = 0;
		else
			j->stall_fail++;
		if (j->stall_fail > CN_HUB_STALL_RETRIES || ++j->resumes > 8 * (d->h->retries + 1))
			return cn_err_set(-EIO,
					  "downloading '%s': the server keeps ending the body at "
					  "byte %llu of %llu",
					  j->f->path, (unsigned long long)j->have,
					  (unsigned long long)j->f->size);
		job_retry_at(j, 0);
		return 0;
	}
	if (EVP_DigestFinal_ex(j->md, actual, NULL) != 1)
		return cn_err_set(-EIO, "digest failure");
	if (CRYPTO_memcmp(actual, j->f->digest, cn_hub_digest_len(j->f)) != 0) {
		cn_hex(actual, cn_hub_digest_len(j->f), got_hex);
		cn_hex(j->f->digest, cn_hub_digest_len(j->f), want_hex);
		if (j->hash_fail++ == 0) {
			log_debug("hub: '%s' %s mismatch (got %s), downloading it again",
				  j->f->path, algo(j->f), got_hex);
			r = job_reset(j);
			if (r < 0)
				return disk_error(j, r);
			job_retry_at(j, 0);
			return 0;
		}
		(void)unlink(j->part);
		return cn_err_set(-EKEYREJECTED,
				  "'%s' is corrupt: %s %s, expected %s (listing of commit %s); "
				  "downloaded twice, giving up",
				  j->f->path, algo(j->f), got_hex, want_hex, d->commit);
	}
	/* No fdatasync: a part is hashed again before any later run reuses it, and the image
	 * build that follows fsyncs its own outputs. */
	if (rename(j->part, j->done_path) < 0)
		return disk_error(j, -errno);
	j->state = JOB_DONE;
	d->done++;
	return 0;

mismatch_size:
	if (j->hash_fail++ == 0) {
		r = job_reset(j);
		if (r < 0)
			return disk_error(j, r);
		job_retry_at(j, 0);
		return 0;
	}
	(void)unlink(j->part);
	return cn_err_set(-EKEYREJECTED,
			  "'%s' is corrupt: the server sent more than the %llu bytes of the "
			  "listing; downloaded twice, giving up",
			  j->f->path, (unsigned long long)j->f->size);
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
	r = digest_start(j->md, j->f);
	if (r < 0)
		return cn_err_set(r, "digest failure");
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > j->f->size) {
		if (ftruncate(j->fd, 0) < 0)
			return disk_error(j, -errno);
	} else if (st.st_size > 0) {
		/* Resume a part left by an interrupted run of the same commit. */
		r = digest_fd(j->md, j->fd, (uint64_t)st.st_size);
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
