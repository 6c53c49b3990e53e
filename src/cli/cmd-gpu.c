/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cocoon gpu list|verify|setup|restore, and the alias setup-gpu-vfio with the reference grammar
 * (no argument = list, BDF = verify, --setup BDF, --restore BDF). docs/reference/gpu.md.
 *
 * Exit codes (cli/exit.h): 0 ok / ready; 1 error (the operation failed, the device is missing or
 * unreadable); 2 usage (including a malformed PCI address); 3 not ready (verify), no GPU found
 * (list).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/gpu-args.h"

/* ---- list and verify: the library renders, this prints ---------------------------------- */

/* Prints a JSON value (taken) on stdout; CN_EXIT_ERROR when it is NULL or cannot be dumped. */
static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	json_decref(j);
	if (!s)
		return log_error("out of memory formatting JSON"), CN_EXIT_ERROR;
	(void)printf("%s\n", s);
	free(s);
	return CN_EXIT_OK;
}

static int do_list(struct gpu_args *a)
{
	_cleanup_free_ struct cn_vfio_gpu_info *g = NULL;
	size_t n = 0;

	if (cn_vfio_list(&a->o, true, &g, &n) < 0) {
		log_error("cannot list GPUs: %s", cn_err_msg());
		return CN_EXIT_ERROR;
	}
	if (a->json && print_json(cn_vfio_list_json(g, n)) != CN_EXIT_OK)
		return CN_EXIT_ERROR;
	if (n == 0)
		log_error("no NVIDIA GPU or NVSwitch found: looked at every PCI function in "
			  "%s/bus/pci/devices for vendor 10de with a display (03xx) or NVSwitch "
			  "(0680) class; is the GPU visible to this host ('lspci -d 10de:')?",
			  a->o.roots.sysfs ? a->o.roots.sysfs : "/sys");
	else if (!a->json)
		cn_vfio_list_print(stdout, g, n);
	return n > 0 ? CN_EXIT_OK : CN_EXIT_NOT_READY;
}

static int do_verify(struct gpu_args *a, const char *bdf)
{
	_cleanup_free_ struct cn_vfio_verdict *v = calloc(1, sizeof(*v));

	if (!v)
		return CN_EXIT_ERROR;
	if (cn_vfio_verify(&a->o, bdf, v) < 0) {
		log_error("cannot verify '%s': %s", bdf, cn_err_msg());
		/* A machine reader still gets an answer: not ready, and why. */
		if (a->json)
			(void)print_json(cn_vfio_verify_error_json(bdf, cn_err_msg()));
		return CN_EXIT_ERROR;
	}
	if (a->json) {
		if (print_json(cn_vfio_verdict_json(v)) != CN_EXIT_OK)
			return CN_EXIT_ERROR;
	} else {
		cn_vfio_verdict_print(stdout, v);
	}
	return v->n == 0 ? CN_EXIT_OK : CN_EXIT_NOT_READY;
}

static int do_change(struct gpu_args *a, bool setup)
{
	int r = setup ? cn_vfio_setup(&a->o, a->bdf) : cn_vfio_restore(&a->o, a->bdf);

	if (r < 0)
		log_error("cannot %s '%s': %s", setup ? "set up" : "restore", a->bdf, cn_err_msg());
	/* restore returns 1 when done but the nvidia module is not loaded (a note says so). */
	return r == 0 ? CN_EXIT_OK : CN_EXIT_ERROR;
}

/* ---- verbs ------------------------------------------------------------------------------- */

enum gpu_op { OP_LIST, OP_VERIFY, OP_SETUP, OP_RESTORE };

static const char *const verb_usage[] = {
    [OP_LIST] = "Usage: cocoon gpu list [OPTIONS]\n\n"
		"Lists NVIDIA GPUs and NVSwitches from sysfs: address, product, driver, IOMMU\n"
		"group and its other members, NUMA node, CC and PPCIe mode (root only).\n",
    [OP_VERIFY] = "Usage: cocoon gpu verify BDF [OPTIONS]\n\n"
		  "Read-only. Exits 0 only when the GPU is ready for passthrough: bound to\n"
		  "vfio-pci, CC mode on, PPCIe off, the rest of its IOMMU group on vfio-pci or no\n"
		  "driver, nobody holding it, device nodes present with the VMM's group and mode\n"
		  "0660. Otherwise one line per unmet condition with the command that fixes it,\n"
		  "exit 3. BDF: 01:00.0, 0000:01:00.0 or 0000:01:00.00.\n",
    [OP_SETUP] = "Usage: cocoon gpu setup BDF [OPTIONS]   (root)\n\n"
		 "Prepares the GPU for TDX passthrough: refuses if it is in use, writes the udev\n"
		 "rule for its device nodes, detaches it (and the rest of its IOMMU group) from\n"
		 "the host driver and binds vfio-pci (driver_override + unbind + drivers_probe),\n"
		 "then switches PPCIe off (Hopper, if on) and CC mode on with gpu-admin-tools,\n"
		 "and checks the result. A second run changes nothing.\n",
    [OP_RESTORE] = "Usage: cocoon gpu restore BDF [OPTIONS]   (root)\n\n"
		   "Gives the GPU back to the nvidia driver: refuses if a VMM holds it, unbinds\n"
		   "vfio-pci, clears driver_override, switches CC (and PPCIe) off while nothing\n"
		   "is bound, then reprobes. Exit 1 if the nvidia module is not loaded.\n",
};

static int run_op(struct gpu_args *a, enum gpu_op op)
{
	int r = op == OP_LIST ? -1 : gpu_take_bdf(a);

	if (r >= 0)
		return r;
	switch (op) {
	case OP_LIST:
		return do_list(a);
	case OP_VERIFY:
		return do_verify(a, a->bdf);
	default:
		return do_change(a, op == OP_SETUP);
	}
}

/* Every verb: argv[0] is its name, which selects the operation. */
static int run_verb(int argc, char **argv)
{
	static const char *const names[] = {"list", "verify", "setup", "restore"};
	struct gpu_args a = {0};
	enum gpu_op op = OP_LIST;
	int r;

	while (op < OP_RESTORE && strcmp(argv[0], names[op]) != 0)
		op++;
	r = gpu_parse_args(argc, argv, &a, false, verb_usage[op]);
	if (r < 0)
		return r == -1 ? CN_EXIT_OK : CN_EXIT_USAGE;
	if (cli_check_args((unsigned)a.n_pos) != 0)
		return CN_EXIT_USAGE;
	return run_op(&a, op);
}

static const struct cli_verb gpu_verbs[] = {
    {"list", run_verb, "list NVIDIA GPUs and NVSwitches with driver, IOMMU group, CC mode", 0, 0,
     ""},
    {"verify", run_verb, "exit 0 only if a GPU is ready for passthrough", 1, 1, "BDF"},
    {"setup", run_verb, "bind a GPU to vfio-pci with CC mode on (root)", 1, 1, "BDF"},
    {"restore", run_verb, "give a GPU back to nvidia with CC mode off (root)", 1, 1, "BDF"},
    {0},
};

int cmd_gpu(int argc, char **argv)
{
	return cli_dispatch(cli_prog(), "gpu", gpu_verbs, argc, argv);
}

/* The reference grammar: no argument = list, BDF = verify, --setup BDF, --restore BDF. */
int alias_setup_gpu_vfio(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: setup-gpu-vfio [OPTIONS]                 list GPUs\n"
	    "       setup-gpu-vfio [OPTIONS] BDF             verify one GPU (exit 3 if not ready)\n"
	    "       setup-gpu-vfio [OPTIONS] --setup BDF     prepare it for passthrough (root)\n"
	    "       setup-gpu-vfio [OPTIONS] --restore BDF   give it back to nvidia (root)\n"
	    "\nSame as 'cocoon gpu list|verify|setup|restore'.\n";
	struct gpu_args a = {0};
	int r = gpu_parse_args(argc, argv, &a, true, usage);

	if (r < 0)
		return r == -1 ? CN_EXIT_OK : CN_EXIT_USAGE;
	if (a.setup && a.restore) {
		log_error("--setup and --restore are mutually exclusive");
		return CN_EXIT_USAGE;
	}
	if ((a.setup || a.restore) && a.n_pos != 1) {
		log_error("PCI address required after %s", a.setup ? "--setup" : "--restore");
		return CN_EXIT_USAGE;
	}
	if (a.n_pos > 1) {
		log_error("unexpected argument '%s' (try '--help')", a.pos[1]);
		return CN_EXIT_USAGE;
	}
	return run_op(&a, a.setup     ? OP_SETUP
			  : a.restore ? OP_RESTORE
			  : a.n_pos   ? OP_VERIFY
				      : OP_LIST);
}
