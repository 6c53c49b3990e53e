/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The launch use case (run.h): plan, prepare, exec. Order of work: configuration → image files
 * → model image (worker) → argv → [--print-only stops] → GPU readiness → QEMU capabilities →
 * KVM/TDX → instance lock and clash check → host ports and vsock CID → persistent disk → spec
 * share + runtime.vars + spec tree hash → [--prepare-only stops] → execve(QEMU).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"
#include "launch/run.h"
#include "model/model.h"
#include "model/store.h"
#include "acquire/fetch.h"
#include "vfio/ready.h"

extern char **environ;

static enum cn_launch_status fail(enum cn_launch_status st, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum cn_launch_status fail(enum cn_launch_status st, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)cn_err_setv(r < 0 ? r : -EINVAL, fmt, ap);
	va_end(ap);
	return st;
}

static void model_done(struct cn_launch_model *m)
{
	free(m->name);
	free(m->commit);
	free(m->tar_path);
	free(m->verity_path);
	*m = (struct cn_launch_model){0};
}

void cn_launch_plan_done(struct cn_launch_plan *p)
{
	cn_launch_config_done(&p->cfg);
	free(p->name);
	free(p->instance_dir);
	free(p->spec_share);
	free(p->image_cmdline);
	model_done(&p->model);
	cn_strv_done(&p->argv);
	cn_strv_done(&p->gpu_problems);
	free(p->qemu_path);
	if (p->lock_fd >= 0)
		(void)close(p->lock_fd);
	*p = (struct cn_launch_plan){.lock_fd = -EBADF};
}

/* TAR, TAR.verity, TAR.hash: the reference's names; a pinned root hash must agree. */
static int model_paths(struct cn_launch_model *m, const char *tar, const char *name,
		       const char *commit, char **ret_hash_path)
{
	m->tar_path = strdup(tar);
	m->name = strdup(name);
	m->commit = strdup(commit);
	if (!m->tar_path || !m->name || !m->commit ||
	    asprintf(&m->verity_path, "%s.verity", tar) < 0 ||
	    asprintf(ret_hash_path, "%s.hash", tar) < 0)
		return -ENOMEM;
	return 0;
}

static int model_from_image(const char *tar, const struct cn_model_spec *spec, const char *cwd,
			    struct cn_launch_model *ret)
{
	_cleanup_free_ char *abs = NULL, *hash_path = NULL;
	int r;

	if (!spec->commit)
		return cn_err_set(-EINVAL,
				  "--model-image needs the model's commit: model = %s@COMMIT",
				  spec->name);
	abs = tar[0] == '/' ? strdup(tar) : cn_path_join(cwd, tar);
	if (!abs || model_paths(ret, abs, spec->name, spec->commit, &hash_path) < 0)
		return -ENOMEM;
	if (access(ret->tar_path, R_OK) < 0 || access(ret->verity_path, R_OK) < 0)
		return cn_err_set(-ENOENT,
				  "model image '%s' or its '.verity' is missing or unreadable",
				  ret->tar_path);
	r = cn_model_read_hash_file(hash_path, ret->root_hash);
	if (r < 0)
		return cn_err_set(r, "model image root hash '%s': %s", hash_path, cn_err_msg());
	if (spec->root_hash && strcmp(spec->root_hash, ret->root_hash) != 0)
		return cn_err_set(-EKEYREJECTED,
				  "model image '%s' has root hash %s, the model spec pins %s",
				  ret->tar_path, ret->root_hash, spec->root_hash);
	return 0;
}

/* The image's paths and root hash move into ret (img keeps nothing of them). */
static void model_take(struct cn_launch_model *ret, struct cn_model_image *img)
{
	ret->name = TAKE_PTR(img->name);
	ret->commit = TAKE_PTR(img->commit);
	ret->tar_path = TAKE_PTR(img->tar_path);
	ret->verity_path = TAKE_PTR(img->verity_path);
	memcpy(ret->root_hash, img->root_hash, sizeof(ret->root_hash));
	ret->root_hash[64] = '\0';
}

/* --print-only: the image store read without a lock or a write (model/store.h). */
static int model_lookup_readonly(const struct cn_launch_config *cfg,
				 const struct cn_model_spec *spec, struct cn_launch_model *ret)
{
	struct cn_store st = CN_STORE_INIT;
	struct cn_store_names n = {0};
	struct cn_model_image img = {0};
	int r;

	if (!spec->commit)
		return -ENOENT;
	r = cn_store_open(&st, cfg->models_dir, false);
	if (r < 0)
		return -ENOENT;
	r = cn_store_names_make(spec->name, spec->commit, &n);
	if (r >= 0)
		r = cn_store_lookup(&st, &n, spec->name, spec->commit, cfg->tar_format, &img);
	if (r == 1) {
		model_take(ret, &img);
		r = ret->name && ret->commit && ret->tar_path && ret->verity_path ? 0 : -ENOMEM;
	} else
		r = r < 0 ? r : -ENOENT;
	cn_model_image_done(&img);
	cn_store_names_done(&n);
	cn_store_close(&st);
	return r;
}

static void model_notify(void *userdata, const char *msg)
{
	(void)userdata;
	log_info("%s", msg);
}

/* In process, as build-model: the image cache, the registry (cfg->registry: --registry, the
 * config's registry key, else $COCOON_REGISTRY), an HF cache snapshot, then the hub; with
 * cfg->push (--push, the push key) an image built here is then pushed to the registry. */
static enum cn_launch_status model_build(const struct cn_launch_config *cfg,
					 const struct cn_model_spec *spec, bool cache_only,
					 struct cn_launch_model *ret)
{
	struct cn_model_fetch_opts fo = {
	    .spec = spec,
	    .build = {.images_dir = cfg->models_dir,
		      .tar_format = cfg->tar_format,
		      .progress = isatty(STDERR_FILENO),
		      .notify = model_notify},
	    .hub = {.token = cfg->hf_token, .progress = isatty(STDERR_FILENO)},
	    .cache_only = cache_only,
	    .registry = cfg->registry,
	    /* only an image built here: a launcher that restarts does not push its cache again */
	    .push = cfg->push ? CN_MODEL_PUSH_BUILT : CN_MODEL_PUSH_NONE,
	};
	_cleanup_(cn_model_image_done) struct cn_model_image img = {0};
	int r;

	r = cn_model_fetch(&fo, &img);

	if (r == -EKEYREJECTED)
		return fail(CN_LAUNCH_FAIL, r, "model %s: root hash %s differs from the pinned %s",
			    cfg->model, img.root_hash[0] ? img.root_hash : "?",
			    spec->root_hash ? spec->root_hash : "?");
	if (r == -ENOENT && cache_only)
		return fail(CN_LAUNCH_FAIL, r,
			    "model %s is not in the cache '%s' (--skip-build): build it first "
			    "with 'build-model %s' or drop --skip-build",
			    cfg->model, cfg->models_dir, cfg->model);
	if (r < 0 && img.tar_path) /* built, but the push failed (fetch.h) */
		return fail(CN_LAUNCH_FAIL, r, "model %s: %s", cfg->model, cn_err_msg());
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "cannot build model %s: %s", cfg->model,
			    cn_err_msg());
	if (!img.name || !img.commit || !img.tar_path || !img.verity_path)
		return fail(CN_LAUNCH_FAIL, -EIO, "model image: incomplete result");
	model_take(ret, &img);
	return CN_LAUNCH_OK;
}

static enum cn_launch_status plan_model(const struct cn_launch_request *req,
					struct cn_launch_plan *p)
{
	_cleanup_(cn_model_spec_done) struct cn_model_spec spec = {0};
	enum cn_launch_status st;
	int r;

	r = cn_model_spec_parse(p->cfg.model, &spec);
	if (r < 0)
		return fail(CN_LAUNCH_CONFIG, r, "%s", cn_err_msg());
	if (req->model_image) {
		r = model_from_image(req->model_image, &spec, req->env->cwd, &p->model);
		if (r < 0)
			return fail(CN_LAUNCH_FAIL, r, "%s", cn_err_msg());
	} else if (req->print_only) {
		/* No build and no files: what the cache holds, else placeholders. */
		if (model_lookup_readonly(&p->cfg, &spec, &p->model) < 0) {
			model_done(&p->model);
			log_warning("model %s is not in the cache: the command line shows "
				    "placeholders for its disks",
				    p->cfg.model);
			return CN_LAUNCH_OK;
		}
	} else {
		st = model_build(&p->cfg, &spec, req->skip_build, &p->model);
		if (st != CN_LAUNCH_OK)
			return st;
	}
	p->have_model = true;
	return CN_LAUNCH_OK;
}

static enum cn_launch_status plan_config(const struct cn_launch_request *req,
					 struct cn_launch_plan *p)
{
	_cleanup_(cn_launch_settings_done) struct cn_launch_settings ini = {0};
	int r;

	r = cn_launch_settings_load(req->config, &ini);
	if (r < 0)
		return fail(CN_LAUNCH_CONFIG, r, "%s", cn_err_msg());
	for (size_t k = 0; req->overrides && k < CN_LK__MAX; k++)
		if (req->overrides->v[k]) {
			r = cn_launch_settings_set(&ini, (enum cn_launch_key)k,
						   req->overrides->v[k]);
			if (r < 0)
				return fail(CN_LAUNCH_FAIL, r, "cannot apply options");
		}
	r = cn_launch_config_resolve(&ini, req->env, req->no_tdx, &p->cfg);
	if (r < 0)
		return fail(CN_LAUNCH_CONFIG, r, "%s", cn_err_msg());
	for (size_t k = 0; k < CN_LK__MAX; k++)
		if (ini.v[k])
			log_debug("%s = %s", cn_launch_key_name((enum cn_launch_key)k),
				  k == CN_LK_HF_TOKEN || k == CN_LK_NODE_WALLET_KEY ? "(redacted)"
										    : ini.v[k]);
	if (ini.v[CN_LK_MODEL_TAR])
		log_warning(
		    "model_tar is ignored (as in the reference); the model comes from 'model'");
	if (p->cfg.fake_ton && (ini.v[CN_LK_TON_CONFIG_BASE] || ini.v[CN_LK_TON_CONFIG]))
		log_warning("ton_config_base and ton_config are ignored with fake_ton (as in the "
			    "reference)");
	return CN_LAUNCH_OK;
}

enum cn_launch_status cn_launch_plan(const struct cn_launch_request *req,
				     struct cn_launch_plan *ret)
{
	_cleanup_(cn_launch_plan_done) struct cn_launch_plan p = {.lock_fd = -EBADF};
	struct cn_launch_config *cfg = &p.cfg;
	_cleanup_free_ char *ph_tar = NULL, *ph_verity = NULL;
	struct cn_launch_inputs in;
	enum cn_launch_status st;
	int r;

	st = plan_config(req, &p);
	if (st != CN_LAUNCH_OK)
		return st;
	if (cfg->type == CN_NODE_CLIENT && !req->prepare_only)
		return fail(CN_LAUNCH_CONFIG, -EOPNOTSUPP,
			    "node type 'client' runs locally without a VM and is out of scope "
			    "for this launcher (it starts worker and proxy TDX guests only); "
			    "--prepare-only prepares its spec share");
	if (cfg->type == CN_NODE_WORKER && cfg->http_port != 12000)
		log_warning("http_port %u is also the guest port of the forward (as in the "
			    "reference), but the worker listens on 12000 in the guest",
			    cfg->http_port);
	if (req->model_image && cfg->type != CN_NODE_WORKER)
		log_warning("--model-image is ignored for a %s", cn_node_type_name(cfg->type));
	if (req->just_build && cfg->type != CN_NODE_WORKER)
		return fail(CN_LAUNCH_CONFIG, -EINVAL, "--just-build: a %s has no model",
			    cn_node_type_name(cfg->type));

	p.name = cn_launch_instance_name(cfg);
	p.instance_dir = p.name ? cn_path_join(cfg->run_dir, p.name) : NULL;
	p.spec_share = p.instance_dir ? cn_path_join(p.instance_dir, "spec") : NULL;
	if (!p.spec_share)
		return fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	if (strlen(p.instance_dir) + sizeof("/qmp.sock") > 108)
		return fail(CN_LAUNCH_CONFIG, -ENAMETOOLONG,
			    "run folder '%s' is too long for a QMP socket path (108 bytes): give "
			    "a shorter --run-dir",
			    p.instance_dir);

	/* Image files: read only, fine for --print-only too; not needed to prepare a share. */
	if (cfg->type != CN_NODE_CLIENT && !req->prepare_only) {
		r = cn_launch_check_image_files(cfg->image_dir);
		if (r >= 0)
			r = cn_launch_read_image_cmdline(cfg->image_dir, &p.image_cmdline);
		if (r < 0)
			return fail(CN_LAUNCH_PREREQ, r, "%s", cn_err_msg());
	}
	if (cfg->type == CN_NODE_WORKER) {
		st = plan_model(req, &p);
		if (st != CN_LAUNCH_OK || req->just_build)
			goto done;
	}
	if (cfg->type == CN_NODE_CLIENT || req->prepare_only)
		goto done;
	if (cfg->type == CN_NODE_WORKER && !p.have_model &&
	    (asprintf(&ph_tar, "%s/MODEL-NOT-BUILT.tar", cfg->models_dir) < 0 ||
	     asprintf(&ph_verity, "%s.verity", ph_tar) < 0))
		return fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	in = (struct cn_launch_inputs){
	    .cfg = cfg,
	    .image_cmdline = p.image_cmdline,
	    .model_tar = p.have_model ? p.model.tar_path : ph_tar,
	    .model_verity = p.have_model ? p.model.verity_path : ph_verity,
	    .spec_share = p.spec_share,
	    .instance_dir = p.instance_dir,
	    .extra = req->extra,
	    .n_extra = req->n_extra,
	};
	r = cn_launch_argv(&in, &p.argv);
	if (r < 0)
		return fail(CN_LAUNCH_CONFIG, r, "%s", cn_err_msg());
done:
	if (st == CN_LAUNCH_OK) {
		*ret = p;
		p = (struct cn_launch_plan){.lock_fd = -EBADF};
	}
	return st;
}

/* The share with its runtime variables (vars NULL: none) and its hash. */
static enum cn_launch_status share(const struct cn_launch_request *req,
				   const struct cn_launch_plan *p, const char *dest, bool with_vars,
				   char ret_tree[65])
{
	_cleanup_(cn_launch_vars_done) struct cn_launch_vars vars = {0};
	struct cn_launch_model_ref m = {p->model.name, p->model.commit, p->model.root_hash};
	int r;

	if (with_vars) {
		r = cn_launch_runtime_vars(&p->cfg, p->have_model ? &m : NULL, req->set_keys,
					   req->set_values, req->n_set, &vars);
		if (r < 0)
			return fail(CN_LAUNCH_FAIL, r, "runtime variables: %s", strerror(-r));
	}
	r = cn_launch_share_prepare(&p->cfg, dest, with_vars ? &vars : NULL);
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "%s", cn_err_msg());
	r = cn_launch_spec_tree(dest, ret_tree);
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "%s", cn_err_msg());
	return CN_LAUNCH_OK;
}

enum cn_launch_status cn_launch_predict(const struct cn_launch_request *req,
					struct cn_launch_plan *p)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *dir = NULL, *dest = NULL;
	enum cn_launch_status st;

	if (asprintf(&dir, "%s/cocoon-spec-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp") < 0) {
		dir = NULL;
		return fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	}
	if (!mkdtemp(dir))
		return fail(CN_LAUNCH_FAIL, -errno, "cannot create a temporary folder '%s': %s",
			    dir, strerror(errno));
	dest = cn_path_join(dir, "spec");
	st = dest ? share(req, p, dest, false, p->spec_tree)
		  : fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	(void)cn_launch_remove_tree(dir);
	return st;
}

static enum cn_launch_status check_gpu(const struct cn_launch_request *req,
				       struct cn_launch_plan *p)
{
	struct cn_vfio_roots roots = {.sysfs = req->sysfs_dir, .dev = req->dev_dir};
	int r = cn_vfio_check_ready(&roots, p->cfg.gpu, &p->gpu_problems);

	if (r == -EKEYREJECTED)
		return fail(CN_LAUNCH_GPU_NOT_READY, r,
			    "GPU %s is not ready for passthrough (fix: cocoon gpu setup %s)",
			    p->cfg.gpu, p->cfg.gpu);
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "cannot check GPU %s for passthrough: %s",
			    p->cfg.gpu, cn_err_msg());
	return CN_LAUNCH_OK;
}

static enum cn_launch_status check_qemu(const struct cn_launch_config *cfg, const char *qemu)
{
	struct cn_qemu_caps caps;
	int r = cn_launch_probe_qemu(qemu, &caps);

	if (r < 0)
		return fail(CN_LAUNCH_PREREQ, r, "cannot query QEMU '%s': %s", qemu, cn_err_msg());
	if (cfg->tdx && !caps.tdx_guest)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP,
			    "QEMU '%s' has no tdx-guest object ('-object help'): install QEMU >= "
			    "10.1 built with TDX support, or give --no-tdx to start without TDX",
			    qemu);
	if (!caps.iommufd)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP,
			    "QEMU '%s' has no iommufd object (needs QEMU >= 9.0; the reference "
			    "always adds it)",
			    qemu);
	if (!caps.vhost_vsock)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP, "QEMU '%s' has no vhost-vsock-pci device",
			    qemu);
	if (!caps.virtio_9p)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP,
			    "QEMU '%s' has no virtio-9p-pci device (built without 9p/virtfs): the "
			    "spec folder cannot be shared",
			    qemu);
	if (cfg->gpu && !caps.vfio_pci)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP,
			    "QEMU '%s' has no vfio-pci device: the GPU cannot be passed through",
			    qemu);
	return CN_LAUNCH_OK;
}

/* KVM and, for TDX, KVM's tdx switch (spec host-tools §4.3). */
static enum cn_launch_status check_host(const struct cn_launch_config *cfg, const char *dev_dir,
					const char *sysfs_dir)
{
	_cleanup_free_ char *kvm = cn_path_join(dev_dir, "kvm");
	_cleanup_free_ char *param = cn_path_join(sysfs_dir, "module/kvm_intel/parameters/tdx");
	_cleanup_free_ char *v = NULL;
	int r;

	if (!kvm || !param)
		return fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	if (access(kvm, F_OK) < 0)
		return fail(CN_LAUNCH_PREREQ, -ENOENT,
			    "'%s' is missing: enable VT-x in the firmware and load KVM "
			    "(modprobe kvm_intel)",
			    kvm);
	if (!cfg->tdx)
		return CN_LAUNCH_OK;
	r = cn_read_virtual_at(AT_FDCWD, param, 16, &v);
	if (r == -ENOENT) {
		log_warning("cannot tell whether KVM has TDX on ('%s' is missing: kvm_intel not "
			    "loaded, or a host kernel without TDX support; 6.16 or later is "
			    "needed)",
			    param);
		return CN_LAUNCH_OK;
	}
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "cannot read '%s': %s", param, strerror(-r));
	if (strcmp(v, "Y") != 0 && strcmp(v, "1") != 0)
		return fail(CN_LAUNCH_PREREQ, -ENOTSUP,
			    "TDX is off in KVM ('%s' is %s): boot the host with kvm_intel.tdx=1 "
			    "(and TDX on in the firmware), or give --no-tdx",
			    param, v);
	return CN_LAUNCH_OK;
}

static enum cn_launch_status check_ports(const struct cn_launch_config *cfg, const char *dev_dir)
{
	const struct {
		const char *key;
		uint32_t port;
		bool proxy_only;
	} ports[] = {
	    {"ssh_port", cfg->host_ssh_port, false},
	    {"http_port", cfg->host_http_port, false},
	    {"worker_rpc_port", cfg->host_worker_rpc_port, true},
	    {"client_rpc_port", cfg->host_client_rpc_port, true},
	};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
		if (ports[i].proxy_only && cfg->type != CN_NODE_PROXY)
			continue;
		r = cn_launch_check_tcp_port(ports[i].port);
		if (r < 0)
			return fail(CN_LAUNCH_IN_USE, r,
				    "host port %u (%s + 10 x instance %u) is not free: %s; stop "
				    "what uses it or pick another --instance",
				    ports[i].port, ports[i].key, cfg->instance, strerror(-r));
	}
	r = cn_launch_check_vsock_cid(dev_dir, cfg->cid);
	if (r == -EADDRINUSE)
		return fail(CN_LAUNCH_IN_USE, r, "%s; pick another --instance or vsock_cid",
			    cn_err_msg());
	if (r < 0)
		return fail(CN_LAUNCH_PREREQ, r, "%s", cn_err_msg());
	return CN_LAUNCH_OK;
}

/* GPU, QEMU and host: not for --prepare-only (the reference's prepare_spec has none). */
static enum cn_launch_status check_all(const struct cn_launch_request *req,
				       struct cn_launch_plan *p)
{
	const char *dev_dir = req->dev_dir ? req->dev_dir : "/dev";
	enum cn_launch_status st;
	int r;

	if (p->cfg.gpu) {
		st = check_gpu(req, p);
		if (st != CN_LAUNCH_OK)
			return st;
	}
	r = cn_launch_find_executable(p->cfg.qemu, getenv("PATH"), &p->qemu_path);
	if (r < 0)
		return fail(CN_LAUNCH_PREREQ, r, "%s", cn_err_msg());
	st = check_qemu(&p->cfg, p->qemu_path);
	if (st != CN_LAUNCH_OK)
		return st;
	return check_host(&p->cfg, dev_dir, req->sysfs_dir ? req->sysfs_dir : "/sys");
}

enum cn_launch_status cn_launch_prepare(const struct cn_launch_request *req,
					struct cn_launch_plan *p)
{
	struct cn_launch_claims claims = {0};
	enum cn_launch_status st;
	bool created;
	int r;

	if (!req->prepare_only) {
		st = check_all(req, p);
		if (st != CN_LAUNCH_OK)
			return st;
	}
	/* The lock, also for --prepare-only: a running instance's share is not replaced. */
	r = cn_launch_claims_from_config(&p->cfg, &claims);
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "out of memory");
	r = cn_launch_lock_instance(p->cfg.run_dir, &claims, &p->lock_fd);
	cn_launch_claims_done(&claims);
	if (r == -EBUSY || r == -EADDRINUSE)
		return fail(CN_LAUNCH_IN_USE, r, "%s", cn_err_msg());
	if (r < 0)
		return fail(CN_LAUNCH_FAIL, r, "%s", cn_err_msg());
	if (!req->prepare_only) {
		st = check_ports(&p->cfg, req->dev_dir ? req->dev_dir : "/dev");
		if (st != CN_LAUNCH_OK)
			return st;
		r = cn_launch_ensure_persistent(p->cfg.persistent, CN_LAUNCH_PERSISTENT_SIZE,
						&created);
		if (r < 0)
			return fail(CN_LAUNCH_FAIL, r, "%s", cn_err_msg());
		if (created)
			log_info("created persistent disk %s (sparse, 100 GiB)", p->cfg.persistent);
	}
	return share(req, p, p->spec_share, true, p->spec_tree);
}

static void append_launch_log(const char *instance_dir, const char *cmd)
{
	_cleanup_free_ char *path = cn_path_join(instance_dir, "launch.log");
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *line = NULL;
	char ts[64];
	time_t now = time(NULL);
	struct tm tm;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return;
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (asprintf(&line, "%s pid %ld exec %s\n", ts, (long)getpid(), cmd) < 0) {
		line = NULL;
		return;
	}
	(void)cn_write_all(fd, line, strlen(line));
}

enum cn_launch_status cn_launch_exec(struct cn_launch_plan *p)
{
	const char *stale[] = {"qmp.sock", "qemu.pid"};
	_cleanup_free_ char *cmd = NULL;

	/* Stale files of a previous run (the instance lock is held). */
	for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
		_cleanup_free_ char *path = cn_path_join(p->instance_dir, stale[i]);

		if (path)
			(void)unlink(path);
	}
	cmd = cn_launch_argv_shell(p->argv.v, p->argv.n);
	if (!cmd)
		return fail(CN_LAUNCH_FAIL, -ENOMEM, "out of memory");
	append_launch_log(p->instance_dir, cmd);
	log_info("starting %s: vsock CID %u, ssh port %u, http port %u%s%s, spec tree %s, QMP "
		 "%s/qmp.sock",
		 p->name, p->cfg.cid, p->cfg.host_ssh_port, p->cfg.host_http_port,
		 p->cfg.gpu ? ", GPU " : "", p->cfg.gpu ? p->cfg.gpu : "", p->spec_tree,
		 p->instance_dir);
	log_info("QEMU: %s", cmd);
	(void)fflush(stdout);
	(void)fflush(stderr);
	/* QEMU inherits the instance lock: it is held exactly as long as the guest runs. */
	if (fcntl(p->lock_fd, F_SETFD, 0) < 0)
		return fail(CN_LAUNCH_FAIL, -errno, "cannot pass the instance lock to QEMU: %s",
			    strerror(errno));
	execve(p->qemu_path, p->argv.v, environ);
	return fail(CN_LAUNCH_FAIL, -errno, "cannot execute '%s': %s", p->qemu_path,
		    strerror(errno));
}
