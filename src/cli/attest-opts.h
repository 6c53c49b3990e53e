/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the `cocoon attest` verbs share on the command line (src/cli/attest-opts.c): the verb
 * prefix of messages, the string options of verify and ocsp-request, the nonce, and the
 * verifier inputs that verify and run both take (--rim-dir, --ocsp-dir, --ocsp, --policy,
 * --device-root, --rim-root).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/attest-online.h"

/* "cocoon attest" or the alias name ("gpu-attest"). */
const char *attest_prog_cmd(void);

/* The verifier inputs: getopt_long codes and entries (no terminator; splice into a table). */
enum {
	ATTEST_OPT_RIM_DIR = 0x4100,
	ATTEST_OPT_OCSP_DIR,
	ATTEST_OPT_OCSP,
	ATTEST_OPT_POLICY,
	ATTEST_OPT_DEVICE_ROOT,
	ATTEST_OPT_RIM_ROOT,
};
#define ATTEST_VERIFIER_LONGOPTS                                                                   \
	{"rim-dir", required_argument, NULL, ATTEST_OPT_RIM_DIR},                                  \
	    {"ocsp-dir", required_argument, NULL, ATTEST_OPT_OCSP_DIR},                            \
	    {"ocsp", required_argument, NULL, ATTEST_OPT_OCSP},                                    \
	    {"policy", required_argument, NULL, ATTEST_OPT_POLICY},                                \
	    {"device-root", required_argument, NULL, ATTEST_OPT_DEVICE_ROOT},                      \
	{                                                                                          \
		"rim-root", required_argument, NULL, ATTEST_OPT_RIM_ROOT                           \
	}

struct attest_verifier_opts {
	const char *rim_dir, *ocsp_dir, *ocsp, *policy, *device_root, *rim_root;
};

/* 1 when c was one of the verifier inputs (stored as given), 0 when not. */
int attest_verifier_opt(struct attest_verifier_opts *v, int c, const char *arg);

/* --ocsp takes only 'off', which excludes --ocsp-dir: 0, or -1 (logged). */
int attest_verifier_check(const struct attest_verifier_opts *v);

/* Options of verify and ocsp-request with an argument, stored as given into a[] by
 * attest_parse_args(); flags from ATTEST_ARG_JSON on. */
enum {
	ATTEST_ARG_EVIDENCE = 0x100,
	ATTEST_ARG_REPORT,
	ATTEST_ARG_CHAIN,
	ATTEST_ARG_ARCH,
	ATTEST_ARG_NONCE,
	ATTEST_ARG_TIME,
	ATTEST_ARG_EAT,
	ATTEST_ARG_KEY,
	ATTEST_ARG_OUT_DIR,
	ATTEST_ARG_KIND,
	ATTEST_ARG_GPU,
	ATTEST_ARG_RIM,
	ATTEST_ARG_NONCE_KEY,
	ATTEST_ARG_JSON,
	ATTEST_ARG_END
};

/*
 * getopt_long into a[ATTEST_ARG_END - ATTEST_ARG_EVIDENCE], the verifier inputs into v and the
 * live-service options into on (either may be NULL: not taken). -1 when the verb goes on, else
 * the exit status it ends with (help, usage).
 */
int attest_parse_args(int argc, char **argv, const struct option *opts, void (*help)(FILE *),
		      const char **a, struct attest_verifier_opts *v, struct attest_online *on);

/* --nonce: 64 hex digits into out; -EINVAL (logged) when missing or malformed. */
int attest_parse_nonce(const char *s, uint8_t out[32]);

/* `cocoon attest ocsp-request` (cmd-attest-ocsp.c). */
int attest_verb_ocsp_request(int argc, char **argv);
