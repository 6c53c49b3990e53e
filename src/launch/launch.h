/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The worker launcher (`cocoon launch`, alias `cocoon-launch`): configuration, the QEMU argument
 * vector, and the pre-flight steps before exec. The argument vector is a pure function of its
 * inputs (cn_launch_argv) so that it can be compared element by element with the reference's
 * (docs/launch.md, spec host-tools §1.2): the firmware measures the command line, the ACPI tables
 * and the device order into the TDX measurement, so any difference changes the attested identity.
 *
 * All int-returning functions: 0 on success or a negative errno, details in cn_err_msg().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strv.h"
#include "model/model.h"

enum cn_node_type {
	CN_NODE_UNSET = 0,
	CN_NODE_WORKER,
	CN_NODE_PROXY,
	CN_NODE_CLIENT, /* runs locally in the reference: only its spec share is prepared here */
};

const char *cn_node_type_name(enum cn_node_type t);

/* Every setting, from the INI [node] section or the command line (same key space). */
enum cn_launch_key {
	CN_LK_TYPE,
	CN_LK_INSTANCE,
	CN_LK_OWNER_ADDRESS,
	CN_LK_ROOT_CONTRACT_ADDRESS,
	CN_LK_MODEL,
	CN_LK_FAKE_TON,
	CN_LK_TEST,
	CN_LK_EXTERNAL_IP,
	CN_LK_EXTERNAL_WORKER_PORT,
	CN_LK_EXTERNAL_CLIENT_PORT,
	CN_LK_NODE_WALLET_KEY,
	CN_LK_WORKER_COEFFICIENT,
	CN_LK_HF_TOKEN,
	CN_LK_TON_CONFIG_BASE,
	CN_LK_TON_CONFIG,
	CN_LK_IMAGE_DIR,
	CN_LK_BUILD_DIR,
	CN_LK_GPU,
	CN_LK_PERSISTENT,
	CN_LK_SSH_PORT,
	CN_LK_VSOCK_CID,
	CN_LK_HTTP_PORT,
	CN_LK_WORKER_RPC_PORT,
	CN_LK_CLIENT_RPC_PORT,
	CN_LK_MODEL_TAR, /* in the reference's worker.conf, never read: accepted, ignored */
	/* Extensions of this launcher (INI or command line). */
	CN_LK_SPEC,
	CN_LK_QEMU,
	CN_LK_RUN_DIR,
	CN_LK_MODELS_DIR,
	CN_LK_TAR_FORMAT,
	CN_LK_REGISTRY, /* registry prefix for the model image (docs/distribution.md) */
	CN_LK_PUSH,	/* push a model image the launcher built to the registry */
	CN_LK__MAX,
};

/* Caps on untrusted configuration text. */
#define CN_LAUNCH_CONFIG_MAX (256u * 1024) /* bytes of the INI file */
#define CN_LAUNCH_LINE_MAX 4096u	   /* bytes of one INI line */
#define CN_LAUNCH_VALUE_MAX 4096u	   /* bytes of one value */
#define CN_LAUNCH_INSTANCE_MAX 1000u	   /* instances per host (ports step by 10) */
#define CN_LAUNCH_CMDLINE_MAX (64u * 1024) /* bytes of image.cmdline */
#define CN_LAUNCH_EXTRA_MAX 256u	   /* extra QEMU arguments after "--" */

/* Raw settings: v[key] is NULL when not given. */
struct cn_launch_settings {
	char *v[CN_LK__MAX];
	unsigned line[CN_LK__MAX]; /* INI line of each value, 0 from the command line */
	char *file;		   /* the INI file name, for messages */
};

void cn_launch_settings_done(struct cn_launch_settings *s);

/* Looks a key name up ("image-dir" and "image_dir" are the same key; case-insensitive as
 * Python's configparser). -ENOENT if unknown. */
int cn_launch_key_lookup(const char *name, enum cn_launch_key *ret);
const char *cn_launch_key_name(enum cn_launch_key k);

/*
 * Parses the INI text (file name only for messages) into *ret: section [node] only, every key
 * known, no key twice, values without control bytes and without configparser interpolation
 * ('%%' is '%'). -EINVAL with "FILE:LINE: ..." in cn_err_msg().
 */
int cn_launch_settings_parse(const char *text, size_t len, const char *file,
			     struct cn_launch_settings *ret);
/* Reads and parses a file (capped at CN_LAUNCH_CONFIG_MAX). */
int cn_launch_settings_load(const char *path, struct cn_launch_settings *ret);
/* Sets key to value (a copy), replacing what was there (command line over INI). */
int cn_launch_settings_set(struct cn_launch_settings *s, enum cn_launch_key k, const char *value);

/* Where defaults come from (all injectable for tests). */
struct cn_launch_env {
	const char *root;	/* $COCOON_ROOT, else the working directory (absolute) */
	const char *cwd;	/* working directory (absolute), for relative paths */
	const char *images_dir; /* $COCOON_IMAGES_DIR or NULL */
	const char *run_dir;	/* default run folder (absolute) */
	const char *hf_token;	/* $HF_TOKEN or NULL */
	const char *build_dir;	/* $BUILD_DIR or NULL */
	const char *registry;	/* $COCOON_REGISTRY or NULL */
};

/* The resolved configuration: typed, defaults applied, paths absolute. Strings owned. */
struct cn_launch_config {
	enum cn_node_type type;
	uint32_t instance;
	bool test;
	bool fake_ton;
	bool tdx; /* false with --no-tdx */
	char *owner_address;
	char *root_contract_address;
	char *model;	   /* worker: model spec "name[@commit[:roothash]]"; else NULL */
	char *external_ip; /* NULL unless set or fake_ton */
	uint32_t external_worker_port, external_client_port; /* 0 unless set or fake_ton */
	char *node_wallet_key; /* secret; NULL unless set or fake_ton */
	char *worker_coefficient;
	char *hf_token;			    /* secret */
	char *ton_config_base, *ton_config; /* NULL with fake_ton (the reference ignores them) */
	char *fake_ton_dir;		    /* ROOT/spec/fake-ton */
	char *local_run_dir;	       /* client: RUN-DIR/cocoon-client-N/run (TON_CONFIG_FILE) */
	enum cn_tar_format tar_format; /* model image format (tar_format, --tar-format) */
	char *image_dir;
	char *build_dir;
	char *gpu; /* verbatim BDF or NULL */
	char *persistent;
	char *spec_dir;	  /* the spec source: ROOT/spec/spec-TYPE unless spec/--spec */
	char *qemu;	  /* as configured: a name looked up in PATH, or a path */
	char *run_dir;	  /* the run folder holding one subfolder per instance */
	char *models_dir; /* model image cache */
	char *registry;	  /* registry prefix: --registry > registry key > $COCOON_REGISTRY; NULL */
	bool push;	  /* --push > push key: push a model image built here (needs registry) */
	/* Bases from the configuration (before the instance offset). */
	uint32_t ssh_port, vsock_cid, http_port, worker_rpc_port, client_rpc_port;
	/* Derived: base + 10 * instance, checked for range. */
	uint32_t cid;
	uint32_t host_ssh_port, host_http_port, host_worker_rpc_port, host_client_rpc_port;
};

void cn_launch_config_done(struct cn_launch_config *c);

/*
 * Applies types, defaults and the instance offset (spec §1.2). no_tdx comes from the command
 * line only. -EINVAL naming the key (and INI line) on a bad value; -EOPNOTSUPP for the client
 * type (it runs locally without a VM: out of scope).
 */
int cn_launch_config_resolve(const struct cn_launch_settings *s, const struct cn_launch_env *env,
			     bool no_tdx, struct cn_launch_config *ret);

/* "cocoon-worker-3": the QEMU -name and the run subfolder name. NULL on OOM. */
char *cn_launch_instance_name(const struct cn_launch_config *c);

/* Strips Python-str.strip() whitespace from both ends of image.cmdline (in place). */
void cn_launch_cmdline_strip(char *s);

/* image.cmdline + " cocoon_debug"? + " cocoon_fake_ton"? + (" cocoon_gpu" | "
 * modprobe.blacklist=nvidia"). */
int cn_launch_kernel_cmdline(const char *image_cmdline, const struct cn_launch_config *c,
			     char **ret);

/* The inputs the argument vector is a function of, besides the configuration. */
struct cn_launch_inputs {
	const struct cn_launch_config *cfg;
	const char *qemu_argv0;	   /* argv[0]; NULL: cfg->qemu */
	const char *image_cmdline; /* stripped contents of <image-dir>/image.cmdline */
	const char *model_tar;	   /* worker: the model tar; NULL: no model disks */
	const char *model_verity;  /* the hash tree beside it (reference: tar + ".verity") */
	const char *spec_share;	   /* the prepared copy of the spec folder (9p tag "spec") */
	const char *instance_dir;  /* run subfolder: adds the host-only block; NULL: none */
	char *const *extra;	   /* after "--", verbatim */
	size_t n_extra;
};

/*
 * Builds the QEMU argument vector: the reference's, in its order (spec §1.2 rows 1-24), then
 * the host-only block (-name, -pidfile, -qmp, -D: nothing the guest sees), then the extra
 * arguments. Pure: no file system access. -EINVAL on an input QEMU could not take.
 */
int cn_launch_argv(const struct cn_launch_inputs *in, struct cn_strv *ret);

/* Number of leading elements of the host-only block, to split it off in tests: 8. */
#define CN_LAUNCH_HOST_ONLY_ARGS 8

/* A copy of s that a POSIX shell reads back as one word (quotes only when needed). */
char *cn_launch_shell_quote(const char *s);
/* The argv joined with spaces, each element shell-quoted. NULL on OOM. */
char *cn_launch_argv_shell(char *const *argv, size_t n);
/* The argv as a JSON array of strings (compact, one line). NULL on OOM or invalid UTF-8 handling
 * failure. */
char *cn_launch_argv_json(char *const *argv, size_t n);

/* The image files the launcher needs, relative to image-dir. */
extern const char *const cn_launch_image_files[5];

/* --- pre-flight (src/launch/preflight.c) --- */

/* Every image file present and a regular file; -ENOENT naming the first missing one. */
int cn_launch_check_image_files(const char *image_dir);
/* Reads and strips <image-dir>/image.cmdline (capped, no NUL bytes). */
int cn_launch_read_image_cmdline(const char *image_dir, char **ret);

/* Finds an executable: a path containing '/' is taken as is, else searched in path_env. */
int cn_launch_find_executable(const char *name, const char *path_env, char **ret);

struct cn_qemu_caps {
	bool tdx_guest;	  /* -object help lists tdx-guest */
	bool iommufd;	  /* -object help lists iommufd */
	bool vhost_vsock; /* -device help lists vhost-vsock-pci */
	bool virtio_9p;	  /* -device help lists virtio-9p-pci */
	bool vfio_pci;	  /* -device help lists vfio-pci */
};

/* Runs "<qemu> -object help" and "<qemu> -device help" (no shell, 10 s limit each). */
int cn_launch_probe_qemu(const char *qemu_path, struct cn_qemu_caps *ret);
/* Parses help output: true if one line is exactly the name (optionally followed by blanks/comma).
 */
bool cn_launch_help_lists(const char *help, size_t len, const char *name);

/* 0 if a TCP listener can bind 0.0.0.0:port now (as slirp's hostfwd will); -EADDRINUSE if not. */
int cn_launch_check_tcp_port(uint32_t port);
/*
 * Asks the kernel whether a vsock CID is free: opens dev_dir/vhost-vsock and sets the CID as QEMU
 * will, then releases it. -EADDRINUSE if taken; -ENOENT if the device is missing (module not
 * loaded). When the node is not a character device (a test stand-in), there is no kernel to ask: 0.
 */
int cn_launch_check_vsock_cid(const char *dev_dir, uint32_t cid);

/* What a running instance holds, recorded in its run subfolder while its lock is held. */
struct cn_launch_claims {
	uint32_t cid;
	uint32_t ports[4];
	size_t n_ports;
	char *persistent;
	char *gpu;
	char *name;
};

void cn_launch_claims_done(struct cn_launch_claims *c);
int cn_launch_claims_from_config(const struct cn_launch_config *c, struct cn_launch_claims *ret);
/* JSON round trip (the claims file is read back from other instances: parsed strictly). */
char *cn_launch_claims_json(const struct cn_launch_claims *c);
int cn_launch_claims_parse(const char *text, size_t len, struct cn_launch_claims *ret);
/* -EADDRINUSE with a message naming both instances and the thing they share, else 0. */
int cn_launch_claims_conflict(const struct cn_launch_claims *mine,
			      const struct cn_launch_claims *other);

/*
 * Takes the instance lock (run_dir/NAME/lock, flock, non-blocking) and checks every other
 * instance under run_dir whose lock is held for a shared CID, host port, persistent disk or
 * GPU. On success *ret_lock_fd is the lock (O_CLOEXEC; the caller clears it right before exec
 * so that QEMU holds the lock as long as it runs) and the claims file is written.
 * -EBUSY: this instance runs already. -EADDRINUSE: a clash.
 */
int cn_launch_lock_instance(const char *run_dir, const struct cn_launch_claims *mine,
			    int *ret_lock_fd);

/* Creates path as a sparse file of size bytes if it does not exist (parent folder locked,
 * temp + rename, never replacing). *ret_created tells whether it was made. */
#define CN_LAUNCH_PERSISTENT_SIZE (100ull * 1024 * 1024 * 1024)
int cn_launch_ensure_persistent(const char *path, uint64_t size, bool *ret_created);

/*
 * Makes dst a fresh copy of the folder src as shutil.copytree does (dst removed first; symlinks
 * followed; modes of files and folders kept; no special files; caps on depth and count).
 */
int cn_launch_copy_tree(const char *src, const char *dst);
/* Removes a tree (no symlink following). Missing is fine. */
int cn_launch_remove_tree(const char *path);

/* --- the spec share (src/launch/share.c, spectree.c) --- */

/* Runtime variables in order (keys[i]=values[i]). */
struct cn_launch_vars {
	struct cn_strv keys, values;
};
void cn_launch_vars_done(struct cn_launch_vars *v);

/* The worker's built model as the runtime variables name it (build-model's line). */
struct cn_launch_model_ref {
	const char *name, *commit, *root_hash;
};

/*
 * The reference's runtime variables (Config.get_runtime_vars), in its order: the client's
 * IS_DEBUG and TON_CONFIG_FILE, then each --set KEY=VALUE (a later one replaces an earlier value
 * in place), then, unless already set: MODEL_NAME (MODEL_COMMIT, MODEL_VERITY_HASH with m),
 * CLIENT_HTTP_PORT, CLIENT_RPC_PORT (client), OWNER_ADDRESS, ROOT_CONTRACT_ADDRESS,
 * EXTERNAL_IP, EXTERNAL_WORKER_PORT, EXTERNAL_CLIENT_PORT (fake TON, + 10 x instance),
 * WORKER_COEFFICIENT, HF_TOKEN, NODE_WALLET_KEY (those not empty).
 */
int cn_launch_runtime_vars(const struct cn_launch_config *c, const struct cn_launch_model_ref *m,
			   char *const *set_keys, char *const *set_values, size_t n_set,
			   struct cn_launch_vars *ret);

/*
 * Prepares the share at dest (replaced if it exists) from c->spec_dir exactly as the
 * reference's prepare_spec: copy, TON configs, fake-TON edits, runtime/runtime.vars upsert (vars
 * NULL: not written), runner units. -ENOENT naming a missing spec folder or TON config.
 */
int cn_launch_share_prepare(const struct cn_launch_config *c, const char *dest,
			    const struct cn_launch_vars *vars);

/*
 * The spec tree hash the guest's cocoon-prepare-spec computes from the share dir (git SHA-256
 * tree of the measured files) as 64 hex + NUL. -EINVAL/-EFBIG naming what the guest would refuse
 * (a symlink or special file, a file over 10 MiB, a nested .git folder).
 */
int cn_launch_spec_tree(const char *dir, char ret[65]);

/* One .gitignore (text, at the top of the share) applied to the path rel: *ret_ignored. For
 * tests and the fuzz target; -EINVAL on a NUL byte. */
int cn_launch_ignore_match(const char *text, size_t len, const char *rel, bool is_dir,
			   bool *ret_ignored);
