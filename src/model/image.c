/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The single pass: one producer reads headers and file data into 4 MiB chunks; hash workers turn
 * each 512 KiB (128 blocks) into a level-0 verity block written in place; one thread writes the
 * chunks to the tar in order; one thread computes each file's SHA-256 in order. Slot s % N holds
 * chunk s, so every queue is a counter. Memory: N chunks, whatever the model size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/threads.h"
#include "model/image.h"

#define CHUNK (4u << 20)
#define SUB (CN_VERITY_PER_BLOCK * CN_VERITY_BLOCK) /* 512 KiB: one level-0 hash block */
#define SLOTS_MAX 20u
#define SEGS_PER_CHUNK (CHUNK / CN_TAR_BLOCK + 2)
#define FHASH_MAX 8u

struct seg {
	uint32_t entry;
	uint32_t off;
	uint32_t len;
	bool first, last;
};

struct slot {
	uint8_t *buf;
	uint64_t seq;
	size_t len;
	struct seg *segs;
	size_t nsegs;
	unsigned nsubs;
	int refs; /* stages still using it */
	bool filled;
};

struct pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[SLOTS_MAX];
	unsigned nslots;
	uint64_t produced; /* chunks published */
	bool eof;	   /* producer done (or gave up) */
	int err;
	char errmsg[512];

	uint64_t hseq; /* next chunk to hand out for hashing */
	unsigned hsub;

	int tar_fd, verity_fd;
	uint64_t level0_off;
	unsigned levels;
	uint8_t first_digest[CN_VERITY_DIGEST];
	struct cn_tar_plan *plan;
	struct cn_progress *progress;
	unsigned nfhash; /* file hashers; hasher k owns the files with entry index % nfhash == k */
};

struct fhash_arg {
	struct pipe *p;
	unsigned id;
};

static void pipe_fail(struct pipe *p, int r)
{
	(void)pthread_mutex_lock(&p->lock);
	if (!p->err) {
		p->err = r < 0 ? r : -EIO;
		(void)snprintf(p->errmsg, sizeof(p->errmsg), "%s", cn_err_msg());
	}
	(void)pthread_cond_broadcast(&p->cond);
	(void)pthread_mutex_unlock(&p->lock);
}

/* Called with the lock held. */
/* A consumer's next slot (p->lock held): waits until slot seq is produced; NULL when the pipe
 * failed, or ended before it. */
static struct slot *slot_wait(struct pipe *p, uint64_t seq)
{
	while (!p->err && seq >= p->produced && !p->eof)
		(void)pthread_cond_wait(&p->cond, &p->lock);
	if (p->err || seq >= p->produced)
		return NULL;
	return &p->slots[seq % p->nslots];
}

static void slot_release(struct pipe *p, struct slot *s)
{
	if (--s->refs == 0) {
		s->filled = false;
		(void)pthread_cond_broadcast(&p->cond);
	}
}

static void *hash_worker(void *arg)
{
	struct pipe *p = arg;
	struct cn_verity_hasher h;
	uint8_t *hb = NULL;
	int r;

	r = cn_verity_hasher_init(&h, cn_verity_salt, sizeof(cn_verity_salt));
	if (r < 0) {
		pipe_fail(p, r);
		return NULL;
	}
	if (posix_memalign((void **)&hb, 4096, CN_VERITY_BLOCK) != 0) {
		pipe_fail(p, -ENOMEM);
		goto out;
	}
	(void)pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *s;
		unsigned sub;
		uint64_t b0, nb, off;

		while (!p->err && p->hseq >= p->produced && !p->eof)
			(void)pthread_cond_wait(&p->cond, &p->lock);
		if (p->err || p->hseq >= p->produced)
			break;
		s = &p->slots[p->hseq % p->nslots];
		sub = p->hsub++;
		if (p->hsub == s->nsubs) {
			p->hseq++;
			p->hsub = 0;
		}
		(void)pthread_mutex_unlock(&p->lock);

		off = (uint64_t)sub * SUB;
		b0 = (s->seq * CHUNK + off) / CN_VERITY_BLOCK;
		nb = CN_MIN((uint64_t)CN_VERITY_PER_BLOCK, (s->len - off) / CN_VERITY_BLOCK);
		memset(hb, 0, CN_VERITY_BLOCK);
		for (uint64_t i = 0; i < nb && r >= 0; i++)
			r = cn_verity_hash_block(&h, s->buf + off + i * CN_VERITY_BLOCK,
						 hb + i * CN_VERITY_DIGEST);
		if (r >= 0 && b0 == 0)
			memcpy(p->first_digest, hb, CN_VERITY_DIGEST);
		if (r >= 0 && p->levels > 0) {
			r = cn_pwrite_all(p->verity_fd, hb, CN_VERITY_BLOCK,
					  p->level0_off +
					      b0 / CN_VERITY_PER_BLOCK * CN_VERITY_BLOCK);
			if (r < 0)
				r = cn_err_set(r, "cannot write the verity file: %s", strerror(-r));
		}
		if (r < 0)
			pipe_fail(p, r);
		(void)pthread_mutex_lock(&p->lock);
		slot_release(p, s);
		if (r < 0)
			break;
	}
	(void)pthread_mutex_unlock(&p->lock);
out:
	free(hb);
	cn_verity_hasher_done(&h);
	return NULL;
}

static void *write_worker(void *arg)
{
	struct pipe *p = arg;

	(void)pthread_mutex_lock(&p->lock);
	for (uint64_t seq = 0;; seq++) {
		struct slot *s;
		int r;

		s = slot_wait(p, seq);
		if (!s)
			break;
		(void)pthread_mutex_unlock(&p->lock);
		r = cn_pwrite_all(p->tar_fd, s->buf, s->len, s->seq * CHUNK);
		if (r == -EINVAL) {
			/* Some file systems accept O_DIRECT at open but not for writes: go
			 * buffered. */
			int fl = fcntl(p->tar_fd, F_GETFL);

			if (fl >= 0 && (fl & O_DIRECT) &&
			    fcntl(p->tar_fd, F_SETFL, fl & ~O_DIRECT) == 0)
				r = cn_pwrite_all(p->tar_fd, s->buf, s->len, s->seq * CHUNK);
		}
		if (r < 0)
			pipe_fail(p, cn_err_set(r, "cannot write the tar: %s", strerror(-r)));
		else if (p->progress)
			cn_progress_add(p->progress, s->len);
		(void)pthread_mutex_lock(&p->lock);
		slot_release(p, s);
		if (r < 0)
			break;
	}
	(void)pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void *file_hash_worker(void *arg)
{
	struct fhash_arg *a = arg;
	struct pipe *p = a->p;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);

	if (!ctx || !md) {
		pipe_fail(p, cn_err_set(-ENOMEM, "cannot set up SHA-256"));
		goto out;
	}
	(void)pthread_mutex_lock(&p->lock);
	for (uint64_t seq = 0;; seq++) {
		struct slot *s;
		bool ok = true;

		s = slot_wait(p, seq);
		if (!s)
			break;
		(void)pthread_mutex_unlock(&p->lock);
		/* Segments of one file arrive in order, so each file's digest runs sequentially;
		 * different files run on different hashers. */
		for (size_t i = 0; i < s->nsegs && ok; i++) {
			const struct seg *g = &s->segs[i];

			if (g->entry % p->nfhash != a->id)
				continue;
			if (g->first && EVP_DigestInit_ex2(ctx, md, NULL) != 1)
				ok = false;
			if (ok && g->len && EVP_DigestUpdate(ctx, s->buf + g->off, g->len) != 1)
				ok = false;
			if (ok && g->last &&
			    EVP_DigestFinal_ex(ctx, p->plan->e[g->entry].sha256, NULL) != 1)
				ok = false;
		}
		if (!ok)
			pipe_fail(p, cn_err_set(-EIO, "SHA-256 failed"));
		(void)pthread_mutex_lock(&p->lock);
		slot_release(p, s);
		if (!ok)
			break;
	}
	(void)pthread_mutex_unlock(&p->lock);
out:
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* Producer state. */
struct prod {
	struct pipe *p;
	uint64_t seq;
	struct slot *cur;
	size_t pos;
	uint64_t off; /* stream offset */
};

static int prod_acquire(struct prod *w)
{
	struct pipe *p = w->p;
	struct slot *s = &p->slots[w->seq % p->nslots];
	int r;

	(void)pthread_mutex_lock(&p->lock);
	while (!p->err && (s->filled || s->refs > 0))
		(void)pthread_cond_wait(&p->cond, &p->lock);
	r = p->err;
	(void)pthread_mutex_unlock(&p->lock);
	if (r)
		return r;
	s->nsegs = 0;
	s->len = 0;
	w->cur = s;
	w->pos = 0;
	return 0;
}

static int prod_publish(struct prod *w)
{
	struct pipe *p = w->p;
	struct slot *s = w->cur;

	s->seq = w->seq;
	s->len = w->pos;
	s->nsubs = (unsigned)((w->pos + SUB - 1) / SUB);
	(void)pthread_mutex_lock(&p->lock);
	s->refs = (int)(s->nsubs + 1 + p->nfhash);
	s->filled = true;
	p->produced = w->seq + 1;
	(void)pthread_cond_broadcast(&p->cond);
	(void)pthread_mutex_unlock(&p->lock);
	w->seq++;
	w->cur = NULL;
	return 0;
}

static int prod_advance(struct prod *w, size_t n)
{
	w->pos += n;
	w->off += n;
	if (w->pos == CHUNK) {
		int r = prod_publish(w);

		if (r < 0)
			return r;
		return prod_acquire(w);
	}
	return 0;
}

static int prod_bytes(struct prod *w, const uint8_t *b, size_t n)
{
	while (n) {
		size_t k = CN_MIN(n, CHUNK - w->pos);
		int r;

		if (b) {
			memcpy(w->cur->buf + w->pos, b, k);
			b += k;
		} else {
			memset(w->cur->buf + w->pos, 0, k);
		}
		n -= k;
		r = prod_advance(w, k);
		if (r < 0)
			return r;
	}
	return 0;
}

static int prod_zeros(struct prod *w, uint64_t n)
{
	while (n) {
		size_t k = (size_t)CN_MIN(n, (uint64_t)CHUNK);
		int r = prod_bytes(w, NULL, k);

		if (r < 0)
			return r;
		n -= k;
	}
	return 0;
}

static void add_seg(struct prod *w, size_t entry, size_t len, bool first, bool last)
{
	struct slot *s = w->cur;

	s->segs[s->nsegs++] = (struct seg){.entry = (uint32_t)entry,
					   .off = (uint32_t)w->pos,
					   .len = (uint32_t)len,
					   .first = first,
					   .last = last};
}

static bool same_file(const struct cn_tar_entry *e, const struct stat *st)
{
	return st->st_dev == e->dev && st->st_ino == e->ino && S_ISREG(st->st_mode) &&
	       (uint64_t)st->st_size == e->size && st->st_mtim.tv_sec == e->mtime.tv_sec &&
	       st->st_mtim.tv_nsec == e->mtime.tv_nsec && st->st_ctim.tv_sec == e->ctime.tv_sec &&
	       st->st_ctim.tv_nsec == e->ctime.tv_nsec;
}

static int prod_file(struct prod *w, int root_fd, size_t idx)
{
	struct cn_tar_entry *e = &w->p->plan->e[idx];
	_cleanup_close_ int fd = -EBADF;
	uint64_t left = e->size;
	bool first = true;
	struct stat st;
	uint8_t extra;
	ssize_t n;
	int r;

	/* O_NONBLOCK: a file swapped for a FIFO since the scan must not block the open (the
	 * check below then refuses it); reads of regular files ignore the flag. */
	fd = e->src ? open(e->src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
		    : openat(root_fd, e->rel,
			     O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", e->rel, strerror(errno));
	if (fstat(fd, &st) < 0)
		return cn_err_set(-errno, "cannot stat '%s'", e->rel);
	if (!same_file(e, &st))
		return cn_err_set(
		    -EIO, "'%s' changed since the folder was scanned (size, mtime, ctime or inode)",
		    e->rel);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (left == 0)
		add_seg(w, idx, 0, true, true);
	while (left) {
		size_t k = (size_t)CN_MIN(left, (uint64_t)(CHUNK - w->pos)), got = 0;

		while (got < k) {
			n = read(fd, w->cur->buf + w->pos + got, k - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return cn_err_set(-errno, "cannot read '%s': %s", e->rel,
						  strerror(errno));
			if (n == 0)
				return cn_err_set(-EIO, "'%s' shrank while it was read", e->rel);
			got += (size_t)n;
		}
		add_seg(w, idx, k, first, left == k);
		first = false;
		left -= k;
		r = prod_advance(w, k);
		if (r < 0)
			return r;
	}
	do
		n = read(fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0 || fstat(fd, &st) < 0 || !same_file(e, &st))
		return cn_err_set(-EIO, "'%s' changed while it was read (size, mtime or ctime)",
				  e->rel);
	return 0;
}

static int produce(struct pipe *p, int root_fd)
{
	struct prod w = {.p = p};
	_cleanup_free_ uint8_t *hdr = malloc(CN_TAR_HDR_MAX);
	struct cn_tar_plan *plan = p->plan;
	int r;

	if (!hdr)
		return -ENOMEM;
	r = prod_acquire(&w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < plan->n; i++) {
		struct cn_tar_entry *e = &plan->e[i];
		size_t hl;

		if (w.off != e->off)
			return cn_err_set(-EIO, "internal error: '%s' at offset %llu, planned %llu",
					  e->rel, (unsigned long long)w.off,
					  (unsigned long long)e->off);
		hl = cn_tar_entry_headers(plan, e, hdr);
		r = prod_bytes(&w, hdr, hl);
		if (r < 0)
			return r;
		if (e->type != CN_TAR_REG)
			continue;
		r = prod_file(&w, root_fd, i);
		if (r < 0)
			return r;
		r = prod_zeros(&w, (CN_TAR_BLOCK - e->size % CN_TAR_BLOCK) % CN_TAR_BLOCK);
		if (r < 0)
			return r;
	}
	/* End-of-archive blocks, the 10240 record and the reference's 4096 padding. */
	r = prod_zeros(&w, plan->padded_size - w.off);
	if (r < 0)
		return r;
	if (w.pos > 0)
		return prod_publish(&w);
	return 0;
}

int cn_image_write(struct cn_tar_plan *plan, const char *root_dir, int tar_fd, int verity_fd,
		   struct cn_progress *progress, uint8_t ret_root[CN_VERITY_DIGEST])
{
	struct pipe p = {
	    .tar_fd = tar_fd, .verity_fd = verity_fd, .plan = plan, .progress = progress};
	_cleanup_close_ int root_fd = -EBADF;
	struct cn_verity_geo g;
	struct cn_verity_sb sb = {.salt_size = sizeof(cn_verity_salt)};
	unsigned nworkers = cn_threads();
	pthread_t tids[SLOTS_MAX + 2 + FHASH_MAX];
	struct fhash_arg fargs[FHASH_MAX];
	unsigned started = 0;
	int r;

	r = cn_verity_geometry(plan->padded_size / CN_VERITY_BLOCK, &g);
	if (r < 0)
		return r;
	p.levels = g.levels;
	p.level0_off = g.levels ? g.level_off[0] : 0;
	root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return cn_err_set(-errno, "cannot open source folder '%s': %s", root_dir,
				  strerror(errno));
	/* Size the file up front (the superblock block stays zero until the end). */
	if (ftruncate(verity_fd, (off_t)g.file_size) < 0)
		return cn_err_set(-errno, "cannot size the verity file: %s", strerror(errno));

	p.nslots = CN_MIN(nworkers * 2 + 4, SLOTS_MAX);
	/* One file hasher per two cores (at most FHASH_MAX), never more than there are files. */
	p.nfhash =
	    (unsigned)CN_MAX(1, CN_MIN((uint64_t)CN_MIN(nworkers / 2, FHASH_MAX), plan->nfiles));
	(void)pthread_mutex_init(&p.lock, NULL);
	(void)pthread_cond_init(&p.cond, NULL);
	for (unsigned i = 0; i < p.nslots; i++) {
		if (posix_memalign((void **)&p.slots[i].buf, 4096, CHUNK) != 0 ||
		    !(p.slots[i].segs = calloc(SEGS_PER_CHUNK, sizeof(struct seg)))) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (pthread_create(&tids[started], NULL, write_worker, &p) != 0) {
		r = -EAGAIN;
		goto out;
	}
	started++;
	for (unsigned k = 0; k < p.nfhash; k++) {
		fargs[k] = (struct fhash_arg){.p = &p, .id = k};
		if (pthread_create(&tids[started], NULL, file_hash_worker, &fargs[k]) != 0) {
			pipe_fail(&p, -EAGAIN);
			goto join;
		}
		started++;
	}
	for (unsigned i = 0; i < nworkers && started < ELEMENTSOF(tids); i++) {
		if (pthread_create(&tids[started], NULL, hash_worker, &p) != 0) {
			if (i == 0)
				pipe_fail(&p, -EAGAIN);
			break;
		}
		started++;
	}
	r = produce(&p, root_fd);
	if (r < 0)
		pipe_fail(&p, r);
join:
	(void)pthread_mutex_lock(&p.lock);
	p.eof = true;
	(void)pthread_cond_broadcast(&p.cond);
	(void)pthread_mutex_unlock(&p.lock);
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(tids[i], NULL);
	r = p.err ? cn_err_set(p.err, "%s", p.errmsg) : 0;
	if (r < 0)
		goto out;
	memcpy(sb.uuid, cn_verity_uuid, sizeof(sb.uuid));
	memcpy(sb.salt, cn_verity_salt, sizeof(cn_verity_salt));
	sb.data_blocks = g.data_blocks;
	r = cn_verity_finish(verity_fd, &g, &sb, p.first_digest, ret_root);
out:
	for (unsigned i = 0; i < p.nslots; i++) {
		free(p.slots[i].buf);
		free(p.slots[i].segs);
	}
	(void)pthread_cond_destroy(&p.cond);
	(void)pthread_mutex_destroy(&p.lock);
	return r;
}

int cn_image_verity_from_tar(int tar_fd, uint64_t size, int verity_fd, struct cn_progress *progress,
			     uint8_t ret_root[CN_VERITY_DIGEST])
{
	struct cn_verity_geo g;
	struct cn_verity_sb sb = {.salt_size = sizeof(cn_verity_salt)};
	uint8_t first[CN_VERITY_DIGEST];
	int r;

	if (size == 0 || size % CN_VERITY_BLOCK)
		return cn_err_set(
		    -EINVAL, "the tar is %llu bytes, not a positive multiple of 4096 (not padded)",
		    (unsigned long long)size);
	r = cn_verity_geometry(size / CN_VERITY_BLOCK, &g);
	if (r < 0)
		return r;
	if (ftruncate(verity_fd, (off_t)g.file_size) < 0)
		return cn_err_set(-errno, "cannot size the verity file: %s", strerror(errno));
	if (g.levels > 0) {
		r = cn_verity_create_level(tar_fd, 0, g.data_blocks, verity_fd, g.level_off[0],
					   cn_verity_salt, sizeof(cn_verity_salt), progress);
		if (r < 0)
			return r;
	} else {
		struct cn_verity_hasher h;
		_cleanup_free_ uint8_t *blk = malloc(CN_VERITY_BLOCK);

		if (!blk)
			return -ENOMEM;
		r = cn_pread_all(tar_fd, blk, CN_VERITY_BLOCK, 0);
		if (r < 0)
			return cn_err_set(r, "cannot read the tar");
		r = cn_verity_hasher_init(&h, cn_verity_salt, sizeof(cn_verity_salt));
		if (r < 0)
			return r;
		r = cn_verity_hash_block(&h, blk, first);
		cn_verity_hasher_done(&h);
		if (r < 0)
			return r;
	}
	memcpy(sb.uuid, cn_verity_uuid, sizeof(sb.uuid));
	memcpy(sb.salt, cn_verity_salt, sizeof(cn_verity_salt));
	sb.data_blocks = g.data_blocks;
	return cn_verity_finish(verity_fd, &g, &sb, first, ret_root);
}
