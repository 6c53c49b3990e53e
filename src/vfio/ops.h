/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Internal to src/vfio: the context and the helpers that list, verify, setup and restore share.
 * device.c (context, the GPU, its holders), nodes.c (device nodes, group, udev rule), bind.c
 * (driver binding, per-GPU lock), verify.c, setup.c, restore.c, list.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vfio/vfio.h"

#define USERS_MAX 16
#define NVIDIA_MINORS_MAX 64

struct ctx {
	const struct cn_vfio_opts *o;
	int sysfs_fd;
	const char *sysfs;
	const char *dev;
	const char *proc;
};

/* ---- device.c ----------------------------------------------------------------------------- */

int vfio_ctx_init(struct ctx *c, const struct cn_vfio_opts *o);
void vfio_ctx_done(struct ctx *c);
bool vfio_is_vfio_driver(const char *d);
/* A group member VFIO tolerates without taking it: bridges and ports. */
bool vfio_member_tolerated(const struct cn_vfio_func *m);
bool vfio_same_slot(const char *a, const char *b);
/* Reads the function at bdf_in and checks that it is an NVIDIA GPU. */
int vfio_read_gpu(struct ctx *c, const char *bdf_in, struct cn_vfio_func *f);
/* The iommufd cdev name of f ("vfio3"); *ret_has_dev false when the kernel has no cdev. */
int vfio_cdev_name(struct ctx *c, const char *bdf, char out[32], bool *ret_has_dev);

struct vfio_pathset {
	char *p[NVIDIA_MINORS_MAX + CN_VFIO_GROUP_MEMBERS_MAX + 8];
	size_t n;
};
void vfio_pathset_done(struct vfio_pathset *s);
int vfio_pathset_addf(struct vfio_pathset *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Processes holding the GPU's or its group's nodes (at most USERS_MAX). */
int vfio_find_holders(struct ctx *c, const struct cn_vfio_func *gpu,
		      const struct cn_vfio_func *members, size_t n_members,
		      struct cn_vfio_user *users, size_t *ret_n);
int vfio_in_use_error(const char *bdf, const struct cn_vfio_user *u, size_t n);

/* ---- nodes.c ------------------------------------------------------------------------------ */

int vfio_resolve_group(const struct cn_vfio_opts *o, char name[40], gid_t *ret_gid);
/* Writes the udev rule if its content differs. *ret_changed tells whether it did (or would). */
int vfio_write_rule(struct ctx *c, const char *group, bool *ret_changed);
int vfio_run_cmd(struct ctx *c, const char *const *argv);
int vfio_udev_apply(struct ctx *c, bool reload);
int vfio_fix_nodes(struct ctx *c, const struct cn_vfio_func *f, gid_t gid);
void vfio_check_nodes(struct ctx *c, const struct cn_vfio_func *f, struct cn_vfio_verdict *v,
		      const char *fix);

/* ---- verify.c ----------------------------------------------------------------------------- */

void vfio_add_problem(struct cn_vfio_verdict *v, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- bind.c ------------------------------------------------------------------------------- */

int vfio_unbind(struct ctx *c, struct cn_vfio_func *f);
int vfio_set_override(struct ctx *c, struct cn_vfio_func *f, const char *value);
/* Waits for driver want ("" = unbound; NULL = any driver). */
int vfio_probe(struct ctx *c, struct cn_vfio_func *f, const char *want);
int vfio_bind(struct ctx *c, struct cn_vfio_func *f, bool *changed);
int vfio_ensure_driver(struct ctx *c);
/* Which group members setup takes: same-slot NVIDIA functions and explicitly allowed ones. */
int vfio_members_to_take(const struct cn_vfio_opts *o, const struct cn_vfio_func *gpu,
			 const struct cn_vfio_func *members, size_t n, bool *take);
int vfio_lock_device(struct ctx *c, const char *bdf, int *ret_fd);

/* ---- setup.c ------------------------------------------------------------------------------ */

int vfio_require_priv(const struct cn_vfio_opts *o, const char *what);
int vfio_query_required(const struct cn_vfio_opts *o, const char *bdf, const char *knob,
			struct cn_gat_query *q);
/* The common start of setup and restore: privileges, sysfs, the GPU, and its per-GPU lock. */
int vfio_begin_change(const struct cn_vfio_opts *o, const char *what, const char *bdf_in,
		      struct ctx *c, struct cn_vfio_func *f, int *ret_lock_fd);
