/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon gpu (alias setup-gpu-vfio). Placeholder until its issue lands. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"

int cmd_gpu(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		(void)printf("Not implemented yet.\n");
		return CLI_EXIT_OK;
	}
	log_error("'cocoon gpu' is not implemented yet");
	return CLI_EXIT_FAIL;
}

int alias_setup_gpu_vfio(int argc, char **argv)
{
	return cmd_gpu(argc, argv);
}
