/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The src/oci parsers on their own: references, the model manifest (round trip, every
 * truncation, every bit flip, field-by-field rejections), WWW-Authenticate challenges, Docker
 * config.json credentials and token responses.
 */
#include "harness.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "oci/oci.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_ref(void)
{
	struct cn_oci_ref r;
	const char *bad[] = {
	    "",
	    "repo:tag",				   /* no host */
	    "library/ubuntu:22.04",		   /* first component is not a host */
	    "127.0.0.1:5000/Repo:tag",		   /* upper case repo */
	    "127.0.0.1:5000/repo",		   /* neither tag nor digest */
	    "127.0.0.1:5000/repo:",		   /* empty tag */
	    "127.0.0.1:5000/repo:.x",		   /* tag starts with '.' */
	    "127.0.0.1:5000/re..po:t",		   /* double separator */
	    "127.0.0.1:5000/repo/:t",		   /* empty component */
	    "127.0.0.1:5000//repo:t",		   /* empty component */
	    "127.0.0.1:0/repo:t",		   /* port 0 */
	    "127.0.0.1:65536/repo:t",		   /* port too large */
	    "127.0.0.1:/repo:t",		   /* empty port */
	    "a..b:5000/repo:t",			   /* empty label */
	    "host.example/repo@sha256:abc",	   /* short digest */
	    "host.example/repo@sha512:" HEX64,	   /* other algorithm */
	    "host.example/repo@sha256:" HEX64 "0", /* long digest */
	    "host.example/re po:t",
	    "host.example/repo:t\n",
	    "ho_st.example/repo:t",
	};
	ASSERT_OK(cn_oci_ref_parse("127.0.0.1:5000/models/qwen/qwen3-8b:v1", &r));
	ASSERT_STREQ(r.host, "127.0.0.1:5000");
	ASSERT_STREQ(r.repo, "models/qwen/qwen3-8b");
	ASSERT_STREQ(r.tag, "v1");
	ASSERT_STREQ(r.digest, "");
	ASSERT_OK(cn_oci_ref_parse("localhost/a__b.c-d--e:T_1.x-y@sha256:" HEX64, &r));
	ASSERT_STREQ(r.repo, "a__b.c-d--e");
	ASSERT_STREQ(r.tag, "T_1.x-y");
	ASSERT_STREQ(r.digest, "sha256:" HEX64);
	ASSERT_OK(cn_oci_ref_parse("registry.example.com/r@sha256:" HEX64, &r));
	ASSERT_STREQ(r.tag, "");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (cn_oci_ref_parse(bad[i], &r) != -EINVAL)
			CN_FAIL_("reference '%s' accepted", bad[i]);
	ASSERT_OK(cn_oci_ref_for_model("reg.example:443/models/", "Qwen/Qwen3-0.6B",
				       "b968826d9c46dd6066d109eabc6255188de91218", &r));
	ASSERT_STREQ(r.repo, "models/qwen/qwen3-0.6b");
	ASSERT_STREQ(r.tag, "b968826d9c46dd6066d109eabc6255188de91218");
	ASSERT_ERR(cn_oci_ref_for_model("reg.example/m", "a/b", "bad commit", &r), -EINVAL);
}

static void sample(struct cn_oci_model_manifest *m)
{
	*m = (struct cn_oci_model_manifest){0};
	memcpy(m->config.digest, "sha256:" HEX64, 72);
	m->config.size = 757;
	memcpy(m->tar.digest, "sha256:" HEX64, 72);
	m->tar.digest[7] = 'f';
	m->tar.size = 3014656; /* 736 blocks */
	memcpy(m->verity.digest, "sha256:" HEX64, 72);
	m->verity.digest[8] = 'e';
	m->verity.size = 32768; /* 1 + 6 + 1 blocks */
	strcpy(m->name, "Qwen/Qwen3-8B");
	strcpy(m->commit, "b968826d9c46dd6066d109eabc6255188de91218");
	memcpy(m->root_hash, HEX64, 65);
}

static void test_manifest_round_trip(void)
{
	struct cn_oci_model_manifest m, back;
	_cleanup_free_ char *s = NULL;
	size_t len;

	sample(&m);
	s = cn_oci_manifest_build(&m);
	ASSERT_TRUE(s != NULL);
	ASSERT_TRUE(strstr(s, "\"artifactType\":\"" CN_OCI_MT_ARTIFACT "\"") != NULL);
	ASSERT_TRUE(strstr(s, "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:" HEX64));
	ASSERT_TRUE(strstr(s, "\"Qwen_Qwen3_8B@b968826d9c46dd6066d109eabc6255188de91218.tar\""));
	len = strlen(s);
	ASSERT_OK(cn_oci_manifest_parse((const uint8_t *)s, len, &back));
	ASSERT_TRUE(memcmp(&m, &back, sizeof(m)) == 0);
	/* Every truncation fails; every bit flip fails or parses to something well-formed. */
	for (size_t n = 0; n < len; n++)
		if (cn_oci_manifest_parse((const uint8_t *)s, n, &back) == 0)
			CN_FAIL_("truncation to %zu accepted", n);
	for (size_t i = 0; i < len * 8; i++) {
		s[i / 8] ^= (char)(1u << (i % 8));
		if (cn_oci_manifest_parse((const uint8_t *)s, len, &back) == 0) {
			ASSERT_TRUE(back.tar.size % 4096 == 0);
			ASSERT_TRUE(strlen(back.root_hash) == 64);
		}
		s[i / 8] ^= (char)(1u << (i % 8));
	}
}

static void expect_bad(const char *json, const char *needle)
{
	struct cn_oci_model_manifest m;
	int r = cn_oci_manifest_parse((const uint8_t *)json, strlen(json), &m);

	if (r >= 0)
		CN_FAIL_("accepted: %s", json);
	if (!strstr(cn_err_msg(), needle))
		CN_FAIL_("message '%s' does not name '%s'", cn_err_msg(), needle);
}

static void test_manifest_rejects(void)
{
	struct cn_oci_model_manifest m;
	_cleanup_free_ char *s = NULL;
	char buf[4096], *p;

	sample(&m);
	s = cn_oci_manifest_build(&m);
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"schemaVersion\":1}", "schemaVersion");
#define SWAP(from, to, needle)                                                                     \
	do {                                                                                       \
		p = strstr(s, from);                                                               \
		ASSERT_TRUE(p != NULL);                                                            \
		(void)snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - s), s, to,                  \
			       p + strlen(from));                                                  \
		expect_bad(buf, needle);                                                           \
	} while (0)
	SWAP(CN_OCI_MT_ARTIFACT, "application/x", "artifactType");
	SWAP("\"size\":3014656", "\"size\":3014657", "layers[0].size");
	SWAP("\"size\":32768", "\"size\":36864", "layers[1].size");
	SWAP("\"size\":757", "\"size\":-1", "config.size");
	SWAP("\"sha256:f", "\"sha256:F", "layers[0].digest");
	SWAP(CN_OCI_MT_VERITY, CN_OCI_MT_TAR, "layers[1].mediaType");
	SWAP(":" HEX64 "\"}}", "\"}}", "dev.cocoon.model.spec");
	SWAP("\"schemaVersion\":2", "\"schemaVersion\":2,\"schemaVersion\":2", "invalid JSON");
#undef SWAP
	memset(buf, ' ', sizeof(buf));
	ASSERT_ERR(cn_oci_manifest_parse((const uint8_t *)buf, CN_OCI_MANIFEST_MAX + 1, &m),
		   -E2BIG);
}

static void test_challenge(void)
{
	struct cn_oci_challenge c;

	ASSERT_OK(cn_oci_challenge_parse(
	    "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
	    "scope=\"repository:a/b:pull\"",
	    &c));
	ASSERT_TRUE(c.bearer);
	ASSERT_STREQ(c.realm, "https://auth.example/token");
	ASSERT_STREQ(c.service, "registry.example");
	ASSERT_STREQ(c.scope, "repository:a/b:pull");
	ASSERT_OK(cn_oci_challenge_parse("Basic realm=\"x \\\"y\\\"\"", &c));
	ASSERT_FALSE(c.bearer);
	ASSERT_STREQ(c.realm, "x \"y\"");
	ASSERT_OK(cn_oci_challenge_parse("basic", &c));
	ASSERT_ERR(cn_oci_challenge_parse("Bearer service=\"x\"", &c), -EBADMSG);
	ASSERT_ERR(cn_oci_challenge_parse("Bearer realm=\"unterminated", &c), -EBADMSG);
	ASSERT_ERR(cn_oci_challenge_parse("Bearer realm=\"a\" junk", &c), -EBADMSG);
	ASSERT_ERR(cn_oci_challenge_parse("Bearer realm=\"a\x01\"", &c), -EBADMSG);
	ASSERT_ERR(cn_oci_challenge_parse("Digest realm=\"a\"", &c), -EPROTONOSUPPORT);
}

static void test_docker_config(void)
{
	const char *cfg = "{\"auths\":{\"other:1\":{\"auth\":\"eDp5\"},"
			  "\"https://127.0.0.1:5000/v1/\":{\"auth\":\"YWxpY2U6czNjcjp0\"},"
			  "\"reg.example\":{\"username\":\"u\",\"password\":\"p\"}},"
			  "\"credsStore\":\"desktop\"}";
	char *u = NULL, *p = NULL;

	ASSERT_OK(cn_oci_docker_config_parse((const uint8_t *)cfg, strlen(cfg), "127.0.0.1:5000",
					     &u, &p));
	ASSERT_STREQ(u, "alice");
	ASSERT_STREQ(p, "s3cr:t");
	free(u);
	free(p);
	ASSERT_OK(
	    cn_oci_docker_config_parse((const uint8_t *)cfg, strlen(cfg), "reg.example", &u, &p));
	ASSERT_STREQ(u, "u");
	ASSERT_STREQ(p, "p");
	free(u);
	free(p);
	ASSERT_ERR(cn_oci_docker_config_parse((const uint8_t *)cfg, strlen(cfg), "nope", &u, &p),
		   -ENOENT);
	const char *bad64 = "{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}";
	const char *nocolon = "{\"auths\":{\"h\":{\"auth\":\"eHl6\"}}}"; /* "xyz" */

	ASSERT_ERR(cn_oci_docker_config_parse((const uint8_t *)bad64, strlen(bad64), "h", &u, &p),
		   -EBADMSG);
	ASSERT_ERR(
	    cn_oci_docker_config_parse((const uint8_t *)nocolon, strlen(nocolon), "h", &u, &p),
	    -EBADMSG);
	ASSERT_ERR(cn_oci_docker_config_parse((const uint8_t *)"{", 1, "h", &u, &p), -EBADMSG);
}

static void test_token(void)
{
	char *t = NULL;

	ASSERT_OK(cn_oci_token_parse((const uint8_t *)"{\"token\":\"abc.def\"}", 19, &t));
	ASSERT_STREQ(t, "abc.def");
	free(t);
	ASSERT_OK(cn_oci_token_parse((const uint8_t *)"{\"access_token\":\"x\"}", 20, &t));
	free(t);
	ASSERT_ERR(cn_oci_token_parse((const uint8_t *)"{\"token\":\"a b\"}", 15, &t), -EBADMSG);
	ASSERT_ERR(cn_oci_token_parse((const uint8_t *)"{\"token\":1}", 11, &t), -EBADMSG);
}

/* credHelpers.<host> over credsStore; names checked; types checked. */
static void test_cred_helper_config(void)
{
	const char *cfg = "{\"auths\":{\"reg.example\":{}},\"credsStore\":\"desktop\","
			  "\"credHelpers\":{\"https://127.0.0.1:5000/v1/\":\"pass\","
			  "\"gcr.io\":\"gcloud\"}}";
	char h[CN_OCI_HELPER_NAME_MAX + 1];
	static const struct {
		const char *cfg;
		int err;
		const char *want;
	} bad[] = {
	    {"{\"credsStore\":\"../x\"}", -EBADMSG, "'credsStore' is not a credential helper name"},
	    {"{\"credsStore\":\"-x\"}", -EBADMSG, "credsStore"},
	    {"{\"credsStore\":1}", -EBADMSG, "'credsStore' is not a string"},
	    {"{\"credHelpers\":[]}", -EBADMSG, "'credHelpers' is not an object"},
	    {"{\"credHelpers\":{\"h\":\"a b\"}}", -EBADMSG, "'credHelpers' is not a credential"},
	    {"{\"credHelpers\":{\"h\":null}}", -EBADMSG, "'credHelpers' is not a string"},
	    {"[1]", -EBADMSG, "not a JSON object"},
	    {"{\"credsStore\":\"a\",\"credsStore\":\"b\"}", -EBADMSG, "invalid JSON"},
	};

	ASSERT_OK(
	    cn_oci_docker_config_helper((const uint8_t *)cfg, strlen(cfg), "127.0.0.1:5000", h));
	ASSERT_STREQ(h, "pass");
	ASSERT_OK(cn_oci_docker_config_helper((const uint8_t *)cfg, strlen(cfg), "GCR.io", h));
	ASSERT_STREQ(h, "gcloud");
	ASSERT_OK(cn_oci_docker_config_helper((const uint8_t *)cfg, strlen(cfg), "reg.example", h));
	ASSERT_STREQ(h, "desktop");
	{
		const char *empty = "{\"credsStore\":\"\"}";

		ASSERT_ERR(
		    cn_oci_docker_config_helper((const uint8_t *)empty, strlen(empty), "h", h),
		    -ENOENT);
	}
	ASSERT_ERR(cn_oci_docker_config_helper((const uint8_t *)"{}", 2, "h", h), -ENOENT);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cn_err_clear();
		ASSERT_ERR(cn_oci_docker_config_helper((const uint8_t *)bad[i].cfg,
						       strlen(bad[i].cfg), "h", h),
			   bad[i].err);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), bad[i].want));
	}
	/* every truncation fails or finds nothing; every bit flip never crashes */
	for (size_t n = 0; n < strlen(cfg); n++) {
		int r = cn_oci_docker_config_helper((const uint8_t *)cfg, n, "gcr.io", h);

		ASSERT_TRUE(r == -EBADMSG || r == -ENOENT);
	}
	for (size_t i = 0; i < strlen(cfg) * 8; i++) {
		char m[512];
		int r;

		memcpy(m, cfg, strlen(cfg));
		m[i / 8] ^= (char)(1u << (i % 8));
		r = cn_oci_docker_config_helper((const uint8_t *)m, strlen(cfg), "gcr.io", h);
		ASSERT_TRUE(r == 0 || r == -EBADMSG || r == -ENOENT);
		if (r == 0)
			ASSERT_TRUE(strlen(h) > 0 && strlen(h) <= CN_OCI_HELPER_NAME_MAX);
	}
}

/* A helper's answer: {"Username", "Secret"} strictly. */
static void test_cred_helper_answer(void)
{
	const char *ok = "{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"alice\","
			 "\"Secret\":\"s3cr:t pass\"}";
	static const struct {
		const char *json;
		int err;
		const char *want;
	} bad[] = {
	    {"{\"Username\":\"a\"}", -EBADMSG, "'Secret' is missing"},
	    {"{\"Secret\":\"a\"}", -EBADMSG, "'Username' is missing"},
	    {"{\"Username\":\"a\",\"Secret\":\"\"}", -EBADMSG, "'Secret' is empty"},
	    {"{\"Username\":1,\"Secret\":\"s\"}", -EBADMSG, "'Username' is not a string"},
	    {"{\"Username\":\"a:b\",\"Secret\":\"s\"}", -EBADMSG, "holds ':'"},
	    {"{\"Username\":\"a\",\"Secret\":\"s\\n\"}", -EBADMSG, "control byte at offset 1"},
	    {"{\"Username\":\"<token>\",\"Secret\":\"s\"}", -EOPNOTSUPP, "identity token"},
	    {"{\"Username\":\"a\",\"Secret\":\"s\",\"Secret\":\"t\"}", -EBADMSG, "invalid JSON"},
	    {"credentials not found in native keychain", -EBADMSG, "invalid JSON at offset"},
	    {"\"x\"", -EBADMSG, "invalid JSON"},
	};
	char *u = NULL, *p = NULL;

	ASSERT_OK(cn_oci_cred_helper_parse((const uint8_t *)ok, strlen(ok), &u, &p));
	ASSERT_STREQ(u, "alice");
	ASSERT_STREQ(p, "s3cr:t pass");
	free(u);
	free(p);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cn_err_clear();
		ASSERT_ERR(cn_oci_cred_helper_parse((const uint8_t *)bad[i].json,
						    strlen(bad[i].json), &u, &p),
			   bad[i].err);
		ASSERT_NOT_NULL(strstr(cn_err_msg(), bad[i].want));
	}
	for (size_t n = 0; n < strlen(ok); n++)
		ASSERT_ERR(cn_oci_cred_helper_parse((const uint8_t *)ok, n, &u, &p), -EBADMSG);
	for (size_t i = 0; i < strlen(ok) * 8; i++) {
		char m[256];
		int r;

		memcpy(m, ok, strlen(ok));
		m[i / 8] ^= (char)(1u << (i % 8));
		u = p = NULL;
		r = cn_oci_cred_helper_parse((const uint8_t *)m, strlen(ok), &u, &p);
		ASSERT_TRUE(r == 0 || r == -EBADMSG || r == -EOPNOTSUPP);
		if (r == 0) {
			ASSERT_TRUE(u && p && *u && *p && !strchr(u, ':'));
			free(u);
			free(p);
		}
	}
	{
		static char big[CN_OCI_CRED_HELPER_MAX + 2];

		memset(big, ' ', sizeof(big));
		ASSERT_ERR(cn_oci_cred_helper_parse((const uint8_t *)big, sizeof(big), &u, &p),
			   -E2BIG);
	}
}

static const struct cn_test tests[] = {
    T(ref),   T(manifest_round_trip), T(manifest_rejects),   T(challenge), T(docker_config),
    T(token), T(cred_helper_config),  T(cred_helper_answer),
};

CN_TEST_MAIN(tests)
