/* SPDX-License-Identifier: Apache-2.0 */
#include "hf/hub-parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "net/http.h"

static bool repo_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int repo_part_check(const char *id, const char *p, size_t len)
{
	if (len == 0)
		return cn_err_set(-EINVAL, "repository id '%s': empty name part", id);
	if (len > CN_HUB_REPO_PART_MAX)
		return cn_err_set(-EINVAL,
				  "repository id '%s': a part is longer than %u characters", id,
				  CN_HUB_REPO_PART_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!repo_char(p[i]))
			return cn_err_set(-EINVAL,
					  "repository id '%s': invalid character at offset %zu", id,
					  (size_t)(p - id) + i);
		if (i > 0 && (p[i] == '-' || p[i] == '.') && p[i - 1] == p[i])
			return cn_err_set(-EINVAL, "repository id '%s': '%c%c' is not allowed", id,
					  p[i], p[i]);
	}
	if (p[0] == '-' || p[0] == '.' || p[len - 1] == '-' || p[len - 1] == '.')
		return cn_err_set(-EINVAL,
				  "repository id '%s': a part starts or ends with '-' or '.'", id);
	return 0;
}

int cn_hub_repo_id_check(const char *id)
{
	const char *slash;
	int r;

	if (!id || !*id)
		return cn_err_set(-EINVAL, "empty repository id");
	slash = strchr(id, '/');
	if (!slash)
		return repo_part_check(id, id, strlen(id));
	if (strchr(slash + 1, '/'))
		return cn_err_set(-EINVAL, "repository id '%s': more than one '/'", id);
	r = repo_part_check(id, id, (size_t)(slash - id));
	if (r < 0)
		return r;
	return repo_part_check(id, slash + 1, strlen(slash + 1));
}

int cn_hub_revision_check(const char *rev)
{
	size_t len = rev ? strlen(rev) : 0;

	if (len == 0 || len > CN_HUB_REVISION_MAX)
		return cn_err_set(-EINVAL, "revision must be 1 to %u characters",
				  CN_HUB_REVISION_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)rev[i] <= 0x20 || (unsigned char)rev[i] >= 0x7f ||
		    rev[i] == '\\')
			return cn_err_set(-EINVAL, "revision '%s': invalid character at offset %zu",
					  rev, i);
	if (rev[0] == '-' || rev[0] == '/' || strstr(rev, ".."))
		return cn_err_set(-EINVAL, "revision '%s' is not a valid branch, tag or commit",
				  rev);
	return 0;
}

int cn_hub_path_check(const char *p, size_t len)
{
	size_t comp = 0, depth = 0;

	if (len == 0)
		return cn_err_set(-EBADMSG, "empty repository path");
	if (len > CN_HUB_PATH_MAX)
		return cn_err_set(-EBADMSG, "repository path longer than %u bytes",
				  CN_HUB_PATH_MAX);
	if (p[0] == '/')
		return cn_err_set(-EBADMSG, "absolute repository path '%.*s'", (int)len, p);
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)p[i] : '/';

		if (c == 0)
			return cn_err_set(-EBADMSG, "repository path with a NUL byte at offset %zu",
					  i);
		if (c < 0x20 || c == 0x7f)
			return cn_err_set(-EBADMSG,
					  "repository path with a control byte at offset %zu", i);
		if (c == '\\')
			return cn_err_set(-EBADMSG, "repository path '%.*s' contains a backslash",
					  (int)len, p);
		if (c != '/') {
			comp++;
			continue;
		}
		if (comp == 0)
			return cn_err_set(-EBADMSG, "repository path '%.*s' has an empty component",
					  (int)len, p);
		if (comp > CN_HUB_NAME_MAX)
			return cn_err_set(-EBADMSG,
					  "repository path has a component longer than %u bytes",
					  CN_HUB_NAME_MAX);
		if ((comp == 1 && p[i - 1] == '.') ||
		    (comp == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
			return cn_err_set(-EBADMSG,
					  "repository path '%.*s' has a '.' or '..' component",
					  (int)len, p);
		/* A git folder in an image would carry the repository's history and hooks. */
		if (comp == 4 && strncasecmp(p + i - 4, ".git", 4) == 0)
			return cn_err_set(-EBADMSG,
					  "repository path '%.*s' uses the reserved name '%.4s'",
					  (int)len, p, p + i - 4);
		if (++depth > CN_HUB_DEPTH_MAX)
			return cn_err_set(-EBADMSG, "repository path deeper than %u components",
					  CN_HUB_DEPTH_MAX);
		comp = 0;
	}
	return 0;
}

/* RFC 9110 tchar */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char *v, size_t len, size_t *i)
{
	while (*i < len && (v[*i] == ' ' || v[*i] == '\t'))
		(*i)++;
}

/* rel is a space-separated list of relation types; true if "next" is one of them. */
static bool rel_has_next(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (i - start == 4 && strncasecmp(s + start, "next", 4) == 0)
			return true;
	}
	return false;
}

int cn_hub_link_next(const char *v, size_t len, char **ret_url)
{
	const char *next = NULL;
	size_t next_len = 0, i = 0;

	if (len > CN_HUB_LINK_MAX)
		return cn_err_set(-EBADMSG, "Link header longer than %u bytes", CN_HUB_LINK_MAX);
	if (memchr(v, 0, len))
		return cn_err_set(-EBADMSG, "Link header with a NUL byte");
	skip_ows(v, len, &i);
	if (i == len) {
		*ret_url = NULL;
		return 0;
	}
	for (;;) {
		const char *uri;
		size_t uri_len;
		bool is_next = false;

		skip_ows(v, len, &i);
		if (i >= len || v[i] != '<')
			return cn_err_set(-EBADMSG, "Link header: expected '<' at offset %zu", i);
		uri = v + ++i;
		while (i < len && v[i] != '>') {
			unsigned char c = (unsigned char)v[i];

			if (c <= 0x20 || c >= 0x7f || c == '<' || c == '"')
				return cn_err_set(-EBADMSG,
						  "Link header: invalid URI byte at offset %zu", i);
			i++;
		}
		if (i >= len)
			return cn_err_set(-EBADMSG, "Link header: unterminated '<'");
		uri_len = (size_t)(uri - v);
		uri_len = i - uri_len;
		if (uri_len == 0)
			return cn_err_set(-EBADMSG, "Link header: empty URI");
		i++;
		/* parameters */
		for (;;) {
			size_t name, name_len, val, val_len;

			skip_ows(v, len, &i);
			if (i >= len || v[i] != ';')
				break;
			i++;
			skip_ows(v, len, &i);
			name = i;
			while (i < len && tchar(v[i]))
				i++;
			name_len = i - name;
			if (name_len == 0)
				return cn_err_set(
				    -EBADMSG, "Link header: empty parameter name at offset %zu", i);
			skip_ows(v, len, &i);
			if (i >= len || v[i] != '=')
				return cn_err_set(-EBADMSG,
						  "Link header: expected '=' at offset %zu", i);
			i++;
			skip_ows(v, len, &i);
			if (i < len && v[i] == '"') {
				val = ++i;
				while (i < len && v[i] != '"') {
					unsigned char c = (unsigned char)v[i];

					if (c == '\\' || (c < 0x20 && c != '\t') || c == 0x7f)
						return cn_err_set(-EBADMSG,
								  "Link header: invalid quoted "
								  "byte at offset %zu",
								  i);
					i++;
				}
				if (i >= len)
					return cn_err_set(
					    -EBADMSG, "Link header: unterminated quoted string");
				val_len = i - val;
				i++;
			} else {
				val = i;
				while (i < len && tchar(v[i]))
					i++;
				val_len = i - val;
				if (val_len == 0)
					return cn_err_set(
					    -EBADMSG,
					    "Link header: empty parameter value at offset %zu", i);
			}
			if (name_len == 3 && strncasecmp(v + name, "rel", 3) == 0 &&
			    rel_has_next(v + val, val_len))
				is_next = true;
		}
		if (is_next) {
			if (next)
				return cn_err_set(-EBADMSG,
						  "Link header: more than one rel=\"next\"");
			next = uri;
			next_len = uri_len;
		}
		skip_ows(v, len, &i);
		if (i == len)
			break;
		if (v[i] != ',')
			return cn_err_set(-EBADMSG, "Link header: unexpected byte at offset %zu",
					  i);
		i++;
	}
	if (!next) {
		*ret_url = NULL;
		return 0;
	}
	/* not strndup(): v need not be NUL-terminated */
	*ret_url = malloc(next_len + 1);
	if (!*ret_url)
		return cn_err_set(-ENOMEM, "out of memory");
	memcpy(*ret_url, next, next_len);
	(*ret_url)[next_len] = 0;
	return 0;
}

int cn_hub_next_url_check(const char *prefix, const char *url)
{
	size_t pl = strlen(prefix);

	if (strncmp(url, prefix, pl) != 0)
		return cn_err_set(-EBADMSG, "next page '%.200s' leaves the listing '%s'", url,
				  prefix);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '\\' ||
		    *c == '#')
			return cn_err_set(-EBADMSG,
					  "next page URL has an invalid byte at offset %zu",
					  (size_t)(c - url));
	return 0;
}

static void files_free(struct cn_hub_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].path);
}

void cn_hub_tree_done(struct cn_hub_tree *t)
{
	files_free(t->files, t->n);
	free(t->files);
	*t = (struct cn_hub_tree){0};
}

static int json_hex(json_t *v, const char *what, size_t idx, size_t bytes, uint8_t *out)
{
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != bytes * 2 || !cn_is_lower_hex(s, bytes * 2) ||
	    cn_unhex_exact(s, out, bytes) < 0)
		return cn_err_set(-EBADMSG, "tree entry %zu: '%s' is not %zu lower-case hex digits",
				  idx, what, bytes * 2);
	return 0;
}

static int json_size(json_t *v, const char *what, size_t idx, uint64_t *ret)
{
	json_int_t n;

	if (!json_is_integer(v))
		return cn_err_set(-EBADMSG, "tree entry %zu: '%s' is not an integer", idx, what);
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > CN_HUB_FILE_SIZE_MAX)
		return cn_err_set(-EBADMSG, "tree entry %zu: '%s' out of range", idx, what);
	*ret = (uint64_t)n;
	return 0;
}

static void json_unrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}

int cn_hub_tree_parse_page(const uint8_t *buf, size_t len, struct cn_hub_tree *t)
{
	__attribute__((cleanup(json_unrefp))) json_t *root = NULL;
	struct cn_hub_file *add = NULL;
	size_t n_add = 0, skipped = 0, count;
	uint64_t total = t->total_size;
	json_error_t jerr;
	int r = 0;

	/* JSON_REJECT_DUPLICATES: one meaning per key. NUL inside strings stays rejected. */
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cn_err_set(-EBADMSG, "tree listing is not valid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	if (!json_is_array(root))
		return cn_err_set(-EBADMSG, "tree listing is not a JSON array");
	count = json_array_size(root);
	if (count > CN_HUB_FILES_MAX || t->n > CN_HUB_FILES_MAX - count)
		return cn_err_set(-E2BIG, "tree listing has more than %u entries",
				  CN_HUB_FILES_MAX);
	if (count) {
		add = calloc(count, sizeof(*add));
		if (!add)
			return cn_err_set(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		json_t *e = json_array_get(root, i), *type, *path, *lfs;
		struct cn_hub_file f = {0};
		const char *ty, *ps;
		size_t pl;

		if (!json_is_object(e)) {
			r = cn_err_set(-EBADMSG, "tree entry %zu is not an object", i);
			goto fail;
		}
		type = json_object_get(e, "type");
		path = json_object_get(e, "path");
		ty = json_string_value(type);
		ps = json_string_value(path);
		if (!ty || !ps) {
			r = cn_err_set(-EBADMSG, "tree entry %zu: missing 'type' or 'path'", i);
			goto fail;
		}
		pl = json_string_length(path);
		r = cn_hub_path_check(ps, pl);
		if (r < 0) {
			r = cn_net_err_wrap(r, "tree entry %zu", i);
			goto fail;
		}
		if (strcmp(ty, "directory") == 0)
			continue;
		if (strcmp(ty, "file") != 0) {
			r = cn_err_set(-EBADMSG, "tree entry %zu ('%s'): unsupported type '%.32s'",
				       i, ps, ty);
			goto fail;
		}
		r = json_size(json_object_get(e, "size"), "size", i, &f.size);
		if (r < 0)
			goto fail;
		lfs = json_object_get(e, "lfs");
		if (lfs && !json_is_null(lfs)) {
			uint64_t lsize = 0;

			if (!json_is_object(lfs)) {
				r = cn_err_set(-EBADMSG, "tree entry %zu: 'lfs' is not an object",
					       i);
				goto fail;
			}
			r = json_hex(json_object_get(lfs, "oid"), "lfs.oid", i, 32, f.digest);
			if (r < 0)
				goto fail;
			r = json_size(json_object_get(lfs, "size"), "lfs.size", i, &lsize);
			if (r < 0)
				goto fail;
			if (lsize != f.size) {
				r = cn_err_set(
				    -EBADMSG,
				    "tree entry %zu ('%s'): lfs.size %llu differs from size %llu",
				    i, ps, (unsigned long long)lsize, (unsigned long long)f.size);
				goto fail;
			}
			f.lfs = true;
		} else {
			r = json_hex(json_object_get(e, "oid"), "oid", i, 20, f.digest);
			if (r < 0)
				goto fail;
		}
		/* The reference runs `rm -rf MODEL_DIR/.cache` after downloading. */
		if ((pl > 7 && memcmp(ps, ".cache/", 7) == 0) || strcmp(ps, ".cache") == 0) {
			skipped++;
			continue;
		}
		if (__builtin_add_overflow(total, f.size, &total)) {
			r = cn_err_set(-EOVERFLOW, "tree listing: total size overflows");
			goto fail;
		}
		f.path = strndup(ps, pl);
		if (!f.path) {
			r = cn_err_set(-ENOMEM, "out of memory");
			goto fail;
		}
		add[n_add++] = f;
	}
	if (n_add) {
		size_t need = t->n + n_add;

		if (need > t->cap) {
			size_t cap = CN_MAX(t->cap * 2, need);
			struct cn_hub_file *p = reallocarray(t->files, cap, sizeof(*p));

			if (!p) {
				r = cn_err_set(-ENOMEM, "out of memory");
				goto fail;
			}
			t->files = p;
			t->cap = cap;
		}
		memcpy(t->files + t->n, add, n_add * sizeof(*add));
		t->n = need;
	}
	t->total_size = total;
	t->skipped += skipped;
	free(add);
	return 0;
fail:
	files_free(add, n_add);
	free(add);
	return r;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct cn_hub_file *)a)->path, ((const struct cn_hub_file *)b)->path);
}

const struct cn_hub_file *cn_hub_tree_find(const struct cn_hub_tree *t, const char *path)
{
	struct cn_hub_file key = {.path = (char *)path};

	if (!t->n)
		return NULL;
	return bsearch(&key, t->files, t->n, sizeof(*t->files), cmp_file);
}

int cn_hub_tree_finish(struct cn_hub_tree *t)
{
	_cleanup_free_ char *buf = NULL;

	if (t->n)
		qsort(t->files, t->n, sizeof(*t->files), cmp_file);
	for (size_t i = 1; i < t->n; i++)
		if (strcmp(t->files[i - 1].path, t->files[i].path) == 0)
			return cn_err_set(-EBADMSG, "tree listing names '%s' twice",
					  t->files[i].path);
	buf = malloc(CN_HUB_PATH_MAX + 1);
	if (!buf)
		return cn_err_set(-ENOMEM, "out of memory");
	/* A file must not also be a directory of another file. */
	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->files[i].path;

		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			memcpy(buf, p, (size_t)(s - p));
			buf[s - p] = 0;
			if (cn_hub_tree_find(t, buf))
				return cn_err_set(
				    -EBADMSG,
				    "tree listing has '%s' both as a file and as a directory", buf);
		}
	}
	return 0;
}
