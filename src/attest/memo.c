/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/memo.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct memo_entry {
	uint8_t key[32];
	bool done; /* false: claimed, its outcome is being computed */
	size_t len;
	uint8_t val[CN_MEMO_VALUE_MAX];
};

struct cn_verify_memo {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n;
	struct memo_entry *e; /* CN_MEMO_ENTRIES_MAX, allocated lazily */
};

int cn_verify_memo_new(struct cn_verify_memo **ret)
{
	struct cn_verify_memo *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	(void)pthread_mutex_init(&m->mu, NULL);
	(void)pthread_cond_init(&m->cv, NULL);
	*ret = m;
	return 0;
}

void cn_verify_memo_free(struct cn_verify_memo *m)
{
	if (!m)
		return;
	(void)pthread_cond_destroy(&m->cv);
	(void)pthread_mutex_destroy(&m->mu);
	free(m->e);
	free(m);
}

static struct memo_entry *find(struct cn_verify_memo *m, const uint8_t key[32])
{
	for (size_t i = 0; i < m->n; i++)
		if (memcmp(m->e[i].key, key, 32) == 0)
			return &m->e[i];
	return NULL;
}

bool cn_verify_memo_get(struct cn_verify_memo *m, const uint8_t key[32], void *val, size_t len)
{
	const struct memo_entry *e;
	bool found = false;

	if (!m || len > CN_MEMO_VALUE_MAX)
		return false;
	(void)pthread_mutex_lock(&m->mu);
	e = find(m, key);
	if (e && e->done && e->len == len) {
		memcpy(val, e->val, len);
		found = true;
	}
	(void)pthread_mutex_unlock(&m->mu);
	return found;
}

/* A new entry for key (with the lock held); NULL when the memo is full. */
static struct memo_entry *add(struct cn_verify_memo *m, const uint8_t key[32])
{
	struct memo_entry *e;

	if (!m->e)
		m->e = calloc(CN_MEMO_ENTRIES_MAX, sizeof(*m->e));
	if (!m->e || m->n >= CN_MEMO_ENTRIES_MAX)
		return NULL;
	e = &m->e[m->n++];
	memcpy(e->key, key, 32);
	e->done = false;
	e->len = 0;
	return e;
}

bool cn_verify_memo_claim(struct cn_verify_memo *m, const uint8_t key[32], void *val, size_t len)
{
	const struct memo_entry *e;
	bool found = false;

	if (!m || len > CN_MEMO_VALUE_MAX)
		return false;
	(void)pthread_mutex_lock(&m->mu);
	while ((e = find(m, key)) && !e->done)
		(void)pthread_cond_wait(&m->cv, &m->mu);
	if (!e)
		(void)add(m, key); /* claimed (or not remembered: full) */
	else if (e->len == len) {
		memcpy(val, e->val, len);
		found = true;
	}
	(void)pthread_mutex_unlock(&m->mu);
	return found;
}

void cn_verify_memo_put(struct cn_verify_memo *m, const uint8_t key[32], const void *val,
			size_t len)
{
	struct memo_entry *e;

	if (!m || len > CN_MEMO_VALUE_MAX)
		return;
	(void)pthread_mutex_lock(&m->mu);
	e = find(m, key);
	if (!e)
		e = add(m, key);
	if (e && !e->done) {
		e->len = len;
		memcpy(e->val, val, len);
		e->done = true;
	}
	(void)pthread_cond_broadcast(&m->cv);
	(void)pthread_mutex_unlock(&m->mu);
}

void cn_verify_memo_release(struct cn_verify_memo *m, const uint8_t key[32])
{
	struct memo_entry *e;

	if (!m)
		return;
	(void)pthread_mutex_lock(&m->mu);
	e = find(m, key);
	if (e && !e->done)
		*e = m->e[--m->n]; /* the waiters look again, and one of them claims it */
	(void)pthread_cond_broadcast(&m->cv);
	(void)pthread_mutex_unlock(&m->mu);
}

/* SHA-256, fetched once: an implicit fetch per key would cost a store lookup each time. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

void cn_memo_key_begin(struct cn_memo_key *k, const char *kind)
{
	(void)pthread_once(&sha256_once, sha256_fetch);
	*k = (struct cn_memo_key){.md = EVP_MD_CTX_new()};
	if (!sha256 || !k->md || EVP_DigestInit_ex2(k->md, sha256, NULL) != 1)
		k->failed = true;
	cn_memo_key_add(k, kind, strlen(kind));
}

void cn_memo_key_add(struct cn_memo_key *k, const void *p, size_t n)
{
	uint8_t len[8];

	if (k->failed)
		return;
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)n >> (8 * i));
	if (EVP_DigestUpdate(k->md, len, sizeof(len)) != 1 ||
	    (n && EVP_DigestUpdate(k->md, p, n) != 1))
		k->failed = true;
}

void cn_memo_key_add_u64(struct cn_memo_key *k, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	cn_memo_key_add(k, b, sizeof(b));
}

void cn_memo_key_add_cert(struct cn_memo_key *k, X509 *x)
{
	uint8_t *der = NULL;
	int len;

	if (!x) {
		cn_memo_key_add(k, "", 0);
		return;
	}
	len = i2d_X509(x, &der); /* the encoding the certificate was parsed from */
	if (len <= 0) {
		k->failed = true;
		return;
	}
	cn_memo_key_add(k, der, (size_t)len);
	OPENSSL_free(der);
}

int cn_memo_key_end(struct cn_memo_key *k, uint8_t out[32])
{
	unsigned ol = 0;
	int r = 0;

	if (k->failed || EVP_DigestFinal_ex(k->md, out, &ol) != 1 || ol != 32)
		r = -ENOMEM;
	EVP_MD_CTX_free(k->md);
	*k = (struct cn_memo_key){.failed = true};
	return r;
}
