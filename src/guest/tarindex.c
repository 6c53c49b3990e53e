/* SPDX-License-Identifier: Apache-2.0 */
/* Strict tar index: see tarindex.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "guest/tarindex.h"

#define BLK 512u
#define NAMES_MAX (UINT32_MAX / 2)

struct builder {
	cn_taridx_read_fn rd;
	void *ctx;
	uint64_t dev_size;
	struct cn_taridx *idx;
	size_t nodes_cap;
	size_t names_cap;
	char **paths;	  /* full relative path of each node ("" for the root) */
	uint32_t *table;  /* open addressing: node index + 1, 0 = empty */
	size_t table_cap; /* power of two */
};

/* One entry as read from its headers. */
struct entry {
	uint64_t off; /* offset of the first header */
	char type;
	uint64_t size;
	int64_t mtime;
	uint32_t perm;
	char path[CN_TARIDX_PATH_MAX + 2];
	size_t path_len;
	char link[CN_TARIDX_PATH_MAX + 1];
	size_t link_len;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * UINT64_C(1099511628211);
	return h;
}

static int table_find(const struct builder *b, const char *p, size_t n, uint32_t *ret)
{
	size_t mask = b->table_cap - 1;

	for (size_t i = hash_bytes(p, n) & mask;; i = (i + 1) & mask) {
		uint32_t v = b->table[i];

		if (v == 0)
			return -ENOENT;
		if (strlen(b->paths[v - 1]) == n && memcmp(b->paths[v - 1], p, n) == 0) {
			*ret = v - 1;
			return 0;
		}
	}
}

static void table_put(struct builder *b, uint32_t node)
{
	size_t mask = b->table_cap - 1;
	const char *p = b->paths[node];

	for (size_t i = hash_bytes(p, strlen(p)) & mask;; i = (i + 1) & mask)
		if (b->table[i] == 0) {
			b->table[i] = node + 1;
			return;
		}
}

static int grow(struct builder *b)
{
	struct cn_taridx *idx = b->idx;

	if (idx->n < b->nodes_cap)
		return 0;
	size_t cap = b->nodes_cap ? b->nodes_cap * 2 : 64;
	if (cap > CN_TARIDX_ENTRIES_MAX)
		cap = CN_TARIDX_ENTRIES_MAX;
	struct cn_taridx_node *nn = realloc(idx->nodes, cap * sizeof(*nn));
	if (!nn)
		return -ENOMEM;
	idx->nodes = nn;
	char **np = realloc(b->paths, cap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	b->paths = np;
	b->nodes_cap = cap;
	/* Keep the table at most half full. */
	if (b->table_cap < cap * 2) {
		size_t tcap = b->table_cap ? b->table_cap : 128;
		while (tcap < cap * 2)
			tcap *= 2;
		free(b->table);
		b->table = calloc(tcap, sizeof(*b->table));
		if (!b->table)
			return -ENOMEM;
		b->table_cap = tcap;
		for (uint32_t i = 0; i < idx->n; i++)
			table_put(b, i);
	}
	return 0;
}

static int add_name(struct builder *b, const char *s, size_t n, uint32_t *ret_off)
{
	struct cn_taridx *idx = b->idx;

	if (idx->names_len + n + 1 > NAMES_MAX)
		return cn_err_set(-E2BIG, "tar: names exceed %u bytes", NAMES_MAX);
	if (idx->names_len + n + 1 > b->names_cap) {
		size_t cap = b->names_cap ? b->names_cap : 4096;
		while (cap < idx->names_len + n + 1)
			cap *= 2;
		char *p = realloc(idx->names, cap);
		if (!p)
			return -ENOMEM;
		idx->names = p;
		b->names_cap = cap;
	}
	memcpy(idx->names + idx->names_len, s, n);
	idx->names[idx->names_len + n] = '\0';
	*ret_off = (uint32_t)idx->names_len;
	idx->names_len += n + 1;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int octal_field(const uint8_t *h, size_t off, size_t len, uint64_t hdr_off,
		       const char *field, uint64_t *ret)
{
	if (cn_parse_octal_n((const char *)h + off, len, ret) < 0)
		return cn_err_set(-EBADMSG,
				  "tar: field '%s' of the header at offset %llu is not octal",
				  field, (unsigned long long)hdr_off);
	return 0;
}

static int check_header(const uint8_t *h, uint64_t off)
{
	uint64_t want, sum = 0;
	int r;

	if (memcmp(h + 257,
		   "ustar\0"
		   "00",
		   8) != 0)
		return cn_err_set(-EBADMSG, "tar: header at offset %llu has no ustar magic",
				  (unsigned long long)off);
	r = octal_field(h, 148, 8, off, "chksum", &want);
	if (r < 0)
		return r;
	for (size_t i = 0; i < BLK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	if (sum != want)
		return cn_err_set(
		    -EBADMSG,
		    "tar: header checksum at offset %llu is %llo, the header sums to %llo",
		    (unsigned long long)off, (unsigned long long)want, (unsigned long long)sum);
	if (!all_zero(h + 345, 155))
		return cn_err_set(-EBADMSG,
				  "tar: field 'prefix' of the header at offset %llu is set",
				  (unsigned long long)off);
	return 0;
}

/* "N key=value\n" records; path, linkpath, size and mtime only. */
static int parse_pax(const char *p, size_t len, uint64_t off, struct entry *e, bool *has_path,
		     bool *has_link, bool *has_size)
{
	size_t pos = 0;

	while (pos < len) {
		uint64_t rlen = 0;
		size_t i = pos, klen;
		const char *key, *val, *eq;
		size_t vlen;

		while (i < len && i - pos < 8 && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == pos || i >= len || p[i] != ' ' || (p[pos] == '0') ||
		    cn_parse_u64_n(p + pos, i - pos, len - pos, &rlen) < 0 || rlen < i - pos + 4 ||
		    p[pos + rlen - 1] != '\n')
			return cn_err_set(-EBADMSG, "tar: pax record at offset %llu is malformed",
					  (unsigned long long)(off + pos));
		key = p + i + 1;
		eq = memchr(key, '=', (size_t)(p + pos + rlen - 1 - key));
		if (!eq || eq == key)
			return cn_err_set(-EBADMSG, "tar: pax record at offset %llu has no key",
					  (unsigned long long)(off + pos));
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(p + pos + rlen - 1 - val);
		if (memchr(val, '\0', vlen))
			return cn_err_set(-EBADMSG, "tar: pax record at offset %llu holds a NUL",
					  (unsigned long long)(off + pos));
		if (klen == 4 && memcmp(key, "path", 4) == 0) {
			if (vlen == 0 || vlen > CN_TARIDX_PATH_MAX + 1)
				return cn_err_set(-EBADMSG,
						  "tar: pax path at offset %llu is %zu bytes",
						  (unsigned long long)(off + pos), vlen);
			memcpy(e->path, val, vlen);
			e->path[vlen] = '\0';
			e->path_len = vlen;
			*has_path = true;
		} else if (klen == 8 && memcmp(key, "linkpath", 8) == 0) {
			if (vlen == 0 || vlen > CN_TARIDX_PATH_MAX)
				return cn_err_set(-EBADMSG,
						  "tar: pax linkpath at offset %llu is %zu bytes",
						  (unsigned long long)(off + pos), vlen);
			memcpy(e->link, val, vlen);
			e->link[vlen] = '\0';
			e->link_len = vlen;
			*has_link = true;
		} else if (klen == 4 && memcmp(key, "size", 4) == 0) {
			if (cn_parse_u64_n(val, vlen, UINT64_C(1) << 46, &e->size) < 0)
				return cn_err_set(-EBADMSG,
						  "tar: pax size at offset %llu is invalid",
						  (unsigned long long)(off + pos));
			*has_size = true;
		} else if (klen == 5 && memcmp(key, "mtime", 5) == 0) {
			bool neg = vlen > 0 && val[0] == '-';
			size_t d = neg, ilen;
			uint64_t s;

			for (ilen = d; ilen < vlen && val[ilen] != '.'; ilen++)
				;
			for (size_t k = ilen + (ilen < vlen); k < vlen; k++)
				if (val[k] < '0' || val[k] > '9')
					return cn_err_set(
					    -EBADMSG, "tar: pax mtime at offset %llu is invalid",
					    (unsigned long long)(off + pos));
			if (ilen == d || cn_parse_u64_n(val + d, ilen - d, INT64_MAX, &s) < 0)
				return cn_err_set(-EBADMSG,
						  "tar: pax mtime at offset %llu is invalid",
						  (unsigned long long)(off + pos));
			e->mtime = neg ? -(int64_t)s : (int64_t)s;
		} else {
			return cn_err_set(
			    -EBADMSG, "tar: pax record '%.*s' at offset %llu is not supported",
			    (int)CN_MIN(klen, (size_t)32), key, (unsigned long long)(off + pos));
		}
		pos += rlen;
	}
	return 0;
}

/* Reads one entry's headers at *off. *ret_eof at the end-of-archive blocks. */
static int read_entry(struct builder *b, uint64_t *off, struct entry *e, bool *ret_eof)
{
	uint8_t h[BLK];
	bool has_path = false, has_link = false, has_size = false;
	uint64_t v;
	int r;

	*ret_eof = false;
	memset(e, 0, offsetof(struct entry, path));
	e->path_len = e->link_len = 0;
	e->off = *off;
	for (unsigned pass = 0;; pass++) {
		if (*off > b->dev_size || b->dev_size - *off < BLK)
			return cn_err_set(-EBADMSG,
					  "tar: truncated at offset %llu (no end-of-archive)",
					  (unsigned long long)*off);
		r = b->rd(b->ctx, h, BLK, *off);
		if (r < 0)
			return cn_err_set(r, "tar: cannot read the header at offset %llu: %s",
					  (unsigned long long)*off, strerror(-r));
		if (pass == 0 && all_zero(h, BLK)) {
			if (b->dev_size - *off < 2 * BLK)
				return cn_err_set(-EBADMSG,
						  "tar: truncated end-of-archive at offset %llu",
						  (unsigned long long)*off);
			r = b->rd(b->ctx, h, BLK, *off + BLK);
			if (r < 0)
				return cn_err_set(r, "tar: cannot read offset %llu: %s",
						  (unsigned long long)(*off + BLK), strerror(-r));
			if (!all_zero(h, BLK))
				return cn_err_set(
				    -EBADMSG, "tar: a lone zero block at offset %llu (need two)",
				    (unsigned long long)*off);
			*off += 2 * BLK;
			*ret_eof = true;
			return 0;
		}
		r = check_header(h, *off);
		if (r < 0)
			return r;
		if (h[156] != 'x')
			break;
		if (pass > 0)
			return cn_err_set(-EBADMSG, "tar: two pax headers in a row at offset %llu",
					  (unsigned long long)*off);
		r = octal_field(h, 124, 12, *off, "size", &v);
		if (r < 0)
			return r;
		if (v == 0 || v > CN_TARIDX_PAX_MAX || b->dev_size - *off - BLK < v)
			return cn_err_set(-EBADMSG, "tar: pax header at offset %llu has size %llu",
					  (unsigned long long)*off, (unsigned long long)v);
		_cleanup_free_ char *pax = malloc(v);
		if (!pax)
			return -ENOMEM;
		r = b->rd(b->ctx, pax, v, *off + BLK);
		if (r < 0)
			return cn_err_set(r, "tar: cannot read the pax records at offset %llu: %s",
					  (unsigned long long)(*off + BLK), strerror(-r));
		r = parse_pax(pax, v, *off + BLK, e, &has_path, &has_link, &has_size);
		if (r < 0)
			return r;
		*off += BLK + (v + BLK - 1) / BLK * BLK;
	}
	e->type = (char)h[156];
	if (!has_path) {
		e->path_len = strnlen((const char *)h, 100);
		memcpy(e->path, h, e->path_len);
		e->path[e->path_len] = '\0';
	}
	if (!has_link) {
		e->link_len = strnlen((const char *)h + 157, 100);
		memcpy(e->link, h + 157, e->link_len);
		e->link[e->link_len] = '\0';
	}
	r = octal_field(h, 100, 8, *off, "mode", &v);
	if (r < 0)
		return r;
	e->perm = (uint32_t)(v & 0777);
	if (!has_size) {
		r = octal_field(h, 124, 12, *off, "size", &e->size);
		if (r < 0)
			return r;
	}
	r = octal_field(h, 136, 12, *off, "mtime", &v);
	if (r < 0)
		return r;
	if (e->mtime == 0) {
		if (v > INT64_MAX)
			return cn_err_set(-EBADMSG, "tar: mtime at offset %llu is out of range",
					  (unsigned long long)*off);
		e->mtime = (int64_t)v;
	}
	*off += BLK;
	return 0;
}

/* Checks "./a/b[/]" and turns it into "a/b" (root: ""). */
static int normalize_path(struct entry *e)
{
	char *p = e->path;
	size_t n = e->path_len, depth = 0;
	bool dir = e->type == '5';

	if (n < 2 || p[0] != '.' || p[1] != '/')
		return cn_err_set(-EBADMSG,
				  "tar: entry at offset %llu: name does not start with './'",
				  (unsigned long long)e->off);
	if (dir != (p[n - 1] == '/'))
		return cn_err_set(-EBADMSG,
				  "tar: entry at offset %llu: only directory names end in '/'",
				  (unsigned long long)e->off);
	if (dir)
		n--;
	memmove(p, p + 2, n >= 2 ? n - 2 : 0);
	n = n >= 2 ? n - 2 : 0;
	p[n] = '\0';
	e->path_len = n;
	for (size_t s = 0; n > 0 && s <= n;) {
		const char *slash = memchr(p + s, '/', n - s);
		size_t c = slash ? (size_t)(slash - (p + s)) : n - s;

		if (c == 0 || c > CN_TARIDX_NAME_MAX || (c == 1 && p[s] == '.') ||
		    (c == 2 && p[s] == '.' && p[s + 1] == '.'))
			return cn_err_set(-EBADMSG,
					  "tar: entry at offset %llu: bad path component in './%s'",
					  (unsigned long long)e->off, p);
		if (++depth > CN_TARIDX_DEPTH_MAX)
			return cn_err_set(-EBADMSG, "tar: entry at offset %llu is nested too deep",
					  (unsigned long long)e->off);
		s += c + 1;
	}
	return 0;
}

static int add_entry(struct builder *b, struct entry *e, uint64_t data_off)
{
	struct cn_taridx *idx = b->idx;
	struct cn_taridx_node *nd;
	const char *base;
	uint32_t parent = 0, self;
	int r;

	r = normalize_path(e);
	if (r < 0)
		return r;
	if (idx->n == 0) {
		if (e->type != '5' || e->path_len != 0)
			return cn_err_set(-EBADMSG, "tar: the first entry is not './'");
	} else {
		const char *slash = memrchr(e->path, '/', e->path_len);
		uint32_t dup;

		if (e->path_len == 0)
			return cn_err_set(-EBADMSG, "tar: entry at offset %llu repeats './'",
					  (unsigned long long)e->off);
		if (slash && table_find(b, e->path, (size_t)(slash - e->path), &parent) < 0)
			return cn_err_set(
			    -EBADMSG, "tar: entry './%s' at offset %llu comes before its directory",
			    e->path, (unsigned long long)e->off);
		if (!S_ISDIR(idx->nodes[parent].mode))
			return cn_err_set(
			    -EBADMSG, "tar: entry './%s' at offset %llu is under a non-directory",
			    e->path, (unsigned long long)e->off);
		if (table_find(b, e->path, e->path_len, &dup) == 0)
			return cn_err_set(-EBADMSG,
					  "tar: entry './%s' at offset %llu is a duplicate",
					  e->path, (unsigned long long)e->off);
	}
	if (idx->n >= CN_TARIDX_ENTRIES_MAX)
		return cn_err_set(-E2BIG, "tar: more than %u entries", CN_TARIDX_ENTRIES_MAX);
	r = grow(b);
	if (r < 0)
		return r;
	self = idx->n;
	nd = &idx->nodes[self];
	*nd = (struct cn_taridx_node){
	    .parent = parent, .target = self, .nlink = 1, .mtime = e->mtime};
	b->paths[self] = strdup(e->path);
	if (!b->paths[self])
		return -ENOMEM;
	idx->n++;
	table_put(b, self);
	base = memrchr(e->path, '/', e->path_len);
	base = base ? base + 1 : e->path;
	r = add_name(b, base, e->path_len - (size_t)(base - e->path), &nd->name_off);
	if (r < 0)
		return r;
	nd->name_len = (uint32_t)(e->path_len - (size_t)(base - e->path));
	if (e->type != '0' && e->size != 0)
		return cn_err_set(-EBADMSG,
				  "tar: entry './%s' at offset %llu has data but is not a file",
				  e->path, (unsigned long long)e->off);
	switch (e->type) {
	case '0':
		if (data_off > b->dev_size || b->dev_size - data_off < e->size)
			return cn_err_set(
			    -EBADMSG,
			    "tar: data of './%s' (%llu bytes at offset %llu) runs past the "
			    "end (%llu)",
			    e->path, (unsigned long long)e->size, (unsigned long long)data_off,
			    (unsigned long long)b->dev_size);
		nd->mode = S_IFREG | e->perm;
		nd->data_off = data_off;
		nd->size = e->size;
		idx->nfiles++;
		idx->data_bytes += e->size;
		break;
	case '5':
		nd->mode = S_IFDIR | e->perm;
		nd->nlink = 2;
		idx->nodes[parent].nlink += self != 0;
		break;
	case '2':
		if (e->link_len == 0)
			return cn_err_set(-EBADMSG,
					  "tar: symlink './%s' at offset %llu has no target",
					  e->path, (unsigned long long)e->off);
		nd->mode = S_IFLNK | 0777;
		nd->size = e->link_len;
		r = add_name(b, e->link, e->link_len, &nd->link_off);
		if (r < 0)
			return r;
		break;
	case '1': {
		uint32_t t;

		if (e->link_len < 3 || memcmp(e->link, "./", 2) != 0 ||
		    table_find(b, e->link + 2, e->link_len - 2, &t) < 0 ||
		    !S_ISREG(idx->nodes[t].mode) || idx->nodes[t].target != t)
			return cn_err_set(
			    -EBADMSG,
			    "tar: hardlink './%s' at offset %llu does not name an earlier "
			    "file",
			    e->path, (unsigned long long)e->off);
		nd->mode = idx->nodes[t].mode;
		nd->target = t;
		idx->nodes[t].nlink++;
		break;
	}
	default:
		return cn_err_set(-EBADMSG,
				  "tar: entry './%s' at offset %llu has type '%c' (0x%02x), "
				  "which model images do not use",
				  e->path, (unsigned long long)e->off,
				  (e->type >= 0x20 && e->type < 0x7f) ? e->type : '?',
				  (unsigned char)e->type);
	}
	return 0;
}

static const struct cn_taridx *sort_idx; /* qsort has no context argument */

static int cmp_child(const void *a, const void *b)
{
	const struct cn_taridx_node *x = &sort_idx->nodes[*(const uint32_t *)a];
	const struct cn_taridx_node *y = &sort_idx->nodes[*(const uint32_t *)b];
	int c = memcmp(sort_idx->names + x->name_off, sort_idx->names + y->name_off,
		       CN_MIN(x->name_len, y->name_len));

	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int link_children(struct cn_taridx *idx)
{
	uint32_t pos = 0;

	idx->children = malloc(CN_MAX(idx->n, 1u) * sizeof(uint32_t));
	if (!idx->children)
		return -ENOMEM;
	for (uint32_t i = 1; i < idx->n; i++)
		idx->nodes[idx->nodes[i].parent].child_count++;
	for (uint32_t i = 0; i < idx->n; i++) {
		idx->nodes[i].child_first = pos;
		pos += idx->nodes[i].child_count;
		idx->nodes[i].child_count = 0;
	}
	for (uint32_t i = 1; i < idx->n; i++) {
		struct cn_taridx_node *p = &idx->nodes[idx->nodes[i].parent];

		idx->children[p->child_first + p->child_count++] = i;
	}
	sort_idx = idx;
	for (uint32_t i = 0; i < idx->n; i++)
		if (idx->nodes[i].child_count > 1)
			qsort(idx->children + idx->nodes[i].child_first, idx->nodes[i].child_count,
			      sizeof(uint32_t), cmp_child);
	sort_idx = NULL;
	return 0;
}

int cn_taridx_build(cn_taridx_read_fn rd, void *ctx, uint64_t dev_size, struct cn_taridx **ret)
{
	struct builder b = {.rd = rd, .ctx = ctx, .dev_size = dev_size};
	_cleanup_free_ struct entry *e = malloc(sizeof(*e));
	uint64_t off = 0;
	int r;

	if (!e)
		return -ENOMEM;
	b.idx = calloc(1, sizeof(*b.idx));
	if (!b.idx)
		return -ENOMEM;
	for (;;) {
		bool eof;

		r = read_entry(&b, &off, e, &eof);
		if (r < 0)
			goto out;
		if (eof)
			break;
		r = add_entry(&b, e, off);
		if (r < 0)
			goto out;
		if (e->type == '0')
			off += (e->size + BLK - 1) / BLK * BLK;
	}
	if (b.idx->n == 0) {
		r = cn_err_set(-EBADMSG, "tar: the archive is empty (no './')");
		goto out;
	}
	b.idx->end = off;
	r = link_children(b.idx);
out:
	for (uint32_t i = 0; i < b.idx->n; i++)
		free(b.paths[i]);
	free(b.paths);
	free(b.table);
	if (r < 0) {
		cn_taridx_free(b.idx);
		return r;
	}
	*ret = b.idx;
	return 0;
}

struct membuf {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct membuf *m = ctx;

	if (off > m->len || m->len - off < len)
		return -EIO;
	memcpy(buf, m->p + off, len);
	return 0;
}

int cn_taridx_build_mem(const uint8_t *buf, size_t len, struct cn_taridx **ret)
{
	struct membuf m = {buf, len};

	return cn_taridx_build(mem_read, &m, len, ret);
}

void cn_taridx_free(struct cn_taridx *idx)
{
	if (!idx)
		return;
	free(idx->nodes);
	free(idx->children);
	free(idx->names);
	free(idx);
}

int cn_taridx_lookup(const struct cn_taridx *idx, uint32_t dir, const char *name, size_t len,
		     uint32_t *ret)
{
	const struct cn_taridx_node *d;
	uint32_t lo = 0, hi;

	if (dir >= idx->n)
		return -ENOENT;
	d = &idx->nodes[dir];
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	hi = d->child_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, c = idx->children[d->child_first + mid];
		const struct cn_taridx_node *x = &idx->nodes[c];
		int k = memcmp(idx->names + x->name_off, name, CN_MIN((size_t)x->name_len, len));

		if (k == 0)
			k = (x->name_len > len) - (x->name_len < len);
		if (k == 0) {
			*ret = c;
			return 0;
		}
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int cn_taridx_resolve(const struct cn_taridx *idx, const char *path, uint32_t *ret)
{
	uint32_t cur = 0;

	while (*path) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		int r;

		if (n > 0) {
			r = cn_taridx_lookup(idx, cur, path, n, &cur);
			if (r < 0)
				return r;
		}
		path += n + (slash != NULL);
	}
	*ret = cur;
	return 0;
}
