/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * src/oci: an OCI distribution client (registry API v2 over libcurl, https only) that moves model
 * images (tar + dm-verity tree + per-file manifest) between the local image store and a
 * registry. The registry is never trusted for content: every blob is checked against its sha256
 * digest while it streams, the tar against its verity tree and the caller's expected root hash
 * before anything is published.
 * All int-returning functions: 0 or a negative errno with one line in cn_err_msg().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Media types of the model artifact (OCI image spec 1.1 artifact conventions). */
#define CN_OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CN_OCI_MT_ARTIFACT "application/vnd.cocoon.model.image.v1"
#define CN_OCI_MT_CONFIG "application/vnd.cocoon.model.config.v1+json"
#define CN_OCI_MT_TAR "application/vnd.cocoon.model.tar.v1"
#define CN_OCI_MT_VERITY "application/vnd.cocoon.model.verity.v1"
#define CN_OCI_ANN_SPEC "dev.cocoon.model.spec" /* "name@commit:roothash" */
#define CN_OCI_ANN_TITLE "org.opencontainers.image.title"

#define CN_OCI_MANIFEST_MAX (64u * 1024)      /* our manifests are < 2 KiB */
#define CN_OCI_REF_MAX 512u		      /* whole reference string */
#define CN_OCI_REPO_MAX 255u		      /* distribution-spec limit on the name */
#define CN_OCI_TAG_MAX 128u		      /* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
#define CN_OCI_HOST_MAX 253u		      /* host[:port] */
#define CN_OCI_DOCKER_CONFIG_MAX (1u << 20)   /* config.json */
#define CN_OCI_TOKEN_RESPONSE_MAX (64u << 10) /* token endpoint JSON */

/* ---- references: "host[:port]/repo[/more][:tag][@sha256:<64 hex>]" ---- */
struct cn_oci_ref {
	char host[CN_OCI_HOST_MAX + 1]; /* host[:port], always explicit */
	char repo[CN_OCI_REPO_MAX + 1]; /* lower-case path components */
	char tag[CN_OCI_TAG_MAX + 1];	/* "" when absent */
	char digest[7 + 64 + 1];	/* "sha256:<hex>" or "" */
};
/*
 * Strict: the registry host is required (it contains '.' or ':' or is "localhost"), the repo
 * follows the distribution grammar, at least one of tag and digest. -EINVAL naming the part and
 * the offset.
 */
int cn_oci_ref_parse(const char *s, struct cn_oci_ref *ret);
/* The reference a build pushes to / pulls from for name@commit under a prefix
 * "host[:port]/path": "<prefix>/<lower-cased name>:<commit>". -EINVAL when it does not fit. */
int cn_oci_ref_for_model(const char *prefix, const char *name, const char *commit,
			 struct cn_oci_ref *ret);
/* A registry prefix "host[:port][/path]" (the fleet convention): 0 or -EINVAL naming what is
 * wrong. */
int cn_oci_prefix_check(const char *prefix);
/* "host/repo:tag" or "host/repo@digest" into buf. */
void cn_oci_ref_format(const struct cn_oci_ref *r, char *buf, size_t size);

/* ---- the manifest of a model artifact ---- */
struct cn_oci_desc {
	char digest[7 + 64 + 1];
	uint64_t size;
};
struct cn_oci_model_manifest {
	struct cn_oci_desc config, tar, verity;
	char name[256 + 1];
	char commit[64 + 1];
	char root_hash[65];
};
/* Serializes (compact JSON, fixed key order). NULL on OOM. */
char *cn_oci_manifest_build(const struct cn_oci_model_manifest *m);
/*
 * Parses an untrusted manifest strictly: schemaVersion 2, our media and artifact types, a config
 * of our type, exactly two layers (tar then verity), sha256 digests, sizes within caps, the tar a
 * multiple of 4096, the spec annotation a full name@commit:roothash. Unknown keys are ignored
 * (OCI rule). -EBADMSG/-E2BIG naming the field.
 */
int cn_oci_manifest_parse(const uint8_t *buf, size_t len, struct cn_oci_model_manifest *ret);

/* ---- auth ---- */
/* WWW-Authenticate: scheme and the realm/service/scope parameters (quoted strings). */
struct cn_oci_challenge {
	bool bearer; /* else basic */
	char realm[1024];
	char service[256];
	char scope[512];
};
int cn_oci_challenge_parse(const char *v, struct cn_oci_challenge *ret);
/*
 * Credentials for host from a Docker config.json (auths.<host>.auth = base64(user:pass), or
 * username/password). -ENOENT when there is none for host.
 */
int cn_oci_docker_config_parse(const uint8_t *buf, size_t len, const char *host, char **ret_user,
			       char **ret_pass);
/*
 * Docker credential helpers (credhelper.c). The helper config.json names for host:
 * credHelpers.<host> (keys normalized as auths keys), else credsStore; -ENOENT when none.
 */
#define CN_OCI_HELPER_NAME_MAX 64u
#define CN_OCI_CRED_HELPER_MAX (64u << 10) /* bytes of a helper's answer */
int cn_oci_docker_config_helper(const uint8_t *buf, size_t len, const char *host,
				char ret[CN_OCI_HELPER_NAME_MAX + 1]);
/* A helper's answer {"Username": U, "Secret": S}: strict; "<token>" users (identity tokens)
 * -EOPNOTSUPP. */
int cn_oci_cred_helper_parse(const uint8_t *buf, size_t len, char **ret_user, char **ret_pass);
/*
 * Runs docker-credential-NAME (found in path_list, ':'-separated, e.g. $PATH) with "get" and host
 * on stdin, within 30 s. -ENOENT when the helper has no credentials for host.
 */
int cn_oci_cred_helper_get(const char *name, const char *host, const char *path_list,
			   char **ret_user, char **ret_pass);
/* Token endpoint response: {"token": ...} or {"access_token": ...}. */
int cn_oci_token_parse(const uint8_t *buf, size_t len, char **ret_token);

/* ---- the client ---- */
struct cn_oci_opts {
	const char *ca_bundle; /* NULL: $REQUESTS_CA_BUNDLE, else $CURL_CA_BUNDLE, else system */
	const char
	    *docker_config;	/* NULL: $DOCKER_CONFIG/config.json, else ~/.docker/config.json */
	uint64_t chunk_size;	/* push: 0 = monolithic PUT; else PATCH chunks of this size */
	uint64_t max_rate;	/* bytes/s per transfer, 0 = unlimited */
	const char *mount_from; /* push: repository to mount existing blobs from */
	bool progress;
	void (*notify)(void *userdata, const char *msg);
	void *userdata;
};

struct cn_oci_push_result {
	char manifest_digest[7 + 64 + 1];
	unsigned blobs_uploaded, blobs_present, blobs_mounted;
	uint64_t bytes_uploaded;
};
/* Pushes images_dir's image of name@commit (expected_root optional) to ref (tag required). */
int cn_oci_push(const struct cn_oci_opts *o, const char *images_dir, const char *name,
		const char *commit, const char *expected_root, const struct cn_oci_ref *ref,
		struct cn_oci_push_result *ret);

struct cn_oci_pull_result {
	char name[256 + 1];
	char commit[64 + 1];
	char root_hash[65];
	char *tar_path; /* owned */
	uint64_t bytes_downloaded, bytes_resumed;
	bool cached; /* the store already had it: nothing downloaded */
};
/*
 * Pulls ref into images_dir. The expected root hash is required unless ref carries a digest
 * (then the manifest digest pins everything); expected_name/commit optional. Nothing is
 * published unless every digest and the verity root check out. -EKEYREJECTED for content that
 * fails a check (the blob named), -ENOENT for a missing tag, -EACCES for auth failures.
 */
int cn_oci_pull(const struct cn_oci_opts *o, const char *images_dir, const struct cn_oci_ref *ref,
		const char *expected_root, const char *expected_name, const char *expected_commit,
		struct cn_oci_pull_result *ret);
void cn_oci_pull_result_done(struct cn_oci_pull_result *r);

/* ---- the fleet convention (build-model --registry, launch) ---- */
/* The registry prefix: opt when set, else $COCOON_REGISTRY, else NULL. */
const char *cn_oci_registry_prefix(const char *opt);
/*
 * Pulls name@commit:root_hash from "<prefix>/<lower-cased name>:<commit>" into images_dir
 * (ret_ref gets the reference tried). -ENODATA without commit or root hash; else cn_oci_pull().
 */
int cn_oci_pull_spec(const struct cn_oci_opts *o, const char *prefix, const char *images_dir,
		     const char *name, const char *commit, const char *root_hash, char *ret_ref,
		     size_t ref_size);
/* Pushes the stored name@commit to "<prefix>/<lower-cased name>:<commit>". */
int cn_oci_push_spec(const struct cn_oci_opts *o, const char *prefix, const char *images_dir,
		     const char *name, const char *commit, const char *root_hash, char *ret_ref,
		     size_t ref_size, struct cn_oci_push_result *ret);
