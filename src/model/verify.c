/* SPDX-License-Identifier: Apache-2.0 */
/* Userspace verification of an image against its hash file, like `veritysetup verify`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/progress.h"
#include "model/model.h"
#include "model/verity.h"

static int corrupt(struct cn_model_verify_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int corrupt(struct cn_model_verify_result *res, const char *fmt, ...)
{
	va_list ap;

	res->status = CN_VERITY_CORRUPT;
	va_start(ap, fmt);
	(void)vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return 0;
}

static int file_size(int fd, uint64_t *ret, bool *ret_regular)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ret_regular = S_ISREG(st.st_mode);
	if (S_ISREG(st.st_mode)) {
		*ret = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return -EINVAL;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	*ret = (uint64_t)end;
	return 0;
}

static int verify_tree(int tar_fd, int ver_fd, const uint8_t root[32], bool progress,
		       struct cn_model_verify_result *res)
{
	uint8_t sbuf[CN_VERITY_SB_SIZE], computed[CN_VERITY_DIGEST];
	_cleanup_free_ uint8_t *blk = NULL;
	struct cn_verity_sb sb;
	struct cn_verity_geo g;
	struct cn_verity_hasher h;
	struct cn_progress prog;
	uint64_t tar_size = 0, ver_size = 0;
	bool tar_reg, ver_reg;
	int r;

	r = file_size(tar_fd, &tar_size, &tar_reg);
	if (r < 0)
		return cn_err_set(r, "the data file is neither a regular file nor a block device");
	r = file_size(ver_fd, &ver_size, &ver_reg);
	if (r < 0)
		return cn_err_set(r, "the hash file is neither a regular file nor a block device");
	if (ver_size < CN_VERITY_SB_SIZE)
		return corrupt(res, "hash file is %llu bytes, shorter than the verity superblock",
			       (unsigned long long)ver_size);
	r = cn_pread_all(ver_fd, sbuf, sizeof(sbuf), 0);
	if (r < 0)
		return cn_err_set(r, "cannot read the verity superblock: %s", strerror(-r));
	r = cn_verity_sb_parse(sbuf, sizeof(sbuf), &sb);
	if (r < 0)
		return corrupt(res, "%s", cn_err_msg());
	r = cn_verity_geometry(sb.data_blocks, &g);
	if (r < 0)
		return corrupt(res, "%s", cn_err_msg());
	res->data_blocks = g.data_blocks;
	res->levels = g.levels;
	if (tar_size / CN_VERITY_BLOCK < g.data_blocks)
		return corrupt(
		    res,
		    "data file is %llu bytes, shorter than the %llu blocks the superblock protects",
		    (unsigned long long)tar_size, (unsigned long long)g.data_blocks);
	if (tar_reg && tar_size != g.data_blocks * CN_VERITY_BLOCK)
		return corrupt(res,
			       "data file is %llu bytes: %llu bytes after offset %llu are not "
			       "protected by the hash tree",
			       (unsigned long long)tar_size,
			       (unsigned long long)(tar_size - g.data_blocks * CN_VERITY_BLOCK),
			       (unsigned long long)(g.data_blocks * CN_VERITY_BLOCK));
	if (ver_size < g.file_size || (ver_reg && ver_size != g.file_size))
		return corrupt(res, "hash file is %llu bytes, expected %llu for %llu data blocks",
			       (unsigned long long)ver_size, (unsigned long long)g.file_size,
			       (unsigned long long)g.data_blocks);

	cn_progress_begin(&prog, "verifying", g.data_blocks * CN_VERITY_BLOCK + g.file_size,
			  progress);
	for (unsigned i = 0; i < g.levels; i++) {
		bool bad = false, spare = false;
		uint64_t pos = 0;

		if (i == 0)
			r = cn_verity_verify_level(tar_fd, 0, g.data_blocks, ver_fd, g.level_off[0],
						   sb.salt, sb.salt_size, &prog, &bad, &pos,
						   &spare);
		else
			r = cn_verity_verify_level(
			    ver_fd, g.level_off[i - 1], g.level_blocks[i - 1], ver_fd,
			    g.level_off[i], sb.salt, sb.salt_size, &prog, &bad, &pos, &spare);
		if (r < 0) {
			cn_progress_end(&prog);
			return r;
		}
		if (bad) {
			cn_progress_end(&prog);
			res->bad_offset = pos;
			res->bad_in_hash_file = spare || i > 0;
			res->spare_area = spare;
			return corrupt(res,
				       spare ? "Spare area is not zeroed at position %llu."
					     : "Verification failed at position %llu.",
				       (unsigned long long)pos);
		}
	}
	cn_progress_end(&prog);
	blk = malloc(CN_VERITY_BLOCK);
	if (!blk)
		return -ENOMEM;
	r = g.levels ? cn_pread_all(ver_fd, blk, CN_VERITY_BLOCK, g.level_off[g.levels - 1])
		     : cn_pread_all(tar_fd, blk, CN_VERITY_BLOCK, 0);
	if (r < 0)
		return cn_err_set(r, "cannot read the top block: %s", strerror(-r));
	r = cn_verity_hasher_init(&h, sb.salt, sb.salt_size);
	if (r < 0)
		return r;
	r = cn_verity_hash_block(&h, blk, computed);
	cn_verity_hasher_done(&h);
	if (r < 0)
		return r;
	cn_hex(computed, sizeof(computed), res->root_hash);
	if (memcmp(computed, root, sizeof(computed)) != 0) {
		res->status = CN_VERITY_BAD_ROOT;
		(void)snprintf(res->message, sizeof(res->message),
			       "Verification of root hash failed.");
		return 0;
	}
	res->status = CN_VERITY_OK;
	return 0;
}

int cn_model_verify(const char *tar_path, const char *verity_path, const char *root_hex,
		    bool progress, struct cn_model_verify_result *ret)
{
	struct cn_model_verify_result res = {0};
	_cleanup_free_ char *vpath = NULL;
	_cleanup_close_ int tar_fd = -EBADF, ver_fd = -EBADF;
	uint8_t root[32];
	int r;

	if (!tar_path || !root_hex)
		return cn_err_set(-EINVAL, "verify: the tar and the root hash are required");
	if (strlen(root_hex) != 64 || cn_unhex_exact(root_hex, root, sizeof(root)) < 0)
		return cn_err_set(-EINVAL, "root hash '%s' is not 64 hex digits", root_hex);
	if (!verity_path) {
		if (asprintf(&vpath, "%s.verity", tar_path) < 0)
			return -ENOMEM;
		verity_path = vpath;
	}
	/* A regular file or a block device (an attached image disk); never waits on a FIFO. */
	r = cn_open_input_at(AT_FDCWD, tar_path, true, &tar_fd, NULL);
	if (r < 0)
		return cn_err_set(r, "cannot open '%s': %s", tar_path, cn_strerror(r));
	r = cn_open_input_at(AT_FDCWD, verity_path, true, &ver_fd, NULL);
	if (r < 0)
		return cn_err_set(r, "cannot open '%s': %s", verity_path, cn_strerror(r));
	(void)posix_fadvise(tar_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = verify_tree(tar_fd, ver_fd, root, progress, &res);
	if (r < 0)
		return r;
	*ret = res;
	return 0;
}
