/* SPDX-License-Identifier: Apache-2.0 */
/* src/guest: tar index (real tars, truncation, bit flips, hostile headers), runtime vars,
 * model.env, disk discovery, and the root-hash check before activation (src/model/open.c). */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "guest/guest.h"
#include "guest/tarindex.h"
#include "harness.h"
#include "model/model.h"

static const char *cocoon(void)
{
	const char *c = getenv("COCOON");

	if (!c)
		cn_test_skip("COCOON not set");
	return c;
}

/* A tree with every entry type the index supports; returns the reference-flag GNU tar. */
static uint8_t *gnu_tar(size_t *len)
{
	const char *d = cn_test_tmpdir();
	char path[512];

	ASSERT_EQ(
	    cn_test_sh("cd %s && rm -rf t && mkdir -p t/sub/deeper t/emptydir && "
		       "printf '{}\\n' > t/config.json && printf 'z\\n' > t/sub/deeper/z.bin && "
		       "head -c 70000 /dev/urandom > t/model.bin && chmod 700 t/sub && "
		       "ln -s model.bin t/link && ln t/model.bin t/zhard && "
		       "printf x > t/sub/$(printf 'x%%.0s' $(seq 1 120)).json && "
		       "tar -cf t.tar -C t . --sort=name --format=posix "
		       "--pax-option='exthdr.name=%%d/PaxHeaders/%%f' "
		       "--pax-option='delete=atime,delete=ctime' --clamp-mtime --mtime=@0 "
		       "--numeric-owner --owner=0 --group=0 --mode='go+u,go-w'",
		       d),
	    0);
	(void)snprintf(path, sizeof(path), "%s/t.tar", d);
	return cn_test_slurp(path, len);
}

static void test_index_gnu_tar(void)
{
	size_t len, mlen;
	_cleanup_free_ uint8_t *tar = gnu_tar(&len);
	_cleanup_free_ uint8_t *model = NULL;
	struct cn_taridx *idx;
	char path[512];
	uint32_t i, j;

	ASSERT_OK(cn_taridx_build_mem(tar, len, &idx));
	ASSERT_TRUE(S_ISDIR(idx->nodes[0].mode));
	ASSERT_EQ(idx->nfiles, 4);
	(void)snprintf(path, sizeof(path), "%s/t/model.bin", cn_test_tmpdir());
	model = cn_test_slurp(path, &mlen);
	ASSERT_OK(cn_taridx_resolve(idx, "model.bin", &i));
	ASSERT_EQ(idx->nodes[i].mode, S_IFREG | 0644);
	ASSERT_U64_EQ(idx->nodes[i].size, mlen);
	ASSERT_MEMEQ(tar + idx->nodes[i].data_off, model, mlen);
	ASSERT_EQ(idx->nodes[i].nlink, 2);
	ASSERT_OK(cn_taridx_resolve(idx, "zhard", &j));
	ASSERT_EQ(idx->nodes[j].target, i);
	ASSERT_OK(cn_taridx_resolve(idx, "link", &j));
	ASSERT_EQ(idx->nodes[j].mode, S_IFLNK | 0777);
	ASSERT_STREQ(idx->names + idx->nodes[j].link_off, "model.bin");
	ASSERT_OK(cn_taridx_resolve(idx, "sub", &j));
	ASSERT_EQ(idx->nodes[j].mode, S_IFDIR | 0755); /* 0700 with go+u,go-w */
	ASSERT_OK(cn_taridx_resolve(idx, "sub/deeper/z.bin", &j));
	ASSERT_MEMEQ(tar + idx->nodes[j].data_off, "z\n", 2);
	ASSERT_OK(cn_taridx_resolve(idx, "emptydir", &j));
	ASSERT_EQ(idx->nodes[j].child_count, 0);
	ASSERT_ERR(cn_taridx_resolve(idx, "nope", &j), -ENOENT);
	ASSERT_ERR(cn_taridx_resolve(idx, "config.json/x", &j), -ENOTDIR);
	/* The 121-byte name came from a pax path record. */
	(void)snprintf(path, sizeof(path), "sub/%0120d.json", 0);
	for (char *p = path + 4; *p != '.'; p++)
		*p = 'x';
	ASSERT_OK(cn_taridx_resolve(idx, path, &j));
	ASSERT_EQ(idx->nodes[j].mtime, 0);
	cn_taridx_free(idx);
}

static void test_index_cocoon_build(void)
{
	const char *d = cn_test_tmpdir();
	char path[512];
	size_t len;
	_cleanup_free_ uint8_t *tar = NULL;
	struct cn_taridx *idx;
	uint32_t i;

	ASSERT_EQ(cn_test_sh("cd %s && rm -rf b && mkdir -p b/s && printf abc > b/s/f && "
			     "'%s' model build -q --from-dir b --images-dir img o/m@c > line",
			     d, cocoon()),
		  0);
	(void)snprintf(path, sizeof(path), "%s/img/o_m@c.tar", d);
	tar = cn_test_slurp(path, &len);
	ASSERT_OK(cn_taridx_build_mem(tar, len, &idx));
	ASSERT_OK(cn_taridx_resolve(idx, "s/f", &i));
	ASSERT_MEMEQ(tar + idx->nodes[i].data_off, "abc", 3);
	ASSERT_TRUE(idx->end <= len);
	cn_taridx_free(idx);
}

/* Every truncation before the end-of-archive fails; none crashes (ASan). */
static void test_index_truncation(void)
{
	size_t len;
	_cleanup_free_ uint8_t *tar = gnu_tar(&len);
	struct cn_taridx *idx;
	uint64_t end;

	ASSERT_OK(cn_taridx_build_mem(tar, len, &idx));
	end = idx->end;
	cn_taridx_free(idx);
	for (size_t n = 0; n < end; n += (n < 4096 ? 1 : 97)) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, tar, n);
		ASSERT_FAIL(cn_taridx_build_mem(copy, n, &idx));
		free(copy);
	}
	ASSERT_OK(cn_taridx_build_mem(tar, end, &idx));
	cn_taridx_free(idx);
}

/* A flipped bit in any ustar header or end-of-archive block fails (checksum or field checks);
 * in file data it passes (dm-verity, not the index, guards data); nothing crashes (ASan). */
static void test_index_bit_flips(void)
{
	size_t len;
	_cleanup_free_ uint8_t *tar = gnu_tar(&len);
	struct cn_taridx *idx;
	_cleanup_free_ bool *is_data = calloc(len, 1);
	uint64_t end;

	ASSERT_OK(cn_taridx_build_mem(tar, len, &idx));
	end = idx->end;
	for (uint32_t i = 0; i < idx->n; i++)
		if (S_ISREG(idx->nodes[i].mode) && idx->nodes[i].target == i)
			for (uint64_t k = 0; k < idx->nodes[i].size; k++)
				is_data[idx->nodes[i].data_off + k] = true;
	cn_taridx_free(idx);
	for (size_t off = 0; off < end; off += is_data[off] ? 331 : 1) {
		const uint8_t *blk = tar + off / 512 * 512;
		bool ustar = !is_data[off] && memcmp(blk + 257, "ustar", 5) == 0;
		bool eof = off >= end - 1024;

		for (unsigned bit = 0; bit < 8; bit += 3) {
			int r;

			tar[off] ^= (uint8_t)(1u << bit);
			r = cn_taridx_build_mem(tar, len, &idx);
			tar[off] ^= (uint8_t)(1u << bit);
			if (r == 0)
				cn_taridx_free(idx);
			if (is_data[off])
				ASSERT_OK(r);
			else if (ustar || eof)
				ASSERT_FAIL(r);
		}
	}
}

/* A header with a correct checksum, for hand-made hostile tars. */
static void put_header(uint8_t *h, const char *name, char type, uint64_t size, const char *link)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	memcpy(h, name, strnlen(name, 100));
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	(void)snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	memcpy(h + 136, "00000000000", 11);
	h[156] = (uint8_t)type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	(void)snprintf((char *)h + 148, 8, "%06o", sum);
}

static int build_entries(const char *const *names, const char *types, const uint64_t *sizes,
			 const char *const *links, size_t n, const char *want_msg)
{
	size_t len = (n + 2) * 512 + 4096;
	uint8_t *tar = calloc(1, len);
	struct cn_taridx *idx;
	size_t off = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		put_header(tar + off, names[i], types[i], sizes[i], links ? links[i] : NULL);
		off += 512 + (types[i] == '0' ? (sizes[i] + 511) / 512 * 512 : 0);
		if (off + 1024 > len)
			off = len - 1024;
	}
	r = cn_taridx_build_mem(tar, off + 1024, &idx);
	if (r == 0)
		cn_taridx_free(idx);
	else if (want_msg && !strstr(cn_err_msg(), want_msg))
		CN_FAIL_("error '%s' does not mention '%s'", cn_err_msg(), want_msg);
	free(tar);
	return r;
}

static void test_index_hostile(void)
{
	const uint64_t z[4] = {0};
	const uint64_t big[2] = {0, 1u << 30};

	ASSERT_OK(build_entries((const char *[]){"./", "./a"}, "50", z, NULL, 2, NULL));
	ASSERT_ERR(
	    build_entries((const char *[]){"./", "./../x"}, "50", z, NULL, 2, "bad path component"),
	    -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./a/./b"}, "50", z, NULL, 2,
				 "bad path component"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "/etc/x"}, "50", z, NULL, 2, "'./'"),
		   -EBADMSG);
	ASSERT_ERR(
	    build_entries((const char *[]){"./", "./a", "./a"}, "500", z, NULL, 3, "duplicate"),
	    -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./d/a"}, "50", z, NULL, 2,
				 "before its directory"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./f", "./f/a"}, "500", z, NULL, 3,
				 "non-directory"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./a"}, "0", z, NULL, 1, "first entry"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./dev"}, "53", z, NULL, 2, "type '3'"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./h"}, "51", z,
				 (const char *[]){NULL, "./missing"}, 2, "earlier file"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./d/"}, "50", z, NULL, 2, "end in '/'"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./f"}, "50", big, NULL, 2, "past the end"),
		   -EBADMSG);
	ASSERT_ERR(build_entries((const char *[]){"./", "./s"}, "52", z, NULL, 2, "no target"),
		   -EBADMSG);
}

static void test_vars(void)
{
	struct cn_guest_model m;
	char hash[65], buf[512];
	_cleanup_free_ char *env = NULL;

	memset(hash, 'a', 64);
	hash[64] = '\0';
	(void)snprintf(buf, sizeof(buf),
		       "# written by the launcher\nOTHER=x y\nMODEL_NAME=Qwen/Qwen3-0.6B\r\n"
		       "MODEL_VERITY_HASH=%s\nMODEL_COMMIT='abc'\n",
		       hash);
	ASSERT_OK(cn_guest_model_from_vars(buf, strlen(buf), &m));
	ASSERT_STREQ(m.name, "Qwen/Qwen3-0.6B");
	ASSERT_STREQ(m.commit, "abc");
	ASSERT_STREQ(m.root_hash, hash);
	ASSERT_OK(cn_guest_env_format(&m, "/mnt/model", &env));
	(void)snprintf(buf, sizeof(buf),
		       "MODEL_NAME=Qwen/Qwen3-0.6B\nMODEL_COMMIT=abc\nMODEL_VERITY_HASH=%s\n"
		       "MODEL_PATH=/mnt/model\n",
		       hash);
	ASSERT_STREQ(env, buf);
	ASSERT_FAIL(cn_guest_env_format(&m, "/mnt/a\nX=1", &env));
	ASSERT_FAIL(cn_guest_env_format(&m, "relative", &env));
	cn_guest_model_done(&m);

	ASSERT_ERR(cn_guest_model_from_vars("MODEL_NAME=a\n", 13, &m), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "MODEL_COMMIT is missing") != NULL);
	ASSERT_ERR(cn_guest_model_from_vars("MODEL_NAME=a\nMODEL_NAME=b\n", 26, &m), -EBADMSG);
	ASSERT_ERR(cn_guest_model_from_vars("garbage\n", 8, &m), -EBADMSG);
	(void)snprintf(buf, sizeof(buf), "MODEL_NAME=a\nMODEL_COMMIT=c\nMODEL_VERITY_HASH=%.63s\n",
		       hash);
	ASSERT_ERR(cn_guest_model_from_vars(buf, strlen(buf), &m), -EINVAL);
	(void)snprintf(buf, sizeof(buf), "MODEL_NAME=a b\nMODEL_COMMIT=c\nMODEL_VERITY_HASH=%s\n",
		       hash);
	ASSERT_ERR(cn_guest_model_from_vars(buf, strlen(buf), &m), -EINVAL);

	(void)snprintf(buf, sizeof(buf), "o/m@c1:%s", hash);
	ASSERT_OK(cn_guest_model_from_spec(buf, &m));
	ASSERT_STREQ(m.commit, "c1");
	cn_guest_model_done(&m);
	ASSERT_ERR(cn_guest_model_from_spec("o/m@c1", &m), -EINVAL);
	ASSERT_ERR(cn_guest_model_from_spec("o/m@c1:ABC", &m), -EINVAL);
}

static void test_find_disk(void)
{
	const char *d = cn_test_tmpdir();
	char dev[512], path[512];
	_cleanup_free_ char *got = NULL;

	ASSERT_EQ(cn_test_sh("cd %s && mkdir -p sys/block/vda sys/block/vdb dev/disk && "
			     "printf 'model-tar\\n' > sys/block/vda/serial && "
			     "printf 'model-tar-verity' > sys/block/vdb/serial",
			     d),
		  0);
	(void)snprintf(dev, sizeof(dev), "%s/dev", d);
	(void)snprintf(path, sizeof(path), "%s/sys", d);
	ASSERT_ERR(cn_guest_find_disk(dev, path, "model-tar-x", &got), -ENODEV);
	ASSERT_TRUE(strstr(cn_err_msg(), "no disk with serial 'model-tar-x'") != NULL);
	ASSERT_ERR(cn_guest_find_disk(dev, path, "bad/serial", &got), -EINVAL);
	ASSERT_ERR(cn_guest_find_disk(dev, path, "model-tar", &got), -ENODEV); /* no node */
	ASSERT_TRUE(strstr(cn_err_msg(), "is vda in sysfs") != NULL);
	(void)snprintf(path, sizeof(path), "%s/dev/vdb", d);
	if (mknod(path, S_IFBLK | 0600, makedev(7, 0)) < 0)
		return; /* not root: the sysfs path was checked above */
	(void)snprintf(path, sizeof(path), "%s/sys", d);
	ASSERT_OK(cn_guest_find_disk(dev, path, "model-tar-verity", &got));
	(void)snprintf(path, sizeof(path), "%s/dev/vdb", d);
	ASSERT_STREQ(got, path);
	/* udev's by-id link wins. */
	ASSERT_EQ(cn_test_sh("cd %s/dev && mkdir -p disk/by-id && ln -s ../../vdb "
			     "disk/by-id/virtio-model-tar",
			     d),
		  0);
	got = mfree(got);
	(void)snprintf(path, sizeof(path), "%s/sys", d);
	ASSERT_OK(cn_guest_find_disk(dev, path, "model-tar", &got));
	ASSERT_TRUE(strstr(got, "virtio-model-tar") != NULL);
}

/* A wrong root hash is caught before activation, naming both hashes (no device-mapper used). */
static void test_open_wrong_root(void)
{
	const char *d = cn_test_tmpdir();
	char tar[512], verity[512], hash[65], wrong[65];
	_cleanup_free_ uint8_t *h = NULL;
	size_t hl;

	ASSERT_EQ(cn_test_sh("cd %s && rm -rf o && mkdir -p o && head -c 600000 /dev/urandom > "
			     "o/w.bin && '%s' model build -q --from-dir o --images-dir oimg o/m@c "
			     "> /dev/null",
			     d, cocoon()),
		  0);
	(void)snprintf(tar, sizeof(tar), "%s/oimg/o_m@c.tar", d);
	(void)snprintf(verity, sizeof(verity), "%s/oimg/o_m@c.tar.verity", d);
	(void)snprintf(hash, sizeof(hash), "%s", "");
	{
		char hp[512];

		(void)snprintf(hp, sizeof(hp), "%s/oimg/o_m@c.tar.hash", d);
		h = cn_test_slurp(hp, &hl);
		ASSERT_EQ(hl, 64);
		memcpy(hash, h, 64);
		hash[64] = '\0';
	}
	memcpy(wrong, hash, 65);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	ASSERT_ERR(cn_model_open(tar, verity, wrong, "cn-test-wrong"), -EKEYREJECTED);
	ASSERT_TRUE(strstr(cn_err_msg(), wrong) != NULL);
	ASSERT_TRUE(strstr(cn_err_msg(), hash) != NULL);
	/* A hash file cut short is refused before activation too. */
	ASSERT_EQ(cn_test_sh("cd %s/oimg && head -c 4096 o_m@c.tar.verity > short.verity", d), 0);
	(void)snprintf(verity, sizeof(verity), "%s/oimg/short.verity", d);
	ASSERT_ERR(cn_model_open(tar, verity, hash, "cn-test-short"), -EBADMSG);
	ASSERT_TRUE(strstr(cn_err_msg(), "hash tree needs") != NULL);
}

static const struct cn_test tests[] = {
    T(index_gnu_tar),	T(index_cocoon_build), T(index_truncation),
    T(index_bit_flips), T(index_hostile),      T(vars),
    T(find_disk),	T(open_wrong_root),
};

CN_TEST_MAIN(tests)
