/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon gpu and setup-gpu-vfio: options, their help, and the checks of their values. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "cli/cli.h"
#include "cli/gpu-args.h"

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
		if (a->o.n_allow_members == GPU_ALLOW_MAX)
			return log_error("--allow-group-member given more than %d times",
					 GPU_ALLOW_MAX),
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

int gpu_parse_args(int argc, char **argv, struct gpu_args *a, bool alias, const char *usage)
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

int gpu_take_bdf(struct gpu_args *a)
{
	if (cn_pci_addr_normalize(a->pos[0], a->bdf) < 0) {
		log_error("'%s' is not a PCI address (BDF: 01:00.0, 0000:01:00.0 or 0000:01:00.00)",
			  a->pos[0]);
		return CN_EXIT_USAGE;
	}
	return -1;
}
