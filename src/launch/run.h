/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The launch use case (`cocoon launch`), in three phases the CLI calls in turn:
 *   plan     configuration, image files, the worker's model image, the QEMU argument vector;
 *   prepare  GPU, QEMU and host checks, the instance lock and clash check, host ports and vsock
 *            CID, the persistent disk, the spec share with its runtime variables and its hash;
 *   exec     replaces the process with QEMU (returns only on failure).
 * --print-only stops after plan (cn_launch_predict adds the spec tree hash without touching the
 * instance); --prepare-only runs only the share part of prepare (reference: prepare_spec).
 * Each phase returns a status (the CLI's exit code) with one line in cn_err_msg().
 */
#include <stdbool.h>
#include <stddef.h>

#include "base/strv.h"
#include "launch/launch.h"

enum cn_launch_status {
	CN_LAUNCH_OK = 0,
	CN_LAUNCH_FAIL = 1,	     /* error */
	CN_LAUNCH_CONFIG = 2,	     /* usage or configuration error */
	CN_LAUNCH_GPU_NOT_READY = 3, /* problems in plan->gpu_problems */
	CN_LAUNCH_PREREQ = 4,	     /* missing prerequisite: image file, QEMU feature, KVM */
	CN_LAUNCH_IN_USE = 5,	     /* instance running, port, CID, disk or GPU taken */
};

struct cn_launch_request {
	const char *config;			    /* INI file */
	const struct cn_launch_settings *overrides; /* options, over the INI (may be NULL) */
	char *const *set_keys, *const *set_values;  /* --set KEY=VALUE: runtime variables */
	size_t n_set;
	bool no_tdx, print_only, prepare_only, skip_build, just_build;
	const char *model_image; /* --model-image TAR */
	const char *dev_dir;	 /* /dev (tests) */
	const char *sysfs_dir;	 /* /sys (tests) */
	char *const *extra;	 /* after "--" */
	size_t n_extra;
	const struct cn_launch_env *env;
};

struct cn_launch_model {
	char *name, *commit, *tar_path, *verity_path;
	char root_hash[65];
};

struct cn_launch_plan {
	struct cn_launch_config cfg;
	char *name;	    /* cocoon-TYPE-N */
	char *instance_dir; /* RUN-DIR/cocoon-TYPE-N */
	char *spec_share;   /* instance_dir/spec */
	char *image_cmdline;
	bool have_model; /* worker: model found or built (else placeholders with --print-only) */
	struct cn_launch_model model;
	struct cn_strv argv; /* empty for a client and with --prepare-only */
	char spec_tree[65];  /* after cn_launch_predict / cn_launch_prepare */
	struct cn_strv gpu_problems;
	char *qemu_path;
	int lock_fd;
};

void cn_launch_plan_done(struct cn_launch_plan *p);

enum cn_launch_status cn_launch_plan(const struct cn_launch_request *req,
				     struct cn_launch_plan *ret);
/* --print-only: the share prepared in a temporary folder, hashed, removed. */
enum cn_launch_status cn_launch_predict(const struct cn_launch_request *req,
					struct cn_launch_plan *p);
enum cn_launch_status cn_launch_prepare(const struct cn_launch_request *req,
					struct cn_launch_plan *p);
/* Logs the command line to instance_dir/launch.log and execs QEMU with the lock inherited. */
enum cn_launch_status cn_launch_exec(struct cn_launch_plan *p);
