/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spec share, prepared as the reference's prepare_spec (scripts/cocoon-launch) prepares it,
 * step for step, because the guest measures it (cocoon:spec.tree, see spectree.c):
 *   1. a copy of the spec folder (symlinks followed, modes of files and folders kept:
 *      shutil.copytree with copy2);
 *   2. outside fake-TON mode, ton_config_base → global.config.json and ton_config →
 *      runtime/global.config.json (content and mode: shutil.copy); either missing stops;
 *   3. fake-TON mode: fake-ton-config.json copied in, spec/fake-ton/runtime.vars appended to
 *      runtime/runtime.vars, and init rewritten: lines naming cocoon-render-ton-config dropped,
 *      "cocoon-render-config fake-ton-config.json" put before the first line naming systemctl;
 *   4. runtime/runtime.vars upserted: lines with '=' whose key is not set again are kept in
 *      their order, then every variable in the reference's order (cn_launch_runtime_vars);
 *   5. fake-TON mode: " --disable-ton /run/spec/fake-ton-config.json" appended to every
 *      ExecStart= line naming -runner in the top-level *.service files.
 * Text is handled as Python's text mode does: strict UTF-8, universal newlines on read, and
 * str.splitlines() where the reference splits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "launch/launch.h"

#define TEXT_MAX (4u * 1024 * 1024)
#define FAKE_TON_OPT " --disable-ton /run/spec/fake-ton-config.json"
#define FAKE_TON_PATH "/run/spec/fake-ton-config.json"

/* Python's strict UTF-8 decoder: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Reads a text file as Python's read_text(): strict UTF-8, "\r\n" and "\r" become "\n". */
static int read_text_at(int dfd, const char *name, const char *what, char **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, o = 0;
	int r = cn_read_file_at(dfd, name, TEXT_MAX, &buf, &len);

	if (r < 0)
		return cn_err_set(r, "cannot read %s: %s", what, cn_strerror(r));
	if (!utf8_ok(buf, len))
		return cn_err_set(-EILSEQ, "%s is not UTF-8 text", what);
	if (memchr(buf, '\0', len))
		return cn_err_set(-EILSEQ, "%s contains a NUL byte", what);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			buf[o++] = '\n';
			if (i + 1 < len && buf[i + 1] == '\n')
				i++;
		} else
			buf[o++] = buf[i];
	}
	buf[o] = '\0'; /* cn_read_file_at leaves room for a NUL */
	*ret = (char *)TAKE_PTR(buf);
	*ret_len = o;
	return 0;
}

/* Length of the line break at s (str.splitlines() after universal newlines), 0 if none. */
static size_t line_break(const char *s, size_t left)
{
	const unsigned char *u = (const unsigned char *)s;

	if (*u == '\n' || *u == '\v' || *u == '\f' || (*u >= 0x1c && *u <= 0x1e))
		return 1;
	if (left >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return 2;
	if (left >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* str.splitlines(): each line (without its break) to fn; stops on fn's error. */
static int split_lines(const char *s, size_t len, int (*fn)(void *, const char *, size_t),
		       void *userdata)
{
	size_t start = 0, i = 0;
	int r;

	while (i < len) {
		size_t b = line_break(s + i, len - i);

		if (!b) {
			i++;
			continue;
		}
		r = fn(userdata, s + start, i - start);
		if (r < 0)
			return r;
		i += b;
		start = i;
	}
	if (start < len)
		return fn(userdata, s + start, len - start);
	return 0;
}

/* shutil.copy(src, dir/name): the content and the permission bits of src. */
static int copy_in(const char *src, int dfd, const char *name, const char *what)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -EBADF;
	struct stat st;
	char buf[65536];

	if (in < 0 || fstat(in, &st) < 0)
		return cn_err_set(-errno, "%s '%s': %s", what, src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cn_err_set(-EINVAL, "%s '%s' is not a regular file", what, src);
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (out < 0)
		return cn_err_set(-errno, "cannot write %s into the share: %s", name,
				  strerror(errno));
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cn_err_set(-errno, "cannot read '%s': %s", src, strerror(errno));
		if (n == 0)
			break;
		r = cn_write_all(out, buf, (size_t)n);
		if (r < 0)
			return cn_err_set(r, "cannot write %s into the share: %s", name,
					  cn_strerror(r));
	}
	if (fchmod(out, st.st_mode & 07777) < 0)
		return -errno;
	return 0;
}

/* os.makedirs(dest/runtime, exist_ok=True): 0777 less the umask. */
static int runtime_dir(int share_fd, int *ret_fd)
{
	if (mkdirat(share_fd, "runtime", 0777) < 0 && errno != EEXIST)
		return cn_err_set(-errno, "cannot create runtime/ in the share: %s",
				  strerror(errno));
	*ret_fd = openat(share_fd, "runtime", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*ret_fd < 0)
		return cn_err_set(-errno, "share runtime/: %s", strerror(errno));
	return 0;
}

static bool exists(const char *p)
{
	struct stat st;

	return p && stat(p, &st) == 0;
}

/* Writes text to dir/name, replacing the content and keeping the mode (Python's write_text). */
static int write_text_at(int dfd, const char *name, const char *text, size_t len)
{
	_cleanup_close_ int fd =
	    openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	int r;

	if (fd < 0)
		return cn_err_set(-errno, "cannot write '%s' in the share: %s", name,
				  strerror(errno));
	r = cn_write_all(fd, text, len);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s' in the share: %s", name, cn_strerror(r));
	return 0;
}

struct init_state {
	FILE *out;
	bool injected;
};

static int init_line(void *userdata, const char *line, size_t len)
{
	struct init_state *st = userdata;

	if (memmem(line, len, "cocoon-render-ton-config", 24))
		return 0;
	if (!st->injected && memmem(line, len, "systemctl", 9)) {
		(void)fputs("cocoon-render-config fake-ton-config.json\n", st->out);
		st->injected = true;
	}
	(void)fwrite(line, 1, len, st->out);
	(void)fputc('\n', st->out);
	return 0;
}

static int rewrite_init(int share_fd)
{
	_cleanup_free_ char *text = NULL, *out = NULL;
	struct init_state st = {0};
	size_t len, out_len = 0;
	int r;

	if (faccessat(share_fd, "init", F_OK, 0) < 0)
		return 0;
	r = read_text_at(share_fd, "init", "the share's init", &text, &len);
	if (r < 0)
		return r;
	st.out = open_memstream(&out, &out_len);
	if (!st.out)
		return -ENOMEM;
	(void)split_lines(text, len, init_line, &st);
	if (fclose(st.out) != 0)
		return -ENOMEM;
	if (out_len == 0) /* "\n".join([]) + "\n" */
		return write_text_at(share_fd, "init", "\n", 1);
	return write_text_at(share_fd, "init", out, out_len);
}

static int fake_ton(const struct cn_launch_config *c, int share_fd, char **vars, size_t *vars_len)
{
	_cleanup_free_ char *cfg_src = cn_path_join(c->fake_ton_dir, "fake-ton-config.json");
	_cleanup_free_ char *vars_src = cn_path_join(c->fake_ton_dir, "runtime.vars");
	_cleanup_close_ int fdir = -EBADF;
	_cleanup_free_ char *text = NULL, *both = NULL;
	size_t len;
	int r;

	if (!cfg_src || !vars_src)
		return -ENOMEM;
	r = copy_in(cfg_src, share_fd, "fake-ton-config.json", "fake-TON config");
	if (r < 0)
		return r;
	fdir = open(c->fake_ton_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fdir < 0)
		return cn_err_set(-errno, "fake-TON folder '%s': %s", c->fake_ton_dir,
				  strerror(errno));
	r = read_text_at(fdir, "runtime.vars", "the fake-TON runtime.vars", &text, &len);
	if (r < 0)
		return r;
	both = malloc(*vars_len + len + 1);
	if (!both)
		return -ENOMEM;
	memcpy(both, *vars ? *vars : "", *vars_len);
	memcpy(both + *vars_len, text, len + 1);
	free(*vars);
	*vars = TAKE_PTR(both);
	*vars_len += len;
	return rewrite_init(share_fd);
}

struct upsert_state {
	FILE *out;
	char *const *keys;
	size_t n;
};

static int upsert_line(void *userdata, const char *line, size_t len)
{
	struct upsert_state *st = userdata;
	const char *eq = memchr(line, '=', len);

	if (!eq)
		return 0;
	for (size_t i = 0; i < st->n; i++)
		if (strlen(st->keys[i]) == (size_t)(eq - line) &&
		    memcmp(st->keys[i], line, (size_t)(eq - line)) == 0)
			return 0;
	(void)fwrite(line, 1, len, st->out);
	(void)fputc('\n', st->out);
	return 0;
}

/* Step 4 on the old text (what runtime.vars held, with the fake-TON lines appended). */
static int write_vars(int rt_fd, const char *old, size_t old_len, char *const *keys,
		      char *const *values, size_t n)
{
	_cleanup_free_ char *out = NULL;
	struct upsert_state st = {.keys = keys, .n = n};
	size_t out_len = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		if (!keys[i][0] || strpbrk(keys[i], "=\n\r") || strpbrk(values[i], "\n\r"))
			return cn_err_set(-EINVAL,
					  "runtime variable '%s': names and values may not hold "
					  "line breaks, names no '='",
					  keys[i]);
	st.out = open_memstream(&out, &out_len);
	if (!st.out)
		return -ENOMEM;
	(void)split_lines(old, old_len, upsert_line, &st);
	for (size_t i = 0; i < n; i++)
		(void)fprintf(st.out, "%s=%s\n", keys[i], values[i]);
	if (fclose(st.out) != 0)
		return -ENOMEM;
	/* Secrets (HF_TOKEN, NODE_WALLET_KEY): 0600, atomically (runtime/ is not measured). */
	r = cn_write_file_atomic_at(rt_fd, "runtime.vars", out, out_len, 0600);
	if (r < 0)
		return cn_err_set(r, "cannot write runtime/runtime.vars: %s", cn_strerror(r));
	return 0;
}

static int service_file(int share_fd, const char *name)
{
	_cleanup_free_ char *text = NULL, *out = NULL, *what = NULL;
	size_t len, out_len = 0, pos = 0;
	FILE *f;
	int r;

	if (asprintf(&what, "the share's %s", name) < 0) {
		what = NULL;
		return -ENOMEM;
	}
	r = read_text_at(share_fd, name, what, &text, &len);
	if (r < 0)
		return r;
	f = open_memstream(&out, &out_len);
	if (!f)
		return -ENOMEM;
	while (pos < len) { /* readlines(): split after each '\n' */
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;

		if (ll >= 10 && memcmp(line, "ExecStart=", 10) == 0 &&
		    memmem(line, ll, "-runner", 7) &&
		    !memmem(line, ll, FAKE_TON_PATH, sizeof(FAKE_TON_PATH) - 1)) {
			(void)fwrite(line, 1, ll, f);
			(void)fputs(FAKE_TON_OPT "\n", f);
		} else
			(void)fwrite(line, 1, ll + (nl ? 1 : 0), f);
		pos += ll + (nl ? 1 : 0);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	return write_text_at(share_fd, name, out ? out : "", out_len);
}

static int adjust_services(int share_fd)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = cn_opendir_dup(share_fd);
	if (!d)
		return -errno;
	while (r >= 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n >= 8 && strcmp(de->d_name + n - 8, ".service") == 0)
			r = service_file(share_fd, de->d_name);
	}
	(void)closedir(d);
	return r;
}

/* The TON configs (step 2); outside fake-TON mode both must exist. */
static int ton_configs(const struct cn_launch_config *c, int share_fd)
{
	_cleanup_close_ int rt = -EBADF;
	int r;

	if (exists(c->ton_config_base)) {
		r = copy_in(c->ton_config_base, share_fd, "global.config.json", "ton_config_base");
		if (r < 0)
			return r;
	} else if (!c->fake_ton)
		return cn_err_set(-ENOENT,
				  "ton_config_base not found: %s (set ton_config_base or "
				  "--ton-config-base; fake_ton needs none)",
				  c->ton_config_base ? c->ton_config_base : "(unset)");
	if (exists(c->ton_config)) {
		r = runtime_dir(share_fd, &rt);
		if (r < 0)
			return r;
		return copy_in(c->ton_config, rt, "global.config.json", "ton_config");
	}
	if (!c->fake_ton)
		return cn_err_set(-ENOENT,
				  "ton_config not found: %s (the network's full TON config with "
				  "liteservers: set ton_config or --ton-config; fake_ton needs "
				  "none)",
				  c->ton_config ? c->ton_config : "(unset)");
	return 0;
}

int cn_launch_share_prepare(const struct cn_launch_config *c, const char *dest,
			    const struct cn_launch_vars *vars)
{
	_cleanup_close_ int share_fd = -EBADF, rt = -EBADF;
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;
	struct stat st;
	int r;

	if (stat(c->spec_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return cn_err_set(-ENOENT, "spec dir not found: %s (give --spec DIR)", c->spec_dir);
	r = cn_launch_copy_tree(c->spec_dir, dest);
	if (r < 0)
		return r;
	share_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (share_fd < 0)
		return cn_err_set(-errno, "share '%s': %s", dest, strerror(errno));
	r = ton_configs(c, share_fd);
	if (r < 0)
		return r;
	if (vars || c->fake_ton) {
		r = runtime_dir(share_fd, &rt);
		if (r < 0)
			return r;
		if (faccessat(rt, "runtime.vars", F_OK, 0) == 0) {
			r = read_text_at(rt, "runtime.vars", "the share's runtime/runtime.vars",
					 &old, &old_len);
			if (r < 0)
				return r;
		}
	}
	if (c->fake_ton) {
		r = fake_ton(c, share_fd, &old, &old_len);
		if (r < 0)
			return r;
	}
	if (vars)
		r = write_vars(rt, old, old_len, vars->keys.v, vars->values.v, vars->keys.n);
	else if (c->fake_ton)
		r = write_text_at(rt, "runtime.vars", old ? old : "", old_len);
	if (r < 0)
		return r;
	return c->fake_ton ? adjust_services(share_fd) : 0;
}

void cn_launch_vars_done(struct cn_launch_vars *v)
{
	cn_strv_done(&v->keys);
	cn_strv_done(&v->values);
}

/* dict.setdefault(): appends unless the key is there. */
static int setdefault(struct cn_launch_vars *v, const char *k, const char *value)
{
	int r;

	for (size_t i = 0; i < v->keys.n; i++)
		if (strcmp(v->keys.v[i], k) == 0)
			return 0;
	r = cn_strv_push(&v->keys, k);
	return r < 0 ? r : cn_strv_push(&v->values, value);
}

/* dict[k] = value: replaces in place or appends. */
static int set(struct cn_launch_vars *v, const char *k, const char *value)
{
	for (size_t i = 0; i < v->keys.n; i++)
		if (strcmp(v->keys.v[i], k) == 0) {
			char *c = strdup(value);

			if (!c)
				return -ENOMEM;
			free(v->values.v[i]);
			v->values.v[i] = c;
			return 0;
		}
	return setdefault(v, k, value);
}

int cn_launch_runtime_vars(const struct cn_launch_config *c, const struct cn_launch_model_ref *m,
			   char *const *set_keys, char *const *set_values, size_t n_set,
			   struct cn_launch_vars *ret)
{
	struct cn_launch_vars v = {0};
	uint32_t off = 10 * c->instance;
	char num[3][16];
	int r = 0;

	(void)snprintf(num[0], sizeof(num[0]), "%u", c->test ? 1u : 0u);
	if (c->type == CN_NODE_CLIENT) {
		_cleanup_free_ char *ton = cn_path_join(c->local_run_dir, "global.config.json");

		if (!ton)
			return -ENOMEM;
		r = set(&v, "IS_DEBUG", num[0]);
		if (r >= 0)
			r = set(&v, "TON_CONFIG_FILE", ton);
	}
	for (size_t i = 0; r >= 0 && i < n_set; i++) /* --set K=V */
		r = set(&v, set_keys[i], set_values[i]);
	if (r >= 0 && m) {
		r = setdefault(&v, "MODEL_NAME", m->name);
		if (r >= 0)
			r = setdefault(&v, "MODEL_COMMIT", m->commit);
		if (r >= 0)
			r = setdefault(&v, "MODEL_VERITY_HASH", m->root_hash);
	} else if (r >= 0 && c->model)
		r = setdefault(&v, "MODEL_NAME", c->model);
	if (r >= 0 && c->type == CN_NODE_CLIENT) {
		(void)snprintf(num[1], sizeof(num[1]), "%u", 10000 + off);
		(void)snprintf(num[2], sizeof(num[2]), "%u", 10001 + off);
		r = setdefault(&v, "CLIENT_HTTP_PORT", num[1]);
		if (r >= 0)
			r = setdefault(&v, "CLIENT_RPC_PORT", num[2]);
	}
	if (r >= 0)
		r = setdefault(&v, "OWNER_ADDRESS", c->owner_address);
	if (r >= 0)
		r = setdefault(&v, "ROOT_CONTRACT_ADDRESS", c->root_contract_address);
	if (r >= 0 && c->external_ip && *c->external_ip)
		r = setdefault(&v, "EXTERNAL_IP", c->external_ip);
	if (r >= 0 && c->external_worker_port) {
		(void)snprintf(num[1], sizeof(num[1]), "%u", c->external_worker_port + off);
		r = setdefault(&v, "EXTERNAL_WORKER_PORT", num[1]);
	}
	if (r >= 0 && c->external_client_port) {
		(void)snprintf(num[2], sizeof(num[2]), "%u", c->external_client_port + off);
		r = setdefault(&v, "EXTERNAL_CLIENT_PORT", num[2]);
	}
	if (r >= 0 && c->worker_coefficient && *c->worker_coefficient)
		r = setdefault(&v, "WORKER_COEFFICIENT", c->worker_coefficient);
	if (r >= 0 && c->hf_token && *c->hf_token)
		r = setdefault(&v, "HF_TOKEN", c->hf_token);
	if (r >= 0 && c->node_wallet_key && *c->node_wallet_key)
		r = setdefault(&v, "NODE_WALLET_KEY", c->node_wallet_key);
	if (r < 0) {
		cn_launch_vars_done(&v);
		return r;
	}
	*ret = v;
	return 0;
}
