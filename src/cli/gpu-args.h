/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* cocoon gpu and setup-gpu-vfio: the parsed command line (src/cli/gpu-args.c). */
#include <stdbool.h>
#include <stddef.h>

#include "vfio/vfio.h"

#define GPU_ALLOW_MAX 16

struct gpu_args {
	struct cn_vfio_opts o;
	bool json;
	char bdf[CN_PCI_ADDR_BUFSZ]; /* the canonical form of pos[0] (verify, setup, restore) */
	const char *allow[GPU_ALLOW_MAX];
	/* alias only */
	bool setup, restore;
	const char *pos[4];
	size_t n_pos;
};

/*
 * Parses options into a (and wires its notes to stdout for --dry-run, else stderr); positionals
 * into a->pos. alias: the setup-gpu-vfio grammar (--setup, --restore). usage heads --help.
 * Returns 0, -1 after --help (exit 0), -2 on a usage error (logged).
 */
int gpu_parse_args(int argc, char **argv, struct gpu_args *a, bool alias, const char *usage);

/* The one PCI address of a verb into a->bdf, canonical: -1 when it is one, else CN_EXIT_USAGE
 * (logged). */
int gpu_take_bdf(struct gpu_args *a);
