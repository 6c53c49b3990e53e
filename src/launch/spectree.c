/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spec tree hash the guest measures: what the reference's cocoon-prepare-spec
 * (reprodebian/cocoon-init) computes from the 9p share with git and records as
 * cocoon:spec.tree=<hash>. Its rules, reproduced here without git:
 *   - git add -A of the share, honouring .gitignore files (never .git entries);
 *   - then removed: the top-level runtime/ (not measured), top-level spec.tree and spec.meta,
 *     and every .gitignore file;
 *   - the tree object in git's SHA-256 object format (git write-tree): blobs "blob N\0" + bytes,
 *     trees "tree N\0" + entries "MODE NAME\0" + 32 raw bytes, sorted as git sorts them
 *     (a folder's name compares as if it ended in '/'), empty folders absent;
 *   - only 100644 and 100755 may be measured (exec bit of the owner), so a symlink is refused,
 *     as are files over 10 MiB outside runtime folders and nested .git folders (the script
 *     stops the guest's boot for each of these).
 * The .gitignore dialect: comments, blank lines, trailing-space trimming, '!' negation, a
 * trailing '/' for folders only, patterns without '/' matched against the name at any depth,
 * others anchored at their .gitignore's folder, wildmatch with '*', '?', '[...]', '\' and '**';
 * the deepest .gitignore and the last matching line win; an ignored folder is not entered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "launch/launch.h"

#define ST_DEPTH_MAX 32
#define ST_ENTRIES_MAX 100000u
#define ST_FILE_MAX (10u * 1024 * 1024) /* find -size +10M: more than 10 MiB is refused */
#define ST_IGNORE_MAX (1024u * 1024)	/* bytes of one .gitignore */
#define ST_HASH_LEN 32

/* ---- wildmatch (git's, with WM_PATHNAME) ---- */

static bool class_match(const char **pp, char c, bool *ok)
{
	const char *p = *pp + 1;
	bool neg = false, hit = false;

	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	for (bool first = true; *p && (first || *p != ']'); first = false) {
		char lo = *p, hi;

		if (lo == '\\' && p[1])
			lo = *++p;
		hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hi = p[2];
			p += 2;
			if (hi == '\\' && p[1])
				hi = *++p;
		}
		if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
			hit = true;
		p++;
	}
	if (*p != ']') {
		*ok = false; /* unterminated: git's wildmatch fails the match */
		return false;
	}
	*pp = p + 1;
	*ok = true;
	return hit != neg && c != '/';
}

/* Each call spends one unit: a pathological pattern ("**" and "*" many times over) would
 * otherwise backtrack exponentially. Exhausted: WM_ABORT, and the caller fails closed. */
#define WM_BUDGET 200000u
enum { WM_NO = 0, WM_YES = 1, WM_ABORT = -1 };

static int wildmatch(const char *p, const char *t, unsigned *budget)
{
	int m;

	if (*budget == 0)
		return WM_ABORT;
	--*budget;
	for (; *p; p++, t++) {
		if (*p == '*') {
			if (p[1] == '*') {
				const char *after = p + 2;

				/* fold_inner_stars() left "**" only at component starts */
				while (*after == '*')
					after++;
				if (*after == '/' || *after == '\0') {
					if (*after == '\0')
						return WM_YES; /* a final double star: all below */
					/* "**" + "/": zero or more whole folders */
					m = wildmatch(after + 1, t, budget);
					for (const char *s = t; m == WM_NO && *s; s++)
						if (*s == '/')
							m = wildmatch(after + 1, s + 1, budget);
					return m;
				}
				p = after - 1;
			}
			/* '*': any run without '/' */
			for (const char *s = t;; s++) {
				m = wildmatch(p + 1, s, budget);
				if (m != WM_NO)
					return m;
				if (*s == '\0' || *s == '/')
					return WM_NO;
			}
		}
		if (*t == '\0')
			return WM_NO;
		if (*p == '?') {
			if (*t == '/')
				return WM_NO;
		} else if (*p == '[') {
			bool ok, hit = class_match(&p, *t, &ok);

			if (!ok || !hit)
				return WM_NO;
			p--; /* the loop's p++ */
		} else {
			if (*p == '\\' && p[1])
				p++;
			if (*p != *t)
				return WM_NO;
		}
	}
	return *t == '\0' ? WM_YES : WM_NO;
}

/* "**" is only special at the start of a component: the matcher is entered with p at a
 * component start; a "**" elsewhere ("a**") is folded into '*' before matching. */
static void fold_inner_stars(char *p)
{
	for (char *s = p; *s; s++)
		if (s[0] == '*' && s[1] == '*' && s != p && s[-1] != '/')
			memmove(s + 1, s + 2, strlen(s + 2) + 1), s--;
}

/* ---- .gitignore ---- */

struct ign_pat {
	char *pat;
	bool neg, dir_only, basename_only;
};

struct ign_list {
	struct ign_pat *v;
	size_t n;
	char *base; /* folder of the .gitignore, relative to the root, "" or "a/b/" */
};

static void ign_list_done(struct ign_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].pat);
	free(l->v);
	free(l->base);
	*l = (struct ign_list){0};
}

static int ign_add(struct ign_list *l, const char *line, size_t len)
{
	struct ign_pat p = {0};
	struct ign_pat *nv;
	char *s;
	size_t n = len;

	/* Trailing spaces go unless escaped with a backslash. */
	while (n > 0 && line[n - 1] == ' ' && !(n >= 2 && line[n - 2] == '\\'))
		n--;
	if (n == 0 || line[0] == '#')
		return 0;
	if (line[0] == '!') {
		p.neg = true;
		line++;
		n--;
	}
	if (n > 0 && line[n - 1] == '/') {
		p.dir_only = true;
		n--;
	}
	if (n == 0)
		return 0;
	s = malloc(n + 1); /* line is not NUL-terminated (a .gitignore buffer) */
	if (!s)
		return -ENOMEM;
	memcpy(s, line, n);
	s[n] = '\0';
	p.basename_only = !strchr(s, '/');
	if (s[0] == '/')
		memmove(s, s + 1, n);
	fold_inner_stars(s);
	p.pat = s;
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	l->v = nv;
	l->v[l->n++] = p;
	return 0;
}

/* The lines of one .gitignore (a UTF-8 BOM skipped; NUL refused). */
static int ign_parse(const char *buf, size_t len, struct ign_list *l)
{
	size_t pos = 0;
	int r;

	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;

		if (memchr(line, '\0', ll))
			return -EINVAL;
		r = ign_add(l, line, ll);
		if (r < 0)
			return r;
		pos += ll + (nl ? 1 : 0);
	}
	return 0;
}

static int ign_load(int dfd, const char *base, const char *root, struct ign_list *ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	*ret = (struct ign_list){0};
	ret->base = strdup(base);
	if (!ret->base)
		return -ENOMEM;
	if (fstatat(dfd, ".gitignore", &st, 0) < 0 || !S_ISREG(st.st_mode))
		return 0;
	r = cn_read_file_at(dfd, ".gitignore", ST_IGNORE_MAX, &buf, &len);
	if (r < 0)
		return cn_err_set(r, "spec share '%s/%s.gitignore': %s", root, base,
				  cn_strerror(r));
	r = ign_parse((const char *)buf, len, ret);
	if (r == -EINVAL)
		return cn_err_set(r, "spec share '%s/%s.gitignore': NUL byte", root, base);
	return r;
}

/* rel: path from the root ("a/b/name"). 1 ignored, 0 not, -E2BIG: a pattern too costly to
 * decide (refused rather than guessed: the hash must be git's). */
static int ignored(const struct ign_list *stack, size_t n, const char *rel, const char *name,
		   bool is_dir)
{
	for (size_t j = n; j-- > 0;) {
		const struct ign_list *l = &stack[j];
		size_t bl = strlen(l->base);

		for (size_t i = l->n; i-- > 0;) {
			const struct ign_pat *p = &l->v[i];
			unsigned budget = WM_BUDGET;
			int m;

			if (p->dir_only && !is_dir)
				continue;
			if (p->basename_only)
				m = wildmatch(p->pat, name, &budget);
			else
				m = strncmp(rel, l->base, bl) == 0
					? wildmatch(p->pat, rel + bl, &budget)
					: WM_NO;
			if (m == WM_ABORT)
				return cn_err_set(
				    -E2BIG,
				    "spec share: .gitignore pattern '%s' in '%s' is too "
				    "costly to match against '%s'",
				    p->pat, l->base[0] ? l->base : "./", rel);
			if (m == WM_YES)
				return !p->neg;
		}
	}
	return 0;
}

int cn_launch_ignore_match(const char *text, size_t len, const char *rel, bool is_dir,
			   bool *ret_ignored)
{
	struct ign_list l = {0};
	const char *name = strrchr(rel, '/');
	int r;

	if (len > ST_IGNORE_MAX)
		return -E2BIG;
	l.base = strdup("");
	if (!l.base)
		return -ENOMEM;
	r = ign_parse(text, len, &l);
	if (r >= 0)
		r = ignored(&l, 1, rel, name ? name + 1 : rel, is_dir);
	if (r >= 0)
		*ret_ignored = r;
	ign_list_done(&l);
	return r;
}

/* ---- git objects ---- */

static int sha256_object(const char *type, const void *data, size_t len, uint8_t out[32])
{
	char hdr[64];
	int hl = snprintf(hdr, sizeof(hdr), "%s %zu", type, len);
	unsigned olen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, hdr, (size_t)hl + 1) && EVP_DigestUpdate(ctx, data, len) &&
	     EVP_DigestFinal_ex(ctx, out, &olen);
	EVP_MD_CTX_free(ctx);
	return ok && olen == ST_HASH_LEN ? 0 : -EIO;
}

struct entry {
	char *name;
	bool dir;
	bool exec;
	uint8_t hash[ST_HASH_LEN];
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t lx = strlen(x->name), ly = strlen(y->name), n = CN_MIN(lx, ly);
	int c = memcmp(x->name, y->name, n);
	unsigned char cx, cy;

	if (c)
		return c;
	cx = n < lx ? (unsigned char)x->name[n] : (x->dir ? '/' : 0);
	cy = n < ly ? (unsigned char)y->name[n] : (y->dir ? '/' : 0);
	return (int)cx - (int)cy;
}

struct walk {
	const char *root;
	unsigned count;
	struct ign_list stack[ST_DEPTH_MAX + 2];
	size_t depth;
};

static int blob_hash(int dfd, const char *name, const char *rel, const struct walk *w,
		     uint8_t out[32])
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	int r = cn_read_file_at(dfd, name, ST_FILE_MAX, &buf, &len);

	if (r == -EFBIG || r == -E2BIG)
		return cn_err_set(-EFBIG,
				  "spec share '%s/%s' is over 10 MiB: the guest's "
				  "cocoon-prepare-spec refuses it",
				  w->root, rel);
	if (r < 0)
		return cn_err_set(r, "spec share '%s/%s': %s", w->root, rel, cn_strerror(r));
	return sha256_object("blob", buf, len, out);
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static int tree_hash(struct walk *w, int dfd, const char *rel, uint8_t out[32], bool *ret_empty);

/* One folder entry: fills *e (hash) or sets *skip. */
static int visit(struct walk *w, int dfd, const char *rel, const char *name, struct entry *e,
		 bool *skip)
{
	_cleanup_free_ char *sub = NULL;
	struct stat st;
	bool top = rel[0] == '\0';
	int r;

	*skip = true;
	if (strcmp(name, ".git") == 0)
		return 0; /* git never adds it (a nested one was refused by the pre-check) */
	if (top && (strcmp(name, "runtime") == 0 || strcmp(name, "spec.tree") == 0 ||
		    strcmp(name, "spec.meta") == 0))
		return 0;
	if (asprintf(&sub, "%s%s", rel, name) < 0)
		return -ENOMEM;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cn_err_set(-errno, "spec share '%s/%s': %s", w->root, sub, strerror(errno));
	r = ignored(w->stack, w->depth, sub, name, S_ISDIR(st.st_mode));
	if (r != 0)
		return r < 0 ? r : 0;
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int cfd =
		    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		_cleanup_free_ char *subrel = NULL;
		bool empty;

		if (cfd < 0)
			return cn_err_set(-errno, "spec share '%s/%s': %s", w->root, sub,
					  strerror(errno));
		if (asprintf(&subrel, "%s/", sub) < 0)
			return -ENOMEM;
		r = tree_hash(w, cfd, subrel, e->hash, &empty);
		if (r < 0)
			return r;
		if (empty)
			return 0;
		e->dir = true;
	} else if (S_ISREG(st.st_mode)) {
		if (strcmp(name, ".gitignore") == 0)
			return 0;
		r = blob_hash(dfd, name, sub, w, e->hash);
		if (r < 0)
			return r;
		e->exec = st.st_mode & S_IXUSR;
	} else
		return cn_err_set(-EINVAL,
				  "spec share '%s/%s' is not a regular file: the guest's "
				  "cocoon-prepare-spec measures only modes 100644 and 100755",
				  w->root, sub);
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	*skip = false;
	return 0;
}

static int tree_hash(struct walk *w, int dfd, const char *rel, uint8_t out[32], bool *ret_empty)
{
	_cleanup_close_ int dup_fd = -EBADF;
	_cleanup_free_ char *obj = NULL;
	struct entry *v = NULL;
	size_t n = 0, obj_len = 0;
	struct dirent *de;
	FILE *f = NULL;
	DIR *d;
	int r = 0;

	if (w->depth > ST_DEPTH_MAX)
		return cn_err_set(-E2BIG, "spec share '%s': nested deeper than %d", w->root,
				  ST_DEPTH_MAX);
	r = ign_load(dfd, rel, w->root, &w->stack[w->depth]);
	w->depth++;
	if (r < 0)
		goto out;
	dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		r = -errno;
		goto out;
	}
	TAKE_FD(dup_fd);
	rewinddir(d); /* the dup shares the offset with fds read before */
	while ((de = readdir(d))) {
		struct entry e = {0}, *nv;
		bool skip;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++w->count > ST_ENTRIES_MAX) {
			r = cn_err_set(-E2BIG, "spec share '%s': more than %u entries", w->root,
				       ST_ENTRIES_MAX);
			break;
		}
		r = visit(w, dirfd(d), rel, de->d_name, &e, &skip);
		if (r < 0)
			break;
		if (skip)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(e.name);
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = e;
	}
	(void)closedir(d);
	if (r < 0)
		goto out;
	qsort(v, n, sizeof(*v), entry_cmp);
	f = open_memstream(&obj, &obj_len);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		(void)fprintf(f, "%s %s",
			      v[i].dir	  ? "40000"
			      : v[i].exec ? "100755"
					  : "100644",
			      v[i].name);
		(void)fputc('\0', f);
		(void)fwrite(v[i].hash, 1, ST_HASH_LEN, f);
	}
	if (fclose(f) != 0) {
		r = -ENOMEM;
		goto out;
	}
	*ret_empty = n == 0;
	r = sha256_object("tree", obj, obj_len, out);
out:
	entries_free(v, n);
	if (w->depth > 0)
		ign_list_done(&w->stack[--w->depth]);
	return r;
}

/* What cocoon-prepare-spec refuses before hashing, over every file (ignored ones too, as its
 * find(1) calls): a .git folder below the top level, files over 10 MiB outside runtime folders. */
static int precheck(const char *root, int dfd, const char *rel, unsigned depth, bool in_runtime,
		    unsigned *count)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (depth > ST_DEPTH_MAX)
		return cn_err_set(-E2BIG, "spec share '%s': nested deeper than %d", root,
				  ST_DEPTH_MAX);
	d = cn_opendir_dup(dfd);
	if (!d)
		return -errno;
	while (r >= 0 && (de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++*count > ST_ENTRIES_MAX) {
			r = cn_err_set(-E2BIG, "spec share '%s': more than %u entries", root,
				       ST_ENTRIES_MAX);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int cfd = -EBADF;
			_cleanup_free_ char *sub = NULL;

			if (depth >= 1 && strcmp(de->d_name, ".git") == 0) {
				r = cn_err_set(-EINVAL,
					       "spec share '%s/%s.git': a nested .git folder: the "
					       "guest's cocoon-prepare-spec refuses it",
					       root, rel);
				break;
			}
			cfd = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (cfd < 0 || asprintf(&sub, "%s%s/", rel, de->d_name) < 0) {
				r = cfd < 0 ? -errno : -ENOMEM;
				sub = NULL;
				break;
			}
			r = precheck(root, cfd, sub, depth + 1,
				     in_runtime || strcmp(de->d_name, "runtime") == 0, count);
		} else if (S_ISREG(st.st_mode) && !in_runtime && st.st_size > ST_FILE_MAX)
			r = cn_err_set(-EFBIG,
				       "spec share '%s/%s%s' is over 10 MiB: the guest's "
				       "cocoon-prepare-spec refuses it",
				       root, rel, de->d_name);
	}
	(void)closedir(d);
	return r;
}

/* A spec.tree in the share is verified by the guest ("$(cat spec.tree)" = hash, else exit 4). */
static int check_recorded(int dfd, const char *dir, const char *hash)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	if (fstatat(dfd, "spec.tree", &st, 0) < 0 || !S_ISREG(st.st_mode))
		return 0;
	r = cn_read_file_at(dfd, "spec.tree", 4096, &buf, &len);
	if (r < 0)
		return cn_err_set(r, "spec share '%s/spec.tree': %s", dir, cn_strerror(r));
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len != 64 || memcmp(buf, hash, 64) != 0)
		return cn_err_set(-EBADMSG,
				  "spec share '%s/spec.tree' does not hold the tree hash %s: the "
				  "guest's cocoon-prepare-spec stops on the mismatch",
				  dir, hash);
	return 0;
}

int cn_launch_spec_tree(const char *dir, char ret[65])
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ struct walk *w = NULL;
	uint8_t h[ST_HASH_LEN];
	unsigned count = 0;
	bool empty;
	int r;

	if (dfd < 0)
		return cn_err_set(-errno, "spec share '%s': %s", dir, strerror(errno));
	r = precheck(dir, dfd, "", 0, false, &count);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->root = dir;
	r = tree_hash(w, dfd, "", h, &empty);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ST_HASH_LEN; i++)
		(void)snprintf(ret + 2 * i, 3, "%02x", h[i]);
	return check_recorded(dfd, dir, ret);
}
