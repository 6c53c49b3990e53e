/* SPDX-License-Identifier: Apache-2.0 */
/* Untrusted auth inputs: WWW-Authenticate challenges, Docker config.json, token responses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "oci/oci.h"

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Copies a token or a quoted-string (with \-escapes) at *p into out; advances *p. */
static int param_value(const char **p, char *out, size_t size, size_t off)
{
	const char *s = *p;
	size_t n = 0;

	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				return cn_err_set(-EBADMSG,
						  "WWW-Authenticate: control byte at offset %zu",
						  off + (size_t)(s - *p));
			if (n + 1 >= size)
				return cn_err_set(-E2BIG,
						  "WWW-Authenticate: value at offset %zu is "
						  "too long",
						  off);
			out[n++] = *s++;
		}
		if (*s != '"')
			return cn_err_set(-EBADMSG,
					  "WWW-Authenticate: unterminated quoted string "
					  "at offset %zu",
					  off);
		s++;
	} else {
		while (*s && is_tchar(*s)) {
			if (n + 1 >= size)
				return cn_err_set(-E2BIG,
						  "WWW-Authenticate: value at offset %zu is "
						  "too long",
						  off);
			out[n++] = *s++;
		}
	}
	out[n] = 0;
	*p = s;
	return 0;
}

int cn_oci_challenge_parse(const char *v, struct cn_oci_challenge *ret)
{
	struct cn_oci_challenge c = {0};
	const char *p = v, *key;
	size_t klen;
	int r;

	if (!v || strlen(v) > 4096)
		return cn_err_set(-EBADMSG, "WWW-Authenticate: missing or too long");
	if (strncasecmp(p, "Bearer", 6) == 0 && (p[6] == ' ' || p[6] == 0)) {
		c.bearer = true;
		p += 6;
	} else if (strncasecmp(p, "Basic", 5) == 0 && (p[5] == ' ' || p[5] == 0)) {
		p += 5;
	} else
		return cn_err_set(-EPROTONOSUPPORT,
				  "WWW-Authenticate: scheme is neither Bearer nor Basic");
	for (;;) {
		char dummy[1024], *out;
		size_t size;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		key = p;
		while (*p && is_tchar(*p))
			p++;
		klen = (size_t)(p - key);
		while (*p == ' ')
			p++;
		if (klen == 0 || *p != '=')
			return cn_err_set(-EBADMSG,
					  "WWW-Authenticate: expected name=value at offset "
					  "%zu",
					  (size_t)(key - v));
		p++;
		while (*p == ' ')
			p++;
		if (klen == 5 && strncasecmp(key, "realm", 5) == 0) {
			out = c.realm;
			size = sizeof(c.realm);
		} else if (klen == 7 && strncasecmp(key, "service", 7) == 0) {
			out = c.service;
			size = sizeof(c.service);
		} else if (klen == 5 && strncasecmp(key, "scope", 5) == 0) {
			out = c.scope;
			size = sizeof(c.scope);
		} else {
			out = dummy;
			size = sizeof(dummy);
		}
		r = param_value(&p, out, size, (size_t)(p - v));
		if (r < 0)
			return r;
		while (*p == ' ')
			p++;
		if (*p && *p != ',')
			return cn_err_set(-EBADMSG,
					  "WWW-Authenticate: unexpected byte at offset %zu",
					  (size_t)(p - v));
	}
	if (c.bearer && !c.realm[0])
		return cn_err_set(-EBADMSG, "WWW-Authenticate: Bearer challenge without a realm");
	*ret = c;
	return 0;
}

/* "https://host:port/v1/" -> "host:port" (case kept), into out. */
static void normalize_key(const char *k, char *out, size_t size)
{
	const char *e;
	size_t n;

	if (strncasecmp(k, "https://", 8) == 0)
		k += 8;
	else if (strncasecmp(k, "http://", 7) == 0)
		k += 7;
	e = strchr(k, '/');
	n = e ? (size_t)(e - k) : strlen(k);
	if (n >= size)
		n = size - 1;
	memcpy(out, k, n);
	out[n] = 0;
}

static int decode_auth(const char *b64, char **ret_user, char **ret_pass)
{
	size_t len = strlen(b64), n;
	_cleanup_free_ unsigned char *buf = NULL;
	char *colon;
	int dl;

	if (len == 0 || len % 4 || len > 8192)
		return cn_err_set(-EBADMSG, "docker config: 'auth' is not base64");
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	dl = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
	if (dl < 0)
		return cn_err_set(-EBADMSG, "docker config: 'auth' is not base64");
	n = (size_t)dl;
	if (b64[len - 1] == '=') /* EVP_DecodeBlock() counts the padding as output bytes */
		n -= b64[len - 2] == '=' ? 2 : 1;
	buf[n] = 0;
	if (memchr(buf, 0, n))
		return cn_err_set(-EBADMSG, "docker config: 'auth' holds a NUL byte");
	colon = strchr((char *)buf, ':');
	if (!colon)
		return cn_err_set(-EBADMSG, "docker config: 'auth' is not user:password");
	*colon = 0;
	*ret_user = strdup((char *)buf);
	*ret_pass = strdup(colon + 1);
	if (!*ret_user || !*ret_pass) {
		free(*ret_user);
		free(*ret_pass);
		return -ENOMEM;
	}
	return 0;
}

int cn_oci_docker_config_parse(const uint8_t *buf, size_t len, const char *host, char **ret_user,
			       char **ret_pass)
{
	json_error_t jerr;
	json_t *j, *auths, *v;
	const char *k, *a, *u, *pw;
	char norm[CN_OCI_HOST_MAX + 1];
	int r = -ENOENT;

	if (len > CN_OCI_DOCKER_CONFIG_MAX)
		return cn_err_set(-E2BIG, "docker config: above %u bytes",
				  CN_OCI_DOCKER_CONFIG_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return cn_err_set(-EBADMSG, "docker config: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	auths = json_object_get(j, "auths");
	if (!json_is_object(j) || (auths && !json_is_object(auths))) {
		r = cn_err_set(-EBADMSG, "docker config: 'auths' is not an object");
		goto out;
	}
	json_object_foreach(auths, k, v)
	{
		normalize_key(k, norm, sizeof(norm));
		if (strcasecmp(norm, host) != 0)
			continue;
		if (!json_is_object(v)) {
			r = cn_err_set(-EBADMSG, "docker config: auths.'%s' is not an object",
				       norm);
			goto out;
		}
		a = json_string_value(json_object_get(v, "auth"));
		u = json_string_value(json_object_get(v, "username"));
		pw = json_string_value(json_object_get(v, "password"));
		if (a && a[0])
			r = decode_auth(a, ret_user, ret_pass);
		else if (u && pw) {
			*ret_user = strdup(u);
			*ret_pass = strdup(pw);
			r = *ret_user && *ret_pass ? 0 : -ENOMEM;
			if (r < 0) {
				free(*ret_user);
				free(*ret_pass);
			}
		} else
			continue;
		goto out;
	}
	r = -ENOENT;
out:
	json_decref(j);
	return r;
}

int cn_oci_token_parse(const uint8_t *buf, size_t len, char **ret_token)
{
	json_error_t jerr;
	const char *t;
	json_t *j;
	int r = 0;

	if (len > CN_OCI_TOKEN_RESPONSE_MAX)
		return cn_err_set(-E2BIG, "token response: above %u bytes",
				  CN_OCI_TOKEN_RESPONSE_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return cn_err_set(-EBADMSG, "token response: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	t = json_string_value(json_object_get(j, "token"));
	if (!t || !t[0])
		t = json_string_value(json_object_get(j, "access_token"));
	if (!t || !t[0] || strlen(t) > 16384)
		r = cn_err_set(-EBADMSG, "token response: no 'token' or 'access_token' string");
	else {
		for (const char *p = t; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
				r = cn_err_set(-EBADMSG, "token response: token holds a control or "
							 "space byte");
				break;
			}
		if (r == 0) {
			*ret_token = strdup(t);
			if (!*ret_token)
				r = -ENOMEM;
		}
	}
	json_decref(j);
	return r;
}
