/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest ocsp-request: writes the OCSP requests `verify` expects answers to (for a
 * responder or a cache). Options and printing only; the use case is cn_attest_ocsp_requests().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest/requests.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/attest-opts.h"
#include "cli/cli.h"

#define ARG(name) a[ATTEST_ARG_##name - ATTEST_ARG_EVIDENCE]

static void ocsp_request_help(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s ocsp-request --nonce HEX --out-dir DIR\n"
	    "         (--cert-chain FILE [--kind device|rim] | --evidence FILE [--gpu N] | --rim "
	    "FILE)\n"
	    "\n"
	    "Writes the DER OCSP requests (SHA-384 CertID, the nonce as 32-byte OCSP nonce) that\n"
	    "`verify --ocsp-dir` needs answers to, one per checked certificate: device chains\n"
	    "check certificates 1..n-2 (not the per-boot leaf), RIM signing chains 0..n-2.\n"
	    "--rim takes the signing chain embedded in a RIM file (its KeyInfo certificates).\n"
	    "Prints one line per request: FILE INDEX SUBJECT-CN.\n",
	    attest_prog_cmd());
}

static void print_request(void *userdata, const char *path, int index, const char *cn)
{
	(void)printf("%s %d %s\n", path, index, cn);
}

int attest_verb_ocsp_request(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"nonce", required_argument, NULL, ATTEST_ARG_NONCE},
	    {"out-dir", required_argument, NULL, ATTEST_ARG_OUT_DIR},
	    {"cert-chain", required_argument, NULL, ATTEST_ARG_CHAIN},
	    {"evidence", required_argument, NULL, ATTEST_ARG_EVIDENCE},
	    {"gpu", required_argument, NULL, ATTEST_ARG_GPU},
	    {"kind", required_argument, NULL, ATTEST_ARG_KIND},
	    {"rim", required_argument, NULL, ATTEST_ARG_RIM},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *a[ATTEST_ARG_END - ATTEST_ARG_EVIDENCE] = {0};
	struct cn_ocsp_requests_config cfg = {.written = print_request};
	const char *kind;
	uint32_t gi = 0;
	int r = attest_parse_args(argc, argv, opts, ocsp_request_help, a, NULL, NULL);

	if (r >= 0)
		return r;
	cfg.chain_path = ARG(CHAIN), cfg.evidence_path = ARG(EVIDENCE);
	cfg.rim_path = ARG(RIM), cfg.out_dir = ARG(OUT_DIR);
	kind = cfg.rim_path ? "rim" : ARG(KIND) ? ARG(KIND) : "device";
	if (!ARG(NONCE) || !cfg.out_dir ||
	    !!cfg.chain_path + !!cfg.evidence_path + !!cfg.rim_path != 1) {
		ocsp_request_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (attest_parse_nonce(ARG(NONCE), cfg.nonce) < 0)
		return CLI_EXIT_USAGE;
	if (strcmp(kind, "device") != 0 && strcmp(kind, "rim") != 0) {
		log_error("--kind must be 'device' or 'rim'");
		return CLI_EXIT_USAGE;
	}
	if (ARG(GPU) && cn_parse_u32(ARG(GPU), CN_EVIDENCE_GPUS_MAX - 1, &gi) < 0) {
		log_error("--gpu '%s' is not a GPU index", ARG(GPU));
		return CLI_EXIT_USAGE;
	}
	cfg.gpu = gi;
	cfg.rim_chain = strcmp(kind, "rim") == 0;
	r = cn_attest_ocsp_requests(&cfg);
	if (r < 0)
		return log_error("%s", cn_err_msg()), r == -EDOM ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	return CLI_EXIT_OK;
}
