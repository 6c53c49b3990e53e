/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest bundle: on a connected host, fetch the RIMs and OCSP answers a guest will need,
 * into a directory that `attest verify|run --bundle DIR` reads (docs/attest-online.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "attest/evidence.h"
#include "attest/live.h"
#include "attest/rim/rim.h"
#include "base/fileio.h"
#include "base/log.h"
#include "cli/attest-online.h"
#include "cli/cli.h"

#define BUNDLE_IDS_MAX 64

static void bundle_help(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s attest bundle (--evidence FILE | --rim-id ID...) --out DIR "
	    "[OPTIONS]\n"
	    "\n"
	    "Fetches from NVIDIA's services the RIMs and the OCSP answers (device chains\n"
	    "and RIM signing chains) that verifying this evidence needs, and writes them\n"
	    "to DIR for `attest verify|run --bundle DIR` on a host without network.\n"
	    "\n"
	    "  --evidence FILE       NVIDIA JSON evidence of the GPUs to prepare for\n"
	    "  --rim-id ID           a RIM id (repeatable), e.g. "
	    "NV_GPU_DRIVER_GH100_550.90.07\n"
	    "  --out DIR             the bundle directory (created, mode 0700)\n"
	    "  --rim-root PEM        replace the pinned CoRIM signing root (tests only)\n"
	    "  --json                print what was fetched as JSON\n"
	    "  -h, --help            this help\n"
	    "\n",
	    cli_prog());
	attest_online_help(f);
	(void)fprintf(f, "\nExit status: 0 written, 1 something could not be fetched, 2 usage.\n");
}

enum { OPT_EVIDENCE = 1, OPT_RIM_ID, OPT_OUT, OPT_RIM_ROOT, OPT_JSON };

int attest_verb_bundle(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"evidence", required_argument, NULL, OPT_EVIDENCE},
	    {"rim-id", required_argument, NULL, OPT_RIM_ID},
	    {"out", required_argument, NULL, OPT_OUT},
	    {"rim-root", required_argument, NULL, OPT_RIM_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    ATTEST_ONLINE_LONGOPTS,
	    {0},
	};
	struct attest_online on = {0};
	_cleanup_(cn_live_freep) struct cn_live *live = NULL;
	const char *evidence = NULL, *out = NULL, *ids[BUNDLE_IDS_MAX];
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t nonce[CN_OCSP_NONCE_LEN];
	size_t n_ids = 0, len, nr = 0, no = 0;
	bool json = false;
	int c, r, rc = CLI_EXIT_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_EVIDENCE:
			evidence = optarg;
			break;
		case OPT_RIM_ID:
			if (n_ids >= BUNDLE_IDS_MAX || !cn_rim_id_valid(optarg)) {
				log_error("--rim-id '%s': invalid or more than %d ids", optarg,
					  BUNDLE_IDS_MAX);
				return CLI_EXIT_USAGE;
			}
			ids[n_ids++] = optarg;
			break;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_RIM_ROOT:
			on.lo.rim_root_path = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			bundle_help(stdout);
			return CLI_EXIT_OK;
		default:
			r = attest_online_opt(&on, c, optarg);
			if (r > 0)
				break;
			if (r == 0)
				bundle_help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc || !out || !!evidence == !!n_ids) {
		log_error("give --out DIR and either --evidence FILE or --rim-id ID...");
		return CLI_EXIT_USAGE;
	}
	if (on.offline) {
		log_error("a bundle is fetched from the services: --offline does not apply");
		return CLI_EXIT_USAGE;
	}
	if (evidence) {
		r = cn_read_file(evidence, CN_EVIDENCE_MAX, &buf, &len);
		if (r < 0)
			return log_error_errno(r, "cannot read evidence '%s'", evidence),
			       CLI_EXIT_FAIL;
		r = cn_evidence_parse_json((const char *)buf, len, &set);
		if (r < 0)
			return log_error("invalid evidence '%s': %s", evidence, cn_err_msg()),
			       CLI_EXIT_FAIL;
	}
	/* The answers are fetched for this bundle only: any fresh nonce proves them live. */
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return log_error("no random nonce"), CLI_EXIT_FAIL;
	on.lo.offline = false;
	on.lo.cache_dir = on.no_cache ? NULL : on.lo.cache_dir;
	r = cn_live_new(&on.lo, &live);
	if (r < 0)
		return log_error("%s", cn_err_msg()), CLI_EXIT_FAIL;
	r = set ? cn_live_prefetch(live, set, nonce)
		: cn_live_prefetch_rims(live, ids, n_ids, nonce);
	if (r >= 0)
		r = cn_live_write_bundle(live, out, &nr, &no);
	if (r < 0) {
		log_error("bundle '%s' not written: %s", out, cn_err_msg());
		goto done;
	}
	if (json) {
		json_t *j = cn_live_report(live);
		char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

		if (text)
			(void)puts(text);
		free(text);
		json_decref(j);
	} else {
		(void)printf("%s: %zu RIMs, %zu OCSP answers\n", out, nr, no);
	}
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
done:
	if (live && on.live_report) {
		json_t *j = cn_live_report(live);

		attest_online_report(&on, j);
		json_decref(j);
	}
	return rc;
}
