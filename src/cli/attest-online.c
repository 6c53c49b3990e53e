/* SPDX-License-Identifier: Apache-2.0 */
/* Options of the live NVIDIA services (see attest-online.h). */
#include "cli/attest-online.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "attest/cache.h"
#include "attest/rim/rim.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"

void attest_online_help(FILE *f)
{
	(void)fprintf(
	    f,
	    "Live NVIDIA services (docs/attest-online.md):\n"
	    "  --online              fetch RIMs and OCSP answers from NVIDIA's services\n"
	    "  --offline             no network: --bundle, the cache and --ocsp-dir only\n"
	    "  --rim-url URL         RIM service base (default $NV_RIM_URL or\n"
	    "                        " CN_LIVE_RIM_URL_DEFAULT "); implies --online\n"
	    "  --ocsp-url URL        OCSP responder (default $NV_OCSP_URL or\n"
	    "                        " CN_LIVE_OCSP_URL_DEFAULT "); implies --online\n"
	    "  --net-timeout SEC     deadline of each batch of requests (default %ld)\n"
	    "  --net-parallel N      transfers at once (default 64; 1: one at a time)\n"
	    "  --cache-dir DIR       RIM and OCSP cache (default " CN_ATTEST_CACHE_DIR_DEFAULT ")\n"
	    "  --no-cache            neither read nor write the cache\n"
	    "  --bundle DIR          RIMs and OCSP answers from `attest bundle` (alone: offline)\n"
	    "  --ocsp-max-age AGE    oldest stored OCSP answer accepted: SEC or Nd/Nh/Nm\n"
	    "                        (default 7d)\n"
	    "  --live-report FILE    write where each RIM and OCSP answer came from (JSON)\n"
	    "  Trust anchors for the services: $REQUESTS_CA_BUNDLE or $CURL_CA_BUNDLE (PEM).\n",
	    CN_LIVE_NET_TIMEOUT_S_DEFAULT);
}

static int parse_age(const char *s, long *ret)
{
	uint64_t v;
	size_t n = strlen(s);
	long mul = 1;

	if (n > 1 && strchr("dhms", s[n - 1])) {
		mul = s[n - 1] == 'd' ? 86400 : s[n - 1] == 'h' ? 3600 : s[n - 1] == 'm' ? 60 : 1;
		n--;
	}
	if (n == 0 || cn_parse_u64_n(s, n, 100L * 365 * 86400, &v) < 0 || v == 0 ||
	    v > (uint64_t)(100L * 365 * 86400 / mul))
		return -EINVAL;
	*ret = (long)v * mul;
	return 0;
}

int attest_online_opt(struct attest_online *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case ATTEST_OPT_ONLINE:
		o->online = true;
		break;
	case ATTEST_OPT_OFFLINE:
		o->offline = true;
		break;
	case ATTEST_OPT_RIM_URL:
		o->lo.rim_url = arg;
		o->online = true;
		break;
	case ATTEST_OPT_OCSP_URL:
		o->lo.ocsp_url = arg;
		o->online = true;
		break;
	case ATTEST_OPT_NET_TIMEOUT:
		if (cn_parse_u64(arg, 3600, &v) < 0 || v == 0) {
			log_error("--net-timeout '%s' is not a number of seconds (1..3600)", arg);
			return -1;
		}
		o->lo.net_timeout_s = (long)v;
		break;
	case ATTEST_OPT_NET_PARALLEL:
		if (cn_parse_u64(arg, 1024, &v) < 0 || v == 0) {
			log_error("--net-parallel '%s' is not a number (1..1024)", arg);
			return -1;
		}
		o->lo.max_parallel = (unsigned)v;
		break;
	case ATTEST_OPT_CACHE_DIR:
		o->lo.cache_dir = arg;
		o->set_any = true;
		break;
	case ATTEST_OPT_NO_CACHE:
		o->no_cache = true;
		break;
	case ATTEST_OPT_BUNDLE:
		o->lo.bundle_dir = arg;
		o->set_any = true;
		break;
	case ATTEST_OPT_OCSP_MAX_AGE:
		if (parse_age(arg, &o->lo.ocsp_max_age_s) < 0) {
			log_error("--ocsp-max-age '%s' is not SEC or Nd/Nh/Nm", arg);
			return -1;
		}
		break;
	case ATTEST_OPT_LIVE_REPORT:
		o->live_report = arg;
		break;
	default:
		return 0;
	}
	return 1;
}

bool attest_online_active(const struct attest_online *o, bool default_online)
{
	return default_online || o->online || o->offline || o->set_any;
}

int attest_online_resolve(struct attest_online *o, bool default_online)
{
	if (o->online && o->offline) {
		log_error("--online and --offline exclude each other");
		return -EINVAL;
	}
	/* Without --online, a bundle or a cache alone means: no network. */
	o->lo.offline = o->offline || !(o->online || default_online);
	if (!o->lo.cache_dir)
		o->lo.cache_dir = CN_ATTEST_CACHE_DIR_DEFAULT;
	if (o->no_cache)
		o->lo.cache_dir = NULL;
	return 0;
}

void attest_online_report(const struct attest_online *o, json_t *report)
{
	char *text;
	int r;

	if (!o->live_report)
		return;
	text = report ? json_dumps(report, JSON_INDENT(2)) : NULL;
	r = text ? cn_write_file_atomic_at(AT_FDCWD, o->live_report, text, strlen(text), 0644)
		 : -ENOMEM;
	if (r < 0)
		log_warning("cannot write --live-report '%s': %s", o->live_report,
			    report ? cn_err_msg() : "nothing was fetched");
	free(text);
}
