/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon launch (alias cocoon-launch). Placeholder until its issue lands. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"

int cmd_launch(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		(void)printf("Not implemented yet.\n");
		return CLI_EXIT_OK;
	}
	log_error("'cocoon launch' is not implemented yet");
	return CLI_EXIT_FAIL;
}

int alias_cocoon_launch(int argc, char **argv)
{
	return cmd_launch(argc, argv);
}
