/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML, loaded at run time, each call under a watchdog (see nvml.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/nvml-abi.h"
#include "attest/nvml.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/threads.h"

enum call {
	CALL_INIT,
	CALL_SHUTDOWN,
	CALL_STATE,
	CALL_SETTINGS,
	CALL_DRIVER,
	CALL_COUNT,
	CALL_HANDLE,
	CALL_ARCH,
	CALL_BOARD,
	CALL_UUID,
	CALL_VBIOS,
	CALL_CERT,
	CALL_REPORT,
	CALL_READY_GET,
	CALL_READY_SET,
	CALL_N_,
};

/* Symbol names; the first one found is used (nvml.h maps the unversioned names to _v2). */
static const char *const call_symbols[CALL_N_][2] = {
    [CALL_INIT] = {"nvmlInit_v2", NULL},
    [CALL_SHUTDOWN] = {"nvmlShutdown", NULL},
    [CALL_STATE] = {"nvmlSystemGetConfComputeState", NULL},
    [CALL_SETTINGS] = {"nvmlSystemGetConfComputeSettings", NULL},
    [CALL_DRIVER] = {"nvmlSystemGetDriverVersion", NULL},
    [CALL_COUNT] = {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"},
    [CALL_HANDLE] = {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
    [CALL_ARCH] = {"nvmlDeviceGetArchitecture", NULL},
    [CALL_BOARD] = {"nvmlDeviceGetBoardId", NULL},
    [CALL_UUID] = {"nvmlDeviceGetUUID", NULL},
    [CALL_VBIOS] = {"nvmlDeviceGetVbiosVersion", NULL},
    [CALL_CERT] = {"nvmlDeviceGetConfComputeGpuCertificate", NULL},
    [CALL_REPORT] = {"nvmlDeviceGetConfComputeGpuAttestationReport", NULL},
    [CALL_READY_GET] = {"nvmlSystemGetConfComputeGpusReadyState", NULL},
    [CALL_READY_SET] = {"nvmlSystemSetConfComputeGpusReadyState", NULL},
};

typedef cn_nvmlReturn_t (*fn_void)(void);
typedef cn_nvmlReturn_t (*fn_ptr)(void *);
typedef cn_nvmlReturn_t (*fn_uint)(unsigned);
typedef cn_nvmlReturn_t (*fn_str)(char *, unsigned);
typedef cn_nvmlReturn_t (*fn_handle)(unsigned, cn_nvmlDevice_t *);
typedef cn_nvmlReturn_t (*fn_dev_ptr)(cn_nvmlDevice_t, void *);
typedef cn_nvmlReturn_t (*fn_dev_str)(cn_nvmlDevice_t, char *, unsigned);

/* One call's arguments and results; lives in struct cn_nvml so a hung call never writes into
 * a stack frame that is gone. */
struct job {
	enum call call;
	unsigned uarg;
	cn_nvmlDevice_t dev;
	int rc;
	union {
		struct cn_nvml_abi_state state;
		struct cn_nvml_abi_settings settings;
		char str[CN_NVML_DRIVER_VERSION_SIZE + CN_NVML_UUID_SIZE];
		unsigned u;
		cn_nvmlDevice_t handle;
		struct cn_nvml_abi_cert cert;
		struct cn_nvml_abi_report report;
	} out;
};

/*
 * A lane: one worker thread that makes the NVML calls posted to it, each under the watchdog.
 * Lane 0 makes the system calls; cn_nvml_gpu_collect_all() adds lanes so that GPUs are
 * collected at once (NVML is thread-safe; a GPU answers its attestation calls itself). Lanes
 * live on the heap: a hung call never writes into memory that is gone.
 */
struct lane {
	struct cn_nvml *n;
	pthread_t worker;
	bool started, wedged;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pending, done, quit;
	struct job job;
};

struct cn_nvml {
	void *dl;
	char *path;
	unsigned timeout_ms;
	void *fn[CALL_N_];
	bool inited;
	struct lane *lanes[CN_NVML_LANES_MAX];
	unsigned n_lanes;
};

static const struct {
	int rc;
	const char *name;
} return_names[] = {
    {0, "NVML_SUCCESS"},
    {1, "NVML_ERROR_UNINITIALIZED"},
    {2, "NVML_ERROR_INVALID_ARGUMENT"},
    {3, "NVML_ERROR_NOT_SUPPORTED"},
    {4, "NVML_ERROR_NO_PERMISSION"},
    {5, "NVML_ERROR_ALREADY_INITIALIZED"},
    {6, "NVML_ERROR_NOT_FOUND"},
    {7, "NVML_ERROR_INSUFFICIENT_SIZE"},
    {8, "NVML_ERROR_INSUFFICIENT_POWER"},
    {9, "NVML_ERROR_DRIVER_NOT_LOADED"},
    {10, "NVML_ERROR_TIMEOUT"},
    {11, "NVML_ERROR_IRQ_ISSUE"},
    {12, "NVML_ERROR_LIBRARY_NOT_FOUND"},
    {13, "NVML_ERROR_FUNCTION_NOT_FOUND"},
    {14, "NVML_ERROR_CORRUPTED_INFOROM"},
    {15, "NVML_ERROR_GPU_IS_LOST"},
    {16, "NVML_ERROR_RESET_REQUIRED"},
    {17, "NVML_ERROR_OPERATING_SYSTEM"},
    {18, "NVML_ERROR_LIB_RM_VERSION_MISMATCH"},
    {19, "NVML_ERROR_IN_USE"},
    {20, "NVML_ERROR_MEMORY"},
    {21, "NVML_ERROR_NO_DATA"},
    {25, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH"},
    {26, "NVML_ERROR_DEPRECATED"},
    {27, "NVML_ERROR_NOT_READY"},
    {28, "NVML_ERROR_GPU_NOT_FOUND"},
    {29, "NVML_ERROR_INVALID_STATE"},
    {999, "NVML_ERROR_UNKNOWN"},
};

const char *cn_nvml_return_name(int rc)
{
	for (size_t i = 0; i < ELEMENTSOF(return_names); i++)
		if (return_names[i].rc == rc)
			return return_names[i].name;
	return "NVML_ERROR_?";
}

const char *cn_nvml_arch_name(uint32_t arch)
{
	static const char *const names[] = {
	    [2] = "KEPLER", [3] = "MAXWELL", [4] = "PASCAL", [5] = "VOLTA",	 [6] = "TURING",
	    [7] = "AMPERE", [8] = "ADA",     [9] = "HOPPER", [10] = "BLACKWELL",
	};
	return arch < ELEMENTSOF(names) ? names[arch] : NULL;
}

const char *cn_nvml_env_name(uint32_t env)
{
	static const char *const names[] = {"UNAVAILABLE", "SIM", "PROD"};
	return env < ELEMENTSOF(names) ? names[env] : "unknown";
}

const char *cn_nvml_multigpu_name(uint32_t mode)
{
	static const char *const names[] = {"NONE", "PROTECTED_PCIE", "NVLE"};
	return mode < ELEMENTSOF(names) ? names[mode] : "unknown";
}

static void run_job(const struct cn_nvml *n, struct job *j)
{
	void *f = n->fn[j->call];

	switch (j->call) {
	case CALL_INIT:
	case CALL_SHUTDOWN:
		j->rc = ((fn_void)f)();
		break;
	case CALL_STATE:
		j->rc = ((fn_ptr)f)(&j->out.state);
		break;
	case CALL_SETTINGS:
		j->out.settings.version = CN_NVML_SETTINGS_V1;
		j->rc = ((fn_ptr)f)(&j->out.settings);
		break;
	case CALL_DRIVER:
		j->rc = ((fn_str)f)(j->out.str, CN_NVML_DRIVER_VERSION_SIZE);
		break;
	case CALL_COUNT:
	case CALL_READY_GET:
		j->rc = ((fn_ptr)f)(&j->out.u);
		break;
	case CALL_HANDLE:
		j->rc = ((fn_handle)f)(j->uarg, &j->out.handle);
		break;
	case CALL_ARCH:
	case CALL_BOARD:
		j->rc = ((fn_dev_ptr)f)(j->dev, &j->out.u);
		break;
	case CALL_UUID:
		j->rc = ((fn_dev_str)f)(j->dev, j->out.str, CN_NVML_UUID_SIZE);
		break;
	case CALL_VBIOS:
		j->rc = ((fn_dev_str)f)(j->dev, j->out.str, CN_NVML_VBIOS_VERSION_SIZE);
		break;
	case CALL_CERT:
		j->rc = ((fn_dev_ptr)f)(j->dev, &j->out.cert);
		break;
	case CALL_REPORT:
		j->rc = ((fn_dev_ptr)f)(j->dev, &j->out.report);
		break;
	case CALL_READY_SET:
		j->rc = ((fn_uint)f)(j->uarg);
		break;
	case CALL_N_:
		break;
	}
}

static void *worker_main(void *arg)
{
	struct lane *l = arg;

	(void)pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->pending && !l->quit)
			(void)pthread_cond_wait(&l->cv, &l->mu);
		if (l->quit)
			break;
		(void)pthread_mutex_unlock(&l->mu);
		run_job(l->n, &l->job);
		(void)pthread_mutex_lock(&l->mu);
		l->pending = false;
		l->done = true;
		(void)pthread_cond_broadcast(&l->cv);
	}
	(void)pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* A new lane with its worker started. */
static int lane_new(struct cn_nvml *n, struct lane **ret)
{
	struct lane *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	int r;

	if (!l)
		return -ENOMEM;
	l->n = n;
	if (pthread_condattr_init(&ca) != 0) {
		free(l);
		return -ENOMEM;
	}
	(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	(void)pthread_mutex_init(&l->mu, NULL);
	(void)pthread_cond_init(&l->cv, &ca);
	(void)pthread_condattr_destroy(&ca);
	r = pthread_create(&l->worker, NULL, worker_main, l);
	if (r != 0) {
		(void)pthread_cond_destroy(&l->cv);
		(void)pthread_mutex_destroy(&l->mu);
		free(l);
		return cn_err_set(-r, "cannot start an NVML worker thread");
	}
	l->started = true;
	*ret = l;
	return 0;
}

/* Stops and frees a lane whose worker is not stuck. */
static void lane_free(struct lane *l)
{
	if (!l)
		return;
	(void)pthread_mutex_lock(&l->mu);
	l->quit = true;
	(void)pthread_cond_broadcast(&l->cv);
	(void)pthread_mutex_unlock(&l->mu);
	(void)pthread_join(l->worker, NULL);
	(void)pthread_cond_destroy(&l->cv);
	(void)pthread_mutex_destroy(&l->mu);
	free(l);
}

/*
 * Runs l->job (prepared by the caller) on the lane's worker and waits up to the timeout.
 * Returns 0 (job.rc holds NVML's answer), or -ETIMEDOUT / -EIO with the error set.
 */
static int call(struct lane *l, enum call c)
{
	const char *sym = call_symbols[c][0];
	unsigned timeout_ms = l->n->timeout_ms;
	struct timespec deadline;
	int r = 0;

	if (cn_nvml_wedged(l->n))
		return cn_err_set(-ETIMEDOUT, "%s: not called: an earlier NVML call hung", sym);
	l->job.call = c;
	(void)clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	(void)pthread_mutex_lock(&l->mu);
	l->pending = true;
	l->done = false;
	(void)pthread_cond_broadcast(&l->cv);
	while (!l->done && r == 0)
		r = pthread_cond_timedwait(&l->cv, &l->mu, &deadline);
	if (!l->done)
		__atomic_store_n(&l->wedged, true, __ATOMIC_RELEASE);
	(void)pthread_mutex_unlock(&l->mu);
	if (!l->done)
		return cn_err_set(-ETIMEDOUT,
				  "%s did not return within %u.%03u s (the driver hangs)", sym,
				  timeout_ms / 1000, timeout_ms % 1000);
	return 0;
}

/* call() and a check of NVML's return code. */
static int call_ok(struct lane *l, enum call c, const char *what)
{
	int r = call(l, c);

	if (r < 0)
		return r;
	if (l->job.rc != CN_NVML_SUCCESS)
		return cn_err_set(-EIO, "%s%s%s returned %d (%s)", what ? what : "",
				  what ? ": " : "", call_symbols[c][0], l->job.rc,
				  cn_nvml_return_name(l->job.rc));
	return 0;
}

int cn_nvml_open(const char *path, unsigned timeout_ms, struct cn_nvml **ret)
{
	struct cn_nvml *n;
	const char *env = getenv(CN_NVML_LIB_ENV);
	int r;

	if (!path)
		path = env && *env ? env : CN_NVML_DEFAULT_LIB;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->timeout_ms = timeout_ms ? timeout_ms : CN_NVML_DEFAULT_TIMEOUT_MS;
	n->path = strdup(path);
	if (!n->path) {
		free(n);
		return -ENOMEM;
	}
	n->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!n->dl) {
		const char *e = dlerror();

		r = cn_err_set(-ENOENT, "cannot load the NVML library '%s': %s", path,
			       e ? e : "unknown error");
		goto fail;
	}
	for (int c = 0; c < CALL_N_; c++) {
		for (int k = 0; k < 2 && !n->fn[c] && call_symbols[c][k]; k++)
			n->fn[c] = dlsym(n->dl, call_symbols[c][k]);
		if (!n->fn[c]) {
			r = cn_err_set(-ENOENT,
				       "the NVML library '%s' lacks %s (a driver without the "
				       "confidential-computing API?)",
				       path, call_symbols[c][0]);
			goto fail;
		}
	}
	r = lane_new(n, &n->lanes[0]);
	if (r < 0)
		goto fail;
	n->n_lanes = 1;
	*ret = n;
	return 0;
fail:
	if (n->dl)
		(void)dlclose(n->dl);
	free(n->path);
	free(n);
	return r;
}

void cn_nvml_close(struct cn_nvml *n)
{
	if (!n || cn_nvml_wedged(n))
		return; /* a worker is stuck inside the library: leave it all, the process exits */
	if (n->inited)
		(void)call(n->lanes[0], CALL_SHUTDOWN);
	if (cn_nvml_wedged(n))
		return;
	for (unsigned i = 0; i < n->n_lanes; i++)
		lane_free(n->lanes[i]);
	(void)dlclose(n->dl);
	free(n->path);
	free(n);
}

const char *cn_nvml_path(const struct cn_nvml *n)
{
	return n->path;
}

bool cn_nvml_wedged(const struct cn_nvml *n)
{
	for (unsigned i = 0; i < n->n_lanes; i++)
		if (__atomic_load_n(&n->lanes[i]->wedged, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

int cn_nvml_init(struct cn_nvml *n)
{
	struct lane *l = n->lanes[0];
	int r = call_ok(l, CALL_INIT, NULL);

	if (r == 0)
		n->inited = true;
	return r;
}

int cn_nvml_check_string(const char *field, const char *buf, size_t size)
{
	const char *nul = memchr(buf, 0, size);

	if (!nul)
		return cn_err_set(-EBADMSG, "NVML %s: not NUL-terminated within %zu bytes", field,
				  size);
	if (nul == buf)
		return cn_err_set(-EBADMSG, "NVML %s: empty", field);
	for (const char *p = buf; p < nul; p++)
		if (*p < 0x20 || *p > 0x7e)
			return cn_err_set(-EBADMSG,
					  "NVML %s: byte 0x%02x at offset %zu is not printable "
					  "ASCII",
					  field, (unsigned)(unsigned char)*p, (size_t)(p - buf));
	return 0;
}

int cn_nvml_cc_state(struct cn_nvml *n, struct cn_nvml_cc_state *ret)
{
	struct lane *l = n->lanes[0];
	struct cn_nvml_abi_state st;
	struct cn_nvml_abi_settings se;
	int r;

	memset(&l->job.out, 0, sizeof(l->job.out));
	r = call_ok(l, CALL_STATE, NULL);
	if (r < 0)
		return r;
	st = l->job.out.state;
	memset(&l->job.out, 0, sizeof(l->job.out));
	r = call_ok(l, CALL_SETTINGS, NULL);
	if (r < 0)
		return r;
	se = l->job.out.settings;
	/* The two calls must agree: a mismatch is an inconsistent (untrustworthy) answer. */
	if (st.environment != se.environment || st.ccFeature != se.ccFeature ||
	    st.devToolsMode != se.devToolsMode)
		return cn_err_set(
		    -EBADMSG,
		    "NVML answers disagree: ConfComputeState (environment %u, "
		    "ccFeature %u, devToolsMode %u) vs ConfComputeSettings (%u, %u, %u)",
		    st.environment, st.ccFeature, st.devToolsMode, se.environment, se.ccFeature,
		    se.devToolsMode);
	*ret = (struct cn_nvml_cc_state){
	    .environment = se.environment,
	    .cc_feature = se.ccFeature,
	    .devtools_mode = se.devToolsMode,
	    .multigpu_mode = se.multiGpuMode,
	};
	return 0;
}

int cn_nvml_driver_version(struct cn_nvml *n, char ret[CN_NVML_DRIVER_VERSION_SIZE])
{
	struct lane *l = n->lanes[0];
	int r;

	memset(&l->job.out, 0, sizeof(l->job.out));
	r = call_ok(l, CALL_DRIVER, NULL);
	if (r < 0)
		return r;
	r = cn_nvml_check_string("driver version", l->job.out.str, CN_NVML_DRIVER_VERSION_SIZE);
	if (r < 0)
		return r;
	memcpy(ret, l->job.out.str, CN_NVML_DRIVER_VERSION_SIZE);
	return 0;
}

int cn_nvml_gpu_count(struct cn_nvml *n, unsigned *ret)
{
	struct lane *l = n->lanes[0];
	int r;

	l->job.out.u = 0;
	r = call_ok(l, CALL_COUNT, NULL);
	if (r < 0)
		return r;
	if (l->job.out.u > CN_NVML_GPUS_MAX)
		return cn_err_set(-EBADMSG, "NVML reports %u GPUs (more than %u)", l->job.out.u,
				  CN_NVML_GPUS_MAX);
	*ret = l->job.out.u;
	return 0;
}

void cn_nvml_gpu_clear(struct cn_nvml_gpu *g)
{
	free(g->report);
	free(g->chain);
	*g = (struct cn_nvml_gpu){0};
}

static int dev_string(struct lane *l, enum call c, const char *field, char *label, char *out,
		      size_t size)
{
	int r;

	memset(&l->job.out, 0, sizeof(l->job.out));
	r = call_ok(l, c, label);
	if (r < 0)
		return r;
	r = cn_nvml_check_string(field, l->job.out.str, size);
	if (r < 0)
		return cn_err_set(r, "%s: %s", label, cn_err_msg());
	memcpy(out, l->job.out.str, size);
	return 0;
}

int cn_nvml_cert_extract(const void *raw, size_t raw_len, uint8_t **ret, size_t *ret_len)
{
	struct cn_nvml_abi_cert c;

	if (raw_len != sizeof(c))
		return cn_err_set(-EINVAL, "NVML certificate struct: %zu bytes, expected %zu",
				  raw_len, sizeof(c));
	memcpy(&c, raw, sizeof(c));
	if (c.certChainSize > sizeof(c.certChain))
		return cn_err_set(-EBADMSG, "NVML certChainSize %u exceeds its %zu-byte buffer",
				  c.certChainSize, sizeof(c.certChain));
	if (c.attestationCertChainSize == 0 ||
	    c.attestationCertChainSize > sizeof(c.attestationCertChain))
		return cn_err_set(-EBADMSG, "NVML attestationCertChainSize %u is outside 1..%zu",
				  c.attestationCertChainSize, sizeof(c.attestationCertChain));
	*ret = malloc(c.attestationCertChainSize);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, c.attestationCertChain, c.attestationCertChainSize);
	*ret_len = c.attestationCertChainSize;
	return 0;
}

int cn_nvml_report_extract(const void *raw, size_t raw_len, const uint8_t nonce[CN_NVML_NONCE_SIZE],
			   uint8_t **ret, size_t *ret_len)
{
	const struct cn_nvml_abi_report *rep = raw;

	if (raw_len != sizeof(*rep))
		return cn_err_set(-EINVAL, "NVML report struct: %zu bytes, expected %zu", raw_len,
				  sizeof(*rep));
	if (memcmp(rep->nonce, nonce, CN_NVML_NONCE_SIZE) != 0)
		return cn_err_set(-EBADMSG, "NVML changed the nonce field of the report struct");
	if (rep->isCecAttestationReportPresent > 1)
		return cn_err_set(-EBADMSG, "NVML isCecAttestationReportPresent is %u (not 0/1)",
				  rep->isCecAttestationReportPresent);
	if (rep->cecAttestationReportSize > sizeof(rep->cecAttestationReport))
		return cn_err_set(-EBADMSG,
				  "NVML cecAttestationReportSize %u exceeds its %zu-byte buffer",
				  rep->cecAttestationReportSize, sizeof(rep->cecAttestationReport));
	if (rep->attestationReportSize == 0 ||
	    rep->attestationReportSize > sizeof(rep->attestationReport))
		return cn_err_set(-EBADMSG, "NVML attestationReportSize %u is outside 1..%zu",
				  rep->attestationReportSize, sizeof(rep->attestationReport));
	*ret = malloc(rep->attestationReportSize);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, rep->attestationReport, rep->attestationReportSize);
	*ret_len = rep->attestationReportSize;
	return 0;
}

static int collect_cert(struct lane *l, char *label, struct cn_nvml_gpu *g)
{
	int r;

	memset(&l->job.out, 0, sizeof(l->job.out));
	r = call_ok(l, CALL_CERT, label);
	if (r < 0)
		return r;
	r = cn_nvml_cert_extract(&l->job.out.cert, sizeof(l->job.out.cert), &g->chain,
				 &g->chain_len);
	if (r < 0 && r != -ENOMEM)
		return cn_err_set(r, "%s: %s", label, cn_err_msg());
	return r;
}

static int collect_report(struct lane *l, char *label, const uint8_t *nonce, struct cn_nvml_gpu *g)
{
	int r;

	memset(&l->job.out, 0, sizeof(l->job.out));
	memcpy(l->job.out.report.nonce, nonce, CN_NVML_NONCE_SIZE);
	r = call_ok(l, CALL_REPORT, label);
	if (r < 0)
		return r;
	r = cn_nvml_report_extract(&l->job.out.report, sizeof(l->job.out.report), nonce, &g->report,
				   &g->report_len);
	if (r < 0 && r != -ENOMEM)
		return cn_err_set(r, "%s: %s", label, cn_err_msg());
	return r;
}

/* One GPU's identity, versions, report and chain, through lane l. */
static int collect_on(struct lane *l, unsigned index, const uint8_t nonce[CN_NVML_NONCE_SIZE],
		      struct cn_nvml_gpu *ret)
{
	struct cn_nvml_gpu g = {.index = index};
	char label[32];
	int r;

	(void)snprintf(label, sizeof(label), "GPU-%u", index);
	l->job.out.handle = NULL;
	l->job.uarg = index;
	r = call_ok(l, CALL_HANDLE, label);
	if (r < 0)
		return r;
	if (!l->job.out.handle)
		return cn_err_set(-EBADMSG, "%s: NVML returned a NULL device handle", label);
	l->job.dev = l->job.out.handle;
	r = call_ok(l, CALL_ARCH, label);
	if (r < 0)
		return r;
	g.arch = l->job.out.u;
	r = call_ok(l, CALL_BOARD, label);
	if (r < 0)
		return r;
	g.board_id = l->job.out.u;
	r = dev_string(l, CALL_UUID, "UUID", label, g.uuid, sizeof(g.uuid));
	if (r >= 0)
		r = dev_string(l, CALL_VBIOS, "VBIOS version", label, g.vbios_version,
			       sizeof(g.vbios_version));
	if (r >= 0)
		r = collect_report(l, label, nonce, &g);
	if (r >= 0)
		r = collect_cert(l, label, &g);
	if (r < 0) {
		cn_nvml_gpu_clear(&g);
		return r;
	}
	*ret = g;
	return 0;
}

int cn_nvml_gpu_collect(struct cn_nvml *n, unsigned index, const uint8_t nonce[CN_NVML_NONCE_SIZE],
			struct cn_nvml_gpu *ret)
{
	return collect_on(n->lanes[0], index, nonce, ret);
}

struct collect_all {
	struct cn_nvml *n;
	unsigned count, n_lanes;
	const uint8_t *nonce;
	struct cn_nvml_gpu *gpus;
	int *r;
	char (*err)[CN_NVML_ERR_MAX];
};

/* Lane k collects GPUs k, k + n_lanes, ... */
static void collect_lane(void *arg, size_t k)
{
	struct collect_all *c = arg;

	for (unsigned i = (unsigned)k; i < c->count; i += c->n_lanes) {
		cn_err_clear();
		c->r[i] = collect_on(c->n->lanes[k], i, c->nonce, &c->gpus[i]);
		if (c->r[i] < 0) {
			(void)snprintf(c->err[i], CN_NVML_ERR_MAX, "%s", cn_err_msg());
			return; /* this lane may be wedged: the GPUs after it stay uncollected */
		}
	}
}

int cn_nvml_gpu_collect_all(struct cn_nvml *n, unsigned count,
			    const uint8_t nonce[CN_NVML_NONCE_SIZE], struct cn_nvml_gpu *gpus,
			    unsigned *ret_failed)
{
	struct collect_all c = {.n = n, .count = count, .nonce = nonce, .gpus = gpus};
	unsigned want = CN_MIN(count, CN_NVML_LANES_MAX);
	int r = 0;

	*ret_failed = count;
	c.r = calloc(count ? count : 1, sizeof(*c.r));
	c.err = calloc(count ? count : 1, CN_NVML_ERR_MAX);
	for (unsigned i = 0; c.r && i < count; i++)
		c.r[i] = 1; /* not collected */
	while (c.r && c.err && n->n_lanes < want && lane_new(n, &n->lanes[n->n_lanes]) == 0)
		n->n_lanes++;
	if (!c.r || !c.err) {
		r = -ENOMEM;
		goto out;
	}
	c.n_lanes = n->n_lanes < want ? n->n_lanes : want;
	(void)cn_parallel_for(c.n_lanes, c.n_lanes, collect_lane, &c);
	for (unsigned i = 0; i < count; i++)
		if (c.r[i] != 0) {
			*ret_failed = i;
			r = c.r[i] < 0 ? cn_err_set(c.r[i], "%s", c.err[i])
				       : cn_err_set(-ETIMEDOUT,
						    "GPU-%u: not collected: an earlier "
						    "NVML call hung",
						    i);
			break;
		}
	if (r < 0)
		for (unsigned i = 0; i < count; i++)
			if (c.r[i] == 0)
				cn_nvml_gpu_clear(&gpus[i]);
out:
	free(c.r);
	free(c.err);
	return r;
}

int cn_nvml_ready_get(struct cn_nvml *n, unsigned *ret)
{
	struct lane *l = n->lanes[0];
	int r;

	l->job.out.u = 0xffffffffu;
	r = call_ok(l, CALL_READY_GET, NULL);
	if (r < 0)
		return r;
	if (l->job.out.u > 1)
		return cn_err_set(-EBADMSG, "NVML ready state is %u (not 0/1)", l->job.out.u);
	*ret = l->job.out.u;
	return 0;
}

int cn_nvml_ready_set(struct cn_nvml *n, unsigned accepting)
{
	struct lane *l = n->lanes[0];
	l->job.uarg = accepting;
	return call_ok(l, CALL_READY_SET, NULL);
}
