/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon attest run (and `gpu-attest` with no verb): the guest boot gate. Options in, the
 * use case (src/attest/gate.c) runs, one line out. Exit 0 accepted (ready state set unless
 * --no-ready), 3 rejected, 1 error, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/chain.h"
#include "attest/gate.h"
#include "attest/nvml.h"
#include "attest/ocsp.h"
#include "attest/policy.h"
#include "attest/rim/rim.h"
#include "cli/attest-opts.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"

static void run_help(FILE *f, const char *prog)
{
	(void)fprintf(
	    f,
	    "Usage: %s run [OPTIONS]\n"
	    "\n"
	    "Guest boot gate: collects every GPU's attestation evidence through NVML with one\n"
	    "fresh nonce, verifies it locally, and only when every GPU is accepted marks the GPUs\n"
	    "ready (nvmlSystemSetConfComputeGpusReadyState(1), read back). On any rejection or\n"
	    "error the ready state is never written.\n"
	    "\n"
	    "  --out FILE            result + evidence JSON, atomic, mode 0644\n"
	    "                        (default " CN_GATE_DEFAULT_OUT ")\n"
	    "  --no-ready            never touch the GPUs' ready state\n"
	    "  --expect-gpus N       fewer visible GPUs than N is a rejection (none always is)\n"
	    "  --nonce-from-key PEM  nonce = SHA-256(\"" CN_GATE_NONCE_LABEL "\" 0x00 SPKI) of "
	    "this\n"
	    "                        public or private key (default: 32 bytes of getrandom)\n"
	    "  --nvml-lib PATH       NVML library (default $" CN_NVML_LIB_ENV
	    ", else " CN_NVML_DEFAULT_LIB ")\n"
	    "  --nvml-timeout SEC    watchdog per NVML call (default 30); a hung call fails the\n"
	    "                        run and the process exits\n"
	    "  --rim-dir DIR         RIMs: <rim-id>.xml or NVIDIA sample .swidtag names\n"
	    "  --ocsp-dir DIR        DER OCSP responses\n"
	    "  --ocsp off            no OCSP (OCSP claims null; the default policy then rejects)\n"
	    "  --policy FILE         relying-party policy, version 4.0 JSON (default: built in)\n"
	    "  --device-root PEM     replace the pinned NVIDIA Device Identity CA (tests only)\n"
	    "  --rim-root PEM        replace the pinned NVIDIA CoRIM signing root (tests only)\n"
	    "  --json                print the result document on stdout\n"
	    "  -h, --help            this help\n"
	    "\n",
	    prog);
	attest_online_help(f);
	(void)fprintf(
	    f, "\n"
	       "Exit status: 0 accepted (and ready set), 3 rejected (a GPU state, check or the\n"
	       "policy), 1 error (NVML missing, failing or hung; I/O), 2 usage.\n"
	       "Other verbs: verify, bundle, ocsp-request (see 'cocoon attest --help').\n");
}

enum {
	OPT_OUT = 0x100,
	OPT_NO_READY,
	OPT_EXPECT,
	OPT_NONCE_KEY,
	OPT_LIB,
	OPT_TIMEOUT,
	OPT_JSON,
};

struct run_opts {
	const char *out, *key, *lib;
	struct attest_verifier_opts v;
	uint32_t expect, timeout_s;
	bool no_ready, json;
	struct attest_online online;
};

static int parse(int argc, char **argv, const char *prog, struct run_opts *o)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, OPT_OUT},
	    {"no-ready", no_argument, NULL, OPT_NO_READY},
	    {"expect-gpus", required_argument, NULL, OPT_EXPECT},
	    {"nonce-from-key", required_argument, NULL, OPT_NONCE_KEY},
	    {"nvml-lib", required_argument, NULL, OPT_LIB},
	    {"nvml-timeout", required_argument, NULL, OPT_TIMEOUT},
	    ATTEST_VERIFIER_LONGOPTS,
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    ATTEST_ONLINE_LONGOPTS,
	    {0},
	};
	int c, k;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_OUT:
			o->out = optarg;
			break;
		case OPT_NO_READY:
			o->no_ready = true;
			break;
		case OPT_EXPECT:
			if (cn_parse_u32(optarg, CN_NVML_GPUS_MAX, &o->expect) < 0) {
				log_error("--expect-gpus '%s' is not a number 0..%u", optarg,
					  CN_NVML_GPUS_MAX);
				return -1;
			}
			break;
		case OPT_NONCE_KEY:
			o->key = optarg;
			break;
		case OPT_LIB:
			o->lib = optarg;
			break;
		case OPT_TIMEOUT:
			if (cn_parse_u32(optarg, 3600, &o->timeout_s) < 0 || o->timeout_s == 0) {
				log_error("--nvml-timeout '%s' is not a number of seconds 1..3600",
					  optarg);
				return -1;
			}
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			run_help(stdout, prog);
			return 1;
		default:
			if (attest_verifier_opt(&o->v, c, optarg))
				break;
			k = attest_online_opt(&o->online, c, optarg);
			if (k > 0)
				break;
			if (k == 0)
				run_help(stderr, prog);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return attest_verifier_check(&o->v);
}

static int load_policy(const char *path, struct cn_policy **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!path)
		return cn_policy_parse(cn_policy_default_json, strlen(cn_policy_default_json), ret);
	r = cn_read_file(path, CN_POLICY_MAX, &buf, &len);
	if (r < 0)
		return log_error_errno(r, "cannot read the policy '%s'", path);
	r = cn_policy_parse((const char *)buf, len, ret);
	if (r < 0)
		return log_error_synth(r, "invalid policy '%s': %s", path, cn_err_msg());
	return 0;
}

static void print_outcome(const struct run_opts *o, const struct cn_gate_result *res)
{
	size_t n = json_array_size(json_object_get(res->doc, "gpus"));

	if (o->json) {
		_cleanup_free_ char *text = json_dumps(res->doc, JSON_INDENT(2));

		if (text)
			(void)puts(text);
	}
	switch (res->decision) {
	case CN_GATE_ACCEPTED:
		if (!o->json)
			(void)printf("accepted: %zu GPU%s, ready state %s%s%s\n", n,
				     n == 1 ? "" : "s", o->no_ready ? "not touched" : "set",
				     o->out ? ", evidence in " : "", o->out ? o->out : "");
		break;
	case CN_GATE_REJECTED:
		log_error("rejected: %s", res->reason);
		break;
	case CN_GATE_ERROR:
		log_error("%s", res->reason);
		break;
	}
}

int attest_verb_run(int argc, char **argv, const char *prog)
{
	struct run_opts o = {.out = CN_GATE_DEFAULT_OUT, .timeout_s = 30};
	_cleanup_free_ char *key_pem = NULL;
	struct cn_attest_config vc = {0};
	struct cn_gate_config cfg = {0};
	struct cn_gate_result res = {0};
	struct cn_policy *policy = NULL;
	int r, rc = CLI_EXIT_FAIL;

	r = parse(argc, argv, prog, &o);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (o.key ? cn_gate_nonce_from_key(o.key, cfg.nonce, &key_pem) < 0
		  : cn_gate_nonce_random(cfg.nonce) < 0)
		return log_error("nonce: %s", cn_err_msg()), CLI_EXIT_FAIL;
	if (load_policy(o.v.policy, &policy) < 0)
		return CLI_EXIT_FAIL;
	/* The verifier: the session opens the sources by name, after collection (the live
	 * services fetch what the evidence needs, as `attest verify` does). */
	vc.now = time(NULL);
	vc.device_root_path = o.v.device_root;
	vc.rim_root_path = o.v.rim_root;
	vc.rim_dir = o.v.rim_dir;
	vc.ocsp_dir = o.v.ocsp_dir;
	vc.ocsp_off = o.v.ocsp != NULL;
	vc.policy = policy;
	vc.policy_source = o.v.policy ? o.v.policy : "builtin";
	if (attest_online_active(&o.online, false)) {
		if (attest_online_resolve(&o.online, false) < 0) {
			rc = CLI_EXIT_USAGE;
			goto done;
		}
		vc.live = &o.online.lo;
	}
	cfg.nvml_lib = o.lib;
	cfg.timeout_ms = o.timeout_s * 1000;
	cfg.expect_gpus = o.expect;
	cfg.no_ready = o.no_ready;
	cfg.out_path = *o.out ? o.out : NULL;
	cfg.nonce_key_path = o.key;
	cfg.nonce_key_pem = key_pem;
	cfg.verify = &vc;
	r = cn_gate_run(&cfg, &res);
	if (r < 0) {
		log_error_errno(r, "attestation could not run");
		goto done;
	}
	if (vc.live && res.live_report)
		attest_online_report(&o.online, res.live_report);
	print_outcome(&o, &res);
	rc = (int)res.decision;
	if (fflush(stdout) != 0) {
		log_error("cannot write to stdout");
		if (rc == CLI_EXIT_OK)
			rc = CLI_EXIT_FAIL;
	}
done:
	cn_gate_result_clear(&res);
	cn_policy_free(policy);
	return rc;
}
