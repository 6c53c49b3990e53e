/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon launch (alias cocoon-launch): starts one TDX guest (worker or proxy) for one GPU.
 *
 *   cocoon-launch [OPTIONS] CONFIG [-- EXTRA-QEMU-ARGS...]
 *
 * Order of work: configuration → image files → model image (worker) → [--print-only stops here,
 * with no side effects] → GPU readiness → QEMU capabilities → instance lock and clash check →
 * host ports and vsock CID → persistent disk → spec copy + runtime.vars → execve(QEMU).
 * Exit codes: see usage() and docs/reference/launch.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "launch/launch.h"
#include "model/model.h"
#include "net/fetch.h"
#include "vfio/ready.h"

extern char **environ;

#define EXIT_GPU_NOT_READY CN_EXIT_NOT_READY
#define EXIT_PREREQ CN_EXIT_PREREQ
#define EXIT_IN_USE CN_EXIT_IN_USE

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
	    "Node type 'client' (runs locally, no VM) is out of scope.\n"
	    "\n"
	    "Node settings (same as the INI keys):\n"
	    "  --type worker|proxy         node type (INI: type)\n"
	    "  --instance N                instance number: vsock CID and host ports + 10*N\n"
	    "  --gpu BDF                   pass this GPU through (vfio-pci)\n"
	    "  --model SPEC                worker model NAME[@COMMIT[:ROOTHASH]]\n"
	    "  --persistent PATH           persistent disk (default <root>/persistent-TYPE-N.img)\n"
	    "  --image-dir DIR             guest image folder (default <root>/images/prod|test)\n"
	    "  --spec DIR                  spec folder shared with the guest (default "
	    "<root>/spec)\n"
	    "  --ssh-port P, --vsock-cid C base values before the instance offset\n"
	    "  --owner-address A, --root-contract-address A, --worker-coefficient N,\n"
	    "  --hf-token T, --external-ip IP, --external-worker-port P, --external-client-port "
	    "P,\n"
	    "  --node-wallet-key K, --ton-config-base F, --ton-config F, --build-dir DIR\n"
	    "  --test                      test image and cocoon_debug on the kernel command line\n"
	    "  --fake-ton, --pseudo        cocoon_fake_ton on the kernel command line\n"
	    "  --set KEY=VALUE             set any INI key\n"
	    "\n"
	    "Launcher options:\n"
	    "  --print-only                print the QEMU command line (shell-quoted) and stop; "
	    "no\n"
	    "                              side effects: no build, no GPU check, no files\n"
	    "  --json                      with --print-only: the argv as a JSON array\n"
	    "  --skip-build                use the model image from the cache only\n"
	    "  --model-image TAR           use this built model image (TAR, TAR.verity, TAR.hash)\n"
	    "  --just-build                build the model image, print its line and stop\n"
	    "  --prepare-only              prepare the instance (lock, disk, spec copy) and stop\n"
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
};

struct launch_args {
	struct cn_launch_settings cli;
	bool print_only, json, skip_build, just_build, prepare_only, no_tdx;
	const char *dev_dir, *sysfs_dir, *model_image;
	const char *config;
	char **extra;
	size_t n_extra;
};

static void launch_args_done(struct launch_args *a)
{
	cn_launch_settings_done(&a->cli);
}

/* The model image attached to the guest, whichever way it was found (owned copies). */
struct launch_model {
	char *name, *commit, *tar_path, *verity_path;
	char root_hash[65];
};

static void launch_model_done(struct launch_model *m)
{
	free(m->name);
	free(m->commit);
	free(m->tar_path);
	free(m->verity_path);
	*m = (struct launch_model){0};
}

/* Copies what the launcher needs out of a model.h image (which the caller still owns). */
static int launch_model_from_image(const struct cn_model_image *img, struct launch_model *ret)
{
	struct launch_model m = {0};

	m.name = img->name ? strdup(img->name) : NULL;
	m.commit = img->commit ? strdup(img->commit) : NULL;
	m.tar_path = img->tar_path ? strdup(img->tar_path) : NULL;
	m.verity_path = img->verity_path ? strdup(img->verity_path) : NULL;
	if (!m.name || !m.commit || !m.tar_path || !m.verity_path) {
		launch_model_done(&m);
		return cn_err_set(-ENOMEM, "model image: incomplete result");
	}
	memcpy(m.root_hash, img->root_hash, sizeof(m.root_hash));
	m.root_hash[64] = '\0';
	*ret = m;
	return 0;
}
static int parse_args(int argc, char **argv, struct launch_args *a)
{
	const char *prog = launch_prog();
	int c, r;

	optind = 0;
	opterr = 0;
	/* '+': stop at the first non-option (the config file); what follows is checked below. */
	for (;;) {
		int li = -1, at = optind > 0 ? optind : 1; /* a long option is one whole argument */
		bool done = false;

		c = getopt_long(argc, argv, "+dh", options, &li);
		if (c < 0)
			break;
		if (li >= 0) {
			/* No abbreviations (the reference's argparse has allow_abbrev=False). */
			const char *given = at < argc ? argv[at] : "";
			size_t nl = strlen(options[li].name);

			if (strncmp(given, "--", 2) != 0 ||
			    strncmp(given + 2, options[li].name, nl) != 0 ||
			    (given[2 + nl] != '\0' && given[2 + nl] != '=')) {
				log_error("unknown option '%s' (abbreviations are not accepted; "
					  "try '%s --help')",
					  given, prog);
				return CLI_EXIT_USAGE;
			}
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
		switch (c) {
		case 'h':
			usage(stdout, prog);
			return -1;
		case 'd':
			cn_set_log_level(CN_LOG_DEBUG);
			break;
		case OPT_LOCAL_ALL:
			log_error("--local-all runs every node locally without VMs; that (like "
				  "node type 'client') "
				  "is out of scope for this launcher");
			return CLI_EXIT_USAGE;
		case OPT_PREPARE_ONLY:
			a->prepare_only = true;
			break;
		case OPT_PRINT_ONLY:
			a->print_only = true;
			break;
		case OPT_SKIP_BUILD:
			a->skip_build = true;
			break;
		case OPT_JUST_BUILD:
			a->just_build = true;
			break;
		case OPT_TCP:
			log_warning("--tcp %s is ignored (as in the reference, where it is unused)",
				    optarg);
			break;
		case OPT_NO_TDX:
			a->no_tdx = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_DEV_DIR:
			a->dev_dir = optarg;
			break;
		case OPT_SYSFS_DIR:
			a->sysfs_dir = optarg;
			break;
		case OPT_MODEL_IMAGE:
			a->model_image = optarg;
			break;
		case OPT_SET: {
			const char *eq = strchr(optarg, '=');
			_cleanup_free_ char *k = NULL;
			enum cn_launch_key key;

			if (!eq || eq == optarg) {
				log_error("--set '%s': expected KEY=VALUE", optarg);
				return CLI_EXIT_USAGE;
			}
			k = strndup(optarg, (size_t)(eq - optarg));
			if (!k)
				return CLI_EXIT_FAIL;
			if (cn_launch_key_lookup(k, &key) < 0) {
				log_error("--set: unknown key '%s'", k);
				return CLI_EXIT_USAGE;
			}
			r = cn_launch_settings_set(&a->cli, key, eq + 1);
			if (r < 0) {
				log_error("--set: %s", cn_err_msg());
				return CLI_EXIT_USAGE;
			}
			break;
		}
		case '?':
		default:
			if (optopt && optopt < 0x100)
				log_error("unknown option '-%c' (try '%s --help')", optopt, prog);
			else
				log_error("unknown or incomplete option '%s' (try '%s --help')",
					  argv[optind - 1], prog);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("no config file given (usage: %s [OPTIONS] CONFIG [-- QEMU-ARGS])", prog);
		return CLI_EXIT_USAGE;
	}
	a->config = argv[optind++];
	if (optind < argc) {
		if (strcmp(argv[optind], "--") != 0) {
			log_error("'%s' after the config file: options go before CONFIG, extra "
				  "QEMU arguments after "
				  "an explicit '--'",
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
	if (a->json && !a->print_only) {
		log_error("--json goes with --print-only");
		return CLI_EXIT_USAGE;
	}
	if (a->model_image && a->skip_build) {
		log_error("--model-image and --skip-build exclude each other");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* A built image given by path: TAR, TAR.verity, TAR.hash (the reference's names). */
static int model_from_image(const char *tar, const struct cn_model_spec *spec, const char *cwd,
			    struct launch_model *ret)
{
	_cleanup_(launch_model_done) struct launch_model img = {0};
	_cleanup_free_ char *hash_path = NULL;
	int r;

	if (!spec->commit)
		return cn_err_set(-EINVAL,
				  "--model-image needs the model's commit: model = %s@COMMIT",
				  spec->name);
	img.tar_path = tar[0] == '/' ? strdup(tar) : cn_path_join(cwd, tar);
	img.name = strdup(spec->name);
	img.commit = strdup(spec->commit);
	if (!img.tar_path || !img.name || !img.commit ||
	    asprintf(&img.verity_path, "%s.verity", img.tar_path) < 0 ||
	    asprintf(&hash_path, "%s.hash", img.tar_path) < 0)
		return -ENOMEM;
	if (access(img.tar_path, R_OK) < 0 || access(img.verity_path, R_OK) < 0)
		return cn_err_set(-ENOENT,
				  "model image '%s' or its '.verity' is missing or unreadable",
				  img.tar_path);
	r = cn_model_read_hash_file(hash_path, img.root_hash);
	if (r < 0)
		return cn_err_set(r, "model image root hash '%s': %s", hash_path, cn_err_msg());
	if (spec->root_hash && strcmp(spec->root_hash, img.root_hash) != 0)
		return cn_err_set(-EKEYREJECTED,
				  "model image '%s' has root hash %s, the model spec pins %s",
				  img.tar_path, img.root_hash, spec->root_hash);
	*ret = img;
	img = (struct launch_model){0}; /* ownership moved to *ret */
	return 0;
}

static void model_notify(void *userdata, const char *msg)
{
	log_info("%s", msg);
}

/*
 * Build (or find in the cache) the worker's model image, in process, the way `build-model` does:
 * the image cache, then a Hugging Face cache snapshot, then the hub (staging folder removed
 * after the build). cache_only (--skip-build): the image cache only.
 */
static int model_build_image(const struct cn_launch_config *cfg, const struct cn_model_spec *spec,
			     bool cache_only, struct cn_model_image *ret)
{
	struct cn_model_fetch_opts fo = {
	    .spec = spec,
	    .build =
		{
		    .images_dir = cfg->models_dir,
		    .tar_format = CN_TAR_GNU_1_35,
		    .progress = isatty(STDERR_FILENO),
		    .notify = model_notify,
		},
	    .hub = {.token = cfg->hf_token, .progress = isatty(STDERR_FILENO)},
	    .cache_only = cache_only,
	};

	return cn_model_fetch(&fo, ret);
}

/*
 * --print-only: where the image cache holds name@commit, found without writing anything (no
 * lock file, no folder), from the cache layout of src/model/build.c: <MODEL_PATH>@<commit>.tar,
 * .tar.verity, .tar.hash. -ENOENT when it is not there.
 */
static int model_lookup_readonly(const struct cn_launch_config *cfg,
				 const struct cn_model_spec *spec, struct launch_model *ret)
{
	_cleanup_(launch_model_done) struct launch_model m = {0};
	_cleanup_free_ char *path_name = NULL, *base = NULL, *hash_path = NULL;
	int r;

	if (!spec->commit)
		return -ENOENT;
	path_name = cn_model_path_name(spec->name);
	if (!path_name || asprintf(&base, "%s@%s.tar", path_name, spec->commit) < 0)
		return -ENOMEM;
	m.tar_path = cn_path_join(cfg->models_dir, base);
	m.name = strdup(spec->name);
	m.commit = strdup(spec->commit);
	if (!m.tar_path || !m.name || !m.commit ||
	    asprintf(&m.verity_path, "%s.verity", m.tar_path) < 0 ||
	    asprintf(&hash_path, "%s.hash", m.tar_path) < 0)
		return -ENOMEM;
	if (access(m.tar_path, R_OK) < 0 || access(m.verity_path, R_OK) < 0)
		return -ENOENT;
	r = cn_model_read_hash_file(hash_path, m.root_hash);
	if (r < 0)
		return -ENOENT;
	*ret = m;
	m = (struct launch_model){0}; /* ownership moved to *ret */
	return 0;
}

/* -EKEYREJECTED: *ret_found_root gets the root hash that was built. */
static int model_build(const struct cn_launch_config *cfg, const struct cn_model_spec *spec,
		       bool cache_only, struct launch_model *ret, char ret_found_root[static 65])
{
	struct cn_model_image img = {0};
	int r;

	r = model_build_image(cfg, spec, cache_only, &img);
	if (r == -EKEYREJECTED) {
		memcpy(ret_found_root, img.root_hash, 65);
		ret_found_root[64] = '\0';
	}
	if (r >= 0)
		r = launch_model_from_image(&img, ret);
	cn_model_image_done(&img);
	return r;
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

static int print_argv(const struct cn_strv *argv, bool json)
{
	_cleanup_free_ char *s =
	    json ? cn_launch_argv_json(argv->v, argv->n) : cn_launch_argv_shell(argv->v, argv->n);

	if (!s)
		return log_error_synth(-ENOMEM, "cannot format the command line%s",
				       json ? " as JSON (a path that is not UTF-8?)" : ""),
		       CLI_EXIT_FAIL;
	(void)printf("%s\n", s);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void append_launch_log(const char *instance_dir, const char *cmd)
{
	_cleanup_free_ char *p = cn_path_join(instance_dir, "launch.log");
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *line = NULL;
	char ts[64];
	time_t now = time(NULL);
	struct tm tm;

	if (!p)
		return;
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return;
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (asprintf(&line, "%s pid %ld exec %s\n", ts, (long)getpid(), cmd) < 0) {
		line = NULL;
		return;
	}
	(void)cn_write_all(fd, line, strlen(line));
}

static int check_gpu(const struct cn_launch_config *cfg, const struct launch_args *a)
{
	struct cn_vfio_roots roots = {.sysfs = a->sysfs_dir, .dev = a->dev_dir};
	_cleanup_(cn_strv_done) struct cn_strv problems = {0};
	int r;

	r = cn_vfio_check_ready(&roots, cfg->gpu, &problems);
	if (r == -EKEYREJECTED) {
		log_error("GPU %s is not ready for passthrough:", cfg->gpu);
		for (size_t i = 0; i < problems.n; i++)
			log_error("  %s", problems.v[i]);
		if (problems.n == 0)
			log_error("  fix: cocoon gpu setup %s", cfg->gpu);
		return EXIT_GPU_NOT_READY;
	}
	if (r < 0) {
		log_error("cannot check GPU %s for passthrough: %s", cfg->gpu, cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int check_qemu(const struct cn_launch_config *cfg, const char *qemu_path)
{
	struct cn_qemu_caps caps;
	int r;

	r = cn_launch_probe_qemu(qemu_path, &caps);
	if (r < 0) {
		log_error("cannot query QEMU '%s': %s", qemu_path, cn_err_msg());
		return EXIT_PREREQ;
	}
	if (cfg->tdx && !caps.tdx_guest) {
		log_error("QEMU '%s' has no tdx-guest object ('-object help'): install QEMU >= "
			  "10.1 built with TDX "
			  "support, or give --no-tdx to start without TDX",
			  qemu_path);
		return EXIT_PREREQ;
	}
	if (!caps.iommufd) {
		log_error("QEMU '%s' has no iommufd object (needs QEMU >= 9.0; the reference "
			  "always adds it)",
			  qemu_path);
		return EXIT_PREREQ;
	}
	if (!caps.vhost_vsock) {
		log_error("QEMU '%s' has no vhost-vsock-pci device", qemu_path);
		return EXIT_PREREQ;
	}
	if (!caps.virtio_9p) {
		log_error("QEMU '%s' has no virtio-9p-pci device (built without 9p/virtfs): the "
			  "spec folder cannot "
			  "be shared",
			  qemu_path);
		return EXIT_PREREQ;
	}
	if (cfg->gpu && !caps.vfio_pci) {
		log_error("QEMU '%s' has no vfio-pci device: the GPU cannot be passed through",
			  qemu_path);
		return EXIT_PREREQ;
	}
	return 0;
}

/* KVM and, for TDX, KVM's tdx switch (spec host-tools §4.3). */
static int check_host(const struct cn_launch_config *cfg, const char *dev_dir,
		      const char *sysfs_dir)
{
	_cleanup_free_ char *kvm = cn_path_join(dev_dir, "kvm");
	_cleanup_free_ char *param = cn_path_join(sysfs_dir, "module/kvm_intel/parameters/tdx");
	_cleanup_free_ char *v = NULL;
	int r;

	if (!kvm || !param)
		return log_error_errno(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
	if (access(kvm, F_OK) < 0) {
		log_error("'%s' is missing: enable VT-x in the firmware and load KVM (modprobe "
			  "kvm_intel)",
			  kvm);
		return EXIT_PREREQ;
	}
	if (!cfg->tdx)
		return 0;
	r = cn_read_virtual_at(AT_FDCWD, param, 16, &v);
	if (r == -ENOENT) {
		log_warning("cannot tell whether KVM has TDX on ('%s' is missing: kvm_intel not "
			    "loaded, or a host "
			    "kernel without TDX support; 6.16 or later is needed)",
			    param);
		return 0;
	}
	if (r < 0) {
		log_error("cannot read '%s': %s", param, strerror(-r));
		return CLI_EXIT_FAIL;
	}
	if (strcmp(v, "Y") != 0 && strcmp(v, "1") != 0) {
		log_error("TDX is off in KVM ('%s' is %s): boot the host with kvm_intel.tdx=1 (and "
			  "TDX on in the "
			  "firmware), or give --no-tdx",
			  param, v);
		return EXIT_PREREQ;
	}
	return 0;
}

static int check_ports(const struct cn_launch_config *cfg, const char *dev_dir)
{
	const struct {
		const char *key;
		uint32_t port;
		bool proxy_only;
	} ports[] = {
	    {"ssh_port", cfg->host_ssh_port, false},
	    {"http_port", cfg->host_http_port, false},
	    {"worker_rpc_port", cfg->host_worker_rpc_port, true},
	    {"client_rpc_port", cfg->host_client_rpc_port, true},
	};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
		if (ports[i].proxy_only && cfg->type != CN_NODE_PROXY)
			continue;
		r = cn_launch_check_tcp_port(ports[i].port);
		if (r < 0) {
			log_error("host port %u (%s + 10 x instance %u) is not free: %s; stop what "
				  "uses it or pick "
				  "another --instance",
				  ports[i].port, ports[i].key, cfg->instance, strerror(-r));
			return EXIT_IN_USE;
		}
	}
	r = cn_launch_check_vsock_cid(dev_dir, cfg->cid);
	if (r == -EADDRINUSE) {
		log_error("%s; pick another --instance or vsock_cid", cn_err_msg());
		return EXIT_IN_USE;
	}
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return EXIT_PREREQ;
	}
	return 0;
}

static int upsert_runtime_vars(const struct cn_launch_config *cfg, const char *spec_share,
			       const struct launch_model *img)
{
	_cleanup_free_ char *path = NULL;
	char *keys[16], *values[16];
	size_t n = 0;
	int r;

#define VAR(k, v)                                                                                  \
	do {                                                                                       \
		if (v) {                                                                           \
			keys[n] = (char *)(k);                                                     \
			values[n] = (char *)(v);                                                   \
			n++;                                                                       \
		}                                                                                  \
	} while (0)
	if (img) {
		VAR("MODEL_NAME", img->name);
		VAR("MODEL_COMMIT", img->commit);
		VAR("MODEL_VERITY_HASH", img->root_hash);
	}
	VAR("OWNER_ADDRESS", cfg->owner_address);
	VAR("ROOT_CONTRACT_ADDRESS", cfg->root_contract_address);
	VAR("WORKER_COEFFICIENT", cfg->worker_coefficient);
	VAR("HF_TOKEN", cfg->hf_token);
	VAR("NODE_WALLET_KEY", cfg->node_wallet_key);
#undef VAR
	path = cn_path_join(spec_share, "runtime/runtime.vars");
	if (!path)
		return -ENOMEM;
	r = cn_launch_vars_upsert(path, keys, values, n);
	if (r < 0)
		return log_error_synth(r, "%s", cn_err_msg());
	return 0;
}

static int run_launch(int argc, char **argv)
{
	_cleanup_(launch_args_done) struct launch_args a = {0};
	_cleanup_(cn_launch_settings_done) struct cn_launch_settings ini = {0};
	_cleanup_(cn_launch_config_done) struct cn_launch_config cfg = {0};
	_cleanup_(cn_model_spec_done) struct cn_model_spec spec = {0};
	_cleanup_(launch_model_done) struct launch_model img = {0};
	char found_root[65] = "";
	_cleanup_(cn_strv_done) struct cn_strv qargv = {0};
	_cleanup_free_ char *image_cmdline = NULL, *name = NULL, *instance_dir = NULL,
			    *spec_share = NULL, *qemu_path = NULL, *cmd = NULL,
			    *placeholder_tar = NULL, *placeholder_verity = NULL;
	_cleanup_close_ int lock_fd = -EBADF;
	struct cn_launch_env env;
	struct cn_launch_claims claims = {0};
	struct cn_launch_inputs in;
	char cwd[PATH_MAX], run[PATH_MAX];
	const char *dev_dir;
	bool have_model = false, created;
	int r;

	r = parse_args(argc, argv, &a);
	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	dev_dir = a.dev_dir ? a.dev_dir : "/dev";

	r = cn_launch_settings_load(a.config, &ini);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	for (size_t k = 0; k < CN_LK__MAX; k++)
		if (a.cli.v[k]) {
			r = cn_launch_settings_set(&ini, (enum cn_launch_key)k, a.cli.v[k]);
			if (r < 0)
				return log_error_errno(r, "cannot apply options"), CLI_EXIT_FAIL;
		}
	if (resolve_env(&env, cwd, sizeof(cwd), run, sizeof(run)) < 0)
		return CLI_EXIT_FAIL;
	r = cn_launch_config_resolve(&ini, &env, a.no_tdx, &cfg);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	/* With --debug, the settings (secrets redacted), as the reference prints its config. */
	for (size_t k = 0; k < CN_LK__MAX; k++)
		if (ini.v[k])
			log_debug("%s = %s", cn_launch_key_name((enum cn_launch_key)k),
				  k == CN_LK_HF_TOKEN || k == CN_LK_NODE_WALLET_KEY ? "(redacted)"
										    : ini.v[k]);
	if (ini.v[CN_LK_MODEL_TAR])
		log_warning(
		    "model_tar is ignored (as in the reference); the model comes from 'model'");
	if (cfg.type == CN_NODE_WORKER && cfg.http_port != 12000)
		log_warning("http_port %u is also the guest port of the forward (as in the "
			    "reference), but the worker "
			    "listens on 12000 in the guest",
			    cfg.http_port);
	if (a.model_image && cfg.type != CN_NODE_WORKER)
		log_warning("--model-image is ignored for a %s", cn_node_type_name(cfg.type));

	name = cn_launch_instance_name(&cfg);
	instance_dir = name ? cn_path_join(cfg.run_dir, name) : NULL;
	spec_share = instance_dir ? cn_path_join(instance_dir, "spec") : NULL;
	if (!spec_share)
		return log_error_errno(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
	if (strlen(instance_dir) + sizeof("/qmp.sock") > 108) {
		log_error("run folder '%s' is too long for a QMP socket path (108 bytes): give a "
			  "shorter --run-dir",
			  instance_dir);
		return CLI_EXIT_USAGE;
	}

	/* Image files (read only: fine for --print-only too). */
	r = cn_launch_check_image_files(cfg.image_dir);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return EXIT_PREREQ;
	}
	r = cn_launch_read_image_cmdline(cfg.image_dir, &image_cmdline);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return EXIT_PREREQ;
	}

	/* The worker's model image. */
	if (cfg.type == CN_NODE_WORKER) {
		r = cn_model_spec_parse(cfg.model, &spec);
		if (r < 0) {
			log_error("%s", cn_err_msg());
			return CLI_EXIT_USAGE;
		}
		if (a.model_image) {
			r = model_from_image(a.model_image, &spec, cwd, &img);
			if (r < 0) {
				log_error("%s", cn_err_msg());
				return CLI_EXIT_FAIL;
			}
			have_model = true;
		} else if (a.print_only) {
			/* No build and no files: only what the cache already holds; else
			 * placeholders. */
			if (model_lookup_readonly(&cfg, &spec, &img) >= 0)
				have_model = true;
			else
				log_warning("model %s is not in the cache: the command line shows "
					    "placeholders for its disks",
					    cfg.model);
		} else {
			r = model_build(&cfg, &spec, a.skip_build, &img, found_root);
			if (r == -EKEYREJECTED) {
				log_error("model %s: root hash %s differs from the pinned %s",
					  cfg.model, found_root,
					  spec.root_hash ? spec.root_hash : "?");
				return CLI_EXIT_FAIL;
			}
			if (r == -ENOENT && a.skip_build) {
				log_error("model %s is not in the cache '%s' (--skip-build): build "
					  "it first with "
					  "'build-model %s' or drop --skip-build",
					  cfg.model, cfg.models_dir, cfg.model);
				return CLI_EXIT_FAIL;
			}
			if (r < 0) {
				log_error("cannot build model %s: %s", cfg.model, cn_err_msg());
				return CLI_EXIT_FAIL;
			}
			have_model = true;
		}
		if (have_model && a.just_build) {
			(void)printf("%s@%s:%s %s\n", img.name, img.commit, img.root_hash,
				     img.tar_path);
			return CLI_EXIT_OK;
		}
		if (!have_model) {
			if (asprintf(&placeholder_tar, "%s/MODEL-NOT-BUILT.tar", cfg.models_dir) <
				0 ||
			    asprintf(&placeholder_verity, "%s.verity", placeholder_tar) < 0)
				return log_error_errno(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
		}
	} else if (a.just_build) {
		log_error("--just-build: a %s has no model", cn_node_type_name(cfg.type));
		return CLI_EXIT_USAGE;
	}

	in = (struct cn_launch_inputs){
	    .cfg = &cfg,
	    .image_cmdline = image_cmdline,
	    .model_tar = have_model ? img.tar_path : placeholder_tar,
	    .model_verity = have_model ? img.verity_path : placeholder_verity,
	    .spec_share = spec_share,
	    .instance_dir = instance_dir,
	    .extra = a.extra,
	    .n_extra = a.n_extra,
	};
	r = cn_launch_argv(&in, &qargv);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	if (a.print_only)
		return print_argv(&qargv, a.json);

	/* From here on, side effects. --prepare-only (as the reference's) only prepares the spec
	 * share: no GPU, QEMU or host checks, no disk; it still takes the instance lock, because
	 * the share of a running instance must not be replaced under it. */
	if (cfg.gpu && !a.prepare_only) {
		r = check_gpu(&cfg, &a);
		if (r)
			return r;
	}
	if (!a.prepare_only) {
		r = cn_launch_find_executable(cfg.qemu, getenv("PATH"), &qemu_path);
		if (r < 0) {
			log_error("%s", cn_err_msg());
			return EXIT_PREREQ;
		}
		r = check_qemu(&cfg, qemu_path);
		if (r)
			return r;
		r = check_host(&cfg, dev_dir, a.sysfs_dir ? a.sysfs_dir : "/sys");
		if (r)
			return r;
	}

	r = cn_launch_claims_from_config(&cfg, &claims);
	if (r < 0)
		return log_error_errno(r, "out of memory"), CLI_EXIT_FAIL;
	r = cn_launch_lock_instance(cfg.run_dir, &claims, &lock_fd);
	cn_launch_claims_done(&claims);
	if (r == -EBUSY || r == -EADDRINUSE) {
		log_error("%s", cn_err_msg());
		return EXIT_IN_USE;
	}
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	if (!a.prepare_only) {
		r = check_ports(&cfg, dev_dir);
		if (r)
			return r;
		r = cn_launch_ensure_persistent(cfg.persistent, CN_LAUNCH_PERSISTENT_SIZE,
						&created);
		if (r < 0) {
			log_error("%s", cn_err_msg());
			return CLI_EXIT_FAIL;
		}
		if (created)
			log_info("created persistent disk %s (sparse, 100 GiB)", cfg.persistent);
	}

	r = cn_launch_copy_tree(cfg.spec_dir, spec_share);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	if (!cfg.root_contract_address)
		log_warning("no root_contract_address: ROOT_CONTRACT_ADDRESS is not written (the "
			    "guest spec's value applies)");
	r = upsert_runtime_vars(&cfg, spec_share, have_model ? &img : NULL);
	if (r < 0)
		return CLI_EXIT_FAIL;
	if (a.prepare_only) {
		(void)printf("%s\n", spec_share);
		return CLI_EXIT_OK;
	}

	/* Stale files of a previous run (we hold the instance lock). */
	{
		const char *stale[] = {"qmp.sock", "qemu.pid"};

		for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
			_cleanup_free_ char *p = cn_path_join(instance_dir, stale[i]);

			if (p)
				(void)unlink(p);
		}
	}
	cmd = cn_launch_argv_shell(qargv.v, qargv.n);
	if (!cmd)
		return log_error_errno(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
	append_launch_log(instance_dir, cmd);
	log_info("starting %s: vsock CID %u, ssh port %u, http port %u%s%s, QMP %s/qmp.sock", name,
		 cfg.cid, cfg.host_ssh_port, cfg.host_http_port, cfg.gpu ? ", GPU " : "",
		 cfg.gpu ? cfg.gpu : "", instance_dir);
	log_info("QEMU: %s", cmd);
	(void)fflush(stdout);
	(void)fflush(stderr);

	/* QEMU inherits the instance lock: it is held exactly as long as the guest runs. */
	if (fcntl(lock_fd, F_SETFD, 0) < 0)
		return log_error_errno(-errno, "cannot pass the instance lock to QEMU"),
		       CLI_EXIT_FAIL;
	execve(qemu_path, qargv.v, environ);
	r = -errno;
	log_error_errno(r, "cannot execute '%s'", qemu_path);
	return CLI_EXIT_FAIL;
}

int cmd_launch(int argc, char **argv)
{
	return run_launch(argc, argv);
}

int alias_cocoon_launch(int argc, char **argv)
{
	return cmd_launch(argc, argv);
}
