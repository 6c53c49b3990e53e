/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the live-services library parts that need no server: the RIM service body, the
 * URL forms, the cache entries, and the request engine's refusals and connect retries. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "attest/cache.h"
#include "attest/live.h"
#include "attest/rim/rim.h"
#include "base/log.h"
#include "harness.h"
#include "net/multi.h"

#define ID "NV_GPU_DRIVER_GH100_550.90.07"

static void test_rim_json(void)
{
	const char *good = "{\"id\":\"" ID "\",\"rim\":\"PD94bWw+\",\"sha256\":\"x\"}";
	uint8_t *xml = NULL;
	size_t len = 0, n = strlen(good);

	ASSERT_OK(cn_live_rim_json_parse((const uint8_t *)good, n, ID, &xml, &len));
	ASSERT_EQ(len, 6);
	ASSERT_STREQ((char *)xml, "<?xml>");
	free(xml);
	ASSERT_ERR(
	    cn_live_rim_json_parse((const uint8_t *)good, n, "NV_GPU_DRIVER_GH100_1", &xml, &len),
	    -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "not the requested") != NULL);
	static const char *bad[] = {
	    "{\"id\":\"" ID "\",\"rim\":\"PD94bWw\"}",	   /* length */
	    "{\"id\":\"" ID "\",\"rim\":\"PD9*bWw+\"}",	   /* alphabet */
	    "{\"id\":\"" ID "\",\"rim\":\"PD94\\nbWw+\"}", /* whitespace */
	    "{\"id\":\"" ID "\",\"rim\":7}",
	    "{\"id\":\"" ID "\"}",
	    "{\"rim\":\"PD94bWw+\"}",
	    "{\"id\":\"" ID "\",\"id\":\"" ID "\",\"rim\":\"PD94bWw+\"}", /* duplicate */
	    "[\"" ID "\"]",
	    "{\"id\":\"" ID "\\u0000x\",\"rim\":\"PD94bWw+\"}", /* embedded NUL */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_FAIL(cn_live_rim_json_parse((const uint8_t *)bad[i], strlen(bad[i]), ID,
						   &xml, &len));
	/* every truncation and every bit flip: an error or the same id, never a crash */
	for (size_t k = 0; k < n; k++)
		ASSERT_FAIL(cn_live_rim_json_parse((const uint8_t *)good, k, ID, &xml, &len));
	for (size_t k = 0; k < n * 8; k++) {
		char *m = strdup(good);

		m[k / 8] ^= (char)(1u << (k % 8));
		if (cn_live_rim_json_parse((const uint8_t *)m, n, ID, &xml, &len) >= 0)
			free(xml);
		free(m);
	}
	/* the size cap */
	size_t big = CN_LIVE_RIM_BODY_MAX + 1;
	uint8_t *b = calloc(1, big);
	ASSERT_NOT_NULL(b);
	memset(b, ' ', big);
	ASSERT_ERR(cn_live_rim_json_parse(b, big, ID, &xml, &len), -E2BIG);
	free(b);
}

static void test_rim_url(void)
{
	static const char *base[] = {"https://h", "https://h/", "https://h/v1/rim",
				     "https://h/v1/rim/"};

	for (size_t i = 0; i < 4; i++) {
		char *u = cn_live_rim_url(base[i], ID);

		ASSERT_STREQ(u, "https://h/v1/rim/" ID);
		free(u);
	}
}

static void test_cache(void)
{
	char dir[512], path[700];
	struct cn_attest_cache *c = NULL, *ro = NULL;
	uint8_t *buf = NULL, *e;
	size_t len = 0;
	struct stat st;

	(void)snprintf(dir, sizeof(dir), "%s/cache/a", cn_test_tmpdir());
	ASSERT_OK(cn_attest_cache_open(dir, true, &c));
	ASSERT_OK(stat(dir, &st));
	ASSERT_EQ(st.st_mode & 0777, 0700);
	ASSERT_ERR(cn_attest_cache_get(c, CN_CACHE_RIM, ID, &buf, &len, NULL), -ENOENT);
	ASSERT_OK(cn_attest_cache_put(c, CN_CACHE_RIM, ID, (const uint8_t *)"<x/>", 4));
	ASSERT_OK(cn_attest_cache_get(c, CN_CACHE_RIM, ID, &buf, &len, NULL));
	ASSERT_EQ(len, 4);
	ASSERT_MEMEQ(buf, "<x/>", 4);
	free(buf);
	ASSERT_ERR(cn_attest_cache_put(c, CN_CACHE_RIM, "../x", (const uint8_t *)"a", 1), -EINVAL);
	ASSERT_ERR(cn_attest_cache_put(c, CN_CACHE_OCSP, "abc", (const uint8_t *)"a", 1), -EINVAL);

	/* damage: every truncation and every bit flip of the entry is refused */
	(void)snprintf(path, sizeof(path), "%s/rim/%s.entry", dir, ID);
	ASSERT_OK(stat(path, &st));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	e = cn_test_slurp(path, &len);
	for (size_t k = 0; k < len; k++) {
		const uint8_t *p;
		size_t pl;

		ASSERT_ERR(cn_attest_cache_entry_parse(e, k, &p, &pl), -EBADMSG);
	}
	for (size_t k = 0; k < len * 8; k++) {
		const uint8_t *p;
		size_t pl;

		e[k / 8] ^= (uint8_t)(1u << (k % 8));
		ASSERT_ERR(cn_attest_cache_entry_parse(e, len, &p, &pl), -EBADMSG);
		e[k / 8] ^= (uint8_t)(1u << (k % 8));
	}
	e[len - 1] ^= 1;
	cn_test_write(path, e, len);
	ASSERT_ERR(cn_attest_cache_get(c, CN_CACHE_RIM, ID, &buf, &len, NULL), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "checksum mismatch") != NULL);
	free(e);

	/* a bundle is read-only */
	ASSERT_OK(cn_attest_cache_open(dir, false, &ro));
	ASSERT_ERR(cn_attest_cache_put(ro, CN_CACHE_RIM, ID, (const uint8_t *)"a", 1), -EROFS);
	cn_attest_cache_free(ro);
	cn_attest_cache_free(c);
	(void)snprintf(dir, sizeof(dir), "%s/no-such-bundle", cn_test_tmpdir());
	ASSERT_ERR(cn_attest_cache_open(dir, false, &ro), -ENOENT);
}

/* A loopback port with nothing listening. */
static int dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &l));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_engine(void)
{
	char url[64];
	struct cn_net_request q[2] = {
	    {.url = "http://127.0.0.1/plain"},
	    {.url = url, .method = CN_NET_POST, .body = "x", .body_len = 1},
	};
	struct cn_net_batch_opts o = {
	    .max_attempts = 3, .backoff_initial_ms = 20, .deadline_ms = 5000};
	struct cn_net_batch_stats st;
	struct timespec a, b;

	ASSERT_TRUE(cn_net_status_retryable(408) && cn_net_status_retryable(429) &&
		    cn_net_status_retryable(503) && !cn_net_status_retryable(404) &&
		    !cn_net_status_retryable(200));
	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%d/", dead_port());
	(void)clock_gettime(CLOCK_MONOTONIC, &a);
	ASSERT_OK(cn_net_batch_run(&o, q, 2, &st));
	(void)clock_gettime(CLOCK_MONOTONIC, &b);
	ASSERT_ERR(q[0].result, -EPROTONOSUPPORT);
	ASSERT_EQ(q[0].attempts, 0);
	ASSERT_ERR(q[1].result, -ECONNREFUSED);
	ASSERT_EQ(q[1].attempts, 3); /* connect errors are retried */
	ASSERT_EQ(st.retries, 2);
	ASSERT_TRUE(strstr(q[1].err, url) != NULL);
	ASSERT_TRUE(b.tv_sec - a.tv_sec < 4);

	/* the batch deadline bounds the retries */
	o = (struct cn_net_batch_opts){
	    .max_attempts = 100, .backoff_initial_ms = 400, .deadline_ms = 600};
	ASSERT_OK(cn_net_batch_run(&o, &q[1], 1, &st));
	ASSERT_TRUE(q[1].result == -ETIMEDOUT || q[1].result == -ECONNREFUSED);
	ASSERT_TRUE(q[1].attempts < 5);
	ASSERT_TRUE(strstr(q[1].err, url) != NULL);
}

static const struct cn_test tests[] = {
    T(rim_json),
    T(rim_url),
    T(cache),
    T(engine),
};
CN_TEST_MAIN(tests)
