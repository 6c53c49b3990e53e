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
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "vfio/vfio.h"

#define ALLOW_MAX 16

struct gpu_args {
	struct cn_vfio_opts o;
	bool json;
	char bdf[CN_PCI_ADDR_BUFSZ]; /* the canonical form of pos[0] (verify, setup, restore) */
	const char *allow[ALLOW_MAX];
	/* alias only */
	bool setup, restore;
	const char *pos[4];
	size_t n_pos;
};

enum {
	OPT_JSON = 0x100,
	OPT_DRY_RUN,
	OPT_SYSFS, /* OPT_SYSFS..OPT_UDEVADM: path options, stored as given */
	OPT_DEV,
	OPT_PROC,
	OPT_TOOLS,
	OPT_RULES,
	OPT_UDEVADM,
	OPT_TOOLS_SHA256,
	OPT_ALLOW,
	OPT_TIMEOUT,
	OPT_SETUP,
	OPT_REBIND,
	OPT_RESTORE,
};

static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"json", no_argument, NULL, OPT_JSON},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"sysfs", required_argument, NULL, OPT_SYSFS},
    {"dev", required_argument, NULL, OPT_DEV},
    {"proc", required_argument, NULL, OPT_PROC},
    {"gpu-admin-tools", required_argument, NULL, OPT_TOOLS},
    {"gpu-admin-tools-sha256", required_argument, NULL, OPT_TOOLS_SHA256},
    {"udev-rules-dir", required_argument, NULL, OPT_RULES},
    {"udevadm", required_argument, NULL, OPT_UDEVADM},
    {"allow-group-member", required_argument, NULL, OPT_ALLOW},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"setup", no_argument, NULL, OPT_SETUP},
    {"rebind", no_argument, NULL, OPT_REBIND},
    {"restore", no_argument, NULL, OPT_RESTORE},
    {0},
};

static const char common_help[] =
    "\nOptions:\n"
    "  --json                    machine-readable output (list, verify)\n"
    "  --dry-run                 print every sysfs write and command, change nothing (setup, "
    "restore)\n"
    "  --gpu-admin-tools PATH    NVIDIA gpu-admin-tools checkout or nvidia_gpu_tools.py\n"
    "                            (default $GPU_ADMIN_TOOLS_DIR; never downloaded)\n"
    "  --gpu-admin-tools-sha256 HEX  refuse to run nvidia_gpu_tools.py unless it has this\n"
    "                            SHA-256 (default $GPU_ADMIN_TOOLS_SHA256)\n"
    "  --allow-group-member BDF  let setup take this other endpoint of the GPU's IOMMU group\n"
    "  --rebind                  setup: unbind and rebind vfio-pci even when already bound\n"
    "                            (cures iommufd EINVAL after a VMM crash loop)\n"
    "  --timeout SEC             give up waiting for a driver to unbind or bind after SEC\n"
    "                            seconds (default 30 for unbind, 10 for bind)\n"
    "  --sysfs DIR               sysfs root (default /sys)\n"
    "  --dev DIR                 device root (default /dev)\n"
    "  --proc DIR                procfs root (default /proc)\n"
    "  --udev-rules-dir DIR      where setup writes " CN_VFIO_UDEV_RULE_NAME
    " (/etc/udev/rules.d)\n"
    "  --udevadm PATH            udevadm to run (default: from the system directories)\n"
    "  -h, --help                this help\n"
    "\n"
    "Environment: GPU_ADMIN_TOOLS_DIR, GPU_ADMIN_TOOLS_SHA256, VFIO_DEVICE_GROUP (group of\n"
    "the VFIO device nodes; default the first of kvm, vfio, libvirt).\n"
    "Exit status: 0 ok (verify: ready), 1 error, 2 usage (also a malformed BDF),\n"
    "3 not ready (verify) or no GPU found (list).\n";

static void note_cb(void *userdata, const char *line)
{
	const struct gpu_args *a = userdata;
	char esc[1024];

	cn_escape_ctl(line, esc, sizeof(esc));
	if (a->o.dry_run)
		(void)printf("%s\n", esc);
	else
		(void)fprintf(stderr, "%s: %s\n", cli_prog(), esc);
}

/* The value of one option with a checked argument into a; -2 (usage) when it is malformed. */
static int parse_value(int c, const char *v, struct gpu_args *a)
{
	char bdf[CN_PCI_ADDR_BUFSZ];
	uint8_t pin[32];
	uint32_t sec;

	switch (c) {
	case OPT_TOOLS_SHA256:
		if (strlen(v) != 64 || cn_unhex_exact(v, pin, sizeof(pin)) < 0)
			return log_error("--gpu-admin-tools-sha256: '%s' is not 64 hex digits", v),
			       -2;
		a->o.gat_sha256 = v;
		return 0;
	case OPT_ALLOW:
		if (cn_pci_addr_normalize(v, bdf) < 0)
			return log_error("--allow-group-member: '%s' is not a PCI address", v), -2;
		if (a->o.n_allow_members == ALLOW_MAX)
			return log_error("--allow-group-member given more than %d times",
					 ALLOW_MAX),
			       -2;
		a->allow[a->o.n_allow_members++] = v;
		return 0;
	default: /* OPT_TIMEOUT */
		if (cn_parse_u32(v, 3600, &sec) < 0 || sec == 0)
			return log_error("--timeout: '%s' is not 1..3600 seconds", v), -2;
		a->o.unbind_timeout_ms = a->o.probe_timeout_ms = (int)sec * 1000;
		return 0;
	}
}

/* Parses options into a; positionals into a->pos. Returns -1 to exit 0 (help), -2 usage. */
static int parse(int argc, char **argv, struct gpu_args *a, bool alias, const char *usage)
{
	const char **paths[] = {
	    [OPT_SYSFS - OPT_SYSFS] = &a->o.roots.sysfs,
	    [OPT_DEV - OPT_SYSFS] = &a->o.roots.dev,
	    [OPT_PROC - OPT_SYSFS] = &a->o.roots.proc,
	    [OPT_TOOLS - OPT_SYSFS] = &a->o.roots.gpu_admin_tools,
	    [OPT_RULES - OPT_SYSFS] = &a->o.udev_rules_dir,
	    [OPT_UDEVADM - OPT_SYSFS] = &a->o.udevadm,
	};
	int c;

	a->o.note = note_cb;
	a->o.userdata = a;
	a->o.allow_members = a->allow;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			(void)printf("%s%s", usage, common_help);
			return -1;
		} else if (c == OPT_JSON) {
			a->json = true;
		} else if (c == OPT_DRY_RUN) {
			a->o.dry_run = true;
		} else if (c == OPT_REBIND) {
			a->o.rebind = true;
		} else if (c >= OPT_SYSFS && c <= OPT_UDEVADM) {
			*paths[c - OPT_SYSFS] = optarg;
		} else if (c == OPT_TOOLS_SHA256 || c == OPT_ALLOW || c == OPT_TIMEOUT) {
			if (parse_value(c, optarg, a) < 0)
				return -2;
		} else if ((c == OPT_SETUP || c == OPT_RESTORE) && alias) {
			*(c == OPT_SETUP ? &a->setup : &a->restore) = true;
		} else {
			log_error("unknown option '%s' (try '%s --help')", argv[optind - 1],
				  alias ? cli_prog() : "cocoon gpu VERB");
			return -2;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->n_pos == ELEMENTSOF(a->pos)) {
			log_error("too many arguments");
			return -2;
		}
		a->pos[a->n_pos++] = argv[i];
	}
	return 0;
}

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
			(void)print_json(json_pack("{s:s, s:b, s:s}", "bdf", bdf, "ready", 0,
						   "error", cn_err_msg()));
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

/* The one PCI address of a verb, in its canonical form; a malformed one is a usage error. */
static int take_bdf(struct gpu_args *a)
{
	if (cn_pci_addr_normalize(a->pos[0], a->bdf) < 0) {
		log_error("'%s' is not a PCI address (BDF: 01:00.0, 0000:01:00.0 or 0000:01:00.00)",
			  a->pos[0]);
		return CN_EXIT_USAGE;
	}
	return -1;
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
	int r = op == OP_LIST ? -1 : take_bdf(a);

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
	r = parse(argc, argv, &a, false, verb_usage[op]);
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
	int r = parse(argc, argv, &a, true, usage);

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
