/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded at the first network use instead of at every start.
 *
 * Debian's libcurl brings about 30 libraries with it (GnuTLS through librtmp, Kerberos, LDAP,
 * libssh2, ...); mapping and relocating them took 8 of the 11 ms that every `cocoon` process
 * spent before main(), network or not: the boot gate with local sources, `gpu`, `launch` and
 * the guest's model mount never use it. So the binary is not linked against libcurl: this file
 * defines the libcurl functions the project calls, with curl.h's own prototypes (the compiler
 * checks them), and each forwards to libcurl, opened with dlopen(RTLD_LOCAL) once per process.
 *
 * Call sites stay plain libcurl (curl.h's type checks of setopt/getinfo included). The rules:
 *  - cn_http_global_init() loads it (base/dl.h, thread-safe, curl_global_init() once) and names
 *    the library and dlerror() when it cannot; every client calls it before its first request;
 *  - the functions that create an object (easy and multi handles, URL handles, slists, escaped
 *    strings) load on demand and return NULL when libcurl is missing, as on memory exhaustion;
 *  - the cleanups are no-ops before the load (the object can only be NULL then); every other
 *    function takes an object made after a successful load.
 * The variadic setopt/getinfo calls forward their one argument with the type libcurl reads for
 * the option's range (curl.h's CURLOPTTYPE_* / CURLINFO_* layout), as libcurl does itself.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/dl.h"
#include "base/log.h"
#include "net/http.h"

#define CN_CURL_SONAME "libcurl.so.4"

/* Every libcurl entry point the project uses: X(name). */
#define CN_CURL_FUNCS(X)                                                                           \
	X(curl_global_init)                                                                        \
	X(curl_easy_init)                                                                          \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_easy_escape)                                                                        \
	X(curl_free)                                                                               \
	X(curl_getdate)                                                                            \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_url)                                                                                \
	X(curl_url_get)                                                                            \
	X(curl_url_set)                                                                            \
	X(curl_url_cleanup)                                                                        \
	X(curl_multi_init)                                                                         \
	X(curl_multi_setopt)                                                                       \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_perform)                                                                      \
	X(curl_multi_poll)                                                                         \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_cleanup)

static struct {
	CN_CURL_FUNCS(CN_DL_FIELD)
} lib;

static int global_init(char *err, size_t errlen)
{
	if (lib.curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		return 0;
	(void)snprintf(err, errlen, "cannot initialise libcurl");
	return -EIO;
}

static struct cn_dl_lib libcurl = CN_DL_LIB(CN_CURL_SONAME, CN_CURL_FUNCS, global_init);

static bool is_loaded(void)
{
	return cn_dl_loaded(&libcurl);
}

/* For the functions that make an object: NULL (as on memory exhaustion) without libcurl. */
static bool load(void)
{
	return cn_dl_load(&libcurl) == 0;
}

int cn_http_global_init(void)
{
	return cn_dl_load(&libcurl);
}

CURL *curl_easy_init(void)
{
	return load() ? lib.curl_easy_init() : NULL;
}

/*
 * curl_easy_setopt and curl_multi_setopt: the one argument is read with the type its option's
 * range gives (CURLOPTTYPE_*, as libcurl's own setopt reads it) and passed on as that type.
 */
#define FORWARD_OPTION(call, handle, option, ap)                                                   \
	((option) < CURLOPTTYPE_OBJECTPOINT	? call(handle, option, va_arg(ap, long))           \
	 : (option) < CURLOPTTYPE_FUNCTIONPOINT ? call(handle, option, va_arg(ap, void *))         \
	 : (option) < CURLOPTTYPE_OFF_T		? call(handle, option, va_arg(ap, void (*)(void))) \
	 : (option) < CURLOPTTYPE_BLOB		? call(handle, option, va_arg(ap, curl_off_t))     \
						: call(handle, option, va_arg(ap, void *)))
#define DEFINE_SETOPT(name, handle_t, option_t, code_t, not_loaded)                                \
	code_t(name)(handle_t * handle, option_t option, ...)                                      \
	{                                                                                          \
		va_list ap;                                                                        \
		code_t c;                                                                          \
                                                                                                   \
		if (!is_loaded())                                                                  \
			return not_loaded;                                                         \
		va_start(ap, option);                                                              \
		c = FORWARD_OPTION(lib.name, handle, option, ap);                                  \
		va_end(ap);                                                                        \
		return c;                                                                          \
	}

DEFINE_SETOPT(curl_easy_setopt, CURL, CURLoption, CURLcode, CURLE_FAILED_INIT)
DEFINE_SETOPT(curl_multi_setopt, CURLM, CURLMoption, CURLMcode, CURLM_BAD_HANDLE)

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	void *p;

	if (!is_loaded())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	p = va_arg(ap, void *);
	va_end(ap);
	return lib.curl_easy_getinfo(curl, info, p);
}

CURLcode curl_easy_perform(CURL *curl)
{
	return is_loaded() ? lib.curl_easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *curl)
{
	if (is_loaded())
		lib.curl_easy_cleanup(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	return is_loaded() ? lib.curl_easy_strerror(code) : "libcurl is not loaded";
}

char *curl_easy_escape(CURL *handle, const char *string, int length)
{
	return load() ? lib.curl_easy_escape(handle, string, length) : NULL;
}

void curl_free(void *p)
{
	if (is_loaded())
		lib.curl_free(p);
}

time_t curl_getdate(const char *p, const time_t *unused)
{
	return load() ? lib.curl_getdate(p, unused) : (time_t)-1;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *data)
{
	return load() ? lib.curl_slist_append(list, data) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (is_loaded())
		lib.curl_slist_free_all(list);
}

CURLU *curl_url(void)
{
	return load() ? lib.curl_url() : NULL;
}

CURLUcode curl_url_get(CURLU *handle, CURLUPart what, char **part, unsigned int flags)
{
	return is_loaded() ? lib.curl_url_get(handle, what, part, flags) : CURLUE_BAD_HANDLE;
}

CURLUcode curl_url_set(CURLU *handle, CURLUPart what, const char *part, unsigned int flags)
{
	return is_loaded() ? lib.curl_url_set(handle, what, part, flags) : CURLUE_BAD_HANDLE;
}

void curl_url_cleanup(CURLU *handle)
{
	if (is_loaded())
		lib.curl_url_cleanup(handle);
}

CURLM *curl_multi_init(void)
{
	return load() ? lib.curl_multi_init() : NULL;
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *curl)
{
	return is_loaded() ? lib.curl_multi_add_handle(multi, curl) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *curl)
{
	return is_loaded() ? lib.curl_multi_remove_handle(multi, curl) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_perform(CURLM *multi, int *running)
{
	return is_loaded() ? lib.curl_multi_perform(multi, running) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_poll(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds,
			  int timeout_ms, int *ret)
{
	return is_loaded() ? lib.curl_multi_poll(multi, extra_fds, extra_nfds, timeout_ms, ret)
			   : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *msgs_in_queue)
{
	return is_loaded() ? lib.curl_multi_info_read(multi, msgs_in_queue) : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
	return is_loaded() ? lib.curl_multi_cleanup(multi) : CURLM_OK;
}
