/* SPDX-License-Identifier: Apache-2.0 */
#include "attest/memo.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct memo_entry {
	uint8_t key[32];
	bool done; /* false: claimed, its outcome is being computed */
	size_t len;
	uint8_t val[CN_MEMO_VALUE_MAX];
};

enum { POOL_X509, POOL_OCSP_BASIC };

struct memo_object {
	uint8_t key[32]; /* SHA-256 over the type and the exact encoding */
	int type;
	void *obj; /* the memo's own reference */
};

struct cn_verify_memo {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n;
	struct memo_entry *e; /* CN_MEMO_ENTRIES_MAX, allocated lazily */
	size_t nobj;
	struct memo_object *obj; /* CN_MEMO_OBJECTS_MAX, allocated lazily */
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
	for (size_t i = 0; i < m->nobj; i++) {
		if (m->obj[i].type == POOL_X509)
			X509_free(m->obj[i].obj);
		else
			OCSP_BASICRESP_free(m->obj[i].obj);
	}
	free(m->obj);
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

/* The pooled object for key (with a new reference for a certificate), or NULL. */
static void *object_get(struct cn_verify_memo *m, int type, const uint8_t key[32])
{
	void *o = NULL;

	(void)pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nobj && !o; i++)
		if (m->obj[i].type == type && memcmp(m->obj[i].key, key, 32) == 0)
			o = m->obj[i].obj;
	if (o && type == POOL_X509 && X509_up_ref(o) != 1)
		o = NULL;
	(void)pthread_mutex_unlock(&m->mu);
	return o;
}

/*
 * Offers o, just parsed, to the pool. Returns the object to use: o, or the one another thread
 * pooled first (then o is freed). A pooled certificate gets the memo's own reference; a pooled
 * OCSP response becomes the memo's (*adopted). When the pool is full, o stays the caller's.
 */
static void *object_put(struct cn_verify_memo *m, int type, const uint8_t key[32], void *o,
			bool *adopted)
{
	void *won = NULL;

	*adopted = false;
	(void)pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nobj && !won; i++)
		if (m->obj[i].type == type && memcmp(m->obj[i].key, key, 32) == 0)
			won = m->obj[i].obj;
	if (!won && !m->obj)
		m->obj = calloc(CN_MEMO_OBJECTS_MAX, sizeof(*m->obj));
	if (!won && m->obj && m->nobj < CN_MEMO_OBJECTS_MAX &&
	    (type != POOL_X509 || X509_up_ref(o) == 1)) {
		m->obj[m->nobj++] = (struct memo_object){.type = type, .obj = o};
		memcpy(m->obj[m->nobj - 1].key, key, 32);
		*adopted = true;
	}
	if (won && type == POOL_X509 && X509_up_ref(won) != 1)
		won = NULL;
	(void)pthread_mutex_unlock(&m->mu);
	if (!won)
		return o;
	if (type == POOL_X509)
		X509_free(o);
	else
		OCSP_BASICRESP_free(o);
	*adopted = true;
	return won;
}

static bool object_key(const char *type, const uint8_t *p, size_t n, uint8_t key[32])
{
	struct cn_memo_key k;

	cn_memo_key_begin(&k, type);
	cn_memo_key_add(&k, p, n);
	return cn_memo_key_end(&k, key) == 0;
}

/* The length of the definite-length SEQUENCE at p (header included), 0 when it is not one. */
static size_t sequence_len(const uint8_t *p, size_t len)
{
	const uint8_t *q = p;
	long plen = 0;
	int tag, cls;

	if (len > LONG_MAX ||
	    ASN1_get_object(&q, &plen, &tag, &cls, (long)len) != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL)
		return 0;
	return (size_t)(q - p) + (size_t)plen;
}

X509 *cn_verify_memo_x509(struct cn_verify_memo *m, const uint8_t *der, size_t len, size_t *used)
{
	size_t n = m ? sequence_len(der, len) : 0;
	const uint8_t *q = der;
	uint8_t key[32];
	bool keyed = n > 0 && object_key("x509", der, n, key), adopted;
	X509 *x;

	if (keyed && (x = object_get(m, POOL_X509, key))) {
		*used = n;
		return x;
	}
	if (len > LONG_MAX || !(x = d2i_X509(NULL, &q, (long)len)))
		return NULL;
	*used = (size_t)(q - der);
	if (keyed && *used == n)
		x = object_put(m, POOL_X509, key, x, &adopted);
	return x;
}

OCSP_BASICRESP *cn_verify_memo_ocsp_basic(struct cn_verify_memo *m, OCSP_RESPONSE *resp,
					  bool *owned)
{
	OCSP_BASICRESP *bs = NULL;
	uint8_t *der = NULL, key[32];
	bool keyed = false, adopted = false;
	int len;

	if (m && (len = i2d_OCSP_RESPONSE(resp, &der)) > 0) {
		keyed = object_key("ocsp-basic", der, (size_t)len, key);
		OPENSSL_free(der);
		if (keyed && (bs = object_get(m, POOL_OCSP_BASIC, key))) {
			*owned = false;
			return bs;
		}
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs && keyed)
		bs = object_put(m, POOL_OCSP_BASIC, key, bs, &adopted);
	*owned = !adopted;
	return bs;
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
