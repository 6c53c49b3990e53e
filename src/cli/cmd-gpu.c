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
	OPT_SYSFS,
	OPT_DEV,
	OPT_PROC,
	OPT_TOOLS,
	OPT_TOOLS_SHA256,
	OPT_RULES,
	OPT_UDEVADM,
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
    "Options:\n"
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

/* Parses options into a; positionals into a->pos. Returns -1 to exit 0 (help), -2 usage. */
static int parse(int argc, char **argv, struct gpu_args *a, bool alias, void (*help)(FILE *))
{
	int c;

	a->o.note = note_cb;
	a->o.userdata = a;
	a->o.allow_members = a->allow;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help(stdout);
			return -1;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_DRY_RUN:
			a->o.dry_run = true;
			break;
		case OPT_SYSFS:
			a->o.roots.sysfs = optarg;
			break;
		case OPT_DEV:
			a->o.roots.dev = optarg;
			break;
		case OPT_PROC:
			a->o.roots.proc = optarg;
			break;
		case OPT_TOOLS:
			a->o.roots.gpu_admin_tools = optarg;
			break;
		case OPT_TOOLS_SHA256: {
			uint8_t pin[32];

			if (strlen(optarg) != 64 || cn_unhex_exact(optarg, pin, sizeof(pin)) < 0) {
				log_error("--gpu-admin-tools-sha256: '%s' is not 64 hex digits",
					  optarg);
				return -2;
			}
			a->o.gat_sha256 = optarg;
			break;
		}
		case OPT_RULES:
			a->o.udev_rules_dir = optarg;
			break;
		case OPT_UDEVADM:
			a->o.udevadm = optarg;
			break;
		case OPT_ALLOW: {
			char bdf[CN_PCI_ADDR_BUFSZ];

			if (cn_pci_addr_normalize(optarg, bdf) < 0) {
				log_error("--allow-group-member: '%s' is not a PCI address",
					  optarg);
				return -2;
			}
			if (a->o.n_allow_members == ALLOW_MAX) {
				log_error("--allow-group-member given more than %d times",
					  ALLOW_MAX);
				return -2;
			}
			a->allow[a->o.n_allow_members++] = optarg;
			break;
		}
		case OPT_TIMEOUT: {
			uint32_t s;

			if (cn_parse_u32(optarg, 3600, &s) < 0 || s == 0) {
				log_error("--timeout: '%s' is not 1..3600 seconds", optarg);
				return -2;
			}
			a->o.unbind_timeout_ms = (int)s * 1000;
			a->o.probe_timeout_ms = (int)s * 1000;
			break;
		}
		case OPT_REBIND:
			a->o.rebind = true;
			break;
		case OPT_SETUP:
		case OPT_RESTORE:
			if (!alias) {
				log_error("unknown option '%s' (try '%s gpu --help')",
					  argv[optind - 1], cli_prog());
				return -2;
			}
			if (c == OPT_SETUP)
				a->setup = true;
			else
				a->restore = true;
			break;
		default:
			log_error("invalid option (try '--help')");
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

/* ---- list -------------------------------------------------------------------------------- */

static int print_list_json(const struct cn_vfio_gpu_info *g, size_t n)
{
	json_t *arr = json_array();
	char *s;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *members = json_array(), *o;
		char id[16], cls[16];

		(void)snprintf(id, sizeof(id), "%04x:%04x", g[i].f.vendor, g[i].f.device);
		(void)snprintf(cls, sizeof(cls), "0x%06x", g[i].f.class_code);
		for (size_t j = 0; members && j < g[i].n_members; j++) {
			const struct cn_vfio_func *m = &g[i].members[j];
			char mid[16], mcls[16];

			(void)snprintf(mid, sizeof(mid), "%04x:%04x", m->vendor, m->device);
			(void)snprintf(mcls, sizeof(mcls), "0x%06x", m->class_code);
			(void)json_array_append_new(
			    members,
			    json_pack("{s:s, s:s, s:s, s:s, s:o}", "bdf", m->bdf, "kind",
				      cn_vfio_kind_name(m->kind), "id", mid, "class", mcls,
				      "driver",
				      m->driver[0] ? json_string(m->driver) : json_null()));
		}
		o = json_pack(
		    "{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:s}", "bdf", g[i].f.bdf,
		    "kind", cn_vfio_kind_name(g[i].f.kind), "id", id, "name",
		    g[i].product ? json_string(g[i].product) : json_null(), "class", cls, "driver",
		    g[i].f.driver[0] ? json_string(g[i].f.driver) : json_null(), "iommu_group",
		    g[i].f.iommu_group >= 0 ? json_integer(g[i].f.iommu_group) : json_null(),
		    "group_members", members ? members : json_null(), "numa_node",
		    g[i].f.numa_node >= 0 ? json_integer(g[i].f.numa_node) : json_null(), "cc_mode",
		    g[i].cc.raw, "ppcie_mode", g[i].ppcie.raw);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	s = json_dumps(arr, JSON_INDENT(2));
	json_decref(arr);
	if (!s)
		return -ENOMEM;
	(void)printf("%s\n", s);
	free(s);
	return 0;
}

static void print_list_text(const struct cn_vfio_gpu_info *g, size_t n)
{
	(void)printf("NVIDIA GPUs found in system:\n");
	for (size_t i = 0; i < n; i++) {
		char numa[16];

		(void)snprintf(numa, sizeof(numa), "%d", g[i].f.numa_node);
		(void)printf("  %s  %s [%04x:%04x]\n", g[i].f.bdf,
			     g[i].product			    ? g[i].product
			     : g[i].f.kind == CN_VFIO_KIND_NVSWITCH ? "NVSwitch"
								    : "NVIDIA GPU",
			     g[i].f.vendor, g[i].f.device);
		(void)printf("      driver: %s, NUMA node: %s, CC mode: %s, PPCIe mode: %s\n",
			     g[i].f.driver[0] ? g[i].f.driver : "none",
			     g[i].f.numa_node >= 0 ? numa : "none", g[i].cc.raw, g[i].ppcie.raw);
		if (g[i].f.iommu_group < 0) {
			(void)printf("      IOMMU group: none (IOMMU off)\n");
			continue;
		}
		(void)printf("      IOMMU group %d:%s", g[i].f.iommu_group,
			     g[i].n_members ? "" : " no other members\n");
		for (size_t j = 0; j < g[i].n_members; j++)
			(void)printf(" %s (%s, %s)%s", g[i].members[j].bdf,
				     cn_vfio_kind_name(g[i].members[j].kind),
				     g[i].members[j].driver[0] ? g[i].members[j].driver
							       : "no driver",
				     j + 1 == g[i].n_members ? "\n" : ",");
	}
}

static int do_list(struct gpu_args *a)
{
	_cleanup_free_ struct cn_vfio_gpu_info *g = NULL;
	size_t n = 0;
	int r;

	r = cn_vfio_list(&a->o, true, &g, &n);
	if (r < 0) {
		log_error("cannot list GPUs: %s", cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	if (a->json) {
		if (print_list_json(g, n) < 0)
			return CLI_EXIT_FAIL;
	} else if (n == 0) {
		log_error("no NVIDIA GPU or NVSwitch found: looked at every PCI function in "
			  "%s/bus/pci/devices for vendor 10de with a display (03xx) or NVSwitch "
			  "(0680) class; is the GPU visible to this host ('lspci -d 10de:')?",
			  a->o.roots.sysfs ? a->o.roots.sysfs : "/sys");
	} else {
		print_list_text(g, n);
	}
	return n > 0 ? CN_EXIT_OK : CN_EXIT_NOT_READY;
}

/* ---- verify ------------------------------------------------------------------------------ */

static int do_verify(struct gpu_args *a, const char *bdf)
{
	_cleanup_free_ struct cn_vfio_verdict *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return CLI_EXIT_FAIL;
	r = cn_vfio_verify(&a->o, bdf, v);
	if (r < 0) {
		log_error("cannot verify '%s': %s", bdf, cn_err_msg());
		if (a->json) {
			/* A machine reader still gets an answer: not ready, and why. */
			json_t *o = json_pack("{s:s, s:b, s:s}", "bdf", bdf, "ready", 0, "error",
					      cn_err_msg());
			char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

			json_decref(o);
			if (s)
				(void)printf("%s\n", s);
			free(s);
		}
		return CLI_EXIT_FAIL;
	}
	if (a->json) {
		json_t *probs = json_array(), *o;
		char *s;

		for (size_t i = 0; probs && i < v->n; i++)
			(void)json_array_append_new(
			    probs,
			    json_pack("{s:s, s:s}", "problem", v->p[i].what, "fix", v->p[i].fix));
		o = json_pack("{s:s, s:b, s:o, s:o, s:s, s:o}", "bdf", v->bdf, "ready", v->n == 0,
			      "driver", v->driver[0] ? json_string(v->driver) : json_null(),
			      "iommu_group",
			      v->iommu_group >= 0 ? json_integer(v->iommu_group) : json_null(),
			      "cc_mode", v->cc.raw, "problems", probs ? probs : json_null());
		s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
		json_decref(o);
		if (!s)
			return CLI_EXIT_FAIL;
		(void)printf("%s\n", s);
		free(s);
	} else if (v->n == 0) {
		(void)printf(
		    "GPU %s is ready for TDX passthrough (vfio-pci, CC mode on, IOMMU group "
		    "%d)\n",
		    v->bdf, v->iommu_group);
	} else {
		for (size_t i = 0; i < v->n; i++)
			(void)printf("not ready: %s; fix: %s\n", v->p[i].what, v->p[i].fix);
	}
	return v->n == 0 ? CN_EXIT_OK : CN_EXIT_NOT_READY;
}

static int do_setup(struct gpu_args *a, const char *bdf)
{
	int r = cn_vfio_setup(&a->o, bdf);

	if (r < 0) {
		log_error("cannot set up '%s': %s", bdf, cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int do_restore(struct gpu_args *a, const char *bdf)
{
	int r = cn_vfio_restore(&a->o, bdf);

	if (r < 0) {
		log_error("cannot restore '%s': %s", bdf, cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- verbs ------------------------------------------------------------------------------- */

static void help_list(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s gpu list [OPTIONS]\n\n"
	    "Lists NVIDIA GPUs and NVSwitches from sysfs: address, product, driver, IOMMU\n"
	    "group and its other members, NUMA node, CC and PPCIe mode (root only).\n\n%s",
	    cli_prog(), common_help);
}

static void help_verify(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s gpu verify BDF [OPTIONS]\n\n"
	    "Read-only. Exits 0 only when the GPU is ready for passthrough: bound to vfio-pci,\n"
	    "CC mode on, PPCIe off, the rest of its IOMMU group on vfio-pci or no driver,\n"
	    "nobody holding it, device nodes present with the VMM's group and mode 0660.\n"
	    "Otherwise one line per unmet condition with the command that fixes it, exit 3.\n"
	    "BDF: 01:00.0, 0000:01:00.0 or 0000:01:00.00.\n\n%s",
	    cli_prog(), common_help);
}

static void help_setup(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s gpu setup BDF [OPTIONS]   (root)\n\n"
	    "Prepares the GPU for TDX passthrough: refuses if it is in use, writes the udev\n"
	    "rule for its device nodes, detaches it (and the rest of its IOMMU group) from\n"
	    "the host driver and binds vfio-pci (driver_override + unbind + drivers_probe),\n"
	    "then switches PPCIe off (Hopper, if on) and CC mode on with gpu-admin-tools,\n"
	    "and checks the result. A second run changes nothing.\n\n%s",
	    cli_prog(), common_help);
}

static void help_restore(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: %s gpu restore BDF [OPTIONS]   (root)\n\n"
	    "Gives the GPU back to the nvidia driver: refuses if a VMM holds it, unbinds\n"
	    "vfio-pci, clears driver_override, switches CC (and PPCIe) off while nothing is\n"
	    "bound, then reprobes. Exit 1 if the nvidia module is not loaded.\n\n%s",
	    cli_prog(), common_help);
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

static int verb_common(int argc, char **argv, void (*help)(FILE *), struct gpu_args *a)
{
	int r = parse(argc, argv, a, false, help);

	if (r == -1)
		return CN_EXIT_OK;
	if (r < 0)
		return CN_EXIT_USAGE;
	if (cli_check_args((unsigned)a->n_pos) != 0)
		return CN_EXIT_USAGE;
	return a->n_pos == 1 ? take_bdf(a) : -1;
}

static int verb_list(int argc, char **argv)
{
	struct gpu_args a = {0};
	int r = verb_common(argc, argv, help_list, &a);

	return r >= 0 ? r : do_list(&a);
}

static int verb_verify(int argc, char **argv)
{
	struct gpu_args a = {0};
	int r = verb_common(argc, argv, help_verify, &a);

	return r >= 0 ? r : do_verify(&a, a.bdf);
}

static int verb_setup(int argc, char **argv)
{
	struct gpu_args a = {0};
	int r = verb_common(argc, argv, help_setup, &a);

	return r >= 0 ? r : do_setup(&a, a.bdf);
}

static int verb_restore(int argc, char **argv)
{
	struct gpu_args a = {0};
	int r = verb_common(argc, argv, help_restore, &a);

	return r >= 0 ? r : do_restore(&a, a.bdf);
}

static const struct cli_verb gpu_verbs[] = {
    {"list", verb_list, "list NVIDIA GPUs and NVSwitches with driver, IOMMU group, CC mode", 0, 0,
     ""},
    {"verify", verb_verify, "exit 0 only if a GPU is ready for passthrough", 1, 1, "BDF"},
    {"setup", verb_setup, "bind a GPU to vfio-pci with CC mode on (root)", 1, 1, "BDF"},
    {"restore", verb_restore, "give a GPU back to nvidia with CC mode off (root)", 1, 1, "BDF"},
    {0},
};

int cmd_gpu(int argc, char **argv)
{
	return cli_dispatch(cli_prog(), "gpu", gpu_verbs, argc, argv);
}

static void help_alias(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: setup-gpu-vfio [OPTIONS]                 list GPUs\n"
	    "       setup-gpu-vfio [OPTIONS] BDF             verify one GPU (exit 3 if not ready)\n"
	    "       setup-gpu-vfio [OPTIONS] --setup BDF     prepare it for passthrough (root)\n"
	    "       setup-gpu-vfio [OPTIONS] --restore BDF   give it back to nvidia (root)\n"
	    "\nSame as 'cocoon gpu list|verify|setup|restore'.\n\n%s",
	    common_help);
}

int alias_setup_gpu_vfio(int argc, char **argv)
{
	struct gpu_args a = {0};
	int r = parse(argc, argv, &a, true, help_alias);

	if (r == -1)
		return CLI_EXIT_OK;
	if (r < 0)
		return CLI_EXIT_USAGE;
	if (a.setup && a.restore) {
		log_error("--setup and --restore are mutually exclusive");
		return CLI_EXIT_USAGE;
	}
	if (a.setup || a.restore) {
		if (a.n_pos != 1) {
			log_error("PCI address required after %s",
				  a.setup ? "--setup" : "--restore");
			return CLI_EXIT_USAGE;
		}
		r = take_bdf(&a);
		if (r >= 0)
			return r;
		return a.setup ? do_setup(&a, a.bdf) : do_restore(&a, a.bdf);
	}
	if (a.n_pos > 1) {
		log_error("unexpected argument '%s' (try '--help')", a.pos[1]);
		return CLI_EXIT_USAGE;
	}
	if (a.n_pos == 0)
		return do_list(&a);
	r = take_bdf(&a);
	return r >= 0 ? r : do_verify(&a, a.bdf);
}
