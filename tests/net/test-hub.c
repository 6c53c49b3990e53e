/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_hub_snapshot() against a fake hub (tests/net/fakehub.py): TLS on 127.0.0.1 with a CA made
 * by openssl at start-up, a redirect to a second "CDN" origin for LFS files, pagination, Range
 * requests and injected faults. Every fault asserts the error code, the message and that no
 * snapshot folder was produced.
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/parse.h"
#include "net/http.h"
#include "hf/hub.h"

extern char **environ;

static pid_t hub_pid = -1;
static char endpoint[64], ca[4096], hf_home[4096];
static json_t *files; /* /_files of the fake hub */

static void hub_stop(void)
{
	if (hub_pid > 0) {
		(void)kill(hub_pid, SIGTERM);
		(void)waitpid(hub_pid, NULL, 0);
		hub_pid = -1;
	}
}

static json_t *get_json(const char *path)
{
	struct cn_http_opts o = {.ca_bundle = ca};
	struct cn_http_response resp = {0};
	char url[256];
	json_t *j;

	(void)snprintf(url, sizeof(url), "%s%s", endpoint, path);
	ASSERT_OK(cn_http_get(&o, url, &resp));
	ASSERT_EQ(resp.status, 200);
	j = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	ASSERT_NOT_NULL(j);
	cn_http_response_done(&resp);
	return j;
}

static void hub_start(void)
{
	char dir[2048], script[4096], ports[4096];
	const char *src = getenv("CN_SOURCE_DIR");
	char *argv[] = {"python3", script, "--dir", dir, "--lifetime", "300", NULL};
	unsigned hp = 0;

	if (!src)
		cn_test_skip("CN_SOURCE_DIR not set");
	if (cn_test_sh("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0)
		cn_test_skip("python3 or openssl missing");
	(void)snprintf(dir, sizeof(dir), "%s/fakehub", cn_test_tmpdir());
	(void)snprintf(script, sizeof(script), "%s/tests/net/fakehub.py", src);
	(void)snprintf(ports, sizeof(ports), "%s/ports", dir);
	(void)snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	(void)snprintf(hf_home, sizeof(hf_home), "%s/hf-home", cn_test_tmpdir());
	ASSERT_OK(mkdir(dir, 0700));
	ASSERT_OK(mkdir(hf_home, 0700));
	ASSERT_EQ(posix_spawnp(&hub_pid, "python3", NULL, NULL, argv, environ), 0);
	(void)atexit(hub_stop);
	for (int i = 0; i < 300 && access(ports, R_OK) != 0; i++)
		(void)usleep(50000);
	{
		uint8_t *p = cn_test_slurp(ports, NULL);
		char *sp = strchr((char *)p, ' ');

		ASSERT_NOT_NULL(sp);
		*sp = 0;
		ASSERT_OK(cn_parse_u32((char *)p, 65535, &hp));
		free(p);
	}
	(void)snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%u", hp);
	files = get_json("/_files");
}

static struct cn_hub_opts opts(void)
{
	return (struct cn_hub_opts){
	    .endpoint = endpoint,
	    .ca_bundle = ca,
	    .hf_home = hf_home,
	    .timeout_s = 1,
	    .retries = 2,
	    .parallel = 3,
	};
}

static char *staging(const char *name)
{
	char *p;

	ASSERT_TRUE(asprintf(&p, "%s/staging-%s", cn_test_tmpdir(), name) > 0);
	return p;
}

/* No snapshot folder: the staging root is absent or holds only dot-entries (lock, parts). */
static void assert_no_snapshot(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;

	if (!d) {
		ASSERT_EQ(errno, ENOENT);
		return;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] != '.')
			CN_FAIL_("snapshot folder '%s' left in '%s'", de->d_name, root);
		if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0)
			CN_FAIL_("temporary folder '%s' left in '%s'", de->d_name, root);
	}
	(void)closedir(d);
}

static int snap(const struct cn_hub_opts *o, const char *repo, const char *rev, const char *root,
		char **ret_commit, char **ret_dir)
{
	bool cache = true;
	int r;

	cn_err_clear();
	r = cn_hub_snapshot(o, repo, rev, root, ret_commit, ret_dir, &cache);
	if (r < 0)
		(void)printf("  %s: %d %s\n", repo, r, cn_err_msg());
	else
		ASSERT_FALSE(cache);
	return r;
}

#define ASSERT_MSG(needle)                                                                         \
	do {                                                                                       \
		if (!strstr(cn_err_msg(), (needle)))                                               \
			CN_FAIL_("message '%s' lacks '%s'", cn_err_msg(), (needle));               \
	} while (0)

static void expect_fail(const struct cn_hub_opts *o, const char *repo, const char *rev, int err,
			const char *needle)
{
	static unsigned seq;
	char *root, *commit = NULL, *dir = NULL, name[64];

	(void)snprintf(name, sizeof(name), "fail-%u", ++seq);
	root = staging(name);

	ASSERT_ERR(snap(o, repo, rev, root, &commit, &dir), err);
	ASSERT_MSG(needle);
	ASSERT_NULL(commit);
	ASSERT_NULL(dir);
	assert_no_snapshot(root);
	free(root);
}

static void sha256_file(const char *path, char hex[65])
{
	size_t len;
	uint8_t *buf = cn_test_slurp(path, &len), md[32];
	unsigned mdlen;

	ASSERT_EQ(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL), 1);
	cn_hex(md, 32, hex);
	free(buf);
}

static json_t *stats(void)
{
	return get_json("/_stats");
}

/* Requests of the fake hub whose path contains needle (and, if given, whose range equals range). */
static size_t count_requests(json_t *st, const char *origin, const char *needle, const char *range)
{
	json_t *reqs = json_object_get(st, "requests"), *e;
	size_t i, n = 0;

	json_array_foreach(reqs, i, e)
	{
		const char *rg = json_string_value(json_object_get(e, "range"));

		if (strcmp(json_string_value(json_object_get(e, "origin")), origin) != 0)
			continue;
		if (!strstr(json_string_value(json_object_get(e, "path")), needle))
			continue;
		if (range && (!rg || strcmp(rg, range) != 0))
			continue;
		n++;
	}
	return n;
}

/* The snapshot holds exactly the fake repository's files (without .cache/), mode 0644. */
static void assert_snapshot(const char *dir)
{
	const char *path;
	json_t *v;
	size_t n = 0;

	json_object_foreach(files, path, v)
	{
		char p[8192], hex[65];
		struct stat st;

		if (strncmp(path, ".cache/", 7) == 0)
			continue;
		(void)snprintf(p, sizeof(p), "%s/%s", dir, path);
		ASSERT_OK(lstat(p, &st));
		ASSERT_TRUE(S_ISREG(st.st_mode));
		ASSERT_EQ(st.st_mode & 07777, 0644);
		ASSERT_EQ(st.st_nlink, 1);
		ASSERT_U64_EQ(st.st_size, json_integer_value(json_object_get(v, "size")));
		sha256_file(p, hex);
		ASSERT_STREQ(hex, json_string_value(json_object_get(v, "sha256")));
		n++;
	}
	ASSERT_EQ(cn_test_sh("test -z \"$(find '%s' -path '*/.cache*')\"", dir), 0);
	ASSERT_EQ(cn_test_sh("test $(find '%s' -type f | wc -l) = %zu", dir, n), 0);
	ASSERT_EQ(cn_test_sh("test -z \"$(find '%s' -type d -empty)\"", dir), 0);
}

static void test_good(void)
{
	struct cn_hub_opts o = opts();
	char *root = staging("good"), *commit = NULL, *dir = NULL, *commit2 = NULL, *dir2 = NULL;
	json_t *st;

	o.token = "secret-token"; /* sent to the hub, must never reach the CDN */
	ASSERT_OK(snap(&o, "t/good", NULL, root, &commit, &dir));
	ASSERT_TRUE(cn_is_lower_hex(commit, 40));
	ASSERT_TRUE(strstr(dir, commit) != NULL);
	assert_snapshot(dir);
	st = stats();
	ASSERT_EQ(json_integer_value(json_object_get(st, "cdn_auth")), 0);
	ASSERT_TRUE(count_requests(st, "cdn", "model.safetensors", NULL) >= 1);
	ASSERT_TRUE(count_requests(st, "hub", "cursor=", NULL) >= 3); /* pagination followed */
	/* duplicate content (config.json, copy/config.json) is downloaded once, then copied */
	ASSERT_EQ(count_requests(st, "hub", "t/good/resolve/", NULL), 7);
	json_decref(st);

	/* The same commit again: the verified folder is reused, nothing is downloaded. */
	st = stats();
	{
		size_t before = count_requests(st, "hub", "/resolve/", NULL);

		json_decref(st);
		ASSERT_OK(snap(&o, "t/good", commit, root, &commit2, &dir2));
		ASSERT_STREQ(dir, dir2);
		st = stats();
		ASSERT_EQ(count_requests(st, "hub", "/resolve/", NULL), before);
		json_decref(st);
	}
	free(commit2);
	free(dir2);

	/* A tampered file in that folder is noticed and the folder rebuilt. */
	{
		char p[8192];

		(void)snprintf(p, sizeof(p), "%s/config.json", dir);
		cn_test_write(p, "{}", 2);
		(void)snprintf(p, sizeof(p), "%s/stray.txt", dir);
		cn_test_write(p, "x", 1);
		ASSERT_OK(snap(&o, "t/good", "main", root, &commit2, &dir2));
		assert_snapshot(dir2);
		free(commit2);
		free(dir2);
	}
	free(commit);
	free(dir);
	free(root);
}

static void test_legacy_id_and_parallel_one(void)
{
	struct cn_hub_opts o = opts();
	char *root = staging("solo"), *commit = NULL, *dir = NULL;

	o.parallel = 1;
	ASSERT_OK(snap(&o, "solo", "main", root, &commit, &dir));
	assert_snapshot(dir);
	free(commit);
	free(dir);
	free(root);
}

static void test_auth(void)
{
	struct cn_hub_opts o = opts();
	char *root, *commit = NULL, *dir = NULL, tok[8192];

	expect_fail(&o, "t/private", NULL, -EACCES, "needs a token (401)");
	o.token = "wrong";
	expect_fail(&o, "t/private", NULL, -EACCES, "rejected the token");
	expect_fail(&o, "t/gated", NULL, -EACCES, "gated and the token has no access (403)");
	o.token = NULL;
	expect_fail(&o, "t/gated", NULL, -EACCES, "is gated (401)");
	expect_fail(&o, "t/forbidden", NULL, -EACCES, "forbidden (403)");
	/* the token must never appear in a message */
	o.token = "wrong";
	expect_fail(&o, "t/forbidden", NULL, -EACCES, "forbidden (403) for this token");
	ASSERT_NULL(strstr(cn_err_msg(), "wrong"));

	/* $HF_HOME/token, with a trailing newline as `hf auth login` writes it */
	o.token = NULL;
	(void)snprintf(tok, sizeof(tok), "%s/token", hf_home);
	cn_test_write(tok, "secret-token\n", 13);
	root = staging("private-ok");
	ASSERT_OK(snap(&o, "t/private", NULL, root, &commit, &dir));
	assert_snapshot(dir);
	free(commit);
	free(dir);
	free(root);
	root = staging("gated-ok");
	ASSERT_OK(snap(&o, "t/gated", NULL, root, &commit, &dir));
	free(commit);
	free(dir);
	free(root);
	/* HF_TOKEN wins over the file */
	ASSERT_OK(setenv("HF_TOKEN", "no-access", 1));
	expect_fail(&o, "t/gated", NULL, -EACCES, "(403)");
	ASSERT_OK(unsetenv("HF_TOKEN"));
	ASSERT_OK(unlink(tok));
}

static void test_not_found(void)
{
	struct cn_hub_opts o = opts();

	expect_fail(&o, "t/nope", NULL, -ENOENT, "repository 't/nope' not found");
	expect_fail(&o, "t/good", "v9.9", -ENOENT,
		    "revision 'v9.9' not found in repository 't/good'");
	expect_fail(&o, "t/good", "0123456789012345678901234567890123456789", -ENOENT,
		    "revision '0123");
	expect_fail(&o, "t/missing-file", NULL, -ENOENT, "file 'tokenizer/vocab.txt' not found");
}

static void test_invalid_input(void)
{
	struct cn_hub_opts o = opts();
	char *c = NULL, *d = NULL;
	bool cache;

	ASSERT_ERR(cn_hub_snapshot(&o, "../etc", NULL, "/nonexistent", &c, &d, &cache), -EINVAL);
	ASSERT_ERR(cn_hub_snapshot(&o, "a/b/c", NULL, "/nonexistent", &c, &d, &cache), -EINVAL);
	ASSERT_ERR(cn_hub_snapshot(&o, "t/good", "-x", "/nonexistent", &c, &d, &cache), -EINVAL);
	ASSERT_ERR(cn_hub_snapshot(&o, "t/good", "a b", "/nonexistent", &c, &d, &cache), -EINVAL);
	o.endpoint = "http://127.0.0.1:1";
	ASSERT_ERR(cn_hub_snapshot(&o, "t/good", NULL, "/nonexistent", &c, &d, &cache), -EINVAL);
	ASSERT_MSG("must be an https URL");
	o.endpoint = "https://user@127.0.0.1:1";
	ASSERT_ERR(cn_hub_snapshot(&o, "t/good", NULL, "/nonexistent", &c, &d, &cache), -EINVAL);
	ASSERT_NULL(c);
	ASSERT_NULL(d);
}

static void test_untrusted_server(void)
{
	struct cn_hub_opts o = opts();

	o.ca_bundle = NULL; /* the system store does not know the test CA */
	expect_fail(&o, "t/good", NULL, -EKEYREJECTED, "is not trusted");
	/* REQUESTS_CA_BUNDLE is honoured */
	ASSERT_OK(setenv("REQUESTS_CA_BUNDLE", ca, 1));
	{
		char *root = staging("env-ca"), *commit = NULL, *dir = NULL;

		ASSERT_OK(snap(&o, "t/good", NULL, root, &commit, &dir));
		free(commit);
		free(dir);
		free(root);
	}
	ASSERT_OK(unsetenv("REQUESTS_CA_BUNDLE"));
}

static void test_transient_errors(void)
{
	struct cn_hub_opts o = opts();
	const char *repos[] = {"t/flaky", "t/ratelimit", "t/truncated", "t/truncated-norange",
			       "t/corrupt-once"};
	json_t *st;

	for (size_t i = 0; i < ELEMENTSOF(repos); i++) {
		char *root = staging(repos[i] + 2), *commit = NULL, *dir = NULL;

		ASSERT_OK(snap(&o, repos[i], NULL, root, &commit, &dir));
		assert_snapshot(dir);
		free(commit);
		free(dir);
		free(root);
	}
	st = stats();
	/* the broken transfer resumed with a Range request, at the CDN and at the hub */
	ASSERT_EQ(count_requests(st, "cdn", "t/truncated/model.safetensors", "bytes=150000-"), 1);
	ASSERT_EQ(count_requests(st, "hub", "t/truncated/resolve", "bytes=7445-"), 1);
	/* corrupt once: downloaded twice */
	ASSERT_EQ(count_requests(st, "cdn", "t/corrupt-once/model.safetensors", NULL), 2);
	json_decref(st);
}

static void test_rate_limited(void)
{
	struct cn_hub_opts o = opts();

	expect_fail(&o, "t/ratelimit-long", NULL, -EBUSY, "asks to wait more than 60 s");
	o.retries = 1;
	expect_fail(&o, "t/ratelimit-always", NULL, -EBUSY,
		    "rate limited (429) while downloading 'model.safetensors'");
}

static void test_corrupt(void)
{
	struct cn_hub_opts o = opts();
	json_t *f = json_object_get(files, "model.safetensors"),
	       *g = json_object_get(files, "config.json"), *st;
	char want[300];

	expect_fail(&o, "t/corrupt", NULL, -EKEYREJECTED,
		    "'model.safetensors' is corrupt: SHA-256 ");
	(void)snprintf(want, sizeof(want), "SHA-256 %s, expected %s",
		       json_string_value(json_object_get(f, "bad_sha256")),
		       json_string_value(json_object_get(f, "sha256")));
	ASSERT_MSG(want);
	st = stats();
	ASSERT_EQ(count_requests(st, "cdn", "t/corrupt/model.safetensors", NULL),
		  2); /* retried once */
	json_decref(st);
	/* a small (non-LFS) file is checked against its git blob id */
	expect_fail(&o, "t/corrupt-small", NULL, -EKEYREJECTED,
		    "'config.json' is corrupt: git blob SHA-1 ");
	(void)snprintf(want, sizeof(want), "SHA-1 %s, expected %s",
		       json_string_value(json_object_get(g, "bad_git")),
		       json_string_value(json_object_get(g, "git")));
	ASSERT_MSG(want);
	expect_fail(&o, "t/toolong", NULL, -EKEYREJECTED, "sent more than the 70001 bytes");
}

static void test_unsafe_listing(void)
{
	struct cn_hub_opts o = opts();

	expect_fail(&o, "t/dotdot", NULL, -EBADMSG, "'..' component");
	expect_fail(&o, "t/dotgit", NULL, -EBADMSG, "'.git/config' uses the reserved name '.git'");
	expect_fail(&o, "t/dup", NULL, -EBADMSG, "names 'config.json' twice");
	expect_fail(&o, "t/badlink", NULL, -EBADMSG, "leaves the listing");
	expect_fail(&o, "t/badsha", NULL, -EBADMSG, "'sha' is not a 40-hex commit");
	expect_fail(&o, "t/http-redirect", NULL, -EPROTONOSUPPORT, "non-https");
}

static void test_stall(void)
{
	struct cn_hub_opts o = opts();

	expect_fail(&o, "t/stall", NULL, -ETIMEDOUT, "network timeout");
	ASSERT_MSG("'model.safetensors'");
}

/* A CDN that trickles bytes (issue 10 item 4): the progress floor ends the download, naming the
 * file and the URL, after one retry (a short window here; 64 KiB/s over 60 s by default). */
static void test_trickle(void)
{
	struct cn_hub_opts o = opts();
	uint64_t t0 = cn_now_ns();

	o.min_rate = 64 * 1024;
	o.rate_window_s = 1;
	expect_fail(&o, "t/trickle", NULL, -ETIMEDOUT, "slower than 65536 bytes/s over 1 s");
	ASSERT_MSG("'model.safetensors'");
	ASSERT_MSG("/t/trickle/resolve/");
	ASSERT_TRUE(cn_now_ns() - t0 < 20ull * 1000000000);
}

static void test_offline(void)
{
	struct cn_hub_opts o = opts();

	o.offline = true;
	expect_fail(&o, "t/good", NULL, -ENOENT, "offline (HF_HUB_OFFLINE)");
	o.offline = false;
	ASSERT_OK(setenv("HF_HUB_OFFLINE", "1", 1));
	expect_fail(&o, "t/good", "0123456789abcdef0123456789abcdef01234567", -ENOENT,
		    "offline (HF_HUB_OFFLINE)");
	ASSERT_OK(unsetenv("HF_HUB_OFFLINE"));
}

/* ENOSPC: a 128 KiB tmpfs in a private mount namespace (root only; skipped otherwise). */
static void test_disk_full(void)
{
	char mnt[4096];
	pid_t pid;
	int status;

	(void)snprintf(mnt, sizeof(mnt), "%s/small", cn_test_tmpdir());
	ASSERT_OK(mkdir(mnt, 0755));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct cn_hub_opts o = opts();
		char *commit = NULL, *dir = NULL;
		bool cache;
		int r;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", mnt, "tmpfs", 0, "size=128k") < 0)
			_exit(77);
		r = cn_hub_snapshot(&o, "t/good", NULL, mnt, &commit, &dir, &cache);
		(void)printf("  disk full: %d %s\n", r, cn_err_msg());
		(void)fflush(stdout);
		_exit(r == -ENOSPC && strstr(cn_err_msg(), "disk full while writing '") ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		(void)printf("  (skipped: cannot mount a small tmpfs here)\n");
		return;
	}
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* The wrapper on its own: body cap, POST, https only. */
static void test_http_wrapper(void)
{
	struct cn_http_opts o = {.ca_bundle = ca, .max_body = 100};
	struct cn_http_response resp = {0};
	char url[256];
	static const char req[] = "\x30\x03\x02\x01\x00 ocsp-like";

	(void)snprintf(url, sizeof(url), "%s/_files", endpoint);
	ASSERT_ERR(cn_http_get(&o, url, &resp), -E2BIG);
	ASSERT_MSG("exceeds 100 bytes");
	ASSERT_NULL(resp.body);
	o.max_body = 0;
	(void)snprintf(url, sizeof(url), "%s/_echo", endpoint);
	ASSERT_OK(cn_http_post(&o, url, "application/ocsp-request", req, sizeof(req) - 1, &resp));
	ASSERT_EQ(resp.status, 200);
	ASSERT_EQ(resp.len, sizeof(req) - 1);
	ASSERT_MEMEQ(resp.body, req, sizeof(req) - 1);
	ASSERT_STREQ(resp.headers.content_type, "application/ocsp-request");
	cn_http_response_done(&resp);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%s", strrchr(endpoint, ':') + 1);
	ASSERT_ERR(cn_http_get(&o, url, &resp), -EPROTONOSUPPORT);
}

/* Parts left by an interrupted run of the same commit are resumed with Range; a part with
 * wrong bytes is caught by the hash and downloaded again from byte 0. */
static void test_resume_across_runs(void)
{
	struct cn_hub_opts o = opts();
	json_t *f = json_object_get(files, "model.safetensors"), *st;
	const char *sha = json_string_value(json_object_get(f, "sha256"));
	char *root = staging("resume"), *commit = NULL, *dir = NULL,
	     *ref_root = staging("resume-ref");
	char part[8192];
	const char *c = NULL;
	size_t before;

	ASSERT_OK(snap(&o, "solo", NULL, ref_root, &commit, &dir)); /* a reference copy */
	c = strrchr(dir, '@') + 1;
	(void)snprintf(part, sizeof(part), "%s/.solo@%s.parts", root, c);
	ASSERT_EQ(
	    cn_test_sh("mkdir -p '%s' && head -c 100000 '%s/model.safetensors' > '%s/%s.part'",
		       part, dir, part, sha),
	    0);
	free(commit);
	commit = NULL;
	st = stats();
	before = count_requests(st, "cdn", "solo/model.safetensors", "bytes=100000-");
	json_decref(st);
	{
		char *d2 = NULL;

		ASSERT_OK(snap(&o, "solo", NULL, root, &commit, &d2));
		assert_snapshot(d2);
		free(d2);
	}
	st = stats();
	ASSERT_EQ(count_requests(st, "cdn", "solo/model.safetensors", "bytes=100000-"), before + 1);
	json_decref(st);
	/* wrong bytes in a part: the hash catches it, the file is fetched again from 0 */
	ASSERT_EQ(
	    cn_test_sh(
		"rm -rf '%s/solo@%s' && mkdir -p '%s' && head -c 100000 /dev/zero > '%s/%s.part'",
		root, c, part, part, sha),
	    0);
	free(commit);
	commit = NULL;
	{
		char *d2 = NULL;

		ASSERT_OK(snap(&o, "solo", NULL, root, &commit, &d2));
		assert_snapshot(d2);
		free(d2);
	}
	ASSERT_EQ(cn_test_sh("test ! -e '%s'", part), 0); /* parts removed once complete */
	free(commit);
	free(dir);
	free(root);
	free(ref_root);
}

/* Two commits of one repository into one staging root: separate folders, and the second has
 * neither the files removed in it nor the old content of a changed file (the reference's
 * `hf download` into a reused folder keeps both). */
static void test_two_revisions(void)
{
	struct cn_hub_opts o = opts();
	char *root = staging("two"), *c1 = NULL, *d1 = NULL, *c2 = NULL, *d2 = NULL;

	ASSERT_OK(snap(&o, "t/two", "main", root, &c1, &d1));
	ASSERT_OK(snap(&o, "t/two", "v2", root, &c2, &d2));
	ASSERT_TRUE(strcmp(c1, c2) != 0);
	ASSERT_TRUE(strcmp(d1, d2) != 0);
	assert_snapshot(d1);
	ASSERT_EQ(
	    cn_test_sh(
		"test ! -e '%s/empty.txt' && test ! -e '%s/weights' && test -e '%s/empty.txt'", d2,
		d2, d1),
	    0);
	ASSERT_EQ(cn_test_sh("grep -q '\"hidden_size\": 16' '%s/config.json' && grep -q "
			     "'\"hidden_size\": 8' '%s/config.json'",
			     d2, d1),
		  0);
	ASSERT_EQ(cn_test_sh("test $(find '%s' -type f | wc -l) = 6", d2), 0);
	free(c1);
	free(d1);
	free(c2);
	free(d2);
	free(root);
}

/* A second download of the same commit waits for the first (flock on the staging lock). */
static void test_lock(void)
{
	struct cn_hub_opts o = opts();
	char *root = staging("lock"), lock[8192], done[8192];
	json_t *info = get_json("/api/models/solo/revision/main");
	const char *c = json_string_value(json_object_get(info, "sha"));
	_cleanup_close_ int fd = -EBADF;
	pid_t pid;
	int status;

	ASSERT_OK(mkdir(root, 0755));
	(void)snprintf(lock, sizeof(lock), "%s/.solo@%s.lock", root, c);
	(void)snprintf(done, sizeof(done), "%s/solo@%s", root, c);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(flock(fd, LOCK_EX));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		char *commit = NULL, *dir = NULL;
		bool cache;

		_exit(cn_hub_snapshot(&o, "solo", NULL, root, &commit, &dir, &cache) == 0 ? 0 : 1);
	}
	(void)usleep(700000);
	ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0); /* still waiting for the lock */
	ASSERT_EQ(access(done, F_OK), -1);
	ASSERT_OK(flock(fd, LOCK_UN));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_OK(access(done, F_OK));
	assert_snapshot(done);
	json_decref(info);
	free(root);
}

static const struct cn_test tests[] = {
    T(lock),
    T(two_revisions),
    T(http_wrapper),
    T(resume_across_runs),
    T(good),
    T(legacy_id_and_parallel_one),
    T(auth),
    T(not_found),
    T(invalid_input),
    T(untrusted_server),
    T(transient_errors),
    T(rate_limited),
    T(corrupt),
    T(unsafe_listing),
    T(stall),
    T(trickle),
    T(offline),
    T(disk_full),
};

int main(int argc, char **argv)
{
	const char *clear[] = {"HF_TOKEN",
			       "HUGGING_FACE_HUB_TOKEN",
			       "HF_TOKEN_PATH",
			       "HF_ENDPOINT",
			       "HF_HOME",
			       "HF_HUB_OFFLINE",
			       "HF_HUB_DOWNLOAD_TIMEOUT",
			       "REQUESTS_CA_BUNDLE",
			       "CURL_CA_BUNDLE",
			       "https_proxy",
			       "HTTPS_PROXY",
			       "all_proxy",
			       "ALL_PROXY"};

	for (size_t i = 0; i < ELEMENTSOF(clear); i++)
		(void)unsetenv(clear[i]);
	hub_start();
	return cn_test_main(tests, ELEMENTSOF(tests), argc, argv);
}
