/* SPDX-License-Identifier: Apache-2.0 */
/* The Hugging Face cache: location, layout, offline rule (see cache.h). */
#include "hf/cache.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "hf/hub-parse.h"

#define TREE_JSON_MAX (64u * 1024 * 1024)

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int home_dir(char **ret)
{
	const char *home = env_nonempty("HOME");
	struct passwd *pw;

	if (!home) {
		pw = getpwuid(getuid());
		if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
			return cn_err_set(-ENOENT, "cannot find the home folder (set HF_HOME)");
		home = pw->pw_dir;
	}
	*ret = strdup(home);
	return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
}

int cn_hf_home(const char *hf_home, char **ret)
{
	_cleanup_free_ char *home = NULL;
	const char *v = hf_home ? hf_home : env_nonempty("HF_HOME");
	int r;

	if (v) {
		*ret = strdup(v);
		return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
	}
	v = env_nonempty("XDG_CACHE_HOME");
	if (v)
		*ret = cn_path_join(v, "huggingface");
	else {
		r = home_dir(&home);
		if (r < 0)
			return r;
		*ret = cn_path_join(home, ".cache/huggingface");
	}
	return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
}

int cn_hf_hub_cache(const char *hf_home, char **ret)
{
	_cleanup_free_ char *home = NULL;
	const char *v = NULL;
	int r;

	if (!hf_home) {
		v = env_nonempty("HF_HUB_CACHE");
		if (!v)
			v = env_nonempty("HUGGINGFACE_HUB_CACHE");
	}
	if (v) {
		*ret = strdup(v);
		return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
	}
	r = cn_hf_home(hf_home, &home);
	if (r < 0)
		return r;
	*ret = cn_path_join(home, "hub");
	return *ret ? 0 : cn_err_set(-ENOMEM, "out of memory");
}

int cn_hf_offline(bool opt, bool *ret)
{
	const char *v = env_nonempty("HF_HUB_OFFLINE");
	bool off = false;

	if (opt) {
		*ret = true;
		return 0;
	}
	if (v && cn_parse_bool(v, &off) < 0)
		return cn_err_set(-EINVAL, "HF_HUB_OFFLINE='%.32s' is not a boolean", v);
	*ret = off;
	return 0;
}

int cn_hf_cache_repo_dir(const char *hub_cache, const char *repo, char **ret)
{
	const char *slash = strchr(repo, '/');
	int r;

	r = cn_hub_repo_id_check(repo);
	if (r < 0)
		return r;
	if (slash)
		r = asprintf(ret, "%s/models--%.*s--%s", hub_cache, (int)(slash - repo), repo,
			     slash + 1);
	else
		r = asprintf(ret, "%s/models--%s", hub_cache, repo);
	return r < 0 ? cn_err_set(-ENOMEM, "out of memory") : 0;
}

/* refs/<rev>: 40 hex digits; huggingface_hub writes no newline, an editor may add one. */
static int read_ref(const char *repo_dir, const char *rev, char **ret)
{
	_cleanup_free_ char *ref = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (strstr(rev, "..") || rev[0] == '/' || rev[0] == '.')
		return -ENOENT;
	if (asprintf(&ref, "%s/refs/%s", repo_dir, rev) < 0)
		return -ENOMEM;
	r = cn_read_file(ref, 128, &buf, &len);
	if (r == -CN_ENOTREG || r == -EISDIR)
		return cn_err_set(r, "Hugging Face cache ref '%s': %s", ref, cn_strerror(r));
	if (r < 0)
		return -ENOENT;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len != 40 || !cn_is_lower_hex((const char *)buf, 40))
		return cn_err_set(-EBADMSG,
				  "Hugging Face cache ref '%s' does not hold a 40-hex commit", ref);
	*ret = strndup((const char *)buf, 40);
	return *ret ? 0 : -ENOMEM;
}

int cn_hf_cache_resolve(const char *hub_cache, const char *repo, const char *revision,
			char **ret_commit, char **ret_dir)
{
	_cleanup_free_ char *repo_dir = NULL, *dir = NULL, *commit = NULL;
	struct stat st;
	int r;

	if (!hub_cache || !repo)
		return -ENOENT;
	r = cn_hf_cache_repo_dir(hub_cache, repo, &repo_dir);
	if (r < 0)
		return r;
	if (revision && cn_is_lower_hex(revision, 40) && strlen(revision) == 40) {
		commit = strdup(revision);
		if (!commit)
			return -ENOMEM;
	} else {
		if (revision) {
			r = cn_hub_revision_check(revision);
			if (r < 0)
				return r;
		}
		r = read_ref(repo_dir, revision ? revision : "main", &commit);
		if (r < 0)
			return r;
	}
	if (asprintf(&dir, "%s/snapshots/%s", repo_dir, commit) < 0)
		return -ENOMEM;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	if (ret_commit)
		*ret_commit = TAKE_PTR(commit);
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

int cn_hf_cache_tree(const char *hub_cache, const char *repo, const char *commit,
		     struct cn_hub_tree *ret)
{
	_cleanup_free_ char *repo_dir = NULL, *path = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	struct cn_hub_tree t = {0};
	size_t len;
	int r;

	if (!cn_is_lower_hex(commit, 40) || strlen(commit) != 40)
		return -ENOENT;
	r = cn_hf_cache_repo_dir(hub_cache, repo, &repo_dir);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/trees/%s.json", repo_dir, commit) < 0)
		return -ENOMEM;
	r = cn_read_file(path, TREE_JSON_MAX, &buf, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", path, strerror(-r));
	r = cn_hub_tree_parse_page(buf, len, &t);
	if (r >= 0)
		r = cn_hub_tree_finish(&t);
	if (r < 0) {
		cn_hub_tree_done(&t);
		return cn_err_set(r, "'%s': %s", path, cn_err_msg());
	}
	*ret = t;
	return 0;
}
