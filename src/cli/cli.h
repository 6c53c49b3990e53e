/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The thin CLI. Each top-level command is one function that parses its own options
 * (getopt_long) and returns the process exit status from the one table in cli/exit.h.
 * Library errors are logged once, here, with cn_err_msg().
 */
#include <stdbool.h>
#include <stdio.h>

#include "cli/exit.h"

/* Older names of the table's first three codes. */
#define CLI_EXIT_OK CN_EXIT_OK
#define CLI_EXIT_FAIL CN_EXIT_ERROR
#define CLI_EXIT_USAGE CN_EXIT_USAGE

/* argv[0] is the command name ("model", or "build-model" when called through an alias). */
int cmd_model(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_gpu(int argc, char **argv);
int cmd_launch(int argc, char **argv);
/* cocoon model mount|unmount (cmd-model-mount.c), verbs of cmd_model. */
int cmd_model_mount(int argc, char **argv);
int cmd_model_unmount(int argc, char **argv);
/* cocoon model push | pull (cmd-model-oci.c; argv[0] = verb). */
int cmd_model_push(int argc, char **argv);
int cmd_model_pull(int argc, char **argv);

/* `cocoon attest run` (cmd-attest-run.c); prog is "cocoon attest" or "gpu-attest". */
int attest_verb_run(int argc, char **argv, const char *prog);

/* Multi-call aliases: argv[0] is the alias; the reference grammar applies. */
int alias_build_model(int argc, char **argv);	 /* = cocoon model build */
int alias_gpu_attest(int argc, char **argv);	 /* = cocoon attest */
int alias_setup_gpu_vfio(int argc, char **argv); /* reference setup-gpu-vfio grammar */
int alias_cocoon_launch(int argc, char **argv);	 /* = cocoon launch */

/*
 * A sub-verb table for commands with verbs (cocoon model build|verify|open ...). min_args and
 * max_args bound the positional arguments left after the options (args names them); a verb
 * checks them with cli_check_args() once getopt is done.
 */
struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] = verb name */
	const char *summary;
	unsigned min_args, max_args;
	const char *args; /* synopsis of the positionals, e.g. "BDF" */
};

/*
 * Checks n positional arguments against the table entry of the verb being run (set by
 * cli_dispatch). 0 when they fit (or no verb is being run), else logs one usage line naming
 * the verb and what it takes, and returns CN_EXIT_USAGE.
 */
int cli_check_args(unsigned n);

/*
 * Runs the verb named by argv[1] of a command (argv[0] = command). Handles "--help"/"-h"/"help"
 * and no verb by printing the verb list; an unknown verb is a usage error naming it.
 */
int cli_dispatch(const char *prog, const char *command, const struct cli_verb *verbs, int argc,
		 char **argv);

/* Prints the verb list of a command to f. */
void cli_print_verbs(FILE *f, const char *prog, const char *command, const struct cli_verb *verbs);

/* The program name for messages ("cocoon" or the alias). */
const char *cli_prog(void);
