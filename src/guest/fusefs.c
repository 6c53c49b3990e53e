/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE 3 server (low-level API): presents the tar index read-only and serves file data
 * with pread() from the device (for a model, /dev/mapper/<name>, so every block the kernel
 * reads is checked by dm-verity and a corrupted one comes back as EIO, which is passed on; a
 * short read is EIO too, never zeros). The file system is immutable, so entries, attributes and
 * page-cache contents are kept (keep_cache): mmap works and a second read costs nothing.
 * Inode numbers are node index + 1 (FUSE_ROOT_ID = the "./" entry).
 *
 * Speed: on a block device, file data is read with O_DIRECT (the request's range widened to
 * the device's logical blocks, into a per-thread aligned buffer): dm-verity checks the blocks
 * as they arrive in our buffer, and the model is cached once (the FUSE file's page cache), not
 * twice (the device's too), with one copy less per byte. The kernel's FUSE read-ahead is
 * raised from 128 KiB (cn_guest_fs_tune) so that several 1 MiB reads are in flight, served in
 * parallel by the multithreaded loop (the verity hashing of one can overlap the copy of
 * another). Splicing would not save more: the tar's data starts at 512-byte offsets, so pages
 * could not be moved, only copied (docs/performance.md).
 */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "guest/guest.h"
#include "guest/tarindex.h"

#define TIMEOUT_S 86400.0		/* nothing ever changes */
#define READ_MAX (1024u * 1024)		/* max_write/max_readahead asked of the kernel */
#define READ_REQ_MAX (8u * 1024 * 1024) /* a request larger than this is refused */
#define READAHEAD_KB 4096u		/* the FUSE mount's read-ahead (kernel default 128) */
#define DIRECT_ALIGN_MAX 65536u		/* a larger logical block size: no O_DIRECT */

struct cn_guest_fs {
	struct fuse_session *se;
	struct cn_taridx *idx;
	int dev_fd;
	int direct_fd;	/* the device again with O_DIRECT, or -1 */
	unsigned align; /* its logical block size */
	uint64_t dev_size;
	pthread_key_t buf_key; /* per-thread aligned read buffer (struct tbuf) */
	bool has_key;
	bool mounted;
};

struct tbuf {
	size_t cap;
	void *p;
};

static void tbuf_free(void *v)
{
	struct tbuf *b = v;

	if (b) {
		free(b->p);
		free(b);
	}
}

/* This thread's buffer of at least len bytes, aligned to fs->align; NULL on ENOMEM. */
static void *tbuf_get(struct cn_guest_fs *fs, size_t len)
{
	struct tbuf *b = pthread_getspecific(fs->buf_key);

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || pthread_setspecific(fs->buf_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (b->cap < len) {
		size_t cap = CN_MAX(len, (size_t)READ_MAX + 2 * fs->align);
		void *p = aligned_alloc(fs->align, (cap + fs->align - 1) / fs->align * fs->align);

		if (!p)
			return NULL;
		free(b->p);
		b->p = p;
		b->cap = cap;
	}
	return b->p;
}

static struct cn_guest_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ino -> node (hardlinks already point at their file). */
static const struct cn_taridx_node *node_of(const struct cn_guest_fs *fs, fuse_ino_t ino,
					    uint32_t *ret_i)
{
	if (ino < 1 || ino > fs->idx->n)
		return NULL;
	if (ret_i)
		*ret_i = (uint32_t)(ino - 1);
	return &fs->idx->nodes[ino - 1];
}

static void fill_stat(const struct cn_guest_fs *fs, uint32_t i, struct stat *st)
{
	const struct cn_taridx_node *nd = &fs->idx->nodes[fs->idx->nodes[i].target];

	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)nd->target + 1;
	st->st_mode = nd->mode;
	st->st_nlink = nd->nlink;
	st->st_size = (off_t)nd->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((nd->size + 511) / 512);
	st->st_mtim.tv_sec = (time_t)nd->mtime;
	st->st_atim = st->st_ctim = st->st_mtim;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_readahead = READ_MAX;
	conn->max_write = READ_MAX;
	/* Reads of the same file may run in parallel (one worker thread each). */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cn_guest_fs *fs = fs_of(req);
	struct fuse_entry_param e = {0};
	uint32_t p, c;
	int r;

	if (!node_of(fs, parent, &p)) {
		(void)fuse_reply_err(req, ENOENT);
		return;
	}
	r = cn_taridx_lookup(fs->idx, p, name, strlen(name), &c);
	if (r < 0) {
		(void)fuse_reply_err(req, -r);
		return;
	}
	fill_stat(fs, c, &e.attr);
	e.ino = e.attr.st_ino;
	e.attr_timeout = e.entry_timeout = TIMEOUT_S;
	(void)fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cn_guest_fs *fs = fs_of(req);
	struct stat st;
	uint32_t i;

	if (!node_of(fs, ino, &i)) {
		(void)fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(fs, i, &st);
	(void)fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cn_guest_fs *fs = fs_of(req);
	const struct cn_taridx_node *nd = node_of(fs, ino, NULL);

	if (!nd || !S_ISLNK(nd->mode)) {
		(void)fuse_reply_err(req, EINVAL);
		return;
	}
	(void)fuse_reply_readlink(req, fs->idx->names + nd->link_off);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct cn_taridx_node *nd = node_of(fs_of(req), ino, NULL);

	if (!nd)
		(void)fuse_reply_err(req, ENOENT);
	else if (!S_ISDIR(nd->mode))
		(void)fuse_reply_err(req, ENOTDIR);
	else {
		fi->keep_cache = 1;
		fi->cache_readdir = 1;
		(void)fuse_reply_open(req, fi);
	}
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct cn_guest_fs *fs = fs_of(req);
	const struct cn_taridx_node *nd;
	uint32_t i;
	_cleanup_free_ char *buf = NULL;
	size_t used = 0;

	nd = node_of(fs, ino, &i);
	if (!nd || !S_ISDIR(nd->mode)) {
		(void)fuse_reply_err(req, ENOTDIR);
		return;
	}
	size = CN_MIN(size, (size_t)READ_MAX);
	buf = malloc(size);
	if (!buf) {
		(void)fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 0 ".", 1 "..", 2 + k the k-th child; each entry's off is the next one's. */
	for (uint64_t k = (uint64_t)(off < 0 ? 0 : off); k < 2 + (uint64_t)nd->child_count; k++) {
		struct stat st = {0};
		const char *name;
		char tmp[CN_TARIDX_NAME_MAX + 1];
		size_t need;

		if (k < 2) {
			uint32_t t = k == 0 ? i : nd->parent;

			name = k == 0 ? "." : "..";
			st.st_ino = (ino_t)t + 1;
			st.st_mode = S_IFDIR;
		} else {
			uint32_t c = fs->idx->children[nd->child_first + (k - 2)];
			const struct cn_taridx_node *cn = &fs->idx->nodes[c];

			memcpy(tmp, fs->idx->names + cn->name_off, cn->name_len);
			tmp[cn->name_len] = '\0';
			name = tmp;
			st.st_ino = (ino_t)cn->target + 1;
			st.st_mode = cn->mode & S_IFMT;
		}
		need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(k + 1));
		if (need > size - used)
			break;
		used += need;
	}
	(void)fuse_reply_buf(req, buf, used);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct cn_taridx_node *nd = node_of(fs_of(req), ino, NULL);

	if (!nd)
		(void)fuse_reply_err(req, ENOENT);
	else if (S_ISDIR(nd->mode))
		(void)fuse_reply_err(req, EISDIR);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		(void)fuse_reply_err(req, EROFS);
	else {
		fi->keep_cache = 1; /* the content never changes */
		fi->noflush = 1;
		(void)fuse_reply_open(req, fi);
	}
}

/* n bytes at device offset pos through the O_DIRECT fd: the whole logical blocks around
 * them, read completely or EIO (never a short or zero-filled reply). */
static void read_direct(fuse_req_t req, struct cn_guest_fs *fs, uint64_t pos, size_t n)
{
	uint64_t a = fs->align, start = pos / a * a, end = (pos + n + a - 1) / a * a;
	uint8_t *buf;
	int r;

	if (end > fs->dev_size) {
		(void)fuse_reply_err(req, EIO);
		return;
	}
	buf = tbuf_get(fs, (size_t)(end - start));
	if (!buf) {
		(void)fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cn_pread_all(fs->direct_fd, buf, (size_t)(end - start), start);
	if (r < 0) {
		log_debug("read of %llu bytes at %llu failed: %s",
			  (unsigned long long)(end - start), (unsigned long long)start,
			  strerror(-r));
		(void)fuse_reply_err(req, EIO);
		return;
	}
	(void)fuse_reply_buf(req, (const char *)buf + (pos - start), n);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cn_guest_fs *fs = fs_of(req);
	const struct cn_taridx_node *nd = node_of(fs, ino, NULL);
	_cleanup_free_ char *buf = NULL;
	size_t n;
	int r;

	if (!nd || !S_ISREG(nd->mode) || off < 0) {
		(void)fuse_reply_err(req, EINVAL);
		return;
	}
	nd = &fs->idx->nodes[nd->target];
	if ((uint64_t)off >= nd->size || size == 0) {
		(void)fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > READ_REQ_MAX) {
		(void)fuse_reply_err(req, EINVAL);
		return;
	}
	n = (size_t)CN_MIN((uint64_t)size, nd->size - (uint64_t)off);
	if (fs->direct_fd >= 0) {
		read_direct(req, fs, nd->data_off + (uint64_t)off, n);
		return;
	}
	buf = malloc(n);
	if (!buf) {
		(void)fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A short read of a range inside the device is an error (dm-verity: EIO on the next). */
	r = cn_pread_all(fs->dev_fd, buf, n, nd->data_off + (uint64_t)off);
	if (r < 0) {
		log_debug("read of %zu bytes at %llu failed: %s", n,
			  (unsigned long long)(nd->data_off + (uint64_t)off), strerror(-r));
		(void)fuse_reply_err(req, EIO);
		return;
	}
	(void)fuse_reply_buf(req, buf, n);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cn_guest_fs *fs = fs_of(req);
	struct statvfs sv = {
	    .f_bsize = 4096,
	    .f_frsize = 4096,
	    .f_blocks = (fsblkcnt_t)((fs->idx->end + 4095) / 4096),
	    .f_files = fs->idx->n,
	    .f_namemax = CN_TARIDX_NAME_MAX,
	};

	(void)fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
    .init = fs_init,
    .lookup = fs_lookup,
    .getattr = fs_getattr,
    .readlink = fs_readlink,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .statfs = fs_statfs,
};

static int dev_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return cn_pread_all(*(int *)ctx, buf, len, off);
}

/* A block device whose logical block size divides its size: reopen it with O_DIRECT (best
 * effort: buffered reads otherwise, e.g. a regular file in the host tests). */
static int open_direct(struct cn_guest_fs *fs)
{
	struct stat st;
	char path[64];
	int lbs = 0, r;

	if (fstat(fs->dev_fd, &st) < 0 || !S_ISBLK(st.st_mode) ||
	    ioctl(fs->dev_fd, BLKSSZGET, &lbs) < 0 || lbs < 512 ||
	    (unsigned)lbs > DIRECT_ALIGN_MAX || (lbs & (lbs - 1)) || fs->dev_size % (unsigned)lbs)
		return 0;
	r = pthread_key_create(&fs->buf_key, tbuf_free);
	if (r != 0)
		return cn_err_set(-r, "cannot create a thread key: %s", strerror(r));
	fs->has_key = true;
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fs->dev_fd);
	fs->direct_fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fs->direct_fd < 0)
		log_debug("no O_DIRECT reads of the model device: %s", strerror(errno));
	fs->align = (unsigned)lbs;
	return 0;
}

int cn_guest_fs_tune(const char *mountpoint)
{
	struct stat st;
	char path[80];
	int fd, r = 0;

	/* stat waits for the server's INIT reply, which would cap a read-ahead set before it */
	if (stat(mountpoint, &st) < 0)
		return -errno;
	(void)snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		       minor(st.st_dev));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%u\n", READAHEAD_KB) < 0)
		r = -errno;
	(void)close(fd);
	return r;
}

int cn_guest_fs_new(int dev_fd, const char *mountpoint, struct cn_guest_fs **ret)
{
	struct cn_guest_fs *fs;
	off_t size;
	int r;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->dev_fd = dev_fd;
	fs->direct_fd = -1;
	size = lseek(dev_fd, 0, SEEK_END);
	if (size < 0) {
		r = cn_err_set(-errno, "cannot size the model device: %s", strerror(errno));
		goto fail;
	}
	fs->dev_size = (uint64_t)size;
	r = open_direct(fs);
	if (r < 0)
		goto fail;
	if (fs->direct_fd < 0) {
		/* Buffered file data, read front to back in large requests: read ahead on the
		 * device as far as the FUSE requests go (best effort; a block device, root). With
		 * O_DIRECT the device's read-ahead would only hash data nobody asked for. */
		struct stat st;

		(void)posix_fadvise(dev_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		if (fstat(dev_fd, &st) == 0 && S_ISBLK(st.st_mode))
			(void)ioctl(dev_fd, BLKRASET, (unsigned long)(4u * 1024 * 1024 / 512));
	}
	r = cn_taridx_build(dev_read, &fs->dev_fd, (uint64_t)size, &fs->idx);
	if (r < 0)
		goto fail;
	{
		/* fsname and subtype show in /proc/mounts; allow_other lets the worker's user in.
		 */
		char *argv[] = {"cocoon", "-o",
				geteuid() == 0 ? "ro,nosuid,nodev,default_permissions,allow_other,"
						 "fsname=cocoon-model,subtype=cocoon-model"
					       : "ro,nosuid,nodev,default_permissions,"
						 "fsname=cocoon-model,subtype=cocoon-model",
				NULL};
		struct fuse_args args = FUSE_ARGS_INIT(3, argv);

		fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
		fuse_opt_free_args(&args);
	}
	if (!fs->se) {
		r = cn_err_set(-EIO, "cannot create the FUSE session (is /dev/fuse there?)");
		goto fail;
	}
	if (fuse_session_mount(fs->se, mountpoint) != 0) {
		r = cn_err_set(-EIO,
			       "cannot mount FUSE at '%s' (fuse module loaded? mountpoint a "
			       "directory?)",
			       mountpoint);
		goto fail;
	}
	fs->mounted = true;
	*ret = fs;
	return 0;
fail:
	fs->dev_fd = -EBADF; /* the caller keeps its fd on failure */
	cn_guest_fs_free(fs, true);
	return r;
}

int cn_guest_fs_serve(struct cn_guest_fs *fs)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	r = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (r != 0)
		return cn_err_set(r < 0 ? r : -EIO, "the FUSE loop stopped with %d", r);
	return 0;
}

void cn_guest_fs_free(struct cn_guest_fs *fs, bool unmount)
{
	if (!fs)
		return;
	if (fs->se) {
		if (unmount && fs->mounted)
			fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se);
	}
	cn_taridx_free(fs->idx);
	if (fs->dev_fd >= 0)
		(void)close(fs->dev_fd);
	if (fs->direct_fd >= 0)
		(void)close(fs->direct_fd);
	if (fs->has_key) {
		tbuf_free(pthread_getspecific(fs->buf_key));
		(void)pthread_key_delete(fs->buf_key);
	}
	free(fs);
}
