/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Docker credential helpers: which one config.json names for a registry (credHelpers.<host>,
 * else credsStore), running `docker-credential-NAME get` with the host on stdin (base/proc:
 * argv only, a deadline, capped output), and its answer {"Username": ..., "Secret": ...} parsed
 * strictly (untrusted: caps, no control bytes, one ':'-free user name for Basic).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "oci/oci.h"

#define USER_MAX 1024u
#define SECRET_MAX 16384u
#define HELPER_TIMEOUT_MS 30000

static bool helper_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CN_OCI_HELPER_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* "https://host:port/v1/" -> "host:port" (as auths keys); false when it does not fit. */
static bool key_host(const char *k, char *out, size_t size)
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
		return false;
	memcpy(out, k, n);
	out[n] = 0;
	return true;
}

static int helper_value(json_t *v, const char *field, char ret[CN_OCI_HELPER_NAME_MAX + 1])
{
	const char *s = json_string_value(v);

	if (!s)
		return cn_err_set(-EBADMSG, "docker config: '%s' is not a string", field);
	if (!helper_name_ok(s))
		return cn_err_set(-EBADMSG,
				  "docker config: '%s' is not a credential helper name "
				  "([A-Za-z0-9._-], at most %u bytes)",
				  field, CN_OCI_HELPER_NAME_MAX);
	memcpy(ret, s, strlen(s) + 1);
	return 0;
}

int cn_oci_docker_config_helper(const uint8_t *buf, size_t len, const char *host,
				char ret[CN_OCI_HELPER_NAME_MAX + 1])
{
	char norm[CN_OCI_HOST_MAX + 1];
	json_error_t jerr;
	json_t *j, *helpers, *store, *v;
	const char *k;
	int r = -ENOENT;

	if (len > CN_OCI_DOCKER_CONFIG_MAX)
		return cn_err_set(-E2BIG, "docker config: above %u bytes",
				  CN_OCI_DOCKER_CONFIG_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return cn_err_set(-EBADMSG, "docker config: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	if (!json_is_object(j)) {
		r = cn_err_set(-EBADMSG, "docker config: not a JSON object");
		goto out;
	}
	helpers = json_object_get(j, "credHelpers");
	store = json_object_get(j, "credsStore");
	if (helpers && !json_is_object(helpers)) {
		r = cn_err_set(-EBADMSG, "docker config: 'credHelpers' is not an object");
		goto out;
	}
	/* credHelpers.<host> first (as docker), keys normalized as auths keys. */
	json_object_foreach(helpers, k, v)
	{
		if (!key_host(k, norm, sizeof(norm)) || strcasecmp(norm, host) != 0)
			continue;
		r = helper_value(v, "credHelpers", ret);
		goto out;
	}
	if (store && !(json_is_string(store) && !json_string_value(store)[0]))
		r = helper_value(store, "credsStore", ret);
out:
	json_decref(j);
	return r;
}

/* A string field of the helper's answer: present, capped, no control bytes. */
static int answer_field(json_t *j, const char *field, size_t max, const char **ret)
{
	json_t *v = json_object_get(j, field);
	const char *s = json_string_value(v);
	size_t n;

	if (!s)
		return cn_err_set(-EBADMSG, "credential helper answer: '%s' %s", field,
				  v ? "is not a string" : "is missing");
	n = json_string_length(v);
	if (n == 0 || n > max)
		return cn_err_set(-EBADMSG,
				  "credential helper answer: '%s' is empty or above %zu bytes",
				  field, max);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return cn_err_set(-EBADMSG,
					  "credential helper answer: '%s' holds a control byte at "
					  "offset %zu",
					  field, i);
	*ret = s;
	return 0;
}

int cn_oci_cred_helper_parse(const uint8_t *buf, size_t len, char **ret_user, char **ret_pass)
{
	json_error_t jerr;
	const char *u, *s;
	json_t *j;
	int r;

	if (len > CN_OCI_CRED_HELPER_MAX)
		return cn_err_set(-E2BIG, "credential helper answer: above %u bytes",
				  CN_OCI_CRED_HELPER_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return cn_err_set(-EBADMSG,
				  "credential helper answer: invalid JSON at offset %d: %s",
				  jerr.position, jerr.text);
	if (!json_is_object(j)) {
		r = cn_err_set(-EBADMSG, "credential helper answer: not a JSON object");
		goto out;
	}
	r = answer_field(j, "Username", USER_MAX, &u);
	if (r >= 0)
		r = answer_field(j, "Secret", SECRET_MAX, &s);
	if (r < 0)
		goto out;
	if (strcmp(u, "<token>") == 0) {
		r = cn_err_set(-EOPNOTSUPP, "credential helper answer: an identity token (Username "
					    "'<token>') is not supported; store a user name and "
					    "password or registry token");
		goto out;
	}
	if (strchr(u, ':')) {
		r = cn_err_set(-EBADMSG, "credential helper answer: 'Username' holds ':'");
		goto out;
	}
	*ret_user = strdup(u);
	*ret_pass = strdup(s);
	if (!*ret_user || !*ret_pass) {
		free(*ret_user);
		free(*ret_pass);
		*ret_user = *ret_pass = NULL;
		r = -ENOMEM;
	}
out:
	json_decref(j);
	return r;
}

/* The first line of a helper's message, control bytes escaped, for an error. */
static void first_line(const char *s, char *out, size_t size)
{
	char line[256];
	size_t n = strcspn(s, "\n");

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = 0;
	cn_escape_ctl(line, out, size);
}

int cn_oci_cred_helper_get(const char *name, const char *host, const char *path_list,
			   char **ret_user, char **ret_pass)
{
	_cleanup_free_ char *prog = NULL, *exe = NULL;
	struct cn_proc_opts po = {.timeout_ms = HELPER_TIMEOUT_MS,
				  .out_max = CN_OCI_CRED_HELPER_MAX + 1,
				  .err_max = 4096,
				  .in = host,
				  .in_len = strlen(host)};
	struct cn_proc_result res = {0};
	const char *argv[3];
	char msg[600];
	int r;

	if (!helper_name_ok(name))
		return cn_err_set(-EINVAL, "'%s' is not a credential helper name", name);
	if (asprintf(&prog, "docker-credential-%s", name) < 0) {
		prog = NULL;
		return -ENOMEM;
	}
	r = cn_proc_find_executable(prog, path_list, &exe);
	if (r < 0) /* not -ENOENT: that means "no credentials" */
		return cn_err_set(r == -ENOENT ? -EACCES : r,
				  "credential helper %s (named in the Docker config) not found: %s",
				  prog, cn_err_msg());
	argv[0] = exe;
	argv[1] = "get";
	argv[2] = NULL;
	r = cn_proc_run(argv, &po, &res);
	if (r < 0)
		return cn_err_set(r, "credential helper %s: %s", prog, cn_err_msg());
	if (res.timed_out)
		r = cn_err_set(-ETIMEDOUT, "credential helper %s: no answer within %d s", prog,
			       HELPER_TIMEOUT_MS / 1000);
	else if (res.status != 0) {
		/* docker-credential-helpers: "credentials not found in native keychain". */
		if (strstr(res.out, "credentials not found") ||
		    strstr(res.err, "credentials not found"))
			r = -ENOENT;
		else {
			first_line(res.err[0] ? res.err : res.out, msg, sizeof(msg));
			r = cn_err_set(-EACCES, "credential helper %s failed for %s (exit %d): %s",
				       prog, host, res.status, msg);
		}
	} else if (res.out_len > CN_OCI_CRED_HELPER_MAX)
		r = cn_err_set(-E2BIG, "credential helper %s: answer above %u bytes", prog,
			       CN_OCI_CRED_HELPER_MAX);
	else {
		r = cn_oci_cred_helper_parse((const uint8_t *)res.out, res.out_len, ret_user,
					     ret_pass);
		if (r < 0)
			r = cn_err_set(r, "credential helper %s: %s", prog, cn_err_msg());
	}
	if (res.out)
		explicit_bzero(res.out, res.out_len);
	cn_proc_result_done(&res);
	return r;
}
