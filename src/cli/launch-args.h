/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* cocoon launch: the parsed command line (src/cli/launch-args.c). */
#include <stdbool.h>
#include <stddef.h>

#include "base/strv.h"
#include "launch/launch.h"

struct launch_args {
	struct cn_launch_settings cli;
	struct cn_strv set_keys, set_values;
	bool print_only, json, skip_build, just_build, prepare_only, no_tdx;
	const char *dev_dir, *sysfs_dir, *model_image;
	const char *config;
	char **extra;
	size_t n_extra;
};

void launch_args_done(struct launch_args *a);
/* "cocoon launch" or the alias name. */
const char *launch_prog(void);
/* 0 parsed; -1 after --help (exit 0); > 0 the exit code of a usage error (already printed). */
int launch_parse_args(int argc, char **argv, struct launch_args *a);
