/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon launch (alias cocoon-launch): starts one TDX guest (worker or proxy) for one GPU.
 *
 *   cocoon-launch [OPTIONS] CONFIG [-- EXTRA-QEMU-ARGS...]
 *
 * Options and output only; the use case (plan, prepare, exec) is src/launch/run.c.
 * Exit codes: see usage() and docs/reference/launch.md.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/exit.h"
#include "launch/launch.h"
#include "cli/launch-args.h"
#include "launch/run.h"

static int resolve_env(struct cn_launch_env *env, char *cwd, size_t cwd_size, char *run,
		       size_t run_size)
{
	const char *root = getenv("COCOON_ROOT"), *xdg = getenv("XDG_RUNTIME_DIR");

	if (!getcwd(cwd, cwd_size))
		return log_error_errno(-errno, "cannot get the working directory");
	*env = (struct cn_launch_env){
	    .cwd = cwd,
	    .root = root && root[0] == '/' ? root : cwd,
	    .images_dir = getenv("COCOON_IMAGES_DIR"),
	    .hf_token = getenv("HF_TOKEN"),
	    .build_dir = getenv("BUILD_DIR"),
	    .registry = getenv("COCOON_REGISTRY"),
	};
	if (root && *root && root[0] != '/')
		log_warning("COCOON_ROOT '%s' is not absolute: ignored", root);
	if (geteuid() == 0)
		(void)snprintf(run, run_size, "/run/cocoon");
	else if (xdg && xdg[0] == '/')
		(void)snprintf(run, run_size, "%s/cocoon", xdg);
	else
		run[0] = '\0';
	env->run_dir = run[0] ? run : NULL;
	return 0;
}

static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	if (!s)
		return log_error_synth(-ENOMEM, "cannot format the JSON output (a path that is "
						"not UTF-8?)"),
		       CLI_EXIT_FAIL;
	(void)printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* --print-only: the shell-quoted line, or {argv, spec_tree, spec_source} with --json. */
static int print_plan(const struct cn_launch_plan *p, bool json)
{
	_cleanup_free_ char *s = NULL;
	json_t *argv;

	if (!json) {
		s = cn_launch_argv_shell(p->argv.v, p->argv.n);
		if (!s)
			return log_error_synth(-ENOMEM, "out of memory"), CLI_EXIT_FAIL;
		(void)printf("%s\n", s);
		log_info("spec tree %s (cocoon:spec.tree the guest will measure)", p->spec_tree);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	argv = json_array();
	for (size_t i = 0; argv && i < p->argv.n; i++)
		if (json_array_append_new(argv, json_string(p->argv.v[i])) < 0) {
			json_decref(argv);
			argv = NULL;
		}
	if (!argv)
		return print_json(NULL);
	return print_json(json_pack("{s:o,s:s,s:s}", "argv", argv, "spec_tree", p->spec_tree,
				    "spec_source", p->cfg.spec_dir));
}

static int print_prepared(const struct cn_launch_plan *p, bool json)
{
	if (!json) {
		(void)printf("%s\n", p->spec_share);
		log_info("spec tree %s (cocoon:spec.tree the guest will measure)", p->spec_tree);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	return print_json(json_pack("{s:s,s:s,s:s}", "spec_dir", p->spec_share, "spec_tree",
				    p->spec_tree, "instance", p->name));
}

/* The use case's outcome → the one exit-code table (cli/exit.h), explicitly. */
static int exit_code(enum cn_launch_status st)
{
	switch (st) {
	case CN_LAUNCH_OK:
		return CN_EXIT_OK;
	case CN_LAUNCH_CONFIG:
		return CN_EXIT_USAGE;
	case CN_LAUNCH_GPU_NOT_READY:
		return CN_EXIT_NOT_READY;
	case CN_LAUNCH_PREREQ:
		return CN_EXIT_PREREQ;
	case CN_LAUNCH_IN_USE:
		return CN_EXIT_IN_USE;
	case CN_LAUNCH_FAIL:
	default:
		return CN_EXIT_ERROR;
	}
}

static int fail_status(enum cn_launch_status st, const struct cn_launch_plan *p)
{
	log_error("%s", cn_err_msg());
	for (size_t i = 0; i < p->gpu_problems.n; i++)
		log_error("  %s", p->gpu_problems.v[i]);
	return exit_code(st);
}

static int run_launch(int argc, char **argv)
{
	_cleanup_(launch_args_done) struct launch_args a = {0};
	_cleanup_(cn_launch_plan_done) struct cn_launch_plan p = {.lock_fd = -EBADF};
	struct cn_launch_env env;
	struct cn_launch_request req;
	char cwd[PATH_MAX], run[PATH_MAX];
	enum cn_launch_status st;
	int r;

	r = launch_parse_args(argc, argv, &a);
	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	if (resolve_env(&env, cwd, sizeof(cwd), run, sizeof(run)) < 0)
		return CLI_EXIT_FAIL;
	req = (struct cn_launch_request){
	    .config = a.config,
	    .overrides = &a.cli,
	    .set_keys = a.set_keys.v,
	    .set_values = a.set_values.v,
	    .n_set = a.set_keys.n,
	    .no_tdx = a.no_tdx,
	    .print_only = a.print_only,
	    .prepare_only = a.prepare_only,
	    .skip_build = a.skip_build,
	    .just_build = a.just_build,
	    .model_image = a.model_image,
	    .dev_dir = a.dev_dir,
	    .sysfs_dir = a.sysfs_dir,
	    .extra = a.extra,
	    .n_extra = a.n_extra,
	    .env = &env,
	};
	st = cn_launch_plan(&req, &p);
	if (st != CN_LAUNCH_OK)
		return fail_status(st, &p);
	if (a.just_build) { /* the line build-model prints */
		if (!p.have_model)
			return log_error_synth(-ENOENT, "model %s: not built", p.cfg.model),
			       CLI_EXIT_FAIL;
		(void)printf("%s@%s:%s %s\n", p.model.name, p.model.commit, p.model.root_hash,
			     p.model.tar_path);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	if (a.print_only) {
		st = cn_launch_predict(&req, &p);
		return st != CN_LAUNCH_OK ? fail_status(st, &p) : print_plan(&p, a.json);
	}
	st = cn_launch_prepare(&req, &p);
	if (st != CN_LAUNCH_OK)
		return fail_status(st, &p);
	if (a.prepare_only)
		return print_prepared(&p, a.json);
	return fail_status(cn_launch_exec(&p), &p);
}

int cmd_launch(int argc, char **argv)
{
	return run_launch(argc, argv);
}

int alias_cocoon_launch(int argc, char **argv)
{
	return cmd_launch(argc, argv);
}
