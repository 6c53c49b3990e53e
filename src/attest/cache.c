/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation cache and bundle directory (see cache.h). */
#include "attest/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "attest/rim/rim.h"
#include "base/fileio.h"
#include "base/log.h"
#include "net/http.h"

#define MAGIC "cocoon-attest-cache 1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define HEADER_LEN (MAGIC_LEN + 64 + 1)

struct cn_attest_cache {
	char *dir;
	int dir_fd;
	bool writable;
};

static const char *sub(enum cn_cache_kind k)
{
	return k == CN_CACHE_RIM ? "rim" : "ocsp";
}

void cn_attest_cache_free(struct cn_attest_cache *c)
{
	if (!c)
		return;
	if (c->dir_fd >= 0)
		(void)close(c->dir_fd);
	free(c->dir);
	free(c);
}

const char *cn_attest_cache_dir(const struct cn_attest_cache *c)
{
	return c ? c->dir : "";
}

int cn_attest_cache_open(const char *dir, bool writable, struct cn_attest_cache **ret)
{
	_cleanup_(cn_attest_cache_freep) struct cn_attest_cache *c = NULL;
	int r;

	if (!dir || !dir[0])
		return cn_err_set(-EINVAL, "cache: no directory");
	c = calloc(1, sizeof(*c));
	if (!c)
		return cn_err_set(-ENOMEM, "out of memory");
	c->dir_fd = -EBADF;
	c->writable = writable;
	c->dir = strdup(dir);
	if (!c->dir)
		return cn_err_set(-ENOMEM, "out of memory");
	if (writable) {
		for (int k = 0; k < 2; k++) {
			_cleanup_free_ char *p = cn_path_join(dir, sub((enum cn_cache_kind)k));

			if (!p)
				return cn_err_set(-ENOMEM, "out of memory");
			r = cn_mkdir_p(p, 0700);
			if (r < 0)
				return cn_err_set(r, "cache: cannot create '%s': %s", p,
						  strerror(-r));
		}
	}
	c->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0)
		return cn_err_set(-errno, "cache: cannot open '%s': %s", dir, strerror(errno));
	*ret = TAKE_PTR(c);
	return 0;
}

int cn_attest_cache_ocsp_key(OCSP_CERTID *id, char key[65])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_OCSP_CERTID(id, &der);

	if (n <= 0)
		return cn_err_set(-ENOMEM, "cache: cannot encode a CertID");
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	for (int i = 0; i < 32; i++)
		(void)snprintf(key + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static bool key_ok(enum cn_cache_kind kind, const char *key)
{
	if (kind == CN_CACHE_RIM)
		return cn_rim_id_valid(key);
	if (strlen(key) != 64)
		return false;
	for (const char *p = key; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static void hex_sha256(const uint8_t *buf, size_t len, char out[65])
{
	unsigned char md[32];

	SHA256(buf, len, md);
	for (int i = 0; i < 32; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int cn_attest_cache_entry_parse(const uint8_t *buf, size_t len, const uint8_t **ret_payload,
				size_t *ret_len)
{
	char want[65];

	if (len < HEADER_LEN)
		return cn_err_set(-EBADMSG, "truncated entry (%zu bytes, header needs %zu)", len,
				  (size_t)HEADER_LEN);
	if (memcmp(buf, MAGIC, MAGIC_LEN) != 0)
		return cn_err_set(-EBADMSG, "not a cache entry (bad magic at offset 0)");
	if (buf[HEADER_LEN - 1] != '\n')
		return cn_err_set(-EBADMSG, "bad header (no newline at offset %zu)",
				  (size_t)HEADER_LEN - 1);
	hex_sha256(buf + HEADER_LEN, len - HEADER_LEN, want);
	if (memcmp(buf + MAGIC_LEN, want, 64) != 0)
		return cn_err_set(-EBADMSG, "checksum mismatch (payload of %zu bytes damaged)",
				  len - HEADER_LEN);
	*ret_payload = buf + HEADER_LEN;
	*ret_len = len - HEADER_LEN;
	return 0;
}

int cn_attest_cache_get(struct cn_attest_cache *c, enum cn_cache_kind kind, const char *key,
			uint8_t **ret, size_t *ret_len, char **ret_path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *name = NULL;
	const uint8_t *payload;
	uint8_t *out;
	size_t len, plen;
	int r;

	if (!key_ok(kind, key))
		return cn_err_set(-EINVAL, "cache: invalid key '%.80s'", key);
	if (asprintf(&name, "%s/%s.entry", sub(kind), key) < 0) {
		name = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	r = cn_read_file_at(c->dir_fd, name, CN_ATTEST_CACHE_ENTRY_MAX + HEADER_LEN, &buf, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return cn_err_set(r == -E2BIG ? -EBADMSG : r, "cache: cannot read '%s/%s': %s",
				  c->dir, name, strerror(-r));
	r = cn_attest_cache_entry_parse(buf, len, &payload, &plen);
	if (r < 0)
		return cn_net_err_wrap(r, "cache: damaged entry '%s/%s'", c->dir, name);
	out = malloc(plen + 1);
	if (!out)
		return cn_err_set(-ENOMEM, "out of memory");
	memcpy(out, payload, plen);
	out[plen] = 0;
	if (ret_path) {
		*ret_path = cn_path_join(c->dir, name);
		if (!*ret_path) {
			free(out);
			return cn_err_set(-ENOMEM, "out of memory");
		}
	}
	*ret = out;
	*ret_len = plen;
	return 0;
}

int cn_attest_cache_put(struct cn_attest_cache *c, enum cn_cache_kind kind, const char *key,
			const uint8_t *buf, size_t len)
{
	_cleanup_free_ uint8_t *entry = NULL;
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int lfd = -EBADF;
	char sum[65];
	int r;

	if (!c->writable)
		return cn_err_set(-EROFS, "cache: '%s' is read-only", c->dir);
	if (!key_ok(kind, key))
		return cn_err_set(-EINVAL, "cache: invalid key '%.80s'", key);
	if (len > CN_ATTEST_CACHE_ENTRY_MAX)
		return cn_err_set(-E2BIG, "cache: entry of %zu bytes is too large", len);
	if (asprintf(&name, "%s/%s.entry", sub(kind), key) < 0) {
		name = NULL;
		return cn_err_set(-ENOMEM, "out of memory");
	}
	entry = malloc(HEADER_LEN + len);
	if (!entry)
		return cn_err_set(-ENOMEM, "out of memory");
	hex_sha256(buf, len, sum);
	memcpy(entry, MAGIC, MAGIC_LEN);
	memcpy(entry + MAGIC_LEN, sum, 64);
	entry[HEADER_LEN - 1] = '\n';
	if (len)
		memcpy(entry + HEADER_LEN, buf, len);

	lfd = openat(c->dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0)
		return cn_err_set(-errno, "cache: cannot open '%s/.lock': %s", c->dir,
				  strerror(errno));
	while (flock(lfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return cn_err_set(-errno, "cache: cannot lock '%s': %s", c->dir,
					  strerror(errno));
	r = cn_write_file_atomic_at(c->dir_fd, name, entry, HEADER_LEN + len, 0600);
	(void)flock(lfd, LOCK_UN);
	if (r < 0)
		return cn_err_set(r, "cache: cannot write '%s/%s': %s", c->dir, name, strerror(-r));
	return 0;
}
