/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest (alias gpu-attest): the local GPU verifier. Options and printing only; the use
 * case is cn_attest_session_run() (attest/session.h).
 *   verify        decide on recorded evidence (exit 0 accepted, 3 rejected, 1 could not check,
 *                 2 usage)
 *   run           guest boot gate: NVML evidence, verify, ready state (cmd-attest-run.c)
 *   bundle        fetch what a guest will need (cmd-attest-bundle.c)
 *   ocsp-request  write the OCSP requests `verify` expects answers to (cmd-attest-ocsp.c)
 * The option pieces the verbs share are in attest-opts.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/gate.h"
#include "attest/session.h"
#include "base/fileio.h"
#include "base/log.h"
#include "cli/attest-opts.h"
#include "cli/cli.h"

#define EXIT_REJECTED CN_EXIT_REJECTED

static void verify_help(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s verify --nonce HEX (--evidence FILE | --report FILE --cert-chain FILE) "
	    "[OPTIONS]\n"
	    "\n"
	    "Verifies recorded NVIDIA GPU attestation evidence locally and decides with a policy.\n"
	    "\n"
	    "  --evidence FILE       NVIDIA JSON evidence: [{arch, nonce, evidence, certificate}] "
	    "(base64)\n"
	    "  --report FILE         one GPU's SPDM report (hex text or binary)\n"
	    "  --cert-chain FILE     its device certificate chain (PEM or DER), leaf first\n"
	    "  --arch NAME           architecture for --report (default HOPPER)\n"
	    "  --nonce HEX           the 64-hex-digit nonce the caller issued (required)\n"
	    "  --nonce-from-key PEM  instead: the nonce `attest run --nonce-from-key` derives "
	    "from\n"
	    "                        this public or private key (SHA-256 of a label and its SPKI)\n"
	    "  --rim-dir DIR         RIMs: <rim-id>.xml or NVIDIA sample .swidtag names\n"
	    "  --ocsp-dir DIR        DER OCSP responses (from an `openssl ocsp` responder or a "
	    "cache)\n"
	    "  --ocsp off            no OCSP (OCSP claims null; the default policy then rejects)\n"
	    "  --policy FILE         relying-party policy, version 4.0 JSON (default: built in)\n"
	    "  --time ISO8601        verification clock, e.g. 2024-01-01T00:00:00Z (default: now)\n"
	    "  --eat FILE            write the detached EAT (JWTs unsigned unless --signing-key)\n"
	    "  --signing-key PEM     P-384 private key: sign the EAT's JWTs with ES384\n"
	    "  --device-root PEM     replace the pinned NVIDIA Device Identity CA (tests only)\n"
	    "  --rim-root PEM        replace the pinned NVIDIA CoRIM signing root (tests only)\n"
	    "  --json                JSON on stdout (the default)\n"
	    "  -h, --help            this help\n"
	    "\n",
	    attest_prog_cmd());
	attest_online_help(f);
	(void)fprintf(f,
		      "\nExit status: 0 accepted, 3 rejected (policy or a failed check), 1 could "
		      "not check\n(unreadable or malformed input, a source's I/O error, services "
		      "unreachable without a\nstored answer), 2 usage.\n");
}

static int write_out(const char *path, const char *text)
{
	_cleanup_free_ char *dir = NULL;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	_cleanup_close_ int dfd = -EBADF;
	int r;

	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!dir)
		return log_error_errno(-ENOMEM, "out of memory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_error_errno(-errno, "cannot open directory '%s'", dir);
	r = cn_write_file_atomic_at(dfd, name, text, strlen(text), 0644);
	if (r < 0)
		return log_error_errno(r, "cannot write '%s'", path);
	return 0;
}

#define ARG(name) a[ATTEST_ARG_##name - ATTEST_ARG_EVIDENCE]

static int run_verify(const struct cn_attest_config *cfg, const char *eat_path,
		      const struct attest_online *on)
{
	struct cn_attest_verdict v = {0};
	_cleanup_free_ char *text = NULL;
	int rc = CLI_EXIT_FAIL;

	if (cn_attest_session_run(cfg, &v) < 0)
		return log_error("%s", cn_err_msg()), CLI_EXIT_USAGE;
	if (cfg->live)
		attest_online_report(on, v.live_report);
	if (v.decision == CN_ATTEST_ERROR) {
		log_error("%s", v.reason);
		goto done;
	}
	if (eat_path && write_out(eat_path, v.eat) < 0)
		goto done;
	text = json_dumps(v.document, JSON_INDENT(2));
	if (!text) {
		log_error("out of memory");
		goto done;
	}
	(void)fputs(text, stdout);
	(void)fputc('\n', stdout);
	if (fflush(stdout) != 0) {
		log_error("cannot write the result to stdout");
		goto done;
	}
	if (v.decision == CN_ATTEST_ACCEPTED) {
		rc = CLI_EXIT_OK;
	} else {
		log_error("rejected: %s", v.reason);
		rc = EXIT_REJECTED;
	}
done:
	cn_attest_verdict_clear(&v);
	return rc;
}

static int verb_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"evidence", required_argument, NULL, ATTEST_ARG_EVIDENCE},
	    {"report", required_argument, NULL, ATTEST_ARG_REPORT},
	    {"cert-chain", required_argument, NULL, ATTEST_ARG_CHAIN},
	    {"arch", required_argument, NULL, ATTEST_ARG_ARCH},
	    {"nonce", required_argument, NULL, ATTEST_ARG_NONCE},
	    {"nonce-from-key", required_argument, NULL, ATTEST_ARG_NONCE_KEY},
	    ATTEST_VERIFIER_LONGOPTS,
	    {"time", required_argument, NULL, ATTEST_ARG_TIME},
	    {"eat", required_argument, NULL, ATTEST_ARG_EAT},
	    {"signing-key", required_argument, NULL, ATTEST_ARG_KEY},
	    {"json", no_argument, NULL, ATTEST_ARG_JSON},
	    {"help", no_argument, NULL, 'h'},
	    ATTEST_ONLINE_LONGOPTS,
	    {0},
	};
	const char *a[ATTEST_ARG_END - ATTEST_ARG_EVIDENCE] = {0};
	const char *evidence, *report, *chain;
	struct attest_verifier_opts v = {0};
	struct cn_attest_config cfg = {0};
	struct attest_online on = {0};
	int r = attest_parse_args(argc, argv, opts, verify_help, a, &v, &on);

	if (r >= 0)
		return r;
	evidence = ARG(EVIDENCE), report = ARG(REPORT), chain = ARG(CHAIN);
	if (ARG(NONCE_KEY)) { /* the nonce `attest run --nonce-from-key` used */
		if (ARG(NONCE)) {
			log_error("--nonce and --nonce-from-key exclude each other");
			return CLI_EXIT_USAGE;
		}
		if (cn_gate_nonce_from_key(ARG(NONCE_KEY), cfg.nonce, NULL) < 0)
			return log_error("--nonce-from-key: %s", cn_err_msg()), CLI_EXIT_FAIL;
	} else if (attest_parse_nonce(ARG(NONCE), cfg.nonce) < 0) {
		return CLI_EXIT_USAGE;
	}
	if (!!evidence == !!(report || chain) || (!evidence && (!report || !chain))) {
		log_error(
		    "give either --evidence FILE or both --report FILE and --cert-chain FILE");
		return CLI_EXIT_USAGE;
	}
	if (attest_verifier_check(&v) < 0)
		return CLI_EXIT_USAGE;
	if (ARG(KEY) && !ARG(EAT)) {
		log_error("--signing-key needs --eat FILE");
		return CLI_EXIT_USAGE;
	}
	cfg.now = time(NULL);
	if (ARG(TIME) && cn_attest_parse_time(ARG(TIME), &cfg.now) < 0) {
		log_error("--time '%s' is not a valid ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
			  ARG(TIME));
		return CLI_EXIT_USAGE;
	}
	cfg.evidence_path = evidence;
	cfg.report_path = report;
	cfg.chain_path = chain;
	cfg.arch = ARG(ARCH) ? ARG(ARCH) : "HOPPER";
	cfg.policy_path = v.policy;
	cfg.rim_root_path = v.rim_root;
	cfg.want_eat = ARG(EAT) != NULL;
	cfg.eat_key_path = ARG(KEY);
	cfg.device_root_path = v.device_root;
	cfg.rim_dir = v.rim_dir;
	cfg.ocsp_dir = v.ocsp_dir;
	cfg.ocsp_off = v.ocsp != NULL;
	/* With the live services, the cache or a bundle, the session fetches first what the
	 * evidence needs, all at once (docs/attest-online.md). */
	if (attest_online_active(&on, false)) {
		if (attest_online_resolve(&on, false) < 0)
			return CLI_EXIT_USAGE;
		cfg.live = &on.lo;
	}
	return run_verify(&cfg, ARG(EAT), &on);
}

static int verb_run(int argc, char **argv)
{
	return attest_verb_run(argc, argv, attest_prog_cmd());
}

static const struct cli_verb attest_verbs[] = {
    {"run", verb_run, "guest boot gate: collect through NVML, verify, then mark GPUs ready", 0, 0,
     ""},
    {"verify", verb_verify, "verify recorded GPU evidence and decide with a policy", 0, 0, ""},
    {"bundle", attest_verb_bundle, "fetch the RIMs and OCSP answers a guest will need", 0, 0, ""},
    {"ocsp-request", attest_verb_ocsp_request,
     "write the OCSP requests for a chain (responder/cache input)", 0, 0, ""},
    {0},
};

int cmd_attest(int argc, char **argv)
{
	return cli_dispatch(cli_prog(), "attest", attest_verbs, argc, argv);
}

/* `gpu-attest` with no verb (no arguments, or options only) is `attest run`. */
int alias_gpu_attest(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return attest_verb_run(argc, argv, cli_prog());
	return cmd_attest(argc, argv);
}
