/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks before QEMU starts, each failing with a message that names the fix: image files, QEMU
 * capabilities, host ports and vsock CIDs, instance locks and claims.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/vhost.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/proc.h"
#include "launch/launch.h"

int cn_launch_check_image_files(const char *image_dir)
{
	for (size_t i = 0; i < ELEMENTSOF(cn_launch_image_files); i++) {
		_cleanup_free_ char *p = cn_path_join(image_dir, cn_launch_image_files[i]);
		struct stat st;

		if (!p)
			return -ENOMEM;
		if (stat(p, &st) < 0)
			return cn_err_set(
			    -errno,
			    "image file '%s' is missing (%s): point image-dir (or --image-dir) "
			    "at a folder with image.img, image.vmlinuz, image.initrd, "
			    "image.cmdline and OVMF.fd",
			    p, strerror(errno));
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			return cn_err_set(-EINVAL, "image file '%s' is not a regular file", p);
	}
	return 0;
}

int cn_launch_read_image_cmdline(const char *image_dir, char **ret)
{
	_cleanup_free_ char *p = cn_path_join(image_dir, "image.cmdline");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!p)
		return -ENOMEM;
	r = cn_read_file(p, CN_LAUNCH_CMDLINE_MAX, &buf, &len);
	if (r == -E2BIG)
		return cn_err_set(r, "'%s' is larger than %u bytes", p, CN_LAUNCH_CMDLINE_MAX);
	if (r < 0)
		return cn_err_set(r, "cannot read '%s': %s", p, cn_strerror(r));
	if (memchr(buf, '\0', len))
		return cn_err_set(-EINVAL, "'%s' contains a NUL byte", p);
	cn_launch_cmdline_strip((char *)buf);
	if (!buf[0])
		return cn_err_set(
		    -EINVAL,
		    "'%s' is empty (it holds the guest kernel command line, with roothash=)", p);
	*ret = (char *)TAKE_PTR(buf);
	return 0;
}

int cn_launch_find_executable(const char *name, const char *path_env, char **ret)
{
	int r;

	if (!name || !*name)
		return cn_err_set(-EINVAL, "no QEMU binary given");
	r = cn_proc_find_executable(name, path_env, ret);
	if (r == -ENOENT && !strchr(name, '/'))
		return cn_err_set(
		    r,
		    "'%s' not found in PATH: install QEMU >= 10.1 with TDX support or "
		    "give --qemu PATH",
		    name);
	if (r < 0 && strchr(name, '/'))
		return cn_err_set(r, "QEMU binary '%s' is not executable: %s", name, strerror(-r));
	return r;
}

bool cn_launch_help_lists(const char *help, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = help, *end = help + len;

	/* "-object help": "  tdx-guest"; "-device help": name "vfio-pci", bus PCI, ... */
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		const char *q = p;

		if (!e)
			e = end;
		while (q < e && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(e - q) > 5 && memcmp(q, "name ", 5) == 0)
			q += 5;
		if (q < e && *q == '"' && (size_t)(e - q) > nl + 1 &&
		    memcmp(q + 1, name, nl) == 0 && q[nl + 1] == '"')
			return true;
		if ((size_t)(e - q) >= nl && memcmp(q, name, nl) == 0 &&
		    (q + nl == e || q[nl] == ' ' || q[nl] == ',' || q[nl] == '\t'))
			return true;
		p = e + 1;
	}
	return false;
}

#define QEMU_HELP_MAX (1024u * 1024)
#define QEMU_HELP_TIMEOUT_MS 10000

/* Runs "<qemu> <opt> help" with stdin /dev/null and stderr discarded; collects stdout. */
static int run_help(const char *qemu, const char *opt, char **ret, size_t *ret_len)
{
	const char *argv[] = {qemu, opt, "help", NULL};
	const struct cn_proc_opts po = {
	    .timeout_ms = QEMU_HELP_TIMEOUT_MS, .out_max = QEMU_HELP_MAX, .discard_err = true};
	struct cn_proc_result res;
	int r;

	r = cn_proc_run(argv, &po, &res);
	if (r < 0)
		return cn_err_set(r, "cannot run '%s %s help': %s", qemu, opt, strerror(-r));
	if (res.timed_out)
		r = cn_err_set(-ETIMEDOUT, "'%s %s help' did not finish in %u s", qemu, opt,
			       QEMU_HELP_TIMEOUT_MS / 1000);
	else if (res.truncated)
		r = cn_err_set(-E2BIG, "'%s %s help' printed more than %u bytes", qemu, opt,
			       QEMU_HELP_MAX);
	else if (res.status != 0)
		r = cn_err_set(-EIO,
			       "'%s %s help' failed (status %d): is it a QEMU system emulator?",
			       qemu, opt, res.status);
	if (r < 0) {
		cn_proc_result_done(&res);
		return r;
	}
	*ret = res.out;
	*ret_len = res.out_len;
	free(res.err);
	return 0;
}

int cn_launch_probe_qemu(const char *qemu_path, struct cn_qemu_caps *ret)
{
	_cleanup_free_ char *obj = NULL, *dev = NULL;
	size_t olen, dlen;
	int r;

	r = run_help(qemu_path, "-object", &obj, &olen);
	if (r < 0)
		return r;
	r = run_help(qemu_path, "-device", &dev, &dlen);
	if (r < 0)
		return r;
	*ret = (struct cn_qemu_caps){
	    .tdx_guest = cn_launch_help_lists(obj, olen, "tdx-guest"),
	    .iommufd = cn_launch_help_lists(obj, olen, "iommufd"),
	    .vhost_vsock = cn_launch_help_lists(dev, dlen, "vhost-vsock-pci"),
	    .virtio_9p = cn_launch_help_lists(dev, dlen, "virtio-9p-pci"),
	    .vfio_pci = cn_launch_help_lists(dev, dlen, "vfio-pci"),
	};
	return 0;
}

int cn_launch_check_tcp_port(uint32_t port)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1;

	if (port == 0 || port > 65535)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* slirp's hostfwd listener sets SO_REUSEADDR too: TIME_WAIT leftovers do not count. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(fd, 1) < 0)
		return -errno;
	return 0;
}

int cn_launch_check_vsock_cid(const char *dev_dir, uint32_t cid)
{
	_cleanup_free_ char *p = cn_path_join(dev_dir, "vhost-vsock");
	_cleanup_close_ int fd = -EBADF;
	uint64_t c = cid;
	struct stat st;

	if (!p)
		return -ENOMEM;
	if (stat(p, &st) < 0)
		return cn_err_set(
		    -errno,
		    "'%s' is missing (%s): load the vhost_vsock module (modprobe vhost_vsock)", p,
		    strerror(errno));
	if (!S_ISCHR(st.st_mode))
		return 0;
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cn_err_set(-errno, "cannot open '%s': %s", p, strerror(errno));
	if (ioctl(fd, VHOST_SET_OWNER, NULL) < 0)
		return cn_err_set(-errno, "'%s': VHOST_SET_OWNER: %s", p, strerror(errno));
	if (ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &c) < 0) {
		int e = errno;

		if (e == EADDRINUSE)
			return cn_err_set(-EADDRINUSE,
					  "vsock CID %u is already used by another VM on this host",
					  cid);
		return cn_err_set(-e, "vsock CID %u: %s", cid, strerror(e));
	}
	return 0; /* closing the fd releases the CID */
}

void cn_launch_claims_done(struct cn_launch_claims *c)
{
	free(c->persistent);
	free(c->gpu);
	free(c->name);
	*c = (struct cn_launch_claims){0};
}

int cn_launch_claims_from_config(const struct cn_launch_config *c, struct cn_launch_claims *ret)
{
	struct cn_launch_claims k = {.cid = c->cid};

	if (c->type != CN_NODE_CLIENT) { /* a client has no VM: no CID, no forwards */
		k.ports[k.n_ports++] = c->host_ssh_port;
		k.ports[k.n_ports++] = c->host_http_port;
	}
	if (c->type == CN_NODE_PROXY) {
		k.ports[k.n_ports++] = c->host_worker_rpc_port;
		k.ports[k.n_ports++] = c->host_client_rpc_port;
	}
	k.name = cn_launch_instance_name(c);
	k.persistent = strdup(c->persistent);
	k.gpu = c->gpu ? strdup(c->gpu) : NULL;
	if (!k.name || !k.persistent || (c->gpu && !k.gpu)) {
		cn_launch_claims_done(&k);
		return -ENOMEM;
	}
	*ret = k;
	return 0;
}

char *cn_launch_claims_json(const struct cn_launch_claims *c)
{
	json_t *ports = json_array(), *o;
	char *s;

	if (!ports)
		return NULL;
	for (size_t i = 0; i < c->n_ports; i++)
		(void)json_array_append_new(ports, json_integer(c->ports[i]));
	o = json_pack("{s:s, s:I, s:o, s:s, s:s*}", "name", c->name, "cid", (json_int_t)c->cid,
		      "ports", ports, "persistent", c->persistent, "gpu", c->gpu);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

#define CLAIMS_MAX 8192u

int cn_launch_claims_parse(const char *text, size_t len, struct cn_launch_claims *ret)
{
	json_t *o, *ports, *v;
	json_error_t e;
	_cleanup_(cn_launch_claims_done) struct cn_launch_claims k = {0};
	json_int_t cid;
	const char *name, *persistent, *gpu = NULL;
	size_t i;

	if (len > CLAIMS_MAX)
		return cn_err_set(-EBADMSG, "claims: larger than %u bytes", CLAIMS_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		return cn_err_set(-EBADMSG, "claims: %s at offset %d", e.text, e.position);
	if (json_unpack_ex(o, &e, JSON_STRICT, "{s:s, s:I, s:o, s:s, s?s}", "name", &name, "cid",
			   &cid, "ports", &ports, "persistent", &persistent, "gpu", &gpu) < 0) {
		json_decref(o);
		return cn_err_set(-EBADMSG, "claims: %s", e.text);
	}
	if (cid < 0 || cid > UINT32_MAX || !json_is_array(ports) ||
	    json_array_size(ports) > ELEMENTSOF(k.ports)) {
		json_decref(o);
		return cn_err_set(-EBADMSG, "claims: cid or ports out of range");
	}
	k.cid = (uint32_t)cid;
	json_array_foreach(ports, i, v)
	{
		json_int_t p = json_is_integer(v) ? json_integer_value(v) : -1;

		if (p < 1 || p > 65535) {
			json_decref(o);
			return cn_err_set(-EBADMSG, "claims: port %zu out of range", i);
		}
		k.ports[k.n_ports++] = (uint32_t)p;
	}
	k.name = strdup(name);
	k.persistent = strdup(persistent);
	k.gpu = gpu ? strdup(gpu) : NULL;
	json_decref(o);
	if (!k.name || !k.persistent || (gpu && !k.gpu))
		return -ENOMEM;
	*ret = k;
	k = (struct cn_launch_claims){0}; /* ownership moved to *ret */
	return 0;
}

int cn_launch_claims_conflict(const struct cn_launch_claims *mine,
			      const struct cn_launch_claims *other)
{
	if (mine->cid && mine->cid == other->cid)
		return cn_err_set(
		    -EADDRINUSE,
		    "vsock CID %u is already used by running instance %s: pick another "
		    "--instance or vsock_cid",
		    mine->cid, other->name);
	for (size_t i = 0; i < mine->n_ports; i++)
		for (size_t j = 0; j < other->n_ports; j++)
			if (mine->ports[i] == other->ports[j])
				return cn_err_set(
				    -EADDRINUSE,
				    "host port %u is already used by running instance %s: "
				    "pick another --instance or port",
				    mine->ports[i], other->name);
	if (strcmp(mine->persistent, other->persistent) == 0)
		return cn_err_set(-EADDRINUSE,
				  "persistent disk '%s' is already used by running instance %s",
				  mine->persistent, other->name);
	if (mine->gpu && other->gpu && strcmp(mine->gpu, other->gpu) == 0)
		return cn_err_set(-EADDRINUSE, "GPU %s is already passed to running instance %s",
				  mine->gpu, other->name);
	return 0;
}

#define INSTANCES_MAX 4096u

/* Is the instance folder's lock held (by a running instance)? */
static int lock_held(int dir_fd, const char *name)
{
	_cleanup_free_ char *p = cn_path_join(name, "lock");
	_cleanup_close_ int fd = -EBADF;

	if (!p)
		return -ENOMEM;
	fd = openat(dir_fd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 1 : -errno;
	return 0;
}

static int check_others(const char *run_dir, int run_fd, const struct cn_launch_claims *mine)
{
	_cleanup_close_ int dfd = fcntl(run_fd, F_DUPFD_CLOEXEC, 3);
	DIR *d;
	struct dirent *de;
	unsigned count = 0;
	int r = 0;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d)
		return -errno;
	TAKE_FD(dfd);
	while ((de = readdir(d))) {
		_cleanup_free_ char *claims_path = NULL;
		_cleanup_free_ uint8_t *buf = NULL;
		struct cn_launch_claims other = {0};
		size_t len;

		if (de->d_name[0] == '.' || strcmp(de->d_name, mine->name) == 0)
			continue;
		if (++count > INSTANCES_MAX) {
			r = cn_err_set(-E2BIG, "'%s' holds more than %u instance folders", run_dir,
				       INSTANCES_MAX);
			break;
		}
		r = lock_held(dirfd(d), de->d_name);
		if (r < 0)
			continue; /* not an instance folder (or unreadable): nothing claimed */
		if (r == 0)
			continue; /* stale: its QEMU is gone */
		claims_path = cn_path_join(de->d_name, "claims.json");
		if (!claims_path) {
			r = -ENOMEM;
			break;
		}
		r = cn_read_file_at(dirfd(d), claims_path, CLAIMS_MAX, &buf, &len);
		if (r < 0 || cn_launch_claims_parse((const char *)buf, len, &other) < 0) {
			r = 0; /* a starting instance writes its claims right after locking */
			continue;
		}
		r = cn_launch_claims_conflict(mine, &other);
		cn_launch_claims_done(&other);
		if (r < 0)
			break;
	}
	(void)closedir(d);
	return r;
}

int cn_launch_lock_instance(const char *run_dir, const struct cn_launch_claims *mine,
			    int *ret_lock_fd)
{
	_cleanup_close_ int run_fd = -EBADF, inst_fd = -EBADF, lock_fd = -EBADF, guard_fd = -EBADF;
	_cleanup_free_ char *json = NULL;
	int r;

	r = cn_mkdir_p(run_dir, 0755);
	if (r < 0)
		return cn_err_set(r, "cannot create run folder '%s': %s", run_dir, strerror(-r));
	run_fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (run_fd < 0)
		return cn_err_set(-errno, "cannot open run folder '%s': %s", run_dir,
				  strerror(errno));
	/* One launcher at a time checks and claims (the run folder's own lock), so that two
	 * instances started together cannot both pass the clash check. */
	guard_fd = openat(run_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (guard_fd < 0)
		return cn_err_set(-errno, "cannot open '%s/.lock': %s", run_dir, strerror(errno));
	if (flock(guard_fd, LOCK_EX) < 0)
		return -errno;

	if (mkdirat(run_fd, mine->name, 0750) < 0 && errno != EEXIST)
		return cn_err_set(-errno, "cannot create '%s/%s': %s", run_dir, mine->name,
				  strerror(errno));
	inst_fd = openat(run_fd, mine->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (inst_fd < 0)
		return cn_err_set(-errno, "cannot open '%s/%s': %s", run_dir, mine->name,
				  strerror(errno));
	lock_fd = openat(inst_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock_fd < 0)
		return cn_err_set(-errno, "cannot open '%s/%s/lock': %s", run_dir, mine->name,
				  strerror(errno));
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return cn_err_set(
			    -EBUSY, "instance %s is already running (lock '%s/%s/lock' is held)",
			    mine->name, run_dir, mine->name);
		return -errno;
	}
	r = check_others(run_dir, run_fd, mine);
	if (r < 0)
		return r;
	json = cn_launch_claims_json(mine);
	if (!json)
		return -ENOMEM;
	r = cn_write_file_atomic_at(inst_fd, "claims.json", json, strlen(json), 0644);
	if (r < 0)
		return cn_err_set(r, "cannot write '%s/%s/claims.json': %s", run_dir, mine->name,
				  strerror(-r));
	*ret_lock_fd = TAKE_FD(lock_fd);
	return 0;
}

int cn_launch_ensure_persistent(const char *path, uint64_t size, bool *ret_created)
{
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	const char *slash = strrchr(path, '/'), *base;
	struct stat st;
	int r;

	if (!slash || !slash[1])
		return cn_err_set(-EINVAL, "persistent '%s': not a file path", path);
	dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	base = slash + 1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cn_err_set(-errno, "persistent disk folder '%s': %s", dir, strerror(errno));
	/* The folder's lock: two launchers creating the same disk wait for each other. */
	if (flock(dfd, LOCK_EX) < 0)
		return -errno;
	if (fstatat(dfd, base, &st, 0) == 0) {
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			return cn_err_set(
			    -EINVAL, "persistent disk '%s' is not a regular file or block device",
			    path);
		*ret_created = false;
		return 0;
	}
	if (errno != ENOENT)
		return cn_err_set(-errno, "persistent disk '%s': %s", path, strerror(errno));
	r = cn_open_tmp_at(dfd, base, &fd, &tmp);
	if (r < 0)
		return cn_err_set(r, "cannot create a file in '%s': %s", dir, strerror(-r));
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		r = -errno;
		(void)unlinkat(dfd, tmp, 0);
		return cn_err_set(r, "cannot make sparse persistent disk '%s': %s", path,
				  strerror(-r));
	}
	/* Never replaces: a file that appeared meanwhile wins. */
	if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) < 0) {
		r = -errno;
		(void)unlinkat(dfd, tmp, 0);
		if (r == -EEXIST) {
			*ret_created = false;
			return 0;
		}
		return cn_err_set(r, "cannot create persistent disk '%s': %s", path, strerror(-r));
	}
	(void)cn_fsync_dir_fd(dfd);
	*ret_created = true;
	return 0;
}
