/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest side: activate the image as a read-only dm-verity device with libcryptsetup, which is
 * opened here at the first use rather than linked (base/dl.h): its ten libraries (device-mapper,
 * udev, SELinux, PCRE2, blkid, json-c, argon2, ...) cost every other command of the binary a
 * millisecond and a half at start, the guest's boot gate included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "base/cleanup.h"
#include "base/dl.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "model/model.h"
#include "model/verity.h"

#define DM_NAME_MAX 127u
#define CRYPTSETUP_SONAME "libcryptsetup.so.12"

#define CRYPTSETUP_FUNCS(X)                                                                        \
	X(crypt_set_log_callback)                                                                  \
	X(crypt_init_data_device)                                                                  \
	X(crypt_init_by_name)                                                                      \
	X(crypt_load)                                                                              \
	X(crypt_activate_by_volume_key)                                                            \
	X(crypt_deactivate)                                                                        \
	X(crypt_free)

static struct {
	CRYPTSETUP_FUNCS(CN_DL_FIELD)
} lib;
static struct cn_dl_lib cryptsetup = CN_DL_LIB(CRYPTSETUP_SONAME, CRYPTSETUP_FUNCS, NULL);

/* libcryptsetup prints to stderr by default; the library is quiet, so keep its last error line. */
static _Thread_local char crypt_msg[256];

static void cn_crypt_log(int level, const char *msg, void *usrptr)
{
	size_t n;

	if (level != CRYPT_LOG_ERROR || !msg)
		return;
	(void)snprintf(crypt_msg, sizeof(crypt_msg), "%s", msg);
	n = strlen(crypt_msg);
	while (n > 0 && (crypt_msg[n - 1] == '\n' || crypt_msg[n - 1] == '.'))
		crypt_msg[--n] = '\0';
}

static const char *crypt_detail(int r)
{
	return crypt_msg[0] ? crypt_msg : strerror(-r);
}

static int check_dm_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > DM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return cn_err_set(-EINVAL,
				  "device name '%s' must be 1-%u characters of A-Z a-z 0-9 . _ - "
				  "and not start with '.' or '-'",
				  name ? name : "", DM_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return cn_err_set(-EINVAL, "device name '%s' has the character 0x%02x",
					  name, (unsigned char)c);
	}
	return 0;
}

/*
 * The kernel checks the root hash only when a block is read, so a wrong hash would activate
 * fine and fail at the first read. Check it here against the top block of the hash tree (or,
 * for a one-block image, the data block), and the sizes of both devices, before activating.
 */
static int check_root(int hash_fd, const char *tar_path, const char *verity_path,
		      const struct cn_verity_sb *sb, const uint8_t root[32], const char *root_hex)
{
	struct cn_verity_hasher h;
	struct cn_verity_geo g;
	_cleanup_close_ int data_fd = -EBADF;
	_cleanup_free_ uint8_t *blk = NULL;
	uint8_t got[CN_VERITY_DIGEST];
	char got_hex[2 * CN_VERITY_DIGEST + 1];
	off_t hsize, dsize;
	int r;

	r = cn_verity_geometry(sb->data_blocks, &g);
	if (r < 0)
		return cn_err_set(r, "'%s': the superblock's data block count is invalid",
				  verity_path);
	data_fd = open(tar_path, O_RDONLY | O_CLOEXEC);
	if (data_fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", tar_path, strerror(errno));
	hsize = lseek(hash_fd, 0, SEEK_END);
	dsize = lseek(data_fd, 0, SEEK_END);
	if (hsize < 0 || dsize < 0)
		return cn_err_set(-errno, "cannot size '%s' or '%s': %s", tar_path, verity_path,
				  strerror(errno));
	if ((uint64_t)hsize < g.file_size)
		return cn_err_set(-EBADMSG, "'%s' is %lld bytes, but its hash tree needs %llu",
				  verity_path, (long long)hsize, (unsigned long long)g.file_size);
	if ((uint64_t)dsize / CN_VERITY_BLOCK < sb->data_blocks)
		return cn_err_set(
		    -EBADMSG,
		    "'%s' is %lld bytes, but the verity superblock covers %llu blocks "
		    "of 4096",
		    tar_path, (long long)dsize, (unsigned long long)sb->data_blocks);
	blk = malloc(CN_VERITY_BLOCK);
	if (!blk)
		return -ENOMEM;
	if (g.levels > 0)
		r = cn_pread_all(hash_fd, blk, CN_VERITY_BLOCK, g.level_off[g.levels - 1]);
	else
		r = cn_pread_all(data_fd, blk, CN_VERITY_BLOCK, 0);
	if (r < 0)
		return cn_err_set(r, "cannot read the top of the hash tree: %s", strerror(-r));
	r = cn_verity_hasher_init(&h, sb->salt, sb->salt_size);
	if (r < 0)
		return r;
	r = cn_verity_hash_block(&h, blk, got);
	cn_verity_hasher_done(&h);
	if (r < 0)
		return r;
	if (memcmp(got, root, sizeof(got)) != 0)
		return cn_err_set(
		    -EKEYREJECTED,
		    "root hash mismatch: expected %s, but the hash tree in '%s' has %s", root_hex,
		    verity_path, cn_hex(got, sizeof(got), got_hex));
	return 0;
}

int cn_model_open(const char *tar_path, const char *verity_path, const char *root_hex,
		  const char *dm_name)
{
	struct crypt_device *cd = NULL;
	struct crypt_params_verity params = {0};
	struct cn_verity_sb sb;
	uint8_t root[32], sbuf[CN_VERITY_SB_SIZE];
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = check_dm_name(dm_name);
	if (r < 0)
		return r;
	if (!tar_path || !verity_path || !root_hex || strlen(root_hex) != 64 ||
	    cn_unhex_exact(root_hex, root, sizeof(root)) < 0)
		return cn_err_set(
		    -EINVAL, "open: the tar, the verity file and a 64-hex root hash are required");
	/* Regular files or block devices only: a FIFO must never block (cn_open_input_at). */
	r = cn_open_input_at(AT_FDCWD, tar_path, true, &fd, NULL);
	if (r < 0)
		return cn_err_set(r, "cannot open '%s': %s", tar_path, cn_strerror(r));
	(void)close(TAKE_FD(fd));
	/* Our own strict superblock check first: only the reference parameters are accepted. */
	r = cn_open_input_at(AT_FDCWD, verity_path, true, &fd, NULL);
	if (r < 0)
		return cn_err_set(r, "cannot open '%s': %s", verity_path, cn_strerror(r));
	r = cn_pread_all(fd, sbuf, sizeof(sbuf), 0);
	if (r < 0)
		return cn_err_set(r, "cannot read the superblock of '%s'", verity_path);
	r = cn_verity_sb_parse(sbuf, sizeof(sbuf), &sb);
	if (r < 0)
		return r;
	r = check_root(fd, tar_path, verity_path, &sb, root, root_hex);
	if (r < 0)
		return r;
	r = cn_dl_load(&cryptsetup);
	if (r < 0)
		return r;
	crypt_msg[0] = '\0';
	lib.crypt_set_log_callback(NULL, cn_crypt_log, NULL);
	r = lib.crypt_init_data_device(&cd, verity_path, tar_path);
	if (r < 0)
		return cn_err_set(r, "libcryptsetup cannot use '%s' with '%s': %s", tar_path,
				  verity_path, strerror(-r));
	r = lib.crypt_load(cd, CRYPT_VERITY, &params);
	if (r < 0) {
		lib.crypt_free(cd);
		return cn_err_set(r, "libcryptsetup cannot load the verity superblock of '%s': %s",
				  verity_path, crypt_detail(r));
	}
	r = lib.crypt_activate_by_volume_key(cd, dm_name, (const char *)root, sizeof(root),
					     CRYPT_ACTIVATE_READONLY);
	lib.crypt_free(cd);
	if (r < 0)
		return cn_err_set(r,
				  "cannot activate /dev/mapper/%s (device-mapper with dm-verity "
				  "and root are needed): %s",
				  dm_name, crypt_detail(r));
	return 0;
}

int cn_model_close(const char *dm_name)
{
	struct crypt_device *cd = NULL;
	int r;

	r = check_dm_name(dm_name);
	if (r < 0)
		return r;
	r = cn_dl_load(&cryptsetup);
	if (r < 0)
		return r;
	crypt_msg[0] = '\0';
	lib.crypt_set_log_callback(NULL, cn_crypt_log, NULL);
	r = lib.crypt_init_by_name(&cd, dm_name);
	if (r < 0)
		return cn_err_set(r, "no active device '%s': %s", dm_name, crypt_detail(r));
	r = lib.crypt_deactivate(cd, dm_name);
	lib.crypt_free(cd);
	if (r < 0)
		return cn_err_set(r, "cannot deactivate '%s': %s", dm_name, crypt_detail(r));
	return 0;
}
