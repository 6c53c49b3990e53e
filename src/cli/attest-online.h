/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The options of the live NVIDIA services shared by `attest verify`, `attest run` and
 * `attest bundle` (docs/attest-online.md): parsing, help text, and the sources they select.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "attest/live.h"
#include "attest/verify.h"

enum {
	ATTEST_OPT_ONLINE = 0x4000,
	ATTEST_OPT_OFFLINE,
	ATTEST_OPT_RIM_URL,
	ATTEST_OPT_OCSP_URL,
	ATTEST_OPT_NET_TIMEOUT,
	ATTEST_OPT_CACHE_DIR,
	ATTEST_OPT_NO_CACHE,
	ATTEST_OPT_BUNDLE,
	ATTEST_OPT_OCSP_MAX_AGE,
	ATTEST_OPT_LIVE_REPORT,
	ATTEST_OPT_NET_PARALLEL,
};

/* getopt_long entries (no terminator): splice with ATTEST_ONLINE_LONGOPTS. */
#define ATTEST_ONLINE_LONGOPTS                                                                     \
	{"online", no_argument, NULL, ATTEST_OPT_ONLINE},                                          \
	    {"offline", no_argument, NULL, ATTEST_OPT_OFFLINE},                                    \
	    {"rim-url", required_argument, NULL, ATTEST_OPT_RIM_URL},                              \
	    {"ocsp-url", required_argument, NULL, ATTEST_OPT_OCSP_URL},                            \
	    {"net-timeout", required_argument, NULL, ATTEST_OPT_NET_TIMEOUT},                      \
	    {"cache-dir", required_argument, NULL, ATTEST_OPT_CACHE_DIR},                          \
	    {"no-cache", no_argument, NULL, ATTEST_OPT_NO_CACHE},                                  \
	    {"bundle", required_argument, NULL, ATTEST_OPT_BUNDLE},                                \
	    {"ocsp-max-age", required_argument, NULL, ATTEST_OPT_OCSP_MAX_AGE},                    \
	    {"net-parallel", required_argument, NULL, ATTEST_OPT_NET_PARALLEL},                    \
	{                                                                                          \
		"live-report", required_argument, NULL, ATTEST_OPT_LIVE_REPORT                     \
	}

struct attest_online {
	bool online, offline, no_cache, set_any;
	struct cn_live_opts lo;
	const char *live_report; /* write cn_live_report() JSON here */
};

/* Help lines for the options above. */
void attest_online_help(FILE *f);

/* 1 when c was one of the options above (parsed into o), 0 when not, -1 on a bad value (logged). */
int attest_online_opt(struct attest_online *o, int c, const char *arg);

/* True when the options ask for the services, the cache or a bundle. */
bool attest_online_active(const struct attest_online *o, bool default_online);

/*
 * The live options for the session (attest/session.h config.live): offline unless --online or
 * default_online, the default cache unless --no-cache. Logs and returns -EINVAL for options that
 * exclude each other.
 */
int attest_online_resolve(struct attest_online *o, bool default_online);

/* Writes --live-report (the session's verdict.live_report), if asked; logs a failure. */
void attest_online_report(const struct attest_online *o, json_t *report);

/* `cocoon attest bundle` (cmd-attest-bundle.c). */
int attest_verb_bundle(int argc, char **argv);
