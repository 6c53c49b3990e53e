/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon model push | pull: model images through an OCI registry (src/oci). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "model/model.h"
#include "oci/oci.h"

static void notify_stderr(void *userdata, const char *msg)
{
	log_info("%s", msg);
}

static const char *images_default(const char *v)
{
	const char *e = getenv("COCOON_IMAGES_DIR");

	return v ? v : e && *e ? e : "images";
}

static int exit_for(int r)
{
	return r == -EKEYREJECTED ? CN_EXIT_REJECTED
	       : r == -EINVAL	  ? CLI_EXIT_USAGE
				  : CLI_EXIT_FAIL;
}

static void push_usage(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s model push [OPTIONS] NAME@COMMIT[:ROOTHASH] REGISTRY/REPO:TAG\n"
	    "\n"
	    "Pushes the image NAME@COMMIT of the local image store to an OCI registry as an\n"
	    "artifact (%s): one config blob (the image manifest), one layer for the tar, one\n"
	    "for the verity tree. Blobs the registry already has are not uploaded again.\n"
	    "\n"
	    "Options:\n"
	    "  --images-dir DIR     the image store (default: $COCOON_IMAGES_DIR, else ./images)\n"
	    "  --mount-from REPO    try a cross-repository mount from REPO (same registry) first\n"
	    "  --chunk-size BYTES   upload in PATCH chunks of this size (default: one PUT)\n"
	    "  --max-rate BYTES     limit each transfer to BYTES per second\n"
	    "  --json               print the result as JSON\n"
	    "  -q, --quiet          no progress bar\n"
	    "  -h, --help           this text\n"
	    "\n"
	    "Credentials: $DOCKER_CONFIG/config.json, else ~/.docker/config.json (Basic, or a\n"
	    "Bearer token from the registry's realm). Trust anchors: REQUESTS_CA_BUNDLE or\n"
	    "CURL_CA_BUNDLE, else the system store. https only.\n"
	    "Exit status: 0 pushed, 1 failure, 2 usage error, 3 the stored image has another root "
	    "hash.\n",
	    cli_prog(), CN_OCI_MT_ARTIFACT);
}

static void pull_usage(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s model pull [OPTIONS] REGISTRY/REPO[:TAG|@sha256:DIGEST] "
	    "[NAME@COMMIT:ROOTHASH]\n"
	    "\n"
	    "Pulls a model image into the image store with the same lock and atomic publish as\n"
	    "'model build'. The registry is not trusted: each blob is checked against its sha256\n"
	    "digest as it streams, the tar against its verity tree, and the root hash against the\n"
	    "one expected (the spec, --root-hash, or a digest-pinned reference). Anything wrong\n"
	    "is refused and named, and nothing is published. An interrupted pull resumes.\n"
	    "Prints 'NAME@COMMIT:ROOTHASH /absolute/path/to.tar' like 'model build'.\n"
	    "\n"
	    "Options:\n"
	    "  --images-dir DIR     the image store (default: $COCOON_IMAGES_DIR, else ./images)\n"
	    "  --root-hash HEX      the expected root hash (64 hex)\n"
	    "  --max-rate BYTES     limit each transfer to BYTES per second\n"
	    "  --json               print the result as JSON\n"
	    "  -q, --quiet          no progress bar, no notes\n"
	    "  -h, --help           this text\n"
	    "\n"
	    "Exit status: 0 pulled or already present, 1 failure (network, auth, missing tag),\n"
	    "2 usage error, 3 refused as untrusted (wrong digest, verity or root hash; TLS).\n",
	    cli_prog());
}

enum { OPT_IMAGES = 0x100, OPT_MOUNT, OPT_CHUNK, OPT_RATE, OPT_JSON, OPT_ROOT };

static const struct option oci_opts[] = {
    {"images-dir", required_argument, NULL, OPT_IMAGES},
    {"mount-from", required_argument, NULL, OPT_MOUNT},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"max-rate", required_argument, NULL, OPT_RATE},
    {"root-hash", required_argument, NULL, OPT_ROOT},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {},
};

struct oci_args {
	const char *images_dir, *root;
	struct cn_oci_opts o;
	bool json, quiet;
};

/* Parses the shared options; returns -1 to go on, else an exit status. */
static int parse_opts(int argc, char **argv, bool push, struct oci_args *a)
{
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", oci_opts, NULL)) >= 0) {
		switch (c) {
		case OPT_IMAGES:
			a->images_dir = optarg;
			break;
		case OPT_MOUNT:
		case OPT_CHUNK:
			if (!push)
				goto usage;
			if (c == OPT_MOUNT)
				a->o.mount_from = optarg;
			else if (cn_parse_u64(optarg, UINT64_MAX, &v) < 0 || v < 4096) {
				log_error("--chunk-size: '%s' is not a number >= 4096", optarg);
				return CLI_EXIT_USAGE;
			} else
				a->o.chunk_size = v;
			break;
		case OPT_RATE:
			if (cn_parse_u64(optarg, UINT64_MAX, &v) < 0 || v == 0) {
				log_error("--max-rate: '%s' is not a positive number", optarg);
				return CLI_EXIT_USAGE;
			}
			a->o.max_rate = v;
			break;
		case OPT_ROOT:
			if (push)
				goto usage;
			if (strlen(optarg) != 64 || !cn_is_lower_hex(optarg, 64)) {
				log_error("--root-hash: not 64 lower-case hex digits");
				return CLI_EXIT_USAGE;
			}
			a->root = optarg;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			push ? push_usage(stdout) : pull_usage(stdout);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	a->images_dir = images_default(a->images_dir);
	a->o.progress = !a->quiet;
	a->o.notify = notify_stderr;
	if (a->quiet)
		cn_set_log_level(CN_LOG_WARN);
	return -1;
usage:
	push ? push_usage(stderr) : pull_usage(stderr);
	return CLI_EXIT_USAGE;
}

static void print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (s)
		(void)printf("%s\n", s);
	free(s);
	json_decref(j);
}

static int fail(int r, bool json, const char *what)
{
	const char *msg = cn_err_msg()[0] ? cn_err_msg() : strerror(-r);

	log_error("cannot %s: %s", what, msg);
	if (json)
		print_json(json_pack("{s:b,s:s}", "ok", false, "error", msg));
	return exit_for(r);
}

int cmd_model_push(int argc, char **argv)
{
	struct oci_args a = {0};
	struct cn_model_spec spec = {0};
	struct cn_oci_ref ref;
	struct cn_oci_push_result res;
	char refs[CN_OCI_REF_MAX + 1];
	int r;

	r = parse_opts(argc, argv, true, &a);
	if (r >= 0)
		return r;
	if (argc - optind != 2) {
		log_error("expected NAME@COMMIT[:ROOTHASH] and a reference REGISTRY/REPO:TAG");
		return CLI_EXIT_USAGE;
	}
	if (cn_model_spec_parse(argv[optind], &spec) < 0 || !spec.commit) {
		log_error("%s",
			  spec.name ? "the spec needs the commit: NAME@COMMIT" : cn_err_msg());
		cn_model_spec_done(&spec);
		return CLI_EXIT_USAGE;
	}
	if (cn_oci_ref_parse(argv[optind + 1], &ref) < 0) {
		log_error("%s", cn_err_msg());
		cn_model_spec_done(&spec);
		return CLI_EXIT_USAGE;
	}
	r = cn_oci_push(&a.o, a.images_dir, spec.name, spec.commit, spec.root_hash, &ref, &res);
	cn_oci_ref_format(&ref, refs, sizeof(refs));
	if (r < 0)
		r = fail(r, a.json, "push");
	else {
		if (a.json)
			print_json(json_pack(
			    "{s:b,s:s,s:s,s:i,s:i,s:i,s:I}", "ok", true, "reference", refs,
			    "manifest_digest", res.manifest_digest, "blobs_uploaded",
			    res.blobs_uploaded, "blobs_present", res.blobs_present, "blobs_mounted",
			    res.blobs_mounted, "bytes_uploaded", (json_int_t)res.bytes_uploaded));
		else
			(void)printf("%s@%s\n", refs, res.manifest_digest);
		log_info("pushed %s: %u blob(s) uploaded, %u already there, %u mounted", refs,
			 res.blobs_uploaded, res.blobs_present, res.blobs_mounted);
		r = CLI_EXIT_OK;
	}
	cn_model_spec_done(&spec);
	return r;
}

int cmd_model_pull(int argc, char **argv)
{
	struct oci_args a = {0};
	struct cn_model_spec spec = {0};
	struct cn_oci_ref ref;
	struct cn_oci_pull_result res = {0};
	const char *root;
	int r;

	r = parse_opts(argc, argv, false, &a);
	if (r >= 0)
		return r;
	if (argc - optind < 1 || argc - optind > 2) {
		log_error("expected a reference REGISTRY/REPO[:TAG|@DIGEST] and optionally a spec");
		return CLI_EXIT_USAGE;
	}
	if (cn_oci_ref_parse(argv[optind], &ref) < 0 ||
	    (argc - optind == 2 && cn_model_spec_parse(argv[optind + 1], &spec) < 0)) {
		log_error("%s", cn_err_msg());
		return CLI_EXIT_USAGE;
	}
	root = a.root;
	if (spec.root_hash && root && strcmp(spec.root_hash, root) != 0) {
		log_error("the spec's root hash and --root-hash differ");
		cn_model_spec_done(&spec);
		return CLI_EXIT_USAGE;
	}
	if (!root)
		root = spec.root_hash;
	if (!root && !ref.digest[0]) {
		log_error("pull needs the expected root hash: a spec NAME@COMMIT:ROOTHASH, "
			  "--root-hash, or a reference pinned by @sha256:DIGEST");
		cn_model_spec_done(&spec);
		return CLI_EXIT_USAGE;
	}
	r = cn_oci_pull(&a.o, a.images_dir, &ref, root, spec.name, spec.commit, &res);
	if (r < 0)
		r = fail(r, a.json, "pull");
	else {
		if (a.json)
			print_json(json_pack("{s:b,s:s,s:s,s:s,s:s,s:b,s:I,s:I}", "ok", true,
					     "name", res.name, "commit", res.commit, "root_hash",
					     res.root_hash, "tar", res.tar_path, "cached",
					     res.cached, "bytes_downloaded",
					     (json_int_t)res.bytes_downloaded, "bytes_resumed",
					     (json_int_t)res.bytes_resumed));
		else
			(void)printf("%s@%s:%s %s\n", res.name, res.commit, res.root_hash,
				     res.tar_path);
		r = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	cn_oci_pull_result_done(&res);
	cn_model_spec_done(&spec);
	return r;
}
