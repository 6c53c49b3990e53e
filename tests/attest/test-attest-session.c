/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation session API: in-memory evidence, typed verdicts, the three decisions, source
 * lists. Evidence: NVIDIA's nvtrust sample (from the shared folder; skipped when missing).
 */
#include <errno.h>
#include <string.h>

#include <openssl/ocsp.h>

#include "attest/rim/rim.h"
#include "attest/session.h"
#include "attest/spdm.h"
#include "base/log.h"
#include "base/parse.h"
#include "harness.h"

#define NV "nvidia-testdata/nvtrust/local_gpu_verifier/samples/"
#define NONCE "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

static struct cn_evidence_set *sample(size_t n_gpus)
{
	const char *rp = cn_test_shared_or_skip(NV "hopperAttestationReport.txt");
	char rpath[4096];
	uint8_t *text, *chain, *rep;
	size_t tl, cl, rl;
	struct cn_evidence_set *one = NULL, *set;

	(void)snprintf(rpath, sizeof(rpath), "%s", rp);
	text = cn_test_slurp(rpath, &tl);
	chain = cn_test_slurp(cn_test_shared_or_skip(NV "hopperCertChain.txt"), &cl);
	ASSERT_OK(cn_spdm_decode_file(text, tl, &rep, &rl));
	ASSERT_OK(cn_evidence_from_parts(rep, rl, chain, cl, "HOPPER", &one));
	free(text);
	free(chain);
	free(rep);
	if (n_gpus == 1)
		return one;
	/* The same GPU's evidence n times (what a replaying host would send). */
	set = calloc(1, sizeof(*set));
	ASSERT_NOT_NULL(set);
	set->gpus = calloc(n_gpus, sizeof(*set->gpus));
	ASSERT_NOT_NULL(set->gpus);
	for (size_t i = 0; i < n_gpus; i++) {
		set->gpus[i] = one->gpus[0];
		set->gpus[i].report = malloc(one->gpus[0].report_len);
		set->gpus[i].chain = malloc(one->gpus[0].chain_len);
		ASSERT_TRUE(set->gpus[i].report && set->gpus[i].chain);
		memcpy(set->gpus[i].report, one->gpus[0].report, one->gpus[0].report_len);
		memcpy(set->gpus[i].chain, one->gpus[0].chain, one->gpus[0].chain_len);
		set->n = i + 1;
	}
	cn_evidence_set_free(one);
	return set;
}

static struct cn_attest_config config(const struct cn_evidence_set *set)
{
	struct cn_attest_config cfg = {.evidence = set, .now = 1795000000};

	ASSERT_OK(cn_unhex_exact(NONCE, cfg.nonce, 32));
	return cfg;
}

static void test_typed_verdict(void)
{
	struct cn_evidence_set *set = sample(1);
	struct cn_attest_config cfg = config(set);
	struct cn_attest_verdict v = {0};
	const struct cn_attest_gpu_verdict *g;

	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	/* no OCSP, no RIMs: the evidence is authentic, but not enough for the default policy */
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_STREQ(cn_attest_decision_name(v.decision), "rejected");
	ASSERT_EQ(v.gpu, 0);
	ASSERT_STREQ(v.rule, "x-nvidia-cert-ocsp-status");
	ASSERT_TRUE(strstr(v.reason, "GPU-0: x-nvidia-cert-ocsp-status: OCSP is off") == v.reason);
	ASSERT_TRUE(v.integrity);
	ASSERT_FALSE(v.overall_result);
	ASSERT_FALSE(v.policy_matched);
	ASSERT_EQ(v.n_gpus, 1);
	g = &v.gpus[0];
	ASSERT_TRUE(g->arch_ok && g->parsed && g->integrity && !g->checks_passed);
	ASSERT_EQ(g->nonce, CN_CHECK_PASSED);
	ASSERT_EQ(g->signature, CN_CHECK_PASSED);
	ASSERT_EQ(g->fwid, CN_CHECK_PASSED);
	ASSERT_EQ(g->device_chain.status, CN_CERT_VALID);
	ASSERT_FALSE(g->device_chain.ocsp.checked);
	ASSERT_TRUE(g->ocsp_off);
	ASSERT_EQ(g->driver_rim.state, CN_ATTEST_RIM_ABSENT);
	ASSERT_EQ(g->measres, CN_CHECK_NOT_RUN);
	ASSERT_STREQ(g->ueid, "478176379286082186618948445787393647364802107249");
	ASSERT_STREQ(g->hwmodel, "GH100 A01 GSP BROM");
	ASSERT_STREQ(g->report->driver_version, "550.90.07");
	/* the document is rendered from the verdict */
	ASSERT_STREQ(json_string_value(json_object_get(v.document, "result")), "rejected");
	ASSERT_STREQ(
	    json_string_value(json_object_get(
		json_object_get(json_array_get(json_object_get(v.document, "gpus"), 0), "claims"),
		"ueid")),
	    g->ueid);
	ASSERT_NULL(v.eat);
	cn_attest_verdict_clear(&v);
	cn_evidence_set_free(set);
}

/* Versions a collector read through NVML must equal the signed report's. */
static void test_collected_versions(void)
{
	struct cn_evidence_set *set = sample(1);
	struct cn_attest_config cfg = config(set);
	struct cn_attest_verdict v = {0};

	(void)snprintf(set->gpus[0].driver_version, sizeof(set->gpus[0].driver_version),
		       "550.90.07");
	(void)snprintf(set->gpus[0].vbios_version, sizeof(set->gpus[0].vbios_version),
		       "96.00.9f.00.01");
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.gpus[0].versions, CN_CHECK_PASSED);
	cn_attest_verdict_clear(&v);
	(void)snprintf(set->gpus[0].driver_version, sizeof(set->gpus[0].driver_version),
		       "550.90.08");
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_EQ(v.gpus[0].versions, CN_CHECK_FAILED);
	ASSERT_STREQ(v.rule, "x-nvidia-gpu-driver-version");
	ASSERT_FALSE(v.gpus[0].checks_passed);
	cn_attest_verdict_clear(&v);
	cn_evidence_set_free(set);
}

static void test_same_gpu_twice(void)
{
	struct cn_evidence_set *set = sample(3);
	struct cn_attest_config cfg = config(set);
	struct cn_attest_verdict v = {0};

	cfg.want_eat = true;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_FALSE(v.integrity);
	ASSERT_EQ(v.n_gpus, 3);
	for (size_t i = 1; i < 3; i++) {
		const struct cn_attest_gpu_verdict *g = &v.gpus[i];

		ASSERT_FALSE(g->integrity);
		ASSERT_STREQ(g->failures[g->n_failures - 1].check, "ueid");
	}
	ASSERT_TRUE(v.gpus[0].integrity);
	ASSERT_NOT_NULL(v.eat);
	cn_attest_verdict_clear(&v);
	cn_evidence_set_free(set);
}

static int rim_enoent(void *u, const char *id, uint8_t **x, size_t *l)
{
	(*(int *)u)++;
	return -ENOENT;
}

static int rim_eio(void *u, const char *id, uint8_t **x, size_t *l)
{
	(*(int *)u)++;
	return cn_err_set(-EIO, "disk on fire");
}

static void test_rim_sources(void)
{
	static const struct cn_rim_source_ops none = {.get = rim_enoent}, broken = {.get = rim_eio};
	struct cn_evidence_set *set = sample(1);
	struct cn_attest_config cfg = config(set);
	struct cn_attest_verdict v = {0};
	struct cn_rim_source *srcs[2];
	int calls_none = 0, calls_broken = 0;

	ASSERT_OK(cn_rim_source_new_custom(&none, &calls_none, &srcs[0]));
	ASSERT_OK(cn_rim_source_new_custom(&broken, &calls_broken, &srcs[1]));

	/* not found anywhere: the RIM claims are false, the evidence is rejected */
	cfg.rim_sources = srcs;
	cfg.n_rim_sources = 1;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_EQ(v.gpus[0].driver_rim.state, CN_ATTEST_RIM_NOT_FETCHED);
	ASSERT_STREQ(v.gpus[0].driver_rim.id, "NV_GPU_DRIVER_GH100_550.90.07");
	cn_attest_verdict_clear(&v);

	/* the second source fails: could not check (ERROR), not rejected, not accepted */
	cfg.n_rim_sources = 2;
	calls_none = 0;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_ERROR);
	ASSERT_EQ(v.gpu, -1);
	ASSERT_NULL(v.document);
	ASSERT_TRUE(strstr(v.reason, "disk on fire") != NULL);
	/* the run asks for its driver and VBIOS RIMs at once, before the GPU's own steps */
	ASSERT_EQ(calls_none, 2);
	ASSERT_EQ(calls_broken, 2);
	cn_attest_verdict_clear(&v);

	/* a named directory after the list: a missing directory is an ERROR naming it */
	cfg.n_rim_sources = 1;
	cfg.rim_dir = "/nonexistent/rims";
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_ERROR);
	ASSERT_TRUE(strstr(v.reason, "/nonexistent/rims") != NULL);
	cn_attest_verdict_clear(&v);
	/* an empty directory after the list: asked after the list, not found, rejected */
	cfg.rim_dir = cn_test_tmpdir();
	calls_none = 0;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_EQ(v.gpus[0].driver_rim.state, CN_ATTEST_RIM_NOT_FETCHED);
	ASSERT_EQ(calls_none, 2); /* driver and VBIOS RIM */
	cn_attest_verdict_clear(&v);

	cn_rim_source_free(srcs[0]);
	cn_rim_source_free(srcs[1]);
	cn_evidence_set_free(set);
}

static int ocsp_eio(void *u, const uint8_t *req, size_t len, OCSP_CERTID *id,
		    const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	return cn_err_set(-EIO, "responder unreachable");
}

static int ocsp_enoent(void *u, const uint8_t *req, size_t len, OCSP_CERTID *id,
		       const uint8_t nonce[CN_OCSP_NONCE_LEN], OCSP_RESPONSE **ret)
{
	return -ENOENT;
}

static void test_ocsp_sources(void)
{
	struct cn_evidence_set *set = sample(1);
	struct cn_attest_config cfg = config(set);
	struct cn_attest_verdict v = {0};
	struct cn_ocsp_source srcs[2] = {{.fetch = ocsp_enoent}, {.fetch = ocsp_enoent}};

	cfg.ocsp_sources = srcs;
	cfg.n_ocsp_sources = 2;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_REJECTED);
	ASSERT_TRUE(v.gpus[0].device_chain.ocsp.checked);
	ASSERT_FALSE(v.gpus[0].device_chain.ocsp.response_valid);
	ASSERT_STREQ(v.rule, "x-nvidia-gpu-attestation-report-cert-chain");
	cn_attest_verdict_clear(&v);

	srcs[1].fetch = ocsp_eio;
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_ERROR);
	ASSERT_TRUE(strstr(v.reason, "responder unreachable") != NULL);
	cn_attest_verdict_clear(&v);
	cn_evidence_set_free(set);
}

static void test_parse_time(void)
{
	time_t t;

	ASSERT_OK(cn_attest_parse_time("2024-02-29T12:00:00Z", &t));
	ASSERT_EQ((long long)t, 1709208000LL);
	ASSERT_OK(cn_attest_parse_time("2024-01-01", &t));
	ASSERT_EQ((long long)t, 1704067200LL);
	ASSERT_ERR(cn_attest_parse_time("2024-02-31", &t), -EINVAL);
	ASSERT_ERR(cn_attest_parse_time("2023-02-29", &t), -EINVAL);
	ASSERT_ERR(cn_attest_parse_time("2024-04-31T00:00:00Z", &t), -EINVAL);
	ASSERT_ERR(cn_attest_parse_time("2024-01-01T23:59:60Z", &t), -EINVAL);
	ASSERT_ERR(cn_attest_parse_time("2024-01-01T24:00:00", &t), -EINVAL);
	ASSERT_ERR(cn_attest_parse_time("2024-1-01", &t), -EINVAL);
}

static void test_bad_config(void)
{
	struct cn_attest_config cfg = {0};
	struct cn_attest_verdict v = {0};

	ASSERT_ERR(cn_attest_session_run(&cfg, &v), -EINVAL);
	cfg.evidence_path = "x.json";
	cfg.report_path = "r.bin";
	ASSERT_ERR(cn_attest_session_run(&cfg, &v), -EINVAL);
	/* an unreadable file is an ERROR verdict naming it */
	cfg = (struct cn_attest_config){.evidence_path = "/nonexistent/evidence.json"};
	ASSERT_OK(cn_attest_session_run(&cfg, &v));
	ASSERT_EQ(v.decision, CN_ATTEST_ERROR);
	ASSERT_TRUE(strstr(v.reason, "/nonexistent/evidence.json") != NULL);
	cn_attest_verdict_clear(&v);
}

static const struct cn_test tests[] = {
    T(typed_verdict), T(collected_versions), T(same_gpu_twice), T(rim_sources),
    T(ocsp_sources),  T(parse_time),	     T(bad_config),
};
CN_TEST_MAIN(tests)
