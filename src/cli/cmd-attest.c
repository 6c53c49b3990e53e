/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest (alias gpu-attest): the local GPU verifier. Options and printing only; the use
 * cases are cn_attest_session_run() (attest/session.h) and cn_attest_ocsp_requests().
 *   verify        decide on recorded evidence (exit 0 accepted, 3 rejected, 1 could not check,
 *                 2 usage)
 *   run           guest boot gate: NVML evidence, verify, ready state (cmd-attest-run.c)
 *   ocsp-request  write the OCSP requests `verify` expects answers to (for a responder or cache)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/gate.h"
#include "attest/requests.h"
#include "attest/session.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/attest-online.h"
#include "cli/cli.h"

#define EXIT_REJECTED CN_EXIT_REJECTED

/* "cocoon attest" or the alias name ("gpu-attest"). */
static const char *prog_cmd(void)
{
	return strcmp(cli_prog(), "cocoon") == 0 ? "cocoon attest" : cli_prog();
}

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
	    prog_cmd());
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

/* Options with an argument, stored in a[] by parse_args(); flags from OPT_JSON on. */
enum {
	OPT_EVIDENCE = 0x100,
	OPT_REPORT,
	OPT_CHAIN,
	OPT_ARCH,
	OPT_NONCE,
	OPT_RIM_DIR,
	OPT_OCSP_DIR,
	OPT_OCSP,
	OPT_POLICY,
	OPT_TIME,
	OPT_EAT,
	OPT_KEY,
	OPT_DEVICE_ROOT,
	OPT_RIM_ROOT,
	OPT_OUT_DIR,
	OPT_KIND,
	OPT_GPU,
	OPT_RIM,
	OPT_NONCE_KEY,
	OPT_JSON,
	OPT_END
};
#define ARG(o) a[(o)-OPT_EVIDENCE]

/* getopt_long into a[]: 0, or the exit status when the verb must end (help, usage). */
static int parse_args(int argc, char **argv, const struct option *opts, void (*help)(FILE *),
		      const char **a, struct attest_online *on)
{
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if (c >= OPT_EVIDENCE && c < OPT_JSON) {
			a[c - OPT_EVIDENCE] = optarg;
		} else if (c == 'h') {
			help(stdout);
			return CLI_EXIT_OK;
		} else if (c != OPT_JSON) {
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

static int parse_nonce(const char *s, uint8_t out[32])
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
	    {"evidence", required_argument, NULL, OPT_EVIDENCE},
	    {"report", required_argument, NULL, OPT_REPORT},
	    {"cert-chain", required_argument, NULL, OPT_CHAIN},
	    {"arch", required_argument, NULL, OPT_ARCH},
	    {"nonce", required_argument, NULL, OPT_NONCE},
	    {"nonce-from-key", required_argument, NULL, OPT_NONCE_KEY},
	    {"rim-dir", required_argument, NULL, OPT_RIM_DIR},
	    {"ocsp-dir", required_argument, NULL, OPT_OCSP_DIR},
	    {"ocsp", required_argument, NULL, OPT_OCSP},
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"time", required_argument, NULL, OPT_TIME},
	    {"eat", required_argument, NULL, OPT_EAT},
	    {"signing-key", required_argument, NULL, OPT_KEY},
	    {"device-root", required_argument, NULL, OPT_DEVICE_ROOT},
	    {"rim-root", required_argument, NULL, OPT_RIM_ROOT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    ATTEST_ONLINE_LONGOPTS,
	    {0},
	};
	const char *a[OPT_END - OPT_EVIDENCE] = {0};
	const char *evidence, *report, *chain, *ocsp;
	struct cn_attest_config cfg = {0};
	struct attest_online on = {0};
	int r = parse_args(argc, argv, opts, verify_help, a, &on);

	if (r >= 0)
		return r;
	evidence = ARG(OPT_EVIDENCE), report = ARG(OPT_REPORT), chain = ARG(OPT_CHAIN);
	ocsp = ARG(OPT_OCSP);
	if (ARG(OPT_NONCE_KEY)) { /* the nonce `attest run --nonce-from-key` used */
		if (ARG(OPT_NONCE)) {
			log_error("--nonce and --nonce-from-key exclude each other");
			return CLI_EXIT_USAGE;
		}
		if (cn_gate_nonce_from_key(ARG(OPT_NONCE_KEY), cfg.nonce, NULL) < 0)
			return log_error("--nonce-from-key: %s", cn_err_msg()), CLI_EXIT_FAIL;
	} else if (parse_nonce(ARG(OPT_NONCE), cfg.nonce) < 0) {
		return CLI_EXIT_USAGE;
	}
	if (!!evidence == !!(report || chain) || (!evidence && (!report || !chain))) {
		log_error(
		    "give either --evidence FILE or both --report FILE and --cert-chain FILE");
		return CLI_EXIT_USAGE;
	}
	if (ocsp && strcmp(ocsp, "off") != 0) {
		log_error("--ocsp accepts only 'off' (use --ocsp-dir DIR for recorded responses)");
		return CLI_EXIT_USAGE;
	}
	if (ocsp && ARG(OPT_OCSP_DIR)) {
		log_error("--ocsp off and --ocsp-dir exclude each other");
		return CLI_EXIT_USAGE;
	}
	if (ARG(OPT_KEY) && !ARG(OPT_EAT)) {
		log_error("--signing-key needs --eat FILE");
		return CLI_EXIT_USAGE;
	}
	cfg.now = time(NULL);
	if (ARG(OPT_TIME) && cn_attest_parse_time(ARG(OPT_TIME), &cfg.now) < 0) {
		log_error("--time '%s' is not a valid ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
			  ARG(OPT_TIME));
		return CLI_EXIT_USAGE;
	}
	cfg.evidence_path = evidence;
	cfg.report_path = report;
	cfg.chain_path = chain;
	cfg.arch = ARG(OPT_ARCH) ? ARG(OPT_ARCH) : "HOPPER";
	cfg.policy_path = ARG(OPT_POLICY);
	cfg.rim_root_path = ARG(OPT_RIM_ROOT);
	cfg.want_eat = ARG(OPT_EAT) != NULL;
	cfg.eat_key_path = ARG(OPT_KEY);
	cfg.device_root_path = ARG(OPT_DEVICE_ROOT);
	cfg.rim_dir = ARG(OPT_RIM_DIR);
	cfg.ocsp_dir = ARG(OPT_OCSP_DIR);
	cfg.ocsp_off = ocsp != NULL;
	/* With the live services, the cache or a bundle, the session fetches first what the
	 * evidence needs, all at once (docs/attest-online.md). */
	if (attest_online_active(&on, false)) {
		if (attest_online_resolve(&on, false) < 0)
			return CLI_EXIT_USAGE;
		cfg.live = &on.lo;
	}
	return run_verify(&cfg, ARG(OPT_EAT), &on);
}

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
	    prog_cmd());
}

static void print_request(void *userdata, const char *path, int index, const char *cn)
{
	(void)printf("%s %d %s\n", path, index, cn);
}

static int verb_ocsp_request(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"nonce", required_argument, NULL, OPT_NONCE},
	    {"out-dir", required_argument, NULL, OPT_OUT_DIR},
	    {"cert-chain", required_argument, NULL, OPT_CHAIN},
	    {"evidence", required_argument, NULL, OPT_EVIDENCE},
	    {"gpu", required_argument, NULL, OPT_GPU},
	    {"kind", required_argument, NULL, OPT_KIND},
	    {"rim", required_argument, NULL, OPT_RIM},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *a[OPT_END - OPT_EVIDENCE] = {0};
	struct cn_ocsp_requests_config cfg = {.written = print_request};
	const char *kind;
	uint32_t gi = 0;
	int r = parse_args(argc, argv, opts, ocsp_request_help, a, NULL);

	if (r >= 0)
		return r;
	cfg.chain_path = ARG(OPT_CHAIN), cfg.evidence_path = ARG(OPT_EVIDENCE);
	cfg.rim_path = ARG(OPT_RIM), cfg.out_dir = ARG(OPT_OUT_DIR);
	kind = cfg.rim_path ? "rim" : ARG(OPT_KIND) ? ARG(OPT_KIND) : "device";
	if (!ARG(OPT_NONCE) || !cfg.out_dir ||
	    !!cfg.chain_path + !!cfg.evidence_path + !!cfg.rim_path != 1) {
		ocsp_request_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (parse_nonce(ARG(OPT_NONCE), cfg.nonce) < 0)
		return CLI_EXIT_USAGE;
	if (strcmp(kind, "device") != 0 && strcmp(kind, "rim") != 0) {
		log_error("--kind must be 'device' or 'rim'");
		return CLI_EXIT_USAGE;
	}
	if (ARG(OPT_GPU) && cn_parse_u32(ARG(OPT_GPU), CN_EVIDENCE_GPUS_MAX - 1, &gi) < 0) {
		log_error("--gpu '%s' is not a GPU index", ARG(OPT_GPU));
		return CLI_EXIT_USAGE;
	}
	cfg.gpu = gi;
	cfg.rim_chain = strcmp(kind, "rim") == 0;
	r = cn_attest_ocsp_requests(&cfg);
	if (r < 0)
		return log_error("%s", cn_err_msg()), r == -EDOM ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	return CLI_EXIT_OK;
}

static int verb_run(int argc, char **argv)
{
	return attest_verb_run(argc, argv, prog_cmd());
}

static const struct cli_verb attest_verbs[] = {
    {"run", verb_run, "guest boot gate: collect through NVML, verify, then mark GPUs ready", 0, 0,
     ""},
    {"verify", verb_verify, "verify recorded GPU evidence and decide with a policy", 0, 0, ""},
    {"bundle", attest_verb_bundle, "fetch the RIMs and OCSP answers a guest will need", 0, 0, ""},
    {"ocsp-request", verb_ocsp_request,
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
