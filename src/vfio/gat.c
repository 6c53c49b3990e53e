/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVIDIA gpu-admin-tools wrapper (spec host-tools §2): never cloned, run with python3 -I and an
 * argv array, a deadline, stdin closed, and its one status line parsed strictly (§2.3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "vfio/vfio.h"

#define GAT_LINES_MAX 100000
#define GAT_SCRIPT_MAX (16u * 1024 * 1024)

const char *cn_gat_mode_name(enum cn_gat_mode m)
{
	switch (m) {
	case CN_GAT_MODE_ON:
		return "on";
	case CN_GAT_MODE_OFF:
		return "off";
	case CN_GAT_MODE_DEVTOOLS:
		return "devtools";
	case CN_GAT_MODE_INVALID:
	default:
		return "invalid";
	}
}

/* True if line[0..len) contains "GPU <bdf> " or "NvSwitch <bdf> " at a word start. */
static bool line_names_device(const char *line, size_t len, const char *bdf)
{
	static const char *const kinds[] = {"GPU ", "NvSwitch "};
	size_t blen = strlen(bdf);

	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		size_t klen = strlen(kinds[k]);

		for (size_t i = 0; i + klen + blen + 1 <= len; i++) {
			if (i > 0 && line[i - 1] != ' ')
				continue;
			if (memcmp(line + i, kinds[k], klen) == 0 &&
			    memcmp(line + i + klen, bdf, blen) == 0 && line[i + klen + blen] == ' ')
				return true;
		}
	}
	return false;
}

int cn_gat_parse_mode(const char *text, size_t len, const char *bdf, const char *knob,
		      enum cn_gat_mode *ret, char raw[CN_GAT_MODE_TEXT_MAX])
{
	char suffix[32], found[CN_GAT_MODE_TEXT_MAX] = "";
	size_t slen, pos = 0, lines = 0;
	bool have = false;

	if (!text || !bdf || !knob || len > CN_GAT_OUTPUT_MAX)
		return cn_err_set(-EINVAL, "gpu-admin-tools output: bad arguments");
	(void)snprintf(suffix, sizeof(suffix), " %s mode is ", knob);
	slen = strlen(suffix);
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;
		const char *m = NULL;
		size_t mlen;

		pos += llen + (nl ? 1 : 0);
		if (++lines > GAT_LINES_MAX)
			return cn_err_set(-E2BIG, "gpu-admin-tools output: more than %d lines",
					  GAT_LINES_MAX);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		/* The last occurrence of the suffix: the mode word runs to the end of the line. */
		for (size_t i = 0; i + slen <= llen; i++)
			if (memcmp(line + i, suffix, slen) == 0)
				m = line + i + slen;
		if (!m || !line_names_device(line, (size_t)(m - line), bdf))
			continue;
		mlen = llen - (size_t)(m - line);
		if (mlen == 0 || mlen >= CN_GAT_MODE_TEXT_MAX)
			return cn_err_set(-EBADMSG,
					  "gpu-admin-tools output line %zu: bad %s mode word",
					  lines, knob);
		for (size_t i = 0; i < mlen; i++)
			if (!((m[i] >= 'a' && m[i] <= 'z') || m[i] == '-'))
				return cn_err_set(
				    -EBADMSG, "gpu-admin-tools output line %zu: bad %s mode word",
				    lines, knob);
		if (have && (strlen(found) != mlen || memcmp(found, m, mlen) != 0))
			return cn_err_set(
			    -EBADMSG, "gpu-admin-tools output line %zu: conflicting %s mode lines",
			    lines, knob);
		memcpy(found, m, mlen);
		found[mlen] = '\0';
		have = true;
	}
	if (!have)
		return cn_err_set(
		    -EBADMSG, "gpu-admin-tools output has no '%s mode is' line for %s", knob, bdf);
	if (strcmp(found, "on") == 0)
		*ret = CN_GAT_MODE_ON;
	else if (strcmp(found, "off") == 0)
		*ret = CN_GAT_MODE_OFF;
	else if (strcmp(found, "devtools") == 0)
		*ret = CN_GAT_MODE_DEVTOOLS;
	else
		*ret = CN_GAT_MODE_INVALID;
	memcpy(raw, found, strlen(found) + 1);
	return 0;
}

/*
 * The operator's pin (--gpu-admin-tools-sha256 or $GPU_ADMIN_TOOLS_SHA256): SHA-256 of
 * nvidia_gpu_tools.py, a single-file release run with python3 -I (spec §2.7).
 */
static int check_pin(const struct cn_vfio_opts *o, const char *script)
{
	const char *pin = o->gat_sha256;
	_cleanup_free_ uint8_t *data = NULL;
	uint8_t want[32], got[32];
	char hex[65];
	size_t len = 0;
	int r;

	if (!pin || !*pin)
		pin = getenv("GPU_ADMIN_TOOLS_SHA256");
	if (!pin || !*pin)
		return 0;
	if (strlen(pin) != 64 || cn_unhex_exact(pin, want, sizeof(want)) < 0)
		return cn_err_set(-EINVAL, "gpu-admin-tools pin '%s' is not 64 hex digits", pin);
	r = cn_read_file(script, GAT_SCRIPT_MAX, &data, &len);
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", script, cn_strerror(r));
	if (!EVP_Digest(data, len, got, NULL, EVP_sha256(), NULL))
		return cn_err_set(-EIO, "SHA-256 of '%s' failed", script);
	if (CRYPTO_memcmp(got, want, sizeof(got)) != 0)
		return cn_err_set(-EKEYREJECTED,
				  "gpu-admin-tools '%s' has SHA-256 %s, not the pinned "
				  "%s",
				  script, cn_hex(got, sizeof(got), hex), pin);
	return 0;
}

/* The tool's script path: --gpu-admin-tools (dir or file), else $GPU_ADMIN_TOOLS_DIR. */
static int gat_script(const struct cn_vfio_opts *o, char **ret)
{
	const char *p = o->roots.gpu_admin_tools;
	struct stat st;
	char *s;
	int r0;

	if (!p || !*p)
		p = getenv("GPU_ADMIN_TOOLS_DIR");
	if (!p || !*p)
		return cn_err_set(-ENOENT,
				  "gpu-admin-tools not configured (use --gpu-admin-tools or "
				  "GPU_ADMIN_TOOLS_DIR)");
	if (stat(p, &st) < 0)
		return cn_err_set(-errno, "gpu-admin-tools '%s': %s", p, strerror(errno));
	s = S_ISDIR(st.st_mode) ? cn_path_join(p, "nvidia_gpu_tools.py") : strdup(p);
	if (!s)
		return -ENOMEM;
	if (stat(s, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = cn_err_set(-ENOENT, "gpu-admin-tools script '%s' not found", s);

		free(s);
		return r;
	}
	/* Run as root only if nobody else can change what root runs. */
	if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 0022))) {
		int r = cn_err_set(-EPERM,
				   "gpu-admin-tools script '%s' is writable by others than "
				   "root; refusing to run it as root",
				   s);

		free(s);
		return r;
	}
	r0 = check_pin(o, s);
	if (r0 < 0) {
		free(s);
		return r0;
	}
	*ret = s;
	return 0;
}

/* Runs the tool for bdf with up to 3 extra arguments; fills res. */
static int gat_run(const struct cn_vfio_opts *o, const char *bdf, const char *a1, const char *a2,
		   struct cn_vfio_proc_result *res)
{
	_cleanup_free_ char *script = NULL, *python = NULL, *sel = NULL;
	const char *argv[7];
	size_t n = 0;
	int r;

	r = gat_script(o, &script);
	if (r < 0)
		return r;
	r = cn_vfio_find_exe("python3", &python);
	if (r < 0)
		return r;
	if (asprintf(&sel, "--gpu-bdf=%s", bdf) < 0) {
		sel = NULL;
		return -ENOMEM;
	}
	argv[n++] = python;
	argv[n++] = "-I";
	argv[n++] = script;
	argv[n++] = sel;
	argv[n++] = a1;
	if (a2)
		argv[n++] = a2;
	argv[n] = NULL;
	/* Queries change nothing: noted only in a dry run, which runs nothing. */
	if (o->dry_run || a2)
		cn_vfio_notef(o, "%srun: %s -I %s %s %s%s%s", o->dry_run ? "would " : "", python,
			      script, sel, a1, a2 ? " " : "", a2 ? a2 : "");
	if (o->dry_run)
		return -ECANCELED;
	r = cn_vfio_spawn(argv, o->tool_timeout_ms > 0 ? o->tool_timeout_ms : 180000, res);
	if (r < 0)
		return r;
	if (res->timed_out) {
		cn_vfio_proc_result_done(res);
		return cn_err_set(-ETIMEDOUT, "gpu-admin-tools %s for %s did not finish in time",
				  a1, bdf);
	}
	return 0;
}

/* The last non-empty line of the tool's stderr, for error messages. */
static void last_line(const char *s, char *out, size_t outsz)
{
	size_t len = strlen(s);
	const char *start;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\r'))
		len--;
	start = s + len;
	while (start > s && start[-1] != '\n')
		start--;
	(void)snprintf(out, outsz, "%.*s", (int)(s + len - start), start);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
}

int cn_gat_query(const struct cn_vfio_opts *o, const char *bdf, const char *knob,
		 struct cn_gat_query *q)
{
	struct cn_vfio_proc_result res = {0};
	char op[32], why[256];
	int r;

	*q = (struct cn_gat_query){0};
	(void)snprintf(op, sizeof(op), "--query-%s-mode", strcmp(knob, "CC") == 0 ? "cc" : "ppcie");
	r = gat_run(o, bdf, op, NULL, &res);
	if (r == -ECANCELED) {
		(void)snprintf(q->raw, sizeof(q->raw), "unknown (dry run)");
		return 0;
	}
	if (r < 0) {
		(void)snprintf(q->raw, sizeof(q->raw), "unknown (%s)",
			       r == -ENOENT	    ? "gpu-admin-tools not found"
			       : r == -ETIMEDOUT    ? "gpu-admin-tools timed out"
			       : r == -EKEYREJECTED ? "gpu-admin-tools does not match its pin"
			       : r == -EPERM	    ? "gpu-admin-tools has unsafe permissions"
						    : "gpu-admin-tools failed");
		if (r != -ENOENT)
			cn_vfio_notef(o, "%s", cn_err_msg());
		cn_err_clear();
		return 0;
	}
	if (res.status != 0) {
		/* Exit code first (spec §2.3): a failure is not a mode. */
		if (strstr(res.err, "not supported") || strstr(res.err, "does not support")) {
			q->unsupported = true;
			(void)snprintf(q->raw, sizeof(q->raw), "not supported");
		} else {
			last_line(res.err, why, sizeof(why));
			(void)snprintf(q->raw, sizeof(q->raw), "unknown (query failed)");
			cn_vfio_notef(o, "gpu-admin-tools %s for %s exited %d: %s", op, bdf,
				      res.status, why);
		}
		cn_vfio_proc_result_done(&res);
		return 0;
	}
	r = cn_gat_parse_mode(res.err, res.err_len, bdf, knob, &q->mode, q->raw);
	if (r < 0) {
		cn_vfio_notef(o, "gpu-admin-tools %s for %s: %s", op, bdf, cn_err_msg());
		(void)snprintf(q->raw, sizeof(q->raw), "unknown (unrecognised output)");
		cn_err_clear();
	} else {
		q->known = true;
	}
	cn_vfio_proc_result_done(&res);
	return 0;
}

int cn_gat_set(const struct cn_vfio_opts *o, const char *bdf, const char *knob, const char *value)
{
	struct cn_vfio_proc_result res = {0};
	char op[48], reset[64], why[256];
	int r;

	(void)snprintf(op, sizeof(op), "--set-%s-mode=%s", knob, value);
	(void)snprintf(reset, sizeof(reset), "--reset-after-%s-mode-switch", knob);
	r = gat_run(o, bdf, op, reset, &res);
	if (r == -ECANCELED)
		return 0;
	if (r < 0)
		return r;
	if (res.status != 0) {
		last_line(res.err, why, sizeof(why));
		r = cn_err_set(-EIO, "gpu-admin-tools %s for %s failed (exit %d): %s", op, bdf,
			       res.status, why);
	}
	cn_vfio_proc_result_done(&res);
	return r;
}
