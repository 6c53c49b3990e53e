/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon model verify|open|close: checking an image on the host, activating it in the guest.
 * See docs/reference/model.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "cli/cmd-model.h"
#include "model/model.h"

/* cocoon model verify: 0 good, 1 could not check, 2 usage, 3 rejected (cli/exit.h). */
#define VERIFY_EXIT_CANNOT CN_EXIT_ERROR
#define VERIFY_EXIT_USAGE CN_EXIT_USAGE

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

int cli_model_verify(int argc, char **argv)
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
	(void)fprintf(
	    f, "Usage: cocoon model open [--name NAME] TAR [VERITY] (--root-hash HEX | "
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
	       "Exit status: 0 done, 1 failure, 2 usage error, 3 the root hash does not match\n"
	       "the hash tree (both are named).\n");
}

int cli_model_open(int argc, char **argv)
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

int cli_model_close(int argc, char **argv)
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
