/* SPDX-License-Identifier: Apache-2.0 */
/* The model spec "<name>[@<commit>[:<roothash>]]", file names and the Hugging Face cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "model/model.h"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int cn_model_name_check(const char *s, size_t n)
{
	size_t slashes = 0;

	if (n == 0)
		return cn_err_set(-EINVAL, "model spec: the name is empty");
	if (n > CN_MODEL_NAME_MAX)
		return cn_err_set(-EINVAL, "model spec: the name is longer than %u bytes",
				  CN_MODEL_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			if (i == 0 || i == n - 1 || s[i - 1] == '/' || ++slashes > 1)
				return cn_err_set(
				    -EINVAL, "model spec: name '%.*s' must be NAME or ORG/NAME",
				    (int)n, s);
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
			return cn_err_set(-EINVAL,
					  "model spec: name '%.*s' has the character 0x%02x at "
					  "offset %zu (allowed: A-Z a-z 0-9 - _ . /)",
					  (int)n, s, (unsigned char)c, i);
		if (c == '.' && (i == 0 || s[i - 1] == '/' || (i + 1 < n && s[i + 1] == '.')))
			return cn_err_set(-EINVAL,
					  "model spec: name '%.*s' has a '.' or '..' component",
					  (int)n, s);
	}
	return 0;
}

int cn_model_commit_check(const char *s, size_t n)
{
	if (n == 0)
		return cn_err_set(-EINVAL, "model spec: the commit after '@' is empty");
	if (n > CN_MODEL_COMMIT_MAX)
		return cn_err_set(-EINVAL, "model spec: the commit is longer than %u bytes",
				  CN_MODEL_COMMIT_MAX);
	if (s[0] == '.' || s[0] == '-')
		return cn_err_set(-EINVAL, "model spec: the commit '%.*s' starts with '%c'", (int)n,
				  s, s[0]);
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return cn_err_set(-EINVAL,
					  "model spec: the commit has the character 0x%02x at "
					  "offset %zu (allowed: A-Z a-z 0-9 - _ .)",
					  (unsigned char)s[i], i);
	return 0;
}

int cn_model_spec_parse(const char *s, struct cn_model_spec *ret)
{
	const char *at, *colon = NULL;
	size_t nlen, clen = 0;
	struct cn_model_spec sp = {0};
	int r;

	if (!s)
		return cn_err_set(-EINVAL, "model spec: missing");
	if (strlen(s) > CN_MODEL_NAME_MAX + CN_MODEL_COMMIT_MAX + 66)
		return cn_err_set(-EINVAL, "model spec: too long");
	at = strchr(s, '@');
	nlen = at ? (size_t)(at - s) : strlen(s);
	r = cn_model_name_check(s, nlen);
	if (r < 0)
		return r;
	if (at) {
		colon = strchr(at + 1, ':');
		clen = colon ? (size_t)(colon - at - 1) : strlen(at + 1);
		r = cn_model_commit_check(at + 1, clen);
		if (r < 0)
			return r;
		if (colon && !cn_is_lower_hex(colon + 1, 64))
			return cn_err_set(-EINVAL,
					  "model spec: the root hash after ':' must be 64 "
					  "lower-case hex digits, got '%s'",
					  colon + 1);
	}
	sp.name = strndup(s, nlen);
	if (at)
		sp.commit = strndup(at + 1, clen);
	if (colon)
		sp.root_hash = strdup(colon + 1);
	if (!sp.name || (at && !sp.commit) || (colon && !sp.root_hash)) {
		cn_model_spec_done(&sp);
		return -ENOMEM;
	}
	*ret = sp;
	return 0;
}

void cn_model_spec_done(struct cn_model_spec *s)
{
	free(s->name);
	free(s->commit);
	free(s->root_hash);
	*s = (struct cn_model_spec){0};
}

char *cn_model_path_name(const char *name)
{
	char *p = strdup(name);

	if (!p)
		return NULL;
	for (char *c = p; *c; c++)
		if (!is_alnum(*c))
			*c = '_'; /* tr -c '[:alnum:]' '_' under LC_ALL=C, byte by byte */
	return p;
}

/* $HF_HOME/hub/models--ORG--NAME (HF_HUB_CACHE is honoured by the CLI through hf_home). */
static int hf_repo_dir(const char *hf_home, const char *name, char **ret)
{
	_cleanup_free_ char *folder = NULL;
	const char *slash = strchr(name, '/');
	char *s;

	if (slash) {
		if (asprintf(&folder, "models--%.*s--%s", (int)(slash - name), name, slash + 1) < 0)
			return -ENOMEM;
	} else if (asprintf(&folder, "models--%s", name) < 0) {
		return -ENOMEM;
	}
	if (asprintf(&s, "%s/hub/%s", hf_home, folder) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int cn_model_hf_cache_resolve(const char *hf_home, const char *name, const char *revision,
			      char **ret_commit, char **ret_dir)
{
	_cleanup_free_ char *repo = NULL, *dir = NULL, *commit = NULL;
	struct stat st;
	int r;

	if (!hf_home || !name)
		return -ENOENT;
	r = cn_model_name_check(name, strlen(name));
	if (r < 0)
		return r;
	r = hf_repo_dir(hf_home, name, &repo);
	if (r < 0)
		return r;
	if (revision && strlen(revision) == 40 && cn_is_lower_hex(revision, 40)) {
		commit = strdup(revision);
	} else {
		_cleanup_free_ char *ref = NULL;
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len;

		if (revision) {
			r = cn_model_commit_check(revision, strlen(revision));
			if (r < 0)
				return r;
		}
		if (asprintf(&ref, "%s/refs/%s", repo, revision ? revision : "main") < 0)
			return -ENOMEM;
		r = cn_read_file(ref, 128, &buf, &len);
		if (r == -CN_ENOTREG || r == -EISDIR)
			return cn_err_set(r, "Hugging Face cache ref '%s': %s", ref,
					  cn_strerror(r));
		if (r < 0)
			return -ENOENT;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len != 40 || !cn_is_lower_hex((const char *)buf, 40))
			return cn_err_set(
			    -EBADMSG, "Hugging Face cache ref '%s' does not hold a 40-hex commit",
			    ref);
		commit = strndup((const char *)buf, 40);
	}
	if (!commit)
		return -ENOMEM;
	if (asprintf(&dir, "%s/snapshots/%s", repo, commit) < 0)
		return -ENOMEM;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	if (ret_commit)
		*ret_commit = TAKE_PTR(commit);
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

int cn_model_hf_cache_snapshot(const char *hf_home, const char *name, const char *commit,
			       char **ret_dir)
{
	if (!commit)
		return -ENOENT;
	return cn_model_hf_cache_resolve(hf_home, name, commit, NULL, ret_dir);
}
