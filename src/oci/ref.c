/* SPDX-License-Identifier: Apache-2.0 */
/* OCI references (distribution/reference grammar, with an explicit registry host). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "net/http.h"
#include "oci/oci.h"

static bool is_lalnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lalnum(c) || (c >= 'A' && c <= 'Z');
}

/* host[:port]: labels of [A-Za-z0-9-] separated by '.', no empty label, port 1..65535. */
static int host_check(const char *s, size_t n)
{
	size_t i, colon = n, label = 0;

	if (n == 0 || n > CN_OCI_HOST_MAX)
		return cn_err_set(-EINVAL, "reference: registry host is empty or too long");
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == ':') {
			colon = i;
			break;
		}
		if (c == '.') {
			if (label == 0)
				return cn_err_set(-EINVAL,
						  "reference: empty label in the host at "
						  "offset %zu",
						  i);
			label = 0;
		} else if (is_alnum(c) || c == '-') {
			label++;
		} else
			return cn_err_set(-EINVAL,
					  "reference: invalid byte 0x%02x in the host at "
					  "offset %zu",
					  (unsigned char)c, i);
	}
	if (label == 0)
		return cn_err_set(-EINVAL, "reference: the host ends with an empty label");
	if (colon < n) {
		uint64_t port;

		if (n - colon - 1 == 0 || n - colon - 1 > 5 ||
		    cn_parse_u64_n(s + colon + 1, n - colon - 1, 65535, &port) < 0 || port == 0)
			return cn_err_set(-EINVAL, "reference: invalid port at offset %zu",
					  colon + 1);
	}
	return 0;
}

/* path-component ("/" path-component)*; component = [a-z0-9]+ (separator [a-z0-9]+)* with
 * separator = "." | "_" | "__" | "-"+ */
static int repo_check(const char *s, size_t n, size_t base)
{
	size_t i = 0;

	if (n == 0 || n > CN_OCI_REPO_MAX)
		return cn_err_set(-EINVAL, "reference: repository name is empty or longer than %u",
				  CN_OCI_REPO_MAX);
	while (i < n) {
		if (!is_lalnum(s[i]))
			return cn_err_set(-EINVAL,
					  "reference: repository component must start with "
					  "[a-z0-9] at offset %zu",
					  base + i);
		while (i < n && is_lalnum(s[i]))
			i++;
		while (i < n && s[i] != '/') {
			size_t sep = i;

			if (s[i] == '.')
				i++;
			else if (s[i] == '_')
				i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
			else if (s[i] == '-')
				while (i < n && s[i] == '-')
					i++;
			else
				return cn_err_set(
				    -EINVAL,
				    "reference: invalid byte 0x%02x in the repository "
				    "at offset %zu",
				    (unsigned char)s[i], base + i);
			if (i >= n || !is_lalnum(s[i]))
				return cn_err_set(-EINVAL,
						  "reference: separator at offset %zu must be "
						  "followed by [a-z0-9]",
						  base + sep);
			while (i < n && is_lalnum(s[i]))
				i++;
		}
		if (i < n) { /* '/' */
			i++;
			if (i == n)
				return cn_err_set(
				    -EINVAL, "reference: repository ends with '/' at offset %zu",
				    base + i - 1);
		}
	}
	return 0;
}

static int tag_check(const char *s, size_t n, size_t base)
{
	if (n == 0 || n > CN_OCI_TAG_MAX)
		return cn_err_set(-EINVAL,
				  "reference: tag at offset %zu is empty or longer than %u", base,
				  CN_OCI_TAG_MAX);
	for (size_t i = 0; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '_' || (i > 0 && (s[i] == '.' || s[i] == '-'))))
			return cn_err_set(-EINVAL,
					  "reference: invalid byte 0x%02x in the tag at offset %zu",
					  (unsigned char)s[i], base + i);
	return 0;
}

int cn_oci_ref_parse(const char *s, struct cn_oci_ref *ret)
{
	struct cn_oci_ref r = {0};
	const char *slash, *at, *colon, *end;
	size_t len, hlen;
	int e;

	if (!s)
		return cn_err_set(-EINVAL, "reference: missing");
	len = strnlen(s, CN_OCI_REF_MAX + 1);
	if (len == 0 || len > CN_OCI_REF_MAX)
		return cn_err_set(-EINVAL, "reference: empty or longer than %u bytes",
				  CN_OCI_REF_MAX);
	end = s + len;
	slash = memchr(s, '/', len);
	if (!slash)
		return cn_err_set(-EINVAL, "reference: no registry host (expected "
					   "HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST])");
	hlen = (size_t)(slash - s);
	if (!(memchr(s, '.', hlen) || memchr(s, ':', hlen) ||
	      (hlen == 9 && memcmp(s, "localhost", 9) == 0)))
		return cn_err_set(-EINVAL,
				  "reference: the first component '%.*s' is not a registry "
				  "host (needs '.', ':' or localhost)",
				  (int)CN_MIN(hlen, 64), s);
	e = host_check(s, hlen);
	if (e < 0)
		return e;
	memcpy(r.host, s, hlen);

	at = memchr(slash, '@', (size_t)(end - slash));
	if (at) {
		size_t dlen = (size_t)(end - at - 1);

		if (dlen != 71 || memcmp(at + 1, "sha256:", 7) != 0 || !cn_is_lower_hex(at + 8, 64))
			return cn_err_set(-EINVAL,
					  "reference: digest at offset %zu is not sha256:<64 "
					  "lower-case hex>",
					  (size_t)(at - s) + 1);
		memcpy(r.digest, at + 1, 71);
		end = at;
	}
	colon = NULL;
	for (const char *p = end; p > slash; p--)
		if (p[-1] == ':') {
			colon = p - 1;
			break;
		} else if (p[-1] == '/')
			break;
	if (colon) {
		e = tag_check(colon + 1, (size_t)(end - colon - 1), (size_t)(colon - s) + 1);
		if (e < 0)
			return e;
		memcpy(r.tag, colon + 1, (size_t)(end - colon - 1));
		end = colon;
	}
	e = repo_check(slash + 1, (size_t)(end - slash - 1), hlen + 1);
	if (e < 0)
		return e;
	memcpy(r.repo, slash + 1, (size_t)(end - slash - 1));
	if (!r.tag[0] && !r.digest[0])
		return cn_err_set(-EINVAL, "reference: a tag or a digest is required");
	*ret = r;
	return 0;
}

int cn_oci_ref_for_model(const char *prefix, const char *name, const char *commit,
			 struct cn_oci_ref *ret)
{
	char buf[CN_OCI_REF_MAX + 1];
	size_t pl, nl, i, o;
	int n;

	if (!prefix || !name || !commit)
		return cn_err_set(-EINVAL, "registry prefix, name and commit are required");
	pl = strlen(prefix);
	while (pl > 0 && prefix[pl - 1] == '/')
		pl--;
	nl = strlen(name);
	if (pl + 1 + nl + 1 + strlen(commit) > CN_OCI_REF_MAX)
		return cn_err_set(-EINVAL, "registry reference for '%s' is too long", name);
	n = snprintf(buf, sizeof(buf), "%.*s/", (int)pl, prefix);
	o = (size_t)n;
	/* Lower-case the model name; any byte outside the repository alphabet becomes '-'. */
	for (i = 0; i < nl; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!(is_lalnum(c) || c == '/' || c == '.' || c == '_' || c == '-'))
			c = '-';
		buf[o++] = c;
	}
	(void)snprintf(buf + o, sizeof(buf) - o, ":%s", commit);
	n = cn_oci_ref_parse(buf, ret);
	if (n < 0)
		return cn_net_err_wrap(n, "registry reference for '%s@%s'", name, commit);
	return 0;
}

int cn_oci_prefix_check(const char *prefix)
{
	struct cn_oci_ref r;
	int e;

	if (!prefix || !*prefix)
		return cn_err_set(-EINVAL, "registry prefix: empty");
	e = cn_oci_ref_for_model(prefix, "m", "t", &r);
	if (e < 0)
		return cn_err_set(e, "registry prefix '%.*s' is not HOST[:PORT][/PATH]: %s",
				  (int)CN_MIN(strlen(prefix), 300), prefix, cn_err_msg());
	return 0;
}

void cn_oci_ref_format(const struct cn_oci_ref *r, char *buf, size_t size)
{
	if (r->digest[0])
		(void)snprintf(buf, size, "%s/%s@%s", r->host, r->repo, r->digest);
	else
		(void)snprintf(buf, size, "%s/%s:%s", r->host, r->repo, r->tag);
}
