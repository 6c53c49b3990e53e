/* SPDX-License-Identifier: Apache-2.0 */
/* Policy semantics, evidence JSON, base64, chain splitting, OCSP requests, JWT/EAT. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <unistd.h>

#include "attest/chain.h"
#include "attest/memo.h"
#include "attest/eat.h"
#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "attest/policy.h"
#include "attest/spdm.h"
#include "attest/verify.h"
#include "base/log.h"
#include "base/parse.h"
#include "harness.h"

static struct cn_policy *policy(const char *text)
{
	struct cn_policy *p = NULL;

	ASSERT_OK(cn_policy_parse(text, strlen(text), &p));
	return p;
}

static bool eval(const char *rule, const char *token, size_t *n_mismatch)
{
	char text[2048];
	struct cn_policy *p;
	json_t *tok = json_loads(token, 0, NULL), *det = json_pack("{s:O}", "GPU-0", tok),
	       *mm = json_array();
	json_t *ov = json_object();
	bool ok;

	(void)snprintf(
	    text, sizeof(text),
	    "{\"version\":\"4.0\",\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{},"
	    "\"detached-claims\":%s}}",
	    rule);
	p = policy(text);
	ok = cn_policy_evaluate(p, ov, det, mm);
	if (n_mismatch)
		*n_mismatch = json_array_size(mm);
	cn_policy_free(p);
	json_decref(tok);
	json_decref(det);
	json_decref(mm);
	json_decref(ov);
	return ok;
}

static void test_policy_semantics(void)
{
	size_t n;

	ASSERT_TRUE(eval("{\"a\":true}", "{\"a\":true,\"b\":1}", &n)); /* extra keys ignored */
	ASSERT_FALSE(eval("{\"a\":true}", "{\"b\":true}", &n));	       /* missing key */
	ASSERT_EQ(n, 1);
	ASSERT_FALSE(eval("{\"a\":true}", "{\"a\":1}", NULL)); /* type-strict */
	ASSERT_FALSE(eval("{\"a\":1}", "{\"a\":1.0}", NULL));
	ASSERT_FALSE(eval("{\"a\":\"true\"}", "{\"a\":true}", NULL));
	ASSERT_TRUE(eval("{\"a\":null}", "{\"a\":null}", NULL));
	ASSERT_FALSE(eval("{\"a\":\"good\"}", "{\"a\":null}", NULL));
	ASSERT_TRUE(eval("{\"a\":[1,2]}", "{\"a\":[1,2]}", NULL));
	ASSERT_FALSE(eval("{\"a\":[1,2]}", "{\"a\":[2,1]}", NULL));
	ASSERT_TRUE(
	    eval("{\"o\":{\"x\":\"v\"}}", "{\"o\":{\"x\":\"v\",\"y\":2}}", NULL)); /* subset */
	ASSERT_FALSE(eval("{\"o\":{\"x\":\"v\"}}", "{\"o\":{\"x\":\"w\"}}", NULL));
	ASSERT_FALSE(eval("{\"o\":{\"x\":\"v\"}}", "{\"o\":\"v\"}", NULL)); /* object vs scalar */
	ASSERT_TRUE(eval("{\"o\":{}}", "{\"o\":{\"q\":1}}", NULL));	    /* empty rule object */
	ASSERT_TRUE(eval("{}", "{}", NULL));
	ASSERT_FALSE(eval("{\"a\":true,\"b\":true}", "{}", &n));
	ASSERT_EQ(n, 2); /* every unmet rule is reported */

	/* no GPU at all never matches */
	struct cn_policy *p = policy(cn_policy_default_json);
	json_t *mm = json_array(), *ov = json_object(), *det = json_object();
	ASSERT_FALSE(cn_policy_evaluate(p, ov, det, mm));
	json_decref(mm);
	json_decref(ov);
	json_decref(det);
	cn_policy_free(p);
}

static void test_policy_default_equals_reference(void)
{
	const char *path = cn_test_shared("reference/attest_policy.json");
	json_t *ref, *def;

	if (!path)
		return; /* shared reference absent: the default policy is still tested above */
	ref = json_load_file(path, 0, NULL);
	def = json_loads(cn_policy_default_json, 0, NULL);
	ASSERT_NOT_NULL(ref);
	ASSERT_NOT_NULL(def);
	ASSERT_TRUE(json_equal(ref, def));
	json_decref(ref);
	json_decref(def);
}

static void test_policy_parse_errors(void)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"authorization-rules\":[]}",
	    "{\"authorization-rules\":{\"type\":\"JWS\",\"overall-claims\":{},\"detached-claims\":{"
	    "}}}",
	    "{\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{}}}",
	    "{\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{},\"detached-claims\":["
	    "]}}",
	    "{\"version\":\"3.0\",\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{},"
	    "\"detached-claims\":{}}}",
	    "{\"x\":1,\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{},\"detached-"
	    "claims\":{}}}",
	    "{\"authorization-rules\":{\"type\":\"JWT\",\"type\":\"JWT\",\"overall-claims\":{},"
	    "\"detached-claims\":{}}}",
	    /* nested too deep (one string, split for width) */
	    ("{\"authorization-rules\":{\"type\":\"JWT\",\"overall-claims\":{},\"detached-claims\":"
	     "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
	     "\"a\":{\"a\":{\"a\":{}}}}}}}}}}}}}}}}}}"),
	};
	struct cn_policy *p = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		ASSERT_ERR(cn_policy_parse(bad[i], strlen(bad[i]), &p), -EBADMSG);
		ASSERT_NULL(p);
		ASSERT_TRUE(cn_err_msg()[0] != 0);
	}
}

static void test_base64(void)
{
	uint8_t *out = NULL;
	size_t n = 0;

	ASSERT_OK(cn_base64_decode("aGVsbG8=", 8, 100, &out, &n));
	ASSERT_EQ(n, 5);
	ASSERT_MEMEQ(out, "hello", 5);
	free(out);
	ASSERT_OK(cn_base64_decode("aGk+Lw==", 8, 100, &out, &n));
	ASSERT_EQ(n, 4);
	ASSERT_MEMEQ(out, "hi>/", 4);
	free(out);
	ASSERT_OK(cn_base64_decode("", 0, 100, &out, &n));
	ASSERT_EQ(n, 0);
	free(out);
	ASSERT_ERR(cn_base64_decode("aGVsbG8", 7, 100, &out, &n), -EBADMSG);
	ASSERT_ERR(cn_base64_decode("aGV=bG8=", 8, 100, &out, &n), -EBADMSG);
	ASSERT_ERR(cn_base64_decode("aGVs\nG8=", 8, 100, &out, &n), -EBADMSG);
	ASSERT_ERR(cn_base64_decode("aGVsbG8=", 8, 4, &out, &n), -E2BIG);
}

static void test_evidence_json(void)
{
	struct cn_evidence_set *s = NULL;
	const char *ok = "[{\"arch\":\"HOPPER\",\"nonce\":\""
			 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
			 "\",\"evidence\":\"EeAB\",\"certificate\":\"LS0t\"}]";
	const char *wrapped = "{\"result_code\":0,\"evidences\":[{\"arch\":\"HOPPER\",\"evidence\":"
			      "\"EeAB\",\"certificate\":\"\"}]}";
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "[1]",
	    "[{\"arch\":\"HOPPER\",\"evidence\":\"EeAB\"}]",
	    "[{\"arch\":\"HOPPER\",\"nonce\":\"00\",\"evidence\":\"EeAB\",\"certificate\":\"\"}]",
	    "[{\"arch\":\"HOPPER\",\"evidence\":\"EeA\",\"certificate\":\"\"}]",
	    "[{\"arch\":\"HOPPER\",\"evidence\":\"EeAB\",\"certificate\":\"\",\"extra\":1}]",
	    "[{\"arch\":7,\"evidence\":\"EeAB\",\"certificate\":\"\"}]",
	    ("[{\"arch\":\"HOPPER\",\"arch\":\"HOPPER\",\"evidence\":\"EeAB\",\"certificate\":\"\"}"
	     "]"),
	    "[{\"arch\":\"\",\"evidence\":\"EeAB\",\"certificate\":\"\"}]",
	    /* the wrapper: unknown members are refused as inside the entries (issue 10 #11) */
	    ("{\"evidences\":[{\"arch\":\"HOPPER\",\"evidence\":\"EeAB\",\"certificate\":\"\"}],"
	     "\"junk\":1}"),
	    ("{\"result_code\":1,\"evidences\":[{\"arch\":\"HOPPER\",\"evidence\":\"EeAB\","
	     "\"certificate\":\"\"}]}"),
	    ("{\"result_message\":2,\"evidences\":[{\"arch\":\"HOPPER\",\"evidence\":\"EeAB\","
	     "\"certificate\":\"\"}]}"),
	};

	ASSERT_OK(cn_evidence_parse_json(ok, strlen(ok), &s));
	ASSERT_EQ(s->n, 1);
	ASSERT_STREQ(s->gpus[0].arch, "HOPPER");
	ASSERT_TRUE(s->gpus[0].has_nonce);
	ASSERT_EQ(s->gpus[0].nonce[31], 0xff);
	ASSERT_EQ(s->gpus[0].report_len, 3);
	ASSERT_EQ(s->gpus[0].report[0], 0x11);
	ASSERT_EQ(s->gpus[0].chain_len, 3);
	cn_evidence_set_free(s);
	s = NULL;
	ASSERT_OK(cn_evidence_parse_json(wrapped, strlen(wrapped), &s));
	ASSERT_FALSE(s->gpus[0].has_nonce);
	cn_evidence_set_free(s);
	s = NULL;
	{
		const char *w2 =
		    "{\"result_code\":0,\"result_message\":\"Ok\",\"evidences\":[{"
		    "\"arch\":\"HOPPER\",\"evidence\":\"EeAB\",\"certificate\":\"\"}]}";

		ASSERT_OK(cn_evidence_parse_json(w2, strlen(w2), &s));
	}
	cn_evidence_set_free(s);
	s = NULL;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		ASSERT_ERR(cn_evidence_parse_json(bad[i], strlen(bad[i]), &s), -EBADMSG);
		ASSERT_NULL(s);
	}
}

static char *pki_dir(void)
{
	static char dir[4096];

	if (dir[0])
		return dir;
	(void)snprintf(dir, sizeof(dir), "%s/pki", cn_test_tmpdir());
	if (cn_test_sh("sh '%s/tests/attest/make-test-pki.sh' '%s' >/dev/null 2>&1",
		       getenv("CN_SOURCE_DIR"), dir) != 0)
		cn_test_skip("openssl could not make the test PKI");
	return dir;
}

static void test_chain_split(void)
{
	char path[4200];
	size_t len, dlen = 0;
	uint8_t *pem, *mixed, *der = NULL;
	STACK_OF(X509) *sk = NULL;
	struct cn_chain_result res;

	if (!getenv("CN_SOURCE_DIR"))
		cn_test_skip("CN_SOURCE_DIR not set");
	(void)snprintf(path, sizeof(path), "%s/chain.pem", pki_dir());
	pem = cn_test_slurp(path, &len);
	ASSERT_OK(cn_chain_split(pem, len, &sk));
	ASSERT_EQ(sk_X509_num(sk), 5);

	/* validation against the test root, at now and far in the future (expired) */
	X509 *root = NULL;
	(void)snprintf(path, sizeof(path), "%s/root.crt", pki_dir());
	ASSERT_OK(cn_cert_load_pem(path, &root));
	ASSERT_OK(cn_chain_verify(sk, root, cn_device_root_sha256, 5, time(NULL), "t", NULL, &res));
	ASSERT_TRUE(res.valid);
	ASSERT_STREQ(res.status, "valid");
	ASSERT_OK(cn_chain_verify(sk, root, cn_device_root_sha256, 5, time(NULL) + 400 * 86400, "t",
				  NULL, &res));
	ASSERT_STREQ(res.status, "expired");
	/* without the test root the pin (NVIDIA's) applies and refuses it */
	ASSERT_OK(cn_chain_verify(sk, NULL, cn_device_root_sha256, 5, time(NULL), "t", NULL, &res));
	ASSERT_STREQ(res.status, "invalid");
	ASSERT_TRUE(strstr(res.reason, "pinned") != NULL);
	/* out of order */
	X509 *a = sk_X509_value(sk, 1), *b = sk_X509_value(sk, 2);
	(void)sk_X509_set(sk, 1, b);
	(void)sk_X509_set(sk, 2, a);
	ASSERT_OK(cn_chain_verify(sk, root, cn_device_root_sha256, 5, time(NULL), "t", NULL, &res));
	ASSERT_FALSE(res.valid);
	(void)sk_X509_set(sk, 1, a);
	(void)sk_X509_set(sk, 2, b);

	uint8_t fw[48];
	ASSERT_OK(cn_cert_fwid(sk_X509_value(sk, 0), fw));
	ASSERT_EQ(fw[0], 0xf1);
	ASSERT_EQ(fw[47], 0x07);
	ASSERT_ERR(cn_cert_fwid(sk_X509_value(sk, 1), fw), -ENOENT);

	/* DER concatenation */
	for (int i = 0; i < sk_X509_num(sk); i++) {
		uint8_t *one = NULL;
		int n = i2d_X509(sk_X509_value(sk, i), &one);

		ASSERT_TRUE(n > 0);
		der = realloc(der, dlen + (size_t)n);
		memcpy(der + dlen, one, (size_t)n);
		dlen += (size_t)n;
		OPENSSL_free(one);
	}
	STACK_OF(X509) *sk2 = NULL;
	ASSERT_OK(cn_chain_split(der, dlen, &sk2));
	ASSERT_EQ(sk_X509_num(sk2), 5);
	sk_X509_pop_free(sk2, X509_free);
	sk2 = NULL;
	ASSERT_ERR(cn_chain_split(der, dlen - 1, &sk2), -EBADMSG);
	free(der);

	/* garbage between certificates, truncated PEM, nothing at all */
	mixed = malloc(len + 16);
	memcpy(mixed, pem, len);
	memcpy(mixed + len, "\r\nxx\n", 5);
	ASSERT_ERR(cn_chain_split(mixed, len + 5, &sk2), -EBADMSG);
	ASSERT_ERR(cn_chain_split(pem, len - 40, &sk2), -EBADMSG);
	ASSERT_ERR(cn_chain_split((const uint8_t *)"\n\n", 2, &sk2), -EBADMSG);
	ASSERT_NULL(sk2);
	for (size_t n = 0; n < len; n += 97) {
		if (cn_chain_split(pem, n, &sk2) >= 0) {
			sk_X509_pop_free(sk2, X509_free);
			sk2 = NULL;
		}
	}
	free(mixed);

	/* OCSP request: SHA-384 CertID and a 32-byte nonce */
	uint8_t nonce[32];
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	uint8_t *rd = NULL;
	size_t rl = 0;
	memset(nonce, 0x5a, sizeof(nonce));
	ASSERT_OK(cn_ocsp_request_build(sk_X509_value(sk, 1), sk_X509_value(sk, 2), nonce, &req,
					&id, &rd, &rl));
	const uint8_t *p = rd;
	OCSP_REQUEST *back = d2i_OCSP_REQUEST(NULL, &p, (long)rl);
	ASSERT_NOT_NULL(back);
	ASSERT_EQ(OCSP_request_onereq_count(back), 1);
	ASN1_OBJECT *md = NULL;
	ASSERT_EQ(OCSP_id_get0_info(NULL, &md, NULL, NULL,
				    OCSP_onereq_get0_id(OCSP_request_onereq_get0(back, 0))),
		  1);
	ASSERT_EQ(OBJ_obj2nid(md), NID_sha384);
	int ext = OCSP_REQUEST_get_ext_by_NID(back, NID_id_pkix_OCSP_Nonce, -1);
	ASSERT_TRUE(ext >= 0);
	ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(back, ext));
	ASSERT_EQ(ASN1_STRING_length(val), 34); /* OCTET STRING(32) inside the extension value */
	ASSERT_MEMEQ(ASN1_STRING_get0_data(val) + 2, nonce, 32);
	OCSP_REQUEST_free(back);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	free(rd);

	X509_free(root);
	sk_X509_pop_free(sk, X509_free);
	free(pem);
}

static void test_jwt_eat(void)
{
	json_t *ov =
	    json_pack("{s:s,s:b}", "iss", "LOCAL_GPU_VERIFIER", "x-nvidia-overall-att-result", 1);
	json_t *det = json_pack("{s:{s:s}}", "GPU-0", "measres", "success");
	char *eat = NULL, *jwt = NULL;

	ASSERT_OK(cn_jwt_encode(ov, NULL, &jwt));
	/* {"alg":"none","typ":"JWT"} */
	ASSERT_TRUE(strncmp(jwt, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.", 36) == 0);
	ASSERT_EQ(jwt[strlen(jwt) - 1], '.');
	ASSERT_OK(cn_eat_build(ov, det, NULL, &eat));
	json_t *e = json_loads(eat, 0, NULL);
	ASSERT_NOT_NULL(e);
	ASSERT_STREQ(json_string_value(json_array_get(json_array_get(e, 0), 0)), "JWT");
	const char *gjwt = json_string_value(json_object_get(json_array_get(e, 1), "GPU-0"));
	ASSERT_NOT_NULL(gjwt);
	ASSERT_NULL(json_object_get(ov, "submods")); /* the caller's claims are left alone */
	json_decref(e);
	free(eat);
	free(jwt);
	json_decref(ov);
	json_decref(det);
}

/* Any single bit flip in a genuine report leaves its evidence unauthenticated. */
static void test_flip_never_authentic(void)
{
	const char *rp = cn_test_shared(
	    "nvidia-testdata/nvtrust/local_gpu_verifier/samples/hopperAttestationReport.txt");
	char rpath[4096], cpath[4096];
	uint8_t *text, *chain, *rep;
	size_t tl, cl, rl;
	struct cn_attest_ctx ctx = {.now = 1795000000};
	struct cn_gpu_evidence ev = {.arch = "HOPPER"};
	struct cn_attest_gpu_verdict g;

	if (!rp)
		return;
	/* With the run's memo: what one verification remembered never authenticates a flip. */
	ASSERT_OK(cn_verify_memo_new(&ctx.memo));
	(void)snprintf(rpath, sizeof(rpath), "%s", rp);
	(void)snprintf(
	    cpath, sizeof(cpath), "%s",
	    cn_test_shared(
		"nvidia-testdata/nvtrust/local_gpu_verifier/samples/hopperCertChain.txt"));
	text = cn_test_slurp(rpath, &tl);
	chain = cn_test_slurp(cpath, &cl);
	ASSERT_OK(cn_spdm_decode_file(text, tl, &rep, &rl));
	ASSERT_OK(cn_unhex_exact("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb",
				 ctx.nonce, 32));
	ev.report = rep;
	ev.report_len = rl;
	ev.chain = chain;
	ev.chain_len = cl;
	ASSERT_OK(cn_attest_verify_gpu(&ctx, &ev, 0, &g));
	ASSERT_TRUE(g.integrity);
	cn_attest_gpu_verdict_clear(&g);
	for (size_t i = 0; i < rl; i += 11) {
		rep[i] ^= (uint8_t)(1u << (i % 8));
		ASSERT_OK(cn_attest_verify_gpu(&ctx, &ev, 0, &g));
		ASSERT_FALSE(g.integrity);
		ASSERT_FALSE(g.checks_passed);
		ASSERT_TRUE(g.n_failures > 0);
		cn_attest_gpu_verdict_clear(&g);
		rep[i] ^= (uint8_t)(1u << (i % 8));
	}
	free(rep);
	free(text);
	free(chain);
	cn_verify_memo_free(ctx.memo);
}

struct claimer {
	struct cn_verify_memo *m;
	uint8_t key[32];
	bool found;
	int val;
};

static void *claim_thread(void *p)
{
	struct claimer *c = p;

	c->found = cn_verify_memo_claim(c->m, c->key, &c->val, sizeof(c->val));
	if (!c->found) { /* claimed: compute */
		c->val = 9;
		cn_verify_memo_put(c->m, c->key, &c->val, sizeof(c->val));
	}
	return NULL;
}

/* A claim makes the others wait for its outcome; a released claim passes to a waiter. */
static void test_memo_claim(void)
{
	struct claimer c = {.key = {3}};
	pthread_t t;
	int v = 0;

	ASSERT_OK(cn_verify_memo_new(&c.m));
	ASSERT_FALSE(cn_verify_memo_claim(c.m, c.key, &v, sizeof(v))); /* ours to compute */
	ASSERT_EQ(pthread_create(&t, NULL, claim_thread, &c), 0);
	(void)usleep(50000);
	ASSERT_FALSE(cn_verify_memo_get(c.m, c.key, &v, sizeof(v))); /* still being computed */
	v = 7;
	cn_verify_memo_put(c.m, c.key, &v, sizeof(v));
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_TRUE(c.found);
	ASSERT_EQ(c.val, 7);
	/* released: the waiter claims it and computes */
	c.key[0] = 4;
	ASSERT_FALSE(cn_verify_memo_claim(c.m, c.key, &v, sizeof(v)));
	ASSERT_EQ(pthread_create(&t, NULL, claim_thread, &c), 0);
	(void)usleep(50000);
	cn_verify_memo_release(c.m, c.key);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_FALSE(c.found);
	ASSERT_TRUE(cn_verify_memo_get(c.m, c.key, &v, sizeof(v)));
	ASSERT_EQ(v, 9);
	cn_verify_memo_free(c.m);
}

/* Reads the PEM files of the test PKI, in order, into one chain. */
static STACK_OF(X509) * pki_chain(const char *names)
{
	char cmd[8192], path[4200];
	STACK_OF(X509) *sk = NULL;
	uint8_t *pem;
	size_t len;

	(void)snprintf(path, sizeof(path), "%s/memo-chain.pem", pki_dir());
	(void)snprintf(cmd, sizeof(cmd), "cd '%s' && cat %s > memo-chain.pem", pki_dir(), names);
	ASSERT_EQ(cn_test_sh("%s", cmd), 0);
	pem = cn_test_slurp(path, &len);
	ASSERT_OK(cn_chain_split(pem, len, &sk));
	free(pem);
	return sk;
}

/* The same chain with and without the memo: the same outcome, reason included. */
static void same_outcome(STACK_OF(X509) * sk, X509 *root, time_t now, struct cn_verify_memo *m,
			 bool want_valid)
{
	struct cn_chain_result plain, memo;

	ASSERT_OK(cn_chain_verify(sk, root, cn_device_root_sha256, 5, now, "t", NULL, &plain));
	ASSERT_OK(cn_chain_verify(sk, root, cn_device_root_sha256, 5, now, "t", m, &memo));
	ASSERT_EQ(plain.valid, want_valid);
	ASSERT_EQ(memo.valid, want_valid);
	ASSERT_STREQ(memo.status, plain.status);
	ASSERT_STREQ(memo.expiration, plain.expiration);
	if (!want_valid)
		ASSERT_TRUE(memo.reason[0] != 0);
}

/*
 * The run's memo: chains that share their upper part (GPUs of one machine) validate only their
 * own lower part, and that lower part is still validated in full: a leaf the BROM did not sign,
 * a leaf whose issuer is missing, a reordered chain and another clock are all judged as without
 * the memo.
 */
static void test_chain_memo(void)
{
	struct cn_verify_memo *m = NULL;
	X509 *root = NULL;
	char path[4200];
	time_t now = time(NULL);
	STACK_OF(X509) * sk;

	if (!getenv("CN_SOURCE_DIR"))
		cn_test_skip("CN_SOURCE_DIR not set");
	(void)snprintf(path, sizeof(path), "%s/root.crt", pki_dir());
	ASSERT_OK(cn_cert_load_pem(path, &root));
	ASSERT_OK(cn_verify_memo_new(&m));
	/* prime: leaf .. root validates and remembers brom .. root, ica .. root, identity .. root
	 */
	sk = pki_chain("leaf.crt brom.crt ica.crt identity.crt root.crt");
	same_outcome(sk, root, now, m, true);
	same_outcome(sk, root, now, m, true); /* the whole chain again */
	sk_X509_pop_free(sk, X509_free);
	/* another GPU: its own leaf under the same BROM */
	sk = pki_chain("leaf2.crt brom.crt ica.crt identity.crt root.crt");
	same_outcome(sk, root, now, m, true);
	sk_X509_pop_free(sk, X509_free);
	/* a "leaf" the BROM did not issue, above a remembered upper part */
	sk = pki_chain("ica.crt brom.crt ica.crt identity.crt root.crt");
	same_outcome(sk, root, now, m, false);
	sk_X509_pop_free(sk, X509_free);
	sk = pki_chain("other-root.crt brom.crt ica.crt identity.crt root.crt");
	same_outcome(sk, root, now, m, false);
	sk_X509_pop_free(sk, X509_free);
	/* reordered upper part: nothing remembered applies */
	sk = pki_chain("leaf2.crt ica.crt brom.crt identity.crt root.crt");
	same_outcome(sk, root, now, m, false);
	sk_X509_pop_free(sk, X509_free);
	/* the remembered parts were valid now, not a year later */
	sk = pki_chain("leaf2.crt brom.crt ica.crt identity.crt root.crt");
	same_outcome(sk, root, now + 400 * 86400, m, false);
	sk_X509_pop_free(sk, X509_free);
	X509_free(root);
	cn_verify_memo_free(m);

	/* the memo itself: exact lengths, first writer wins, NULL remembers nothing */
	uint8_t k1[32] = {1}, k2[32] = {2};
	int v = 7, out = 0;
	ASSERT_OK(cn_verify_memo_new(&m));
	ASSERT_FALSE(cn_verify_memo_get(m, k1, &out, sizeof(out)));
	cn_verify_memo_put(m, k1, &v, sizeof(v));
	v = 8;
	cn_verify_memo_put(m, k1, &v, sizeof(v));
	ASSERT_TRUE(cn_verify_memo_get(m, k1, &out, sizeof(out)));
	ASSERT_EQ(out, 7);
	ASSERT_FALSE(cn_verify_memo_get(m, k1, &out, sizeof(short)));
	ASSERT_FALSE(cn_verify_memo_get(m, k2, &out, sizeof(out)));
	cn_verify_memo_put(NULL, k1, &v, sizeof(v));
	ASSERT_FALSE(cn_verify_memo_get(NULL, k1, &out, sizeof(out)));
	cn_verify_memo_free(m);
	/* keys: every byte and every boundary counts */
	struct cn_memo_key k;
	cn_memo_key_begin(&k, "x");
	cn_memo_key_add(&k, "ab", 2);
	cn_memo_key_add(&k, "c", 1);
	ASSERT_OK(cn_memo_key_end(&k, k1));
	cn_memo_key_begin(&k, "x");
	cn_memo_key_add(&k, "a", 1);
	cn_memo_key_add(&k, "bc", 2);
	ASSERT_OK(cn_memo_key_end(&k, k2));
	ASSERT_TRUE(memcmp(k1, k2, 32) != 0);
}

/*
 * The run's pool of parsed objects: identical bytes share one parse, any other byte (a flip, a
 * cut) is parsed on its own and judged on its own; without a memo every split parses anew.
 */
static void test_memo_pool(void)
{
	struct cn_verify_memo *m = NULL;
	STACK_OF(X509) *a = NULL, *b = NULL, *c = NULL;
	char path[4200];
	size_t len, used = 0;
	uint8_t *pem, *der = NULL;
	int dlen;

	if (!getenv("CN_SOURCE_DIR"))
		cn_test_skip("CN_SOURCE_DIR not set");
	(void)snprintf(path, sizeof(path), "%s/chain.pem", pki_dir());
	pem = cn_test_slurp(path, &len);
	ASSERT_OK(cn_verify_memo_new(&m));
	ASSERT_OK(cn_chain_split_memo(pem, len, m, &a));
	ASSERT_OK(cn_chain_split_memo(pem, len, m, &b));
	ASSERT_OK(cn_chain_split_memo(pem, len, NULL, &c));
	ASSERT_EQ(sk_X509_num(a), 5);
	for (int i = 0; i < 5; i++) {
		ASSERT_TRUE(sk_X509_value(a, i) == sk_X509_value(b, i));
		ASSERT_TRUE(sk_X509_value(a, i) != sk_X509_value(c, i));
		ASSERT_EQ(X509_cmp(sk_X509_value(a, i), sk_X509_value(c, i)), 0);
	}
	/* DER: exact item lengths; a flipped byte is another object; a cut one does not parse */
	dlen = i2d_X509(sk_X509_value(a, 1), &der);
	ASSERT_TRUE(dlen > 0);
	X509 *x = cn_verify_memo_x509(m, der, (size_t)dlen, &used);
	ASSERT_TRUE(x == sk_X509_value(a, 1));
	ASSERT_EQ(used, (size_t)dlen);
	X509_free(x);
	der[dlen - 1] ^= 1; /* in the signature: parses, a different certificate */
	x = cn_verify_memo_x509(m, der, (size_t)dlen, &used);
	ASSERT_TRUE(x && x != sk_X509_value(a, 1));
	ASSERT_TRUE(X509_cmp(x, sk_X509_value(a, 1)) != 0);
	X509_free(x);
	der[dlen - 1] ^= 1;
	ASSERT_TRUE(cn_verify_memo_x509(m, der, (size_t)dlen - 1, &used) == NULL);
	ASSERT_TRUE(cn_verify_memo_x509(m, der, 3, &used) == NULL);
	OPENSSL_free(der);
	sk_X509_pop_free(a, X509_free);
	sk_X509_pop_free(b, X509_free);
	sk_X509_pop_free(c, X509_free);
	cn_verify_memo_free(m); /* drops the pool's references: ASan finds any imbalance */
	free(pem);
}

static const struct cn_test tests[] = {
    T(policy_semantics),
    T(policy_default_equals_reference),
    T(policy_parse_errors),
    T(base64),
    T(evidence_json),
    T(chain_split),
    T(chain_memo),
    T(memo_claim),
    T(memo_pool),
    T(jwt_eat),
    T(flip_never_authentic),
};
CN_TEST_MAIN(tests)
