/* SPDX-License-Identifier: Apache-2.0 */
/* The RIM service's URL and JSON body (spec §4.2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/evidence.h"
#include "attest/live.h"
#include "attest/rim/rim.h"
#include "base/cleanup.h"
#include "base/log.h"

char *cn_live_rim_url(const char *base, const char *id)
{
	size_t n = strlen(base);
	const char *sep;
	char *url;

	while (n > 0 && base[n - 1] == '/')
		n--;
	sep = n >= 7 && strncmp(base + n - 7, "/v1/rim", 7) == 0 ? "/" : "/v1/rim/";
	if (asprintf(&url, "%.*s%s%s", (int)n, base, sep, id) < 0)
		return NULL;
	return url;
}

int cn_live_rim_json_parse(const uint8_t *buf, size_t len, const char *want_id, uint8_t **ret,
			   size_t *ret_len)
{
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_error_t jerr;
	json_t *id, *rim;
	uint8_t *xml = NULL;
	size_t xml_len = 0;
	int r;

	if (len > CN_LIVE_RIM_BODY_MAX)
		return cn_err_set(-E2BIG, "RIM service body of %zu bytes, more than %u", len,
				  CN_LIVE_RIM_BODY_MAX);
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cn_err_set(-EBADMSG, "RIM service body is not JSON (offset %d: %s)",
				  jerr.position, jerr.text);
	if (!json_is_object(root))
		return cn_err_set(-EBADMSG, "RIM service body is not a JSON object");
	id = json_object_get(root, "id");
	if (!json_is_string(id))
		return cn_err_set(-EBADMSG,
				  "RIM service body: member 'id' missing or not a string");
	if (!want_id || strlen(json_string_value(id)) != json_string_length(id) ||
	    strcmp(json_string_value(id), want_id) != 0)
		return cn_err_set(
		    -EBADMSG, "RIM service body: member 'id' is '%.*s', not the requested '%s'",
		    (int)CN_RIM_ID_MAX, json_string_value(id), want_id ? want_id : "");
	rim = json_object_get(root, "rim");
	if (!json_is_string(rim))
		return cn_err_set(-EBADMSG,
				  "RIM service body: member 'rim' missing or not a string");
	r = cn_base64_decode(json_string_value(rim), json_string_length(rim), CN_RIM_SIZE_MAX, &xml,
			     &xml_len);
	if (r < 0)
		return cn_err_set(r == -ENOMEM ? r : (r == -E2BIG ? -E2BIG : -EBADMSG),
				  "RIM service body: member 'rim': %s", cn_err_msg());
	xml[xml_len] = 0; /* cn_base64_decode() leaves room for it */
	*ret = xml;
	*ret_len = xml_len;
	return 0;
}
