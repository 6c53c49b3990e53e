/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden QEMU argument vectors: worker and proxy, instances 0-3, with and without a GPU, test
 * and fake-TON flags, --no-tdx; compared element by element with hand-written vectors from
 * the reference table (tests/launch/golden/, spec host-tools §1.2).
 */
#include "harness.h"

#include <limits.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "launch/launch.h"

#define TAR "/srv/cocoon/images/Qwen_Qwen3_0_6B@c1d2.tar"
#define SPEC "/run/cocoon/cocoon-X/spec"
#define GPU "0000:41:00.0"
#define CMDLINE "console=hvc0 roothash=0123abcd swiotlb=1048576"

/* Instance-dependent values, written out (spec: base + 10 x instance). */
static const struct {
	unsigned cid, ssh, http;
} worker_inst[4] = {{6, 12005, 12000}, {16, 12015, 12010}, {26, 12025, 12020}, {36, 12035, 12030}};
static const struct {
	unsigned cid, ssh, http, wrpc, crpc;
} proxy_inst[4] = {{7, 11005, 11000, 11001, 11002},
		   {17, 11015, 11010, 11011, 11012},
		   {27, 11025, 11020, 11021, 11022},
		   {37, 11035, 11030, 11031, 11032}};

static const struct cn_launch_env test_env = {
    .root = "/srv/cocoon",
    .cwd = "/home/op",
    .run_dir = "/run/cocoon",
};

static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *out, *o;

	for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
		n++;
	out = malloc(strlen(s) + n * tl + 1);
	ASSERT_NOT_NULL(out);
	o = out;
	for (;;) {
		const char *p = strstr(s, from);

		if (!p)
			break;
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, tl);
		o += tl;
		s = p + fl;
	}
	strcpy(o, s);
	return out;
}

/* Loads golden/NAME with the placeholders filled in; one argument per line. */
static void load_golden(const char *name, const char *img, const char *persist, unsigned cid,
			unsigned ssh, unsigned http, unsigned wrpc, unsigned crpc,
			struct cn_strv *ret)
{
	char path[PATH_MAX], num[16];
	const char *src = getenv("CN_SOURCE_DIR");
	size_t len;
	char *text, *t;
	struct {
		const char *k;
		const char *v;
	} subst[] = {{"@IMG@", img},
		     {"@PERSIST@", persist},
		     {"@SPEC@", SPEC},
		     {"@TAR@", TAR},
		     {"@GPU@", GPU}};

	ASSERT_NOT_NULL(src);
	(void)snprintf(path, sizeof(path), "%s/tests/launch/golden/%s", src, name);
	text = (char *)cn_test_slurp(path, &len);
	for (size_t i = 0; i < ELEMENTSOF(subst); i++) {
		t = replace_all(text, subst[i].k, subst[i].v);
		free(text);
		text = t;
	}
	{
		const struct {
			const char *k;
			unsigned v;
		} nums[] = {{"@CID@", cid},
			    {"@SSH@", ssh},
			    {"@HTTP@", http},
			    {"@WRPC@", wrpc},
			    {"@CRPC@", crpc}};

		for (size_t i = 0; i < ELEMENTSOF(nums); i++) {
			(void)snprintf(num, sizeof(num), "%u", nums[i].v);
			t = replace_all(text, nums[i].k, num);
			free(text);
			text = t;
		}
	}
	*ret = (struct cn_strv){0};
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ASSERT_NOT_NULL(nl);
		*nl = '\0';
		ASSERT_OK(cn_strv_push(ret, line));
	}
	free(text);
}

static void make_config(const char *ini, bool no_tdx, struct cn_launch_config *ret)
{
	struct cn_launch_settings s;

	ASSERT_OK(cn_launch_settings_parse(ini, strlen(ini), "test.conf", &s));
	ASSERT_OK(cn_launch_config_resolve(&s, &test_env, no_tdx, ret));
	cn_launch_settings_done(&s);
}

static void compare(const struct cn_strv *got, size_t n_ref, const struct cn_strv *want)
{
	if (n_ref != want->n) {
		for (size_t i = 0; i < got->n; i++)
			(void)fprintf(stderr, "got[%zu] %s\n", i, got->v[i]);
	}
	ASSERT_EQ(n_ref, want->n);
	for (size_t i = 0; i < want->n; i++)
		if (strcmp(got->v[i], want->v[i]) != 0) {
			(void)fprintf(stderr, "argument %zu differs:\n  got  '%s'\n  want '%s'\n",
				      i, got->v[i], want->v[i]);
			ASSERT_STREQ(got->v[i], want->v[i]);
		}
}

/* Builds argv for the config and checks the reference part against the golden file, and
 * the host-only block after it. */
static void check_case(const char *ini, bool no_tdx, bool model, const char *golden, unsigned cid,
		       unsigned ssh, unsigned http, unsigned wrpc, unsigned crpc)
{
	struct cn_launch_config c;
	struct cn_strv got = {0}, want;
	char *name;
	char dir[128], buf[256];
	struct cn_launch_inputs in;

	make_config(ini, no_tdx, &c);
	name = cn_launch_instance_name(&c);
	(void)snprintf(dir, sizeof(dir), "/run/cocoon/%s", name);
	in = (struct cn_launch_inputs){.cfg = &c,
				       .image_cmdline = CMDLINE,
				       .model_tar = model ? TAR : NULL,
				       .model_verity = model ? TAR ".verity" : NULL,
				       .spec_share = SPEC,
				       .instance_dir = dir};
	ASSERT_OK(cn_launch_argv(&in, &got));
	load_golden(golden, c.image_dir, c.persistent, cid, ssh, http, wrpc, crpc, &want);
	ASSERT_EQ(got.n, want.n + CN_LAUNCH_HOST_ONLY_ARGS);
	compare(&got, got.n - CN_LAUNCH_HOST_ONLY_ARGS, &want);

	/* Host-only block: nothing the guest sees. */
	ASSERT_STREQ(got.v[want.n + 0], "-name");
	ASSERT_STREQ(got.v[want.n + 1], name);
	ASSERT_STREQ(got.v[want.n + 2], "-pidfile");
	(void)snprintf(buf, sizeof(buf), "%s/qemu.pid", dir);
	ASSERT_STREQ(got.v[want.n + 3], buf);
	ASSERT_STREQ(got.v[want.n + 4], "-qmp");
	(void)snprintf(buf, sizeof(buf), "unix:%s/qmp.sock,server=on,wait=off", dir);
	ASSERT_STREQ(got.v[want.n + 5], buf);
	ASSERT_STREQ(got.v[want.n + 6], "-D");
	(void)snprintf(buf, sizeof(buf), "%s/qemu.log", dir);
	ASSERT_STREQ(got.v[want.n + 7], buf);
	ASSERT_NULL(got.v[got.n]);

	free(name);
	cn_strv_done(&got);
	cn_strv_done(&want);
	cn_launch_config_done(&c);
}

static void test_worker_instances(void)
{
	char ini[512];

	for (unsigned i = 0; i < 4; i++) {
		(void)snprintf(ini, sizeof(ini),
			       "[node]\ntype = worker\nowner_address = EQ_owner\ninstance = %u\n",
			       i);
		check_case(ini, false, true, "worker.argv", worker_inst[i].cid, worker_inst[i].ssh,
			   worker_inst[i].http, 0, 0);
		(void)snprintf(
		    ini, sizeof(ini),
		    "[node]\ntype = worker\nowner_address = EQ_owner\ninstance = %u\ngpu = " GPU
		    "\n",
		    i);
		check_case(ini, false, true, "worker-gpu.argv", worker_inst[i].cid,
			   worker_inst[i].ssh, worker_inst[i].http, 0, 0);
		(void)snprintf(ini, sizeof(ini),
			       "[node]\ntype = worker\nowner_address = EQ_owner\ninstance = "
			       "%u\ntest = yes\nfake_ton = on\n",
			       i);
		check_case(ini, false, true, "worker-test-faketon.argv", worker_inst[i].cid,
			   worker_inst[i].ssh, worker_inst[i].http, 0, 0);
		(void)snprintf(ini, sizeof(ini),
			       "[node]\ntype = worker\nowner_address = EQ_owner\ninstance = "
			       "%u\ntest = 1\nfake_ton = true\n"
			       "gpu = " GPU "\n",
			       i);
		check_case(ini, false, true, "worker-test-faketon-gpu.argv", worker_inst[i].cid,
			   worker_inst[i].ssh, worker_inst[i].http, 0, 0);
	}
}

static void test_proxy_instances(void)
{
	char ini[512];

	for (unsigned i = 0; i < 4; i++) {
		(void)snprintf(ini, sizeof(ini),
			       "[node]\ntype = proxy\nowner_address = EQ_owner\ninstance = %u\n",
			       i);
		check_case(ini, false, false, "proxy.argv", proxy_inst[i].cid, proxy_inst[i].ssh,
			   proxy_inst[i].http, proxy_inst[i].wrpc, proxy_inst[i].crpc);
		(void)snprintf(
		    ini, sizeof(ini),
		    "[node]\ntype = proxy\nowner_address = EQ_owner\ninstance = %u\ngpu = " GPU
		    "\n",
		    i);
		check_case(ini, false, false, "proxy-gpu.argv", proxy_inst[i].cid,
			   proxy_inst[i].ssh, proxy_inst[i].http, proxy_inst[i].wrpc,
			   proxy_inst[i].crpc);
	}
}

static void test_no_tdx(void)
{
	check_case("[node]\ntype = worker\nowner_address = x\n", true, true, "worker-notdx.argv", 6,
		   12005, 12000, 0, 0);
}

/* Only the instance may change CID, host ports and persistent path: everything else equal. */
static void test_instance_changes_only_allowed_args(void)
{
	struct cn_launch_config c0, c3;
	struct cn_strv a0 = {0}, a3 = {0};
	struct cn_launch_inputs in = {.image_cmdline = CMDLINE,
				      .model_tar = TAR,
				      .model_verity = TAR ".verity",
				      .spec_share = SPEC};

	make_config("[node]\ntype = worker\nowner_address = x\ngpu = " GPU "\n", false, &c0);
	make_config("[node]\ntype = worker\nowner_address = x\ngpu = " GPU "\ninstance = 3\n",
		    false, &c3);
	in.cfg = &c0;
	ASSERT_OK(cn_launch_argv(&in, &a0));
	in.cfg = &c3;
	ASSERT_OK(cn_launch_argv(&in, &a3));
	ASSERT_EQ(a0.n, a3.n);
	for (size_t i = 0; i < a0.n; i++) {
		if (strcmp(a0.v[i], a3.v[i]) == 0)
			continue;
		ASSERT_TRUE(strncmp(a0.v[i], "vhost-vsock-pci,", 16) == 0 ||
			    strncmp(a0.v[i], "user,id=user.0,", 15) == 0 ||
			    strstr(a0.v[i], "persistent-worker-0.img"));
	}
	ASSERT_STREQ(c0.persistent, "/srv/cocoon/persistent-worker-0.img");
	ASSERT_STREQ(c3.persistent, "/srv/cocoon/persistent-worker-3.img");
	cn_strv_done(&a0);
	cn_strv_done(&a3);
	cn_launch_config_done(&c0);
	cn_launch_config_done(&c3);
}

static void test_overrides_and_paths(void)
{
	struct cn_launch_config c;
	struct cn_launch_settings s;
	const char *ini =
	    "[node]\ntype = worker\nowner_address = x\nimage_dir = img\npersistent = disks/p.img\n"
	    "vsock_cid = 100\nssh_port = 2222\nhttp_port = 8080\ninstance = 2\n";

	ASSERT_OK(cn_launch_settings_parse(ini, strlen(ini), "t.conf", &s));
	ASSERT_STREQ(s.v[CN_LK_IMAGE_DIR], "img");
	/* The command line wins over the INI. */
	ASSERT_OK(cn_launch_settings_set(&s, CN_LK_INSTANCE, "1"));
	ASSERT_OK(cn_launch_config_resolve(&s, &test_env, false, &c));
	ASSERT_STREQ(c.image_dir, "/home/op/img");
	ASSERT_STREQ(c.persistent, "/home/op/disks/p.img");
	ASSERT_EQ(c.cid, 110); /* an explicit CID is offset too (reference) */
	ASSERT_EQ(c.host_ssh_port, 2232);
	ASSERT_EQ(c.host_http_port, 8090);
	ASSERT_EQ(c.http_port, 8080);				  /* guest port = configured port */
	ASSERT_STREQ(c.spec_dir, "/srv/cocoon/spec/spec-worker"); /* reference: spec-TYPE */
	ASSERT_STREQ(c.ton_config, "/srv/cocoon/spec/mainnet-full-ton-config.json");
	ASSERT_STREQ(c.root_contract_address, "EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0");
	ASSERT_STREQ(c.models_dir, "/srv/cocoon/images");
	ASSERT_STREQ(c.model, "Qwen/Qwen3-0.6B");
	cn_launch_config_done(&c);
	cn_launch_settings_done(&s);

	/* test = true picks images/test by default. */
	make_config("[node]\ntype = worker\nowner_address = x\ntest = true\n", false, &c);
	ASSERT_STREQ(c.image_dir, "/srv/cocoon/images/test");
	cn_launch_config_done(&c);
	/* image-dir with a hyphen (the reference's spelling). */
	make_config("[node]\ntype = proxy\nowner_address = x\nimage-dir = /abs/dir\n", false, &c);
	ASSERT_STREQ(c.image_dir, "/abs/dir");
	ASSERT_NULL(c.model);
	cn_launch_config_done(&c);
	/* fake_ton defaults (spec §1.2). */
	make_config("[node]\ntype = worker\nowner_address = x\nfake_ton = yes\n", false, &c);
	ASSERT_STREQ(c.external_ip, "10.0.2.2");
	ASSERT_EQ(c.external_worker_port, 11001);
	ASSERT_EQ(c.external_client_port, 11002);
	cn_launch_config_done(&c);
}

static void test_kernel_cmdline(void)
{
	char s[] = " \t\n console=hvc0  x=1 \r\n\x0b\x1f ";
	struct cn_launch_config c = {0};
	char *out;

	cn_launch_cmdline_strip(s);
	ASSERT_STREQ(s, "console=hvc0  x=1");
	ASSERT_OK(cn_launch_kernel_cmdline(s, &c, &out));
	ASSERT_STREQ(out, "console=hvc0  x=1 modprobe.blacklist=nvidia");
	free(out);
	c.test = c.fake_ton = true;
	c.gpu = (char *)GPU;
	ASSERT_OK(cn_launch_kernel_cmdline(s, &c, &out));
	ASSERT_STREQ(out, "console=hvc0  x=1 cocoon_debug cocoon_fake_ton cocoon_gpu");
	free(out);
	c.fake_ton = false;
	ASSERT_OK(cn_launch_kernel_cmdline(s, &c, &out));
	ASSERT_STREQ(out, "console=hvc0  x=1 cocoon_debug cocoon_gpu");
	free(out);
}

static void test_extra_and_commas(void)
{
	struct cn_launch_config c;
	struct cn_strv a = {0};
	char *extra[] = {(char *)"-S", (char *)"-d", (char *)"guest_errors"};
	struct cn_launch_inputs in = {
	    .image_cmdline = CMDLINE, .spec_share = "/s,p", .extra = extra, .n_extra = 3};

	make_config("[node]\ntype = proxy\nowner_address = x\npersistent = /d/a,b.img\n", false,
		    &c);
	in.cfg = &c;
	ASSERT_OK(cn_launch_argv(&in, &a));
	ASSERT_STREQ(a.v[a.n - 3], "-S");
	ASSERT_STREQ(a.v[a.n - 1], "guest_errors");
	/* Commas in option values are doubled (QEMU's escape); the reference would break here. */
	for (size_t i = 0; i < a.n; i++)
		if (strncmp(a.v[i], "cache=writeback,file=/d/", 24) == 0)
			ASSERT_STREQ(a.v[i],
				     "cache=writeback,file=/d/"
				     "a,,b.img,format=raw,id=drive2,if=none,index=2,werror=report");
	ASSERT_STREQ(a.v[0], "qemu-system-x86_64");
	cn_strv_done(&a);
	/* A control character in a path is refused. */
	in.spec_share = "/s\np";
	ASSERT_ERR(cn_launch_argv(&in, &a), -EINVAL);
	cn_launch_config_done(&c);
}

static void test_shell_and_json(void)
{
	char *v[] = {(char *)"qemu", (char *)"-append", (char *)"a b",
		     (char *)"it's", (char *)"",	(char *)"x=1,y"};
	char *s = cn_launch_argv_shell(v, ELEMENTSOF(v));

	ASSERT_STREQ(s, "qemu -append 'a b' 'it'\"'\"'s' '' x=1,y");
	free(s);
	s = cn_launch_argv_json(v, ELEMENTSOF(v));
	ASSERT_STREQ(s, "[\"qemu\",\"-append\",\"a b\",\"it's\",\"\",\"x=1,y\"]");
	free(s);
	/* Round trip through a real shell. */
	{
		char *q = cn_launch_shell_quote("a'b\"c $HOME `x` \\ ;|&");

		ASSERT_EQ(
		    cn_test_sh("test \"$(printf '%%s' %s)\" = 'a'\"'\"'b\"c $HOME `x` \\ ;|&'", q),
		    0);
		free(q);
	}
}

static const struct cn_test tests[] = {
    T(worker_instances),
    T(proxy_instances),
    T(no_tdx),
    T(instance_changes_only_allowed_args),
    T(overrides_and_paths),
    T(kernel_cmdline),
    T(extra_and_commas),
    T(shell_and_json),
};

CN_TEST_MAIN(tests)
