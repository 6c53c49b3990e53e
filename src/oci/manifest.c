/* SPDX-License-Identifier: Apache-2.0 */
/* The OCI manifest of a model artifact: built by push, parsed strictly (untrusted) by pull. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/parse.h"
#include "model/model.h"
#include "model/verity.h"
#include "net/http.h"
#include "oci/oci.h"

/* The largest tar a manifest may announce (4 PiB, the verity limit). */
#define TAR_MAX (CN_VERITY_DATA_BLOCKS_MAX * CN_VERITY_BLOCK)

static json_t *desc_json(const char *mt, const struct cn_oci_desc *d, const char *title)
{
	json_t *j = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", d->digest, "size",
			      (json_int_t)d->size);

	if (j && title &&
	    json_object_set_new(j, "annotations", json_pack("{s:s}", CN_OCI_ANN_TITLE, title)) <
		0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

char *cn_oci_manifest_build(const struct cn_oci_model_manifest *m)
{
	char spec[256 + 64 + 64 + 3], *path, *title_tar = NULL, *title_verity = NULL, *out = NULL;
	json_t *j = NULL, *layers;

	(void)snprintf(spec, sizeof(spec), "%s@%s:%s", m->name, m->commit, m->root_hash);
	path = cn_model_path_name(m->name);
	if (!path || asprintf(&title_tar, "%s@%s.tar", path, m->commit) < 0)
		goto out;
	if (asprintf(&title_verity, "%s.verity", title_tar) < 0) {
		title_verity = NULL;
		goto out;
	}
	layers = json_array();
	if (!layers ||
	    json_array_append_new(layers, desc_json(CN_OCI_MT_TAR, &m->tar, title_tar)) < 0 ||
	    json_array_append_new(layers, desc_json(CN_OCI_MT_VERITY, &m->verity, title_verity)) <
		0) {
		json_decref(layers);
		goto out;
	}
	j = json_pack("{s:i, s:s, s:s, s:o, s:o, s:{s:s}}", "schemaVersion", 2, "mediaType",
		      CN_OCI_MT_MANIFEST, "artifactType", CN_OCI_MT_ARTIFACT, "config",
		      desc_json(CN_OCI_MT_CONFIG, &m->config, NULL), "layers", layers,
		      "annotations", CN_OCI_ANN_SPEC, spec);
	if (j)
		out = json_dumps(j, JSON_COMPACT);
out:
	json_decref(j);
	free(path);
	free(title_tar);
	free(title_verity);
	return out;
}

static const char *str_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int desc_parse(json_t *j, const char *what, const char *mt, uint64_t max,
		      struct cn_oci_desc *ret)
{
	const char *t, *d;
	json_t *sz;

	if (!json_is_object(j))
		return cn_err_set(-EBADMSG, "manifest: %s is not an object", what);
	t = str_field(j, "mediaType");
	if (!t || strcmp(t, mt) != 0)
		return cn_err_set(-EBADMSG, "manifest: %s.mediaType is not '%s'", what, mt);
	d = str_field(j, "digest");
	if (!d || strlen(d) != 71 || memcmp(d, "sha256:", 7) != 0 || !cn_is_lower_hex(d + 7, 64))
		return cn_err_set(-EBADMSG, "manifest: %s.digest is not sha256:<64 lower-case hex>",
				  what);
	sz = json_object_get(j, "size");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    (uint64_t)json_integer_value(sz) > max)
		return cn_err_set(-EBADMSG, "manifest: %s.size is missing, negative or above %llu",
				  what, (unsigned long long)max);
	memcpy(ret->digest, d, 72);
	ret->size = (uint64_t)json_integer_value(sz);
	return 0;
}

static int check_body(json_t *j, struct cn_oci_model_manifest *m)
{
	struct cn_model_spec spec = {0};
	struct cn_verity_geo g;
	json_t *v, *layers, *ann;
	const char *s;
	int r;

	if (!json_is_object(j))
		return cn_err_set(-EBADMSG, "manifest: not a JSON object");
	v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return cn_err_set(-EBADMSG, "manifest: schemaVersion is not 2");
	s = str_field(j, "mediaType");
	if (!s || strcmp(s, CN_OCI_MT_MANIFEST) != 0)
		return cn_err_set(-EBADMSG, "manifest: mediaType is not '%s'", CN_OCI_MT_MANIFEST);
	s = str_field(j, "artifactType");
	if (!s || strcmp(s, CN_OCI_MT_ARTIFACT) != 0)
		return cn_err_set(-EBADMSG,
				  "manifest: artifactType is not '%s' (not a cocoon model image)",
				  CN_OCI_MT_ARTIFACT);
	r = desc_parse(json_object_get(j, "config"), "config", CN_OCI_MT_CONFIG,
		       CN_MODEL_MANIFEST_MAX, &m->config);
	if (r < 0)
		return r;
	layers = json_object_get(j, "layers");
	if (!json_is_array(layers) || json_array_size(layers) != 2)
		return cn_err_set(-EBADMSG, "manifest: layers is not an array of exactly 2");
	r = desc_parse(json_array_get(layers, 0), "layers[0]", CN_OCI_MT_TAR, TAR_MAX, &m->tar);
	if (r < 0)
		return r;
	if (m->tar.size == 0 || m->tar.size % CN_VERITY_BLOCK)
		return cn_err_set(-EBADMSG,
				  "manifest: layers[0].size is not a positive multiple of "
				  "4096");
	r = cn_verity_geometry(m->tar.size / CN_VERITY_BLOCK, &g);
	if (r < 0)
		return cn_err_set(-EBADMSG, "manifest: layers[0].size is out of range");
	r = desc_parse(json_array_get(layers, 1), "layers[1]", CN_OCI_MT_VERITY, g.file_size,
		       &m->verity);
	if (r < 0)
		return r;
	if (m->verity.size != g.file_size)
		return cn_err_set(-EBADMSG,
				  "manifest: layers[1].size %llu is not the verity size %llu of "
				  "the tar",
				  (unsigned long long)m->verity.size,
				  (unsigned long long)g.file_size);
	ann = json_object_get(j, "annotations");
	s = json_is_object(ann) ? str_field(ann, CN_OCI_ANN_SPEC) : NULL;
	if (!s)
		return cn_err_set(-EBADMSG, "manifest: annotation '%s' is missing",
				  CN_OCI_ANN_SPEC);
	r = cn_model_spec_parse(s, &spec);
	if (r < 0)
		return cn_net_err_wrap(-EBADMSG, "manifest: annotation '%s'", CN_OCI_ANN_SPEC);
	if (!spec.commit || !spec.root_hash || strlen(spec.name) > 256 ||
	    strlen(spec.commit) > 64) {
		cn_model_spec_done(&spec);
		return cn_err_set(-EBADMSG, "manifest: annotation '%s' is not name@commit:roothash",
				  CN_OCI_ANN_SPEC);
	}
	memcpy(m->name, spec.name, strlen(spec.name) + 1);
	memcpy(m->commit, spec.commit, strlen(spec.commit) + 1);
	memcpy(m->root_hash, spec.root_hash, 65);
	cn_model_spec_done(&spec);
	return 0;
}

int cn_oci_manifest_parse(const uint8_t *buf, size_t len, struct cn_oci_model_manifest *ret)
{
	struct cn_oci_model_manifest m = {0};
	json_error_t jerr;
	json_t *j;
	int r;

	if (len > CN_OCI_MANIFEST_MAX)
		return cn_err_set(-E2BIG, "manifest: %zu bytes is above the cap of %u", len,
				  CN_OCI_MANIFEST_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return cn_err_set(-EBADMSG, "manifest: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	r = check_body(j, &m);
	json_decref(j);
	if (r < 0)
		return r;
	*ret = m;
	return 0;
}
