/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QEMU argument vector, element for element the reference's (spec host-tools §1.2 table,
 * rows 1-24, in order), then a host-only block, then the extra arguments. Nothing here touches
 * the file system, so the vector is a pure function of the inputs and can be golden-tested.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "launch/launch.h"

/*
 * Row 5. The spec records the keys, their order and the values (cid and port are strings, as
 * the QAPI vsock address requires); QEMU parses this into the same QOM object whatever the
 * whitespace, and the text is not measured. MRCONFIGID/MROWNER/MROWNERCONFIG stay unset, as in
 * the reference: they feed COCOON's image hash.
 */
static const char tdx_object[] =
    "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx\","
    "\"quote-generation-socket\":{\"type\":\"vsock\",\"cid\":\"2\",\"port\":\"4050\"}}";

const char *const cn_launch_image_files[5] = {"image.img", "image.vmlinuz", "image.initrd",
					      "image.cmdline", "OVMF.fd"};

/* A value inside a QEMU option string: ',' separates options there, ",," is a literal comma.
 * The reference does not escape (its command line breaks on such a path); with no comma the
 * text is the reference's. */
static char *qemu_opt_escape(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += *p == ',' ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

static int push_all(struct cn_strv *sv, const char *const *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = cn_strv_push(sv, items[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

#define PUSH(...)                                                                                  \
	do {                                                                                       \
		static const char *const items_[] = {__VA_ARGS__};                                 \
		r = push_all(sv, items_, ELEMENTSOF(items_));                                      \
		if (r < 0)                                                                         \
			return r;                                                                  \
	} while (0)
#define PUSHF(...)                                                                                 \
	do {                                                                                       \
		r = cn_strv_pushf(sv, __VA_ARGS__);                                                \
		if (r < 0)                                                                         \
			return r;                                                                  \
	} while (0)
#define PUSHS(s)                                                                                   \
	do {                                                                                       \
		r = cn_strv_push(sv, s);                                                           \
		if (r < 0)                                                                         \
			return r;                                                                  \
	} while (0)

static int check_path(const char *what, const char *p)
{
	if (!p || !*p)
		return cn_err_set(-EINVAL, "%s: no path", what);
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return cn_err_set(-EINVAL, "%s '%s': control character in the path", what,
					  p);
	return 0;
}

/* Refuses inputs QEMU could not take: a VM-less node type, a missing or odd path, too much. */
static int check_inputs(const struct cn_launch_inputs *in)
{
	const struct cn_launch_config *c = in ? in->cfg : NULL;
	int r;

	if (!c || !in->image_cmdline)
		return cn_err_set(-EINVAL, "launch: incomplete inputs");
	if (c->type != CN_NODE_WORKER && c->type != CN_NODE_PROXY)
		return cn_err_set(-EINVAL, "launch: node type '%s' has no VM",
				  cn_node_type_name(c->type));
	if ((r = check_path("image-dir", c->image_dir)) < 0 ||
	    (r = check_path("persistent", c->persistent)) < 0 ||
	    (r = check_path("spec share", in->spec_share)) < 0)
		return r;
	if (!!in->model_tar != !!in->model_verity)
		return cn_err_set(-EINVAL, "launch: model tar and verity go together");
	if (in->model_tar && ((r = check_path("model tar", in->model_tar)) < 0 ||
			      (r = check_path("model verity", in->model_verity)) < 0))
		return r;
	if (in->n_extra > CN_LAUNCH_EXTRA_MAX)
		return cn_err_set(-E2BIG, "more than %u extra QEMU arguments", CN_LAUNCH_EXTRA_MAX);
	return 0;
}

/* The paths and the kernel command line as they go into the vector. */
struct vm_paths {
	char *bios, *kernel, *initrd; /* plain option arguments: not comma-parsed, verbatim */
	char *img, *persistent, *spec, *tar, *verity; /* option-string values: escaped */
	char *append;
};

static void vm_paths_done(struct vm_paths *p)
{
	free(p->bios);
	free(p->kernel);
	free(p->initrd);
	free(p->img);
	free(p->persistent);
	free(p->spec);
	free(p->tar);
	free(p->verity);
	free(p->append);
}

static int vm_paths_make(const struct cn_launch_inputs *in, struct vm_paths *p)
{
	const struct cn_launch_config *c = in->cfg;
	_cleanup_free_ char *raw = cn_path_join(c->image_dir, "image.img");

	p->bios = cn_path_join(c->image_dir, "OVMF.fd");
	p->kernel = cn_path_join(c->image_dir, "image.vmlinuz");
	p->initrd = cn_path_join(c->image_dir, "image.initrd");
	p->img = raw ? qemu_opt_escape(raw) : NULL;
	p->persistent = qemu_opt_escape(c->persistent);
	p->spec = qemu_opt_escape(in->spec_share);
	if (!p->bios || !p->kernel || !p->initrd || !p->img || !p->persistent || !p->spec)
		return -ENOMEM;
	if (in->model_tar) {
		p->tar = qemu_opt_escape(in->model_tar);
		p->verity = qemu_opt_escape(in->model_verity);
		if (!p->tar || !p->verity)
			return -ENOMEM;
	}
	return cn_launch_kernel_cmdline(in->image_cmdline, c, &p->append);
}

/* Rows 1-9: the machine, firmware, CPU, TDX, memory, vsock and the GPU's root port. */
static int push_machine(struct cn_strv *sv, const struct cn_launch_config *c,
			const struct vm_paths *p)
{
	int r;

	/* 1 */
	PUSHF("-machine");
	PUSHF("q35,kernel-irqchip=split,memory-backend=mem0%s",
	      c->tdx ? ",confidential-guest-support=tdx" : "");
	/* 2 */
	PUSH("-bios");
	PUSHS(p->bios);
	/* 3, 4 */
	PUSH("-accel", "kvm", "-cpu", "host", "-smp", "32", "-vga", "none");
	/* 5 */
	if (c->tdx)
		PUSH("-object", tdx_object);
	/* 6 */
	PUSH("-object", "memory-backend-ram,id=mem0,size=100G");
	/* 7 */
	PUSH("-device");
	PUSHF("vhost-vsock-pci,guest-cid=%u", c->cid);
	/* 8, 9 */
	PUSH("-object", "iommufd,id=iommufd0", "-device", "pcie-root-port,id=pci.0,bus=pcie.0");
	return 0;
}

/* Rows 10-17: the root and persistent disks, and the worker's model disks. */
static int push_disks(struct cn_strv *sv, const struct vm_paths *p)
{
	int r;

	/* 10, 11 */
	PUSH("-drive");
	PUSHF("cache=writeback,file=%s,readonly=on,id=drive1,if=none,index=1,werror=report",
	      p->img);
	PUSH("-device", "virtio-blk-pci,bootindex=1,drive=drive1,serial=root");
	/* 12, 13 */
	PUSH("-drive");
	PUSHF("cache=writeback,file=%s,format=raw,id=drive2,if=none,index=2,werror=report",
	      p->persistent);
	PUSH("-device", "virtio-blk-pci,bootindex=2,drive=drive2,serial=persistent");
	/* 14-17: the model disks, worker only */
	if (p->tar) {
		PUSH("-drive");
		PUSHF("readonly=on,file=%s,id=drivecache,if=none,index=3,werror=report", p->tar);
		PUSH("-device", "virtio-blk-pci,drive=drivecache,serial=model-tar");
		PUSH("-drive");
		PUSHF("readonly=on,file=%s,id=drivecacheverity,if=none,index=4,werror=report",
		      p->verity);
		PUSH("-device", "virtio-blk-pci,drive=drivecacheverity,serial=model-tar-verity");
	}
	return 0;
}

/* Rows 18-24: console, kernel, spec share, network, display, and the GPU. */
static int push_boot(struct cn_strv *sv, const struct cn_launch_config *c, const struct vm_paths *p)
{
	int r;

	/* 18 */
	PUSH("-chardev", "stdio,id=char0", "-device", "virtio-serial-pci,id=virtio-serial0",
	     "-device", "virtconsole,chardev=char0");
	/* 19 */
	PUSH("-kernel");
	PUSHS(p->kernel);
	PUSH("-initrd");
	PUSHS(p->initrd);
	PUSH("-append");
	PUSHS(p->append);
	/* 20 */
	PUSH("-virtfs");
	PUSHF("local,path=%s,mount_tag=spec,security_model=mapped,readonly=on", p->spec);
	/* 21 */
	PUSH("-net", "nic,netdev=user.0,model=virtio");
	/* 22: host port = base + 10 x instance, guest port = base */
	PUSH("-netdev");
	if (c->type == CN_NODE_WORKER)
		PUSHF("user,id=user.0,hostfwd=tcp::%u-:22,hostfwd=tcp::%u-:%u", c->host_ssh_port,
		      c->host_http_port, c->http_port);
	else
		PUSHF("user,id=user.0,hostfwd=tcp::%u-:22,hostfwd=tcp::%u-:%u,hostfwd=tcp::%u-:%u,"
		      "hostfwd=tcp::%u-:%u",
		      c->host_ssh_port, c->host_http_port, c->http_port, c->host_worker_rpc_port,
		      c->worker_rpc_port, c->host_client_rpc_port, c->client_rpc_port);
	/* 23 */
	PUSH("-nographic", "-serial", "null", "-monitor", "null");
	/* 24 */
	if (c->gpu) {
		PUSH("-device");
		PUSHF("vfio-pci,host=%s,bus=pci.0,iommufd=iommufd0", c->gpu);
	}
	return 0;
}

/* Host-only block: a name, a pidfile, a QMP socket, a log. None of these reach fw_cfg, ACPI or
 * the device tree, so the guest (and its measurement) is unchanged. */
static int push_host_only(struct cn_strv *sv, const struct cn_launch_config *c,
			  const char *instance_dir)
{
	_cleanup_free_ char *name = cn_launch_instance_name(c);
	_cleanup_free_ char *dir = NULL;
	int r;

	if ((r = check_path("run folder", instance_dir)) < 0)
		return r;
	dir = qemu_opt_escape(instance_dir);
	if (!name || !dir)
		return -ENOMEM;
	PUSH("-name");
	PUSHS(name);
	PUSH("-pidfile");
	PUSHF("%s/qemu.pid", instance_dir);
	PUSH("-qmp");
	PUSHF("unix:%s/qmp.sock,server=on,wait=off", dir);
	PUSH("-D");
	PUSHF("%s/qemu.log", instance_dir);
	return 0;
}

/* Row 25: the extra arguments, verbatim. */
static int push_extra(struct cn_strv *sv, char *const *extra, size_t n)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		if (!extra[i])
			return cn_err_set(-EINVAL, "extra argument %zu is NULL", i);
		PUSHS(extra[i]);
	}
	return 0;
}

int cn_launch_argv(const struct cn_launch_inputs *in, struct cn_strv *ret)
{
	_cleanup_(cn_strv_done) struct cn_strv sv = {0};
	_cleanup_(vm_paths_done) struct vm_paths p = {0};
	const struct cn_launch_config *c;
	int r;

	r = check_inputs(in);
	if (r < 0)
		return r;
	c = in->cfg;
	r = vm_paths_make(in, &p);
	if (r < 0)
		return r;
	r = cn_strv_push(&sv, in->qemu_argv0 ? in->qemu_argv0 : c->qemu);
	if (r < 0)
		return r;
	r = push_machine(&sv, c, &p);
	if (r < 0)
		return r;
	r = push_disks(&sv, &p);
	if (r < 0)
		return r;
	r = push_boot(&sv, c, &p);
	if (r < 0)
		return r;
	if (in->instance_dir) {
		r = push_host_only(&sv, c, in->instance_dir);
		if (r < 0)
			return r;
	}
	r = push_extra(&sv, in->extra, in->n_extra);
	if (r < 0)
		return r;
	*ret = sv;
	sv = (struct cn_strv){0}; /* ownership moved to *ret */
	return 0;
}

char *cn_launch_shell_quote(const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "@%+=:,./-_";
	size_t n = 0;
	bool plain = *s != '\0';
	char *out, *o;

	for (const char *p = s; *p; p++)
		if (!strchr(safe, *p))
			plain = false;
	if (plain)
		return strdup(s);
	/* '...' with each ' written as '"'"' */
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 5 : 1;
	out = malloc(n + 3);
	if (!out)
		return NULL;
	o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\"'\"'", 5);
			o += 5;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

char *cn_launch_argv_shell(char *const *argv, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *q = cn_launch_shell_quote(argv[i]);

		if (!q) {
			(void)fclose(f);
			free(buf);
			return NULL;
		}
		(void)fprintf(f, "%s%s", i ? " " : "", q);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *cn_launch_argv_json(char *const *argv, size_t n)
{
	json_t *a = json_array();
	char *s;

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		/* Paths are bytes; jansson wants UTF-8. Non-UTF-8 bytes fail here rather than
		 * producing JSON that decodes to a different path. */
		if (json_array_append_new(a, json_string(argv[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}
