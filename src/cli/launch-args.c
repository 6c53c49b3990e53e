/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon launch: usage text and option parsing (cmd-launch.c runs the command). Options that are
 * settings share the INI's key space; exact long names only (the reference's argparse has
 * allow_abbrev=False); options go before CONFIG, extra QEMU arguments after an explicit "--".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/launch-args.h"

const char *launch_prog(void)
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
	    "  --registry PREFIX           pull the exact model image from PREFIX/<name>:<commit>\n"
	    "                              before any Hugging Face download (INI: registry;\n"
	    "                              default $COCOON_REGISTRY; docs/distribution.md)\n"
	    "  --push                      after building the model image (not when it came from\n"
	    "                              the cache or the registry), push it to the registry as\n"
	    "                              build-model --push does (INI: push); needs a registry\n"
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

/* A setting option's val is OPT_KEY + its cn_launch_key; the rest are launcher flags. */
enum {
	OPT_TEST = 0x100,
	OPT_FAKE_TON,
	OPT_PUSH,
	OPT_LOCAL_ALL,
	OPT_PREPARE_ONLY,
	OPT_PRINT_ONLY,
	OPT_SKIP_BUILD,
	OPT_JUST_BUILD,
	OPT_TCP,
	OPT_NO_TDX,
	OPT_SET,
	OPT_JSON,
	OPT_DEV_DIR,
	OPT_SYSFS_DIR,
	OPT_MODEL_IMAGE,
	OPT_KEY = 0x200,
};

#define KEY(name, k)                                                                               \
	{                                                                                          \
		name, required_argument, NULL, OPT_KEY + (k)                                       \
	}
static const struct option options[] = {KEY("type", CN_LK_TYPE),
					KEY("spec", CN_LK_SPEC),
					KEY("model", CN_LK_MODEL),
					KEY("owner-address", CN_LK_OWNER_ADDRESS),
					KEY("root-contract-address", CN_LK_ROOT_CONTRACT_ADDRESS),
					KEY("worker-coefficient", CN_LK_WORKER_COEFFICIENT),
					KEY("hf-token", CN_LK_HF_TOKEN),
					KEY("external-ip", CN_LK_EXTERNAL_IP),
					KEY("external-worker-port", CN_LK_EXTERNAL_WORKER_PORT),
					KEY("external-client-port", CN_LK_EXTERNAL_CLIENT_PORT),
					KEY("wallet-private-key", CN_LK_NODE_WALLET_KEY),
					KEY("node-wallet_key", CN_LK_NODE_WALLET_KEY),
					KEY("node-wallet-key", CN_LK_NODE_WALLET_KEY),
					KEY("ton-config-base", CN_LK_TON_CONFIG_BASE),
					KEY("ton-config", CN_LK_TON_CONFIG),
					KEY("instance", CN_LK_INSTANCE),
					KEY("persistent", CN_LK_PERSISTENT),
					KEY("gpu", CN_LK_GPU),
					KEY("ssh-port", CN_LK_SSH_PORT),
					KEY("vsock-cid", CN_LK_VSOCK_CID),
					KEY("image-dir", CN_LK_IMAGE_DIR),
					KEY("build-dir", CN_LK_BUILD_DIR),
					KEY("qemu", CN_LK_QEMU),
					KEY("run-dir", CN_LK_RUN_DIR),
					KEY("models-dir", CN_LK_MODELS_DIR),
					KEY("tar-format", CN_LK_TAR_FORMAT),
					KEY("registry", CN_LK_REGISTRY),
					{"test", no_argument, NULL, OPT_TEST},
					{"fake-ton", no_argument, NULL, OPT_FAKE_TON},
					{"push", no_argument, NULL, OPT_PUSH},
					{"pseudo", no_argument, NULL, OPT_FAKE_TON},
					{"local-all", no_argument, NULL, OPT_LOCAL_ALL},
					{"prepare-only", no_argument, NULL, OPT_PREPARE_ONLY},
					{"print-only", no_argument, NULL, OPT_PRINT_ONLY},
					{"skip-build", no_argument, NULL, OPT_SKIP_BUILD},
					{"just-build", no_argument, NULL, OPT_JUST_BUILD},
					{"debug", no_argument, NULL, 'd'},
					{"tcp", required_argument, NULL, OPT_TCP},
					{"no-tdx", no_argument, NULL, OPT_NO_TDX},
					{"set", required_argument, NULL, OPT_SET},
					{"json", no_argument, NULL, OPT_JSON},
					{"dev-dir", required_argument, NULL, OPT_DEV_DIR},
					{"sysfs-dir", required_argument, NULL, OPT_SYSFS_DIR},
					{"model-image", required_argument, NULL, OPT_MODEL_IMAGE},
					{"help", no_argument, NULL, 'h'},
					{}};
#undef KEY

void launch_args_done(struct launch_args *a)
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

int launch_parse_args(int argc, char **argv, struct launch_args *a)
{
	const char *prog = launch_prog();
	int c, r;

	optind = 0;
	opterr = 0;
	/* '+': stop at the first non-option (the config file); what follows is checked after. */
	for (;;) {
		int li = -1, at = optind > 0 ? optind : 1; /* a long option is one whole argument */

		c = getopt_long(argc, argv, "+dh", options, &li);
		if (c < 0)
			break;
		if (li >= 0 && !exact_long(at < argc ? argv[at] : "", options[li].name)) {
			log_error("unknown option '%s' (abbreviations are not accepted; try '%s "
				  "--help')",
				  at < argc ? argv[at] : "", prog);
			return CLI_EXIT_USAGE;
		}
		if (c >= OPT_KEY || c == OPT_TEST || c == OPT_FAKE_TON || c == OPT_PUSH) {
			enum cn_launch_key k = c == OPT_TEST	   ? CN_LK_TEST
					       : c == OPT_FAKE_TON ? CN_LK_FAKE_TON
					       : c == OPT_PUSH	   ? CN_LK_PUSH
							       : (enum cn_launch_key)(c - OPT_KEY);

			r = cn_launch_settings_set(&a->cli, k, c >= OPT_KEY ? optarg : "true");
			if (r < 0)
				return log_error_synth(r, "%s", cn_err_msg()), CLI_EXIT_USAGE;
			continue;
		}
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
