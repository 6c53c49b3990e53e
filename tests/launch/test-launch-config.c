/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The launcher's INI parser and resolver (error cases, truncation and bit-flip sweeps), the
 * claims file, runtime.vars upsert, the persistent disk, the instance lock and clash check.
 */
#include "harness.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "launch/launch.h"

static const struct cn_launch_env env = {.root = "/r", .cwd = "/c", .run_dir = "/run/cocoon"};

static const char good[] = "; the reference's worker.conf shape\n"
			   "[node]\n"
			   "type = worker\n"
			   "owner_address = EQ_owner\n"
			   "Instance: 2\n"
			   "model = Qwen/Qwen3-8B@0123456789abcdef0123456789abcdef01234567\n"
			   "gpu = 0000:ab:00.00\n"
			   "test = yes\n"
			   "# comment\n"
			   "image-dir = /images/test\n"
			   "model_tar = /stale/path.tar\n"
			   "hf_token = hf_%%secret\n";

static int parse_resolve(const char *ini, struct cn_launch_config *ret)
{
	struct cn_launch_settings s;
	int r = cn_launch_settings_parse(ini, strlen(ini), "w.conf", &s);

	if (r < 0)
		return r;
	r = cn_launch_config_resolve(&s, &env, false, ret);
	cn_launch_settings_done(&s);
	return r;
}

static void test_good(void)
{
	struct cn_launch_config c;

	ASSERT_OK(parse_resolve(good, &c));
	ASSERT_EQ(c.type, CN_NODE_WORKER);
	ASSERT_EQ(c.instance, 2);
	ASSERT_EQ(c.cid, 26);
	ASSERT_STREQ(c.gpu, "0000:ab:00.00"); /* verbatim, as the reference */
	ASSERT_TRUE(c.test);
	ASSERT_STREQ(c.image_dir, "/images/test");
	ASSERT_STREQ(c.hf_token, "hf_%secret");
	ASSERT_STREQ(c.persistent, "/r/persistent-worker-2.img");
	cn_launch_config_done(&c);
}

/* Each bad config fails with -EINVAL (or -EOPNOTSUPP) and a message containing want. */
static void expect_bad(const char *ini, int err, const char *want)
{
	struct cn_launch_config c;
	int r;

	cn_err_clear();
	r = parse_resolve(ini, &c);
	if (r != err || !strstr(cn_err_msg(), want))
		(void)fprintf(stderr, "config:\n%s\n-> %d '%s' (want %d '%s')\n", ini, r,
			      cn_err_msg(), err, want);
	ASSERT_EQ(r, err);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), want));
}

static void test_errors(void)
{
	expect_bad("[node]\ntype = worker\nowner_address = x\ngpus = 0000:41:00.0\n", -EINVAL,
		   "w.conf:4: unknown key 'gpus' in [node]");
	expect_bad("[node]\ntype = worker\ntype = proxy\n", -EINVAL,
		   "w.conf:3: key 'type' given twice");
	expect_bad("[node]\ntype = worker\nimage-dir = /a\nimage_dir = /b\n", -EINVAL,
		   "key 'image-dir' given twice");
	expect_bad("type = worker\n[node]\n", -EINVAL,
		   "w.conf:1: key 'type' outside the [node] section");
	expect_bad("[other]\nx = 1\n", -EINVAL, "in [other]");
	expect_bad("[node]\ntype = worker\nowner_address = x\ninstance = -1\n", -EINVAL,
		   "w.conf:4: instance = '-1'");
	expect_bad("[node]\ntype = worker\nowner_address = x\ninstance = one\n", -EINVAL,
		   "instance = 'one'");
	expect_bad("[node]\ntype = worker\nowner_address = x\ninstance = 1000\n", -EINVAL,
		   "from 0 to 999");
	expect_bad("[node]\ntype = worker\nowner_address = x\ninstance = 99999999999999999999\n",
		   -EINVAL, "instance");
	expect_bad("[node]\ntype = worker\nowner_address = x\ninstance = 0x1\n", -EINVAL,
		   "instance");
	expect_bad("[node]\ntype = worker\nowner_address = x\nssh_port = 65536\n", -EINVAL,
		   "ssh_port");
	expect_bad("[node]\ntype = worker\nowner_address = x\nhttp_port = 0\n", -EINVAL, "port 0");
	expect_bad("[node]\ntype = worker\nowner_address = x\nssh_port = 65530\ninstance = 1\n",
		   -EINVAL, "above 65535");
	expect_bad(
	    "[node]\ntype = worker\nowner_address = x\nvsock_cid = 4294967290\ninstance = 1\n",
	    -EINVAL, "not a guest CID");
	expect_bad("[node]\ntype = worker\nowner_address = x\nvsock_cid = 1\n", -EINVAL,
		   "not a guest CID");
	expect_bad("[node]\ntype = worker\nowner_address = x\ntest = maybe\n", -EINVAL,
		   "test = 'maybe'");
	expect_bad("[node]\ntype = vm\nowner_address = x\n", -EINVAL,
		   "expected worker, proxy or client");
	/* One host port forwarded twice (issue 10 item 7). */
	expect_bad("[node]\ntype = worker\nowner_address = x\nssh_port = 12000\n", -EINVAL,
		   "host port 12000 is used twice: ssh_port and http_port");
	expect_bad("[node]\ntype = proxy\nowner_address = x\nclient_rpc_port = 11001\n", -EINVAL,
		   "host port 11001 is used twice: worker_rpc_port and client_rpc_port");
	expect_bad("[node]\ntype = proxy\nowner_address = x\ninstance = 1\nhttp_port = 11005\n",
		   -EINVAL, "host port 11015 is used twice: ssh_port and http_port");
	expect_bad("[node]\nowner_address = x\n", -EINVAL, "no node type");
	expect_bad("[node]\ntype = worker\n", -EINVAL, "no owner address");
	expect_bad("[node]\ntype = worker\nowner_address = x\ngpu = 41:00\n", -EINVAL,
		   "PCI address");
	expect_bad("[node]\ntype = worker\nowner_address = x\ngpu = 0000:41:00.0,x=1\n", -EINVAL,
		   "PCI address");
	expect_bad("[node]\ntype = worker\nowner_address = x\nhf_token = a%(b)s\n", -EINVAL,
		   "interpolation");
	expect_bad("[node]\ntype = worker\nowner_address = x\nmodel =\n", -EINVAL,
		   "model required for a worker");
	expect_bad("[node]\ntype = worker\nowner_address = x\npersistent =\n", -EINVAL,
		   "empty path");
	expect_bad("[node]\ntype = worker\nowner_address = x\nthis is not ini\n", -EINVAL,
		   "w.conf:4: not an INI line");
	expect_bad("[node]\ntype = worker\nowner_address\n", -EINVAL, "w.conf:3");
	expect_bad("", -EINVAL, "no [node] section");
	expect_bad("[node]\ntype = worker\nowner_address = x\nmodel = a\n  continued\n", -EINVAL,
		   "given twice");
	{
		char *big = malloc(CN_LAUNCH_LINE_MAX + 64);

		memcpy(big, "[node]\nowner_address = ", 23);
		memset(big + 23, 'a', CN_LAUNCH_LINE_MAX);
		strcpy(big + 23 + CN_LAUNCH_LINE_MAX, "\n");
		expect_bad(big, -EINVAL, "w.conf:2: line longer than");
		free(big);
	}
	{
		struct cn_launch_settings s;
		static const char nul[] = "[node]\ntype = wor\0ker\n";

		ASSERT_ERR(cn_launch_settings_parse(nul, sizeof(nul) - 1, "n.conf", &s), -EINVAL);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), "NUL byte"));
	}
	{
		struct cn_launch_settings s;
		static const char ctl[] = "[node]\ntype = wor\x1bker\n";

		ASSERT_ERR(cn_launch_settings_parse(ctl, sizeof(ctl) - 1, "n.conf", &s), -EINVAL);
	}
	/* Missing file. */
	{
		struct cn_launch_settings s;

		ASSERT_ERR(cn_launch_settings_load("/nonexistent/worker.conf", &s), -ENOENT);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), "/nonexistent/worker.conf"));
	}
}

/* Every truncation and every single-bit flip of a good config: no crash, no leak, and a
 * success always resolves to something the argv builder takes. */
static void sweep_one(const char *buf, size_t len)
{
	struct cn_launch_settings s;
	struct cn_launch_config c;
	struct cn_strv a = {0};

	if (cn_launch_settings_parse(buf, len, "f.conf", &s) < 0)
		return;
	if (cn_launch_config_resolve(&s, &env, false, &c) == 0) {
		struct cn_launch_inputs in = {.cfg = &c,
					      .image_cmdline = "x",
					      .spec_share = "/s",
					      .model_tar = "/t",
					      .model_verity = "/t.verity",
					      .instance_dir = "/run/i"};

		if (cn_launch_argv(&in, &a) == 0)
			cn_strv_done(&a);
		cn_launch_config_done(&c);
	}
	cn_launch_settings_done(&s);
}

static void test_sweeps(void)
{
	size_t n = strlen(good);
	char *buf = malloc(n + 1);

	for (size_t i = 0; i <= n; i++) {
		memcpy(buf, good, i);
		sweep_one(buf, i);
	}
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(buf, good, n);
			buf[i] = (char)(buf[i] ^ (1 << b));
			sweep_one(buf, n);
		}
	free(buf);
}

static void test_claims(void)
{
	struct cn_launch_config c;
	struct cn_launch_claims k, back, other;
	char *json;

	ASSERT_OK(parse_resolve(
	    "[node]\ntype = proxy\nowner_address = x\ninstance = 1\ngpu = 0000:41:00.0\n", &c));
	ASSERT_OK(cn_launch_claims_from_config(&c, &k));
	ASSERT_EQ(k.cid, 17);
	ASSERT_EQ(k.n_ports, 4);
	json = cn_launch_claims_json(&k);
	ASSERT_NOT_NULL(json);
	ASSERT_OK(cn_launch_claims_parse(json, strlen(json), &back));
	ASSERT_EQ(back.cid, 17);
	ASSERT_EQ(back.ports[3], 11012);
	ASSERT_STREQ(back.gpu, "0000:41:00.0");
	ASSERT_STREQ(back.name, "cocoon-proxy-1");
	/* Same claims clash; change each shared thing in turn. */
	ASSERT_ERR(cn_launch_claims_conflict(&k, &back), -EADDRINUSE);
	back.cid = 99;
	ASSERT_ERR(cn_launch_claims_conflict(&k, &back), -EADDRINUSE);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "host port 11015"));
	back.n_ports = 0;
	ASSERT_ERR(cn_launch_claims_conflict(&k, &back), -EADDRINUSE);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "persistent disk"));
	free(back.persistent);
	back.persistent = strdup("/other.img");
	ASSERT_ERR(cn_launch_claims_conflict(&k, &back), -EADDRINUSE);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "GPU 0000:41:00.0"));
	free(back.gpu);
	back.gpu = NULL;
	ASSERT_OK(cn_launch_claims_conflict(&k, &back));
	cn_launch_claims_done(&back);

	/* Strict parsing; truncations and flips never crash. */
	ASSERT_FAIL(cn_launch_claims_parse("{}", 2, &other));
	ASSERT_FAIL(cn_launch_claims_parse(
	    "{\"name\":\"a\",\"cid\":-1,\"ports\":[],\"persistent\":\"/p\"}", 51, &other));
	ASSERT_FAIL(cn_launch_claims_parse(
	    "{\"name\":\"a\",\"cid\":3,\"ports\":[0],\"persistent\":\"/p\"}", 50, &other));
	ASSERT_FAIL(cn_launch_claims_parse(
	    "{\"name\":\"a\",\"cid\":3,\"ports\":[],\"persistent\":\"/p\",\"x\":1}", 56, &other));
	for (size_t i = 0; i < strlen(json); i++) {
		if (cn_launch_claims_parse(json, i, &other) == 0)
			cn_launch_claims_done(&other);
		for (int b = 0; b < 8; b++) {
			char *m = strdup(json);

			m[i] = (char)(m[i] ^ (1 << b));
			if (cn_launch_claims_parse(m, strlen(json), &other) == 0)
				cn_launch_claims_done(&other);
			free(m);
		}
	}
	free(json);
	cn_launch_claims_done(&k);
	cn_launch_config_done(&c);
}

/* The reference's order and upsert (Config.get_runtime_vars, prepare_spec). */
static void test_vars_upsert(void)
{
	struct cn_launch_config c = {.type = CN_NODE_WORKER,
				     .instance = 2,
				     .owner_address = (char *)"EQ_owner",
				     .root_contract_address = (char *)"EQ_root",
				     .model = (char *)"Qwen/Qwen3-8B",
				     .external_ip = (char *)"10.0.2.2",
				     .external_worker_port = 11001,
				     .external_client_port = 11002,
				     .worker_coefficient = (char *)"1000",
				     .hf_token = (char *)"",
				     .node_wallet_key = (char *)"KEY",
				     .ton_config_base = NULL,
				     .fake_ton = false};
	struct cn_launch_model_ref m = {"Qwen/Qwen3-8B", "abc", "00ff"};
	char *sk[] = {(char *)"OWNER_ADDRESS", (char *)"X", (char *)"X"};
	char *sv[] = {(char *)"over", (char *)"1", (char *)"2"};
	struct cn_launch_vars v = {0};
	char spec[256], share[256], path[1024], *text;
	size_t len;

	ASSERT_OK(cn_launch_runtime_vars(&c, &m, sk, sv, 3, &v));
	{
		static const char *const want[][2] = {
		    {"OWNER_ADDRESS", "over"},	       {"X", "2"},
		    {"MODEL_NAME", "Qwen/Qwen3-8B"},   {"MODEL_COMMIT", "abc"},
		    {"MODEL_VERITY_HASH", "00ff"},     {"ROOT_CONTRACT_ADDRESS", "EQ_root"},
		    {"EXTERNAL_IP", "10.0.2.2"},       {"EXTERNAL_WORKER_PORT", "11021"},
		    {"EXTERNAL_CLIENT_PORT", "11022"}, {"WORKER_COEFFICIENT", "1000"},
		    {"NODE_WALLET_KEY", "KEY"},
		};

		ASSERT_EQ(v.keys.n, ELEMENTSOF(want));
		for (size_t i = 0; i < ELEMENTSOF(want); i++) {
			ASSERT_STREQ(v.keys.v[i], want[i][0]);
			ASSERT_STREQ(v.values.v[i], want[i][1]);
		}
	}
	/* Upsert into an existing runtime.vars: lines with '=' kept unless set again, others
	 * dropped, then every variable; mode 0600. */
	(void)snprintf(spec, sizeof(spec), "%s/upsert-spec", cn_test_tmpdir());
	(void)snprintf(share, sizeof(share), "%s/upsert-share", cn_test_tmpdir());
	ASSERT_EQ(
	    cn_test_sh("mkdir -p %s/runtime && printf 'A=1\\r\\nX=old\\n# c\\nOWNER_ADDRESS=o\\n"
		       "KEY =k' > %s/runtime/runtime.vars && printf b > %s/base.json && "
		       "printf f > %s/full.json",
		       spec, spec, spec, spec),
	    0);
	c.spec_dir = spec;
	(void)snprintf(path, sizeof(path), "%s/base.json", spec);
	c.ton_config_base = strdup(path);
	(void)snprintf(path, sizeof(path), "%s/full.json", spec);
	c.ton_config = strdup(path);
	ASSERT_OK(cn_launch_share_prepare(&c, share, &v));
	(void)snprintf(path, sizeof(path), "%s/runtime/runtime.vars", share);
	text = (char *)cn_test_slurp(path, &len);
	ASSERT_STREQ(text,
		     "A=1\nKEY =k\nOWNER_ADDRESS=over\nX=2\nMODEL_NAME=Qwen/Qwen3-8B\n"
		     "MODEL_COMMIT=abc\nMODEL_VERITY_HASH=00ff\nROOT_CONTRACT_ADDRESS=EQ_root\n"
		     "EXTERNAL_IP=10.0.2.2\nEXTERNAL_WORKER_PORT=11021\nEXTERNAL_CLIENT_PORT="
		     "11022\nWORKER_COEFFICIENT=1000\nNODE_WALLET_KEY=KEY\n");
	free(text);
	ASSERT_EQ(
	    cn_test_sh("test \"$(stat -c %%a %s)\" = 600 && test \"$(cat %s/global.config.json)\" "
		       "= b && test \"$(cat %s/runtime/global.config.json)\" = f",
		       path, share, share),
	    0);
	/* A missing TON config stops, named. */
	free(c.ton_config);
	c.ton_config = strdup("/nonexistent/full.json");
	ASSERT_ERR(cn_launch_share_prepare(&c, share, &v), -ENOENT);
	ASSERT_TRUE(strstr(cn_err_msg(), "ton_config not found: /nonexistent/full.json") != NULL);
	/* A line break in a value would add a variable: refused. */
	free(v.values.v[1]);
	v.values.v[1] = strdup("a\nB=2");
	free(c.ton_config);
	(void)snprintf(path, sizeof(path), "%s/full.json", spec);
	c.ton_config = strdup(path);
	ASSERT_ERR(cn_launch_share_prepare(&c, share, &v), -EINVAL);
	free(c.ton_config);
	free(c.ton_config_base);
	cn_launch_vars_done(&v);
}

/* The .gitignore dialect of the spec tree hash; expectations from `git check-ignore` (2.39). */
static void test_ignore(void)
{
	static const struct {
		const char *gi, *path;
		bool dir, want;
	} cases[] = {
	    {"*.log\n", "a/b.log", false, true},
	    {"*.log\n!keep.log\n", "a/keep.log", false, false},
	    {"/top\n", "a/top", false, false},
	    {"/top\n", "top", false, true},
	    {"logs/\n", "logs", false, false},
	    {"logs/\n", "a/logs", true, true},
	    {"a/**/z\n", "a/z", false, true},
	    {"a/**/z\n", "a/b/c/z", false, true},
	    {"**/c/*.tmp\n", "a/b/c/d.tmp", false, true},
	    {"a/**\n", "a/b/c", false, true},
	    {"x[ab]y\n", "xby", false, true},
	    {"[!a-c]*\n", "bz", false, false},
	    {"[!a-c]*\n", "dz", false, true},
	    {"\\#hash\n", "#hash", false, true},
	    {"# hash\n", "# hash", false, false},
	    {"foo \n", "foo", false, true},
	    {"foo\\ \n", "foo ", false, true},
	    {"a*b\n", "a/b", false, false},
	    {"d/*.c\n", "d/e/f.c", false, false},
	    {"a**b\n", "axxb", false, true},
	    {"?\n", "q", false, true},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		bool got = !cases[i].want;

		ASSERT_OK(cn_launch_ignore_match(cases[i].gi, strlen(cases[i].gi), cases[i].path,
						 cases[i].dir, &got));
		if (got != cases[i].want)
			(void)fprintf(stderr, "case %zu: '%s' on '%s': %d\n", i, cases[i].gi,
				      cases[i].path, got);
		ASSERT_EQ(got, cases[i].want);
	}
	ASSERT_ERR(cn_launch_ignore_match("a\0b", 3, "a", false, &(bool){false}), -EINVAL);
	/* A pattern that would backtrack exponentially is refused, not guessed. */
	{
		char pat[512] = "", path[256] = "";

		for (int i = 0; i < 12; i++)
			(void)strcat(pat, "**/");
		for (int i = 0; i < 20; i++)
			(void)strcat(pat, "*a");
		(void)strcat(pat, "*b\n");
		for (int i = 0; i < 26; i++)
			(void)strcat(path, "a/");
		(void)strcat(path, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
		ASSERT_ERR(cn_launch_ignore_match(pat, strlen(pat), path, false, &(bool){false}),
			   -E2BIG);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), "too costly"));
	}
}

static void test_persistent(void)
{
	char path[512];
	struct stat st;
	bool created;

	(void)snprintf(path, sizeof(path), "%s/persistent-worker-0.img", cn_test_tmpdir());
	ASSERT_OK(cn_launch_ensure_persistent(path, CN_LAUNCH_PERSISTENT_SIZE, &created));
	ASSERT_TRUE(created);
	ASSERT_OK(stat(path, &st));
	ASSERT_U64_EQ(st.st_size, 100ull << 30);
	ASSERT_TRUE((uint64_t)st.st_blocks * 512 < (1u << 20)); /* sparse */
	/* Existing: left alone. */
	ASSERT_OK(truncate(path, 4096));
	ASSERT_OK(cn_launch_ensure_persistent(path, CN_LAUNCH_PERSISTENT_SIZE, &created));
	ASSERT_FALSE(created);
	ASSERT_OK(stat(path, &st));
	ASSERT_EQ(st.st_size, 4096);
	/* Not a file. */
	(void)snprintf(path, sizeof(path), "%s", cn_test_tmpdir());
	ASSERT_FAIL(cn_launch_ensure_persistent(path, 1, &created));
	(void)snprintf(path, sizeof(path), "%s/no/such/dir/p.img", cn_test_tmpdir());
	ASSERT_FAIL(cn_launch_ensure_persistent(path, 1, &created));
}

static void claims_for(const char *ini, struct cn_launch_claims *k)
{
	struct cn_launch_config c;

	ASSERT_OK(parse_resolve(ini, &c));
	ASSERT_OK(cn_launch_claims_from_config(&c, k));
	cn_launch_config_done(&c);
}

static void test_instance_lock(void)
{
	char run[512];
	struct cn_launch_claims w0, w0b, w1, clash;
	int fd0, fd1, fd;

	(void)snprintf(run, sizeof(run), "%s/run", cn_test_tmpdir());
	claims_for("[node]\ntype = worker\nowner_address = x\n", &w0);
	claims_for("[node]\ntype = worker\nowner_address = x\n", &w0b);
	claims_for("[node]\ntype = worker\nowner_address = x\ninstance = 1\n", &w1);
	/* instance 2 but with ports moved onto instance 0's ssh port */
	claims_for("[node]\ntype = worker\nowner_address = x\ninstance = 2\nssh_port = 11985\n",
		   &clash);

	ASSERT_OK(cn_launch_lock_instance(run, &w0, &fd0));
	ASSERT_ERR(cn_launch_lock_instance(run, &w0b, &fd), -EBUSY);
	ASSERT_OK(cn_launch_lock_instance(run, &w1, &fd1));
	ASSERT_ERR(cn_launch_lock_instance(run, &clash, &fd), -EADDRINUSE);
	ASSERT_NOT_NULL(strstr(
	    cn_err_msg(), "host port 12005 is already used by running instance cocoon-worker-0"));
	/* Once instance 0 stops (its lock is released), its stale claims no longer count. */
	(void)close(fd0);
	ASSERT_OK(cn_launch_lock_instance(run, &clash, &fd));
	(void)close(fd);
	(void)close(fd1);
	cn_launch_claims_done(&w0);
	cn_launch_claims_done(&w0b);
	cn_launch_claims_done(&w1);
	cn_launch_claims_done(&clash);
}

/* N launchers at once: one creates the disk, one wins each clashing claim; no torn state. */
static void test_concurrent(void)
{
	char path[512], run[512];
	pid_t pids[6];
	int created = 0, won = 0, release[2];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/race.img", cn_test_tmpdir());
	(void)snprintf(run, sizeof(run), "%s/race-run", cn_test_tmpdir());
	/* The winner holds its lock until the parent has seen every loser exit (closing release).
	 */
	ASSERT_OK(pipe(release));
	for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			bool c = false;
			char ini[160];
			struct cn_launch_claims k;
			int fd;

			if (cn_launch_ensure_persistent(path, CN_LAUNCH_PERSISTENT_SIZE, &c) < 0)
				_exit(99);
			/* every child a different instance, all on the same ssh host port */
			(void)snprintf(ini, sizeof(ini),
				       "[node]\ntype = worker\nowner_address = x\ninstance = %zu\n"
				       "ssh_port = %zu\n",
				       i, 20005 - 10 * i);
			claims_for(ini, &k);
			(void)close(release[1]);
			if (cn_launch_lock_instance(run, &k, &fd) == 0) {
				char b;

				(void)!read(release[0], &b, 1);
				_exit(c ? 11 : 10);
			}
			_exit(c ? 1 : 0);
		}
	}
	(void)close(release[0]);
	alarm(60); /* two winners would both wait: fail instead of hanging */
	for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
		int status;

		ASSERT_TRUE(waitpid(-1, &status, 0) > 0);
		if (i == ELEMENTSOF(pids) - 2)
			(void)close(release[1]); /* all losers are gone: let the winner go */
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 99);
		created += WEXITSTATUS(status) % 10;
		won += WEXITSTATUS(status) >= 10;
	}
	alarm(0);
	ASSERT_EQ(created, 1);
	ASSERT_EQ(won, 1);
	ASSERT_OK(stat(path, &st));
	ASSERT_U64_EQ(st.st_size, CN_LAUNCH_PERSISTENT_SIZE);
	/* no temporaries of the losers left behind */
	ASSERT_EQ(cn_test_sh("! ls -A %s | grep -q '^\\.race\\.img\\.'", cn_test_tmpdir()), 0);
}

static void test_help_lists(void)
{
	const char obj[] =
	    "List of user creatable objects:\n  authz-list\n  iommufd\n  tdx-guest\n";
	const char dev[] =
	    "Network devices:\nname \"virtio-net-pci\", bus PCI, alias \"virtio-net\"\n"
	    "name \"vfio-pci\", bus PCI, desc \"VFIO-based PCI device assignment\"\n";

	ASSERT_TRUE(cn_launch_help_lists(obj, sizeof(obj) - 1, "tdx-guest"));
	ASSERT_TRUE(cn_launch_help_lists(obj, sizeof(obj) - 1, "iommufd"));
	ASSERT_FALSE(cn_launch_help_lists(obj, sizeof(obj) - 1, "tdx"));
	ASSERT_FALSE(cn_launch_help_lists(obj, sizeof(obj) - 1, "sev-guest"));
	ASSERT_TRUE(cn_launch_help_lists(dev, sizeof(dev) - 1, "vfio-pci"));
	ASSERT_FALSE(cn_launch_help_lists(dev, sizeof(dev) - 1, "vfio"));
	ASSERT_FALSE(cn_launch_help_lists(dev, sizeof(dev) - 1, "virtio-9p-pci"));
}

static void test_tree_copy(void)
{
	char src[512], dst[512];

	(void)snprintf(src, sizeof(src), "%s/specsrc", cn_test_tmpdir());
	(void)snprintf(dst, sizeof(dst), "%s/specdst", cn_test_tmpdir());
	ASSERT_EQ(
	    cn_test_sh(
		"mkdir -p %s/spec-worker/sub %s/runtime && printf 'x' > %s/spec-worker/init && "
		"chmod 755 %s/spec-worker/init && ln -s init %s/spec-worker/link && : > "
		"%s/runtime/runtime.vars",
		src, src, src, src, src, src),
	    0);
	ASSERT_EQ(cn_test_sh("mkdir -p %s/stale && : > %s/stale/file", dst, dst), 0);
	ASSERT_OK(cn_launch_copy_tree(src, dst));
	/* Symlinks are followed (shutil.copytree): the share holds a copy. */
	ASSERT_EQ(cn_test_sh("diff -r %s %s && test ! -e %s/stale && test -x "
			     "%s/spec-worker/init && "
			     "test -f %s/spec-worker/link && test ! -L %s/spec-worker/link",
			     src, dst, dst, dst, dst, dst),
		  0);
	/* A fifo in the spec folder is refused, and nothing is left behind. */
	ASSERT_EQ(cn_test_sh("mkfifo %s/spec-worker/fifo", src), 0);
	ASSERT_FAIL(cn_launch_copy_tree(src, dst));
	ASSERT_EQ(cn_test_sh("test ! -e %s", dst), 0);
}

/* The registry prefix: the setting (option or INI) over $COCOON_REGISTRY; checked; "" = none. */
static void test_registry(void)
{
	static const char base[] = "[node]\ntype = worker\nowner_address = x\n";
	struct cn_launch_env e = env;
	struct cn_launch_settings s;
	struct cn_launch_config c;
	char ini[256];

	ASSERT_OK(parse_resolve(base, &c));
	ASSERT_NULL(c.registry);
	cn_launch_config_done(&c);
	(void)snprintf(ini, sizeof(ini), "%sregistry = reg.example:5000/fleet\n", base);
	e.registry = "env.example/models";
	ASSERT_OK(cn_launch_settings_parse(ini, strlen(ini), "w.conf", &s));
	ASSERT_OK(cn_launch_config_resolve(&s, &e, false, &c));
	ASSERT_STREQ(c.registry, "reg.example:5000/fleet"); /* config over env */
	cn_launch_config_done(&c);
	ASSERT_OK(cn_launch_settings_set(&s, CN_LK_REGISTRY, "opt.example/x")); /* option */
	ASSERT_OK(cn_launch_config_resolve(&s, &e, false, &c));
	ASSERT_STREQ(c.registry, "opt.example/x");
	cn_launch_config_done(&c);
	ASSERT_OK(cn_launch_settings_set(&s, CN_LK_REGISTRY, "")); /* empty: none, env not used */
	ASSERT_OK(cn_launch_config_resolve(&s, &e, false, &c));
	ASSERT_NULL(c.registry);
	cn_launch_config_done(&c);
	cn_launch_settings_done(&s);
	ASSERT_OK(cn_launch_settings_parse(base, strlen(base), "w.conf", &s));
	ASSERT_OK(cn_launch_config_resolve(&s, &e, false, &c)); /* env as the fallback */
	ASSERT_STREQ(c.registry, "env.example/models");
	cn_launch_config_done(&c);
	e.registry = "no-host/models";
	cn_err_clear();
	ASSERT_EQ(cn_launch_config_resolve(&s, &e, false, &c), -EINVAL);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "COCOON_REGISTRY: registry prefix 'no-host/models'"));
	cn_launch_settings_done(&s);
	expect_bad("[node]\ntype = worker\nowner_address = x\nregistry = Reg.example/UP\n", -EINVAL,
		   "w.conf:4: registry = 'Reg.example/UP'");
	expect_bad("[node]\ntype = worker\nowner_address = x\nregistry = reg.example/a//b\n",
		   -EINVAL, "registry prefix");
}

/* push: option over INI, off by default, no environment variable; it needs a registry. */
static void test_push(void)
{
	static const char base[] = "[node]\ntype = worker\nowner_address = x\n";
	struct cn_launch_env e = env;
	struct cn_launch_settings s;
	struct cn_launch_config c;
	char ini[256];

	ASSERT_OK(parse_resolve(base, &c));
	ASSERT_FALSE(c.push);
	cn_launch_config_done(&c);
	(void)snprintf(ini, sizeof(ini), "%sregistry = reg.example/m\npush = yes\n", base);
	ASSERT_OK(parse_resolve(ini, &c));
	ASSERT_TRUE(c.push);
	ASSERT_STREQ(c.registry, "reg.example/m");
	cn_launch_config_done(&c);
	/* the option over the INI key; the registry from the environment is enough */
	(void)snprintf(ini, sizeof(ini), "%spush = false\n", base);
	ASSERT_OK(cn_launch_settings_parse(ini, strlen(ini), "w.conf", &s));
	ASSERT_OK(cn_launch_settings_set(&s, CN_LK_PUSH, "true"));
	e.registry = "env.example/models";
	ASSERT_OK(cn_launch_config_resolve(&s, &e, false, &c));
	ASSERT_TRUE(c.push);
	ASSERT_STREQ(c.registry, "env.example/models");
	cn_launch_config_done(&c);
	/* --push without any registry names what is missing */
	e.registry = NULL;
	cn_err_clear();
	ASSERT_EQ(cn_launch_config_resolve(&s, &e, false, &c), -EINVAL);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "--push needs a registry prefix"));
	/* an empty registry setting turns the environment's off: push has none */
	e.registry = "env.example/models";
	ASSERT_OK(cn_launch_settings_set(&s, CN_LK_REGISTRY, ""));
	cn_err_clear();
	ASSERT_EQ(cn_launch_config_resolve(&s, &e, false, &c), -EINVAL);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "(the registry setting is empty)"));
	cn_launch_settings_done(&s);
	expect_bad("[node]\ntype = worker\nowner_address = x\npush = 1\n", -EINVAL,
		   "w.conf:4: push = '1' needs a registry prefix");
	expect_bad(
	    "[node]\ntype = worker\nowner_address = x\nregistry = r.example/m\npush = maybe\n",
	    -EINVAL, "w.conf:5: push = 'maybe': expected true/false");
}

static const struct cn_test tests[] = {
    T(good),	  T(errors),	 T(sweeps),	   T(claims),	  T(vars_upsert),
    T(ignore),	  T(persistent), T(instance_lock), T(concurrent), T(help_lists),
    T(tree_copy), T(registry),	 T(push),
};

CN_TEST_MAIN(tests)
