/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Relying-party policy, version 4.0 JSON (spec §5.5): `authorization-rules` with `type` "JWT",
 * `overall-claims` matched against the overall token's claims and `detached-claims` matched
 * against every GPU's claims. Matching is subset semantics with recursion into objects and
 * type-strict equality (true != 1). An empty set of GPUs never matches.
 */
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CN_POLICY_MAX (256u * 1024)
#define CN_POLICY_DEPTH_MAX 16

struct cn_policy;

/* The default policy compiled into the binary (equivalent to the reference policy). */
extern const char cn_policy_default_json[];

/* -EBADMSG (naming the member) when the text is not a valid policy. */
int cn_policy_parse(const char *text, size_t len, struct cn_policy **ret);
void cn_policy_free(struct cn_policy *p);

/*
 * Evaluates: overall claims against overall-claims, each entry of detached (an object
 * "GPU-0" -> claims) against detached-claims. Every unmet rule is appended to mismatches as
 * {"token": "overall"|"GPU-i", "claim": "a.b", "expected": ..., "actual": ... | null (missing)}.
 * Returns true when everything matched.
 */
bool cn_policy_evaluate(const struct cn_policy *p, json_t *overall, json_t *detached,
			json_t *mismatches);

/* The rules as JSON (borrowed), for the output. */
json_t *cn_policy_rules(const struct cn_policy *p);
