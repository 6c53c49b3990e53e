/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon launch (alias cocoon-launch): starts one TDX guest (worker or proxy) for one GPU.
 *
 *   cocoon-launch [OPTIONS] CONFIG [-- EXTRA-QEMU-ARGS...]
 *
 * Options and output only; the use case (plan, prepare, exec) is src/launch/run.c.
 * Exit codes: see usage() and docs/reference/launch.md.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "cli/cli.h"
#include "launch/launch.h"
#include "launch/run.h"

static const char *launch_prog(void)
{
	return strcmp(cli_prog(), "cocoon") == 0 ? "cocoon launch" : cli_prog();
}

static void usage(FILE *f, const char *prog)
{
	(void)fprintf(
	    f,
	    "Usage: %s [OPTIONS] CONFIG [-- EXTRA-QEMU-ARGS...]\n"
	    "\n"
	    "Starts one COCOON TDX guest (worker or proxy) with QEMU, for one GPU. CONFIG is the\n"
	    "reference INI file ([node] section). Options override it and must come before "
	    "CONFIG;\n"
	    "extra QEMU arguments go after an explicit '--' (they can change the TDX "
	    "measurement).\n"
	    "Node type 'client' (runs locally, no VM): only --prepare-only (its spec share).\n"
	    "\n"
	    "Node settings (same as the INI keys):\n"
	    "  --type worker|proxy|client  node type (INI: type)\n"
	    "  --instance N                instance number: vsock CID and host ports + 10*N\n"
	    "  --gpu BDF                   pass this GPU through (vfio-pci)\n"
	    "  --model SPEC                worker model NAME[@COMMIT[:ROOTHASH]]\n"
	    "  --persistent PATH           persistent disk (default <root>/persistent-TYPE-N.img)\n"
	    "  --image-dir DIR             guest image folder (default <root>/images/prod|test)\n"
	    "  --spec DIR                  spec folder shared with the guest (default "
	    "<root>/spec/spec-TYPE)\n"
	    "  --ssh-port P, --vsock-cid C base values before the instance offset\n"
	    "  --owner-address A, --root-contract-address A, --worker-coefficient N,\n"
	    "  --hf-token T, --external-ip IP, --external-worker-port P, --external-client-port "
	    "P,\n"
	    "  --node-wallet-key K, --build-dir DIR\n"
	    "  --ton-config-base F         TON config base (default "
	    "<root>/spec/mainnet-base-ton-config.json)\n"
	    "  --ton-config F              full TON config (default "
	    "<root>/spec/mainnet-full-ton-config.json);\n"
	    "                              both must exist unless fake TON\n"
	    "  --test                      test image and cocoon_debug on the kernel command line\n"
	    "  --fake-ton, --pseudo        fake TON: cocoon_fake_ton, the spec's fake-TON edits\n"
	    "  --set KEY=VALUE             extra runtime variable in runtime/runtime.vars\n"
	    "  --tar-format F              model image format: gnu-1.35 (default) or gnu-1.34\n"
	    "\n"
	    "Launcher options:\n"
	    "  --print-only                print the QEMU command line (shell-quoted) and stop; "
	    "no\n"
	    "                              side effects: no build, no GPU check, no files\n"
	    "  --json                      with --print-only: {argv, spec_tree}; with\n"
	    "                              --prepare-only: {spec_dir, spec_tree}\n"
	    "  --skip-build                use the model image from the cache only\n"
	    "  --model-image TAR           use this built model image (TAR, TAR.verity, TAR.hash)\n"
	    "  --just-build                build the model image, print its line and stop\n"
	    "  --prepare-only              prepare the spec share (and the worker's model image)\n"
	    "                              and stop: no GPU or host checks, no disk, no QEMU\n"
	    "  --no-tdx                    no tdx-guest object (for hosts without TDX)\n"
	    "  --qemu PATH                 QEMU binary (default qemu-system-x86_64 from PATH)\n"
	    "  --run-dir DIR               run folder (default /run/cocoon, or "
	    "$XDG_RUNTIME_DIR/cocoon)\n"
	    "  --models-dir DIR            model image cache (default $COCOON_IMAGES_DIR, "
	    "<root>/images)\n"
	    "  --dev-dir DIR, --sysfs-dir DIR   /dev and /sys (tests)\n"
	    "  -d, --debug                 debug messages\n"
	    "  -h, --help                  this help\n"
	    "\n"
	    "<root> is $COCOON_ROOT, else the working directory.\n"
	    "Exit status: 0 ok (QEMU replaces the launcher), 1 failure, 2 usage or configuration "
	    "error,\n"
	    "3 GPU not ready, 4 missing prerequisite (image file, QEMU feature, vhost-vsock),\n"
	    "5 in use (instance running, host port, vsock CID, disk or GPU taken).\n",
	    prog);
}

enum {
	OPT_TYPE = 0x100,
	OPT_SPEC,
	OPT_MODEL,
	OPT_OWNER,
	OPT_ROOT_CONTRACT,
	OPT_COEFF,
	OPT_HF_TOKEN,
	OPT_EXT_IP,
	OPT_EXT_WORKER_PORT,
	OPT_EXT_CLIENT_PORT,
	OPT_WALLET,
	OPT_TON_BASE,
	OPT_TON,
	OPT_TEST,
	OPT_FAKE_TON,
	OPT_LOCAL_ALL,
	OPT_PREPARE_ONLY,
	OPT_PRINT_ONLY,
	OPT_SKIP_BUILD,
	OPT_JUST_BUILD,
	OPT_INSTANCE,
	OPT_PERSISTENT,
	OPT_GPU,
	OPT_SSH_PORT,
	OPT_VSOCK_CID,
	OPT_TCP,
	OPT_NO_TDX,
	OPT_IMAGE_DIR,
	OPT_BUILD_DIR,
	OPT_SET,
	OPT_JSON,
	OPT_QEMU,
	OPT_RUN_DIR,
	OPT_MODELS_DIR,
	OPT_DEV_DIR,
	OPT_SYSFS_DIR,
	OPT_MODEL_IMAGE,
	OPT_TAR_FORMAT,
};

static const struct option options[] = {
    {"type", required_argument, NULL, OPT_TYPE},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"model", required_argument, NULL, OPT_MODEL},
    {"owner-address", required_argument, NULL, OPT_OWNER},
    {"root-contract-address", required_argument, NULL, OPT_ROOT_CONTRACT},
    {"worker-coefficient", required_argument, NULL, OPT_COEFF},
    {"hf-token", required_argument, NULL, OPT_HF_TOKEN},
    {"external-ip", required_argument, NULL, OPT_EXT_IP},
    {"external-worker-port", required_argument, NULL, OPT_EXT_WORKER_PORT},
    {"external-client-port", required_argument, NULL, OPT_EXT_CLIENT_PORT},
    {"wallet-private-key", required_argument, NULL, OPT_WALLET},
    {"node-wallet_key", required_argument, NULL, OPT_WALLET},
    {"node-wallet-key", required_argument, NULL, OPT_WALLET},
    {"ton-config-base", required_argument, NULL, OPT_TON_BASE},
    {"ton-config", required_argument, NULL, OPT_TON},
    {"test", no_argument, NULL, OPT_TEST},
    {"fake-ton", no_argument, NULL, OPT_FAKE_TON},
    {"pseudo", no_argument, NULL, OPT_FAKE_TON},
    {"local-all", no_argument, NULL, OPT_LOCAL_ALL},
    {"prepare-only", no_argument, NULL, OPT_PREPARE_ONLY},
    {"print-only", no_argument, NULL, OPT_PRINT_ONLY},
    {"skip-build", no_argument, NULL, OPT_SKIP_BUILD},
    {"just-build", no_argument, NULL, OPT_JUST_BUILD},
    {"debug", no_argument, NULL, 'd'},
    {"instance", required_argument, NULL, OPT_INSTANCE},
    {"persistent", required_argument, NULL, OPT_PERSISTENT},
    {"gpu", required_argument, NULL, OPT_GPU},
    {"ssh-port", required_argument, NULL, OPT_SSH_PORT},
    {"vsock-cid", required_argument, NULL, OPT_VSOCK_CID},
    {"tcp", required_argument, NULL, OPT_TCP},
    {"no-tdx", no_argument, NULL, OPT_NO_TDX},
    {"image-dir", required_argument, NULL, OPT_IMAGE_DIR},
    {"build-dir", required_argument, NULL, OPT_BUILD_DIR},
    {"set", required_argument, NULL, OPT_SET},
    {"json", no_argument, NULL, OPT_JSON},
    {"qemu", required_argument, NULL, OPT_QEMU},
    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
    {"models-dir", required_argument, NULL, OPT_MODELS_DIR},
    {"dev-dir", required_argument, NULL, OPT_DEV_DIR},
    {"sysfs-dir", required_argument, NULL, OPT_SYSFS_DIR},
    {"model-image", required_argument, NULL, OPT_MODEL_IMAGE},
    {"tar-format", required_argument, NULL, OPT_TAR_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {}};

/* Option → INI key for the options that are settings. */
static const struct {
	int opt;
	enum cn_launch_key key;
	const char *value; /* for flags */
} opt_keys[] = {
    {OPT_TYPE, CN_LK_TYPE, NULL},
    {OPT_SPEC, CN_LK_SPEC, NULL},
    {OPT_MODEL, CN_LK_MODEL, NULL},
    {OPT_OWNER, CN_LK_OWNER_ADDRESS, NULL},
    {OPT_ROOT_CONTRACT, CN_LK_ROOT_CONTRACT_ADDRESS, NULL},
    {OPT_COEFF, CN_LK_WORKER_COEFFICIENT, NULL},
    {OPT_HF_TOKEN, CN_LK_HF_TOKEN, NULL},
    {OPT_EXT_IP, CN_LK_EXTERNAL_IP, NULL},
    {OPT_EXT_WORKER_PORT, CN_LK_EXTERNAL_WORKER_PORT, NULL},
    {OPT_EXT_CLIENT_PORT, CN_LK_EXTERNAL_CLIENT_PORT, NULL},
    {OPT_WALLET, CN_LK_NODE_WALLET_KEY, NULL},
    {OPT_TON_BASE, CN_LK_TON_CONFIG_BASE, NULL},
    {OPT_TON, CN_LK_TON_CONFIG, NULL},
    {OPT_TEST, CN_LK_TEST, "true"},
    {OPT_FAKE_TON, CN_LK_FAKE_TON, "true"},
    {OPT_INSTANCE, CN_LK_INSTANCE, NULL},
    {OPT_PERSISTENT, CN_LK_PERSISTENT, NULL},
    {OPT_GPU, CN_LK_GPU, NULL},
    {OPT_SSH_PORT, CN_LK_SSH_PORT, NULL},
    {OPT_VSOCK_CID, CN_LK_VSOCK_CID, NULL},
    {OPT_IMAGE_DIR, CN_LK_IMAGE_DIR, NULL},
    {OPT_BUILD_DIR, CN_LK_BUILD_DIR, NULL},
    {OPT_QEMU, CN_LK_QEMU, NULL},
    {OPT_RUN_DIR, CN_LK_RUN_DIR, NULL},
    {OPT_MODELS_DIR, CN_LK_MODELS_DIR, NULL},
    {OPT_TAR_FORMAT, CN_LK_TAR_FORMAT, NULL},
};

struct launch_args {
	struct cn_launch_settings cli;
	struct cn_strv set_keys, set_values;
	bool print_only, json, skip_build, just_build, prepare_only, no_tdx;
	const char *dev_dir, *sysfs_dir, *model_image;
	const char *config;
	char **extra;
	size_t n_extra;
};

static void launch_args_done(struct launch_args *a)
{
	cn_launch_settings_done(&a->cli);
	cn_strv_done(&a->set_keys);
	cn_strv_done(&a->set_values);
}

/* No abbreviations (the reference's argparse has allow_abbrev=False). */
static bool exact_long(const char *given, const char *name)
{
	size_t nl = strlen(name);

	return strncmp(given, "--", 2) == 0 && strncmp(given + 2, name, nl) == 0 &&
	       (given[2 + nl] == '\0' || given[2 + nl] == '=');
}

/* --set KEY=VALUE: a runtime variable (the reference's extra_vars). */
static int add_set(struct launch_args *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	_cleanup_free_ char *k = NULL;

	if (!eq || eq == arg) {
		log_error("--set '%s': expected KEY=VALUE", arg);
		return CLI_EXIT_USAGE;
	}
	k = strndup(arg, (size_t)(eq - arg));
	if (!k)
		return CLI_EXIT_FAIL;
	if (strpbrk(arg, "\n\r")) {
		log_error("--set %s: a line break would split runtime.vars", k);
		return CLI_EXIT_USAGE;
	}
	if (cn_strv_push(&a->set_keys, k) < 0 || cn_strv_push(&a->set_values, eq + 1) < 0)
		return CLI_EXIT_FAIL;
	return 0;
}

static int parse_flag(int c, struct launch_args *a, const char *prog)
{
	switch (c) {
	case 'h':
		usage(stdout, prog);
		return -1;
	case 'd':
		cn_set_log_level(CN_LOG_DEBUG);
		return 0;
	case OPT_LOCAL_ALL:
		log_error("--local-all runs every node locally without VMs; that is out of scope "
			  "for this launcher");
		return CLI_EXIT_USAGE;
	case OPT_PREPARE_ONLY:
		a->prepare_only = true;
		return 0;
	case OPT_PRINT_ONLY:
		a->print_only = true;
		return 0;
	case OPT_SKIP_BUILD:
		a->skip_build = true;
		return 0;
	case OPT_JUST_BUILD:
		a->just_build = true;
		return 0;
	case OPT_TCP:
		log_warning("--tcp %s is ignored (as in the reference, where it is unused)",
			    optarg);
		return 0;
	case OPT_NO_TDX:
		a->no_tdx = true;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_DEV_DIR:
		a->dev_dir = optarg;
		return 0;
	case OPT_SYSFS_DIR:
		a->sysfs_dir = optarg;
		return 0;
	case OPT_MODEL_IMAGE:
		a->model_image = optarg;
		return 0;
	case OPT_SET:
		return add_set(a, optarg);
	default:
		log_error("unknown option (try '%s --help')", prog);
		return CLI_EXIT_USAGE;
	}
}

static int parse_tail(int argc, char **argv, struct launch_args *a, const char *prog)
{
	if (optind >= argc) {
		log_error("no config file given (usage: %s [OPTIONS] CONFIG [-- QEMU-ARGS])", prog);
		return CLI_EXIT_USAGE;
	}
	a->config = argv[optind++];
	if (optind < argc) {
		if (strcmp(argv[optind], "--") != 0) {
			log_error(
			    "'%s' after the config file: options go before CONFIG, extra QEMU "
			    "arguments after an explicit '--'",
			    argv[optind]);
			return CLI_EXIT_USAGE;
		}
		a->extra = argv + optind + 1;
		a->n_extra = (size_t)(argc - optind - 1);
		if (a->n_extra > CN_LAUNCH_EXTRA_MAX) {
			log_error("more than %u extra QEMU arguments", CN_LAUNCH_EXTRA_MAX);
			return CLI_EXIT_USAGE;
		}
	}
	if (a->json && !a->print_only && !a->prepare_only) {
		log_error("--json goes with --print-only or --prepare-only");
		return CLI_EXIT_USAGE;
	}
	if (a->print_only && a->prepare_only) {
		log_error("--print-only and --prepare-only exclude each other");
		return CLI_EXIT_USAGE;
	}
	if (a->model_image && a->skip_build) {
		log_error("--model-image and --skip-build exclude each other");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct launch_args *a)
{
	const char *prog = launch_prog();
	int c, r;

	optind = 0;
	opterr = 0;
	/* '+': stop at the first non-option (the config file); what follows is checked after. */
	for (;;) {
		int li = -1, at = optind > 0 ? optind : 1; /* a long option is one whole argument */
		bool done = false;

		c = getopt_long(argc, argv, "+dh", options, &li);
		if (c < 0)
			break;
		if (li >= 0 && !exact_long(at < argc ? argv[at] : "", options[li].name)) {
			log_error("unknown option '%s' (abbreviations are not accepted; try '%s "
				  "--help')",
				  at < argc ? argv[at] : "", prog);
			return CLI_EXIT_USAGE;
		}
		for (size_t i = 0; i < ELEMENTSOF(opt_keys); i++)
			if (opt_keys[i].opt == c) {
				r = cn_launch_settings_set(&a->cli, opt_keys[i].key,
							   opt_keys[i].value ? opt_keys[i].value
									     : optarg);
				if (r < 0)
					return log_error_synth(r, "%s", cn_err_msg()),
					       CLI_EXIT_USAGE;
				done = true;
			}
		if (done)
			continue;
		if (c == '?') {
			if (optopt && optopt < 0x100)
				log_error("unknown option '-%c' (try '%s --help')", optopt, prog);
			else
				log_error("unknown or incomplete option '%s' (try '%s --help')",
					  argv[optind - 1], prog);
			return CLI_EXIT_USAGE;
		}
		r = parse_flag(c, a, prog);
		if (r)
			return r;
	}
	return parse_tail(argc, argv, a, prog);
}

static int resolve_env(struct cn_launch_env *env, char *cwd, size_t cwd_size, char *run,
		       size_t run_size)
{
	const char *root = getenv("COCOON_ROOT"), *xdg = getenv("XDG_RUNTIME_DIR");

	if (!getcwd(cwd, cwd_size))
		return log_error_errno(-errno, "cannot get the working directory");
	*env = (struct cn_launch_env){
	    .cwd = cwd,
	    .root = root && root[0] == '/' ? root : cwd,
	    .images_dir = getenv("COCOON_IMAGES_DIR"),
	    .hf_token = getenv("HF_TOKEN"),
	    .build_dir = getenv("BUILD_DIR"),
	};
	if (root && *root && root[0] != '/')
		log_warning("COCOON_ROOT '%s' is not absolute: ignored", root);
	if (geteuid() == 0)
		(void)snprintf(run, run_size, "/run/cocoon");
	else if (xdg && xdg[0] == '/')
		(void)snprintf(run, run_size, "%s/cocoon", xdg);
	else
		run[0] = '\0';
	env->run_dir = run[0] ? run : NULL;
	return 0;
}

static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	if (!s)
		return log_error_synth(-ENOMEM, "cannot format the JSON output (a path that is "
						"not UTF-8?)"),
		       CLI_EXIT_FAIL;
	(void)printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* --print-only: the shell-quoted line, or {argv, spec_tree, spec_source} with --json. */
static int print_plan(const struct cn_launch_plan *p, bool json)
{
	_cleanup_free_ char *s = NULL;
	json_t *argv;

	if (!json) {
		s = cn_launch_argv_shell(p->argv.v, p->argv.n);
		if (!s)
			return log_error_synth(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
		(void)printf("%s\n", s);
		log_info("spec tree %s (cocoon:spec.tree the guest will measure)", p->spec_tree);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	argv = json_array();
	for (size_t i = 0; argv && i < p->argv.n; i++)
		if (json_array_append_new(argv, json_string(p->argv.v[i])) < 0) {
			json_decref(argv);
			argv = NULL;
		}
	if (!argv)
		return print_json(NULL);
	return print_json(json_pack("{s:o,s:s,s:s}", "argv", argv, "spec_tree", p->spec_tree,
				    "spec_source", p->cfg.spec_dir));
}

static int print_prepared(const struct cn_launch_plan *p, bool json)
{
	if (!json) {
		(void)printf("%s\n", p->spec_share);
		log_info("spec tree %s (cocoon:spec.tree the guest will measure)", p->spec_tree);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	return print_json(json_pack("{s:s,s:s,s:s}", "spec_dir", p->spec_share, "spec_tree",
				    p->spec_tree, "instance", p->name));
}

static int fail_status(enum cn_launch_status st, const struct cn_launch_plan *p)
{
	log_error("%s", cn_err_msg());
	for (size_t i = 0; i < p->gpu_problems.n; i++)
		log_error("  %s", p->gpu_problems.v[i]);
	return (int)st;
}

static int run_launch(int argc, char **argv)
{
	_cleanup_(launch_args_done) struct launch_args a = {0};
	_cleanup_(cn_launch_plan_done) struct cn_launch_plan p = {.lock_fd = -EBADF};
	struct cn_launch_env env;
	struct cn_launch_request req;
	char cwd[PATH_MAX], run[PATH_MAX];
	enum cn_launch_status st;
	int r;

	r = parse_args(argc, argv, &a);
	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	if (resolve_env(&env, cwd, sizeof(cwd), run, sizeof(run)) < 0)
		return CLI_EXIT_FAIL;
	req = (struct cn_launch_request){
	    .config = a.config,
	    .overrides = &a.cli,
	    .set_keys = a.set_keys.v,
	    .set_values = a.set_values.v,
	    .n_set = a.set_keys.n,
	    .no_tdx = a.no_tdx,
	    .print_only = a.print_only,
	    .prepare_only = a.prepare_only,
	    .skip_build = a.skip_build,
	    .just_build = a.just_build,
	    .model_image = a.model_image,
	    .dev_dir = a.dev_dir,
	    .sysfs_dir = a.sysfs_dir,
	    .extra = a.extra,
	    .n_extra = a.n_extra,
	    .env = &env,
	};
	st = cn_launch_plan(&req, &p);
	if (st != CN_LAUNCH_OK)
		return fail_status(st, &p);
	if (a.just_build) { /* the line build-model prints */
		if (!p.have_model)
			return log_error_synth(-ENOENT, "model %s: not built", p.cfg.model),
			       CLI_EXIT_FAIL;
		(void)printf("%s@%s:%s %s\n", p.model.name, p.model.commit, p.model.root_hash,
			     p.model.tar_path);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	if (a.print_only) {
		st = cn_launch_predict(&req, &p);
		return st != CN_LAUNCH_OK ? fail_status(st, &p) : print_plan(&p, a.json);
	}
	st = cn_launch_prepare(&req, &p);
	if (st != CN_LAUNCH_OK)
		return fail_status(st, &p);
	if (a.prepare_only)
		return print_prepared(&p, a.json);
	return fail_status(cn_launch_exec(&p), &p);
}

int cmd_launch(int argc, char **argv)
{
	return run_launch(argc, argv);
}

int alias_cocoon_launch(int argc, char **argv)
{
	return cmd_launch(argc, argv);
}
