/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA serialized GPU evidence (JSON, base64). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/chain.h"
#include "attest/evidence.h"
#include "attest/spdm.h"
#include "base/log.h"
#include "base/parse.h"

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int cn_base64_decode(const char *s, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *out = NULL;
	size_t n = 0, pad = 0;

	if (len % 4 != 0)
		return cn_err_set(-EBADMSG, "base64: length %zu is not a multiple of 4", len);
	if (len / 4 * 3 > max + 2)
		return cn_err_set(-E2BIG, "base64: decodes to more than %zu bytes", max);
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++) {
			bool last = i + 4 == len;

			if (s[i + j] == '=' && last && (size_t)j >= 4 - pad) {
				v[j] = 0;
				continue;
			}
			v[j] = b64val(s[i + j]);
			if (v[j] < 0)
				return cn_err_set(-EBADMSG, "base64: bad character at offset %zu",
						  i + (size_t)j);
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[n++] = (uint8_t)(w >> 16);
		out[n++] = (uint8_t)(w >> 8);
		out[n++] = (uint8_t)w;
	}
	n -= pad;
	if (n > max)
		return cn_err_set(-E2BIG, "base64: decodes to more than %zu bytes", max);
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}

void cn_evidence_set_free(struct cn_evidence_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->gpus[i].report);
		free(s->gpus[i].chain);
	}
	free(s->gpus);
	free(s);
}

static int get_string(json_t *o, size_t idx, const char *key, bool required, const char **ret,
		      size_t *ret_len)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (!required) {
			*ret = NULL;
			return 0;
		}
		return cn_err_set(-EBADMSG, "evidence: entry %zu: member '%s' missing", idx, key);
	}
	if (!json_is_string(v))
		return cn_err_set(-EBADMSG, "evidence: entry %zu: member '%s' is not a string", idx,
				  key);
	*ret = json_string_value(v);
	*ret_len = json_string_length(v);
	return 0;
}

/*
 * The `nvattest collect-evidence` wrapper: {"evidences": [...], "result_code": 0,
 * "result_message": "..."}. Unknown members are refused, as inside the entries; a failed
 * collection (result_code other than 0) is not evidence.
 */
static int check_wrapper(json_t *root)
{
	json_t *v, *rc = json_object_get(root, "result_code");
	const char *k;

	json_object_foreach(root, k, v)
	{
		if (strcmp(k, "evidences") != 0 && strcmp(k, "result_code") != 0 &&
		    strcmp(k, "result_message") != 0)
			return cn_err_set(-EBADMSG, "evidence: unknown top-level member '%s'", k);
	}
	if (rc && (!json_is_integer(rc) || json_integer_value(rc) != 0))
		return cn_err_set(
		    -EBADMSG, "evidence: member 'result_code' is not 0 (the collection failed)");
	v = json_object_get(root, "result_message");
	if (v && !json_is_string(v))
		return cn_err_set(-EBADMSG, "evidence: member 'result_message' is not a string");
	return 0;
}

int cn_evidence_parse_json(const char *text, size_t len, struct cn_evidence_set **ret)
{
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = NULL;
	json_error_t err;
	json_t *root, *arr, *e;
	size_t i;
	int r = 0;

	if (len > CN_EVIDENCE_MAX)
		return cn_err_set(-E2BIG, "evidence: %zu bytes, more than %u", len,
				  CN_EVIDENCE_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return cn_err_set(-EBADMSG, "evidence: line %d column %d: %s", err.line, err.column,
				  err.text);
	if (json_is_object(root)) {
		r = check_wrapper(root);
		if (r < 0) {
			json_decref(root);
			return r;
		}
	}
	arr = json_is_object(root) ? json_object_get(root, "evidences") : root;
	if (!json_is_array(arr)) {
		json_decref(root);
		return cn_err_set(-EBADMSG,
				  "evidence: expected a JSON array of GPU evidence objects");
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > CN_EVIDENCE_GPUS_MAX) {
		r = cn_err_set(-EBADMSG, "evidence: %zu entries (1..%u allowed)",
			       json_array_size(arr), CN_EVIDENCE_GPUS_MAX);
		json_decref(root);
		return r;
	}
	set = calloc(1, sizeof(*set));
	if (set)
		set->gpus = calloc(json_array_size(arr), sizeof(*set->gpus));
	if (!set || !set->gpus) {
		json_decref(root);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, e)
	{
		struct cn_gpu_evidence *g = &set->gpus[i];
		const char *arch = NULL, *nonce = NULL, *ev = NULL, *cert = NULL, *k;
		size_t arch_len = 0, nonce_len = 0, ev_len = 0, cert_len = 0;
		json_t *v;

		set->n = i + 1;
		if (!json_is_object(e)) {
			r = cn_err_set(-EBADMSG, "evidence: entry %zu is not an object", i);
			break;
		}
		json_object_foreach(e, k, v) if (strcmp(k, "arch") && strcmp(k, "nonce") &&
						 strcmp(k, "evidence") && strcmp(k, "certificate"))
		{
			r = cn_err_set(-EBADMSG, "evidence: entry %zu: unknown member '%s'", i, k);
			break;
		}
		if (r < 0)
			break;
		if ((r = get_string(e, i, "arch", true, &arch, &arch_len)) < 0 ||
		    (r = get_string(e, i, "nonce", false, &nonce, &nonce_len)) < 0 ||
		    (r = get_string(e, i, "evidence", true, &ev, &ev_len)) < 0 ||
		    (r = get_string(e, i, "certificate", true, &cert, &cert_len)) < 0)
			break;
		if (arch_len == 0 || arch_len >= sizeof(g->arch) || strlen(arch) != arch_len) {
			r = cn_err_set(-EBADMSG,
				       "evidence: entry %zu: member 'arch' is not a valid name", i);
			break;
		}
		memcpy(g->arch, arch, arch_len + 1);
		if (nonce) {
			if (nonce_len != 64 || cn_unhex_exact(nonce, g->nonce, 32) < 0) {
				r = cn_err_set(
				    -EBADMSG,
				    "evidence: entry %zu: member 'nonce' is not 64 hex digits", i);
				break;
			}
			g->has_nonce = true;
		}
		r = cn_base64_decode(ev, ev_len, CN_SPDM_REPORT_MAX, &g->report, &g->report_len);
		if (r < 0) {
			r = cn_err_set(r, "evidence: entry %zu: member 'evidence': %s", i,
				       cn_err_msg());
			break;
		}
		r = cn_base64_decode(cert, cert_len, CN_CHAIN_TEXT_MAX, &g->chain, &g->chain_len);
		if (r < 0) {
			r = cn_err_set(r, "evidence: entry %zu: member 'certificate': %s", i,
				       cn_err_msg());
			break;
		}
	}
	json_decref(root);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(set);
	return 0;
}

int cn_evidence_from_parts(const uint8_t *report, size_t report_len, const uint8_t *chain,
			   size_t chain_len, const char *arch, struct cn_evidence_set **ret)
{
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	set->gpus = calloc(1, sizeof(*set->gpus));
	if (!set->gpus)
		return -ENOMEM;
	set->n = 1;
	(void)snprintf(set->gpus[0].arch, sizeof(set->gpus[0].arch), "%s", arch);
	set->gpus[0].report = malloc(report_len ? report_len : 1);
	set->gpus[0].chain = malloc(chain_len ? chain_len : 1);
	if (!set->gpus[0].report || !set->gpus[0].chain)
		return -ENOMEM;
	memcpy(set->gpus[0].report, report, report_len);
	memcpy(set->gpus[0].chain, chain, chain_len);
	set->gpus[0].report_len = report_len;
	set->gpus[0].chain_len = chain_len;
	*ret = TAKE_PTR(set);
	return 0;
}
