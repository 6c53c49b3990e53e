/* SPDX-License-Identifier: Apache-2.0 */
/* The model identity: from a spec or the launcher's runtime.vars, and the model.env hand-off. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "guest/guest.h"
#include "model/model.h"

#define VARS_LINE_MAX 4096u

void cn_guest_model_done(struct cn_guest_model *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->commit);
	free(m->root_hash);
	*m = (struct cn_guest_model){0};
}

/* strndup() reads up to a NUL; these values are slices of a larger buffer. */
static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static int model_set(const char *name, size_t nlen, const char *commit, size_t clen,
		     const char *hash, size_t hlen, struct cn_guest_model *ret)
{
	struct cn_guest_model m = {0};
	int r;

	r = cn_model_name_check(name, nlen);
	if (r < 0)
		return r;
	r = cn_model_commit_check(commit, clen);
	if (r < 0)
		return r;
	bool hex = hlen == 64;

	for (size_t i = 0; hex && i < hlen; i++)
		hex = (hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f');
	if (!hex)
		return cn_err_set(-EINVAL, "the root hash '%.*s' is not 64 lower-case hex digits",
				  (int)CN_MIN(hlen, (size_t)80), hash);
	m.name = dup_n(name, nlen);
	m.commit = dup_n(commit, clen);
	m.root_hash = dup_n(hash, hlen);
	if (!m.name || !m.commit || !m.root_hash) {
		cn_guest_model_done(&m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

int cn_guest_model_from_spec(const char *spec, struct cn_guest_model *ret)
{
	const char *at, *colon;

	at = spec ? strchr(spec, '@') : NULL;
	colon = at ? strchr(at + 1, ':') : NULL;
	if (!at || !colon)
		return cn_err_set(-EINVAL, "model spec '%s' is not NAME@COMMIT:ROOTHASH",
				  spec ? spec : "");
	return model_set(spec, (size_t)(at - spec), at + 1, (size_t)(colon - at - 1), colon + 1,
			 strlen(colon + 1), ret);
}

int cn_guest_model_from_vars(const char *buf, size_t len, struct cn_guest_model *ret)
{
	static const char *const keys[3] = {"MODEL_NAME", "MODEL_COMMIT", "MODEL_VERITY_HASH"};
	const char *val[3] = {0};
	size_t vlen[3] = {0}, pos = 0;
	unsigned line = 0;

	if (len > CN_GUEST_VARS_MAX)
		return cn_err_set(-E2BIG, "runtime vars: more than %u bytes", CN_GUEST_VARS_MAX);
	while (pos < len) {
		const char *p = buf + pos, *nl = memchr(p, '\n', len - pos), *eq;
		size_t n = nl ? (size_t)(nl - p) : len - pos;

		line++;
		pos += n + (nl != NULL);
		if (n > VARS_LINE_MAX)
			return cn_err_set(-EBADMSG, "runtime vars: line %u is longer than %u bytes",
					  line, VARS_LINE_MAX);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0 || p[0] == '#')
			continue;
		if (memchr(p, '\0', n))
			return cn_err_set(-EBADMSG, "runtime vars: line %u holds a NUL byte", line);
		eq = memchr(p, '=', n);
		if (!eq || eq == p)
			return cn_err_set(-EBADMSG, "runtime vars: line %u is not KEY=VALUE", line);
		for (size_t k = 0; k < 3; k++) {
			size_t klen = strlen(keys[k]);

			if ((size_t)(eq - p) != klen || memcmp(p, keys[k], klen) != 0)
				continue;
			if (val[k])
				return cn_err_set(-EBADMSG,
						  "runtime vars: %s is set twice (line %u)",
						  keys[k], line);
			val[k] = eq + 1;
			vlen[k] = n - klen - 1;
			/* The launcher writes bare values; accept one pair of matching quotes. */
			if (vlen[k] >= 2 && (val[k][0] == '"' || val[k][0] == '\'') &&
			    val[k][vlen[k] - 1] == val[k][0]) {
				val[k]++;
				vlen[k] -= 2;
			}
		}
	}
	for (size_t k = 0; k < 3; k++)
		if (!val[k])
			return cn_err_set(-EBADMSG, "runtime vars: %s is missing", keys[k]);
	return model_set(val[0], vlen[0], val[1], vlen[1], val[2], vlen[2], ret);
}

static int check_mountpoint(const char *mp)
{
	if (!mp || mp[0] != '/' || strlen(mp) > 1024)
		return cn_err_set(-EINVAL, "mountpoint '%s' must be an absolute path",
				  mp ? mp : "");
	for (const char *p = mp; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '"' || *p == '\'' ||
		    *p == '\\' || *p == '$' || *p == '`')
			return cn_err_set(
			    -EINVAL,
			    "mountpoint '%s' has the character 0x%02x (not allowed in "
			    "model.env)",
			    mp, (unsigned char)*p);
	return 0;
}

int cn_guest_env_format(const struct cn_guest_model *m, const char *mountpoint, char **ret)
{
	int r = check_mountpoint(mountpoint);

	if (r < 0)
		return r;
	/* Values were validated (name, commit: A-Z a-z 0-9 - _ . /; hash: hex): no quoting. */
	if (asprintf(ret, "MODEL_NAME=%s\nMODEL_COMMIT=%s\nMODEL_VERITY_HASH=%s\nMODEL_PATH=%s\n",
		     m->name, m->commit, m->root_hash, mountpoint) < 0)
		return -ENOMEM;
	return 0;
}
