/* SPDX-License-Identifier: Apache-2.0 */
/* The Link header parser (pagination of the tree listing) and the same-listing check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/hub-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = NULL;

	if (size > 2 * CN_HUB_LINK_MAX)
		return 0;
	if (cn_hub_link_next((const char *)data, size, &url) < 0 || !url)
		return 0;
	/* an accepted next link is a non-empty run of visible ASCII */
	if (!*url || strlen(url) > size)
		abort();
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '<' ||
		    *c == '>')
			abort();
	(void)cn_hub_next_url_check("https://huggingface.co/api/models/o/m/tree/0123?", url);
	free(url);
	return 0;
}
