/* SPDX-License-Identifier: Apache-2.0 */
/* Reading back the identity fields of an image manifest (jansson; untrusted bytes on disk). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/parse.h"
#include "model/model.h"

static const char *get_str(json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int cn_model_manifest_parse(const uint8_t *buf, size_t len, struct cn_model_manifest_info *ret)
{
	struct cn_model_manifest_info info = {0};
	const char *name, *commit, *root, *fmt;
	json_error_t jerr;
	json_t *m, *ver;
	int r = -EBADMSG;

	if (len > CN_MODEL_MANIFEST_MAX)
		return cn_err_set(-E2BIG, "manifest: %zu bytes is above the cap", len);
	m = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!m)
		return cn_err_set(-EBADMSG, "manifest: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	if (!json_is_object(m)) {
		cn_err_set(-EBADMSG, "manifest: not a JSON object");
		goto out;
	}
	ver = json_object_get(m, "manifest_version");
	if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
		cn_err_set(-EBADMSG, "manifest: field 'manifest_version' is not 1");
		goto out;
	}
	name = get_str(m, "name");
	commit = get_str(m, "commit");
	root = get_str(m, "root_hash");
	fmt = get_str(m, "tar_format");
	if (!name || cn_model_name_check(name, strlen(name)) < 0) {
		cn_err_set(-EBADMSG, "manifest: field 'name' is missing or invalid");
		goto out;
	}
	if (!commit || cn_model_commit_check(commit, strlen(commit)) < 0) {
		cn_err_set(-EBADMSG, "manifest: field 'commit' is missing or invalid");
		goto out;
	}
	if (!root || strlen(root) != 64 || !cn_is_lower_hex(root, 64)) {
		cn_err_set(-EBADMSG, "manifest: field 'root_hash' is not 64 lower-case hex digits");
		goto out;
	}
	if (!fmt || (strcmp(fmt, "gnu-1.35") != 0 && strcmp(fmt, "gnu-1.34") != 0)) {
		cn_err_set(-EBADMSG, "manifest: field 'tar_format' is not gnu-1.35 or gnu-1.34");
		goto out;
	}
	info.name = strdup(name);
	info.commit = strdup(commit);
	if (!info.name || !info.commit) {
		cn_model_manifest_info_done(&info);
		r = -ENOMEM;
		goto out;
	}
	memcpy(info.root_hash, root, 65);
	memcpy(info.tar_format, fmt, strlen(fmt) + 1);
	*ret = info;
	r = 0;
out:
	json_decref(m);
	return r;
}

void cn_model_manifest_info_done(struct cn_model_manifest_info *m)
{
	free(m->name);
	free(m->commit);
	*m = (struct cn_model_manifest_info){0};
}
