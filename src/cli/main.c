/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon: one multi-call binary. `cocoon VERB ...`, or called as one of the operators' names:
 * build-model, gpu-attest, setup-gpu-vfio, cocoon-launch.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "config.h"

static const char *prog_name = "cocoon";

const char *cli_prog(void)
{
	return prog_name;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"model", cmd_model, "build, verify and open dm-verity model images"},
    {"attest", cmd_attest,
     "verify GPU attestation evidence, write OCSP requests (verify, ocsp-request)"},
    {"gpu", cmd_gpu, "list, verify, prepare and restore GPUs for VFIO passthrough"},
    {"launch", cmd_launch, "build the QEMU/TDX command line for one worker and start it"},
};

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} aliases[] = {
    {"build-model", alias_build_model},
    {"gpu-attest", alias_gpu_attest},
    {"setup-gpu-vfio", alias_setup_gpu_vfio},
    {"cocoon-launch", alias_cocoon_launch},
};

static void usage(FILE *f)
{
	(void)fprintf(f, "Usage: cocoon [--version] [--help] COMMAND [ARGS...]\n"
			 "\n"
			 "GPU confidential-computing tools for COCOON workers.\n"
			 "\n"
			 "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		(void)fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	(void)fprintf(
	    f, "\n"
	       "Also callable as build-model, gpu-attest, setup-gpu-vfio and cocoon-launch.\n"
	       "Run 'cocoon COMMAND --help' for a command's options. See docs/reference.md.\n");
}

void cli_print_verbs(FILE *f, const char *prog, const char *command, const struct cli_verb *verbs)
{
	(void)fprintf(f, "Usage: %s %s VERB [OPTIONS...]\n\nVerbs:\n", prog, command);
	for (const struct cli_verb *v = verbs; v->name; v++)
		(void)fprintf(f, "  %-10s %s\n", v->name, v->summary);
	(void)fprintf(f, "\nRun '%s %s VERB --help' for a verb's options.\n", prog, command);
}

static const struct cli_verb *current_verb;
static const char *current_command;

int cli_check_args(unsigned n)
{
	const struct cli_verb *v = current_verb;

	if (!v || (n >= v->min_args && n <= v->max_args))
		return 0;
	if (v->min_args == v->max_args)
		log_error("%s %s takes exactly %u argument%s (%s), not %u (try '%s %s %s --help')",
			  current_command, v->name, v->min_args, v->min_args == 1 ? "" : "s",
			  v->args ? v->args : "", n, cli_prog(), current_command, v->name);
	else
		log_error("%s %s takes %u to %u arguments (%s), not %u (try '%s %s %s --help')",
			  current_command, v->name, v->min_args, v->max_args,
			  v->args ? v->args : "", n, cli_prog(), current_command, v->name);
	return CN_EXIT_USAGE;
}

int cli_dispatch(const char *prog, const char *command, const struct cli_verb *verbs, int argc,
		 char **argv)
{
	if (argc < 2) {
		cli_print_verbs(stderr, prog, command, verbs);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_print_verbs(stdout, prog, command, verbs);
		return CLI_EXIT_OK;
	}
	for (const struct cli_verb *v = verbs; v->name; v++)
		if (strcmp(v->name, argv[1]) == 0) {
			current_verb = v;
			current_command = command;
			return v->run(argc - 1, argv + 1);
		}
	log_error("unknown verb '%s' for '%s' (try '%s %s --help')", argv[1], command, prog,
		  command);
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *base;

	if (argc < 1 || !argv[0])
		return CLI_EXIT_USAGE;
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(base, aliases[i].name) == 0) {
			prog_name = aliases[i].name;
			cn_log_open_stderr(prog_name);
			return aliases[i].run(argc, argv);
		}

	cn_log_open_stderr("cocoon");
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		(void)printf("cocoon %s\n", COCOON_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);

	log_error("unknown command '%s' (try 'cocoon --help')", argv[1]);
	return CLI_EXIT_USAGE;
}
