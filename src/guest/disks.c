/* SPDX-License-Identifier: Apache-2.0 */
/* Finds a virtio-blk disk by its serial (QEMU -drive ...,serial=S), with or without udev. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "guest/guest.h"

static int check_serial(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CN_GUEST_SERIAL_MAX)
		return cn_err_set(-EINVAL, "disk serial '%s' must be 1-%u characters", s ? s : "",
				  CN_GUEST_SERIAL_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return cn_err_set(-EINVAL, "disk serial '%s' has the character 0x%02x", s,
					  (unsigned char)c);
	}
	return 0;
}

static int block_device(const char *path, char **ret)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return cn_err_set(-ENOTBLK, "'%s' is not a block device", path);
	*ret = strdup(path);
	return *ret ? 0 : -ENOMEM;
}

int cn_guest_find_disk(const char *dev_dir, const char *sys_dir, const char *serial,
		       char **ret_path)
{
	_cleanup_free_ char *byid = NULL, *blockdir = NULL;
	_cleanup_close_ int dfd = -EBADF;
	DIR *d;
	struct dirent *de;
	bool found = false;
	int r;

	dev_dir = dev_dir ? dev_dir : "/dev";
	sys_dir = sys_dir ? sys_dir : "/sys";
	r = check_serial(serial);
	if (r < 0)
		return r;
	/* udev's link first. */
	if (asprintf(&byid, "%s/disk/by-id/virtio-%s", dev_dir, serial) < 0)
		return -ENOMEM;
	r = block_device(byid, ret_path);
	if (r != -ENOENT)
		return r;
	/* No udev: the serial attribute of each block device (virtio_blk exposes it). */
	blockdir = cn_path_join(sys_dir, "block");
	if (!blockdir)
		return -ENOMEM;
	dfd = open(blockdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-ENODEV,
				  "no disk with serial '%s' (no %s, and cannot list %s: %s)",
				  serial, byid, blockdir, strerror(errno));
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	dfd = -EBADF;
	r = -ENODEV;
	while ((de = readdir(d))) {
		_cleanup_free_ char *attr = NULL, *val = NULL, *dev = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&attr, "%s/serial", de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (cn_read_virtual_at(dirfd(d), attr, 256, &val) < 0 || strcmp(val, serial) != 0)
			continue;
		found = true;
		dev = cn_path_join(dev_dir, de->d_name);
		if (!dev) {
			r = -ENOMEM;
			break;
		}
		r = block_device(dev, ret_path);
		if (r == -ENOENT)
			r = cn_err_set(-ENODEV,
				       "disk with serial '%s' is %s in sysfs, but %s is missing",
				       serial, de->d_name, dev);
		break;
	}
	(void)closedir(d);
	if (!found && r == -ENODEV)
		return cn_err_set(
		    -ENODEV,
		    "no disk with serial '%s' (neither %s nor a %s/*/serial matching it; "
		    "is the disk attached?)",
		    serial, byid, blockdir);
	return r;
}
