/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The single-pass image writer, internal to src/model (exposed for unit tests). */
#include <stdint.h>

#include "model/tar.h"
#include "model/verity.h"

struct cn_progress;

/*
 * Streams the tar of plan (source root_dir) to tar_fd and its verity level 0 to verity_fd,
 * hashing on all cores and computing each file's SHA-256 (into plan->e[i].sha256), then finishes
 * the hash file. Fails with -EIO/-EINVAL (path in cn_err_msg()) if a file changed since the scan.
 */
int cn_image_write(struct cn_tar_plan *plan, const char *root_dir, int tar_fd, int verity_fd,
		   struct cn_progress *progress, uint8_t ret_root[CN_VERITY_DIGEST]);

/* The hash file for an existing padded tar (reads it once, all cores). */
int cn_image_verity_from_tar(int tar_fd, uint64_t size, int verity_fd, struct cn_progress *progress,
			     uint8_t ret_root[CN_VERITY_DIGEST]);
