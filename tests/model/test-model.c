/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/model: spec grammar, names, verity geometry and superblock (known answers,
 * truncation and bit-flip sweeps), known root hashes, >= 8 GiB headers against GNU tar, files
 * changing while read, the .hash reader. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/parse.h"
#include "harness.h"
#include "model/image.h"
#include "model/model.h"
#include "model/tar.h"
#include "model/verity.h"

static void test_spec_parse(void)
{
	struct cn_model_spec s;
	static const char *const bad[] = {
	    "",
	    "@c",
	    "m@",
	    "m@c:",
	    "m@c:abc",
	    "a/b/c",
	    "/a",
	    "a/",
	    "a//b",
	    "a b",
	    "../x",
	    "a/..",
	    ".hidden",
	    "m@-c",
	    "m@.c",
	    "m@c/d",
	    "m@c:ZZ",
	    "m@c@d",
	    "m@c:E300011593C6FD3A83DACE9C64F567CEEA8BA2B6F40A46CA8869D3908EC5794C",
	    "m@c:e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c0",
	};

	ASSERT_OK(cn_model_spec_parse("Qwen/Qwen3-8B", &s));
	ASSERT_STREQ(s.name, "Qwen/Qwen3-8B");
	ASSERT_NULL(s.commit);
	ASSERT_NULL(s.root_hash);
	cn_model_spec_done(&s);
	ASSERT_OK(cn_model_spec_parse("google/gemma-3-270m@abc123", &s));
	ASSERT_STREQ(s.name, "google/gemma-3-270m");
	ASSERT_STREQ(s.commit, "abc123");
	ASSERT_NULL(s.root_hash);
	cn_model_spec_done(&s);
	ASSERT_OK(
	    cn_model_spec_parse("Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:"
				"7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9",
				&s));
	ASSERT_STREQ(s.commit, "b968826d9c46dd6066d109eabc6255188de91218");
	ASSERT_STREQ(s.root_hash,
		     "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9");
	cn_model_spec_done(&s);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		if (cn_model_spec_parse(bad[i], &s) != -EINVAL)
			CN_FAIL_("spec '%s' was accepted", bad[i]);
		ASSERT_TRUE(strstr(cn_err_msg(), "model spec") != NULL);
	}
}

/* Truncation and bit-flip sweeps over a full spec: every result is a clean accept or -EINVAL, and
 * an accepted spec always splits back into the same string. */
static void test_spec_sweeps(void)
{
	static const char full[] =
	    "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:"
	    "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9";
	char buf[sizeof(full)], back[sizeof(full) + 8];
	struct cn_model_spec s;

	for (size_t n = 0; n <= strlen(full); n++) {
		for (size_t bit = 0; bit <= n * 8; bit++) {
			int r;

			memcpy(buf, full, n);
			buf[n] = '\0';
			if (bit < n * 8)
				buf[bit / 8] ^= (char)(1u << (bit % 8));
			if (bit < n * 8 && buf[bit / 8] == '\0')
				continue;
			r = cn_model_spec_parse(buf, &s);
			if (r == 0) {
				(void)snprintf(back, sizeof(back), "%s%s%s%s%s", s.name,
					       s.commit ? "@" : "", s.commit ? s.commit : "",
					       s.root_hash ? ":" : "",
					       s.root_hash ? s.root_hash : "");
				ASSERT_STREQ(back, buf);
				cn_model_spec_done(&s);
			} else {
				ASSERT_ERR(r, -EINVAL);
			}
			if (n > 40 && bit > 0)
				bit += 7; /* one flip per byte on long prefixes keeps it quick */
		}
	}
}

static void test_path_name(void)
{
	_cleanup_free_ char *a = cn_model_path_name("Qwen/Qwen3-0.6B");
	_cleanup_free_ char *b = cn_model_path_name("a_b-c.d/E");

	ASSERT_STREQ(a, "Qwen_Qwen3_0_6B");
	ASSERT_STREQ(b, "a_b_c_d_E");
}

static void test_geometry(void)
{
	static const struct {
		uint64_t n;
		unsigned levels;
		uint64_t size;
	} v[] = {
	    {1, 0, 4096},
	    {2, 1, 8192},
	    {128, 1, 8192},
	    {129, 2, 16384},
	    {257, 2, 20480},
	    {776, 2, 36864},
	    {76800, 3, 2486272},
	    {526608, 3, 16998400},
	    {16384, 2, 4096 * (1 + 128 + 1)},
	    {16385, 3, 4096 * (1 + 129 + 2 + 1)},
	};
	struct cn_verity_geo g;

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		ASSERT_OK(cn_verity_geometry(v[i].n, &g));
		ASSERT_EQ(g.levels, v[i].levels);
		ASSERT_U64_EQ(g.file_size, v[i].size);
		if (g.levels) {
			ASSERT_U64_EQ(g.level_off[g.levels - 1], 4096); /* top level first */
			ASSERT_U64_EQ(g.level_off[0] + g.level_blocks[0] * 4096,
				      g.file_size); /* level 0 last */
		}
	}
	ASSERT_ERR(cn_verity_geometry(0, &g), -EINVAL);
}

static void make_sb(uint8_t out[512])
{
	struct cn_verity_sb sb = {.salt_size = sizeof(cn_verity_salt), .data_blocks = 773};

	memcpy(sb.uuid, cn_verity_uuid, 16);
	memcpy(sb.salt, cn_verity_salt, sizeof(cn_verity_salt));
	cn_verity_sb_encode(&sb, out);
}

static void test_superblock(void)
{
	uint8_t b[512];
	struct cn_verity_sb sb;

	make_sb(b);
	ASSERT_MEMEQ(b, "verity\0\0\1\0\0\0\1\0\0\0", 16);
	ASSERT_EQ(b[80], 17);
	ASSERT_OK(cn_verity_sb_parse(b, sizeof(b), &sb));
	ASSERT_U64_EQ(sb.data_blocks, 773);
	ASSERT_EQ(sb.salt_size, 17);
	ASSERT_MEMEQ(sb.salt, cn_verity_salt, 17);
	ASSERT_MEMEQ(sb.uuid, cn_verity_uuid, 16);
	/* Truncation sweep: every shorter (and one longer) buffer is refused. */
	for (size_t n = 0; n < sizeof(b); n++)
		ASSERT_ERR(cn_verity_sb_parse(b, n, &sb), -EBADMSG);
	{
		uint8_t big[513] = {0};

		memcpy(big, b, 512);
		ASSERT_ERR(cn_verity_sb_parse(big, sizeof(big), &sb), -EBADMSG);
	}
	/* Bit-flip sweep: only uuid, data_blocks, salt_size (a longer salt ending in zeros) and the
	 * salt bytes may change and still parse. */
	for (size_t i = 0; i < sizeof(b) * 8; i++) {
		size_t at = i / 8;
		int r;

		make_sb(b);
		b[at] ^= (uint8_t)(1u << (i % 8));
		r = cn_verity_sb_parse(b, sizeof(b), &sb);
		if (r == 0) {
			bool allowed = (at >= 16 && at < 32) || (at >= 72 && at < 82) ||
				       (at >= 88 && at < 88 + 17);

			if (!allowed)
				CN_FAIL_("flip of bit %zu (byte %zu) was accepted", i, at);
			ASSERT_TRUE(sb.data_blocks > 0);
		} else {
			ASSERT_TRUE(r == -EBADMSG || r == -EPROTONOSUPPORT);
			ASSERT_TRUE(strstr(cn_err_msg(), "verity superblock") != NULL);
		}
	}
}

/* §3.3: root hashes of all-zero data. */
static void test_zero_roots(void)
{
	static const struct {
		uint64_t size;
		const char *root;
		uint64_t vsize;
	} v[] = {
	    {4096, "268230a0d5b8d356ec2b3c81d0e415ab9e46369aa5111f6f8b2541f41583672c", 4096},
	    {1048576 + 4096, "c595e5ae6ed4e39a9c4efdeff659f6e395899ce6935af128ebef4c0b757e3cd2",
	     20480},
	};
	const char *dir = cn_test_tmpdir();

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		char p[512], q[512], hex[65];
		uint8_t root[32];
		_cleanup_close_ int fd = -EBADF, vfd = -EBADF;
		struct stat st;

		(void)snprintf(p, sizeof(p), "%s/zero%zu", dir, i);
		(void)snprintf(q, sizeof(q), "%s/zero%zu.verity", dir, i);
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		vfd = open(q, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ASSERT_TRUE(fd >= 0 && vfd >= 0);
		ASSERT_OK(ftruncate(fd, (off_t)v[i].size));
		ASSERT_OK(cn_image_verity_from_tar(fd, v[i].size, vfd, NULL, root));
		ASSERT_STREQ(cn_hex(root, 32, hex), v[i].root);
		ASSERT_OK(fstat(vfd, &st));
		ASSERT_U64_EQ(st.st_size, v[i].vsize);
	}
}

/* The headers of an 8 GiB file (pax size) and an 8 GiB - 1 file, against GNU tar's first bytes. */
static void big_case(const char *fname, uint64_t size)
{
	const char *tmp = cn_test_tmpdir();
	char dir[512], ref[512];
	struct cn_tar_plan plan;
	_cleanup_free_ uint8_t *buf = malloc(2 * CN_TAR_HDR_MAX), *want = NULL;
	size_t len = 0, wlen;
	int fd;

	if (access("/usr/bin/tar", X_OK) != 0)
		return;
	(void)snprintf(dir, sizeof(dir), "%s/big-%s", tmp, fname);
	(void)snprintf(ref, sizeof(ref), "%s/ref-%s", tmp, fname);
	ASSERT_EQ(cn_test_sh("mkdir -p '%s' && truncate -s %llu '%s/%s'", dir,
			     (unsigned long long)size, dir, fname),
		  0);
	ASSERT_OK(cn_tar_plan_scan(dir, false, CN_TAR_GNU_1_34, &plan));
	ASSERT_EQ(plan.n, 2);
	ASSERT_U64_EQ(plan.e[1].size, size);
	for (size_t i = 0; i < plan.n; i++)
		len += cn_tar_entry_headers(&plan, &plan.e[i], buf + len);
	ASSERT_U64_EQ(plan.tar_size,
		      (len + (size + 511) / 512 * 512 + 1024 + 10239) / 10240 * 10240);
	ASSERT_EQ(
	    cn_test_sh(
		"cd '%s' && LC_ALL=C tar -cf - . --sort=name --format=posix "
		"--pax-option='exthdr.name=%%d/PaxHeaders/%%f' "
		"--pax-option='delete=atime,delete=ctime' "
		"--clamp-mtime --mtime=@0 --numeric-owner --owner=0 --group=0 --mode='go+u,go-w' "
		"2>/dev/null | head -c %zu > '%s'",
		dir, len, ref),
	    0);
	want = cn_test_slurp(ref, &wlen);
	ASSERT_EQ(wlen, len);
	ASSERT_MEMEQ(buf, want, len);
	cn_tar_plan_done(&plan);
	fd = -1;
	(void)fd;
}

static void test_big_file_headers(void)
{
	big_case("eight-gib.gguf", UINT64_C(8589934592)); /* pax size record, ustar size 0 */
	big_case("eight-gib-minus-1", UINT64_C(8589934591));
}

/* A file that changes between the scan and the read (size, or only mtime) fails the build. */
static void changed_case(const char *change)
{
	const char *tmp = cn_test_tmpdir();
	char dir[400], tar[512], ver[512];
	struct cn_tar_plan plan;
	uint8_t root[32];
	_cleanup_close_ int tfd = -EBADF, vfd = -EBADF;

	(void)snprintf(dir, sizeof(dir), "%s/chg-%d", tmp, (int)strlen(change));
	(void)snprintf(tar, sizeof(tar), "%s.tar", dir);
	(void)snprintf(ver, sizeof(ver), "%s.verity", dir);
	ASSERT_EQ(cn_test_sh("mkdir -p '%s' && head -c 100000 /dev/zero > '%s/w.bin' && touch -d "
			     "2020-01-01 '%s/w.bin'",
			     dir, dir, dir),
		  0);
	ASSERT_OK(cn_tar_plan_scan(dir, false, CN_TAR_GNU_1_35, &plan));
	ASSERT_EQ(cn_test_sh("cd '%s' && %s", dir, change), 0);
	tfd = open(tar, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	vfd = open(ver, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(tfd >= 0 && vfd >= 0);
	ASSERT_ERR(cn_image_write(&plan, dir, tfd, vfd, NULL, root), -EIO);
	ASSERT_TRUE(strstr(cn_err_msg(), "w.bin") != NULL);
	cn_tar_plan_done(&plan);
}

static void test_file_changed(void)
{
	changed_case("printf x >> w.bin");
	changed_case("touch -d 2021-01-01 w.bin");
	changed_case("truncate -s 10 w.bin");
	changed_case("rm w.bin && head -c 100000 /dev/zero > w.bin && touch -d 2020-01-01 w.bin");
	(void)alarm(60); /* swapped for a FIFO: refused, never a hang in open() */
	changed_case("rm w.bin && mkfifo w.bin");
	(void)alarm(0);
}

static void test_image_write_ok(void)
{
	const char *tmp = cn_test_tmpdir();
	char dir[512], tar[512], ver[512], hex[65];
	struct cn_tar_plan plan;
	uint8_t root[32];
	_cleanup_close_ int tfd = -EBADF, vfd = -EBADF;
	struct stat st;

	(void)snprintf(dir, sizeof(dir), "%s/ok", tmp);
	(void)snprintf(tar, sizeof(tar), "%s/ok.tar", tmp);
	(void)snprintf(ver, sizeof(ver), "%s/ok.verity", tmp);
	/* Enough entries and data to cross several 4 MiB chunks with files split across them. */
	ASSERT_EQ(cn_test_sh("mkdir -p '%s' && cd '%s' && for i in $(seq 1 300); do head -c $((i * "
			     "97)) /dev/zero > f$i; done "
			     "&& head -c 9000000 /dev/zero > big && : > empty",
			     dir, dir),
		  0);
	ASSERT_OK(cn_tar_plan_scan(dir, false, CN_TAR_GNU_1_35, &plan));
	tfd = open(tar, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	vfd = open(ver, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_OK(cn_image_write(&plan, dir, tfd, vfd, NULL, root));
	ASSERT_OK(fstat(tfd, &st));
	ASSERT_U64_EQ(st.st_size, plan.padded_size);
	/* Per-file SHA-256 of the empty file and of 9,000,000 zero bytes. */
	for (size_t i = 0; i < plan.n; i++) {
		if (strcmp(plan.e[i].rel, "empty") == 0)
			ASSERT_STREQ(
			    cn_hex(plan.e[i].sha256, 32, hex),
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	}
	ASSERT_EQ(cn_test_sh(
		      "cd '%s' && test \"$(head -c 9000000 /dev/zero | sha256sum | cut -c1-64)\" = "
		      "\"$(sha256sum big | cut -c1-64)\"",
		      dir),
		  0);
	cn_hex(root, 32, hex);
	ASSERT_EQ(cn_test_sh("veritysetup verify '%s' '%s' %s >/dev/null 2>&1 || ! command -v "
			     "veritysetup >/dev/null",
			     tar, ver, hex),
		  0);
	cn_tar_plan_done(&plan);
}

static void test_hash_file(void)
{
	const char *tmp = cn_test_tmpdir();
	char p[512], out[65];
	static const char good[] =
	    "e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c";

	(void)snprintf(p, sizeof(p), "%s/h", tmp);
	cn_test_write(p, good, 64);
	ASSERT_OK(cn_model_read_hash_file(p, out));
	ASSERT_STREQ(out, good);
	/* `echo $HASH > F`: one trailing newline is accepted (issue 10 item 12), no more. */
	cn_test_write(p, "e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c\n", 65);
	ASSERT_OK(cn_model_read_hash_file(p, out));
	ASSERT_STREQ(out, good);
	cn_test_write(p, "e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c\n\n",
		      66);
	ASSERT_ERR(cn_model_read_hash_file(p, out), -EBADMSG);
	cn_test_write(p, "e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c\r\n",
		      66);
	ASSERT_ERR(cn_model_read_hash_file(p, out), -EBADMSG);
	cn_test_write(p, " e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c", 65);
	ASSERT_ERR(cn_model_read_hash_file(p, out), -EBADMSG);
	cn_test_write(p, "E300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c", 64);
	ASSERT_ERR(cn_model_read_hash_file(p, out), -EBADMSG);
	cn_test_write(p, good, 63);
	ASSERT_ERR(cn_model_read_hash_file(p, out), -EBADMSG);
}

static void test_hf_cache(void)
{
	const char *tmp = cn_test_tmpdir();
	char home[512];
	_cleanup_free_ char *dir = NULL, *commit = NULL;

	(void)snprintf(home, sizeof(home), "%s/hf", tmp);
	ASSERT_EQ(
	    cn_test_sh(
		"mkdir -p "
		"'%s/hub/models--org--m/snapshots/0123456789abcdef0123456789abcdef01234567' "
		"'%s/hub/models--org--m/refs' && printf 0123456789abcdef0123456789abcdef01234567 > "
		"'%s/hub/models--org--m/refs/main' && printf nothex > "
		"'%s/hub/models--org--m/refs/bad'",
		home, home, home, home),
	    0);
	ASSERT_OK(cn_model_hf_cache_snapshot(home, "org/m",
					     "0123456789abcdef0123456789abcdef01234567", &dir));
	ASSERT_TRUE(
	    strstr(dir, "/hub/models--org--m/snapshots/0123456789abcdef0123456789abcdef01234567") !=
	    NULL);
	free(TAKE_PTR(dir));
	ASSERT_OK(cn_model_hf_cache_resolve(home, "org/m", NULL, &commit, &dir));
	ASSERT_STREQ(commit, "0123456789abcdef0123456789abcdef01234567");
	ASSERT_ERR(cn_model_hf_cache_snapshot(home, "org/m",
					      "1123456789abcdef0123456789abcdef01234567", &dir),
		   -ENOENT);
	ASSERT_ERR(cn_model_hf_cache_snapshot(home, "org/other",
					      "0123456789abcdef0123456789abcdef01234567", &dir),
		   -ENOENT);
	ASSERT_ERR(cn_model_hf_cache_resolve(home, "org/m", "bad", NULL, &dir), -EBADMSG);
	ASSERT_ERR(cn_model_hf_cache_resolve(home, "org/m", "../x", NULL, &dir), -EINVAL);
}

static void test_manifest(void)
{
	static const char good[] =
	    "{\"manifest_version\": 1, \"name\": \"org/m\", \"commit\": \"c1\", "
	    "\"root_hash\": \"e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c\", "
	    "\"tar_format\": \"gnu-1.34\", \"files\": []}";
	struct cn_model_manifest_info m;
	char buf[sizeof(good)];

	ASSERT_OK(cn_model_manifest_parse((const uint8_t *)good, strlen(good), &m));
	ASSERT_STREQ(m.name, "org/m");
	ASSERT_STREQ(m.commit, "c1");
	ASSERT_STREQ(m.tar_format, "gnu-1.34");
	ASSERT_STREQ(m.root_hash,
		     "e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c");
	cn_model_manifest_info_done(&m);
	/* Every truncation fails cleanly; every bit flip is either harmless or -EBADMSG. */
	for (size_t n = 0; n < strlen(good); n++)
		ASSERT_ERR(cn_model_manifest_parse((const uint8_t *)good, n, &m), -EBADMSG);
	for (size_t bit = 0; bit < strlen(good) * 8; bit++) {
		int r;

		memcpy(buf, good, sizeof(good));
		buf[bit / 8] ^= (char)(1u << (bit % 8));
		r = cn_model_manifest_parse((const uint8_t *)buf, strlen(good), &m);
		if (r == 0)
			cn_model_manifest_info_done(&m);
		else
			ASSERT_ERR(r, -EBADMSG);
	}
	ASSERT_ERR(
	    cn_model_manifest_parse(
		(const uint8_t *)"{\"manifest_version\": 1, \"manifest_version\": 1}", 45, &m),
	    -EBADMSG);
	ASSERT_ERR(cn_model_manifest_parse((const uint8_t *)"[]", 2, &m), -EBADMSG);
}

/* The build's own check of LFS blob names (independent of the CLI's cache check). */
static void test_lfs_name_check(void)
{
	const char *tmp = cn_test_tmpdir();
	char snap[512], img[512];
	struct cn_model_image out = {0};
	struct cn_model_build_opts o = {.name = "org/lfs",
					.commit = "c",
					.images_dir = img,
					.source_dir = snap,
					.hf_cache_snapshot = true};
	/* sha256("hello\n") */
	static const char h[] = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

	(void)snprintf(snap, sizeof(snap), "%s/hfl/hub/models--org--lfs/snapshots/c", tmp);
	(void)snprintf(img, sizeof(img), "%s/lfsimg", tmp);
	ASSERT_EQ(cn_test_sh(
		      "mkdir -p '%s' '%s/../../blobs' && printf 'hello\n' > '%s/../../blobs/%s' && "
		      "ln -s ../../blobs/%s '%s/w.bin'",
		      snap, snap, snap, h, h, snap),
		  0);
	ASSERT_OK(cn_model_build(&o, &out));
	cn_model_image_done(&out);
	ASSERT_EQ(
	    cn_test_sh("rm -f '%s'/*.tar* && printf 'hellO\n' > '%s/../../blobs/%s'", img, snap, h),
	    0);
	ASSERT_ERR(cn_model_build(&o, &out), -EKEYREJECTED);
	ASSERT_TRUE(strstr(cn_err_msg(), "corrupted") != NULL && strstr(cn_err_msg(), h) != NULL);
	ASSERT_EQ(cn_test_sh("test -z \"$(ls '%s' | grep -v lock)\"", img), 0);
}

/* Builds a tree with setup (run in it) and scans it: 0 or the scan's error. */
static int scan_tree(const char *setup)
{
	static int seq;
	const char *tmp = cn_test_tmpdir();
	char dir[512];
	struct cn_tar_plan plan;
	int r;

	(void)snprintf(dir, sizeof(dir), "%s/links-%d", tmp, seq++);
	ASSERT_EQ(
	    cn_test_sh("mkdir -p '%s' && cd '%s' && printf ok > ok.txt && %s", dir, dir, setup), 0);
	cn_err_clear();
	r = cn_tar_plan_scan(dir, false, CN_TAR_GNU_1_35, &plan);
	if (r >= 0)
		cn_tar_plan_done(&plan);
	return r;
}

static void escape_case(const char *setup, const char *want)
{
	int r = scan_tree(setup);

	if (r != -EINVAL)
		CN_FAIL_("'%s': %d %s", setup, r, cn_err_msg());
	if (!strstr(cn_err_msg(), want))
		CN_FAIL_("'%s': message '%s' lacks '%s'", setup, cn_err_msg(), want);
}

/* Symlink targets are resolved through the tree's own links (issue 10 item 1). */
static void test_symlink_escape(void)
{
	/* d1/../d10/L -> the root (accepted alone), tokenizer.json -> L/(10 x ..)/etc/passwd. */
	escape_case("D=d1/d2/d3/d4/d5/d6/d7/d8/d9/d10 && mkdir -p $D && "
		    "ln -s ../../../../../../../../../.. $D/L && "
		    "ln -s L/../../../../../../../../../../etc/passwd $D/tokenizer.json",
		    "'d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/tokenizer.json'");
	escape_case("ln -s . R && ln -s R/.. UP", "symlink 'UP' -> 'R/..' leaves the snapshot");
	escape_case("mkdir a && ln -s . a/R && ln -s R/../.. a/UP", "'a/UP'");
	/* Through a link to a folder, then up twice from the folder the link names. */
	escape_case("mkdir -p x/y && ln -s x/y Y && ln -s Y/../../.. esc", "'esc'");
	escape_case("ln -s . R && ln -s R/.. UP", "(through symlink 'R')");
	/* Loops and long chains are refused with bounded work. */
	escape_case("ln -s b a && ln -s a b", "loop");
	escape_case("ln -s self self", "loop");
	escape_case("ln -s l40 l0 && for i in $(seq 1 40); do ln -s l$((i - 1)) l$i; done", "loop");
	escape_case("mkdir d && ln -s ../../outside d/link", "leaves the snapshot");
	escape_case("ln -s /etc/passwd abs", "absolute");
	escape_case("ln -s a/../../x dotdot", "leaves the snapshot");
	escape_case("ln -s ok.txt c0 && for i in $(seq 1 40); do ln -s c$((i - 1)) c$i; done",
		    "more than 40");

	/* Legitimate links inside the tree, through links too, stay accepted. */
	ASSERT_OK(scan_tree("mkdir -p d/e && ln -s ../ok.txt d/up && ln -s d D && "
			    "ln -s D/e/../up via && ln -s via chain && ln -s D/./e/.. dir && "
			    "ln -s dangling/x/.. dl && ln -s ok.txt/.. notdir && ln -s . R && "
			    "ln -s R/ok.txt self-ok && ln -s d/e/../../ok.txt back"));
	/* A chain of 39 links (40 lookups in all) is still fine. */
	ASSERT_OK(scan_tree("ln -s ok.txt c0 && for i in $(seq 1 39); do ln -s c$((i - 1)) c$i; "
			    "done"));
}

static const struct cn_test tests[] = {
    T(spec_parse), T(spec_sweeps),	T(path_name),	   T(geometry),	      T(superblock),
    T(zero_roots), T(big_file_headers), T(file_changed),   T(image_write_ok), T(hash_file),
    T(hf_cache),   T(manifest),		T(lfs_name_check), T(symlink_escape),
};

CN_TEST_MAIN(tests)
