/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest (alias gpu-attest): the local GPU verifier.
 *   verify        decide on recorded evidence (exit 0 accepted, 3 rejected, 1 undecided, 2 usage)
 *   run           guest boot gate: NVML evidence, verify, ready state (cmd-attest-run.c)
 *   ocsp-request  write the OCSP requests `verify` expects answers to (for a responder or cache)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/chain.h"
#include "attest/eat.h"
#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "attest/policy.h"
#include "attest/rim/rim.h"
#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/attest-online.h"
#include "cli/cli.h"

#define EXIT_REJECTED CN_EXIT_REJECTED

static int parse_fixed(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	return cn_parse_u64_n(s, len, max, ret);
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS" with optional "Z" (UTC). */
static int parse_time(const char *s, time_t *ret)
{
	uint64_t y, mo, d, h = 0, mi = 0, se = 0;
	size_t n = strlen(s);
	struct tm tm = {0};

	if (n == 20 && s[19] == 'Z')
		n = 19;
	if (n != 10 && n != 19)
		return -EINVAL;
	if (s[4] != '-' || s[7] != '-' || parse_fixed(s, 4, 9999, &y) < 0 ||
	    parse_fixed(s + 5, 2, 12, &mo) < 0 || parse_fixed(s + 8, 2, 31, &d) < 0 || y < 1970 ||
	    mo < 1 || d < 1)
		return -EINVAL;
	if (n == 19 && ((s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
			parse_fixed(s + 11, 2, 23, &h) < 0 || parse_fixed(s + 14, 2, 59, &mi) < 0 ||
			parse_fixed(s + 17, 2, 60, &se) < 0))
		return -EINVAL;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)se;
	*ret = timegm(&tm);
	return 0;
}

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
		      "not decide\n(I/O, malformed input, services unreachable without a stored "
		      "answer), 2 usage.\n");
}

static int read_input(const char *what, const char *path, size_t max, uint8_t **ret,
		      size_t *ret_len)
{
	int r = cn_read_file(path, max, ret, ret_len);

	if (r < 0)
		return log_error_errno(r, "cannot read %s '%s'", what, path);
	return 0;
}

static int load_policy(const char *path, struct cn_policy **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!path)
		return cn_policy_parse(cn_policy_default_json, strlen(cn_policy_default_json),
				       ret) < 0
			   ? -EIO
			   : 0;
	r = read_input("policy", path, CN_POLICY_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = cn_policy_parse((const char *)buf, len, ret);
	if (r < 0)
		return log_error_synth(r, "invalid policy '%s': %s", path, cn_err_msg());
	return 0;
}

static int load_evidence(const char *evidence, const char *report, const char *chain,
			 const char *arch, struct cn_evidence_set **ret)
{
	_cleanup_free_ uint8_t *buf = NULL, *cbuf = NULL, *rep = NULL;
	size_t len, clen, rlen;
	int r;

	if (evidence) {
		r = read_input("evidence", evidence, CN_EVIDENCE_MAX, &buf, &len);
		if (r < 0)
			return r;
		r = cn_evidence_parse_json((const char *)buf, len, ret);
		if (r < 0)
			return log_error_synth(r, "invalid evidence '%s': %s", evidence,
					       cn_err_msg());
		return 0;
	}
	r = read_input("report", report, 4 * CN_SPDM_REPORT_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = cn_spdm_decode_file(buf, len, &rep, &rlen);
	if (r < 0)
		return log_error_synth(r, "invalid report '%s': %s", report, cn_err_msg());
	r = read_input("certificate chain", chain, CN_CHAIN_TEXT_MAX, &cbuf, &clen);
	if (r < 0)
		return r;
	r = cn_evidence_from_parts(rep, rlen, cbuf, clen, arch, ret);
	if (r < 0)
		return log_error_errno(r, "cannot prepare evidence");
	return 0;
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
	OPT_JSON,
	OPT_OUT_DIR,
	OPT_KIND,
	OPT_GPU,
	OPT_RIM,
};

static int verb_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"evidence", required_argument, NULL, OPT_EVIDENCE},
	    {"report", required_argument, NULL, OPT_REPORT},
	    {"cert-chain", required_argument, NULL, OPT_CHAIN},
	    {"arch", required_argument, NULL, OPT_ARCH},
	    {"nonce", required_argument, NULL, OPT_NONCE},
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
	struct attest_online on = {0};
	const char *evidence = NULL, *report = NULL, *chain = NULL, *arch = "HOPPER", *nonce = NULL,
		   *rim_dir = NULL, *ocsp_dir = NULL, *ocsp = NULL, *policy_path = NULL,
		   *when = NULL, *eat_path = NULL, *key_path = NULL, *device_root = NULL,
		   *rim_root = NULL;
	struct cn_attest_ctx ctx = {0};
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = NULL;
	_cleanup_(cn_ocsp_dir_freep) struct cn_ocsp_dir *od = NULL;
	_cleanup_(X509_freep) X509 *droot = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	struct cn_policy *policy = NULL;
	struct cn_rim_source *rims = NULL;
	struct cn_ocsp_source osrc;
	struct cn_attest_outcome out = {0};
	_cleanup_free_ char *text = NULL;
	struct timespec t0;
	double read_ms;
	int c, r, rc = CLI_EXIT_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_EVIDENCE:
			evidence = optarg;
			break;
		case OPT_REPORT:
			report = optarg;
			break;
		case OPT_CHAIN:
			chain = optarg;
			break;
		case OPT_ARCH:
			arch = optarg;
			break;
		case OPT_NONCE:
			nonce = optarg;
			break;
		case OPT_RIM_DIR:
			rim_dir = optarg;
			break;
		case OPT_OCSP_DIR:
			ocsp_dir = optarg;
			break;
		case OPT_OCSP:
			ocsp = optarg;
			break;
		case OPT_POLICY:
			policy_path = optarg;
			break;
		case OPT_TIME:
			when = optarg;
			break;
		case OPT_EAT:
			eat_path = optarg;
			break;
		case OPT_KEY:
			key_path = optarg;
			break;
		case OPT_DEVICE_ROOT:
			device_root = optarg;
			break;
		case OPT_RIM_ROOT:
			rim_root = optarg;
			break;
		case OPT_JSON:
			break;
		case 'h':
			verify_help(stdout);
			return CLI_EXIT_OK;
		default:
			r = attest_online_opt(&on, c, optarg);
			if (r > 0)
				break;
			if (r == 0)
				verify_help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (!nonce) {
		log_error(
		    "--nonce is required (the 64-hex-digit nonce the evidence must be bound to)");
		return CLI_EXIT_USAGE;
	}
	if (strlen(nonce) != 64 || cn_unhex_exact(nonce, ctx.nonce, 32) < 0) {
		log_error("--nonce '%s' is not 64 hex digits", nonce);
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
	if (ocsp && ocsp_dir) {
		log_error("--ocsp off and --ocsp-dir exclude each other");
		return CLI_EXIT_USAGE;
	}
	if (key_path && !eat_path) {
		log_error("--signing-key needs --eat FILE");
		return CLI_EXIT_USAGE;
	}
	ctx.now = time(NULL);
	if (when && parse_time(when, &ctx.now) < 0) {
		log_error("--time '%s' is not ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)", when);
		return CLI_EXIT_USAGE;
	}
	ctx.rim_root_path = rim_root;

	if (device_root && cn_cert_load_pem(device_root, &droot) < 0)
		return log_error("--device-root: %s", cn_err_msg()), CLI_EXIT_FAIL;
	ctx.device_root = droot;
	if (key_path && cn_eat_load_key(key_path, &key) < 0)
		return log_error("--signing-key: %s", cn_err_msg()), CLI_EXIT_FAIL;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	if (load_evidence(evidence, report, chain, arch, &set) < 0)
		return CLI_EXIT_FAIL;
	if (load_policy(policy_path, &policy) < 0)
		return CLI_EXIT_FAIL;
	if (rim_dir) {
		r = cn_rim_source_new_dir(rim_dir, &rims);
		if (r < 0) {
			log_error_synth(r, "--rim-dir '%s': %s", rim_dir, cn_err_msg());
			goto done;
		}
		ctx.rims = rims;
	}
	if (attest_online_active(&on, false)) {
		if (attest_online_setup(&on, set, ocsp_dir, rim_root, rim_dir != NULL, ocsp != NULL,
					false, &ctx) < 0)
			goto done;
	} else if (ocsp_dir) {
		r = cn_ocsp_dir_open(ocsp_dir, &od);
		if (r < 0) {
			log_error_synth(r, "%s", cn_err_msg());
			goto done;
		}
		osrc = cn_ocsp_dir_source(od);
		ctx.ocsp = &osrc;
	}

	read_ms = cn_attest_ms_since(&t0);
	r = cn_attest_run(&ctx, set, policy, policy_path ? policy_path : "builtin",
			  eat_path != NULL, key, &out);
	if (r < 0) {
		log_error_errno(r, "verification could not complete: %s", cn_err_msg());
		goto done;
	}
	/* inputs: evidence, policy, RIM directory index, OCSP responses */
	(void)json_object_set_new(json_object_get(out.result, "timings_ms"), "read",
				  json_real((double)(long long)(read_ms * 1000) / 1000));
	if (eat_path && write_out(eat_path, out.eat) < 0)
		goto done;
	text = json_dumps(out.result, JSON_INDENT(2));
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
	if (out.decision == CN_ATTEST_ACCEPTED) {
		rc = CLI_EXIT_OK;
	} else {
		log_error("rejected: %s", out.reason);
		rc = EXIT_REJECTED;
	}
done:
	cn_attest_outcome_clear(&out);
	attest_online_done(&on);
	cn_rim_source_free(rims);
	cn_policy_free(policy);
	return rc;
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
	const char *nonce = NULL, *out_dir = NULL, *chain_path = NULL, *evidence = NULL,
		   *kind = "device", *gpu = "0", *rim_path = NULL;
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int dfd = -EBADF;
	uint8_t n32[32];
	uint32_t gi = 0;
	size_t len;
	int c, r, first;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_NONCE:
			nonce = optarg;
			break;
		case OPT_OUT_DIR:
			out_dir = optarg;
			break;
		case OPT_CHAIN:
			chain_path = optarg;
			break;
		case OPT_EVIDENCE:
			evidence = optarg;
			break;
		case OPT_GPU:
			gpu = optarg;
			break;
		case OPT_KIND:
			kind = optarg;
			break;
		case OPT_RIM:
			rim_path = optarg;
			kind = "rim";
			break;
		case 'h':
			ocsp_request_help(stdout);
			return CLI_EXIT_OK;
		default:
			ocsp_request_help(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc || !nonce || !out_dir || !!chain_path + !!evidence + !!rim_path != 1) {
		ocsp_request_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strlen(nonce) != 64 || cn_unhex_exact(nonce, n32, 32) < 0) {
		log_error("--nonce '%s' is not 64 hex digits", nonce);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(kind, "device") != 0 && strcmp(kind, "rim") != 0) {
		log_error("--kind must be 'device' or 'rim'");
		return CLI_EXIT_USAGE;
	}
	if (cn_parse_u32(gpu, CN_EVIDENCE_GPUS_MAX - 1, &gi) < 0) {
		log_error("--gpu '%s' is not a GPU index", gpu);
		return CLI_EXIT_USAGE;
	}
	if (rim_path) {
		struct cn_rim_verify_opts vo = {.time = time(NULL)};
		struct cn_rim *rim = NULL;
		STACK_OF(X509) * emb;

		if (read_input("RIM", rim_path, CN_RIM_SIZE_MAX, &buf, &len) < 0)
			return CLI_EXIT_FAIL;
		r = cn_rim_load(buf, len, &vo, &rim);
		if (r < 0)
			return log_error("RIM '%s': %s", rim_path, cn_err_msg()), CLI_EXIT_FAIL;
		emb = cn_rim_get_embedded_certs(rim);
		chain = sk_X509_new_null();
		for (int i = 0; chain && emb && r >= 0 && i < sk_X509_num(emb); i++) {
			X509 *x = sk_X509_value(emb, i);

			if (X509_up_ref(x) != 1) {
				r = -ENOMEM;
			} else if (!sk_X509_push(chain, x)) {
				X509_free(x);
				r = -ENOMEM;
			}
		}
		cn_rim_free(rim);
		if (!chain || r < 0)
			return log_error_errno(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
		r = 0;
	} else if (evidence) {
		if (load_evidence(evidence, NULL, NULL, NULL, &set) < 0)
			return CLI_EXIT_FAIL;
		if (gi >= set->n) {
			log_error("--gpu %u: the evidence has %zu GPUs", gi, set->n);
			return CLI_EXIT_USAGE;
		}
		r = cn_chain_split(set->gpus[gi].chain, set->gpus[gi].chain_len, &chain);
	} else {
		if (read_input("certificate chain", chain_path, CN_CHAIN_TEXT_MAX, &buf, &len) < 0)
			return CLI_EXIT_FAIL;
		r = cn_chain_split(buf, len, &chain);
	}
	if (r < 0)
		return log_error("%s", cn_err_msg()), CLI_EXIT_FAIL;
	first = strcmp(kind, "device") == 0 ? 1 : 0;
	if (sk_X509_num(chain) - 2 < first) {
		log_error("the chain has %d certificates: nothing to check", sk_X509_num(chain));
		return CLI_EXIT_FAIL;
	}
	r = cn_mkdir_p(out_dir, 0755);
	if (r < 0)
		return log_error_errno(r, "cannot create '%s'", out_dir), CLI_EXIT_FAIL;
	dfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_error_errno(-errno, "cannot open '%s'", out_dir), CLI_EXIT_FAIL;
	for (int i = first; i <= sk_X509_num(chain) - 2; i++) {
		_cleanup_free_ uint8_t *der = NULL;
		_cleanup_free_ char *cn = NULL;
		size_t dlen = 0;
		char name[64];

		r = cn_ocsp_request_build(sk_X509_value(chain, i), sk_X509_value(chain, i + 1), n32,
					  NULL, NULL, &der, &dlen);
		if (r < 0)
			return log_error_errno(r, "cannot build the OCSP request: %s",
					       cn_err_msg()),
			       CLI_EXIT_FAIL;
		(void)snprintf(name, sizeof(name), "%s-%d.req", kind, i);
		r = cn_write_file_atomic_at(dfd, name, der, dlen, 0644);
		if (r < 0)
			return log_error_errno(r, "cannot write '%s/%s'", out_dir, name),
			       CLI_EXIT_FAIL;
		(void)cn_cert_subject_cn(sk_X509_value(chain, i), &cn);
		(void)printf("%s/%s %d %s\n", out_dir, name, i, cn ? cn : "?");
	}
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
