/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon model: the verb table, and the build verb with its build-model alias (reference
 * grammar: build-model [options] <name>[@<commit>[:<roothash>]]); the use case is
 * cn_model_fetch() (src/acquire). Other verbs: cmd-model-*.c. See docs/reference/model.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "cli/cmd-model.h"
#include "hf/cache.h"
#include "model/model.h"
#include "acquire/fetch.h"
#include "oci/oci.h"

static void build_usage(FILE *f, const char *prog)
{
	(void)fprintf(
	    f,
	    "Usage: %s [OPTIONS] NAME[@COMMIT[:ROOTHASH]]\n"
	    "\n"
	    "Builds the dm-verity model image NAME@COMMIT: a tar byte-identical to the reference\n"
	    "(GNU tar posix format, sorted, normalized), its .verity hash file and .hash root "
	    "hash.\n"
	    "Prints exactly 'NAME@COMMIT:ROOTHASH /absolute/path/to.tar' on stdout.\n"
	    "\n"
	    "Options:\n"
	    "  --from-dir DIR        build from this snapshot folder (COMMIT is then required)\n"
	    "  --images-dir DIR      output folder (default: $COCOON_IMAGES_DIR, else ./images)\n"
	    "  --tar-format FORMAT   gnu-1.35 (default) or gnu-1.34 (devmajor/devminor fields)\n"
	    "  --hf-token TOKEN      Hugging Face token for downloads (default: $HF_TOKEN, else "
	    "$HF_HOME/token)\n"
	    "  --registry PREFIX     first try to pull NAME@COMMIT:ROOTHASH from "
	    "PREFIX/<name>:<commit>\n"
	    "                        (default: $COCOON_REGISTRY; see docs/distribution.md)\n"
	    "  --push                after a build, push the image to the --registry\n"
	    "  --json                print the result as JSON instead of the model line\n"
	    "  -q, --quiet           no progress bar, no notes\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Without --from-dir, the files of the commit are taken from the Hugging Face cache\n"
	    "(HF_HUB_CACHE, else $HF_HOME/hub) when the snapshot there matches the hub's listing "
	    "of\n"
	    "the commit (offline: its trees/COMMIT.json), else downloaded, every file checked\n"
	    "against the hub's SHA-256 / git blob id (HF_ENDPOINT, HF_HUB_OFFLINE,\n"
	    "HF_HUB_DOWNLOAD_TIMEOUT, COCOON_HF_MIN_RATE, REQUESTS_CA_BUNDLE: see\n"
	    "docs/reference/model-download.md).\n"
	    "If ROOTHASH is given and differs, exits 3 naming both hashes (a new image is not "
	    "kept).\n"
	    "Exit status: 0 built or cached, 1 failure, 2 usage error, 3 root hash mismatch.\n",
	    prog);
}

static void notify_stderr(void *userdata, const char *msg)
{
	log_info("%s", msg);
}

static int print_result(const struct cn_model_image *img, bool json, const char *expected, bool ok)
{
	if (json) {
		json_t *j = json_pack("{s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b}", "ok", ok, "name",
				      img->name, "commit", img->commit, "root_hash", img->root_hash,
				      "tar", img->tar_path, "verity", img->verity_path, "hash_file",
				      img->hash_path, "manifest", img->manifest_path, "tar_size",
				      (json_int_t)img->tar_size, "cached", img->cached);
		char *s;

		if (!j)
			return -ENOMEM;
		if (expected)
			(void)json_object_set_new(j, "expected_root_hash", json_string(expected));
		s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (!s)
			return -ENOMEM;
		(void)printf("%s\n", s);
		free(s);
	} else if (ok) {
		(void)printf("%s@%s:%s %s\n", img->name, img->commit, img->root_hash,
			     img->tar_path);
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

struct build_args {
	const char *from_dir, *images_dir, *token, *registry;
	enum cn_tar_format tar_format;
	bool json, quiet, push;
};

/* Parses the options and checks the argument count; -1 to go on, else an exit status. */
static int parse_build(const char *prog, int argc, char **argv, struct build_args *a)
{
	enum {
		OPT_FROM = 0x100,
		OPT_IMAGES,
		OPT_FORMAT,
		OPT_TOKEN,
		OPT_JSON,
		OPT_REGISTRY,
		OPT_PUSH
	};
	static const struct option opts[] = {
	    {"from-dir", required_argument, NULL, OPT_FROM},
	    {"images-dir", required_argument, NULL, OPT_IMAGES},
	    {"tar-format", required_argument, NULL, OPT_FORMAT},
	    {"hf-token", required_argument, NULL, OPT_TOKEN},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"registry", required_argument, NULL, OPT_REGISTRY},
	    {"push", no_argument, NULL, OPT_PUSH},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_FROM:
			a->from_dir = optarg;
			break;
		case OPT_IMAGES:
			a->images_dir = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "gnu-1.35") == 0)
				a->tar_format = CN_TAR_GNU_1_35;
			else if (strcmp(optarg, "gnu-1.34") == 0)
				a->tar_format = CN_TAR_GNU_1_34;
			else {
				log_error("--tar-format: '%s' is not gnu-1.35 or gnu-1.34", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_TOKEN:
			a->token = optarg;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_REGISTRY:
			a->registry = optarg;
			break;
		case OPT_PUSH:
			a->push = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			build_usage(stdout, prog);
			return CLI_EXIT_OK;
		default:
			build_usage(stderr, prog);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error(optind >= argc ? "missing the model NAME[@COMMIT[:ROOTHASH]]"
					 : "expected one model spec, got '%s' too",
			  optind >= argc ? "" : argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

/* The exit status of a failed fetch, after its one error line (and the JSON result). */
static int report_failure(int r, const struct cn_model_spec *spec, const struct cn_model_image *img,
			  bool json)
{
	const char *msg = cn_err_msg()[0] ? cn_err_msg() : strerror(-r);

	if (r == -EKEYREJECTED && img->name) {
		log_error("root hash mismatch for %s@%s: expected %s, got %s (%s%s)", img->name,
			  img->commit, spec->root_hash, img->root_hash,
			  img->discarded ? "the image was not kept" : "cached image ",
			  img->discarded ? "" : img->tar_path);
		if (json)
			(void)print_result(img, true, spec->root_hash, false);
		return CN_EXIT_REJECTED;
	}
	log_error("cannot build %s: %s", spec->name, msg);
	if (json) {
		json_t *j =
		    json_pack("{s:b,s:s,s:s}", "ok", false, "name", spec->name, "error", msg);
		char *txt = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

		if (txt)
			(void)printf("%s\n", txt);
		free(txt);
		json_decref(j);
	}
	return CLI_EXIT_FAIL;
}

static int run_build(const char *prog, int argc, char **argv)
{
	struct build_args a = {.tar_format = CN_TAR_GNU_1_35};
	_cleanup_(cn_model_spec_done) struct cn_model_spec spec = {0};
	_cleanup_(cn_model_image_done) struct cn_model_image img = {0};
	struct cn_model_fetch_opts fo = {.spec = &spec};
	bool offline = false;
	const char *e;
	int r;

	r = parse_build(prog, argc, argv, &a);
	if (r >= 0)
		return r;
	r = cn_model_spec_parse(argv[optind], &spec);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	/* --registry, else $COCOON_REGISTRY (docs/distribution.md). */
	fo.registry = cn_oci_registry_prefix(a.registry);
	if (a.push && !fo.registry) {
		log_error("--push needs --registry PREFIX (or $COCOON_REGISTRY)");
		return CLI_EXIT_USAGE;
	}
	if (a.from_dir && !spec.commit) {
		log_error("--from-dir needs the commit: %s@COMMIT", spec.name);
		return CLI_EXIT_USAGE;
	}
	if (a.quiet)
		cn_set_log_level(CN_LOG_WARN);
	if (!a.images_dir) {
		e = getenv("COCOON_IMAGES_DIR");
		a.images_dir = e && *e ? e : "images";
	}
	if (cn_hf_offline(false, &offline) < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	fo.build = (struct cn_model_build_opts){.images_dir = a.images_dir,
						.tar_format = a.tar_format,
						.progress = !a.quiet,
						.notify = notify_stderr};
	fo.hub = (struct cn_hub_opts){.token = a.token, .offline = offline, .progress = !a.quiet};
	fo.from_dir = a.from_dir;
	fo.push = a.push ? CN_MODEL_PUSH_STORED : CN_MODEL_PUSH_NONE;
	r = cn_model_fetch(&fo, &img);
	if (r < 0)
		return report_failure(r, &spec, &img, a.json);
	r = print_result(&img, a.json, spec.root_hash, true);
	if (r < 0) {
		log_error_errno(r, "cannot write the result to stdout");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int verb_build(int argc, char **argv)
{
	return run_build("cocoon model build", argc, argv);
}

int alias_build_model(int argc, char **argv)
{
	return run_build("build-model", argc, argv);
}

/* One line per verb; a verb lives in its own cmd-model-*.c (declared in cmd-model.h). */
static const struct cli_verb model_verbs[] = {
    {"build", verb_build, "build (or find in the cache) the dm-verity image of NAME@COMMIT", 1, 1,
     "NAME[@COMMIT[:ROOTHASH]]"},
    {"verify", cli_model_verify, "check a tar against its verity hash tree and root hash", 1, 2,
     "TAR [VERITY]"},
    {"open", cli_model_open, "guest: activate an image as a read-only dm-verity device", 1, 2,
     "TAR [VERITY]"},
    {"close", cli_model_close, "guest: remove the dm-verity device", 0, 1, "[NAME]"},
    {"push", cmd_model_push, "push an image of the store to an OCI registry", 2, 2,
     "NAME@COMMIT[:ROOTHASH] REGISTRY/REPO:TAG"},
    {"pull", cmd_model_pull, "pull an image from an OCI registry, verified, into the store", 1, 2,
     "REGISTRY/REPO[:TAG|@sha256:DIGEST] [NAME@COMMIT:ROOTHASH]"},
    {"mount", cmd_model_mount, "guest: verity-check the model disks and mount the files", 0, 2,
     "[NAME@COMMIT:ROOTHASH] [MOUNTPOINT]"},
    {"unmount", cmd_model_unmount, "guest: undo 'mount'", 0, 1, "[MOUNTPOINT]"},
    {},
};

int cmd_model(int argc, char **argv)
{
	return cli_dispatch(cli_prog(), "model", model_verbs, argc, argv);
}
