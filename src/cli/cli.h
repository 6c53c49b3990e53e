/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The thin CLI. Each top-level command is one function that parses its own options
 * (getopt_long) and returns the process exit status (commands document their own codes;
 * 2 is always a usage error). Library errors are logged once, here, with cn_err_msg().
 */
#include <stdbool.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* argv[0] is the command name ("model", or "build-model" when called through an alias). */
int cmd_model(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_gpu(int argc, char **argv);
int cmd_launch(int argc, char **argv);

/* `cocoon attest run` (cmd-attest-run.c); prog is "cocoon attest" or "gpu-attest". */
int attest_verb_run(int argc, char **argv, const char *prog);

/* Multi-call aliases: argv[0] is the alias; the reference grammar applies. */
int alias_build_model(int argc, char **argv);	 /* = cocoon model build */
int alias_gpu_attest(int argc, char **argv);	 /* = cocoon attest */
int alias_setup_gpu_vfio(int argc, char **argv); /* reference setup-gpu-vfio grammar */
int alias_cocoon_launch(int argc, char **argv);	 /* = cocoon launch */

/* A sub-verb table for commands with verbs (cocoon model build|verify|open ...). */
struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] = verb name */
	const char *summary;
};

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
