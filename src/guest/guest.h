/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Guest side of the model disk (issue 13): find the two virtio disks by serial, check the root
 * hash and activate dm-verity (src/model), serve the tar's files read-only through FUSE
 * straight from /dev/mapper/<name>, and hand the model to the worker in /run/cocoon/model.env.
 * All int-returning functions: 0 or a negative errno, details in cn_err_msg().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_GUEST_DATA_SERIAL "model-tar"
#define CN_GUEST_HASH_SERIAL "model-tar-verity"
#define CN_GUEST_DM_NAME "model.tar"
#define CN_GUEST_MOUNTPOINT "/mnt/model"
#define CN_GUEST_ENV_PATH "/run/cocoon/model.env"
#define CN_GUEST_PID_PATH "/run/cocoon/model-mount.pid"
#define CN_GUEST_SERIAL_MAX 20u /* virtio-blk ID bytes */

/*
 * Finds the disk whose virtio serial is `serial`: <dev_dir>/disk/by-id/virtio-<serial> (udev),
 * else <sys_dir>/block/<dev>/serial (no udev) giving <dev_dir>/<dev>. -ENODEV naming the serial
 * and where it looked. dev_dir/sys_dir NULL: "/dev", "/sys".
 */
int cn_guest_find_disk(const char *dev_dir, const char *sys_dir, const char *serial,
		       char **ret_path);

/* The model identity handed to the worker. */
struct cn_guest_model {
	char *name;	 /* owned */
	char *commit;	 /* owned */
	char *root_hash; /* owned, 64 lower-case hex */
};
void cn_guest_model_done(struct cn_guest_model *m);

/* "name@commit:roothash" (all three required). */
int cn_guest_model_from_spec(const char *spec, struct cn_guest_model *ret);
/*
 * KEY=VALUE lines as the launcher writes runtime.vars (blank lines and '#' comments allowed,
 * other keys ignored): MODEL_NAME, MODEL_COMMIT and MODEL_VERITY_HASH are required.
 */
#define CN_GUEST_VARS_MAX (1024u * 1024)
int cn_guest_model_from_vars(const char *buf, size_t len, struct cn_guest_model *ret);

/* The model.env text (MODEL_NAME, MODEL_COMMIT, MODEL_VERITY_HASH, MODEL_PATH). Caller frees. */
int cn_guest_env_format(const struct cn_guest_model *m, const char *mountpoint, char **ret);

struct cn_guest_mount_opts {
	const struct cn_guest_model *model;
	const char *mountpoint;	 /* default CN_GUEST_MOUNTPOINT */
	const char *data_serial; /* default CN_GUEST_DATA_SERIAL */
	const char *hash_serial; /* default CN_GUEST_HASH_SERIAL */
	const char *data_dev;	 /* explicit device paths instead of discovery */
	const char *hash_dev;
	const char *dm_name;  /* default CN_GUEST_DM_NAME */
	const char *env_path; /* default CN_GUEST_ENV_PATH */
	const char *pid_path; /* default CN_GUEST_PID_PATH */
	const char *dev_dir;  /* default /dev */
	const char *sys_dir;  /* default /sys */
	bool foreground;      /* serve in this process until unmounted (systemd Type=notify-less) */
	void (*notify)(void *userdata, const char *msg);
	void *userdata;
};

/*
 * Finds the disks, checks the root hash and activates dm-verity, indexes the tar through the
 * verity device, mounts it read-only at the mountpoint, writes model.env atomically and then
 * serves: in a daemon child (the call returns 0 in the caller once the mount is up) or, with
 * foreground, in this process until the file system is unmounted. On failure nothing is left
 * behind (no mount, no dm device, no model.env).
 */
int cn_guest_mount(const struct cn_guest_mount_opts *o);

/* Undoes cn_guest_mount: removes model.env, unmounts, waits for the server, removes the dm
 * device. Missing pieces are skipped (idempotent). */
int cn_guest_unmount(const struct cn_guest_mount_opts *o);

/*
 * The FUSE server alone over an open tar (a block device or a file): used by cn_guest_mount
 * and by tests. cn_guest_fs_mount mounts (read-only, allow_other when root), then
 * cn_guest_fs_serve runs the multithreaded loop until unmount, then cn_guest_fs_free.
 */
struct cn_guest_fs;
int cn_guest_fs_new(int dev_fd, const char *mountpoint, struct cn_guest_fs **ret);
int cn_guest_fs_serve(struct cn_guest_fs *fs);
/*
 * Once the mount is up (served by another thread or process): raises the kernel's read-ahead
 * for it (/sys/class/bdi/MAJ:MIN/read_ahead_kb, root only) so reads reach the server as
 * several 1 MiB requests in flight. Thread-safe, sets no error message; -errno.
 */
int cn_guest_fs_tune(const char *mountpoint);
/* Frees; unmount also unmounts when still mounted. Closes dev_fd. */
void cn_guest_fs_free(struct cn_guest_fs *fs, bool unmount);
