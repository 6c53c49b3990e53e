/* SPDX-License-Identifier: Apache-2.0 */
/* The command-line pieces the `cocoon attest` verbs share (attest-opts.h). */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "base/parse.h"
#include "cli/attest-opts.h"
#include "cli/cli.h"

const char *attest_prog_cmd(void)
{
	return strcmp(cli_prog(), "cocoon") == 0 ? "cocoon attest" : cli_prog();
}

int attest_verifier_opt(struct attest_verifier_opts *v, int c, const char *arg)
{
	const char **slot[] = {
	    [ATTEST_OPT_RIM_DIR - ATTEST_OPT_RIM_DIR] = &v->rim_dir,
	    [ATTEST_OPT_OCSP_DIR - ATTEST_OPT_RIM_DIR] = &v->ocsp_dir,
	    [ATTEST_OPT_OCSP - ATTEST_OPT_RIM_DIR] = &v->ocsp,
	    [ATTEST_OPT_POLICY - ATTEST_OPT_RIM_DIR] = &v->policy,
	    [ATTEST_OPT_DEVICE_ROOT - ATTEST_OPT_RIM_DIR] = &v->device_root,
	    [ATTEST_OPT_RIM_ROOT - ATTEST_OPT_RIM_DIR] = &v->rim_root,
	};

	if (c < ATTEST_OPT_RIM_DIR || c > ATTEST_OPT_RIM_ROOT)
		return 0;
	*slot[c - ATTEST_OPT_RIM_DIR] = arg;
	return 1;
}

int attest_verifier_check(const struct attest_verifier_opts *v)
{
	if (v->ocsp && strcmp(v->ocsp, "off") != 0) {
		log_error("--ocsp accepts only 'off' (use --ocsp-dir DIR for recorded responses)");
		return -1;
	}
	if (v->ocsp && v->ocsp_dir) {
		log_error("--ocsp off and --ocsp-dir exclude each other");
		return -1;
	}
	return 0;
}

int attest_parse_args(int argc, char **argv, const struct option *opts, void (*help)(FILE *),
		      const char **a, struct attest_verifier_opts *v, struct attest_online *on)
{
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if (c >= ATTEST_ARG_EVIDENCE && c < ATTEST_ARG_JSON) {
			a[c - ATTEST_ARG_EVIDENCE] = optarg;
		} else if (c == 'h') {
			help(stdout);
			return CLI_EXIT_OK;
		} else if (c != ATTEST_ARG_JSON) {
			if (v && attest_verifier_opt(v, c, optarg))
				continue;
			r = on ? attest_online_opt(on, c, optarg)
			       : 0; /* --online, --cache-dir ... */
			if (r > 0)
				continue;
			if (r == 0)
				help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

int attest_parse_nonce(const char *s, uint8_t out[32])
{
	if (!s) {
		log_error(
		    "--nonce is required (the 64-hex-digit nonce the evidence must be bound to)");
		return -EINVAL;
	}
	if (strlen(s) != 64 || cn_unhex_exact(s, out, 32) < 0) {
		log_error("--nonce '%s' is not 64 hex digits", s);
		return -EINVAL;
	}
	return 0;
}
