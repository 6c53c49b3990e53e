/* SPDX-License-Identifier: Apache-2.0 */
/* The VFIO device nodes: their group, the udev rule that sets it, checks and fixes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RULE_FILE_MAX (64 * 1024)

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "vfio/ops.h"
#include "vfio/vfio.h"

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

int vfio_resolve_group(const struct cn_vfio_opts *o, char name[40], gid_t *ret_gid)
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
int vfio_write_rule(struct ctx *c, const char *group, bool *ret_changed)
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
		r = cn_mkdir_open(dir, 0755, &dfd);
		if (r < 0)
			return r;
	}
	r = cn_write_file_atomic_at(dfd, CN_VFIO_UDEV_RULE_NAME, rule, strlen(rule), 0644);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s/%s': %s", dir, CN_VFIO_UDEV_RULE_NAME,
				  strerror(-r));
	return 0;
}

int vfio_run_cmd(struct ctx *c, const char *const *argv)
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

int vfio_udev_apply(struct ctx *c, bool reload)
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
		r = vfio_run_cmd(c,
				 (const char *const[]){udevadm, "control", "--reload-rules", NULL});
		if (r < 0)
			return r;
	}
	r = vfio_run_cmd(c, (const char *const[]){udevadm, "trigger", "--action=change",
						  "--subsystem-match=vfio",
						  "--subsystem-match=vfio-dev", NULL});
	if (r >= 0)
		r = vfio_run_cmd(c, (const char *const[]){udevadm, "trigger", "--action=change",
							  "--subsystem-match=misc",
							  "--sysname-match=iommu", NULL});
	if (r >= 0)
		r = vfio_run_cmd(c, (const char *const[]){udevadm, "settle", "--timeout=10", NULL});
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

int vfio_fix_nodes(struct ctx *c, const struct cn_vfio_func *f, gid_t gid)
{
	char path[PATH_MAX], name[32];
	bool has_dev;
	int r;

	(void)snprintf(path, sizeof(path), "%s/vfio/%d", c->dev, f->iommu_group);
	r = fix_node(c, path, gid);
	if (r >= 0 && vfio_cdev_name(c, f->bdf, name, &has_dev) >= 0 && name[0] && has_dev) {
		(void)snprintf(path, sizeof(path), "%s/vfio/devices/%s", c->dev, name);
		r = fix_node(c, path, gid);
	}
	if (r >= 0) {
		(void)snprintf(path, sizeof(path), "%s/iommu", c->dev);
		r = fix_node(c, path, gid);
	}
	return r;
}

static void check_node(struct cn_vfio_verdict *v, const char *path, const char *gname, gid_t gid,
		       const char *fix)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		vfio_add_problem(v, fix, "device node %s is missing", path);
		return;
	}
	if (st.st_gid != gid) {
		struct group *g = getgrgid(st.st_gid);

		vfio_add_problem(v, fix, "device node %s has group %s (expected %s)", path,
				 g ? g->gr_name : "?", gname);
	}
	if ((st.st_mode & 07777) != 0660)
		vfio_add_problem(v, fix, "device node %s has mode %04o (expected 0660)", path,
				 (unsigned)(st.st_mode & 07777));
}

void vfio_check_nodes(struct ctx *c, const struct cn_vfio_func *f, struct cn_vfio_verdict *v,
		      const char *fix)
{
	char gname[40], path[PATH_MAX], name[32];
	gid_t gid;
	bool has_dev;

	if (vfio_resolve_group(c->o, gname, &gid) < 0) {
		const char *env = getenv("VFIO_DEVICE_GROUP");

		if (c->o->device_group || (env && *env))
			vfio_add_problem(v, "set VFIO_DEVICE_GROUP to an existing group", "%s",
					 cn_err_msg());
		else
			vfio_add_problem(
			    v, "set VFIO_DEVICE_GROUP to the group the VMM runs as",
			    "no group for the VFIO device nodes (none of kvm, vfio, libvirt "
			    "exists)");
		cn_err_clear();
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/vfio/%d", c->dev, f->iommu_group);
	check_node(v, path, gname, gid, fix);
	if (vfio_cdev_name(c, f->bdf, name, &has_dev) < 0 || !name[0] || !has_dev) {
		vfio_add_problem(
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
