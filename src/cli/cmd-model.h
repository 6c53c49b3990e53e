/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verbs of `cocoon model`, one file each group (cmd-model-*.c), listed in the verb table of
 * cmd-model.c. A new verb: a function here, its file, one line in the table.
 */

/* cmd-model-image.c */
int cli_model_verify(int argc, char **argv);
int cli_model_open(int argc, char **argv);
int cli_model_close(int argc, char **argv);
