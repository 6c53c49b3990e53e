/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Host side of GPU passthrough: PCI addresses, sysfs queries, the gpu-admin-tools wrapper, the
 * vfio-pci (un)binding sequence and the readiness check (docs/vfio.md, spec host-tools §2, §3).
 *
 * All int-returning functions: 0 (or a count) on success, a negative errno on failure with the
 * detail in cn_err_msg(). ret_* parameters are written only on success; the caller owns them.
 * The library never prints: what it does (and, with dry_run, what it would do) goes to the
 * note callback of struct cn_vfio_opts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/strv.h"
#include "vfio/ready.h"

/* ---- PCI addresses ------------------------------------------------------------------------ */

struct cn_pci_addr {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev; /* 0..31 */
	uint8_t fn;  /* 0..7 */
};

/* "dddd:bb:dd.f" with a domain of up to 8 hex digits, plus the NUL. */
#define CN_PCI_ADDR_BUFSZ 17

/*
 * Parses the forms users type: "bb:dd.f", "dddd:bb:dd.f", "dddd:bb:dd.ff" (function with a
 * leading 0). Domain 1..8 hex digits, bus and device exactly 2, either case; nothing else
 * (no blanks, no trailing bytes). A missing domain means 0000; a given domain is kept.
 * -EINVAL when malformed.
 */
int cn_pci_addr_parse(const char *s, struct cn_pci_addr *ret);
/* The kernel's name: "%04x:%02x:%02x.%x". */
void cn_pci_addr_format(const struct cn_pci_addr *a, char out[CN_PCI_ADDR_BUFSZ]);
/* Parses and formats in one go (into out). */
int cn_pci_addr_normalize(const char *s, char out[CN_PCI_ADDR_BUFSZ]);

/* ---- sysfs value parsers (untrusted text) ------------------------------------------------- */

/* "0x" + 1..8 hex digits (sysfs vendor/device/class). -EBADMSG when malformed, -ERANGE > max. */
int cn_sysfs_parse_hex(const char *s, uint32_t max, uint32_t *ret);
/* numa_node: "-1" or a decimal 0..65535. */
int cn_sysfs_parse_numa(const char *s, int32_t *ret);
/* The "Device Minor:" line of /proc/driver/nvidia/gpus/BDF/information. */
int cn_nvidia_parse_minor(const char *text, uint32_t *ret);

/* ---- one PCI function as sysfs shows it --------------------------------------------------- */

#define CN_VFIO_NAME_MAX 64
#define CN_VFIO_GROUP_MEMBERS_MAX 64
#define CN_VFIO_DEVICES_MAX 4096

enum cn_vfio_kind {
	CN_VFIO_KIND_OTHER,
	CN_VFIO_KIND_GPU,      /* class 0x0300xx / 0x0302xx */
	CN_VFIO_KIND_NVSWITCH, /* NVIDIA class 0x0680xx */
	CN_VFIO_KIND_AUDIO,    /* class 0x0403xx */
	CN_VFIO_KIND_BRIDGE,   /* class 0x0604xx: tolerated in a VFIO group */
};

struct cn_vfio_func {
	char bdf[CN_PCI_ADDR_BUFSZ];
	uint32_t vendor;
	uint32_t device;
	uint32_t class_code; /* 24 bits */
	enum cn_vfio_kind kind;
	char driver[CN_VFIO_NAME_MAX];	 /* "" when unbound */
	char override[CN_VFIO_NAME_MAX]; /* driver_override; "" when "(null)" or empty */
	int32_t iommu_group;		 /* -1: no IOMMU group (IOMMU off) */
	int32_t numa_node;		 /* -1: none */
};

/* Product name for known NVIDIA device IDs (spec §2.4), NULL otherwise. */
const char *cn_vfio_product_name(uint32_t vendor, uint32_t device);
/* Hopper (GH100 family: the IDs gpu-admin-tools treats as Hopper): the only GPUs with PPCIe. */
bool cn_vfio_is_hopper(uint32_t device);
const char *cn_vfio_kind_name(enum cn_vfio_kind k);

/* ---- options shared by every operation ---------------------------------------------------- */

struct cn_vfio_opts {
	struct cn_vfio_roots roots;	  /* sysfs, dev, proc, gpu_admin_tools */
	const char *udev_rules_dir;	  /* NULL: /etc/udev/rules.d */
	const char *udevadm;		  /* NULL: udevadm from the system path */
	const char *device_group;	  /* NULL: $VFIO_DEVICE_GROUP, else kvm, vfio, libvirt */
	const char *gat_sha256;		  /* NULL: $GPU_ADMIN_TOOLS_SHA256; unset: no pin */
	const char *const *allow_members; /* other endpoints of the group setup may take */
	size_t n_allow_members;
	bool dry_run;	       /* print every write and command, change nothing */
	bool rebind;	       /* setup: unbind and rebind vfio-pci even when already bound */
	int unbind_timeout_ms; /* 0: 30 s */
	int probe_timeout_ms;  /* 0: 10 s */
	int tool_timeout_ms;   /* 0: 180 s per gpu-admin-tools call */
	void (*note)(void *userdata, const char *line);
	void *userdata;
};

/*
 * True when the caller may touch devices: root, or roots that are not the real /sys (a test
 * tree; the kernel still enforces permissions on whatever is written there).
 */
bool cn_vfio_privileged(const struct cn_vfio_opts *o);

/* ---- gpu-admin-tools --------------------------------------------------------------------- */

enum cn_gat_mode {
	CN_GAT_MODE_OFF,
	CN_GAT_MODE_ON,
	CN_GAT_MODE_DEVTOOLS,
	CN_GAT_MODE_INVALID, /* e.g. invalid-devtools-only-fix-by-setting-cc-mode: set it again */
};

#define CN_GAT_MODE_TEXT_MAX 64
#define CN_GAT_OUTPUT_MAX (1024 * 1024)

/*
 * Finds the one status line "<...> GPU|NvSwitch <bdf> <...> <knob> mode is <mode>" (knob "CC"
 * or "PPCIe") in the tool's stderr (spec §2.3). raw gets the mode word. -EBADMSG when there is
 * no such line, more than one with different modes, or the mode word is not [a-z-]{1,63}.
 */
int cn_gat_parse_mode(const char *text, size_t len, const char *bdf, const char *knob,
		      enum cn_gat_mode *ret, char raw[CN_GAT_MODE_TEXT_MAX]);
const char *cn_gat_mode_name(enum cn_gat_mode m);

/* A query's outcome: the mode, or why it is not known. */
struct cn_gat_query {
	bool known;
	bool unsupported; /* the tool says the knob is not supported here */
	enum cn_gat_mode mode;
	char raw[CN_GAT_MODE_TEXT_MAX]; /* mode word, or the reason when !known */
};

/* Runs --query-cc-mode / --query-ppcie-mode. Fails only on internal errors; else fills q. */
int cn_gat_query(const struct cn_vfio_opts *o, const char *bdf, const char *knob,
		 struct cn_gat_query *q);

/*
 * Sets knob ("cc" or "ppcie") to value with the reset that applies it (--reset-after-...).
 * -EIO with the tool's last line when it exits non-zero. Dry run: notes the command, returns 0.
 */
int cn_gat_set(const struct cn_vfio_opts *o, const char *bdf, const char *knob, const char *value);

/* ---- users of a device ------------------------------------------------------------------- */

struct cn_vfio_user {
	pid_t pid;
	char comm[32];
	char path[256]; /* the device node it holds */
};

/*
 * Scans <proc>/<pid>/fd for any of paths (NULL-terminated). Returns the number of holders
 * found (0..max) into users[].
 */
int cn_vfio_find_users(const char *proc_root, const char *const *paths, struct cn_vfio_user *users,
		       size_t max);

/* ---- operations -------------------------------------------------------------------------- */

struct cn_vfio_gpu_info {
	struct cn_vfio_func f;
	const char *product; /* static, or NULL */
	size_t n_members;    /* other functions of the IOMMU group */
	struct cn_vfio_func members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_gat_query cc;
	struct cn_gat_query ppcie; /* Hopper GPUs and NVSwitches only; else !known, raw "n/a" */
};

/* Lists NVIDIA GPUs and NVSwitches (sorted by address). *ret is malloc'd. */
int cn_vfio_list(const struct cn_vfio_opts *o, bool query_modes, struct cn_vfio_gpu_info **ret,
		 size_t *ret_n);

/* A readiness problem: what is wrong and what fixes it. */
struct cn_vfio_problem {
	char what[384];
	char fix[256];
};

#define CN_VFIO_PROBLEMS_MAX 32

struct cn_vfio_verdict {
	char bdf[CN_PCI_ADDR_BUFSZ];
	size_t n;
	struct cn_vfio_problem p[CN_VFIO_PROBLEMS_MAX];
	struct cn_gat_query cc;
	char driver[CN_VFIO_NAME_MAX];
	int32_t iommu_group;
};

/*
 * Read-only readiness check of one GPU. 0: decided (ret->n == 0 means ready). Negative errno:
 * could not decide (device missing, not NVIDIA, not a GPU, unreadable sysfs).
 */
int cn_vfio_verify(const struct cn_vfio_opts *o, const char *bdf, struct cn_vfio_verdict *ret);

/* Prepares the GPU for passthrough (issue 5 "Setup"). 0 when it is ready afterwards. */
int cn_vfio_setup(const struct cn_vfio_opts *o, const char *bdf);

/*
 * Gives the GPU back to the host driver with CC off. 0 on success; 1 when done but the nvidia
 * module is not loaded (the GPU is left without a driver; a note says so).
 */
int cn_vfio_restore(const struct cn_vfio_opts *o, const char *bdf);

/* ---- results as JSON and text (render.c) ------------------------------------------------- */

struct json_t;
/* The list as a JSON array / the verdict as a JSON object (new references; NULL on OOM). */
struct json_t *cn_vfio_list_json(const struct cn_vfio_gpu_info *g, size_t n);
struct json_t *cn_vfio_verdict_json(const struct cn_vfio_verdict *v);
/* What --json says when verify could not decide: {"bdf", "ready": false, "error"}. */
struct json_t *cn_vfio_verify_error_json(const char *bdf, const char *error);
/* The list and the verdict as text lines (what `cocoon gpu list|verify` print). */
void cn_vfio_list_print(FILE *f, const struct cn_vfio_gpu_info *g, size_t n);
void cn_vfio_verdict_print(FILE *f, const struct cn_vfio_verdict *v);

/* The udev rule setup writes for group (exposed for tests and docs). Caller frees. */
int cn_vfio_udev_rule(const char *group, char **ret);
#define CN_VFIO_UDEV_RULE_NAME "99-vfio-passthrough.rules"

/* ---- internal helpers shared by the .c files --------------------------------------------- */

/* Opens the sysfs root (O_PATH directory). */
int cn_vfio_open_sysfs(const struct cn_vfio_opts *o, int *ret_fd);
/* Reads one function; -ENOENT when the address is not there. */
int cn_vfio_func_read(int sysfs_fd, const char *bdf, struct cn_vfio_func *ret);
/* Other members of f's IOMMU group (not f itself), sorted. */
int cn_vfio_group_members(int sysfs_fd, const struct cn_vfio_func *f, struct cn_vfio_func *out,
			  size_t max, size_t *ret_n);

/* Runs argv (argv[0] an absolute path), stdin /dev/null, output captured and capped. */
struct cn_vfio_proc_result {
	int status; /* exit code, or 128 + signal */
	bool timed_out;
	char *out; /* owned, NUL-terminated */
	size_t out_len;
	char *err; /* owned, NUL-terminated */
	size_t err_len;
};
int cn_vfio_spawn(const char *const *argv, int timeout_ms, struct cn_vfio_proc_result *ret);
void cn_vfio_proc_result_done(struct cn_vfio_proc_result *r);
/* Finds an executable by name in the system directories (not $PATH). */
int cn_vfio_find_exe(const char *name, char **ret);

/* Writes value to <sysfs>/<rel> in a child, waiting at most timeout_ms. -ETIMEDOUT if hung. */
int cn_vfio_sysfs_write(int sysfs_fd, const char *rel, const char *value, int timeout_ms);

void cn_vfio_notef(const struct cn_vfio_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
