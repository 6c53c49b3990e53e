/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest boot gate: NVML evidence -> local verifier -> ready state (see gate.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/evidence.h"
#include "attest/gate.h"
#include "attest/nvml.h"
#include "attest/spdm.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

/* One run's state. */
struct run {
	const struct cn_gate_config *cfg;
	struct cn_gate_result *res;
	struct cn_nvml *nvml;
	struct cn_nvml_cc_state cc;
	char driver[CN_NVML_DRIVER_VERSION_SIZE];
	struct cn_nvml_gpu *gpus;
	unsigned n_gpus;
	json_t *timings, *nvml_doc, *gpu_docs, *evidences, *ready;
	struct timespec t0, tphase;
};

static void lap(struct run *run, const char *phase)
{
	double ms = cn_attest_ms_since(&run->tphase);

	(void)json_object_set_new(run->timings, phase,
				  json_real((double)(long long)(ms * 1000) / 1000));
	(void)clock_gettime(CLOCK_MONOTONIC, &run->tphase);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char buf[2 * 64 + 1];

	if (n > 64)
		return json_null();
	for (size_t i = 0; i < n; i++)
		(void)snprintf(buf + 2 * i, 3, "%02x", p[i]);
	buf[2 * n] = 0;
	return json_string(buf);
}

static json_t *base64_json(const uint8_t *p, size_t n)
{
	_cleanup_free_ char *b = malloc(4 * ((n + 2) / 3) + 1);

	if (!b || n > INT32_MAX)
		return NULL;
	(void)EVP_EncodeBlock((unsigned char *)b, p, (int)n);
	return json_string(b);
}

/* Sets the decision unless one was already set (the first cause is the one reported). */
static __attribute__((format(printf, 3, 4))) void decide(struct run *run, enum cn_gate_decision d,
							 const char *fmt, ...)
{
	va_list ap;

	if (run->res->decision != CN_GATE_ACCEPTED)
		return;
	run->res->decision = d;
	va_start(ap, fmt);
	(void)vsnprintf(run->res->reason, sizeof(run->res->reason), fmt, ap);
	va_end(ap);
}

int cn_gate_nonce_random(uint8_t nonce[32])
{
	size_t got = 0;

	while (got < 32) {
		ssize_t k = getrandom(nonce + got, 32 - got, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return cn_err_set(k < 0 ? -errno : -EIO, "getrandom() failed");
		got += (size_t)k;
	}
	return 0;
}

int cn_gate_nonce_from_spki(const uint8_t *der, size_t len, uint8_t nonce[32])
{
	static const char label[] = CN_GATE_NONCE_LABEL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int out = 0;
	int ok;

	if (!md)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, label, sizeof(label)) == 1 && /* with its NUL: the 0x00 */
	     EVP_DigestUpdate(md, der, len) == 1 && EVP_DigestFinal_ex(md, nonce, &out) == 1 &&
	     out == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : cn_err_set(-EIO, "SHA-256 failed");
}

int cn_gate_nonce_from_key(const char *path, uint8_t nonce[32], char **ret_pem)
{
	_cleanup_free_ uint8_t *buf = NULL;
	unsigned char *der = NULL;
	EVP_PKEY *key = NULL;
	BIO *bio;
	size_t len;
	int r, dlen;

	r = cn_read_file(path, CN_GATE_KEY_MAX, &buf, &len);
	if (r < 0)
		return cn_err_set(r, "cannot read the key '%s': %s", path, strerror(-r));
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return -ENOMEM;
	/* One parser, chosen by the label: a failed attempt costs a whole decoder search. */
	if (memmem(buf, len, "-----BEGIN PUBLIC KEY-----", 26))
		key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	else
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (!key)
		return cn_err_set(-EBADMSG,
				  "'%s' holds no PEM public key or unencrypted private key", path);
	dlen = i2d_PUBKEY(key, &der);
	r = dlen > 0 ? cn_gate_nonce_from_spki(der, (size_t)dlen, nonce)
		     : cn_err_set(-EBADMSG, "'%s': cannot encode its public key", path);
	OPENSSL_free(der);
	if (r >= 0 && ret_pem) {
		BUF_MEM *mem = NULL;
		BIO *out = BIO_new(BIO_s_mem());

		r = -ENOMEM;
		if (out && PEM_write_bio_PUBKEY(out, key) == 1 && BIO_get_mem_ptr(out, &mem) == 1 &&
		    (*ret_pem = malloc(mem->length + 1))) {
			memcpy(*ret_pem, mem->data, mem->length); /* not NUL-terminated */
			(*ret_pem)[mem->length] = 0;
			r = 0;
		}
		BIO_free(out);
	}
	EVP_PKEY_free(key);
	return r;
}

/* Spec §1.4 recommendation: CC on, dev tools off, PROD, standalone (no PPCIe / multi-GPU). */
static bool precheck(struct run *run)
{
	const struct cn_nvml_cc_state *s = &run->cc;

	if (s->cc_feature != CN_NVML_CC_FEATURE_ENABLED)
		decide(run, CN_GATE_REJECTED,
		       "NVML: confidential computing is off (ccFeature=%u, required 1 = enabled)",
		       s->cc_feature);
	else if (s->devtools_mode != CN_NVML_CC_DEVTOOLS_OFF)
		decide(run, CN_GATE_REJECTED,
		       "NVML: CC dev-tools mode is on (devToolsMode=%u, required 0 = off): "
		       "the GPU is debuggable",
		       s->devtools_mode);
	else if (s->environment != CN_NVML_CC_ENV_PROD)
		decide(run, CN_GATE_REJECTED,
		       "NVML: CC environment is %s (environment=%u, required 2 = PROD)",
		       cn_nvml_env_name(s->environment), s->environment);
	else if (s->multigpu_mode != CN_NVML_CC_MULTIGPU_NONE)
		decide(run, CN_GATE_REJECTED,
		       "NVML: multi-GPU CC mode is %s (multiGpuMode=%u, required 0 = none: "
		       "protected-PCIe systems need the PPCIe verifier)",
		       cn_nvml_multigpu_name(s->multigpu_mode), s->multigpu_mode);
	return run->res->decision == CN_GATE_ACCEPTED;
}

static int nvml_error(struct run *run, int r)
{
	if (r == -ENOMEM)
		return r;
	decide(run, CN_GATE_ERROR, "%s", cn_err_msg());
	return 0;
}

/* load, init, state, count, collect. Returns < 0 only for ENOMEM; a decision otherwise. */
static int collect(struct run *run)
{
	const struct cn_gate_config *cfg = run->cfg;
	struct cn_nvml_cc_state *s = &run->cc;
	unsigned before = 2, n = 0, failed;
	int r;

	r = cn_nvml_open(cfg->nvml_lib, cfg->timeout_ms, &run->nvml);
	lap(run, "load");
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(run->nvml_doc, "library", json_string(cn_nvml_path(run->nvml)));
	r = cn_nvml_init(run->nvml);
	lap(run, "init");
	if (r < 0)
		return nvml_error(run, r);
	r = cn_nvml_cc_state(run->nvml, s);
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(
	    run->nvml_doc, "cc",
	    json_pack("{s:s,s:i,s:i,s:i,s:s,s:i}", "environment", cn_nvml_env_name(s->environment),
		      "environment_value", (json_int_t)s->environment, "cc_feature",
		      (json_int_t)s->cc_feature, "devtools_mode", (json_int_t)s->devtools_mode,
		      "multigpu_mode", cn_nvml_multigpu_name(s->multigpu_mode),
		      "multigpu_mode_value", (json_int_t)s->multigpu_mode));
	if (!precheck(run))
		return lap(run, "state"), 0;
	r = cn_nvml_ready_get(run->nvml, &before);
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(run->ready, "before", json_integer(before));
	if (before == 1)
		log_warning("the GPUs already accept work before attestation (ready state 1)");
	r = cn_nvml_driver_version(run->nvml, run->driver);
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(run->nvml_doc, "driver_version", json_string(run->driver));
	lap(run, "state");

	r = cn_nvml_gpu_count(run->nvml, &n);
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(run->nvml_doc, "gpu_count", json_integer(n));
	if (n == 0)
		return decide(run, CN_GATE_REJECTED, "NVML: no GPU visible (device count 0)"), 0;
	if (n < cfg->expect_gpus)
		return decide(run, CN_GATE_REJECTED,
			      "NVML: %u GPU%s visible, --expect-gpus requires %u", n,
			      n == 1 ? "" : "s", cfg->expect_gpus),
		       0;
	run->gpus = calloc(n, sizeof(*run->gpus));
	if (!run->gpus)
		return -ENOMEM;
	/* All GPUs at once: each answers its attestation calls itself. */
	r = cn_nvml_gpu_collect_all(run->nvml, n, cfg->nonce, run->gpus, &failed);
	if (r < 0)
		return nvml_error(run, r);
	run->n_gpus = n;
	lap(run, "collect");
	return 0;
}

/* The NVIDIA evidence entries and the verifier's input. */
static int build_evidence(struct run *run, struct cn_evidence_set *set)
{
	for (unsigned i = 0; i < run->n_gpus; i++) {
		struct cn_nvml_gpu *g = &run->gpus[i];
		const char *arch = cn_nvml_arch_name(g->arch);
		struct cn_gpu_evidence *e = &set->gpus[i];
		json_t *ev, *b64r = base64_json(g->report, g->report_len),
			    *b64c = base64_json(g->chain, g->chain_len);

		if (!b64r || !b64c) {
			json_decref(b64r);
			json_decref(b64c);
			return -ENOMEM;
		}
		(void)snprintf(e->arch, sizeof(e->arch), "%s", arch ? arch : "UNKNOWN");
		e->has_nonce = true;
		memcpy(e->nonce, run->cfg->nonce, 32);
		e->report = g->report;
		e->report_len = g->report_len;
		e->chain = g->chain;
		e->chain_len = g->chain_len;
		ev =
		    json_pack("{s:s,s:o,s:o,s:o}", "arch", e->arch, "nonce",
			      hex_json(run->cfg->nonce, 32), "evidence", b64r, "certificate", b64c);
		if (!ev || json_array_append_new(run->evidences, ev) < 0)
			return -ENOMEM;
		/* Its evidence is evidences[index]: once in the file, which is written twice. */
		(void)json_array_append_new(
		    run->gpu_docs,
		    json_pack("{s:i,s:s,s:i,s:s,s:i,s:s,s:s}", "index", (json_int_t)i, "uuid",
			      g->uuid, "board_id", (json_int_t)g->board_id, "arch", e->arch,
			      "arch_value", (json_int_t)g->arch, "vbios_version", g->vbios_version,
			      "driver_version", run->driver));
	}
	set->n = run->n_gpus;
	return 0;
}

/* NVML's architecture and versions against what the verifier read from the signed report. */
static void compare_nvml(struct run *run, const struct cn_attest_verdict *v)
{
	for (unsigned i = 0; i < run->n_gpus; i++) {
		const struct cn_nvml_gpu *g = &run->gpus[i];
		const struct cn_spdm_report *rep = v && i < v->n_gpus ? v->gpus[i].report : NULL;
		const char *arch = cn_nvml_arch_name(g->arch);

		if (!v) {
			if (g->arch != CN_NVML_ARCH_HOPPER)
				decide(
				    run, CN_GATE_REJECTED,
				    "GPU-%u: architecture: NVML reports %s (%u), only HOPPER (9) "
				    "is supported",
				    i, arch ? arch : "an unknown value", g->arch);
			continue;
		}
		if (!rep)
			continue;
		if (rep->driver_version[0] && strcmp(rep->driver_version, run->driver) != 0)
			decide(run, CN_GATE_REJECTED,
			       "GPU-%u: driver version: NVML reports '%s', the signed report '%s'",
			       i, run->driver, rep->driver_version);
		if (rep->vbios_version[0] && strcasecmp(rep->vbios_version, g->vbios_version) != 0)
			decide(run, CN_GATE_REJECTED,
			       "GPU-%u: VBIOS version: NVML reports '%s', the signed report '%s'",
			       i, g->vbios_version, rep->vbios_version);
	}
}

/* The verifier's per-GPU results into the run's GPU documents, the rest as "verifier". */
static void merge_verdict(struct run *run, json_t *doc)
{
	json_t *vgpus = json_object_get(doc, "gpus");

	for (unsigned i = 0; i < run->n_gpus; i++) {
		json_t *d = json_array_get(run->gpu_docs, i), *g = json_array_get(vgpus, i);

		(void)json_object_set(d, "checks_passed", json_object_get(g, "checks_passed"));
		(void)json_object_set(d, "claims", json_object_get(g, "claims"));
		(void)json_object_set(d, "failures", json_object_get(g, "failures"));
		(void)json_object_set(d, "timings_ms", json_object_get(g, "timings_ms"));
	}
	(void)json_object_del(doc, "gpus");
	(void)json_object_set(run->res->doc, "verifier", doc);
}

static int verify(struct run *run)
{
	const struct cn_gate_config *cfg = run->cfg;
	struct cn_evidence_set set = {0};
	struct cn_attest_config vc = *cfg->verify;
	struct cn_attest_verdict v = {0};
	int r;

	set.gpus = calloc(run->n_gpus, sizeof(*set.gpus));
	if (!set.gpus)
		return -ENOMEM;
	r = build_evidence(run, &set);
	if (r < 0)
		goto out;
	compare_nvml(run, NULL);
	vc.evidence = &set;
	vc.evidence_path = vc.report_path = vc.chain_path = NULL;
	memcpy(vc.nonce, cfg->nonce, sizeof(vc.nonce));
	cn_err_clear();
	r = cn_attest_session_run(&vc, &v);
	lap(run, "verify");
	if (r < 0)
		goto out;
	run->res->live_report = TAKE_PTR(v.live_report);
	if (v.decision == CN_ATTEST_ERROR) {
		decide(run, CN_GATE_ERROR, "verification could not complete: %s", v.reason);
		goto out;
	}
	if (v.decision != CN_ATTEST_ACCEPTED)
		decide(run, CN_GATE_REJECTED, "%s", v.reason);
	compare_nvml(run, &v);
	merge_verdict(run, v.document);
out:
	cn_attest_verdict_clear(&v);
	free(set.gpus);
	return r;
}

static int write_doc(struct run *run)
{
	const char *path = run->cfg->out_path;
	_cleanup_free_ char *dir = NULL, *text = NULL;
	const char *slash = strrchr(path, '/');
	_cleanup_close_ int dfd = -EBADF;
	int r;

	text = json_dumps(run->res->doc, JSON_INDENT(2));
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!text || !dir)
		return -ENOMEM;
	r = cn_mkdir_p(dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create '%s': %s", dir, strerror(-r));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", dir, strerror(errno));
	r = cn_write_file_atomic_at(dfd, slash ? slash + 1 : path, text, strlen(text), 0644);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static void finish_doc(struct run *run)
{
	static const char *const names[] = {[CN_GATE_ACCEPTED] = "accepted",
					    [CN_GATE_ERROR] = "error",
					    [CN_GATE_REJECTED] = "rejected"};
	json_t *doc = run->res->doc;

	(void)json_object_set_new(doc, "decision", json_string(names[run->res->decision]));
	(void)json_object_set_new(doc, "reason", json_string(run->res->reason));
	(void)json_object_set_new(
	    run->timings, "total",
	    json_real((double)(long long)(cn_attest_ms_since(&run->t0) * 1000) / 1000));
}

/* Only after acceptance: set 1, read back 1. The output file is written before (as the
 * evidence of the decision) and after (with the read-back value). */
static int set_ready(struct run *run)
{
	unsigned back = 0;
	int r;

	if (run->cfg->no_ready) {
		(void)json_object_set_new(run->ready, "skipped", json_string("--no-ready"));
		return 0;
	}
	if (run->cfg->out_path) {
		finish_doc(run);
		(void)json_object_set_new(run->ready, "state", json_string("setting"));
		r = write_doc(run);
		if (r < 0)
			return r == -ENOMEM ? r
					    : (decide(run, CN_GATE_ERROR, "%s", cn_err_msg()), 0);
	}
	run->res->ready_written = true;
	r = cn_nvml_ready_set(run->nvml, 1);
	if (r >= 0)
		r = cn_nvml_ready_get(run->nvml, &back);
	lap(run, "ready");
	if (r < 0)
		return nvml_error(run, r);
	(void)json_object_set_new(run->ready, "read_back", json_integer(back));
	if (back != 1)
		decide(
		    run, CN_GATE_ERROR,
		    "NVML: ready state reads back as %u after setting 1 (GPUs do not accept work)",
		    back);
	(void)json_object_set_new(run->ready, "state", json_string(back == 1 ? "set" : "failed"));
	return 0;
}

static int gate_body(struct run *run)
{
	const struct cn_gate_config *cfg = run->cfg;
	json_t *doc = run->res->doc;
	int r;

	if (json_object_set_new(doc, "version", json_integer(1)) < 0 ||
	    json_object_set_new(doc, "nonce", hex_json(cfg->nonce, 32)) < 0 ||
	    json_object_set_new(doc, "nonce_source",
				json_string(cfg->nonce_key_path ? "key" : "getrandom")) < 0 ||
	    json_object_set(doc, "nvml", run->nvml_doc) < 0 ||
	    json_object_set(doc, "gpus", run->gpu_docs) < 0 ||
	    json_object_set(doc, "evidences", run->evidences) < 0 ||
	    json_object_set(doc, "ready_state", run->ready) < 0 ||
	    json_object_set(doc, "timings_ms", run->timings) < 0)
		return -ENOMEM;
	if (cfg->nonce_key_path &&
	    json_object_set_new(doc, "nonce_key",
				json_pack("{s:s,s:s?}", "path", cfg->nonce_key_path, "public_key",
					  cfg->nonce_key_pem)) < 0)
		return -ENOMEM;
	r = collect(run);
	if (r < 0 || run->res->decision != CN_GATE_ACCEPTED)
		return r;
	r = verify(run);
	if (r < 0 || run->res->decision != CN_GATE_ACCEPTED)
		return r;
	return set_ready(run);
}

int cn_gate_run(const struct cn_gate_config *cfg, struct cn_gate_result *ret)
{
	struct cn_gate_result res = {.decision = CN_GATE_ACCEPTED, .doc = json_object()};
	struct run run = {
	    .cfg = cfg,
	    .res = &res,
	    .timings = json_object(),
	    .nvml_doc = json_object(),
	    .gpu_docs = json_array(),
	    .evidences = json_array(),
	    .ready = json_pack("{s:b}", "requested", !cfg->no_ready),
	};
	int r = -ENOMEM;

	(void)clock_gettime(CLOCK_MONOTONIC, &run.t0);
	run.tphase = run.t0;
	if (res.doc && run.timings && run.nvml_doc && run.gpu_docs && run.evidences && run.ready)
		r = gate_body(&run);
	if (r >= 0 && !res.ready_written && !cfg->no_ready)
		(void)json_object_set_new(run.ready, "state", json_string("not written"));
	cn_nvml_close(run.nvml);
	for (unsigned i = 0; i < run.n_gpus; i++)
		cn_nvml_gpu_clear(&run.gpus[i]);
	free(run.gpus);
	if (r >= 0) {
		finish_doc(&run);
		if (cfg->out_path) {
			int k = write_doc(&run);

			if (k == -ENOMEM)
				r = k;
			else if (k < 0) {
				decide(&run, CN_GATE_ERROR, "%s", cn_err_msg());
				finish_doc(&run);
			}
		}
	}
	json_decref(run.timings);
	json_decref(run.nvml_doc);
	json_decref(run.gpu_docs);
	json_decref(run.evidences);
	json_decref(run.ready);
	if (r < 0) {
		json_decref(res.doc);
		return r;
	}
	*ret = res;
	return 0;
}

void cn_gate_result_clear(struct cn_gate_result *r)
{
	json_decref(r->doc);
	json_decref(r->live_report);
	*r = (struct cn_gate_result){0};
}
