/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Model images: the public contract of src/model used by the CLI, the hub client (src/net) and
 * the launcher (src/launch). Implemented in src/model/ (issue: model images).
 * All int-returning functions: 0 on success or a negative errno, details in cn_err_msg().
 * ret_* outputs are written only on success; the caller owns them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cn_tar_format {
	CN_TAR_GNU_1_35 = 0, /* default: devmajor/devminor 8×NUL in non-device headers */
	CN_TAR_GNU_1_34,     /* "0000000\0" */
};

/* "<name>[@<commit>[:<roothash>]]" (reference grammar). */
struct cn_model_spec {
	char *name;	 /* owned, e.g. "Qwen/Qwen3-8B" */
	char *commit;	 /* owned or NULL */
	char *root_hash; /* owned or NULL (64 lower-case hex when present) */
};

/* -EINVAL with a message naming the bad part. */
int cn_model_spec_parse(const char *s, struct cn_model_spec *ret);
void cn_model_spec_done(struct cn_model_spec *s);

/* The reference's file name: every byte that is not ASCII alnum becomes '_'. NULL on OOM. */
char *cn_model_path_name(const char *name);

struct cn_model_build_opts {
	const char *name;	   /* required */
	const char *commit;	   /* required (40 hex for hub models; any safe string otherwise) */
	const char *expected_root; /* optional: 64 hex; mismatch → -EKEYREJECTED (see below) */
	const char *source_dir;	   /* snapshot folder; NULL with cache_only */
	const char *images_dir;	   /* output folder (created if missing) */
	enum cn_tar_format tar_format;
	bool hf_cache_snapshot; /* source_dir is an HF cache snapshot: dereference symlinks into
				   blobs/ */
	bool progress;		/* progress bar on stderr when it is a TTY */
	bool cache_only;	/* never build: return the cached image or -ENOENT */
	/* Added by the model area (at the end): notes for stderr, e.g. "waiting for the lock". */
	void (*notify)(void *userdata, const char *msg);
	void *userdata;
};

struct cn_model_image {
	char *name;	     /* owned */
	char *commit;	     /* owned */
	char root_hash[65];  /* 64 lower-case hex + NUL */
	char *tar_path;	     /* owned, absolute */
	char *verity_path;   /* owned, absolute */
	char *hash_path;     /* owned, absolute */
	char *manifest_path; /* owned, absolute */
	uint64_t tar_size;   /* padded tar size in bytes */
	bool cached;	     /* nothing had to be built */
	bool discarded;	     /* built, but its root hash was not the expected one: not kept */
};

/*
 * Builds (or completes, or finds in the cache) the image for name@commit under images_dir,
 * with the per-model lock held. On -EKEYREJECTED (root hash differs from expected_root) *ret is
 * still filled so the caller can name both hashes (a corrupted HF LFS blob is also
 * -EKEYREJECTED, with *ret untouched). Without source_dir (and without cache_only) a cached tar
 * still gets its hash file completed; -ENOENT when there is no tar.
 */
int cn_model_build(const struct cn_model_build_opts *o, struct cn_model_image *ret);
void cn_model_image_done(struct cn_model_image *img);

/*
 * Looks for a Hugging Face cache snapshot of name@commit under hf_home
 * ($HF_HOME/hub/models--ORG--NAME/snapshots/<commit>/). -ENOENT if absent.
 */
int cn_model_hf_cache_snapshot(const char *hf_home, const char *name, const char *commit,
			       char **ret_dir);

/* ---- Added by the model area (src/model). ---- */

#define CN_MODEL_NAME_MAX 256u
#define CN_MODEL_COMMIT_MAX 64u

/* Validation of the parts of a spec (-EINVAL naming the offending byte). */
int cn_model_name_check(const char *s, size_t n);
int cn_model_commit_check(const char *s, size_t n);

/*
 * Like cn_model_hf_cache_snapshot(), but revision may be NULL ("main"), a branch/tag name
 * (resolved through refs/<revision>) or a 40-hex commit. ret_commit may be NULL.
 */
int cn_model_hf_cache_resolve(const char *hf_home, const char *name, const char *revision,
			      char **ret_commit, char **ret_dir);

/* Reads a .tar.hash file: exactly 64 lower-case hex digits, optionally one trailing newline. */
int cn_model_read_hash_file(const char *path, char ret[65]);

/* Userspace dm-verity check of a whole image (like `veritysetup verify`, on all cores). */
struct cn_model_verify_result {
	int status;	       /* 0 good, 1 root hash differs, 2 corrupt (enum cn_verity_status) */
	uint64_t bad_offset;   /* status 2: first failing position (data or hash file, see below) */
	bool bad_in_hash_file; /* bad_offset is in the hash file (hash levels) */
	bool spare_area;       /* the failure is a non-zero spare area */
	char message[256];     /* veritysetup-like text */
	uint64_t data_blocks;
	unsigned levels;
	char root_hash[65]; /* the root computed from the tree ("" if the tree is corrupt) */
};
/*
 * verity_path NULL: tar_path + ".verity". root_hex: 64 hex. Returns 0 with *ret filled when the
 * check ran (whatever its verdict); a malformed superblock or mismatching sizes also give 0 with
 * status 2. Negative errno when the files cannot be read.
 */
int cn_model_verify(const char *tar_path, const char *verity_path, const char *root_hex,
		    bool progress, struct cn_model_verify_result *ret);

/* Guest side: activates /dev/mapper/<dm_name> (read-only dm-verity) with libcryptsetup. */
int cn_model_open(const char *tar_path, const char *verity_path, const char *root_hex,
		  const char *dm_name);
int cn_model_close(const char *dm_name);

/* The identity recorded in an image manifest (<tar>.manifest.json), for cache consistency. */
struct cn_model_manifest_info {
	char *name;   /* owned */
	char *commit; /* owned */
	char root_hash[65];
	char tar_format[16];
};
#define CN_MODEL_MANIFEST_MAX (256u * 1024 * 1024) /* a million files fit well below this */
/* Parses a manifest strictly enough to trust its identity fields (-EBADMSG naming the field). */
int cn_model_manifest_parse(const uint8_t *buf, size_t len, struct cn_model_manifest_info *ret);
void cn_model_manifest_info_done(struct cn_model_manifest_info *m);
