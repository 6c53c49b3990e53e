/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hub files, the checks: the digests of a file (SHA-256 for LFS, git blob SHA-1 otherwise) and
 * the checks of existing folders (an earlier staging folder, an HF cache snapshot) against a
 * listing or, offline, against the blob names. The bytes are what is checked, whatever the names.
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
#include "hf/hub.h"

#define READ_CHUNK (1u << 20)

CN_DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)

int cn_hub_digest_start(EVP_MD_CTX *md, const struct cn_hub_file *f)
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
int cn_hub_digest_fd(EVP_MD_CTX *md, int fd, uint64_t len)
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
	r = cn_hub_digest_start(md, f);
	if (r < 0)
		return r;
	r = cn_hub_digest_fd(md, fd, f->size);
	if (r < 0)
		return r;
	if (EVP_DigestFinal_ex(md, actual, NULL) != 1)
		return -EIO;
	return CRYPTO_memcmp(actual, f->digest, cn_hub_digest_len(f)) == 0 ? 0 : -EKEYREJECTED;
}

const char *cn_hub_algo(const struct cn_hub_file *f)
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
					    e->path, cn_hub_algo(&e->want),
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

/*
 * True if path is an HF cache link straight to a regular file named by the expected LFS SHA-256:
 * the image build's single pass then checks its content against that name. A blob that is itself
 * a link (blobs/<sha256> -> elsewhere) is not trusted by name: its bytes are hashed here.
 */
static bool lfs_link_named(int root_fd, const char *path, const struct cn_hub_file *want)
{
	char target[4096], hex[65], at[8192];
	const char *base, *slash = strrchr(path, '/');
	struct stat st;
	ssize_t n;

	if (!want->lfs)
		return false;
	n = readlinkat(root_fd, path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strcmp(base, cn_hex(want->digest, 32, hex)) != 0)
		return false;
	/* The link's target, relative to the link's folder, must not be a link again. */
	if (target[0] == '/')
		(void)snprintf(at, sizeof(at), "%s", target);
	else
		(void)snprintf(at, sizeof(at), "%.*s%s", slash ? (int)(slash - path + 1) : 0, path,
			       target);
	return fstatat(root_fd, at, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
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
