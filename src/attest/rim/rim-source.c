/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RIM sources: a directory of "<rim-id>.xml" files (plus an index of NVIDIA's sample file names
 * built from each file's identity), or caller-provided ops (the RIM service fetcher, later).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "attest/rim/rim-internal.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

#define INDEX_FILES_MAX 4096u /* directory entries considered for the index */

struct cn_rim_source {
	struct cn_rim_source_ops ops;
	void *userdata;
	/* directory source */
	char *dir;
	int dir_fd;
	bool indexed;
	struct cn_rim_index_entry *index;
	size_t n_index;
};

static int dir_get(struct cn_rim_source *s, const char *id, uint8_t **ret, size_t *ret_len,
		   char **ret_origin);

static struct cn_rim_source *source_alloc(void)
{
	struct cn_rim_source *s = calloc(1, sizeof(*s));

	if (s)
		s->dir_fd = -EBADF;
	return s;
}

struct cn_rim_source *cn_rim_source_free(struct cn_rim_source *s)
{
	if (!s)
		return NULL;
	if (s->ops.free_userdata)
		s->ops.free_userdata(s->userdata);
	if (s->dir_fd >= 0)
		(void)close(s->dir_fd);
	free(s->dir);
	free(s->index);
	free(s);
	return NULL;
}
CN_DEFINE_CLEANUP(struct cn_rim_source *, cn_rim_source_free)

int cn_rim_source_new_dir(const char *dir, struct cn_rim_source **ret)
{
	_cleanup_(cn_rim_source_freep) struct cn_rim_source *s = NULL;

	if (!dir || !ret)
		return cn_err_set(-EINVAL, "rim: no directory");
	s = source_alloc();
	if (!s)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	s->dir = strdup(dir);
	if (!s->dir)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return cn_err_set(-errno, "rim: cannot open RIM directory '%s': %s", dir,
				  strerror(errno));
	*ret = TAKE_PTR(s);
	return 0;
}

int cn_rim_source_new_custom(const struct cn_rim_source_ops *ops, void *userdata,
			     struct cn_rim_source **ret)
{
	struct cn_rim_source *s;

	if (!ops || !ops->get || !ret)
		return cn_err_set(-EINVAL, "rim: source ops without get()");
	s = source_alloc();
	if (!s)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	s->ops = *ops;
	s->userdata = userdata;
	*ret = s;
	return 0;
}

int cn_rim_source_get(struct cn_rim_source *s, const char *rim_id, uint8_t **ret_xml,
		      size_t *ret_len, char **ret_origin)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *origin = NULL;
	size_t len = 0;
	int r;

	if (!s || !ret_xml || !ret_len)
		return cn_err_set(-EINVAL, "rim: no source");
	if (!cn_rim_id_valid(rim_id))
		return cn_err_set(-EINVAL, "rim: invalid RIM id '%.*s'", (int)CN_RIM_ID_MAX,
				  rim_id ? rim_id : "");
	if (s->dir) {
		r = dir_get(s, rim_id, &buf, &len, &origin);
	} else {
		r = s->ops.get(s->userdata, rim_id, &buf, &len);
		if (r == -ENOENT)
			return cn_err_set(r, "rim: RIM '%s' not found", rim_id);
		if (r >= 0 && (!buf || len > CN_RIM_SIZE_MAX))
			r = cn_err_set(-E2BIG, "rim: RIM '%s' of %zu bytes exceeds the limit of %u",
				       rim_id, len, CN_RIM_SIZE_MAX);
	}
	if (r < 0)
		return r;
	if (ret_origin) {
		if (!origin && asprintf(&origin, "source:%s", rim_id) < 0)
			return cn_err_set(-ENOMEM, "rim: out of memory");
		*ret_origin = TAKE_PTR(origin);
	}
	*ret_xml = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* ---- identity of a file (for the index) ---- */

static bool has_suffix(const char *s, const char *suffix, size_t *ret_stem)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n <= m || strcmp(s + n - m, suffix) != 0)
		return false;
	*ret_stem = n - m;
	return true;
}

/*
 * Project, SKU and chip SKU from NVIDIA's VBIOS RIM file names:
 *   "<project>_<sku>_<chip>_<hex10>[_<anything>].swidtag" (nvtrust samples) or
 *   "NV_GPU_VBIOS_<project>_<sku>_<chip>_<hex10>[_<anything>].xml".
 * The hex field must equal colloquialVersion without dots.
 */
static int vbios_id_from_name(const char *file_name, const char *version, char *out, size_t size)
{
	char stem[256], hex[11];
	char *parts[4], *p;
	size_t n;

	if (!file_name)
		return -ENODATA;
	if (!has_suffix(file_name, ".swidtag", &n) && !has_suffix(file_name, ".xml", &n))
		return -ENODATA;
	if (n >= sizeof(stem))
		return -ENODATA;
	memcpy(stem, file_name, n);
	stem[n] = '\0';
	p = stem;
	if (strncmp(p, "NV_GPU_VBIOS_", 13) == 0)
		p += 13;
	for (size_t i = 0; i < 4; i++) {
		char *u = strchr(p, '_');

		parts[i] = p;
		if (u) {
			*u = '\0';
			p = u + 1;
		} else if (i < 3) {
			return -ENODATA;
		} else {
			p += strlen(p);
		}
		if (parts[i][0] == '\0' || strlen(parts[i]) > 16)
			return -ENODATA;
		for (char *c = parts[i]; *c; c++) {
			if (!cn_rim_char_ok(*c) || *c == '.')
				return -ENODATA;
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		}
	}
	for (size_t i = 0, j = 0; version[i]; i++)
		if (version[i] != '.') {
			char c = version[i];

			hex[j++] = c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
			hex[j] = '\0';
		}
	if (strlen(parts[3]) != 10 || strcmp(parts[3], hex) != 0)
		return -ENODATA;
	if ((size_t)snprintf(out, size, "NV_GPU_VBIOS_%s_%s_%s_%s", parts[0], parts[1], parts[2],
			     parts[3]) >= size)
		return -ENODATA;
	return 0;
}

int cn_rim_identify(const uint8_t *xml, size_t len, const char *file_name,
		    struct cn_rim_index_entry *ret)
{
	struct cn_rim_index_entry e = {0};
	struct cn_rim rim = {0};
	xmlDocPtr doc = NULL;
	int r;

	if (!ret)
		return cn_err_set(-EINVAL, "rim: no output");
	r = cn_rim_parse_xml(xml, len, &doc);
	if (r < 0)
		return r;
	cn_rim_read_identity(doc, &rim);
	xmlFreeDoc(doc);

	if (rim.version[0] == '\0')
		return cn_err_set(-EBADMSG,
				  "rim: Meta/@colloquialVersion missing or not [0-9A-Za-z._-]");
	e.kind = rim.kind;
	memcpy(e.version, rim.version, sizeof(e.version));
	memcpy(e.tag_id, rim.tag_id, sizeof(e.tag_id));
	if (file_name)
		(void)snprintf(e.file, sizeof(e.file), "%s", file_name);
	if (rim.kind == CN_RIM_KIND_DRIVER) {
		if (rim.product[0] == '\0')
			return cn_err_set(-EBADMSG,
					  "rim: Meta/@product missing or not [0-9A-Za-z._-]");
		if ((size_t)snprintf(e.id, sizeof(e.id), "NV_GPU_DRIVER_%s_%s", rim.product,
				     rim.version) >= sizeof(e.id))
			return cn_err_set(-EBADMSG, "rim: driver RIM id too long");
	} else if (vbios_id_from_name(file_name, rim.version, e.id, sizeof(e.id)) < 0) {
		return cn_err_set(-EBADMSG,
				  "rim: VBIOS RIM %s: file name '%s' does not give "
				  "<project>_<sku>_<chip>_<version> matching colloquialVersion",
				  rim.version, file_name ? file_name : "");
	}
	*ret = e;
	return 0;
}

/* ---- directory source ---- */

static int build_index(struct cn_rim_source *s)
{
	_cleanup_free_ struct cn_rim_index_entry *index = NULL;
	size_t n = 0, seen = 0;
	DIR *d;
	int fd;

	if (s->indexed)
		return 0;
	fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "rim: cannot read RIM directory '%s'", s->dir);
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return cn_err_set(-ENOMEM, "rim: cannot read RIM directory '%s'", s->dir);
	}
	index = calloc(INDEX_FILES_MAX, sizeof(*index));
	if (!index) {
		(void)closedir(d);
		return cn_err_set(-ENOMEM, "rim: out of memory");
	}
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len = 0, stem;
		struct stat st;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(index[0].file))
			continue;
		if (!has_suffix(de->d_name, ".swidtag", &stem) &&
		    !has_suffix(de->d_name, ".xml", &stem))
			continue;
		if (++seen > INDEX_FILES_MAX) {
			(void)closedir(d);
			return cn_err_set(-E2BIG, "rim: more than %u *.xml/*.swidtag files in '%s'",
					  INDEX_FILES_MAX, s->dir);
		}
		if (fstatat(s->dir_fd, de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (cn_read_file_at(s->dir_fd, de->d_name, CN_RIM_SIZE_MAX, &buf, &len) < 0)
			continue;
		if (cn_rim_identify(buf, len, de->d_name, &index[n]) < 0)
			continue; /* not a RIM we can name: skipped */
		n++;
	}
	(void)closedir(d);
	cn_err_clear();
	s->index = TAKE_PTR(index);
	s->n_index = n;
	s->indexed = true;
	return 0;
}

int cn_rim_source_index(struct cn_rim_source *s, const struct cn_rim_index_entry **ret,
			size_t *ret_n)
{
	int r;

	if (!s || !ret || !ret_n)
		return cn_err_set(-EINVAL, "rim: no source");
	if (!s->dir)
		return cn_err_set(-EOPNOTSUPP, "rim: source is not a directory");
	r = build_index(s);
	if (r < 0)
		return r;
	*ret = s->index;
	*ret_n = s->n_index;
	return 0;
}

static int dir_get(struct cn_rim_source *s, const char *id, uint8_t **ret, size_t *ret_len,
		   char **ret_origin)
{
	_cleanup_free_ char *name = NULL;
	const struct cn_rim_index_entry *found = NULL;
	int r;

	if (asprintf(&name, "%s.xml", id) < 0)
		return cn_err_set(-ENOMEM, "rim: out of memory");
	r = cn_read_file_at(s->dir_fd, name, CN_RIM_SIZE_MAX, ret, ret_len);
	if (r == -E2BIG)
		return cn_err_set(r, "rim: '%s/%s' exceeds %u bytes", s->dir, name,
				  CN_RIM_SIZE_MAX);
	if (r < 0 && r != -ENOENT)
		return cn_err_set(r, "rim: cannot read '%s/%s': %s", s->dir, name, cn_strerror(r));
	if (r >= 0) {
		*ret_origin = cn_path_join(s->dir, name);
		return *ret_origin ? 0 : cn_err_set(-ENOMEM, "rim: out of memory");
	}

	r = build_index(s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_index; i++) {
		if (strcmp(s->index[i].id, id) != 0)
			continue;
		if (found)
			return cn_err_set(-ENOTUNIQ,
					  "rim: RIM id %s is provided by both '%s' and '%s' in "
					  "'%s'; name the one to use %s.xml",
					  id, found->file, s->index[i].file, s->dir, id);
		found = &s->index[i];
	}
	if (!found)
		return cn_err_set(
		    -ENOENT, "rim: RIM '%s' not found in '%s' (neither %s.xml nor an indexed file)",
		    id, s->dir, id);
	r = cn_read_file_at(s->dir_fd, found->file, CN_RIM_SIZE_MAX, ret, ret_len);
	if (r < 0)
		return cn_err_set(r, "rim: cannot read '%s/%s': %s", s->dir, found->file,
				  cn_strerror(r));
	*ret_origin = cn_path_join(s->dir, found->file);
	return *ret_origin ? 0 : cn_err_set(-ENOMEM, "rim: out of memory");
}
