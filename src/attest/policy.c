/* SPDX-License-Identifier: Apache-2.0 */
/* Relying-party policy v4.0: parse and evaluate (spec §5.5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/policy.h"
#include "base/log.h"

const char cn_policy_default_json[] =
    "{\"version\":\"4.0\",\"authorization-rules\":{\"type\":\"JWT\","
    "\"overall-claims\":{\"iss\":\"LOCAL_GPU_VERIFIER\",\"x-nvidia-overall-att-result\":true,"
    "\"x-nvidia-ver\":\"3.0\"},"
    "\"detached-claims\":{\"measres\":\"success\",\"x-nvidia-gpu-arch-check\":true,"
    "\"x-nvidia-gpu-attestation-report-parsed\":true,"
    "\"x-nvidia-gpu-attestation-report-nonce-match\":true,"
    "\"x-nvidia-gpu-attestation-report-signature-verified\":true,"
    "\"x-nvidia-gpu-attestation-report-cert-chain\":{\"x-nvidia-cert-status\":\"valid\","
    "\"x-nvidia-cert-ocsp-status\":\"good\"},"
    "\"x-nvidia-gpu-attestation-report-cert-chain-fwid-match\":true,"
    "\"x-nvidia-gpu-driver-rim-fetched\":true,\"x-nvidia-gpu-driver-rim-schema-validated\":true,"
    "\"x-nvidia-gpu-driver-rim-signature-verified\":true,"
    "\"x-nvidia-gpu-driver-rim-measurements-available\":true,"
    "\"x-nvidia-gpu-driver-rim-version-match\":true,"
    "\"x-nvidia-gpu-driver-rim-cert-chain\":{\"x-nvidia-cert-status\":\"valid\","
    "\"x-nvidia-cert-ocsp-status\":\"good\"},"
    "\"x-nvidia-gpu-vbios-rim-fetched\":true,\"x-nvidia-gpu-vbios-rim-schema-validated\":true,"
    "\"x-nvidia-gpu-vbios-rim-signature-verified\":true,"
    "\"x-nvidia-gpu-vbios-rim-measurements-available\":true,"
    "\"x-nvidia-gpu-vbios-rim-version-match\":true,"
    "\"x-nvidia-gpu-vbios-index-no-conflict\":true,"
    "\"x-nvidia-gpu-vbios-rim-cert-chain\":{\"x-nvidia-cert-status\":\"valid\","
    "\"x-nvidia-cert-ocsp-status\":\"good\"}}}}";

struct cn_policy {
	json_t *root;
	json_t *rules;	  /* authorization-rules (borrowed from root) */
	json_t *overall;  /* overall-claims */
	json_t *detached; /* detached-claims */
};

void cn_policy_free(struct cn_policy *p)
{
	if (!p)
		return;
	json_decref(p->root);
	free(p);
}

static int depth_ok(json_t *v, int depth)
{
	const char *k;
	json_t *c;
	size_t i;

	if (depth > CN_POLICY_DEPTH_MAX)
		return -1;
	if (json_is_object(v)) {
		json_object_foreach(v, k, c) if (depth_ok(c, depth + 1) < 0) return -1;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) if (depth_ok(c, depth + 1) < 0) return -1;
	}
	return 0;
}

int cn_policy_parse(const char *text, size_t len, struct cn_policy **ret)
{
	struct cn_policy *p;
	json_error_t err;
	json_t *root, *rules, *type, *version;
	const char *k;
	json_t *v;

	if (len > CN_POLICY_MAX)
		return cn_err_set(-E2BIG, "policy: %zu bytes, more than %u", len, CN_POLICY_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return cn_err_set(-EBADMSG, "policy: line %d column %d: %s", err.line, err.column,
				  err.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return cn_err_set(-EBADMSG, "policy: not a JSON object");
	}
	if (depth_ok(root, 0) < 0) {
		json_decref(root);
		return cn_err_set(-EBADMSG, "policy: nested deeper than %d", CN_POLICY_DEPTH_MAX);
	}
	version = json_object_get(root, "version");
	if (version &&
	    (!json_is_string(version) || strcmp(json_string_value(version), "4.0") != 0)) {
		json_decref(root);
		return cn_err_set(-EBADMSG, "policy: member 'version' must be \"4.0\"");
	}
	json_object_foreach(root, k, v) if (strcmp(k, "version") != 0 &&
					    strcmp(k, "authorization-rules") != 0)
	{
		int r = cn_err_set(-EBADMSG, "policy: unknown member '%s'", k);

		json_decref(root);
		return r;
	}
	rules = json_object_get(root, "authorization-rules");
	if (!json_is_object(rules)) {
		json_decref(root);
		return cn_err_set(-EBADMSG,
				  "policy: member 'authorization-rules' missing or not an object");
	}
	json_object_foreach(rules, k, v) if (strcmp(k, "type") != 0 &&
					     strcmp(k, "overall-claims") != 0 &&
					     strcmp(k, "detached-claims") != 0)
	{
		int r = cn_err_set(-EBADMSG, "policy: unknown member 'authorization-rules.%s'", k);

		json_decref(root);
		return r;
	}
	type = json_object_get(rules, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "JWT") != 0) {
		json_decref(root);
		return cn_err_set(-EBADMSG,
				  "policy: member 'authorization-rules.type' must be \"JWT\"");
	}
	if (!json_is_object(json_object_get(rules, "overall-claims")) ||
	    !json_is_object(json_object_get(rules, "detached-claims"))) {
		json_decref(root);
		return cn_err_set(
		    -EBADMSG,
		    "policy: members 'authorization-rules.overall-claims' and 'detached-claims' "
		    "must be objects");
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(root);
		return -ENOMEM;
	}
	p->root = root;
	p->rules = rules;
	p->overall = json_object_get(rules, "overall-claims");
	p->detached = json_object_get(rules, "detached-claims");
	*ret = p;
	return 0;
}

json_t *cn_policy_rules(const struct cn_policy *p)
{
	return p->rules;
}

static void add_mismatch(json_t *out, const char *token, const char *path, json_t *expected,
			 json_t *actual)
{
	json_t *m = json_pack("{s:s, s:s, s:O, s:O}", "token", token, "claim", path, "expected",
			      expected, "actual", actual ? actual : json_null());

	if (m)
		(void)json_array_append_new(out, m);
}

static bool match(json_t *token, json_t *rule, const char *tok, const char *prefix, json_t *out)
{
	const char *k;
	json_t *want;
	bool ok = true;

	json_object_foreach(rule, k, want)
	{
		char path[512];
		json_t *have = json_object_get(token, k);

		(void)snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (!have) {
			add_mismatch(out, tok, path, want, NULL);
			ok = false;
		} else if (json_is_object(want) && json_is_object(have)) {
			if (!match(have, want, tok, path, out))
				ok = false;
		} else if (!json_equal(have, want)) {
			add_mismatch(out, tok, path, want, have);
			ok = false;
		}
	}
	return ok;
}

bool cn_policy_evaluate(const struct cn_policy *p, json_t *overall, json_t *detached,
			json_t *mismatches)
{
	const char *k;
	json_t *v;
	bool ok;

	ok = match(overall, p->overall, "overall", "", mismatches);
	if (!json_is_object(detached) || json_object_size(detached) == 0) {
		json_t *want = json_string("at least one GPU");

		add_mismatch(mismatches, "detached", "", want, NULL);
		json_decref(want);
		return false;
	}
	json_object_foreach(detached, k,
			    v) if (!json_is_object(v) || !match(v, p->detached, k, "", mismatches))
	    ok = false;
	return ok;
}
