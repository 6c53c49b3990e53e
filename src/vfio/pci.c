/* SPDX-License-Identifier: Apache-2.0 */
/* PCI addresses, sysfs value parsers, and reading one function from sysfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "vfio/vfio.h"

/* Longest sysfs attribute we read (class, vendor, numa_node, driver_override are < 64 bytes). */
#define ATTR_MAX 256

/* Exactly n hex digits from s into *ret. */
static int hex_n(const char *s, size_t n, uint32_t *ret)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = cn_hexval(s[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*ret = v;
	return 0;
}

int cn_pci_addr_parse(const char *s, struct cn_pci_addr *ret)
{
	struct cn_pci_addr a = {0};
	const char *colon1, *colon2, *dot, *p;
	size_t len, dlen, flen;
	uint32_t v;

	if (!s)
		return -EINVAL;
	len = strnlen(s, 32);
	if (len == 0 || len >= 32)
		return -EINVAL;
	colon1 = strchr(s, ':');
	if (!colon1)
		return -EINVAL;
	colon2 = strchr(colon1 + 1, ':');
	if (colon2) {
		if (strchr(colon2 + 1, ':'))
			return -EINVAL;
		dlen = (size_t)(colon1 - s);
		if (dlen < 1 || dlen > 8 || hex_n(s, dlen, &a.domain) < 0)
			return -EINVAL;
		p = colon1 + 1;
	} else {
		p = s;
	}
	/* p -> "bb:dd.f" or "bb:dd.ff" */
	if (hex_n(p, 2, &v) < 0 || p[2] != ':')
		return -EINVAL;
	a.bus = (uint8_t)v;
	p += 3;
	if (hex_n(p, 2, &v) < 0 || v > 0x1f || p[2] != '.')
		return -EINVAL;
	a.dev = (uint8_t)v;
	dot = p + 2;
	p = dot + 1;
	flen = strlen(p);
	if (flen == 2 && p[0] == '0')
		p++;
	else if (flen != 1)
		return -EINVAL;
	if (*p < '0' || *p > '7')
		return -EINVAL;
	a.fn = (uint8_t)(*p - '0');
	*ret = a;
	return 0;
}

void cn_pci_addr_format(const struct cn_pci_addr *a, char out[CN_PCI_ADDR_BUFSZ])
{
	(void)snprintf(out, CN_PCI_ADDR_BUFSZ, "%04x:%02x:%02x.%x", a->domain, a->bus, a->dev,
		       a->fn);
}

int cn_pci_addr_normalize(const char *s, char out[CN_PCI_ADDR_BUFSZ])
{
	struct cn_pci_addr a;
	int r = cn_pci_addr_parse(s, &a);

	if (r < 0)
		return r;
	cn_pci_addr_format(&a, out);
	return 0;
}

int cn_sysfs_parse_hex(const char *s, uint32_t max, uint32_t *ret)
{
	size_t n;
	uint32_t v;

	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -EBADMSG;
	n = strnlen(s + 2, 9);
	if (n < 1 || n > 8 || hex_n(s + 2, n, &v) < 0)
		return -EBADMSG;
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int cn_sysfs_parse_numa(const char *s, int32_t *ret)
{
	uint32_t v;

	if (!s)
		return -EBADMSG;
	if (strcmp(s, "-1") == 0) {
		*ret = -1;
		return 0;
	}
	if (s[0] == '0' && s[1] != '\0')
		return -EBADMSG; /* no leading zeros */
	if (cn_parse_u32(s, 65535, &v) < 0)
		return -EBADMSG;
	*ret = (int32_t)v;
	return 0;
}

int cn_nvidia_parse_minor(const char *text, uint32_t *ret)
{
	static const char key[] = "Device Minor:";
	const char *line = text;
	bool found = false;
	uint32_t minor = 0;

	if (!text)
		return -EBADMSG;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t llen = end ? (size_t)(end - line) : strlen(line);

		if (llen >= sizeof(key) - 1 && memcmp(line, key, sizeof(key) - 1) == 0) {
			const char *p = line + sizeof(key) - 1;
			size_t rest = llen - (sizeof(key) - 1);
			uint64_t v;

			while (rest > 0 && (*p == ' ' || *p == '\t')) {
				p++;
				rest--;
			}
			while (rest > 0 &&
			       (p[rest - 1] == ' ' || p[rest - 1] == '\t' || p[rest - 1] == '\r'))
				rest--;
			if (found || rest == 0 || rest > 10 || cn_parse_u64_n(p, rest, 255, &v) < 0)
				return -EBADMSG;
			minor = (uint32_t)v;
			found = true;
		}
		if (!end)
			break;
		line = end + 1;
	}
	if (!found)
		return -EBADMSG;
	*ret = minor;
	return 0;
}

/* ---- product table (spec host-tools §2.4) ------------------------------------------------- */

static const struct {
	uint16_t id;
	const char *name;
} products[] = {
    {0x2313, "H100"},
    {0x2321, "H100 NVL"},
    {0x2322, "H800 PCIe"},
    {0x2324, "H800"},
    {0x2329, "H20"},
    {0x2330, "H100 SXM"},
    {0x2331, "H100 PCIe"},
    {0x2335, "H200 SXM"},
    {0x2336, "H100"},
    {0x2337, "H100"},
    {0x2338, "H100"},
    {0x2339, "H100"},
    {0x233b, "H200 NVL"},
    {0x233d, "H100"},
    {0x2342, "GH200"},
    {0x2901, "B200"},
    {0x2941, "GB200"},
    {0x22a3, "NVSwitch (LS10)"},
    {0x1af1, "NVSwitch (LR10)"},
};

const char *cn_vfio_product_name(uint32_t vendor, uint32_t device)
{
	if (vendor != 0x10de)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(products); i++)
		if (products[i].id == device)
			return products[i].name;
	return NULL;
}

bool cn_vfio_is_hopper(uint32_t device)
{
	/* gpu-admin-tools treats unknown IDs in this range as GH100 (spec §2.4). */
	return device >= 0x22f0 && device <= 0x237f && device != 0x22a3;
}

const char *cn_vfio_kind_name(enum cn_vfio_kind k)
{
	switch (k) {
	case CN_VFIO_KIND_GPU:
		return "gpu";
	case CN_VFIO_KIND_NVSWITCH:
		return "nvswitch";
	case CN_VFIO_KIND_AUDIO:
		return "audio";
	case CN_VFIO_KIND_BRIDGE:
		return "bridge";
	case CN_VFIO_KIND_OTHER:
	default:
		return "other";
	}
}

static enum cn_vfio_kind classify(uint32_t vendor, uint32_t class_code)
{
	uint32_t cls = class_code >> 8;

	if (cls == 0x0300 || cls == 0x0302)
		return CN_VFIO_KIND_GPU;
	if (cls == 0x0680 && vendor == 0x10de)
		return CN_VFIO_KIND_NVSWITCH;
	if (cls == 0x0403)
		return CN_VFIO_KIND_AUDIO;
	if (cls == 0x0604)
		return CN_VFIO_KIND_BRIDGE;
	return CN_VFIO_KIND_OTHER;
}

/* ---- sysfs reads ------------------------------------------------------------------------- */

bool cn_vfio_privileged(const struct cn_vfio_opts *o)
{
	const char *root = o->roots.sysfs ? o->roots.sysfs : "/sys";
	char *real;
	bool is_sys;

	if (geteuid() == 0)
		return true;
	real = realpath(root, NULL);
	is_sys = !real || strcmp(real, "/sys") == 0;
	free(real);
	return !is_sys;
}

int cn_vfio_open_sysfs(const struct cn_vfio_opts *o, int *ret_fd)
{
	const char *root = o->roots.sysfs ? o->roots.sysfs : "/sys";
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return cn_err_set(-errno, "cannot open sysfs root '%s': %s", root, strerror(errno));
	*ret_fd = fd;
	return 0;
}

static int read_dev_attr(int sysfs_fd, const char *bdf, const char *name, char **ret)
{
	char path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/%s", bdf, name);
	return cn_read_virtual_at(sysfs_fd, path, ATTR_MAX, ret);
}

/* Basename of the symlink <rel>; "" (and 0) when it does not exist. */
static int read_link_base(int sysfs_fd, const char *rel, char *out, size_t outsz)
{
	char buf[PATH_MAX];
	const char *base;
	ssize_t n = readlinkat(sysfs_fd, rel, buf, sizeof(buf) - 1);

	if (n < 0) {
		if (errno == ENOENT) {
			out[0] = '\0';
			return 0;
		}
		return -errno;
	}
	buf[n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    strlen(base) >= outsz)
		return -EBADMSG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

int cn_vfio_func_read(int sysfs_fd, const char *bdf, struct cn_vfio_func *ret)
{
	struct cn_vfio_func f = {.iommu_group = -1, .numa_node = -1};
	char path[PATH_MAX], grp[32];
	_cleanup_free_ char *s = NULL;
	struct stat st;
	int r;

	if (strlen(bdf) >= sizeof(f.bdf))
		return cn_err_set(-EINVAL, "PCI address '%s' is too long", bdf);
	memcpy(f.bdf, bdf, strlen(bdf) + 1);
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s", bdf);
	if (fstatat(sysfs_fd, path, &st, 0) < 0) {
		if (errno == ENOENT)
			return cn_err_set(-ENOENT, "no PCI device %s", bdf);
		return cn_err_set(-errno, "cannot stat PCI device %s: %s", bdf, strerror(errno));
	}

	r = read_dev_attr(sysfs_fd, bdf, "vendor", &s);
	if (r >= 0)
		r = cn_sysfs_parse_hex(s, 0xffff, &f.vendor);
	if (r < 0)
		return cn_err_set(r, "PCI device %s: attribute 'vendor' ('%s'): %s", bdf,
				  s ? s : "", strerror(-r));
	free(TAKE_PTR(s));
	r = read_dev_attr(sysfs_fd, bdf, "device", &s);
	if (r >= 0)
		r = cn_sysfs_parse_hex(s, 0xffff, &f.device);
	if (r < 0)
		return cn_err_set(r, "PCI device %s: attribute 'device' ('%s'): %s", bdf,
				  s ? s : "", strerror(-r));
	free(TAKE_PTR(s));
	r = read_dev_attr(sysfs_fd, bdf, "class", &s);
	if (r >= 0)
		r = cn_sysfs_parse_hex(s, 0xffffff, &f.class_code);
	if (r < 0)
		return cn_err_set(r, "PCI device %s: attribute 'class' ('%s'): %s", bdf, s ? s : "",
				  strerror(-r));
	free(TAKE_PTR(s));
	f.kind = classify(f.vendor, f.class_code);

	r = read_dev_attr(sysfs_fd, bdf, "numa_node", &s);
	if (r >= 0) {
		r = cn_sysfs_parse_numa(s, &f.numa_node);
		if (r < 0)
			return cn_err_set(
			    r, "PCI device %s: attribute 'numa_node' ('%s') is malformed", bdf, s);
	} else if (r != -ENOENT) {
		return cn_err_set(r, "PCI device %s: cannot read 'numa_node': %s", bdf,
				  strerror(-r));
	}
	free(TAKE_PTR(s));

	r = read_dev_attr(sysfs_fd, bdf, "driver_override", &s);
	if (r >= 0) {
		if (strcmp(s, "(null)") != 0) {
			if (strlen(s) >= sizeof(f.override) || strchr(s, '/'))
				return cn_err_set(
				    -EBADMSG, "PCI device %s: 'driver_override' is malformed", bdf);
			memcpy(f.override, s, strlen(s) + 1);
		}
	} else if (r != -ENOENT) {
		return cn_err_set(r, "PCI device %s: cannot read 'driver_override': %s", bdf,
				  strerror(-r));
	}

	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/driver", bdf);
	r = read_link_base(sysfs_fd, path, f.driver, sizeof(f.driver));
	if (r < 0)
		return cn_err_set(r, "PCI device %s: cannot read the 'driver' link: %s", bdf,
				  strerror(-r));
	(void)snprintf(path, sizeof(path), "bus/pci/devices/%s/iommu_group", bdf);
	r = read_link_base(sysfs_fd, path, grp, sizeof(grp));
	if (r < 0)
		return cn_err_set(r, "PCI device %s: cannot read the 'iommu_group' link: %s", bdf,
				  strerror(-r));
	if (grp[0]) {
		uint32_t g;

		if (cn_parse_u32(grp, INT32_MAX, &g) < 0)
			return cn_err_set(
			    -EBADMSG, "PCI device %s: IOMMU group '%s' is not a number", bdf, grp);
		f.iommu_group = (int32_t)g;
	}
	*ret = f;
	return 0;
}

static int cmp_func(const void *a, const void *b)
{
	const struct cn_vfio_func *x = a, *y = b;

	return strcmp(x->bdf, y->bdf);
}

int cn_vfio_group_members(int sysfs_fd, const struct cn_vfio_func *f, struct cn_vfio_func *out,
			  size_t max, size_t *ret_n)
{
	char path[PATH_MAX];
	_cleanup_close_ int dfd = -EBADF;
	DIR *d;
	struct dirent *de;
	size_t n = 0;
	int r = 0;

	if (f->iommu_group < 0) {
		*ret_n = 0;
		return 0;
	}
	(void)snprintf(path, sizeof(path), "kernel/iommu_groups/%d/devices", f->iommu_group);
	dfd = openat(sysfs_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "cannot list IOMMU group %d: %s", f->iommu_group,
				  strerror(errno));
	d = fdopendir(dfd);
	if (!d)
		return cn_err_set(-errno, "cannot list IOMMU group %d", f->iommu_group);
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		char bdf[CN_PCI_ADDR_BUFSZ];

		if (de->d_name[0] == '.')
			continue;
		if (cn_pci_addr_normalize(de->d_name, bdf) < 0 || strcmp(bdf, de->d_name) != 0) {
			r = cn_err_set(-EBADMSG, "IOMMU group %d: unexpected entry '%s'",
				       f->iommu_group, de->d_name);
			break;
		}
		if (strcmp(bdf, f->bdf) == 0)
			continue;
		if (n == max) {
			r = cn_err_set(-E2BIG, "IOMMU group %d has more than %zu members",
				       f->iommu_group, max);
			break;
		}
		r = cn_vfio_func_read(sysfs_fd, bdf, &out[n]);
		if (r < 0)
			break;
		n++;
	}
	(void)closedir(d);
	if (r < 0)
		return r;
	qsort(out, n, sizeof(out[0]), cmp_func);
	*ret_n = n;
	return 0;
}

void cn_vfio_notef(const struct cn_vfio_opts *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!o->note)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->note(o->userdata, buf);
}
