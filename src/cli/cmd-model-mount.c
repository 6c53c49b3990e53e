/* SPDX-License-Identifier: Apache-2.0 */
/* cocoon model mount|unmount (guest side). See docs/guest.md and docs/reference.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "cli/cli.h"
#include "guest/guest.h"

static void mount_usage(FILE *f)
{
	(void)fprintf(
	    f,
	    "Usage: cocoon model mount [OPTIONS] NAME@COMMIT:ROOTHASH [MOUNTPOINT]\n"
	    "       cocoon model mount [OPTIONS] --runtime-vars FILE [MOUNTPOINT]\n"
	    "       cocoon model unmount [OPTIONS] [MOUNTPOINT]\n"
	    "\n"
	    "Guest side of the model disk. 'mount' finds the tar and hash disks by their virtio\n"
	    "serials, checks ROOTHASH against the top of the hash tree, activates the read-only\n"
	    "dm-verity device /dev/mapper/model.tar (libcryptsetup), serves the tar's files\n"
	    "read-only at MOUNTPOINT (default " CN_GUEST_MOUNTPOINT ") through a FUSE server that\n"
	    "reads the verity device (a corrupted block reads as EIO), writes " CN_GUEST_ENV_PATH
	    "\n"
	    "(MODEL_NAME, MODEL_COMMIT, MODEL_VERITY_HASH, MODEL_PATH) and returns once the\n"
	    "mount is up, leaving the server in the background (pid in " CN_GUEST_PID_PATH ").\n"
	    "'unmount' removes model.env, unmounts, waits for the server and removes the device.\n"
	    "\n"
	    "Options:\n"
	    "  --runtime-vars FILE   read MODEL_NAME, MODEL_COMMIT, MODEL_VERITY_HASH (KEY=VALUE\n"
	    "                        lines, as the launcher writes runtime.vars)\n"
	    "  --data-serial S       virtio serial of the tar disk (default " CN_GUEST_DATA_SERIAL
	    ")\n"
	    "  --hash-serial S       virtio serial of the hash disk (default " CN_GUEST_HASH_SERIAL
	    ")\n"
	    "  --data-device PATH    use this device instead of looking up the serial\n"
	    "  --hash-device PATH    likewise for the hash tree\n"
	    "  --name NAME           device-mapper name (default " CN_GUEST_DM_NAME ")\n"
	    "  --env-file PATH       hand-off file (default " CN_GUEST_ENV_PATH ")\n"
	    "  --pid-file PATH       server pid file (default " CN_GUEST_PID_PATH ")\n"
	    "  --foreground          serve in this process until unmounted (no daemon)\n"
	    "  -q, --quiet           no notes on stderr\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Exit status: 0 done, 1 failure (missing disk, bad tar, busy...), 2 usage, 3 the root\n"
	    "hash does not match the hash tree (both hashes named).\n");
}

static void notify_stderr(void *userdata, const char *msg)
{
	log_info("%s", msg);
}

/* Shared option parsing; positional arguments are left at argv[optind..]. */
static int parse_opts(int argc, char **argv, struct cn_guest_mount_opts *o, const char **vars_path)
{
	enum {
		OPT_VARS = 0x100,
		OPT_DSER,
		OPT_HSER,
		OPT_DDEV,
		OPT_HDEV,
		OPT_NAME,
		OPT_ENV,
		OPT_PID,
		OPT_FG,
	};
	static const struct option opts[] = {
	    {"runtime-vars", required_argument, NULL, OPT_VARS},
	    {"data-serial", required_argument, NULL, OPT_DSER},
	    {"hash-serial", required_argument, NULL, OPT_HSER},
	    {"data-device", required_argument, NULL, OPT_DDEV},
	    {"hash-device", required_argument, NULL, OPT_HDEV},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"env-file", required_argument, NULL, OPT_ENV},
	    {"pid-file", required_argument, NULL, OPT_PID},
	    {"foreground", no_argument, NULL, OPT_FG},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c;

	o->notify = notify_stderr;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_VARS:
			*vars_path = optarg;
			break;
		case OPT_DSER:
			o->data_serial = optarg;
			break;
		case OPT_HSER:
			o->hash_serial = optarg;
			break;
		case OPT_DDEV:
			o->data_dev = optarg;
			break;
		case OPT_HDEV:
			o->hash_dev = optarg;
			break;
		case OPT_NAME:
			o->dm_name = optarg;
			break;
		case OPT_ENV:
			o->env_path = optarg;
			break;
		case OPT_PID:
			o->pid_path = optarg;
			break;
		case OPT_FG:
			o->foreground = true;
			break;
		case 'q':
			o->notify = NULL;
			break;
		case 'h':
			mount_usage(stdout);
			return 1;
		default:
			mount_usage(stderr);
			return -EINVAL;
		}
	}
	return 0;
}

int cmd_model_mount(int argc, char **argv)
{
	struct cn_guest_mount_opts o = {0};
	struct cn_guest_model m = {0};
	const char *vars = NULL;
	int r, npos;

	r = parse_opts(argc, argv, &o, &vars);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	npos = argc - optind;
	if (vars ? npos > 1 : (npos < 1 || npos > 2)) {
		log_error(vars	     ? "too many arguments ([MOUNTPOINT] with --runtime-vars)"
			  : npos < 1 ? "missing NAME@COMMIT:ROOTHASH (or --runtime-vars FILE)"
				     : "too many arguments (SPEC [MOUNTPOINT])");
		return CLI_EXIT_USAGE;
	}
	if (vars) {
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len;

		r = cn_read_file(vars, CN_GUEST_VARS_MAX, &buf, &len);
		if (r < 0) {
			log_error("cannot read '%s': %s", vars, strerror(-r));
			return CLI_EXIT_FAIL;
		}
		r = cn_guest_model_from_vars((const char *)buf, len, &m);
		if (r < 0) {
			log_error("'%s': %s", vars, cn_err_msg());
			return CLI_EXIT_FAIL;
		}
	} else {
		r = cn_guest_model_from_spec(argv[optind++], &m);
		if (r < 0) {
			log_error("%s", cn_err_msg());
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		o.mountpoint = argv[optind];
	o.model = &m;
	r = cn_guest_mount(&o);
	if (r < 0) {
		log_error("cannot mount the model %s@%s: %s", m.name, m.commit, cn_err_msg());
		cn_guest_model_done(&m);
		return r == -EKEYREJECTED ? CN_EXIT_REJECTED : CLI_EXIT_FAIL;
	}
	if (!o.foreground)
		(void)printf("%s@%s:%s %s\n", m.name, m.commit, m.root_hash,
			     o.mountpoint ? o.mountpoint : CN_GUEST_MOUNTPOINT);
	cn_guest_model_done(&m);
	return CLI_EXIT_OK;
}

int cmd_model_unmount(int argc, char **argv)
{
	struct cn_guest_mount_opts o = {0};
	const char *vars = NULL;
	int r;

	r = parse_opts(argc, argv, &o, &vars);
	if (r != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (argc - optind > 1 || vars) {
		log_error("usage: cocoon model unmount [OPTIONS] [MOUNTPOINT]");
		return CLI_EXIT_USAGE;
	}
	if (optind < argc)
		o.mountpoint = argv[optind];
	r = cn_guest_unmount(&o);
	if (r < 0) {
		log_error("cannot unmount the model: %s", cn_err_msg());
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
