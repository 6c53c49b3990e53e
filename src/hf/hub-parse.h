/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Parsers for what the hub sends (untrusted): repository ids, repository paths, the Link header
 * of paginated listings and the tree listing JSON. Pure functions (no I/O), each fuzzed
 * (fuzz/net/). All return 0 or a negative errno with a message in cn_err_msg(); outputs are
 * written only on success.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_HUB_REPO_PART_MAX 96u /* namespace and name, as the hub enforces */
#define CN_HUB_REVISION_MAX 255u
#define CN_HUB_PATH_MAX 1024u		  /* whole repository path, bytes */
#define CN_HUB_NAME_MAX 255u		  /* one path component (NAME_MAX) */
#define CN_HUB_DEPTH_MAX 64u		  /* path components */
#define CN_HUB_FILES_MAX 100000u	  /* files in one snapshot */
#define CN_HUB_FILE_SIZE_MAX (1ull << 40) /* 1 TiB per file */
#define CN_HUB_LINK_MAX 4096u		  /* a Link header value */

/* "name" or "namespace/name": [A-Za-z0-9._-], no "--" or "..", no leading/trailing '-' or '.'. */
int cn_hub_repo_id_check(const char *id);

/* A branch, tag or commit: 1..255 bytes, printable ASCII, no "..", no leading '-' or '/'. */
int cn_hub_revision_check(const char *rev);

/*
 * A repository path (len bytes, not NUL-terminated): relative, '/'-separated, no empty, "." or
 * ".." component, no reserved name (".git" in any case), no backslash, NUL or other control
 * byte, no trailing '/', at most
 * CN_HUB_PATH_MAX bytes, CN_HUB_NAME_MAX per component and CN_HUB_DEPTH_MAX components.
 * -EBADMSG naming the rule.
 */
int cn_hub_path_check(const char *p, size_t len);

/*
 * Finds the rel="next" target in a Link header value (RFC 8288 syntax, parsed strictly:
 * `<uri>` followed by `; name=token|"quoted"` parameters, link-values separated by ',').
 * *ret_url = NULL (and 0) when no link has rel "next"; -EBADMSG on malformed syntax or on more
 * than one next link.
 */
int cn_hub_link_next(const char *v, size_t len, char **ret_url);

/*
 * The next page must stay on the listing it continues: url must start with prefix (the
 * endpoint and the listing path up to and including its last '/'), and contain no whitespace,
 * control bytes, backslash or '#'. -EBADMSG otherwise.
 */
int cn_hub_next_url_check(const char *prefix, const char *url);

struct cn_hub_file {
	char *path; /* owned, validated */
	uint64_t size;
	bool lfs;	    /* digest is SHA-256 of the content; else git blob SHA-1 */
	uint8_t digest[32]; /* 32 (lfs) or 20 bytes used */
};

struct cn_hub_tree {
	struct cn_hub_file *files; /* owned; sorted by path once finished */
	size_t n, cap;
	uint64_t total_size;
	size_t skipped; /* entries under the top-level ".cache/" (see below) */
};

static inline size_t cn_hub_digest_len(const struct cn_hub_file *f)
{
	return f->lfs ? 32 : 20;
}

/*
 * Parses one page of GET /api/models/{repo}/tree/{commit}?recursive=true (a JSON array of
 * {"type":"file"|"directory","path","size","oid","lfs":{"oid","size"}}) and appends its files
 * to t. Every path is checked with cn_hub_path_check(); "oid" must be 40 lower-case hex, "lfs.oid"
 * 64, "lfs.size" equal to "size". Files under a top-level ".cache/" are counted in t->skipped and
 * not listed: the reference deletes that folder after downloading. Either the whole page is
 * appended or t is unchanged. Caps: CN_HUB_FILES_MAX files in t, CN_HUB_FILE_SIZE_MAX per file.
 */
int cn_hub_tree_parse_page(const uint8_t *buf, size_t len, struct cn_hub_tree *t);

/*
 * Sorts t by path and rejects duplicates and a file that is also a directory ("a" and "a/b").
 * -EBADMSG naming the path.
 */
int cn_hub_tree_finish(struct cn_hub_tree *t);

/* Binary search in a finished tree. */
const struct cn_hub_file *cn_hub_tree_find(const struct cn_hub_tree *t, const char *path);

void cn_hub_tree_done(struct cn_hub_tree *t);
