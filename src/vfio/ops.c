/* SPDX-License-Identifier: Apache-2.0 */
/*
 * list / verify / setup / restore (docs/vfio.md). Order of a setup (spec host-tools §2.6, §6.4):
 * check device, class and IOMMU group -> refuse if anyone holds it -> udev rule -> driver_override
 * + unbind + drivers_probe to vfio-pci for the whole group -> PPCIe off (Hopper, only if on)
 * -> CC on -> re-query -> device nodes. Restore mirrors it with CC off before nvidia rebinds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "vfio/vfio.h"

#define USERS_MAX 16
#define NVIDIA_MINORS_MAX 64
#define RULE_FILE_MAX (64 * 1024)

struct ctx {
	const struct cn_vfio_opts *o;
	int sysfs_fd;
	const char *sysfs;
	const char *dev;
	const char *proc;
};

static void ctx_done(struct ctx *c)
{
	if (c->sysfs_fd >= 0)
		(void)close(c->sysfs_fd);
	c->sysfs_fd = -EBADF;
}

static int ctx_init(struct ctx *c, const struct cn_vfio_opts *o)
{
	*c = (struct ctx){
	    .o = o,
	    .sysfs_fd = -EBADF,
	    .sysfs = o->roots.sysfs ? o->roots.sysfs : "/sys",
	    .dev = o->roots.dev ? o->roots.dev : "/dev",
	    .proc = o->roots.proc ? o->roots.proc : "/proc",
	};
	return cn_vfio_open_sysfs(o, &c->sysfs_fd);
}

static int unbind_timeout(const struct ctx *c)
{
	return c->o->unbind_timeout_ms > 0 ? c->o->unbind_timeout_ms : 30000;
}

static int probe_timeout(const struct ctx *c)
{
	return c->o->probe_timeout_ms > 0 ? c->o->probe_timeout_ms : 10000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool is_vfio_driver(const char *d)
{
	size_t l = strlen(d);

	return strcmp(d, "vfio-pci") == 0 || strcmp(d, "pci-stub") == 0 ||
	       (l > 9 && strcmp(d + l - 9, "_vfio_pci") == 0);
}

/* A group member VFIO tolerates without taking it: bridges and ports. */
static bool member_tolerated(const struct cn_vfio_func *m)
{
	return m->kind == CN_VFIO_KIND_BRIDGE || strcmp(m->driver, "pcieport") == 0;
}

static bool same_slot(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

	return da && db && da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0;
}

static int read_gpu(struct ctx *c, const char *bdf_in, struct cn_vfio_func *f)
{
	char bdf[CN_PCI_ADDR_BUFSZ];
	int r;

	if (cn_pci_addr_normalize(bdf_in, bdf) < 0)
		return cn_err_set(-EINVAL,
				  "'%s' is not a PCI address (forms: 01:00.0, "
				  "0000:01:00.0, 0000:01:00.00)",
				  bdf_in);
	r = cn_vfio_func_read(c->sysfs_fd, bdf, f);
	if (r == -ENOENT)
		return cn_err_set(-ENOENT,
				  "GPU not found: no PCI device %s under %s/bus/pci/devices", bdf,
				  c->sysfs);
	if (r < 0)
		return r;
	if (f->vendor != 0x10de)
		return cn_err_set(-EINVAL, "%s is not an NVIDIA device (vendor 0x%04x)", bdf,
				  f->vendor);
	if (f->kind != CN_VFIO_KIND_GPU)
		return cn_err_set(-EINVAL, "%s is not a GPU (class 0x%06x, %s)", bdf, f->class_code,
				  cn_vfio_kind_name(f->kind));
	return 0;
}

/* ---- device nodes and users --------------------------------------------------------------- */

/* The iommufd cdev name of f ("vfio3"); *ret_has_dev false when the kernel has no cdev. */
static int cdev_name(struct ctx *c, const char *bdf, char out[32], bool *ret_has_dev)
{
	char path[PATH_MAX];
	_cleanup_close_ int dfd = -EBADF;
	DIR *d;
	struct dirent *de;
	bool found = false;

	*ret_has_dev = false;
	out[0] = '\0';
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev", bdf);
	dfd = openat(c->sysfs_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		bool ok = l > 4 && l < 16 && memcmp(de->d_name, "vfio", 4) == 0;

		for (size_t i = 4; ok && i < l; i++)
			ok = de->d_name[i] >= '0' && de->d_name[i] <= '9';
		if (!ok)
			continue;
		memcpy(out, de->d_name, l + 1);
		found = true;
		break;
	}
	(void)closedir(d);
	if (found) {
		struct stat st;

		(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev/%s/dev", bdf, out);
		*ret_has_dev = fstatat(c->sysfs_fd, path, &st, 0) == 0;
	}
	return 0;
}

struct pathset {
	char *p[NVIDIA_MINORS_MAX + CN_VFIO_GROUP_MEMBERS_MAX + 8];
	size_t n;
};

static void pathset_done(struct pathset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i]);
	s->n = 0;
}

static int pathset_addf(struct pathset *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int pathset_addf(struct pathset *s, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	if (s->n + 1 >= ELEMENTSOF(s->p))
		return -E2BIG;
	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	s->p[s->n++] = p;
	s->p[s->n] = NULL;
	return 0;
}

/* The nodes through which someone could be using the GPU or its group. */
static int user_paths(struct ctx *c, const struct cn_vfio_func *gpu,
		      const struct cn_vfio_func *members, size_t n_members, struct pathset *s)
{
	char name[32];
	bool has_dev;
	int r = 0;

	if (gpu->iommu_group >= 0)
		r = pathset_addf(s, "%s/vfio/%d", c->dev, gpu->iommu_group);
	for (size_t i = 0; r >= 0 && i <= n_members; i++) {
		const struct cn_vfio_func *f = i == 0 ? gpu : &members[i - 1];

		if (cdev_name(c, f->bdf, name, &has_dev) >= 0 && name[0])
			r = pathset_addf(s, "%s/vfio/devices/%s", c->dev, name);
	}
	if (r >= 0 && strcmp(gpu->driver, "nvidia") == 0) {
		char path[PATH_MAX];
		_cleanup_free_ char *info = NULL;
		_cleanup_close_ int pfd = open(c->proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
		uint32_t minor;

		(void)snprintf(path, sizeof(path), "driver/nvidia/gpus/%s/information", gpu->bdf);
		if (pfd >= 0 && cn_read_virtual_at(pfd, path, 4096, &info) >= 0 &&
		    cn_nvidia_parse_minor(info, &minor) >= 0) {
			r = pathset_addf(s, "%s/nvidia%u", c->dev, minor);
		} else {
			/* Minor unknown: any GPU node of the driver counts. */
			for (int m = 0; r >= 0 && m < NVIDIA_MINORS_MAX; m++)
				r = pathset_addf(s, "%s/nvidia%d", c->dev, m);
		}
	}
	return r < 0 ? cn_err_set(r, "too many device nodes to check") : 0;
}

static int find_holders(struct ctx *c, const struct cn_vfio_func *gpu,
			const struct cn_vfio_func *members, size_t n_members,
			struct cn_vfio_user *users, size_t *ret_n)
{
	struct pathset s = {0};
	int r;

	r = user_paths(c, gpu, members, n_members, &s);
	if (r >= 0 && s.n > 0)
		r = cn_vfio_find_users(c->proc, (const char *const *)s.p, users, USERS_MAX);
	pathset_done(&s);
	if (r < 0)
		return r;
	*ret_n = (size_t)r;
	return 0;
}

static int in_use_error(const char *bdf, const struct cn_vfio_user *u, size_t n)
{
	return cn_err_set(-EBUSY, "GPU %s is in use: %s is open by pid %d (%s)%s; stop it first",
			  bdf, u[0].path, (int)u[0].pid, u[0].comm, n > 1 ? " and others" : "");
}

/* ---- node group and the udev rule ---------------------------------------------------------- */

static bool valid_group_name(const char *g)
{
	size_t l = strlen(g);

	if (l == 0 || l > 32 || g[0] == '-')
		return false;
	for (size_t i = 0; i < l; i++)
		if (!((g[i] >= 'a' && g[i] <= 'z') || (g[i] >= 'A' && g[i] <= 'Z') ||
		      (g[i] >= '0' && g[i] <= '9') || g[i] == '_' || g[i] == '-' || g[i] == '.'))
			return false;
	return true;
}

static int resolve_group(const struct cn_vfio_opts *o, char name[40], gid_t *ret_gid)
{
	static const char *const fallbacks[] = {"kvm", "vfio", "libvirt"};
	const char *want = o->device_group;
	struct group *g;

	if (!want || !*want)
		want = getenv("VFIO_DEVICE_GROUP");
	if (want && *want) {
		if (!valid_group_name(want))
			return cn_err_set(-EINVAL,
					  "VFIO device group '%s' is not a valid group name", want);
		g = getgrnam(want);
		if (!g)
			return cn_err_set(-ENOENT, "VFIO device group '%s' does not exist", want);
		(void)snprintf(name, 40, "%s", want);
		*ret_gid = g->gr_gid;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(fallbacks); i++) {
		g = getgrnam(fallbacks[i]);
		if (g) {
			(void)snprintf(name, 40, "%s", fallbacks[i]);
			*ret_gid = g->gr_gid;
			return 0;
		}
	}
	return cn_err_set(-ENOENT, "no group for the VFIO device nodes (none of kvm, vfio, libvirt "
				   "exists); set VFIO_DEVICE_GROUP");
}

int cn_vfio_udev_rule(const char *group, char **ret)
{
	char *s;

	if (!valid_group_name(group))
		return cn_err_set(-EINVAL, "group '%s' is not a valid group name", group);
	if (asprintf(
		&s,
		"# Written by 'cocoon gpu setup' (docs/vfio.md): VFIO device nodes for the VMM.\n"
		"# VFIO group nodes /dev/vfio/<N> (not the /dev/vfio/vfio container)\n"
		"SUBSYSTEM==\"vfio\", KERNEL!=\"vfio\", OWNER=\"root\", GROUP=\"%s\", "
		"MODE=\"0660\"\n"
		"# iommufd device nodes /dev/vfio/devices/vfioN\n"
		"SUBSYSTEM==\"vfio-dev\", OWNER=\"root\", GROUP=\"%s\", MODE=\"0660\"\n"
		"# /dev/iommu\n"
		"SUBSYSTEM==\"misc\", KERNEL==\"iommu\", OWNER=\"root\", GROUP=\"%s\", "
		"MODE=\"0660\"\n",
		group, group, group) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* Writes the rule if its content differs. *ret_changed tells whether it did (or would). */
static int write_rule(struct ctx *c, const char *group, bool *ret_changed)
{
	const char *dir = c->o->udev_rules_dir ? c->o->udev_rules_dir : "/etc/udev/rules.d";
	_cleanup_free_ char *rule = NULL;
	_cleanup_free_ uint8_t *old = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t old_len = 0;
	int r;

	r = cn_vfio_udev_rule(group, &rule);
	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 &&
	    cn_read_file_at(dfd, CN_VFIO_UDEV_RULE_NAME, RULE_FILE_MAX, &old, &old_len) >= 0 &&
	    old_len == strlen(rule) && memcmp(old, rule, old_len) == 0) {
		*ret_changed = false;
		return 0;
	}
	*ret_changed = true;
	cn_vfio_notef(c->o, "%swrite %s/%s (GROUP=\"%s\", MODE=\"0660\")",
		      c->o->dry_run ? "would " : "", dir, CN_VFIO_UDEV_RULE_NAME, group);
	if (c->o->dry_run)
		return 0;
	if (dfd < 0) {
		r = cn_mkdir_p(dir, 0755);
		if (r < 0)
			return cn_err_set(r, "cannot create '%s': %s", dir, strerror(-r));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return cn_err_set(-errno, "cannot open '%s': %s", dir, strerror(errno));
	}
	r = cn_write_file_atomic_at(dfd, CN_VFIO_UDEV_RULE_NAME, rule, strlen(rule), 0644);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s/%s': %s", dir, CN_VFIO_UDEV_RULE_NAME,
				  strerror(-r));
	return 0;
}

static int run_cmd(struct ctx *c, const char *const *argv)
{
	struct cn_vfio_proc_result res = {0};
	char line[1024] = "";
	size_t l = 0;
	int r;

	for (const char *const *a = argv; *a && l < sizeof(line); a++)
		l += (size_t)snprintf(line + l, sizeof(line) - l, "%s%s", a == argv ? "" : " ", *a);
	cn_vfio_notef(c->o, "%srun: %s", c->o->dry_run ? "would " : "", line);
	if (c->o->dry_run)
		return 0;
	r = cn_vfio_spawn(argv, 60000, &res);
	if (r < 0)
		return r;
	if (res.timed_out || res.status != 0)
		r = cn_err_set(-EIO, "'%s' %s %d", line,
			       res.timed_out ? "timed out after" : "exited",
			       res.timed_out ? 60 : res.status);
	cn_vfio_proc_result_done(&res);
	return r;
}

static int udev_apply(struct ctx *c, bool reload)
{
	_cleanup_free_ char *found = NULL;
	const char *udevadm = c->o->udevadm;
	int r;

	if (!udevadm) {
		r = cn_vfio_find_exe("udevadm", &found);
		if (r < 0)
			return r;
		udevadm = found;
	}
	if (reload) {
		r = run_cmd(c, (const char *const[]){udevadm, "control", "--reload-rules", NULL});
		if (r < 0)
			return r;
	}
	r = run_cmd(c, (const char *const[]){udevadm, "trigger", "--action=change",
					     "--subsystem-match=vfio", "--subsystem-match=vfio-dev",
					     NULL});
	if (r >= 0)
		r = run_cmd(c, (const char *const[]){udevadm, "trigger", "--action=change",
						     "--subsystem-match=misc",
						     "--sysname-match=iommu", NULL});
	if (r >= 0)
		r = run_cmd(c, (const char *const[]){udevadm, "settle", "--timeout=10", NULL});
	return r;
}

static int fix_node(struct ctx *c, const char *path, gid_t gid)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0; /* verify reports it */
	if (st.st_gid == gid && (st.st_mode & 07777) == 0660)
		return 0;
	cn_vfio_notef(c->o, "udev did not set %s: setting group %u and mode 0660", path,
		      (unsigned)gid);
	if (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0)
		return cn_err_set(-errno, "cannot set group and mode of %s: %s", path,
				  strerror(errno));
	return 0;
}

static int fix_nodes(struct ctx *c, const struct cn_vfio_func *f, gid_t gid)
{
	char path[PATH_MAX], name[32];
	bool has_dev;
	int r;

	(void)snprintf(path, sizeof(path), "%s/vfio/%d", c->dev, f->iommu_group);
	r = fix_node(c, path, gid);
	if (r >= 0 && cdev_name(c, f->bdf, name, &has_dev) >= 0 && name[0] && has_dev) {
		(void)snprintf(path, sizeof(path), "%s/vfio/devices/%s", c->dev, name);
		r = fix_node(c, path, gid);
	}
	if (r >= 0) {
		(void)snprintf(path, sizeof(path), "%s/iommu", c->dev);
		r = fix_node(c, path, gid);
	}
	return r;
}

/* ---- the readiness check ----------------------------------------------------------------- */

static void add_problem(struct cn_vfio_verdict *v, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_problem(struct cn_vfio_verdict *v, const char *fix, const char *fmt, ...)
{
	va_list ap;

	if (v->n == CN_VFIO_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(v->p[v->n].what, sizeof(v->p[v->n].what), fmt, ap);
	va_end(ap);
	(void)snprintf(v->p[v->n].fix, sizeof(v->p[v->n].fix), "%s", fix);
	v->n++;
}

/* Checks one node: present, group gid, mode 0660. */
static void check_node(struct cn_vfio_verdict *v, const char *path, const char *gname, gid_t gid,
		       const char *fix)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		add_problem(v, fix, "device node %s is missing", path);
		return;
	}
	if (st.st_gid != gid) {
		struct group *g = getgrgid(st.st_gid);

		add_problem(v, fix, "device node %s has group %s (expected %s)", path,
			    g ? g->gr_name : "?", gname);
	}
	if ((st.st_mode & 07777) != 0660)
		add_problem(v, fix, "device node %s has mode %04o (expected 0660)", path,
			    (unsigned)(st.st_mode & 07777));
}

static void check_nodes(struct ctx *c, const struct cn_vfio_func *f, struct cn_vfio_verdict *v,
			const char *fix)
{
	char gname[40], path[PATH_MAX], name[32];
	gid_t gid;
	bool has_dev;

	if (resolve_group(c->o, gname, &gid) < 0) {
		const char *env = getenv("VFIO_DEVICE_GROUP");

		if (c->o->device_group || (env && *env))
			add_problem(v, "set VFIO_DEVICE_GROUP to an existing group", "%s",
				    cn_err_msg());
		else
			add_problem(
			    v, "set VFIO_DEVICE_GROUP to the group the VMM runs as",
			    "no group for the VFIO device nodes (none of kvm, vfio, libvirt "
			    "exists)");
		cn_err_clear();
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/vfio/%d", c->dev, f->iommu_group);
	check_node(v, path, gname, gid, fix);
	if (cdev_name(c, f->bdf, name, &has_dev) < 0 || !name[0] || !has_dev) {
		add_problem(
		    v,
		    "use a kernel with CONFIG_VFIO_DEVICE_CDEV=y and CONFIG_IOMMUFD (Linux >= 6.6)",
		    "no VFIO device cdev for %s (iommufd passthrough needs it)", f->bdf);
	} else {
		(void)snprintf(path, sizeof(path), "%s/vfio/devices/%s", c->dev, name);
		check_node(v, path, gname, gid, fix);
	}
	(void)snprintf(path, sizeof(path), "%s/iommu", c->dev);
	check_node(v, path, gname, gid, fix);
}

int cn_vfio_verify(const struct cn_vfio_opts *o, const char *bdf_in, struct cn_vfio_verdict *ret)
{
	_cleanup_(ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	struct cn_vfio_verdict *v;
	char fix_setup[128], fix_allow[192];
	size_t n_members = 0, n_users = 0;
	int r;

	r = ctx_init(&c, o);
	if (r < 0)
		return r;
	r = read_gpu(&c, bdf_in, &f);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v->bdf, f.bdf, sizeof(v->bdf));
	memcpy(v->driver, f.driver, sizeof(v->driver));
	v->iommu_group = f.iommu_group;
	(void)snprintf(fix_setup, sizeof(fix_setup), "cocoon gpu setup %s", f.bdf);

	if (f.iommu_group < 0)
		add_problem(v, "enable the IOMMU: boot with intel_iommu=on iommu=pt, then reboot",
			    "%s has no IOMMU group (the IOMMU is off)", f.bdf);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		goto fail;

	if (strcmp(f.driver, "vfio-pci") != 0) {
		if (f.driver[0])
			add_problem(v, fix_setup, "%s is bound to %s (expected vfio-pci)", f.bdf,
				    f.driver);
		else
			add_problem(v, fix_setup,
				    "%s is not bound to any driver (expected vfio-pci)", f.bdf);
	}
	for (size_t i = 0; i < n_members; i++) {
		const struct cn_vfio_func *m = &members[i];

		if (member_tolerated(m) || !m->driver[0] || is_vfio_driver(m->driver))
			continue;
		bool own = m->vendor == 0x10de && same_slot(m->bdf, f.bdf);

		(void)snprintf(fix_allow, sizeof(fix_allow), "cocoon gpu setup %s%s%s", f.bdf,
			       own ? "" : " --allow-group-member ", own ? "" : m->bdf);
		add_problem(
		    v, fix_allow,
		    "%s (%s, in IOMMU group %d with %s) is bound to %s (expected vfio-pci or "
		    "no driver)",
		    m->bdf, cn_vfio_kind_name(m->kind), f.iommu_group, f.bdf, m->driver);
	}

	r = find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n_users; i++) {
		char fix[96];

		(void)snprintf(fix, sizeof(fix), "stop pid %d (%s) first", (int)users[i].pid,
			       users[i].comm);
		add_problem(v, fix, "%s is in use: %s is open by pid %d (%s)", f.bdf, users[i].path,
			    (int)users[i].pid, users[i].comm);
	}

	/* CC mode: never query a GPU someone holds (the query touches BAR0 and power state). */
	if (n_users > 0) {
		(void)snprintf(v->cc.raw, sizeof(v->cc.raw), "unknown (in use)");
	} else if (!cn_vfio_privileged(o)) {
		(void)snprintf(v->cc.raw, sizeof(v->cc.raw), "unknown (needs root)");
		(void)snprintf(fix_allow, sizeof(fix_allow), "sudo cocoon gpu verify %s", f.bdf);
		add_problem(v, fix_allow, "CC mode of %s is unknown (needs root)", f.bdf);
	} else {
		r = cn_gat_query(o, f.bdf, "CC", &v->cc);
		if (r < 0)
			goto fail;
		if (!v->cc.known)
			add_problem(v,
				    strstr(v->cc.raw, "not found")
					? "install gpu-admin-tools and set GPU_ADMIN_TOOLS_DIR or "
					  "--gpu-admin-tools"
					: fix_setup,
				    "CC mode of %s is %s", f.bdf, v->cc.raw);
		else if (v->cc.mode != CN_GAT_MODE_ON)
			add_problem(v, fix_setup, "CC mode of %s is %s (expected on)", f.bdf,
				    v->cc.raw);
		if (v->cc.known && cn_vfio_is_hopper(f.device)) {
			struct cn_gat_query pq;

			r = cn_gat_query(o, f.bdf, "PPCIe", &pq);
			if (r < 0)
				goto fail;
			if (pq.known && pq.mode != CN_GAT_MODE_OFF)
				add_problem(v, fix_setup, "PPCIe mode of %s is %s (expected off)",
					    f.bdf, pq.raw);
		}
	}

	if (strcmp(f.driver, "vfio-pci") == 0 && f.iommu_group >= 0)
		check_nodes(&c, &f, v, fix_setup);
	*ret = *v;
	free(v);
	return 0;
fail:
	free(v);
	return r;
}

/* ---- binding ----------------------------------------------------------------------------- */

static void printable(const char *v, char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s", strcmp(v, "\n") == 0 ? "\\n" : v);
}

static int do_write(struct ctx *c, const char *rel, const char *value, int timeout_ms)
{
	char pv[64];
	int r;

	printable(value, pv, sizeof(pv));
	cn_vfio_notef(c->o, "%swrite '%s' to %s/%s", c->o->dry_run ? "would " : "", pv, c->sysfs,
		      rel);
	if (c->o->dry_run)
		return 0;
	r = cn_vfio_sysfs_write(c->sysfs_fd, rel, value, timeout_ms);
	return r;
}

/* Waits until f's driver is want ("" = unbound; NULL = any driver). */
static int wait_driver(struct ctx *c, struct cn_vfio_func *f, const char *want, int timeout_ms)
{
	struct timespec t0, t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = cn_vfio_func_read(c->sysfs_fd, f->bdf, f);

		if (r < 0)
			return r;
		if (want ? strcmp(f->driver, want) == 0 : f->driver[0] != '\0')
			return 0;
		(void)clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >=
		    timeout_ms)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

/* After a hung unbind: who might the driver be waiting for? Any NVIDIA or VFIO node holder. */
static void holders_hint(struct ctx *c, const struct cn_vfio_func *f, char *out, size_t outsz)
{
	struct pathset s = {0};
	struct cn_vfio_user u[USERS_MAX];
	int r = pathset_addf(&s, "%s/nvidiactl", c->dev);

	if (r >= 0)
		r = pathset_addf(&s, "%s/nvidia-uvm", c->dev);
	for (int m = 0; r >= 0 && m < NVIDIA_MINORS_MAX; m++)
		r = pathset_addf(&s, "%s/nvidia%d", c->dev, m);
	if (r >= 0 && f->iommu_group >= 0)
		r = pathset_addf(&s, "%s/vfio/%d", c->dev, f->iommu_group);
	if (r >= 0)
		r = cn_vfio_find_users(c->proc, (const char *const *)s.p, u, USERS_MAX);
	pathset_done(&s);
	cn_err_clear();
	if (r > 0)
		(void)snprintf(out, outsz, "pid %d (%s) holds %s%s", (int)u[0].pid, u[0].comm,
			       u[0].path, r > 1 ? " and others" : "");
	else
		(void)snprintf(out, outsz, "no process holds an NVIDIA or VFIO node; see dmesg");
}

static int unbind(struct ctx *c, struct cn_vfio_func *f)
{
	char rel[PATH_MAX], old[CN_VFIO_NAME_MAX];
	int r;

	memcpy(old, f->driver, sizeof(old));
	/* Through the driver's own file: the kernel refuses (-ENODEV) if the device has meanwhile
	 * moved to another driver, where devices/BDF/driver/unbind would follow the new link. */
	(void)snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/unbind", f->driver);
	r = do_write(c, rel, f->bdf, unbind_timeout(c));
	if (r == -ETIMEDOUT) {
		char hint[512];

		holders_hint(c, f, hint, sizeof(hint));
		return cn_err_set(r,
				  "unbinding %s from %s did not finish within %d s (the kernel "
				  "keeps trying); %s",
				  f->bdf, old, unbind_timeout(c) / 1000, hint);
	}
	if (r < 0)
		return cn_err_set(r, "cannot unbind %s from %s: %s", f->bdf, old, cn_err_msg());
	if (c->o->dry_run) {
		f->driver[0] = '\0';
		return 0;
	}
	r = wait_driver(c, f, "", unbind_timeout(c));
	if (r == -ETIMEDOUT)
		return cn_err_set(r, "%s is still bound to %s %d s after the unbind", f->bdf, old,
				  unbind_timeout(c) / 1000);
	return r;
}

static int set_override(struct ctx *c, struct cn_vfio_func *f, const char *value)
{
	char rel[PATH_MAX];
	int r;

	(void)snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", f->bdf);
	r = do_write(c, rel, value, probe_timeout(c));
	if (r < 0)
		return cn_err_set(r, "cannot set driver_override of %s: %s", f->bdf, cn_err_msg());
	if (c->o->dry_run) {
		(void)snprintf(f->override, sizeof(f->override), "%s",
			       strcmp(value, "\n") == 0 ? "" : value);
		return 0;
	}
	r = cn_vfio_func_read(c->sysfs_fd, f->bdf, f);
	if (r < 0)
		return r;
	if (strcmp(f->override, strcmp(value, "\n") == 0 ? "" : value) != 0)
		return cn_err_set(-EIO, "driver_override of %s reads '%s' after writing '%s'",
				  f->bdf, f->override, value);
	return 0;
}

static int probe(struct ctx *c, struct cn_vfio_func *f, const char *want)
{
	int r = do_write(c, "bus/pci/drivers_probe", f->bdf, probe_timeout(c));

	if (r < 0)
		return cn_err_set(r, "cannot probe %s: %s", f->bdf, cn_err_msg());
	if (c->o->dry_run) {
		(void)snprintf(f->driver, sizeof(f->driver), "%s", want ? want : "");
		return 0;
	}
	/* drivers_probe is synchronous; the wait covers drivers that probe asynchronously. */
	r = wait_driver(c, f, want, want ? probe_timeout(c) : CN_MIN(probe_timeout(c), 1000));
	if (r == -ETIMEDOUT && want)
		return cn_err_set(r, "%s did not bind to %s within %d s (now: %s)", f->bdf, want,
				  probe_timeout(c) / 1000, f->driver[0] ? f->driver : "no driver");
	return r;
}

static int bind_vfio(struct ctx *c, struct cn_vfio_func *f, bool *changed)
{
	int r;

	if (strcmp(f->override, "vfio-pci") != 0) {
		r = set_override(c, f, "vfio-pci");
		if (r < 0)
			return r;
		*changed = true;
	}
	if (strcmp(f->driver, "vfio-pci") == 0)
		return 0;
	*changed = true;
	if (f->driver[0]) {
		cn_vfio_notef(c->o, "%s %s from %s", c->o->dry_run ? "would detach" : "detaching",
			      f->bdf, f->driver);
		r = unbind(c, f);
		if (r < 0)
			return r;
	}
	return probe(c, f, "vfio-pci");
}

static int ensure_vfio_driver(struct ctx *c)
{
	_cleanup_free_ char *modprobe = NULL;
	struct stat st;
	int r;

	if (fstatat(c->sysfs_fd, "bus/pci/drivers/vfio-pci", &st, 0) == 0)
		return 0;
	r = cn_vfio_find_exe("modprobe", &modprobe);
	if (r < 0)
		return cn_err_set(-ENOENT, "vfio-pci is not loaded and modprobe was not found");
	r = run_cmd(c, (const char *const[]){modprobe, "vfio-pci", NULL});
	if (r < 0)
		return r;
	if (!c->o->dry_run && fstatat(c->sysfs_fd, "bus/pci/drivers/vfio-pci", &st, 0) < 0)
		return cn_err_set(-ENOENT, "the vfio-pci driver is not available after modprobe");
	return 0;
}

/* Which group members setup takes: same-slot NVIDIA functions and explicitly allowed ones. */
static int members_to_take(const struct cn_vfio_opts *o, const struct cn_vfio_func *gpu,
			   const struct cn_vfio_func *members, size_t n, bool *take)
{
	for (size_t i = 0; i < n; i++) {
		const struct cn_vfio_func *m = &members[i];
		bool allowed = m->vendor == 0x10de && same_slot(m->bdf, gpu->bdf);

		take[i] = false;
		if (member_tolerated(m))
			continue;
		for (size_t j = 0; !allowed && j < o->n_allow_members; j++) {
			char a[CN_PCI_ADDR_BUFSZ];

			allowed = cn_pci_addr_normalize(o->allow_members[j], a) >= 0 &&
				  strcmp(a, m->bdf) == 0;
		}
		if (!allowed)
			return cn_err_set(
			    -EPERM,
			    "IOMMU group %d of %s also holds %s (%s, class 0x%06x, driver %s); "
			    "passthrough takes the whole group: add --allow-group-member %s "
			    "if that is intended",
			    gpu->iommu_group, gpu->bdf, m->bdf, cn_vfio_kind_name(m->kind),
			    m->class_code, m->driver[0] ? m->driver : "none", m->bdf);
		take[i] = true;
	}
	return 0;
}

/*
 * One setup/restore per GPU at a time: an exclusive flock on its sysfs directory (works on
 * sysfs, is released with the process). Another run on the same GPU fails at once.
 */
static int lock_device(struct ctx *c, const char *bdf, int *ret_fd)
{
	char path[PATH_MAX];
	int fd;

	*ret_fd = -EBADF;
	if (c->o->dry_run)
		return 0;
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s", bdf);
	fd = openat(c->sysfs_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		(void)close(fd);
		if (e == EWOULDBLOCK)
			return cn_err_set(-EBUSY, "another setup or restore of %s is running", bdf);
		return cn_err_set(-e, "cannot lock %s: %s", path, strerror(e));
	}
	*ret_fd = fd;
	return 0;
}

static int require_priv(const struct cn_vfio_opts *o, const char *what)
{
	/* A dry run changes nothing, so anyone may preview one. */
	if (!o->dry_run && !cn_vfio_privileged(o))
		return cn_err_set(-EPERM, "root required to %s", what);
	return 0;
}

static int query_required(const struct cn_vfio_opts *o, const char *bdf, const char *knob,
			  struct cn_gat_query *q)
{
	int r = cn_gat_query(o, bdf, knob, q);

	if (r < 0)
		return r;
	if (!q->known && !q->unsupported && !o->dry_run)
		return cn_err_set(-EIO, "cannot read the %s mode of %s: %s", knob, bdf, q->raw);
	return 0;
}

/* CC on (PPCIe off first on Hopper when it is on), then re-query. */
static int cc_on(struct ctx *c, const struct cn_vfio_func *f, bool *changed)
{
	const struct cn_vfio_opts *o = c->o;
	bool hopper = cn_vfio_is_hopper(f->device), ppcie_off = false, need_cc;
	struct cn_gat_query cc, pp = {0};
	int r;

	r = query_required(o, f->bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (hopper) {
		r = query_required(o, f->bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		ppcie_off = o->dry_run || (pp.known && pp.mode != CN_GAT_MODE_OFF);
	}
	need_cc = o->dry_run || !cc.known || cc.mode != CN_GAT_MODE_ON || ppcie_off;
	if (cc.known && cc.mode == CN_GAT_MODE_INVALID)
		cn_vfio_notef(o, "CC mode of %s is '%s' (an interrupted switch): setting it again",
			      f->bdf, cc.raw);
	if (ppcie_off) {
		/* Before CC on: PPCIe off rewrites the BAR0 knob (spec §2.5). */
		if (o->dry_run)
			cn_vfio_notef(o, "(only if PPCIe mode is on)");
		else
			cn_vfio_notef(o, "PPCIe mode of %s is %s: switching it off", f->bdf,
				      pp.raw);
		r = cn_gat_set(o, f->bdf, "ppcie", "off");
		if (r < 0)
			return r;
		*changed = !o->dry_run;
	}
	if (!need_cc)
		return 0;
	if (o->dry_run)
		cn_vfio_notef(o, "(only if CC mode is not on)");
	else
		cn_vfio_notef(o, "CC mode of %s is %s: switching it on", f->bdf, cc.raw);
	r = cn_gat_set(o, f->bdf, "cc", "on");
	if (r < 0)
		return r;
	if (o->dry_run)
		return 0;
	*changed = true;
	r = query_required(o, f->bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (!cc.known || cc.mode != CN_GAT_MODE_ON)
		return cn_err_set(-EIO, "CC mode of %s did not take: it reads %s after the reset",
				  f->bdf, cc.raw);
	if (ppcie_off) {
		r = query_required(o, f->bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		if (pp.known && pp.mode != CN_GAT_MODE_OFF)
			return cn_err_set(-EIO, "PPCIe mode of %s did not take: it reads %s",
					  f->bdf, pp.raw);
	}
	return 0;
}

/* The common start of setup and restore: privileges, sysfs, the GPU, and its per-GPU lock. */
static int begin_change(const struct cn_vfio_opts *o, const char *what, const char *bdf_in,
			struct ctx *c, struct cn_vfio_func *f, int *ret_lock_fd)
{
	int r;

	r = require_priv(o, what);
	if (r < 0)
		return r;
	r = ctx_init(c, o);
	if (r < 0)
		return r;
	r = read_gpu(c, bdf_in, f);
	if (r < 0)
		return r;
	return lock_device(c, f->bdf, ret_lock_fd);
}

int cn_vfio_setup(const struct cn_vfio_opts *o, const char *bdf_in)
{
	_cleanup_(ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	bool take[CN_VFIO_GROUP_MEMBERS_MAX], changed = false, rule_changed = false;
	size_t n_members = 0, n_users = 0;
	char gname[40];
	gid_t gid;
	_cleanup_close_ int lock_fd = -EBADF;
	int r;

	r = begin_change(o, "set up a GPU for passthrough", bdf_in, &c, &f, &lock_fd);
	if (r < 0)
		return r;
	if (f.iommu_group < 0)
		return cn_err_set(-EOPNOTSUPP,
				  "%s has no IOMMU group: the IOMMU is off (boot with "
				  "intel_iommu=on iommu=pt)",
				  f.bdf);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		return r;
	r = members_to_take(o, &f, members, n_members, take);
	if (r < 0)
		return r;
	r = find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		return r;
	if (n_users > 0)
		return in_use_error(f.bdf, users, n_users);
	r = resolve_group(o, gname, &gid);
	if (r < 0)
		return r;
	r = ensure_vfio_driver(&c);
	if (r < 0)
		return r;
	/* The rule first, so the add events of the new nodes already apply it. */
	r = write_rule(&c, gname, &rule_changed);
	if (r < 0)
		return r;

	/*
	 * --rebind: cycle vfio-pci once, the known cure for iommufd binds failing with EINVAL
	 * after a VMM crash loop (spec §3.5; canonical's reattach-then-detach).
	 */
	if (o->rebind && strcmp(f.driver, "vfio-pci") == 0) {
		cn_vfio_notef(o, "%s %s from vfio-pci (--rebind)",
			      o->dry_run ? "would detach" : "detaching", f.bdf);
		r = unbind(&c, &f);
		if (r < 0)
			return r;
	}

	/* Detach from nvidia and bind vfio-pci before any mode switch (spec §2.6). */
	r = bind_vfio(&c, &f, &changed);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_members; i++) {
		if (!take[i])
			continue;
		r = bind_vfio(&c, &members[i], &changed);
		if (r < 0)
			return r;
	}

	r = cc_on(&c, &f, &changed);
	if (r < 0)
		return r;

	if (!o->dry_run) {
		struct cn_vfio_verdict *v = calloc(1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		check_nodes(&c, &f, v, "");
		if (v->n > 0 || rule_changed)
			r = udev_apply(&c, rule_changed);
		free(v);
		if (r < 0)
			return r;
		/* Without a running udev (containers, early boot) set them ourselves. */
		r = fix_nodes(&c, &f, gid);
		if (r < 0)
			return r;
	} else {
		r = udev_apply(&c, true);
		if (r < 0)
			return r;
		cn_vfio_notef(o, "dry run: nothing was changed");
		return 0;
	}

	{
		struct cn_vfio_verdict *v = calloc(1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		r = cn_vfio_verify(o, f.bdf, v);
		if (r >= 0 && v->n > 0)
			r = cn_err_set(-EIO, "%s is still not ready after setup: %s", f.bdf,
				       v->p[0].what);
		free(v);
		if (r < 0)
			return r;
	}
	cn_vfio_notef(o, "%s %s", f.bdf,
		      changed || rule_changed ? "is ready for TDX passthrough"
					      : "was already set up; nothing changed");
	return 0;
}

int cn_vfio_restore(const struct cn_vfio_opts *o, const char *bdf_in)
{
	_cleanup_(ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	struct cn_vfio_func f, members[CN_VFIO_GROUP_MEMBERS_MAX];
	struct cn_vfio_user users[USERS_MAX];
	struct cn_gat_query cc, pp = {0};
	bool hopper, give[CN_VFIO_GROUP_MEMBERS_MAX], nvidia_loaded;
	size_t n_members = 0, n_users = 0;
	struct stat st;
	_cleanup_close_ int lock_fd = -EBADF;
	int r;

	r = begin_change(o, "restore a GPU", bdf_in, &c, &f, &lock_fd);
	if (r < 0)
		return r;
	hopper = cn_vfio_is_hopper(f.device);
	r = cn_vfio_group_members(c.sysfs_fd, &f, members, ELEMENTSOF(members), &n_members);
	if (r < 0)
		return r;
	r = find_holders(&c, &f, members, n_members, users, &n_users);
	if (r < 0)
		return r;
	/* Held through vfio: a VMM runs on it; never query or touch it. */
	if (n_users > 0 && strcmp(f.driver, "nvidia") != 0)
		return in_use_error(f.bdf, users, n_users);
	nvidia_loaded = fstatat(c.sysfs_fd, "bus/pci/drivers/nvidia", &st, 0) == 0;

	/* Ask first: a missing tool must fail before anything is unbound. */
	r = cn_gat_query(o, f.bdf, "CC", &cc);
	if (r < 0)
		return r;
	if (!cc.known && strcmp(f.driver, "nvidia") != 0 && !o->dry_run)
		return cn_err_set(-EIO, "cannot read the CC mode of %s: %s", f.bdf, cc.raw);
	if (hopper && cc.known) {
		r = cn_gat_query(o, f.bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
	}
	/* Already restored: nothing to do, even while nvidia users (persistenced) hold it. */
	if (strcmp(f.driver, "nvidia") == 0 && !f.override[0] && cc.known &&
	    cc.mode == CN_GAT_MODE_OFF && (!pp.known || pp.mode == CN_GAT_MODE_OFF)) {
		cn_vfio_notef(o, "%s is already on nvidia with CC mode off; nothing changed",
			      f.bdf);
		return 0;
	}
	if (n_users > 0)
		return in_use_error(f.bdf, users, n_users);

	/* Unbind (vfio-pci, or nvidia with CC still on) and clear the overrides. */
	for (size_t i = 0; i <= n_members; i++) {
		struct cn_vfio_func *m = i == 0 ? &f : &members[i - 1];

		if (i > 0) {
			give[i - 1] =
			    !member_tolerated(m) && (strcmp(m->override, "vfio-pci") == 0 ||
						     strcmp(m->driver, "vfio-pci") == 0);
			if (!give[i - 1])
				continue;
		}
		if (m->driver[0]) {
			cn_vfio_notef(o, "%s %s from %s", o->dry_run ? "would detach" : "detaching",
				      m->bdf, m->driver);
			r = unbind(&c, m);
			if (r < 0)
				return r;
		}
		if (m->override[0]) {
			r = set_override(&c, m, "\n");
			if (r < 0)
				return r;
		}
	}

	/* Mode switches while nothing is bound (spec §1.4 item 7). */
	if (o->dry_run || !cc.known || cc.mode != CN_GAT_MODE_OFF) {
		if (!cc.known && !o->dry_run) {
			r = query_required(o, f.bdf, "CC", &cc);
			if (r < 0)
				return r;
		}
		if (o->dry_run)
			cn_vfio_notef(o, "(only if CC mode is not off)");
		if (o->dry_run || cc.mode != CN_GAT_MODE_OFF) {
			r = cn_gat_set(o, f.bdf, "cc", "off");
			if (r < 0)
				return r;
		}
		if (!o->dry_run) {
			r = query_required(o, f.bdf, "CC", &cc);
			if (r < 0)
				return r;
			if (!cc.known || cc.mode != CN_GAT_MODE_OFF)
				return cn_err_set(-EIO,
						  "CC mode of %s did not take: it reads %s after "
						  "the reset (the GPU is left unbound)",
						  f.bdf, cc.raw);
		}
	}
	if (hopper) {
		r = query_required(o, f.bdf, "PPCIe", &pp);
		if (r < 0)
			return r;
		if (o->dry_run)
			cn_vfio_notef(o, "(only if PPCIe mode is on)");
		if (o->dry_run || (pp.known && pp.mode != CN_GAT_MODE_OFF)) {
			r = cn_gat_set(o, f.bdf, "ppcie", "off");
			if (r < 0)
				return r;
		}
	}

	/* Reprobe so the host drivers take the functions back. */
	for (size_t i = 0; i < n_members; i++) {
		if (!give[i])
			continue;
		r = probe(&c, &members[i], NULL);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		cn_err_clear();
	}
	if (!nvidia_loaded) {
		r = probe(&c, &f, NULL);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		cn_err_clear();
		cn_vfio_notef(o,
			      "the nvidia module is not loaded: %s is left %s; run 'modprobe "
			      "nvidia' and then 'cocoon gpu restore %s'",
			      f.bdf, f.driver[0] ? f.driver : "without a driver", f.bdf);
		return 1;
	}
	r = probe(&c, &f, "nvidia");
	if (r < 0)
		return r;
	if (o->dry_run)
		cn_vfio_notef(o, "dry run: nothing was changed");
	else
		cn_vfio_notef(o, "%s is back on nvidia with CC mode off", f.bdf);
	return 0;
}

/* ---- list -------------------------------------------------------------------------------- */

static int cmp_info(const void *a, const void *b)
{
	const struct cn_vfio_gpu_info *x = a, *y = b;

	return strcmp(x->f.bdf, y->f.bdf);
}

int cn_vfio_list(const struct cn_vfio_opts *o, bool query_modes, struct cn_vfio_gpu_info **ret,
		 size_t *ret_n)
{
	_cleanup_(ctx_done) struct ctx c = {.sysfs_fd = -EBADF};
	_cleanup_free_ struct cn_vfio_gpu_info *list = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t n = 0, cap = 0, seen = 0;
	bool priv = cn_vfio_privileged(o);
	DIR *d;
	struct dirent *de;
	int r = 0;

	r = ctx_init(&c, o);
	if (r < 0)
		return r;
	dfd = openat(c.sysfs_fd, "bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot list %s/bus/pci/devices: %s", c.sysfs,
				  strerror(errno));
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		char bdf[CN_PCI_ADDR_BUFSZ];
		struct cn_vfio_func f;

		if (de->d_name[0] == '.')
			continue;
		if (++seen > CN_VFIO_DEVICES_MAX) {
			r = cn_err_set(-E2BIG, "more than %d PCI devices", CN_VFIO_DEVICES_MAX);
			break;
		}
		if (cn_pci_addr_normalize(de->d_name, bdf) < 0 || strcmp(bdf, de->d_name) != 0)
			continue;
		r = cn_vfio_func_read(c.sysfs_fd, bdf, &f);
		if (r < 0)
			break;
		if (f.vendor != 0x10de ||
		    (f.kind != CN_VFIO_KIND_GPU && f.kind != CN_VFIO_KIND_NVSWITCH))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct cn_vfio_gpu_info *nl = reallocarray(list, ncap, sizeof(*list));

			if (!nl) {
				r = -ENOMEM;
				break;
			}
			list = nl;
			cap = ncap;
		}
		memset(&list[n], 0, sizeof(list[n]));
		list[n].f = f;
		list[n].product = cn_vfio_product_name(f.vendor, f.device);
		r = cn_vfio_group_members(c.sysfs_fd, &f, list[n].members,
					  ELEMENTSOF(list[n].members), &list[n].n_members);
		if (r < 0)
			break;
		n++;
	}
	(void)closedir(d);
	if (r < 0)
		return r;
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_info);

	for (size_t i = 0; i < n; i++) {
		struct cn_vfio_gpu_info *g = &list[i];
		struct cn_vfio_user users[USERS_MAX];
		size_t n_users = 0;
		bool ppcie_applies = g->f.kind == CN_VFIO_KIND_NVSWITCH
					 ? g->f.device == 0x22a3
					 : cn_vfio_is_hopper(g->f.device);

		(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw), "n/a");
		if (!query_modes) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (not queried)");
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw),
					       "unknown (not queried)");
			continue;
		}
		if (!priv) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (needs root)");
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw),
					       "unknown (needs root)");
			continue;
		}
		r = find_holders(&c, &g->f, g->members, g->n_members, users, &n_users);
		if (r < 0)
			return r;
		if (n_users > 0) {
			(void)snprintf(g->cc.raw, sizeof(g->cc.raw), "unknown (in use by pid %d)",
				       (int)users[0].pid);
			if (ppcie_applies)
				(void)snprintf(g->ppcie.raw, sizeof(g->ppcie.raw), "%s", g->cc.raw);
			continue;
		}
		r = cn_gat_query(o, g->f.bdf, "CC", &g->cc);
		if (r < 0)
			return r;
		if (ppcie_applies) {
			r = cn_gat_query(o, g->f.bdf, "PPCIe", &g->ppcie);
			if (r < 0)
				return r;
		}
	}
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}
