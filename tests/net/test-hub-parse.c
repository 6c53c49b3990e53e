/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hub parsers on their own: repository ids, revisions, repository paths, the Link header,
 * the tree listing JSON (known answers, every truncation, every bit flip), and the http helpers
 * that need no server (Retry-After, header capture, the capped body buffer).
 */
#include "harness.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "net/http.h"
#include "hf/hub-parse.h"

static void test_repo_id(void)
{
	const char *good[] = {"gpt2", "Qwen/Qwen3-8B", "google/gemma-3-270m",
			      "a/b",  "org_x/m.v1-2",  "A1/B_2"};
	const char *bad[] = {"",      "/",	"a/",	  "/a",	   "a//b",  "a/b/c",	 "../a",
			     "a/..",  "a/.b",	"a/b.",	  "-a/b",  "a/b-",  "a--b/c",	 "a/b..c",
			     "a b/c", "a/b\\c", "a/b%2f", "a/b?x", "a/b#x", "a/\xc3\xa9"};
	char longid[300];

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ASSERT_OK(cn_hub_repo_id_check(good[i]));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		if (cn_hub_repo_id_check(bad[i]) != -EINVAL)
			CN_FAIL_("repo id '%s' accepted", bad[i]);
	}
	memset(longid, 'a', sizeof(longid));
	longid[CN_HUB_REPO_PART_MAX] = 0;
	ASSERT_OK(cn_hub_repo_id_check(longid));
	longid[CN_HUB_REPO_PART_MAX] = 'a';
	longid[CN_HUB_REPO_PART_MAX + 1] = 0;
	ASSERT_ERR(cn_hub_repo_id_check(longid), -EINVAL);
	ASSERT_ERR(cn_hub_repo_id_check(NULL), -EINVAL);
}

static void test_revision(void)
{
	ASSERT_OK(cn_hub_revision_check("main"));
	ASSERT_OK(cn_hub_revision_check("refs/pr/1"));
	ASSERT_OK(cn_hub_revision_check("v1.0"));
	ASSERT_OK(cn_hub_revision_check("0123456789abcdef0123456789abcdef01234567"));
	ASSERT_ERR(cn_hub_revision_check(""), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("-rf"), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("/x"), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("a..b"), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("a b"), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("a\nb"), -EINVAL);
	ASSERT_ERR(cn_hub_revision_check("a\\b"), -EINVAL);
}

static void test_path(void)
{
	const char *good[] = {
	    "config.json", "a/b/c.bin",	 ".gitattributes",	  "a/.hidden", "..x", "x..",
	    "a/...",	   "with space", "\xc3\xa9t\xc3\xa9.txt", "a-b_c~d"};
	const char *bad[] = {
	    "",	     "/etc/passwd", "a//b",	      "a/",	   "./a",   "a/./b", "..",
	    "../x",  "a/../b",	    "a/..",	      ".",	   "a\\b",  "a\tb",  "a\nb",
	    "a\x7f", ".git/config", "a/.git/hooks/x", ".GIT/HEAD", "a/.Git"};
	char buf[CN_HUB_PATH_MAX + 2];

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ASSERT_OK(cn_hub_path_check(good[i], strlen(good[i])));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		if (cn_hub_path_check(bad[i], strlen(bad[i])) != -EBADMSG)
			CN_FAIL_("path '%s' accepted", bad[i]);
	}
	ASSERT_ERR(cn_hub_path_check("a\0b", 3), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "NUL") != NULL);
	ASSERT_ERR(cn_hub_path_check("m/.git/config", 13), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "reserved name '.git'") != NULL);
	ASSERT_OK(cn_hub_path_check(".github/x", 9));
	ASSERT_OK(cn_hub_path_check(".gitignore", 10));
	/* lengths: component 255 ok, 256 not; whole path CN_HUB_PATH_MAX ok, one more not */
	memset(buf, 'a', sizeof(buf));
	ASSERT_OK(cn_hub_path_check(buf, CN_HUB_NAME_MAX));
	ASSERT_ERR(cn_hub_path_check(buf, CN_HUB_NAME_MAX + 1), -EBADMSG);
	for (size_t i = 200; i < sizeof(buf); i += 200)
		buf[i] = '/';
	ASSERT_OK(cn_hub_path_check(buf, CN_HUB_PATH_MAX));
	ASSERT_ERR(cn_hub_path_check(buf, CN_HUB_PATH_MAX + 1), -EBADMSG);
	/* depth */
	{
		char deep[2 * (CN_HUB_DEPTH_MAX + 1)];

		for (size_t i = 0; i < sizeof(deep); i += 2) {
			deep[i] = 'd';
			deep[i + 1] = '/';
		}
		ASSERT_OK(cn_hub_path_check(deep, 2 * CN_HUB_DEPTH_MAX - 1));
		ASSERT_ERR(cn_hub_path_check(deep, 2 * CN_HUB_DEPTH_MAX + 1), -EBADMSG);
	}
}

static void link_ok(const char *v, const char *want)
{
	char *url = (char *)0x1;

	if (cn_hub_link_next(v, strlen(v), &url) < 0)
		CN_FAIL_("Link '%s' rejected: %s", v, cn_err_msg());
	if (!want)
		ASSERT_NULL(url);
	else
		ASSERT_STREQ(url, want);
	free(url);
}

static void link_bad(const char *v)
{
	char *url = (char *)0x1;

	if (cn_hub_link_next(v, strlen(v), &url) != -EBADMSG)
		CN_FAIL_("Link '%s' accepted", v);
	ASSERT_TRUE(url == (char *)0x1); /* untouched on failure */
}

static void test_link(void)
{
	link_ok("<https://h/api/models/a/tree/c?recursive=true&cursor=abc>; rel=\"next\"",
		"https://h/api/models/a/tree/c?recursive=true&cursor=abc");
	link_ok("<https://h/x>; rel=next", "https://h/x");
	link_ok("<https://h/p>; rel=\"prev\", <https://h/n>; rel=\"next\"", "https://h/n");
	link_ok("<https://h/n>;rel=\"prev next\";title=\"a, b\"", "https://h/n");
	link_ok("<https://h/n> ; REL = \"Next\"", "https://h/n");
	link_ok("<https://h/p>; rel=\"prev\"", NULL);
	link_ok("", NULL);
	link_ok("   ", NULL);
	link_bad("https://h/n; rel=next");
	link_bad("<https://h/n");
	link_bad("<https://h/n>; rel");
	link_bad("<https://h/n>; rel=");
	link_bad("<https://h/n>; rel=\"next");
	link_bad("<https://h/n> rel=next");
	link_bad("<https://h/a>; rel=next, <https://h/b>; rel=next");
	link_bad("<https://h/a b>; rel=next");
	link_bad("<>; rel=next");
	link_bad("<https://h/a>; rel=next,");
	link_bad("<https://h/a>; =next");
	link_bad("<https://h/a>; rel=\"ne\\\"xt\"");
	{
		char v[] = "<https://h/a\0b>; rel=next";

		char *url = NULL;
		ASSERT_ERR(cn_hub_link_next(v, sizeof(v) - 1, &url), -EBADMSG);
	}
}

static void test_next_url(void)
{
	const char *p = "https://hub/api/models/o/m/tree/0123?";

	ASSERT_OK(cn_hub_next_url_check(
	    p, "https://hub/api/models/o/m/tree/0123?recursive=true&cursor=x"));
	ASSERT_ERR(cn_hub_next_url_check(p, "https://hub.evil/api/models/o/m/tree/0123?cursor=x"),
		   -EBADMSG);
	ASSERT_ERR(cn_hub_next_url_check(p, "https://hub/api/models/o/other/tree/0123?cursor=x"),
		   -EBADMSG);
	ASSERT_ERR(cn_hub_next_url_check(p, "http://hub/api/models/o/m/tree/0123?cursor=x"),
		   -EBADMSG);
	ASSERT_ERR(cn_hub_next_url_check(p, "https://hub/api/models/o/m/tree/0123?cursor=x#f"),
		   -EBADMSG);
	ASSERT_ERR(cn_hub_next_url_check(p, "https://hub/api/models/o/m/tree/0123?cursor=x y"),
		   -EBADMSG);
	ASSERT_ERR(cn_hub_next_url_check(p, "/api/models/o/m/tree/0123?cursor=x"), -EBADMSG);
}

#define SHA1A "0123456789abcdef0123456789abcdef01234567"
#define SHA256A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char page1[] =
    "[{\"type\":\"directory\",\"oid\":\"" SHA1A "\",\"size\":0,\"path\":\"sub\"},"
    "{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":12,\"path\":\"sub/config.json\"},"
    "{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":1000,\"path\":\"model.safetensors\","
    "\"lfs\":{\"oid\":\"" SHA256A "\",\"size\":1000,\"pointerSize\":134},\"xetHash\":\"ab\"},"
    "{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":5,\"path\":\".cache/huggingface/x\"}]";

static void test_tree_known_answer(void)
{
	struct cn_hub_tree t = {0};
	const struct cn_hub_file *f;
	uint8_t d[32];

	ASSERT_OK(cn_hub_tree_parse_page((const uint8_t *)page1, strlen(page1), &t));
	ASSERT_EQ(t.n, 2);
	ASSERT_EQ(t.skipped, 1);
	ASSERT_U64_EQ(t.total_size, 1012);
	ASSERT_OK(cn_hub_tree_parse_page((const uint8_t *)"[]", 2, &t));
	ASSERT_OK(cn_hub_tree_finish(&t));
	ASSERT_STREQ(t.files[0].path, "model.safetensors");
	f = cn_hub_tree_find(&t, "model.safetensors");
	ASSERT_NOT_NULL(f);
	ASSERT_TRUE(f->lfs);
	ASSERT_U64_EQ(f->size, 1000);
	ASSERT_OK(cn_unhex_exact(SHA256A, d, 32));
	ASSERT_MEMEQ(f->digest, d, 32);
	f = cn_hub_tree_find(&t, "sub/config.json");
	ASSERT_NOT_NULL(f);
	ASSERT_FALSE(f->lfs);
	ASSERT_OK(cn_unhex_exact(SHA1A, d, 20));
	ASSERT_MEMEQ(f->digest, d, 20);
	ASSERT_NULL(cn_hub_tree_find(&t, "sub"));
	/* the same page again: duplicates across pages are caught at finish */
	ASSERT_OK(cn_hub_tree_parse_page((const uint8_t *)page1, strlen(page1), &t));
	ASSERT_ERR(cn_hub_tree_finish(&t), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "twice") != NULL);
	cn_hub_tree_done(&t);
}

static void tree_bad(const char *json, const char *needle)
{
	struct cn_hub_tree t = {0};
	int r = cn_hub_tree_parse_page((const uint8_t *)json, strlen(json), &t);

	if (r >= 0)
		r = cn_hub_tree_finish(&t);
	if (r >= 0)
		CN_FAIL_("tree '%s' accepted", json);
	if (needle && !strstr(cn_err_msg(), needle))
		CN_FAIL_("tree '%s': message '%s' lacks '%s'", json, cn_err_msg(), needle);
	cn_hub_tree_done(&t);
}

#define F(path, extra)                                                                             \
	"{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":1,\"path\":\"" path "\"" extra "}"

static void test_tree_rejects(void)
{
	tree_bad("{}", "not a JSON array");
	tree_bad("[1]", "not an object");
	tree_bad("[" F("../x", "") "]", "'..'");
	tree_bad("[" F("/etc/passwd", "") "]", "absolute");
	tree_bad("[" F("a\\\\b", "") "]", "backslash");
	tree_bad("[" F("a\\u0000b", "") "]", NULL);
	tree_bad("[" F("", "") "]", "empty");
	tree_bad("[" F("a", "") "," F("a", "") "]", "twice");
	tree_bad("[" F("a", "") "," F("a/b", "") "]", "both as a file and as a directory");
	tree_bad("[{\"type\":\"submodule\",\"oid\":\"" SHA1A "\",\"size\":1,\"path\":\"m\"}]",
		 "unsupported type");
	tree_bad("[{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":-1,\"path\":\"m\"}]",
		 "'size' out of range");
	tree_bad("[{\"type\":\"file\",\"oid\":\"" SHA1A "\",\"size\":1.5,\"path\":\"m\"}]",
		 "'size' is not an integer");
	tree_bad("[{\"type\":\"file\",\"oid\":\"" SHA1A
		 "\",\"size\":1099511627777,\"path\":\"m\"}]",
		 "out of range");
	tree_bad("[{\"type\":\"file\",\"oid\":\"0123\",\"size\":1,\"path\":\"m\"}]", "'oid'");
	tree_bad("[{\"type\":\"file\",\"oid\":\""
		 "0123456789ABCDEF0123456789abcdef01234567"
		 "\",\"size\":1,\"path\":\"m\"}]",
		 "'oid'");
	tree_bad("[" F("m", ",\"lfs\":{\"oid\":\"" SHA1A "\",\"size\":1}") "]", "'lfs.oid'");
	tree_bad("[" F("m", ",\"lfs\":{\"oid\":\"" SHA256A "\",\"size\":2}") "]",
		 "lfs.size 2 differs");
	tree_bad("[" F("m", ",\"lfs\":[]") "]", "'lfs' is not an object");
	tree_bad("[{\"type\":\"file\",\"type\":\"file\",\"oid\":\"" SHA1A
		 "\",\"size\":1,\"path\":\"m\"}]",
		 "JSON");
	tree_bad("[" F("m", "") "] x", "JSON");
	tree_bad("[{\"type\":\"file\",\"size\":1}]", "missing 'type' or 'path'");
}

/* Every truncation and every bit flip of a valid page: no crash, no leak, t unchanged on error. */
static void test_tree_sweeps(void)
{
	size_t len = strlen(page1);
	uint8_t *buf = malloc(len);

	ASSERT_NOT_NULL(buf);
	for (size_t n = 0; n < len; n++) {
		struct cn_hub_tree t = {0};

		memcpy(buf, page1, n);
		ASSERT_FAIL(cn_hub_tree_parse_page(buf, n, &t));
		ASSERT_EQ(t.n, 0);
		cn_hub_tree_done(&t);
	}
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			struct cn_hub_tree t = {0};

			memcpy(buf, page1, len);
			buf[i] ^= (uint8_t)(1u << b);
			if (cn_hub_tree_parse_page(buf, len, &t) < 0)
				ASSERT_EQ(t.n, 0);
			else
				(void)cn_hub_tree_finish(&t);
			cn_hub_tree_done(&t);
		}
	free(buf);
}

static void test_link_sweeps(void)
{
	const char *v =
	    "<https://h/p>; rel=\"prev\", <https://h/n?cursor=a%20b>; rel=\"next\"; title=x";
	size_t len = strlen(v);
	char *buf = malloc(len);

	ASSERT_NOT_NULL(buf);
	for (size_t n = 0; n <= len; n++) {
		char *url = NULL;

		memcpy(buf, v, n);
		if (cn_hub_link_next(buf, n, &url) == 0)
			free(url);
	}
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			char *url = NULL;

			memcpy(buf, v, len);
			buf[i] = (char)(buf[i] ^ (1 << b));
			if (cn_hub_link_next(buf, len, &url) == 0)
				free(url);
		}
	free(buf);
}

static void test_retry_after(void)
{
	long s = -1;
	bool clamped = true;

	ASSERT_OK(cn_http_parse_retry_after("0", 60, &s, &clamped));
	ASSERT_EQ(s, 0);
	ASSERT_FALSE(clamped);
	ASSERT_OK(cn_http_parse_retry_after("17", 60, &s, &clamped));
	ASSERT_EQ(s, 17);
	ASSERT_OK(cn_http_parse_retry_after("3600", 60, &s, &clamped));
	ASSERT_EQ(s, 60);
	ASSERT_TRUE(clamped);
	ASSERT_OK(cn_http_parse_retry_after("99999999999999999999999", 60, &s, &clamped));
	ASSERT_TRUE(clamped);
	ASSERT_OK(cn_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 60, &s, &clamped));
	ASSERT_EQ(s, 0); /* in the past */
	ASSERT_OK(cn_http_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 60, &s, &clamped));
	ASSERT_TRUE(clamped);
	ASSERT_ERR(cn_http_parse_retry_after("", 60, &s, NULL), -EBADMSG);
	ASSERT_ERR(cn_http_parse_retry_after("-1", 60, &s, NULL), -EBADMSG);
	ASSERT_ERR(cn_http_parse_retry_after("1.5", 60, &s, NULL), -EBADMSG);
	ASSERT_ERR(cn_http_parse_retry_after(" 5", 60, &s, NULL), -EBADMSG);
	ASSERT_ERR(cn_http_parse_retry_after("soon", 60, &s, NULL), -EBADMSG);
}

static void feed(struct cn_http_headers *h, const char *line)
{
	char buf[8192];
	size_t n = strlen(line);

	memcpy(buf, line, n);
	ASSERT_EQ(cn_http_header_cb(buf, 1, n, h), n);
}

static void test_header_capture(void)
{
	struct cn_http_headers h = {0};
	char big[CN_HTTP_HEADER_VALUE_MAX + 64];

	/* a redirect's headers are forgotten at the next status line */
	feed(&h, "HTTP/1.1 302 Found\r\n");
	feed(&h, "Link: <https://a/redirect>; rel=\"next\"\r\n");
	feed(&h, "X-Error-Code: Nope\r\n");
	feed(&h, "\r\n");
	feed(&h, "HTTP/1.1 200 OK\r\n");
	feed(&h, "link: <https://a/1>; rel=\"prev\"\r\n");
	feed(&h, "LINK:   <https://a/2>; rel=\"next\"  \r\n");
	feed(&h, "Content-Range: bytes 5-9/10\r\n");
	feed(&h, "Retry-After: 3\r\n");
	feed(&h, "X-Unrelated: x\r\n");
	feed(&h, "\r\n");
	ASSERT_STREQ(h.link, "<https://a/1>; rel=\"prev\", <https://a/2>; rel=\"next\"");
	ASSERT_STREQ(h.content_range, "bytes 5-9/10");
	ASSERT_STREQ(h.retry_after, "3");
	ASSERT_NULL(h.error_code);
	ASSERT_EQ(h.error, 0);
	/* oversized values are an error, not truncated silently */
	memcpy(big, "Link: ", 6);
	memset(big + 6, 'x', sizeof(big) - 9);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	feed(&h, big);
	ASSERT_ERR(h.error, -E2BIG);
	cn_http_headers_done(&h);
}

/* The in-memory body: NUL-terminated, grows to exactly its cap, stops (flagged) past it. */
static void test_body_buffer(void)
{
	struct cn_http_body b = {.max = 10000};
	char chunk[3000];

	memset(chunk, 'a', sizeof(chunk));
	ASSERT_EQ(cn_http_body_write(chunk, 1, 0, &b), 0);
	ASSERT_EQ(b.len, 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(cn_http_body_write(chunk, 1, sizeof(chunk), &b), sizeof(chunk));
	ASSERT_EQ(b.len, 9000);
	ASSERT_EQ(b.data[b.len], 0);
	ASSERT_EQ(cn_http_body_write(chunk, 1, 1000, &b), 1000); /* exactly max */
	ASSERT_EQ(b.len, 10000);
	ASSERT_TRUE(b.cap <= b.max + 1);
	ASSERT_EQ(b.data[b.len], 0);
	ASSERT_FALSE(b.over);
	ASSERT_EQ(cn_http_body_write(chunk, 1, 1, &b), 0); /* one byte more: stopped */
	ASSERT_TRUE(b.over);
	ASSERT_EQ(b.len, 10000);
	free(b.data);
}

static void test_url_is_https(void)
{
	ASSERT_TRUE(cn_http_url_is_https("https://huggingface.co"));
	ASSERT_TRUE(cn_http_url_is_https("HTTPS://127.0.0.1:8443/mirror"));
	ASSERT_FALSE(cn_http_url_is_https("http://huggingface.co"));
	ASSERT_FALSE(cn_http_url_is_https("ftp://x"));
	ASSERT_FALSE(cn_http_url_is_https("https://"));
	ASSERT_FALSE(cn_http_url_is_https("huggingface.co"));
	ASSERT_FALSE(cn_http_url_is_https(NULL));
}

static const struct cn_test tests[] = {
    T(repo_id),		  T(revision),	   T(path),	   T(link),	   T(next_url),
    T(tree_known_answer), T(tree_rejects), T(tree_sweeps), T(link_sweeps), T(retry_after),
    T(header_capture),	  T(url_is_https), T(body_buffer),
};

CN_TEST_MAIN(tests)
