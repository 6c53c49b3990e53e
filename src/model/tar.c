/* SPDX-License-Identifier: Apache-2.0 */
/* The stat walk and the GNU tar header encoder (posix format, build-model flags). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "model/tar.h"

#define USTAR_SIZE_MAX UINT64_C(077777777777) /* 11 octal digits: 8 GiB - 1 */

struct link_slot {
	dev_t dev;
	ino_t ino;
	size_t idx; /* entry index + 1; 0 = empty */
};

struct walk {
	struct cn_tar_plan *p;
	bool hf;
	const char *root_abs;
	char *blobs_prefix; /* "<repo>/blobs/" (HF cache mode) */
	struct link_slot *links;
	size_t links_cap, links_n;
};

static void entry_free(struct cn_tar_entry *e)
{
	free(e->name);
	free(e->rel);
	free(e->src);
	free(e->link);
}

void cn_tar_plan_done(struct cn_tar_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->e[i]);
	free(p->e);
	*p = (struct cn_tar_plan){0};
}

uint64_t cn_tar_padded_size(uint64_t tar_size)
{
	return tar_size + (4096 - tar_size % 4096);
}

static uint32_t tar_mode(mode_t m)
{
	uint32_t v = (uint32_t)m & 07777, u = (v >> 6) & 7;

	return (v | u << 3 | u) & ~(uint32_t)022; /* --mode='go+u,go-w' */
}

static bool needs_pax_path(const char *name)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)name; *s; s++, n++)
		if (*s >= 0x80)
			return true;
	return n > 100;
}

/* "%d %s=%s\n" where %d counts the whole record. */
static size_t pax_record_len(const char *key, size_t vlen)
{
	size_t body = strlen(key) + vlen + 3, len = body + 1;

	for (;;) {
		size_t digits = 1, want;

		for (size_t t = len; t >= 10; t /= 10)
			digits++;
		want = body + digits;
		if (want == len)
			return len;
		len = want;
	}
}

static size_t pax_records_len(const struct cn_tar_entry *e)
{
	size_t n = 0;

	if (e->link && strlen(e->link) > 100)
		n += pax_record_len("linkpath", strlen(e->link));
	if (needs_pax_path(e->name))
		n += pax_record_len("path", strlen(e->name));
	if (e->type == CN_TAR_REG && e->size > USTAR_SIZE_MAX) {
		char tmp[32];

		n += pax_record_len("size", (size_t)snprintf(tmp, sizeof(tmp), "%llu",
							     (unsigned long long)e->size));
	}
	return n;
}

static uint64_t round512(uint64_t v)
{
	return (v + CN_TAR_BLOCK - 1) / CN_TAR_BLOCK * CN_TAR_BLOCK;
}

static int add_entry(struct walk *w, struct cn_tar_entry *e)
{
	struct cn_tar_plan *p = w->p;
	size_t rec;

	if (p->n >= CN_TAR_ENTRIES_MAX)
		return cn_err_set(-E2BIG, "the model has more than %u entries", CN_TAR_ENTRIES_MAX);
	if (strlen(e->name) > CN_TAR_PATH_MAX)
		return cn_err_set(-E2BIG, "path '%s' is longer than %u bytes", e->rel,
				  CN_TAR_PATH_MAX);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct cn_tar_entry *ne = reallocarray(p->e, cap, sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		p->e = ne;
		p->cap = cap;
	}
	rec = pax_records_len(e);
	e->hdr_len = (uint32_t)(CN_TAR_BLOCK + (rec ? CN_TAR_BLOCK + round512(rec) : 0));
	if (e->hdr_len > CN_TAR_HDR_MAX)
		return cn_err_set(-E2BIG, "headers of '%s' exceed %u bytes", e->rel,
				  CN_TAR_HDR_MAX);
	p->e[p->n++] = *e;
	*e = (struct cn_tar_entry){0};
	return 0;
}

static char *join_rel(const char *rel, const char *name)
{
	char *s;

	if (!*rel)
		return strdup(name);
	if (asprintf(&s, "%s/%s", rel, name) < 0)
		return NULL;
	return s;
}

static int check_mtime(const struct stat *st, const char *rel)
{
	if (st->st_mtim.tv_sec < 0)
		return cn_err_set(-EINVAL,
				  "'%s' has a modification time before 1970, which the reference "
				  "tar keeps (pax mtime); refusing",
				  rel);
	return 0;
}

/* A symlink target must be relative; cn_tar_plan_check_links() resolves it within the tree. */
static int check_symlink_target(const char *rel, const char *target)
{
	if (!*target)
		return cn_err_set(-EINVAL, "symlink '%s' has an empty target", rel);
	if (target[0] == '/')
		return cn_err_set(
		    -EINVAL, "symlink '%s' points to the absolute path '%s' outside the snapshot",
		    rel, target);
	return 0;
}

static size_t link_hash(dev_t d, ino_t i, size_t cap)
{
	uint64_t h = (uint64_t)d * 0x9e3779b97f4a7c15ULL ^ (uint64_t)i * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ h >> 29) & (cap - 1);
}

/* Returns the index + 1 of the first entry with this inode, or 0 after recording idx. */
static int link_lookup(struct walk *w, dev_t dev, ino_t ino, size_t idx, size_t *ret_first)
{
	size_t h;

	if ((w->links_n + 1) * 2 > w->links_cap) {
		size_t cap = w->links_cap ? w->links_cap * 2 : 64;
		struct link_slot *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < w->links_cap; i++) {
			struct link_slot *s = &w->links[i];

			if (!s->idx)
				continue;
			for (h = link_hash(s->dev, s->ino, cap); n[h].idx; h = (h + 1) & (cap - 1))
				;
			n[h] = *s;
		}
		free(w->links);
		w->links = n;
		w->links_cap = cap;
	}
	for (h = link_hash(dev, ino, w->links_cap); w->links[h].idx;
	     h = (h + 1) & (w->links_cap - 1))
		if (w->links[h].dev == dev && w->links[h].ino == ino) {
			*ret_first = w->links[h].idx;
			return 0;
		}
	w->links[h] = (struct link_slot){.dev = dev, .ino = ino, .idx = idx + 1};
	w->links_n++;
	*ret_first = 0;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b); /* bytes, as LC_ALL=C --sort=name */
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int walk_dir(struct walk *w, int dfd, const char *rel, unsigned depth);

/* The checks every regular file's content passes: a representable mtime and the size cap. */
static int check_file(const struct stat *st, const char *rel)
{
	int r = check_mtime(st, rel);

	if (r < 0)
		return r;
	if ((uint64_t)st->st_size > CN_TAR_SIZE_MAX)
		return cn_err_set(-E2BIG, "'%s' is larger than the cap", rel);
	return 0;
}

/* Adds e as a regular file of size bytes, counted in the plan's data. */
static int add_file(struct walk *w, struct cn_tar_entry *e, uint64_t size)
{
	e->type = CN_TAR_REG;
	e->size = size;
	w->p->data_bytes += e->size;
	w->p->nfiles++;
	return add_entry(w, e);
}

/* A folder: its entry, then its children (the walk goes on below dfd/name). */
static int walk_folder(struct walk *w, struct cn_tar_entry *e, int dfd, const struct stat *st,
		       const char *rel, const char *name, unsigned depth)
{
	int fd, r;

	r = check_mtime(st, rel);
	if (r < 0)
		return r;
	e->type = CN_TAR_DIR;
	if (asprintf(&e->name, "./%s/", rel) < 0)
		return -ENOMEM;
	r = add_entry(w, e);
	if (r < 0)
		return r;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open folder '%s': %s", rel, strerror(errno));
	return walk_dir(w, fd, rel, depth + 1); /* takes fd */
}

/*
 * HF cache: snapshots/<commit>/<path> -> ../../blobs/<hash>; the entry carries the blob's
 * content, which must be a regular file inside the cache's blobs/ folder.
 */
static int walk_hf_blob(struct walk *w, struct cn_tar_entry *e, const char *rel, const char *target)
{
	_cleanup_free_ char *full = cn_path_join(w->root_abs, rel), *real = NULL;
	const char *base;
	struct stat ts;
	int r;

	if (!full)
		return -ENOMEM;
	real = realpath(full, NULL);
	if (!real)
		return cn_err_set(-errno,
				  "snapshot file '%s' -> '%s' cannot be resolved "
				  "(incomplete download?): %s",
				  rel, target, strerror(errno));
	if (strncmp(real, w->blobs_prefix, strlen(w->blobs_prefix)) != 0)
		return cn_err_set(-EINVAL,
				  "snapshot symlink '%s' -> '%s' does not point into "
				  "the cache's blobs/ folder",
				  rel, target);
	if (stat(real, &ts) < 0)
		return cn_err_set(-errno, "cannot stat blob '%s' of '%s': %s", real, rel,
				  strerror(errno));
	if (!S_ISREG(ts.st_mode))
		return cn_err_set(-EINVAL, "blob '%s' of '%s' is not a regular file", real, rel);
	r = check_file(&ts, rel);
	if (r < 0)
		return r;
	e->mode = 0644; /* a plain download never carries exec bits */
	e->dev = ts.st_dev;
	e->ino = ts.st_ino;
	e->mtime = ts.st_mtim;
	e->ctime = ts.st_ctim;
	/* LFS blobs are named by the SHA-256 of their content (git blobs by a 40-hex SHA-1): the
	 * build checks it, catching corrupted downloads. */
	base = strrchr(real, '/') + 1;
	if (strlen(base) == 64 && cn_is_lower_hex(base, 64) &&
	    cn_unhex_exact(base, e->lfs_sha256, sizeof(e->lfs_sha256)) == 0)
		e->has_lfs_sha256 = true;
	e->src = TAKE_PTR(real);
	return add_file(w, e, (uint64_t)ts.st_size);
}

/* A symlink: kept as one in a plain folder, replaced by its blob in an HF cache snapshot. */
static int walk_symlink(struct walk *w, struct cn_tar_entry *e, int dfd, const struct stat *st,
			const char *rel, const char *name)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dfd, name, buf, sizeof(buf));
	int r;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return cn_err_set(n < 0 ? -errno : -E2BIG, "cannot read symlink '%s'", rel);
	buf[n] = '\0';
	if (w->hf)
		return walk_hf_blob(w, e, rel, buf);
	r = check_symlink_target(rel, buf);
	if (r < 0)
		return r;
	r = check_mtime(st, rel);
	if (r < 0)
		return r;
	e->type = CN_TAR_SYMLINK;
	e->link = strdup(buf);
	if (!e->link)
		return -ENOMEM;
	return add_entry(w, e);
}

/* A regular file; outside an HF cache, a second name of an inode becomes a hard link. */
static int walk_file(struct walk *w, struct cn_tar_entry *e, const struct stat *st, const char *rel)
{
	size_t first;
	int r;

	r = check_file(st, rel);
	if (r < 0)
		return r;
	if (w->hf)
		e->mode = 0644;
	if (st->st_nlink > 1 && !w->hf) {
		r = link_lookup(w, st->st_dev, st->st_ino, w->p->n, &first);
		if (r < 0)
			return r;
		if (first) {
			e->type = CN_TAR_HARDLINK;
			e->link = strdup(w->p->e[first - 1].name);
			if (!e->link)
				return -ENOMEM;
			return add_entry(w, e);
		}
	}
	return add_file(w, e, (uint64_t)st->st_size);
}

static int special_file_error(const struct stat *st, const char *rel)
{
	return cn_err_set(
	    -EINVAL, "'%s' is a %s; a model snapshot may hold only files, folders and symlinks",
	    rel,
	    S_ISSOCK(st->st_mode)   ? "socket"
	    : S_ISFIFO(st->st_mode) ? "fifo"
	    : S_ISCHR(st->st_mode)  ? "character device"
	    : S_ISBLK(st->st_mode)  ? "block device"
				    : "special file");
}

/* Adds dfd/name (rel from the root) to the plan, and for a folder everything below it. */
static int walk_one(struct walk *w, int dfd, const char *rel, const char *name, unsigned depth)
{
	struct cn_tar_entry e = {0};
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cn_err_set(-errno, "cannot stat '%s': %s", rel, strerror(errno));
	e.rel = strdup(rel);
	if (!e.rel)
		return -ENOMEM;
	e.dev = st.st_dev;
	e.ino = st.st_ino;
	e.mtime = st.st_mtim;
	e.ctime = st.st_ctim;
	e.mode = tar_mode(st.st_mode);

	if (S_ISDIR(st.st_mode))
		r = walk_folder(w, &e, dfd, &st, rel, name, depth);
	else if (asprintf(&e.name, "./%s", rel) < 0)
		r = -ENOMEM;
	else if (S_ISLNK(st.st_mode))
		r = walk_symlink(w, &e, dfd, &st, rel, name);
	else if (S_ISREG(st.st_mode))
		r = walk_file(w, &e, &st, rel);
	else
		r = special_file_error(&st, rel);
	entry_free(&e); /* empty once added */
	return r;
}

static int walk_dir(struct walk *w, int dfd, const char *rel, unsigned depth)
{
	_cleanup_close_ int fd = dfd;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *de;
	int r = 0, dup_fd;

	if (depth > CN_TAR_DEPTH_MAX)
		return cn_err_set(-E2BIG, "folder '%s' is nested deeper than %u levels", rel,
				  CN_TAR_DEPTH_MAX);
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	d = fdopendir(dup_fd);
	if (!d) {
		r = -errno;
		(void)close(dup_fd);
		return r;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nv = reallocarray(names, nc, sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			names = nv;
			cap = nc;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
		if (n > CN_TAR_ENTRIES_MAX) {
			r = cn_err_set(-E2BIG, "folder '%s' has too many entries",
				       *rel ? rel : ".");
			goto out;
		}
		errno = 0;
	}
	if (errno) {
		r = cn_err_set(-errno, "cannot list folder '%s': %s", *rel ? rel : ".",
			       strerror(errno));
		goto out;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *child = join_rel(rel, names[i]);

		if (!child) {
			r = -ENOMEM;
			goto out;
		}
		r = walk_one(w, fd, child, names[i], depth);
		if (r < 0)
			goto out;
	}
out:
	(void)closedir(d);
	free_names(names, n);
	return r;
}

int cn_tar_plan_scan(const char *root_dir, bool hf_cache, enum cn_tar_format format,
		     struct cn_tar_plan *ret)
{
	struct cn_tar_plan p = {.format = format};
	struct walk w = {.p = &p, .hf = hf_cache};
	_cleanup_free_ char *root_abs = NULL;
	struct cn_tar_entry e = {0};
	uint64_t off = 0;
	struct stat st;
	int fd, r;

	if (format != CN_TAR_GNU_1_35 && format != CN_TAR_GNU_1_34)
		return cn_err_set(-EINVAL, "unknown tar format %d", (int)format);
	fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open source folder '%s': %s", root_dir,
				  strerror(errno));
	if (fstat(fd, &st) < 0 || cn_abspath(root_dir, &root_abs) < 0) {
		r = cn_err_set(-errno, "cannot stat source folder '%s'", root_dir);
		(void)close(fd);
		return r;
	}
	w.root_abs = root_abs;
	if (hf_cache) {
		/* <repo>/snapshots/<commit> -> <repo>/blobs/ */
		_cleanup_free_ char *repo = NULL;
		char *s;

		repo = strdup(root_abs);
		if (!repo) {
			(void)close(fd);
			return -ENOMEM;
		}
		for (int i = 0; i < 2; i++) {
			s = strrchr(repo, '/');
			if (!s || s == repo) {
				(void)close(fd);
				return cn_err_set(-EINVAL,
						  "'%s' is not a Hugging Face cache snapshot "
						  "(<repo>/snapshots/<commit>)",
						  root_dir);
			}
			*s = '\0';
		}
		if (asprintf(&w.blobs_prefix, "%s/blobs/", repo) < 0) {
			(void)close(fd);
			return -ENOMEM;
		}
	}
	e.type = CN_TAR_DIR;
	e.name = strdup("./");
	e.rel = strdup("");
	e.mode = tar_mode(st.st_mode);
	e.dev = st.st_dev;
	e.ino = st.st_ino;
	if (!e.name || !e.rel) {
		entry_free(&e);
		r = -ENOMEM;
		(void)close(fd);
		goto out;
	}
	r = add_entry(&w, &e);
	if (r < 0) {
		(void)close(fd);
		goto out;
	}
	r = walk_dir(&w, fd, "", 0); /* takes fd */
	if (r < 0)
		goto out;
	if (!hf_cache) {
		r = cn_tar_plan_check_links(&p);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < p.n; i++) {
		p.e[i].off = off;
		off += p.e[i].hdr_len + (p.e[i].type == CN_TAR_REG ? round512(p.e[i].size) : 0);
	}
	off += 2 * CN_TAR_BLOCK;
	p.tar_size = (off + CN_TAR_RECORD - 1) / CN_TAR_RECORD * CN_TAR_RECORD;
	p.padded_size = cn_tar_padded_size(p.tar_size);
	*ret = p;
	p = (struct cn_tar_plan){0};
out:
	cn_tar_plan_done(&p);
	free(w.links);
	free(w.blobs_prefix);
	return r;
}

/* len-1 zero-padded octal digits and a NUL. */
static void put_octal(uint8_t *f, size_t len, uint64_t v)
{
	char tmp[32];

	(void)snprintf(tmp, sizeof(tmp), "%0*llo", (int)(len - 1), (unsigned long long)v);
	memcpy(f, tmp, len - 1);
	f[len - 1] = '\0';
}

static void put_str(uint8_t *f, size_t len, const char *s)
{
	size_t n = strlen(s);

	memcpy(f, s, CN_MIN(n, len));
}

static void finish_header(uint8_t *h, char type, bool dev_zero_fields)
{
	unsigned sum = 0;
	char tmp[16];

	put_octal(h + 108, 8, 0);  /* uid */
	put_octal(h + 116, 8, 0);  /* gid */
	put_octal(h + 136, 12, 0); /* mtime: --clamp-mtime --mtime=@0 */
	h[156] = (uint8_t)type;
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	if (dev_zero_fields) {
		put_octal(h + 329, 8, 0);
		put_octal(h + 337, 8, 0);
	}
	memset(h + 148, ' ', 8);
	for (unsigned i = 0; i < CN_TAR_BLOCK; i++)
		sum += h[i];
	(void)snprintf(tmp, sizeof(tmp), "%06o", sum);
	memcpy(h + 148, tmp, 6);
	h[154] = '\0';
	h[155] = ' ';
}

static size_t put_record(uint8_t *out, const char *key, const char *val)
{
	size_t vlen = strlen(val), len = pax_record_len(key, vlen);
	char num[24];
	int nl = snprintf(num, sizeof(num), "%zu ", len);
	size_t klen = strlen(key), o = 0;

	memcpy(out + o, num, (size_t)nl);
	o += (size_t)nl;
	memcpy(out + o, key, klen);
	o += klen;
	out[o++] = '=';
	memcpy(out + o, val, vlen);
	o += vlen;
	out[o++] = '\n';
	return o;
}

size_t cn_tar_entry_headers(const struct cn_tar_plan *p, const struct cn_tar_entry *e, uint8_t *buf)
{
	size_t rec = pax_records_len(e), o = 0;
	uint8_t *h;

	memset(buf, 0, e->hdr_len);
	if (rec) {
		/* "%d/PaxHeaders/%f" of the name without its trailing slash, truncated to 100. */
		size_t nlen = strlen(e->name), dlen;
		const char *slash;
		char xname[CN_TAR_PATH_MAX + 32];
		uint8_t *r = buf + CN_TAR_BLOCK;
		char size_txt[32];

		if (nlen > 1 && e->name[nlen - 1] == '/')
			nlen--;
		slash = memrchr(e->name, '/', nlen);
		dlen = slash ? (size_t)(slash - e->name) : 0;
		(void)snprintf(xname, sizeof(xname), "%.*s/PaxHeaders/%.*s",
			       (int)(slash ? dlen : 1), slash ? e->name : ".",
			       (int)(nlen - (slash ? dlen + 1 : 0)),
			       e->name + (slash ? dlen + 1 : 0));
		if (e->link && strlen(e->link) > 100)
			r += put_record(r, "linkpath", e->link);
		if (needs_pax_path(e->name))
			r += put_record(r, "path", e->name);
		if (e->type == CN_TAR_REG && e->size > USTAR_SIZE_MAX) {
			(void)snprintf(size_txt, sizeof(size_txt), "%llu",
				       (unsigned long long)e->size);
			r += put_record(r, "size", size_txt);
		}
		h = buf;
		put_str(h, 100, xname);
		put_octal(h + 100, 8, 0644);
		put_octal(h + 124, 12, rec);
		finish_header(h, 'x', false);
		o = CN_TAR_BLOCK + round512(rec);
	}
	h = buf + o;
	put_str(h, 100, e->name);
	put_octal(h + 100, 8, e->mode);
	put_octal(h + 124, 12, e->type == CN_TAR_REG && e->size <= USTAR_SIZE_MAX ? e->size : 0);
	if (e->link)
		put_str(h + 157, 100, e->link);
	finish_header(h, e->type, p->format == CN_TAR_GNU_1_34);
	return o + CN_TAR_BLOCK;
}
