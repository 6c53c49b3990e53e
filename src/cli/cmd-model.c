/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon model build|verify|open|close, and the build-model alias (reference grammar:
 * build-model [options] <name>[@<commit>[:<roothash>]]). See docs/reference/model.md.
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
#include "model/model.h"
#include "net/fetch.h"

/* cocoon model verify: 0 good, 1 root hash differs, 2 corrupt, 3 could not check, 64 usage. */
#define VERIFY_EXIT_CANNOT CN_EXIT_ERROR
#define VERIFY_EXIT_USAGE CN_EXIT_USAGE

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
	    "Without --from-dir, a Hugging Face cache snapshot ($HF_HOME/hub/models--ORG--NAME/\n"
	    "snapshots/COMMIT) is used when present, else the model is downloaded and every file\n"
	    "checked against the hub's SHA-256 / git blob id (HF_ENDPOINT, HF_HUB_OFFLINE,\n"
	    "HF_HUB_DOWNLOAD_TIMEOUT, REQUESTS_CA_BUNDLE: see docs/reference/model-download.md).\n"
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

static int run_build(const char *prog, int argc, char **argv)
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
	const char *from_dir = NULL, *images_dir = NULL, *token = NULL, *registry = NULL;
	struct cn_model_spec spec = {0};
	struct cn_model_image img = {0};
	struct cn_model_build_opts o = {.notify = notify_stderr};
	bool json = false, quiet = false, offline = false, push = false;
	const char *e;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_FROM:
			from_dir = optarg;
			break;
		case OPT_IMAGES:
			images_dir = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "gnu-1.35") == 0)
				o.tar_format = CN_TAR_GNU_1_35;
			else if (strcmp(optarg, "gnu-1.34") == 0)
				o.tar_format = CN_TAR_GNU_1_34;
			else {
				log_error("--tar-format: '%s' is not gnu-1.35 or gnu-1.34", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_REGISTRY:
			registry = optarg;
			break;
		case OPT_PUSH:
			push = true;
			break;
		case 'q':
			quiet = true;
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
	r = cn_model_spec_parse(argv[optind], &spec);
	if (r < 0) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	if (push && !cli_model_registry(registry)) {
		log_error("--push needs --registry PREFIX (or $COCOON_REGISTRY)");
		r = CLI_EXIT_USAGE;
		goto out;
	}
	if (quiet)
		cn_set_log_level(CN_LOG_WARN);
	if (!images_dir) {
		e = getenv("COCOON_IMAGES_DIR");
		images_dir = e && *e ? e : "images";
	}
	e = getenv("HF_HUB_OFFLINE");
	if (e && *e && cn_parse_bool(e, &offline) < 0) {
		log_error("HF_HUB_OFFLINE='%s' is not a boolean", e);
		r = CLI_EXIT_USAGE;
		goto out;
	}
	o.name = spec.name;
	o.expected_root = spec.root_hash;
	o.images_dir = images_dir;
	o.progress = !quiet;

	if (from_dir) {
		if (!spec.commit) {
			log_error("--from-dir needs the commit: %s@COMMIT", spec.name);
			r = CLI_EXIT_USAGE;
			goto out;
		}
		o.commit = spec.commit;
		o.source_dir = from_dir;
		r = cn_model_build(&o, &img);
	} else {
		struct cn_model_fetch_opts fo = {
		    .spec = &spec,
		    .build = o,
		    .hub = {.token = token, .offline = offline, .progress = !quiet},
		};

		registry = cli_model_registry(registry);
		if (registry && cli_model_registry_pull(registry, &spec, images_dir, quiet) > 0) {
			o.commit = spec.commit;
			o.cache_only = true;
			r = cn_model_build(&o, &img);
		} else
			r = cn_model_fetch(&fo, &img);
	}
	if (r >= 0 && push && (registry = cli_model_registry(registry)) &&
	    cli_model_registry_push(registry, &img, images_dir, quiet) < 0)
		r = -EIO;
	if (r == -EKEYREJECTED && img.name) {
		if (img.discarded)
			log_error("root hash mismatch for %s@%s: expected %s, got %s (the image "
				  "was not kept)",
				  img.name, img.commit, spec.root_hash, img.root_hash);
		else
			log_error("root hash mismatch for %s@%s: expected %s, got %s (cached "
				  "image %s)",
				  img.name, img.commit, spec.root_hash, img.root_hash,
				  img.tar_path);
		if (json)
			(void)print_result(&img, true, spec.root_hash, false);
		r = CN_EXIT_REJECTED;
		goto out;
	}
	if (r < 0)
		goto fail;
	r = print_result(&img, json, spec.root_hash, true);
	if (r < 0) {
		log_error_errno(r, "cannot write the result to stdout");
		r = CLI_EXIT_FAIL;
		goto out;
	}
	r = CLI_EXIT_OK;
	goto out;
fail:
	log_error("cannot build %s: %s", spec.name, cn_err_msg()[0] ? cn_err_msg() : strerror(-r));
	if (json) {
		json_t *j = json_pack("{s:b,s:s,s:s}", "ok", false, "name", spec.name, "error",
				      cn_err_msg()[0] ? cn_err_msg() : strerror(-r));
		char *txt = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

		if (txt)
			(void)printf("%s\n", txt);
		free(txt);
		json_decref(j);
	}
	r = CLI_EXIT_FAIL;
out:
	cn_model_image_done(&img);
	cn_model_spec_done(&spec);
	return r;
}

static int verb_build(int argc, char **argv)
{
	return run_build("cocoon model build", argc, argv);
}

int alias_build_model(int argc, char **argv)
{
	return run_build("build-model", argc, argv);
}

/* --root-hash HEX or --hash-file F into root[65]; returns an exit code > 0 on usage errors. */
static int root_from_opts(const char *hex, const char *file, char root[65], int usage_code)
{
	if (!!hex == !!file) {
		log_error("give exactly one of --root-hash HEX and --hash-file FILE");
		return usage_code;
	}
	if (hex) {
		uint8_t bin[32];

		if (strlen(hex) != 64 || cn_unhex_exact(hex, bin, sizeof(bin)) < 0) {
			log_error("--root-hash: '%s' is not 64 hex digits", hex);
			return usage_code;
		}
		for (int i = 0; i < 64; i++)
			root[i] =
			    (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
		root[64] = '\0';
		return 0;
	}
	if (cn_model_read_hash_file(file, root) < 0) {
		log_error("--hash-file: %s", cn_err_msg());
		return -1;
	}
	return 0;
}

static void verify_usage(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: cocoon model verify [OPTIONS] TAR [VERITY] (--root-hash HEX | --hash-file "
	    "FILE)\n"
	    "\n"
	    "Checks every block of TAR against the dm-verity hash tree in VERITY (default "
	    "TAR.verity)\n"
	    "and the tree against the root hash, on all cores, like 'veritysetup verify'.\n"
	    "\n"
	    "Options:\n"
	    "  --root-hash HEX    the expected root hash (64 hex digits)\n"
	    "  --hash-file FILE   read the root hash from FILE (e.g. TAR.hash)\n"
	    "  --json             print the verdict as JSON on stdout\n"
	    "  -q, --quiet        no progress bar, no success line\n"
	    "  -h, --help         this text\n"
	    "\n"
	    "Exit status: 0 good, 1 could not check (missing or unreadable file), 2 usage error,\n"
	    "3 rejected: the root hash differs, or the image is corrupt (data, hash tree or\n"
	    "superblock; the first bad position is printed).\n");
}

static int verb_verify(int argc, char **argv)
{
	enum { OPT_ROOT = 0x100, OPT_HASHFILE, OPT_JSON };
	static const struct option opts[] = {
	    {"root-hash", required_argument, NULL, OPT_ROOT},
	    {"hash-file", required_argument, NULL, OPT_HASHFILE},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *hex = NULL, *hash_file = NULL, *tar, *verity = NULL;
	struct cn_model_verify_result res;
	bool json = false, quiet = false;
	char root[65];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_ROOT:
			hex = optarg;
			break;
		case OPT_HASHFILE:
			hash_file = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			verify_usage(stdout);
			return CLI_EXIT_OK;
		default:
			verify_usage(stderr);
			return VERIFY_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		log_error(optind >= argc ? "missing the TAR to verify"
					 : "too many arguments (TAR [VERITY])");
		return VERIFY_EXIT_USAGE;
	}
	tar = argv[optind];
	if (argc - optind == 2)
		verity = argv[optind + 1];
	r = root_from_opts(hex, hash_file, root, VERIFY_EXIT_USAGE);
	if (r < 0)
		return VERIFY_EXIT_CANNOT;
	if (r > 0)
		return r;
	r = cn_model_verify(tar, verity, root, !quiet && !json, &res);
	if (r < 0) {
		log_error("cannot verify '%s': %s", tar, cn_err_msg());
		return VERIFY_EXIT_CANNOT;
	}
	if (json) {
		json_t *j = json_pack("{s:s,s:i,s:s,s:s,s:I,s:i}", "status",
				      res.status == 0	? "ok"
				      : res.status == 1 ? "bad-root-hash"
							: "corrupt",
				      "exit", res.status ? CN_EXIT_REJECTED : CN_EXIT_OK, "tar",
				      tar, "root_hash", root, "data_blocks",
				      (json_int_t)res.data_blocks, "levels", (int)res.levels);
		char *s;

		if (j && res.root_hash[0])
			(void)json_object_set_new(j, "computed_root_hash",
						  json_string(res.root_hash));
		if (j && res.status == 2 && (res.bad_offset || strstr(res.message, "position"))) {
			(void)json_object_set_new(j, "bad_offset",
						  json_integer((json_int_t)res.bad_offset));
			(void)json_object_set_new(
			    j, "bad_in", json_string(res.bad_in_hash_file ? "hash-file" : "data"));
		}
		if (j && res.status)
			(void)json_object_set_new(j, "message", json_string(res.message));
		s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(j);
		if (!s)
			return VERIFY_EXIT_CANNOT;
		(void)printf("%s\n", s);
		free(s);
	}
	if (res.status == 0) {
		if (!json && !quiet)
			(void)printf("%s: ok (%llu data blocks, root hash %s)\n", tar,
				     (unsigned long long)res.data_blocks, root);
		return 0;
	}
	if (res.status == 2)
		log_error("%s: %s%s", tar, res.message,
			  strstr(res.message, "position") ? " Verification of data area failed."
							  : "");
	else
		log_error("%s: %s (expected %s, the tree gives %s)", tar, res.message, root,
			  res.root_hash);
	return CN_EXIT_REJECTED; /* bad root hash or corrupt; "status" in --json says which */
}

static void open_usage(FILE *f)
{
	(void)fprintf(f,
		      "Usage: cocoon model open [--name NAME] TAR [VERITY] (--root-hash HEX | "
		      "--hash-file FILE)\n"
		      "       cocoon model close [NAME]\n"
		      "\n"
		      "Guest side: activates TAR as the read-only dm-verity device "
		      "/dev/mapper/NAME (default\n"
		      "model.tar) with the hash tree VERITY (default TAR.verity), checked against "
		      "the root hash\n"
		      "by the kernel on every read (libcryptsetup; needs root and device-mapper).\n"
		      "'close' removes the device.\n"
		      "\n"
		      "Exit status: 0 done, 1 failure, 2 usage error.\n");
}

static int verb_open(int argc, char **argv)
{
	enum { OPT_ROOT = 0x100, OPT_HASHFILE, OPT_NAME };
	static const struct option opts[] = {
	    {"root-hash", required_argument, NULL, OPT_ROOT},
	    {"hash-file", required_argument, NULL, OPT_HASHFILE},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *hex = NULL, *hash_file = NULL, *name = "model.tar", *tar;
	_cleanup_free_ char *verity = NULL;
	char root[65];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_ROOT:
			hex = optarg;
			break;
		case OPT_HASHFILE:
			hash_file = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case 'h':
			open_usage(stdout);
			return CLI_EXIT_OK;
		default:
			open_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		log_error(optind >= argc ? "missing the TAR to open"
					 : "too many arguments (TAR [VERITY])");
		return CLI_EXIT_USAGE;
	}
	tar = argv[optind];
	if (argc - optind == 2)
		verity = strdup(argv[optind + 1]);
	else if (asprintf(&verity, "%s.verity", tar) < 0)
		verity = NULL;
	if (!verity)
		return CLI_EXIT_FAIL;
	r = root_from_opts(hex, hash_file, root, CLI_EXIT_USAGE);
	if (r != 0)
		return r < 0 ? CLI_EXIT_FAIL : r;
	r = cn_model_open(tar, verity, root, name);
	if (r < 0) {
		log_error("cannot open '%s': %s", tar, cn_err_msg());
		return r == -EINVAL	    ? CLI_EXIT_USAGE
		       : r == -EKEYREJECTED ? CN_EXIT_REJECTED
					    : CLI_EXIT_FAIL;
	}
	(void)printf("/dev/mapper/%s\n", name);
	return CLI_EXIT_OK;
}

static int verb_close(int argc, char **argv)
{
	const char *name = "model.tar";
	int r;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		open_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		log_error("usage: cocoon model close [NAME]");
		return CLI_EXIT_USAGE;
	}
	if (argc == 2)
		name = argv[1];
	r = cn_model_close(name);
	if (r < 0) {
		log_error("cannot close '%s': %s", name, cn_err_msg());
		return r == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static const struct cli_verb model_verbs[] = {
    {"build", verb_build, "build (or find in the cache) the dm-verity image of NAME@COMMIT", 1, 1,
     "NAME[@COMMIT[:ROOTHASH]]"},
    {"verify", verb_verify, "check a tar against its verity hash tree and root hash", 1, 2,
     "TAR [VERITY]"},
    {"open", verb_open, "guest: activate an image as a read-only dm-verity device", 1, 2,
     "TAR [VERITY]"},
    {"close", verb_close, "guest: remove the dm-verity device", 0, 1, "[NAME]"},
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
