/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The launcher's configuration: the reference's INI ([node] section, read with inih) and the
 * same keys from the command line, then types, defaults and the instance offset (spec §1.2).
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "launch/launch.h"
#include "oci/oci.h"

static const struct {
	const char *name;
	const char *alt; /* second accepted spelling */
} keys[CN_LK__MAX] = {
    [CN_LK_TYPE] = {"type", NULL},
    [CN_LK_INSTANCE] = {"instance", NULL},
    [CN_LK_OWNER_ADDRESS] = {"owner_address", NULL},
    [CN_LK_ROOT_CONTRACT_ADDRESS] = {"root_contract_address", NULL},
    [CN_LK_MODEL] = {"model", NULL},
    [CN_LK_FAKE_TON] = {"fake_ton", NULL},
    [CN_LK_TEST] = {"test", NULL},
    [CN_LK_EXTERNAL_IP] = {"external_ip", NULL},
    [CN_LK_EXTERNAL_WORKER_PORT] = {"external_worker_port", NULL},
    [CN_LK_EXTERNAL_CLIENT_PORT] = {"external_client_port", NULL},
    [CN_LK_NODE_WALLET_KEY] = {"node_wallet_key", NULL},
    [CN_LK_WORKER_COEFFICIENT] = {"worker_coefficient", NULL},
    [CN_LK_HF_TOKEN] = {"hf_token", NULL},
    [CN_LK_TON_CONFIG_BASE] = {"ton_config_base", NULL},
    [CN_LK_TON_CONFIG] = {"ton_config", NULL},
    [CN_LK_IMAGE_DIR] = {"image-dir", "image_dir"},
    [CN_LK_BUILD_DIR] = {"build_dir", NULL},
    [CN_LK_GPU] = {"gpu", NULL},
    [CN_LK_PERSISTENT] = {"persistent", NULL},
    [CN_LK_SSH_PORT] = {"ssh_port", NULL},
    [CN_LK_VSOCK_CID] = {"vsock_cid", NULL},
    [CN_LK_HTTP_PORT] = {"http_port", NULL},
    [CN_LK_WORKER_RPC_PORT] = {"worker_rpc_port", NULL},
    [CN_LK_CLIENT_RPC_PORT] = {"client_rpc_port", NULL},
    [CN_LK_MODEL_TAR] = {"model_tar", NULL},
    [CN_LK_SPEC] = {"spec", NULL},
    [CN_LK_QEMU] = {"qemu", NULL},
    [CN_LK_RUN_DIR] = {"run_dir", NULL},
    [CN_LK_MODELS_DIR] = {"models_dir", NULL},
    [CN_LK_TAR_FORMAT] = {"tar_format", NULL},
    [CN_LK_REGISTRY] = {"registry", NULL},
    [CN_LK_PUSH] = {"push", NULL},
};

/* Reference defaults (spec §1.2). */
#define DEFAULT_MODEL "Qwen/Qwen3-0.6B"
#define DEFAULT_WORKER_COEFFICIENT "1000"
#define DEFAULT_FAKE_TON_IP "10.0.2.2"
#define DEFAULT_FAKE_TON_WORKER_PORT 11001
#define DEFAULT_FAKE_TON_CLIENT_PORT 11002
/* The reference's built-in values (scripts/cocoon-launch, load_config_from_file). */
#define DEFAULT_ROOT_CONTRACT "EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0"
#define DEFAULT_FAKE_TON_WALLET_KEY "gaEatwGNgLGOeFI/TRGfPdJG/K4G8picYHQkDHpLQ9w="
#define DEFAULT_TON_CONFIG_BASE "spec/mainnet-base-ton-config.json"
#define DEFAULT_TON_CONFIG "spec/mainnet-full-ton-config.json"

const char *cn_node_type_name(enum cn_node_type t)
{
	switch (t) {
	case CN_NODE_WORKER:
		return "worker";
	case CN_NODE_PROXY:
		return "proxy";
	case CN_NODE_CLIENT:
		return "client";
	default:
		return "unset";
	}
}

const char *cn_launch_key_name(enum cn_launch_key k)
{
	return k < CN_LK__MAX ? keys[k].name : "?";
}

int cn_launch_key_lookup(const char *name, enum cn_launch_key *ret)
{
	for (size_t i = 0; i < CN_LK__MAX; i++)
		if (strcasecmp(name, keys[i].name) == 0 ||
		    (keys[i].alt && strcasecmp(name, keys[i].alt) == 0)) {
			*ret = (enum cn_launch_key)i;
			return 0;
		}
	return -ENOENT;
}

void cn_launch_settings_done(struct cn_launch_settings *s)
{
	for (size_t i = 0; i < CN_LK__MAX; i++)
		free(s->v[i]);
	free(s->file);
	*s = (struct cn_launch_settings){0};
}

int cn_launch_settings_set(struct cn_launch_settings *s, enum cn_launch_key k, const char *value)
{
	char *c;

	if (k >= CN_LK__MAX || !value)
		return -EINVAL;
	if (strlen(value) > CN_LAUNCH_VALUE_MAX)
		return cn_err_set(-EINVAL, "value of '%s' is longer than %u bytes", keys[k].name,
				  CN_LAUNCH_VALUE_MAX);
	c = strdup(value);
	if (!c)
		return -ENOMEM;
	free(s->v[k]);
	s->v[k] = c;
	s->line[k] = 0;
	return 0;
}

struct parse_state {
	struct cn_launch_settings s;
	const char *file;
	const char *next; /* reader position */
	unsigned lineno;  /* line of the text the handler is called for */
	char err[512];	  /* first error (inih reports its line) */
	bool had_error;
	bool seen_node;
};

/* configparser's BasicInterpolation: "%%" is "%", "%(name)s" is a reference (not supported
 * here: refused by name so a value never silently changes meaning). */
static int uninterpolate(const char *v, char **ret)
{
	_cleanup_free_ char *out = malloc(strlen(v) + 1);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	for (const char *p = v; *p; p++) {
		if (*p != '%') {
			out[o++] = *p;
			continue;
		}
		if (p[1] == '%') {
			out[o++] = '%';
			p++;
			continue;
		}
		return -EINVAL;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

static int ini_line_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	enum cn_launch_key k;
	char *v = NULL;

	if (st->had_error)
		return 1; /* report the first error only; inih keeps the first failing line */
	if (strcmp(section, "node") != 0) {
		(void)snprintf(st->err, sizeof(st->err),
			       "key '%s' outside the [node] section%s%s%s", name,
			       *section ? " (in [" : "", section, *section ? "])" : "");
		goto fail;
	}
	st->seen_node = true;
	if (cn_launch_key_lookup(name, &k) < 0) {
		(void)snprintf(st->err, sizeof(st->err), "unknown key '%s' in [node]", name);
		goto fail;
	}
	if (st->s.v[k]) {
		(void)snprintf(st->err, sizeof(st->err),
			       "key '%s' given twice (or continued on an indented line)",
			       keys[k].name);
		goto fail;
	}
	if (strlen(value) > CN_LAUNCH_VALUE_MAX) {
		(void)snprintf(st->err, sizeof(st->err), "value of '%s' is longer than %u bytes",
			       keys[k].name, CN_LAUNCH_VALUE_MAX);
		goto fail;
	}
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			(void)snprintf(st->err, sizeof(st->err),
				       "value of '%s' contains a control character", keys[k].name);
			goto fail;
		}
	switch (uninterpolate(value, &v)) {
	case 0:
		break;
	case -ENOMEM:
		(void)snprintf(st->err, sizeof(st->err), "out of memory");
		goto fail;
	default:
		(void)snprintf(st->err, sizeof(st->err),
			       "value of '%s' contains '%%' (configparser interpolation is not "
			       "supported; write '%%%%' for '%%')",
			       keys[k].name);
		goto fail;
	}
	st->s.v[k] = v;
	st->s.line[k] = st->lineno;
	return 1;
fail:
	st->had_error = true;
	return 0;
}

/* Lines are checked before inih sees them: inih splits over-long lines silently. */
static int prescan(const char *text, size_t len, const char *file)
{
	size_t line = 1, col = 0;

	if (len > CN_LAUNCH_CONFIG_MAX)
		return cn_err_set(-EINVAL, "%s: larger than %u bytes", file, CN_LAUNCH_CONFIG_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\0')
			return cn_err_set(-EINVAL, "%s:%zu: NUL byte at offset %zu", file, line, i);
		if (c == '\n') {
			line++;
			col = 0;
			continue;
		}
		if (++col > CN_LAUNCH_LINE_MAX)
			return cn_err_set(-EINVAL, "%s:%zu: line longer than %u bytes", file, line,
					  CN_LAUNCH_LINE_MAX);
	}
	return 0;
}

/* fgets-style reader over the text; lines fit the buffer (prescan), so one call is one line. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	size_t n = 0;

	if (!*st->next)
		return NULL;
	while (st->next[n] && st->next[n] != '\n' && n + 2 < (size_t)num)
		n++;
	if (st->next[n] == '\n')
		n++;
	memcpy(str, st->next, n);
	str[n] = '\0';
	st->next += n;
	st->lineno++;
	return str;
}

int cn_launch_settings_parse(const char *text, size_t len, const char *file,
			     struct cn_launch_settings *ret)
{
	struct parse_state st = {.file = file};
	_cleanup_free_ char *copy = NULL;
	int r;

	r = prescan(text, len, file);
	if (r < 0)
		return r;
	copy = malloc(len + 1); /* text need not be NUL-terminated */
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';

	/* Python 3 configparser: no inline comments, ';' and '#' start a comment line, key = value
	 * or key: value, no value-less keys. Lines fit (prescan), so one heap buffer is enough. */
	ini_allow_inline_comments = false;
	ini_allow_multiline = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = CN_LAUNCH_LINE_MAX + 3;
	ini_initial_alloc = CN_LAUNCH_LINE_MAX + 3;

	st.next = copy;
	r = ini_parse_stream(ini_reader_fn, &st, ini_line_handler, &st);
	if (r != 0) {
		cn_launch_settings_done(&st.s);
		if (r == -2)
			return -ENOMEM;
		if (st.had_error)
			return cn_err_set(-EINVAL, "%s:%d: %s", file, r, st.err);
		return cn_err_set(
		    -EINVAL,
		    "%s:%d: not an INI line (expected [section], key = value or a comment)", file,
		    r);
	}
	if (!st.seen_node) {
		cn_launch_settings_done(&st.s);
		return cn_err_set(-EINVAL, "%s: no [node] section", file);
	}
	st.s.file = strdup(file);
	if (!st.s.file) {
		cn_launch_settings_done(&st.s);
		return -ENOMEM;
	}
	*ret = st.s;
	return 0;
}

int cn_launch_settings_load(const char *path, struct cn_launch_settings *ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = cn_read_file(path, CN_LAUNCH_CONFIG_MAX, &buf, &len);
	if (r == -E2BIG)
		return cn_err_set(r, "%s: larger than %u bytes", path, CN_LAUNCH_CONFIG_MAX);
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", path, cn_strerror(r));
	return cn_launch_settings_parse((const char *)buf, len, path, ret);
}

void cn_launch_config_done(struct cn_launch_config *c)
{
	char **strs[] = {&c->owner_address,
			 &c->root_contract_address,
			 &c->model,
			 &c->external_ip,
			 &c->node_wallet_key,
			 &c->worker_coefficient,
			 &c->hf_token,
			 &c->ton_config_base,
			 &c->ton_config,
			 &c->fake_ton_dir,
			 &c->local_run_dir,
			 &c->image_dir,
			 &c->build_dir,
			 &c->gpu,
			 &c->persistent,
			 &c->spec_dir,
			 &c->qemu,
			 &c->run_dir,
			 &c->models_dir,
			 &c->registry};

	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		free(*strs[i]);
	*c = (struct cn_launch_config){0};
}

CN_DEFINE_CLEANUP(struct cn_launch_config *, cn_launch_config_done)

/* "FILE" line context for messages about a value. */
static int bad_value(const struct cn_launch_settings *s, enum cn_launch_key k, const char *why)
{
	if (s->line[k])
		return cn_err_set(-EINVAL, "%s:%u: %s = '%s': %s", s->file ? s->file : "config",
				  s->line[k], keys[k].name, s->v[k], why);
	return cn_err_set(-EINVAL, "%s '%s': %s", keys[k].name, s->v[k], why);
}

static int get_bool(const struct cn_launch_settings *s, enum cn_launch_key k, bool *ret)
{
	if (!s->v[k]) {
		*ret = false;
		return 0;
	}
	if (cn_parse_bool(s->v[k], ret) < 0)
		return bad_value(s, k, "expected true/false, yes/no, on/off or 1/0");
	return 0;
}

static int get_u32(const struct cn_launch_settings *s, enum cn_launch_key k, uint32_t dflt,
		   uint32_t max, uint32_t *ret)
{
	if (!s->v[k]) {
		*ret = dflt;
		return 0;
	}
	if (cn_parse_u32(s->v[k], max, ret) < 0) {
		char why[64];

		(void)snprintf(why, sizeof(why), "expected a decimal number from 0 to %u", max);
		return bad_value(s, k, why);
	}
	return 0;
}

static int get_port(const struct cn_launch_settings *s, enum cn_launch_key k, uint32_t dflt,
		    uint32_t *ret)
{
	int r = get_u32(s, k, dflt, 65535, ret);

	if (r < 0)
		return r;
	if (*ret == 0)
		return bad_value(s, k, "port 0 is not a port");
	return 0;
}

/* An absolute path: as given when it starts with '/', else below base. */
static int abs_path(const char *base, const char *p, char **ret)
{
	char *r;

	if (!p || !*p)
		return -EINVAL;
	if (p[0] == '/')
		r = strdup(p);
	else
		r = cn_path_join(base, p);
	if (!r)
		return -ENOMEM;
	*ret = r;
	return 0;
}

static int dup_or(const char *v, const char *dflt, char **ret)
{
	const char *src = v ? v : dflt;

	*ret = NULL;
	if (!src)
		return 0;
	*ret = strdup(src);
	return *ret ? 0 : -ENOMEM;
}

static int path_setting(const struct cn_launch_settings *s, enum cn_launch_key k, const char *cwd,
			const char *dflt_abs, char **ret)
{
	if (s->v[k]) {
		if (!*s->v[k])
			return bad_value(s, k, "empty path");
		return abs_path(cwd, s->v[k], ret);
	}
	return dup_or(NULL, dflt_abs, ret);
}

/* Domain optional, then bus:slot.function in hex; the reference passes the text verbatim to
 * QEMU (which parses "00.00" too), so only the shape is checked. */
static bool bdf_ok(const char *s)
{
	size_t colons = 0, dots = 0, n = strlen(s);

	if (n < 7 || n > 16)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == ':')
			colons++;
		else if (*p == '.')
			dots++;
		else if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			   (*p >= 'A' && *p <= 'F')))
			return false;
	}
	return (colons == 1 || colons == 2) && dots == 1 && strrchr(s, '.') > strrchr(s, ':') &&
	       strrchr(s, ':')[1] != '.' && s[0] != ':' && s[n - 1] != '.';
}

static int offset_port(const char *what, uint32_t base, uint32_t off, uint32_t *ret)
{
	uint32_t v;

	if (__builtin_add_overflow(base, off, &v) || v > 65535)
		return cn_err_set(-EINVAL, "%s %u + 10 x instance = %llu is above 65535", what,
				  base, (unsigned long long)base + off);
	*ret = v;
	return 0;
}

/* Type, flags and the values that become runtime variables (reference: load_config_from_file). */
static int resolve_node(const struct cn_launch_settings *s, const struct cn_launch_env *env,
			struct cn_launch_config *c)
{
	const char *t = s->v[CN_LK_TYPE], *v;
	bool worker;
	int r;

	if (!t)
		return cn_err_set(-EINVAL, "no node type: set 'type' in [node] or give --type "
					   "(worker, proxy or client)");
	if (strcmp(t, "worker") == 0)
		c->type = CN_NODE_WORKER;
	else if (strcmp(t, "proxy") == 0)
		c->type = CN_NODE_PROXY;
	else if (strcmp(t, "client") == 0)
		c->type = CN_NODE_CLIENT;
	else
		return bad_value(s, CN_LK_TYPE, "expected worker, proxy or client");
	worker = c->type == CN_NODE_WORKER;

	r = get_u32(s, CN_LK_INSTANCE, 0, CN_LAUNCH_INSTANCE_MAX - 1, &c->instance);
	if (r < 0)
		return r;
	r = get_bool(s, CN_LK_TEST, &c->test);
	if (r < 0)
		return r;
	r = get_bool(s, CN_LK_FAKE_TON, &c->fake_ton);
	if (r < 0)
		return r;

	if (!s->v[CN_LK_OWNER_ADDRESS] || !*s->v[CN_LK_OWNER_ADDRESS])
		return cn_err_set(
		    -EINVAL,
		    "no owner address: set 'owner_address' in [node] or give --owner-address");
	r = dup_or(s->v[CN_LK_OWNER_ADDRESS], NULL, &c->owner_address);
	if (r < 0)
		return r;
	r = dup_or(s->v[CN_LK_ROOT_CONTRACT_ADDRESS], DEFAULT_ROOT_CONTRACT,
		   &c->root_contract_address);
	if (r < 0)
		return r;
	/* model: given for any type; by default for a worker or with fake TON. Empty: none (a
	 * worker needs one). */
	v = s->v[CN_LK_MODEL] ? s->v[CN_LK_MODEL] : worker || c->fake_ton ? DEFAULT_MODEL : NULL;
	if (worker && (!v || !*v))
		return cn_err_set(-EINVAL, "model required for a worker: set 'model' or --model");
	r = dup_or(v && *v ? v : NULL, NULL, &c->model);
	if (r < 0)
		return r;
	/* The external address and ports exist in fake-TON mode only (reference). */
	if (c->fake_ton) {
		r = dup_or(s->v[CN_LK_EXTERNAL_IP], DEFAULT_FAKE_TON_IP, &c->external_ip);
		if (r < 0)
			return r;
		r = get_u32(s, CN_LK_EXTERNAL_WORKER_PORT, DEFAULT_FAKE_TON_WORKER_PORT, 65535,
			    &c->external_worker_port);
		if (r < 0)
			return r;
		r = get_u32(s, CN_LK_EXTERNAL_CLIENT_PORT, DEFAULT_FAKE_TON_CLIENT_PORT, 65535,
			    &c->external_client_port);
		if (r < 0)
			return r;
	}
	r = dup_or(s->v[CN_LK_NODE_WALLET_KEY], c->fake_ton ? DEFAULT_FAKE_TON_WALLET_KEY : NULL,
		   &c->node_wallet_key);
	if (r < 0)
		return r;
	r = dup_or(s->v[CN_LK_WORKER_COEFFICIENT], DEFAULT_WORKER_COEFFICIENT,
		   &c->worker_coefficient);
	if (r < 0)
		return r;
	/* "get('hf_token') or $HF_TOKEN": an empty value falls back to the environment. */
	v = s->v[CN_LK_HF_TOKEN] && *s->v[CN_LK_HF_TOKEN] ? s->v[CN_LK_HF_TOKEN] : env->hf_token;
	r = dup_or(v, NULL, &c->hf_token);
	if (r < 0)
		return r;
	c->tar_format = CN_TAR_GNU_1_35;
	if (s->v[CN_LK_TAR_FORMAT]) {
		if (strcmp(s->v[CN_LK_TAR_FORMAT], "gnu-1.35") == 0)
			c->tar_format = CN_TAR_GNU_1_35;
		else if (strcmp(s->v[CN_LK_TAR_FORMAT], "gnu-1.34") == 0)
			c->tar_format = CN_TAR_GNU_1_34;
		else
			return bad_value(s, CN_LK_TAR_FORMAT, "expected gnu-1.35 or gnu-1.34");
	}
	/* The registry prefix: the setting (option over INI), else $COCOON_REGISTRY; an empty
	 * setting means none (the environment is not consulted). */
	v = s->v[CN_LK_REGISTRY] ? s->v[CN_LK_REGISTRY] : env->registry;
	if (v && *v) {
		if (cn_oci_prefix_check(v) < 0) {
			char why[700];

			(void)snprintf(why, sizeof(why), "%s", cn_err_msg());
			if (s->v[CN_LK_REGISTRY])
				return bad_value(s, CN_LK_REGISTRY, why);
			return cn_err_set(-EINVAL, "COCOON_REGISTRY: %s", why);
		}
		r = dup_or(v, NULL, &c->registry);
		if (r < 0)
			return r;
	}
	/* push (option over INI; no environment variable): the registry is where it goes. */
	r = get_bool(s, CN_LK_PUSH, &c->push);
	if (r < 0)
		return r;
	if (c->push && !c->registry) {
		const char *why = s->v[CN_LK_REGISTRY] ? " (the registry setting is empty)" : "";

		if (s->line[CN_LK_PUSH])
			return cn_err_set(-EINVAL,
					  "%s:%u: push = '%s' needs a registry prefix: set "
					  "'registry', give --registry PREFIX or set "
					  "$COCOON_REGISTRY%s",
					  s->file ? s->file : "config", s->line[CN_LK_PUSH],
					  s->v[CN_LK_PUSH], why);
		return cn_err_set(-EINVAL,
				  "--push needs a registry prefix: give --registry PREFIX, set "
				  "'registry' in [node] or set $COCOON_REGISTRY%s",
				  why);
	}
	return 0;
}

/* Ports, CID and the instance offset; one host port used twice is a configuration error. */
static int resolve_ports(const struct cn_launch_settings *s, struct cn_launch_config *c)
{
	bool worker = c->type == CN_NODE_WORKER, proxy = c->type == CN_NODE_PROXY;
	uint32_t off = 10 * c->instance;
	int r;

	if (c->type == CN_NODE_CLIENT)
		return 0; /* runs locally: no VM, no forwards */
	r = get_port(s, CN_LK_SSH_PORT, worker ? 12005 : 11005, &c->ssh_port);
	if (r < 0)
		return r;
	r = get_u32(s, CN_LK_VSOCK_CID, worker ? 6 : 7, UINT32_MAX, &c->vsock_cid);
	if (r < 0)
		return r;
	r = get_port(s, CN_LK_HTTP_PORT, worker ? 12000 : 11000, &c->http_port);
	if (r < 0)
		return r;
	if (proxy) {
		r = get_port(s, CN_LK_WORKER_RPC_PORT, 11001, &c->worker_rpc_port);
		if (r < 0)
			return r;
		r = get_port(s, CN_LK_CLIENT_RPC_PORT, 11002, &c->client_rpc_port);
		if (r < 0)
			return r;
	}
	if (__builtin_add_overflow(c->vsock_cid, off, &c->cid) || c->cid < 3 ||
	    c->cid == UINT32_MAX)
		return cn_err_set(
		    -EINVAL, "vsock CID %u + 10 x instance is not a guest CID (3 to 4294967294)",
		    c->vsock_cid);
	r = offset_port("ssh_port", c->ssh_port, off, &c->host_ssh_port);
	if (r < 0)
		return r;
	r = offset_port("http_port", c->http_port, off, &c->host_http_port);
	if (r < 0)
		return r;
	if (proxy) {
		r = offset_port("worker_rpc_port", c->worker_rpc_port, off,
				&c->host_worker_rpc_port);
		if (r < 0)
			return r;
		r = offset_port("client_rpc_port", c->client_rpc_port, off,
				&c->host_client_rpc_port);
		if (r < 0)
			return r;
	}
	{
		const struct {
			const char *key;
			uint32_t port;
		} hp[] = {
		    {"ssh_port", c->host_ssh_port},
		    {"http_port", c->host_http_port},
		    {"worker_rpc_port", proxy ? c->host_worker_rpc_port : 0},
		    {"client_rpc_port", proxy ? c->host_client_rpc_port : 0},
		};

		/* QEMU would get two hostfwd rules on one port (issue 10 item 7). */
		for (size_t i = 0; i < ELEMENTSOF(hp); i++)
			for (size_t j = i + 1; j < ELEMENTSOF(hp); j++)
				if (hp[i].port && hp[i].port == hp[j].port)
					return cn_err_set(-EINVAL,
							  "host port %u is used twice: %s and %s "
							  "forward the same port",
							  hp[i].port, hp[i].key, hp[j].key);
	}
	return 0;
}

static int join_or(const char *root, const char *rel, char **ret)
{
	*ret = cn_path_join(root, rel);
	return *ret ? 0 : -ENOMEM;
}

static int resolve_paths(const struct cn_launch_settings *s, const struct cn_launch_env *env,
			 struct cn_launch_config *c)
{
	_cleanup_free_ char *dflt = NULL, *base = NULL, *full = NULL, *spec = NULL;
	int r;

	/* The TON configs: the reference's defaults under ROOT/spec; ignored with fake TON. */
	if (!c->fake_ton) {
		if (join_or(env->root, DEFAULT_TON_CONFIG_BASE, &base) < 0 ||
		    join_or(env->root, DEFAULT_TON_CONFIG, &full) < 0)
			return -ENOMEM;
		r = path_setting(s, CN_LK_TON_CONFIG_BASE, env->cwd, base, &c->ton_config_base);
		if (r < 0)
			return r;
		r = path_setting(s, CN_LK_TON_CONFIG, env->cwd, full, &c->ton_config);
		if (r < 0)
			return r;
	}
	if (join_or(env->root, "spec/fake-ton", &c->fake_ton_dir) < 0)
		return -ENOMEM;
	if (join_or(env->root, c->test ? "images/test" : "images/prod", &dflt) < 0)
		return -ENOMEM;
	r = path_setting(s, CN_LK_IMAGE_DIR, env->cwd, dflt, &c->image_dir);
	if (r < 0)
		return r;
	free(dflt);
	dflt = env->build_dir ? strdup(env->build_dir)
			      : cn_path_join(env->root, "cmake-build-default-tdx");
	if (!dflt)
		return -ENOMEM;
	r = path_setting(s, CN_LK_BUILD_DIR, env->cwd, dflt, &c->build_dir);
	if (r < 0)
		return r;
	if (s->v[CN_LK_GPU]) {
		if (!bdf_ok(s->v[CN_LK_GPU]))
			return bad_value(s, CN_LK_GPU, "expected a PCI address like 0000:41:00.0");
		c->gpu = strdup(s->v[CN_LK_GPU]);
		if (!c->gpu)
			return -ENOMEM;
	}
	free(dflt);
	if (asprintf(&dflt, "%s/persistent-%s-%u.img", env->root, cn_node_type_name(c->type),
		     c->instance) < 0) {
		dflt = NULL;
		return -ENOMEM;
	}
	r = path_setting(s, CN_LK_PERSISTENT, env->cwd, dflt, &c->persistent);
	if (r < 0)
		return r;
	if (asprintf(&spec, "%s/spec/spec-%s", env->root, cn_node_type_name(c->type)) < 0) {
		spec = NULL;
		return -ENOMEM;
	}
	r = path_setting(s, CN_LK_SPEC, env->cwd, spec, &c->spec_dir);
	if (r < 0)
		return r;
	if (s->v[CN_LK_QEMU] && !*s->v[CN_LK_QEMU])
		return bad_value(s, CN_LK_QEMU, "empty");
	r = dup_or(s->v[CN_LK_QEMU], "qemu-system-x86_64", &c->qemu);
	if (r < 0)
		return r;
	r = path_setting(s, CN_LK_RUN_DIR, env->cwd, env->run_dir, &c->run_dir);
	if (r < 0)
		return r;
	if (!c->run_dir)
		return cn_err_set(-EINVAL,
				  "no run folder: give --run-dir (default /run/cocoon as root, "
				  "else $XDG_RUNTIME_DIR/cocoon)");
	if (c->type == CN_NODE_CLIENT &&
	    asprintf(&c->local_run_dir, "%s/cocoon-client-%u/run", c->run_dir, c->instance) < 0) {
		c->local_run_dir = NULL;
		return -ENOMEM;
	}
	free(dflt);
	dflt = env->images_dir ? strdup(env->images_dir) : cn_path_join(env->root, "images");
	if (!dflt)
		return -ENOMEM;
	return path_setting(s, CN_LK_MODELS_DIR, env->cwd, dflt, &c->models_dir);
}

int cn_launch_config_resolve(const struct cn_launch_settings *s, const struct cn_launch_env *env,
			     bool no_tdx, struct cn_launch_config *ret)
{
	struct cn_launch_config c = {0};
	_cleanup_(cn_launch_config_donep) struct cn_launch_config *cp = &c;
	int r;

	if (!env || !env->cwd || env->cwd[0] != '/' || !env->root || env->root[0] != '/')
		return cn_err_set(
		    -EINVAL, "launcher environment: working directory and root must be absolute");
	c.tdx = !no_tdx;
	r = resolve_node(s, env, &c);
	if (r < 0)
		return r;
	r = resolve_ports(s, &c);
	if (r < 0)
		return r;
	r = resolve_paths(s, env, &c);
	if (r < 0)
		return r;
	*ret = c;
	cp = NULL;
	return 0;
}

char *cn_launch_instance_name(const struct cn_launch_config *c)
{
	char *s;

	if (asprintf(&s, "cocoon-%s-%u", cn_node_type_name(c->type), c->instance) < 0)
		return NULL;
	return s;
}

void cn_launch_cmdline_strip(char *s)
{
	size_t n = strlen(s), b = 0;

#define PYSPACE(ch)                                                                                \
	((ch) == ' ' || ((ch) >= '\t' && (ch) <= '\r') || ((ch) >= 0x1c && (ch) <= 0x1f))
	while (n > 0 && PYSPACE((unsigned char)s[n - 1]))
		n--;
	while (b < n && PYSPACE((unsigned char)s[b]))
		b++;
#undef PYSPACE
	memmove(s, s + b, n - b);
	s[n - b] = '\0';
}

int cn_launch_kernel_cmdline(const char *image_cmdline, const struct cn_launch_config *c,
			     char **ret)
{
	char *s;

	if (asprintf(&s, "%s%s%s%s", image_cmdline, c->test ? " cocoon_debug" : "",
		     c->fake_ton ? " cocoon_fake_ton" : "",
		     c->gpu ? " cocoon_gpu" : " modprobe.blacklist=nvidia") < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}
