/* SPDX-License-Identifier: Apache-2.0 */
/* Writing the OCSP requests of a chain (`cocoon attest ocsp-request`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/chain.h"
#include "attest/evidence.h"
#include "attest/ocsp.h"
#include "attest/requests.h"
#include "attest/rim/rim.h"
#include "base/fileio.h"
#include "base/log.h"

static int read_input(const char *what, const char *path, size_t max, uint8_t **ret,
		      size_t *ret_len)
{
	int r = cn_read_file(path, max, ret, ret_len);

	if (r < 0)
		return cn_err_set(r, "cannot read %s '%s': %s", what, path, cn_strerror(r));
	return 0;
}

/* The certificates embedded in a RIM's signature (no verification: this only asks). */
static int rim_chain(const char *path, STACK_OF(X509) * *ret)
{
	struct cn_rim_verify_opts vo = {.time = time(NULL)};
	_cleanup_free_ uint8_t *buf = NULL;
	struct cn_rim *rim = NULL;
	STACK_OF(X509) * emb, *chain;
	size_t len;
	int r;

	r = read_input("RIM", path, CN_RIM_SIZE_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = cn_rim_load(buf, len, &vo, &rim);
	if (r < 0)
		return cn_err_set(r, "RIM '%s': %s", path, cn_err_msg());
	emb = cn_rim_get_embedded_certs(rim);
	chain = sk_X509_new_null();
	for (int i = 0; chain && emb && r >= 0 && i < sk_X509_num(emb); i++) {
		X509 *x = sk_X509_value(emb, i);

		if (X509_up_ref(x) != 1) {
			r = -ENOMEM;
		} else if (!sk_X509_push(chain, x)) {
			X509_free(x);
			r = -ENOMEM;
		}
	}
	cn_rim_free(rim);
	if (!chain || r < 0) {
		if (chain)
			sk_X509_pop_free(chain, X509_free);
		return cn_err_set(-ENOMEM, "out of memory");
	}
	*ret = chain;
	return 0;
}

static int load_chain(const struct cn_ocsp_requests_config *cfg, STACK_OF(X509) * *ret)
{
	_cleanup_(cn_evidence_set_freep) struct cn_evidence_set *set = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (cfg->rim_path)
		return rim_chain(cfg->rim_path, ret);
	if (cfg->evidence_path) {
		r = read_input("evidence", cfg->evidence_path, CN_EVIDENCE_MAX, &buf, &len);
		if (r < 0)
			return r;
		r = cn_evidence_parse_json((const char *)buf, len, &set);
		if (r < 0)
			return cn_err_set(r, "invalid evidence '%s': %s", cfg->evidence_path,
					  cn_err_msg());
		if (cfg->gpu >= set->n)
			return cn_err_set(-EDOM, "--gpu %u: the evidence has %zu GPUs", cfg->gpu,
					  set->n);
		return cn_chain_split(set->gpus[cfg->gpu].chain, set->gpus[cfg->gpu].chain_len,
				      ret);
	}
	r = read_input("certificate chain", cfg->chain_path, CN_CHAIN_TEXT_MAX, &buf, &len);
	if (r < 0)
		return r;
	return cn_chain_split(buf, len, ret);
}

int cn_attest_ocsp_requests(const struct cn_ocsp_requests_config *cfg)
{
	_cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
	_cleanup_close_ int dfd = -EBADF;
	const char *kind = cfg->rim_chain ? "rim" : "device";
	int first = cfg->rim_chain ? 0 : 1, r;

	if (!!cfg->chain_path + !!cfg->evidence_path + !!cfg->rim_path != 1 || !cfg->out_dir)
		return cn_err_set(-EINVAL, "give one chain and an output directory");
	r = load_chain(cfg, &chain);
	if (r < 0)
		return r;
	if (sk_X509_num(chain) - 2 < first)
		return cn_err_set(-EINVAL, "the chain has %d certificates: nothing to check",
				  sk_X509_num(chain));
	r = cn_mkdir_p(cfg->out_dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create '%s': %s", cfg->out_dir, cn_strerror(r));
	dfd = open(cfg->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", cfg->out_dir, strerror(errno));
	for (int i = first; i <= sk_X509_num(chain) - 2; i++) {
		_cleanup_free_ uint8_t *der = NULL;
		_cleanup_free_ char *cn = NULL, *path = NULL;
		size_t dlen = 0;
		char name[64];

		r = cn_ocsp_request_build(sk_X509_value(chain, i), sk_X509_value(chain, i + 1),
					  cfg->nonce, NULL, NULL, &der, &dlen);
		if (r < 0)
			return cn_err_set(r, "cannot build the OCSP request: %s", cn_err_msg());
		(void)snprintf(name, sizeof(name), "%s-%d.req", kind, i);
		r = cn_write_file_atomic_at(dfd, name, der, dlen, 0644);
		if (r < 0)
			return cn_err_set(r, "cannot write '%s/%s': %s", cfg->out_dir, name,
					  cn_strerror(r));
		(void)cn_cert_subject_cn(sk_X509_value(chain, i), &cn);
		if (asprintf(&path, "%s/%s", cfg->out_dir, name) < 0)
			return cn_err_set(-ENOMEM, "out of memory");
		if (cfg->written)
			cfg->written(cfg->userdata, path, i, cn ? cn : "?");
	}
	return 0;
}
