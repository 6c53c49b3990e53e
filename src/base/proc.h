/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Running helper programs: an argv array (never a shell), stdin /dev/null or a short text,
 * output captured up to a cap, and a deadline after which the child is killed. Executable lookup in
 * a PATH-style list. All int-returning functions: 0 or a negative errno, details in cn_err_msg().
 */
#include <stdbool.h>
#include <stddef.h>

/* The system directories, for programs that must not trust $PATH (root helpers). */
#define CN_PROC_SYSTEM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Bytes of stdin a child may be given (PIPE_BUF: written whole before the child starts). */
#define CN_PROC_IN_MAX 4096u

struct cn_proc_opts {
	int timeout_ms;	  /* > 0: kill the child (SIGKILL) after this long */
	size_t out_max;	  /* bytes of stdout kept (0: 1 MiB); the rest is read and dropped */
	size_t err_max;	  /* the same for stderr */
	bool discard_err; /* stderr to /dev/null */
	const char *in;	  /* stdin: these in_len bytes, then end of file; NULL: /dev/null */
	size_t in_len;	  /* at most CN_PROC_IN_MAX (-E2BIG) */
};

struct cn_proc_result {
	int status; /* exit code, or 128 + signal */
	bool timed_out;
	bool truncated; /* stdout or stderr went over its cap */
	char *out;	/* owned, NUL-terminated */
	size_t out_len;
	char *err; /* owned, NUL-terminated ("" with discard_err) */
	size_t err_len;
};

/*
 * Runs argv (argv[0] a path; no $PATH search) to its end or its deadline. Returns 0 with *ret
 * filled whenever the child ran, whatever its exit status; a negative errno when it could not
 * be started.
 */
int cn_proc_run(const char *const *argv, const struct cn_proc_opts *o, struct cn_proc_result *ret);
void cn_proc_result_done(struct cn_proc_result *r);

/*
 * Finds an executable: a name with a '/' is checked as given; otherwise each directory of
 * path_list (':'-separated; NULL or "": "/usr/local/bin:/usr/bin:/bin"; an empty element is
 * ".") in turn, for a regular file we may execute. -ENOENT naming what was searched.
 */
int cn_proc_find_executable(const char *name, const char *path_list, char **ret);
