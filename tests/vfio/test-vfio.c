/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/vfio: the parsers (known answers, truncation and bit-flip sweeps), the udev
 * rule, the /proc scan, and cn_vfio_check_ready() on static fake sysfs trees. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strv.h"
#include "harness.h"
#include "vfio/ready.h"
#include "vfio/vfio.h"

#define ELEMENTSOF_(a) (sizeof(a) / sizeof((a)[0]))

static void check_addr(const char *in, const char *want)
{
	char out[CN_PCI_ADDR_BUFSZ];

	if (want) {
		ASSERT_OK(cn_pci_addr_normalize(in, out));
		ASSERT_STREQ(out, want);
	} else {
		memcpy(out, "untouched", 10);
		ASSERT_ERR(cn_pci_addr_normalize(in, out), -EINVAL);
		ASSERT_STREQ(out, "untouched");
	}
}

static void test_addr_forms(void)
{
	check_addr("01:00.0", "0000:01:00.0");
	check_addr("0000:01:00.0", "0000:01:00.0");
	check_addr("0000:01:00.00", "0000:01:00.0");
	check_addr("0000:AB:1f.7", "0000:ab:1f.7");
	check_addr("0001:81:00.0", "0001:81:00.0");   /* non-zero domain kept */
	check_addr("10000:e1:00.0", "10000:e1:00.0"); /* VMD domains have 5 digits */
	check_addr("1:81:00.0", "0001:81:00.0");
	check_addr("ffffffff:ff:1f.07", "ffffffff:ff:1f.7");
	check_addr("", NULL);
	check_addr("1:00.0", NULL);
	check_addr("01:0.0", NULL);
	check_addr("01:00.8", NULL);
	check_addr("01:20.0", NULL); /* device > 31 */
	check_addr("01:00.10", NULL);
	check_addr("01:00.000", NULL);
	check_addr("123456789:01:00.0", NULL);
	check_addr("0000:01:00.0 ", NULL);
	check_addr(" 0000:01:00.0", NULL);
	check_addr("0000:01:00.0\n", NULL);
	check_addr("0000:01:00", NULL);
	check_addr("0000:01:00.", NULL);
	check_addr("0000::01:00.0", NULL);
	check_addr("x000:01:00.0", NULL);
	check_addr("0000:01:00:0", NULL);
	check_addr("0000:0g:00.0", NULL);
	check_addr("0:0:01:00.0", NULL);
	ASSERT_ERR(cn_pci_addr_normalize(NULL, (char[CN_PCI_ADDR_BUFSZ]){0}), -EINVAL);
}

/* Every prefix and every single-bit flip of a valid address parses or fails cleanly, and
 * whatever parses formats back to something that parses to the same address. */
static void sweep_addr(const char *good)
{
	size_t len = strlen(good);
	char buf[64];

	for (size_t i = 0; i < len; i++) {
		char out[CN_PCI_ADDR_BUFSZ];

		memcpy(buf, good, i);
		buf[i] = '\0';
		if (cn_pci_addr_normalize(buf, out) == 0)
			ASSERT_OK(cn_pci_addr_normalize(out, out));
	}
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			char out[CN_PCI_ADDR_BUFSZ], again[CN_PCI_ADDR_BUFSZ];

			memcpy(buf, good, len + 1);
			buf[i] = (char)(buf[i] ^ (1 << bit));
			if (cn_pci_addr_normalize(buf, out) == 0) {
				ASSERT_OK(cn_pci_addr_normalize(out, again));
				ASSERT_STREQ(out, again);
			}
		}
}

static void test_addr_sweeps(void)
{
	sweep_addr("0000:01:00.0");
	sweep_addr("0000:01:00.00");
	sweep_addr("10000:e1:1f.7");
}

static void test_sysfs_values(void)
{
	uint32_t v = 7;
	int32_t n = 7;

	ASSERT_OK(cn_sysfs_parse_hex("0x10de", 0xffff, &v));
	ASSERT_EQ(v, 0x10de);
	ASSERT_OK(cn_sysfs_parse_hex("0x030200", 0xffffff, &v));
	ASSERT_EQ(v, 0x030200);
	v = 7;
	ASSERT_ERR(cn_sysfs_parse_hex("0x10000", 0xffff, &v), -ERANGE);
	ASSERT_ERR(cn_sysfs_parse_hex("10de", 0xffff, &v), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_hex("0x", 0xffff, &v), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_hex("0x10de ", 0xffff, &v), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_hex("0x123456789", 0xffffffff, &v), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_hex("0x-1", 0xffff, &v), -EBADMSG);
	ASSERT_EQ(v, 7);
	ASSERT_OK(cn_sysfs_parse_numa("-1", &n));
	ASSERT_EQ(n, -1);
	ASSERT_OK(cn_sysfs_parse_numa("3", &n));
	ASSERT_EQ(n, 3);
	ASSERT_ERR(cn_sysfs_parse_numa("-2", &n), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_numa("03", &n), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_numa("", &n), -EBADMSG);
	ASSERT_ERR(cn_sysfs_parse_numa("70000", &n), -EBADMSG);
	ASSERT_EQ(n, 3);

	ASSERT_OK(cn_nvidia_parse_minor("Model: \t\t NVIDIA H100 PCIe\nIRQ:   16\nGPU UUID: x\n"
					"Device Minor: \t 2\nBus Type: PCIe\n",
					&v));
	ASSERT_EQ(v, 2);
	ASSERT_ERR(cn_nvidia_parse_minor("Model: x\n", &v), -EBADMSG);
	ASSERT_ERR(cn_nvidia_parse_minor("Device Minor: 1\nDevice Minor: 2\n", &v), -EBADMSG);
	ASSERT_ERR(cn_nvidia_parse_minor("Device Minor: 256\n", &v), -EBADMSG);
	ASSERT_ERR(cn_nvidia_parse_minor("Device Minor: \n", &v), -EBADMSG);
	ASSERT_EQ(v, 2);
}

/* Every prefix and bit flip of good sysfs values: parse cleanly or fail with -EBADMSG/-ERANGE,
 * never write the output on failure. */
static void test_sysfs_sweeps(void)
{
	static const char *const goods[] = {"0x10de", "0x030200", "-1", "65535",
					    "Model: x\nDevice Minor: 12\nBus Type: PCIe\n"};
	char buf[128];

	for (size_t g = 0; g < ELEMENTSOF_(goods); g++) {
		size_t len = strlen(goods[g]);

		for (size_t i = 0; i <= len; i++)
			for (int bit = -1; bit < 8; bit++) {
				uint32_t v = 0xdeadbeef;
				int32_t n = -7;
				int r;

				memcpy(buf, goods[g], len + 1);
				if (bit < 0)
					buf[i] = '\0'; /* truncation */
				else if (i < len)
					buf[i] = (char)(buf[i] ^ (1 << bit));
				else
					continue;
				r = cn_sysfs_parse_hex(buf, 0xffffff, &v);
				ASSERT_TRUE(r == 0 || r == -EBADMSG || r == -ERANGE);
				if (r < 0)
					ASSERT_EQ(v, 0xdeadbeef);
				else
					ASSERT_TRUE(v <= 0xffffff);
				r = cn_sysfs_parse_numa(buf, &n);
				ASSERT_TRUE(r == 0 || r == -EBADMSG);
				if (r < 0)
					ASSERT_EQ(n, -7);
				v = 0xdeadbeef;
				r = cn_nvidia_parse_minor(buf, &v);
				ASSERT_TRUE(r == 0 || r == -EBADMSG);
				ASSERT_TRUE(r == 0 ? v <= 255 : v == 0xdeadbeef);
			}
	}
}

static const char gat_query[] =
    "2025-03-01,12:00:00.001 INFO     Selected GPU 0000:3a:00.0 H100 0x2321 BAR0 0x7e042000000\n"
    "2025-03-01,12:00:00.002 WARNING  GPU 0000:3a:00.0 H100 0x2321 BAR0 0x7e042000000 was in "
    "D3/control:auto, forced power control to on\n"
    "2025-03-01,12:00:01.500 INFO     GPU 0000:3a:00.0 H100 0x2321 BAR0 0x7e042000000 CC mode is "
    "on\n"
    "2025-03-01,12:00:01.501 WARNING  GPU 0000:3a:00.0 H100 0x2321 BAR0 0x7e042000000 has CC "
    "mode on, some functionality may not work\n"
    "2025-03-01,12:00:01.600 WARNING  GPU 0000:3a:00.0 H100 0x2321 BAR0 0x7e042000000 "
    "restoring power control to auto\n";

static void test_gat_parse(void)
{
	enum cn_gat_mode m = CN_GAT_MODE_OFF;
	char raw[CN_GAT_MODE_TEXT_MAX];
	const char *bdf = "0000:3a:00.0";

	ASSERT_OK(cn_gat_parse_mode(gat_query, strlen(gat_query), bdf, "CC", &m, raw));
	ASSERT_EQ(m, CN_GAT_MODE_ON);
	ASSERT_STREQ(raw, "on");
	/* The query names another device: no line for ours. */
	ASSERT_ERR(cn_gat_parse_mode(gat_query, strlen(gat_query), "0000:3a:00.1", "CC", &m, raw),
		   -EBADMSG);
	/* A PPCIe query does not answer a CC question and vice versa. */
	ASSERT_ERR(cn_gat_parse_mode(gat_query, strlen(gat_query), bdf, "PPCIe", &m, raw),
		   -EBADMSG);

#define ONE(line, knob, want, wantraw)                                                             \
	do {                                                                                       \
		const char *t_ = line;                                                             \
		ASSERT_OK(cn_gat_parse_mode(t_, strlen(t_), bdf, knob, &m, raw));                  \
		ASSERT_EQ(m, want);                                                                \
		ASSERT_STREQ(raw, wantraw);                                                        \
	} while (0)
	ONE("x INFO     GPU 0000:3a:00.0 H100 0x2321 BAR0 0x1 CC mode is off\n", "CC",
	    CN_GAT_MODE_OFF, "off");
	ONE("x INFO     GPU 0000:3a:00.0 H100 0x2321 BAR0 0x1 CC mode is devtools", "CC",
	    CN_GAT_MODE_DEVTOOLS, "devtools");
	ONE("x INFO     GPU 0000:3a:00.0 H100 0x2321 BAR0 0x1 CC mode is "
	    "invalid-devtools-only-fix-by-setting-cc-mode\r\n",
	    "CC", CN_GAT_MODE_INVALID, "invalid-devtools-only-fix-by-setting-cc-mode");
	ONE("x INFO     NvSwitch 0000:3a:00.0 LS10 0x22a3 BAR0 0x1 PPCIe mode is on\n", "PPCIe",
	    CN_GAT_MODE_ON, "on");
	ONE("a GPU 0000:3a:00.0 CC mode is on\nb GPU 0000:3a:00.0 CC mode is on\n", "CC",
	    CN_GAT_MODE_ON, "on");
#undef ONE
	m = CN_GAT_MODE_DEVTOOLS;
#define BAD(line)                                                                                  \
	do {                                                                                       \
		const char *t_ = line;                                                             \
		ASSERT_ERR(cn_gat_parse_mode(t_, strlen(t_), bdf, "CC", &m, raw), -EBADMSG);       \
	} while (0)
	BAD("");
	BAD("x GPU 0000:3a:00.0 H100 CC mode is ON\n");
	BAD("x GPU 0000:3a:00.0 H100 CC mode is on \n");
	BAD("x GPU 0000:3a:00.0 H100 CC mode is \n");
	BAD("x GPU 0000:3a:00.01 H100 CC mode is on\n"); /* another BDF */
	BAD("x GPU 10000:3a:00.0 H100 CC mode is on\n");
	BAD("x XGPU 0000:3a:00.0 H100 CC mode is on\n");
	BAD("x GPU 0000:3a:00.0 has CC mode on, some functionality may not work\n");
	BAD("a GPU 0000:3a:00.0 CC mode is on\nb GPU 0000:3a:00.0 CC mode is off\n");
#undef BAD
	ASSERT_EQ(m, CN_GAT_MODE_DEVTOOLS);
}

static void test_gat_sweeps(void)
{
	size_t len = strlen(gat_query);
	char *buf = malloc(len + 1);
	enum cn_gat_mode m;
	char raw[CN_GAT_MODE_TEXT_MAX];

	ASSERT_NOT_NULL(buf);
	for (size_t i = 0; i <= len; i++) {
		int r = cn_gat_parse_mode(gat_query, i, "0000:3a:00.0", "CC", &m, raw);

		ASSERT_TRUE(r == 0 || r == -EBADMSG);
		if (r == 0)
			ASSERT_TRUE(m == CN_GAT_MODE_ON || m == CN_GAT_MODE_OFF ||
				    m == CN_GAT_MODE_INVALID);
	}
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			int r;

			memcpy(buf, gat_query, len + 1);
			buf[i] = (char)(buf[i] ^ (1 << bit));
			r = cn_gat_parse_mode(buf, len, "0000:3a:00.0", "CC", &m, raw);
			ASSERT_TRUE(r == 0 || r == -EBADMSG);
			if (r == 0)
				ASSERT_TRUE(strlen(raw) > 0 && strlen(raw) < CN_GAT_MODE_TEXT_MAX);
		}
	free(buf);
}

static void test_udev_rule(void)
{
	char *s = NULL;

	ASSERT_OK(cn_vfio_udev_rule("kvm", &s));
	ASSERT_NOT_NULL(strstr(s, "SUBSYSTEM==\"vfio\", KERNEL!=\"vfio\", OWNER=\"root\", "
				  "GROUP=\"kvm\", MODE=\"0660\"\n"));
	ASSERT_NOT_NULL(
	    strstr(s, "SUBSYSTEM==\"vfio-dev\", OWNER=\"root\", GROUP=\"kvm\", MODE=\"0660\"\n"));
	ASSERT_NOT_NULL(strstr(s, "SUBSYSTEM==\"misc\", KERNEL==\"iommu\", OWNER=\"root\", "
				  "GROUP=\"kvm\", MODE=\"0660\"\n"));
	free(s);
	s = NULL;
	ASSERT_ERR(cn_vfio_udev_rule("kvm\", MODE=\"0666", &s), -EINVAL);
	ASSERT_ERR(cn_vfio_udev_rule("", &s), -EINVAL);
	ASSERT_ERR(cn_vfio_udev_rule("-x", &s), -EINVAL);
	ASSERT_NULL(s);
}

static void test_find_users(void)
{
	const char *dir = cn_test_tmpdir();
	char node[512], other[512];
	const char *paths[3];
	struct cn_vfio_user u[4];
	int pipefd[2], fd;
	pid_t pid;
	char c;

	(void)snprintf(node, sizeof(node), "%s/vfio-12", dir);
	(void)snprintf(other, sizeof(other), "%s/other", dir);
	cn_test_write(node, "", 0);
	cn_test_write(other, "", 0);
	paths[0] = other;
	paths[1] = node;
	paths[2] = NULL;
	ASSERT_EQ(cn_vfio_find_users(NULL, paths, u, 4), 0);
	/* Our own fds never count: a child holds it. */
	ASSERT_OK(pipe(pipefd));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int h = open(node, O_RDONLY);

		(void)h;
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(read(pipefd[0], &c, 1), 1);
	ASSERT_EQ(cn_vfio_find_users(NULL, paths, u, 4), 1);
	ASSERT_EQ(u[0].pid, pid);
	ASSERT_STREQ(u[0].path, node);
	ASSERT_STREQ(u[0].comm, "test-vfio");
	fd = open(other, O_RDONLY);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(cn_vfio_find_users(NULL, paths, u, 4), 1);
	(void)close(fd);
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	(void)close(pipefd[0]);
	(void)close(pipefd[1]);
	ASSERT_ERR(cn_vfio_find_users("/nonexistent-proc", paths, u, 4), -ENOENT);
}

static void test_products(void)
{
	ASSERT_STREQ(cn_vfio_product_name(0x10de, 0x233b), "H200 NVL");
	ASSERT_STREQ(cn_vfio_product_name(0x10de, 0x2331), "H100 PCIe");
	ASSERT_NULL(cn_vfio_product_name(0x8086, 0x233b));
	ASSERT_NULL(cn_vfio_product_name(0x10de, 0x1234));
	ASSERT_TRUE(cn_vfio_is_hopper(0x2335));
	ASSERT_TRUE(cn_vfio_is_hopper(0x2370));
	ASSERT_FALSE(cn_vfio_is_hopper(0x2901));
	ASSERT_FALSE(cn_vfio_is_hopper(0x22a3));
}

/* A static tree: one H200 NVL, ready or not depending on the arguments. */
static const char *ready_tree(bool bound, const char *cc)
{
	const char *dir = cn_test_tmpdir();
	static char root[512];
	const char *src = getenv("CN_SOURCE_DIR");
	int r;

	ASSERT_NOT_NULL(src);
	(void)snprintf(root, sizeof(root), "%s/tree-%d-%s", dir, bound, cc);
	r = cn_test_sh(
	    "set -e; R='%s'; d=devices/pci0000:00/0000:65:00.0; mkdir -p $R/sys/$d "
	    "$R/sys/bus/pci/devices $R/sys/bus/pci/drivers/vfio-pci "
	    "$R/sys/kernel/iommu_groups/7/devices $R/dev/vfio/devices $R/gat; "
	    "echo 0x10de >$R/sys/$d/vendor; echo 0x233b >$R/sys/$d/device; "
	    "echo 0x030200 >$R/sys/$d/class; echo 0 >$R/sys/$d/numa_node; "
	    "echo vfio-pci >$R/sys/$d/driver_override; "
	    "ln -s ../../../$d $R/sys/bus/pci/devices/0000:65:00.0; "
	    "ln -s ../../../kernel/iommu_groups/7 $R/sys/$d/iommu_group; "
	    "ln -s ../../../../$d $R/sys/kernel/iommu_groups/7/devices/0000:65:00.0; "
	    "if [ %d = 1 ]; then ln -s ../../../bus/pci/drivers/vfio-pci $R/sys/$d/driver; fi; "
	    "mkdir -p $R/sys/$d/vfio-dev/vfio0; echo 511:0 >$R/sys/$d/vfio-dev/vfio0/dev; "
	    "for n in vfio/7 vfio/devices/vfio0 iommu; do : >$R/dev/$n; chgrp users $R/dev/$n; "
	    "chmod 0660 $R/dev/$n; done; echo %s >$R/gat/0000:65:00.0.cc; : >$R/gat/calls.log",
	    root, bound ? 1 : 0, cc);
	ASSERT_EQ(r, 0);
	return root;
}

static bool getgrnam_users_missing(void)
{
	return getgrnam("users") == NULL;
}

static void test_check_ready(void)
{
	const char *src = getenv("CN_SOURCE_DIR");
	char sys[600], dev[600], gat[600], tools[600];
	struct cn_vfio_roots roots = {0};
	struct cn_strv problems = {0};
	const char *root;

	if (!src || getgrnam_users_missing())
		cn_test_skip("needs CN_SOURCE_DIR and the group 'users'");
	(void)snprintf(tools, sizeof(tools), "%s/tests/vfio/fake-gpu-admin-tools", src);
	ASSERT_OK(setenv("VFIO_DEVICE_GROUP", "users", 1));

	root = ready_tree(true, "on");
	(void)snprintf(sys, sizeof(sys), "%s/sys", root);
	(void)snprintf(dev, sizeof(dev), "%s/dev", root);
	(void)snprintf(gat, sizeof(gat), "%s/gat", root);
	ASSERT_OK(setenv("FAKE_GAT_DIR", gat, 1));
	roots = (struct cn_vfio_roots){.sysfs = sys, .dev = dev, .gpu_admin_tools = tools};
	ASSERT_OK(cn_vfio_check_ready(&roots, "65:00.0", &problems));
	ASSERT_EQ(problems.n, 0);

	root = ready_tree(false, "off");
	(void)snprintf(sys, sizeof(sys), "%s/sys", root);
	(void)snprintf(dev, sizeof(dev), "%s/dev", root);
	(void)snprintf(gat, sizeof(gat), "%s/gat", root);
	ASSERT_OK(setenv("FAKE_GAT_DIR", gat, 1));
	ASSERT_ERR(cn_vfio_check_ready(&roots, "0000:65:00.0", &problems), -EKEYREJECTED);
	ASSERT_EQ(problems.n, 2);
	ASSERT_STREQ(problems.v[0], "0000:65:00.0 is not bound to any driver (expected vfio-pci); "
				    "fix: cocoon gpu setup 0000:65:00.0");
	ASSERT_STREQ(problems.v[1], "CC mode of 0000:65:00.0 is off (expected on); fix: cocoon gpu "
				    "setup 0000:65:00.0");
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "not ready"));
	cn_strv_done(&problems);

	/* Could not decide: not there, not a PCI address. */
	ASSERT_ERR(cn_vfio_check_ready(&roots, "0000:66:00.0", &problems), -ENOENT);
	ASSERT_ERR(cn_vfio_check_ready(&roots, "66:0.0", &problems), -EINVAL);
	ASSERT_EQ(problems.n, 0);
	/* Without gpu-admin-tools the CC mode is unknown: not ready. */
	roots.gpu_admin_tools = NULL;
	ASSERT_OK(unsetenv("GPU_ADMIN_TOOLS_DIR"));
	ASSERT_ERR(cn_vfio_check_ready(&roots, "0000:65:00.0", &problems), -EKEYREJECTED);
	ASSERT_NOT_NULL(strstr(problems.v[problems.n - 1], "gpu-admin-tools not found"));
	cn_strv_done(&problems);
}

/* Could not decide: the same keys as a verdict's head, ready false, and why. */
static void test_verify_error_json(void)
{
	json_t *j = cn_vfio_verify_error_json("0000:65:00.0", "cannot read 'vendor': \"x\"");
	char *s;

	ASSERT_NOT_NULL(j);
	s = json_dumps(j, JSON_COMPACT);
	ASSERT_NOT_NULL(s);
	ASSERT_STREQ(s, "{\"bdf\":\"0000:65:00.0\",\"ready\":false,"
			"\"error\":\"cannot read 'vendor': \\\"x\\\"\"}");
	free(s);
	json_decref(j);
	ASSERT_NULL(cn_vfio_verify_error_json("0000:65:00.0", "\xff not UTF-8"));
}

static const struct cn_test tests[] = {
    T(addr_forms), T(addr_sweeps), T(sysfs_values),	 T(sysfs_sweeps),
    T(gat_parse),  T(gat_sweeps),  T(udev_rule),	 T(find_users),
    T(products),   T(check_ready), T(verify_error_json),
};

CN_TEST_MAIN(tests)
