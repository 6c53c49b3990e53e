/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/cursor.h"
#include "base/fileio.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/parse.h"
#include "base/proc.h"
#include "base/strv.h"
#include "base/threads.h"
#include "harness.h"

static void test_parse_u64(void)
{
	uint64_t v = 7;

	ASSERT_OK(cn_parse_u64("0", 10, &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(cn_parse_u64("18446744073709551615", UINT64_MAX, &v));
	ASSERT_U64_EQ(v, UINT64_MAX);
	ASSERT_ERR(cn_parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(cn_parse_u64("11", 10, &v), -ERANGE);
	ASSERT_ERR(cn_parse_u64("", 10, &v), -EINVAL);
	ASSERT_ERR(cn_parse_u64("-1", 10, &v), -EINVAL);
	ASSERT_ERR(cn_parse_u64(" 1", 10, &v), -EINVAL);
	ASSERT_ERR(cn_parse_u64("0x1", 10, &v), -EINVAL);
	ASSERT_U64_EQ(v, UINT64_MAX); /* untouched on failure */
}

static void test_parse_octal(void)
{
	uint64_t v;

	ASSERT_OK(cn_parse_octal_n("0000644", 8, &v)); /* trailing NUL of the literal */
	ASSERT_EQ(v, 0644);
	ASSERT_OK(cn_parse_octal_n("00000000012 ", 12, &v));
	ASSERT_EQ(v, 10);
	ASSERT_ERR(cn_parse_octal_n("0000894\0", 8, &v), -EINVAL);
	ASSERT_ERR(cn_parse_octal_n("\0\0\0\0", 4, &v), -EINVAL);
}

static void test_hex(void)
{
	uint8_t b[4], *a = NULL;
	size_t n;
	char out[9];

	ASSERT_OK(cn_unhex_exact("00ff10Ab", b, 4));
	ASSERT_STREQ(cn_hex(b, 4, out), "00ff10ab");
	ASSERT_ERR(cn_unhex_exact("00ff10A", b, 4), -EINVAL);
	ASSERT_ERR(cn_unhex_exact("00ff10Ag", b, 4), -EINVAL);
	ASSERT_ERR(cn_unhex_alloc("abc", 3, 10, &a, &n), -EINVAL);
	ASSERT_ERR(cn_unhex_alloc("abcd", 4, 1, &a, &n), -E2BIG);
	ASSERT_OK(cn_unhex_alloc("abcd", 4, 2, &a, &n));
	ASSERT_EQ(n, 2);
	ASSERT_EQ(a[1], 0xcd);
	free(a);
	ASSERT_TRUE(cn_is_lower_hex("0a", 2));
	ASSERT_FALSE(cn_is_lower_hex("0A", 2));
	ASSERT_FALSE(cn_is_lower_hex("0a0", 2));
}

static void test_cursor(void)
{
	static const uint8_t buf[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct cn_cursor c = cn_cursor_make(buf, sizeof(buf)), sub;
	uint32_t v32;
	uint16_t v16;
	uint64_t v64;
	uint8_t v8;

	ASSERT_OK(cn_cur_u8(&c, &v8));
	ASSERT_EQ(v8, 1);
	ASSERT_OK(cn_cur_u16le(&c, &v16));
	ASSERT_EQ(v16, 0x0302);
	ASSERT_ERR(cn_cur_u64le(&c, &v64), -EBADMSG);
	ASSERT_EQ(c.left, 6); /* unchanged on failure */
	ASSERT_OK(cn_cur_sub(&c, 4, &sub));
	ASSERT_EQ(sub.pos, 3);
	ASSERT_OK(cn_cur_u32le(&sub, &v32));
	ASSERT_EQ(v32, 0x07060504);
	ASSERT_TRUE(cn_cur_done(&sub));
	ASSERT_ERR(cn_cur_u8(&sub, &v8), -EBADMSG);
	ASSERT_EQ(c.pos, 7);
	ASSERT_ERR(cn_cur_skip(&c, 3), -EBADMSG);
	ASSERT_OK(cn_cur_skip(&c, 2));
	ASSERT_TRUE(cn_cur_done(&c));
}

static void test_fileio(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_free_ char *p = cn_path_join(dir, "a/b/c");
	_cleanup_free_ char *f = cn_path_join(dir, "a/file");
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *v = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t len;

	ASSERT_OK(cn_mkdir_p(p, 0755));
	ASSERT_OK(cn_mkdir_p(p, 0755));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);
	ASSERT_OK(cn_write_file_atomic_at(dfd, "a/file", "hello\n", 6, 0644));
	ASSERT_OK(cn_read_file(f, 6, &buf, &len));
	ASSERT_EQ(len, 6);
	ASSERT_STREQ((char *)buf, "hello\n");
	ASSERT_ERR(cn_read_file(f, 5, &buf, &len), -E2BIG);
	ASSERT_OK(cn_read_virtual_at(dfd, "a/file", 64, &v));
	ASSERT_STREQ(v, "hello");
	ASSERT_ERR(cn_read_virtual_at(dfd, "a/file", 6, &v), -E2BIG);
	ASSERT_ERR(cn_read_file(p, 100, &buf, &len), -EISDIR);
	ASSERT_ERR(cn_read_file("/nonexistent/x", 100, &buf, &len), -ENOENT);
	ASSERT_EQ(cn_test_sh("test $(ls -a '%s/a' | wc -l) -eq 4", dir), 0); /* no temp left */
}

/* A FIFO (or any non-regular file) as an input fails at once: it never waits for a writer. */
static void test_fileio_not_regular(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_free_ char *fifo = cn_path_join(dir, "fifo");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int fd = -1;

	ASSERT_EQ(cn_test_sh("mkfifo '%s'", fifo), 0);
	(void)alarm(10); /* a regression hangs in open(): SIGALRM fails the test instead */
	ASSERT_ERR(cn_read_file(fifo, 100, &buf, &len), -CN_ENOTREG);
	ASSERT_ERR(cn_read_file("/dev/zero", 100, &buf, &len), -CN_ENOTREG);
	ASSERT_ERR(cn_open_input_at(AT_FDCWD, fifo, true, &fd, NULL), -CN_ENOTREG);
	ASSERT_ERR(cn_open_input_at(AT_FDCWD, "/dev/null", true, &fd, NULL), -CN_ENOTREG);
	(void)alarm(0);
	ASSERT_STREQ(cn_strerror(-CN_ENOTREG), "not a regular file");
	ASSERT_STREQ(cn_strerror(ENOENT), strerror(ENOENT));
	ASSERT_EQ(cn_test_sh("rm '%s' && printf x > '%s'", fifo, fifo), 0);
	ASSERT_OK(cn_open_input_at(AT_FDCWD, fifo, false, &fd, NULL));
	ASSERT_FALSE(fcntl(fd, F_GETFL) & O_NONBLOCK);
	(void)close(fd);
}

static void test_rm_rf(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_free_ char *t = cn_path_join(dir, "rm");
	_cleanup_free_ char *keep = cn_path_join(dir, "keep");
	_cleanup_free_ char *deep = NULL;

	ASSERT_EQ(cn_test_sh("mkdir -p '%s/a/b/c' '%s' && echo x > '%s/keep/f' && "
			     "echo y > '%s/a/b/c/f' && ln -s '%s' '%s/a/link' && "
			     "ln -s '%s/f' '%s/a/b/flink' && chmod 000 '%s/a/b/c'",
			     t, keep, dir, t, keep, t, keep, t, t),
		  0);
	ASSERT_OK(cn_rm_rf(t));
	ASSERT_EQ(cn_test_sh("test ! -e '%s' && test -f '%s/f'", t, keep),
		  0);		/* links not followed */
	ASSERT_OK(cn_rm_rf(t)); /* absent: fine */
	ASSERT_EQ(cn_test_sh("echo z > '%s'", t), 0);
	ASSERT_OK(cn_rm_rf(t)); /* a plain file */
	ASSERT_EQ(cn_test_sh("test ! -e '%s'", t), 0);
	/* Deeper than the cap: refused, not a crash or an fd exhaustion. */
	ASSERT_EQ(cn_test_sh("cd '%s' && mkdir -p \"$(printf 'd/%%.0s' $(seq 300))\"", dir), 0);
	deep = cn_path_join(dir, "d");
	ASSERT_ERR(cn_rm_rf(deep), -ELOOP);
	ASSERT_EQ(cn_test_sh("rm -rf '%s'", deep), 0);
}

static void test_mkdir_open(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_free_ char *p = cn_path_join(dir, "mo/a/b");
	_cleanup_free_ char *file = cn_path_join(dir, "mo/file");
	int fd = -EBADF;
	struct stat st;

	ASSERT_OK(cn_mkdir_open(p, 0750, &fd));
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(fstat(fd, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	(void)close(fd);
	fd = -EBADF;
	ASSERT_OK(cn_mkdir_open(p, 0750, &fd)); /* exists: opened again */
	(void)close(fd);
	fd = -EBADF;
	ASSERT_EQ(cn_test_sh("echo x > '%s'", file), 0);
	ASSERT_ERR(cn_mkdir_open(file, 0750, &fd), -ENOTDIR);
	ASSERT_EQ(fd, -EBADF);
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "cannot create '"));
	ASSERT_NOT_NULL(strstr(cn_err_msg(), "mo/file'"));
}

static void test_opendir_dup(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_free_ char *p = cn_path_join(dir, "od");
	_cleanup_close_ int fd = -EBADF;
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	ASSERT_EQ(cn_test_sh("mkdir -p '%s' && touch '%s/x' '%s/y'", p, p, p), 0);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	/* a first stream reads everything through the shared offset ... */
	d = cn_opendir_dup(fd);
	ASSERT_NOT_NULL(d);
	while (readdir(d))
		;
	ASSERT_OK(closedir(d));
	/* ... and a second one still starts at the first entry; fd stays open */
	d = cn_opendir_dup(fd);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, "x") == 0 || strcmp(de->d_name, "y") == 0;
	ASSERT_OK(closedir(d));
	ASSERT_EQ(n, 2);
	ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0);
	errno = 0;
	ASSERT_NULL(cn_opendir_dup(-1));
	ASSERT_EQ(errno, EBADF);
}

static void test_lock_wait(void)
{
	const char *dir = cn_test_tmpdir();
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -EBADF;
	int pipefd[2], status;
	pid_t pid;
	char c;

	ASSERT_OK(cn_lock_wait_at(dfd, "x.lock", NULL, NULL, &fd));
	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int cfd;

		(void)close(fd); /* the inherited copy would hold the parent's lock */
		/* Tells the parent it is about to wait, then waits for the lock. */
		if (cn_lock_wait_at(dfd, "x.lock", NULL, NULL, &cfd) < 0)
			_exit(1);
		_exit(write(pipefd[1], "L", 1) == 1 ? 0 : 2);
	}
	(void)close(pipefd[1]);
	usleep(200 * 1000);
	ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0); /* still waiting */
	fd = (close(fd), -EBADF);
	ASSERT_EQ(read(pipefd[0], &c, 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	(void)close(pipefd[0]);
	/* A symlink as the lock file is never followed. */
	ASSERT_EQ(cn_test_sh("ln -s /etc/passwd '%s/y.lock'", dir), 0);
	ASSERT_FAIL(cn_lock_wait_at(dfd, "y.lock", NULL, NULL, &fd));
}

static void test_atomic_file(void)
{
	_cleanup_free_ char *dir = cn_path_join(cn_test_tmpdir(), "atomic");
	_cleanup_close_ int dfd = -EBADF;
	struct cn_atomic_file a = CN_ATOMIC_FILE_INIT, b = CN_ATOMIC_FILE_INIT;

	ASSERT_OK(cn_mkdir_p(dir, 0755));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);
	/* a path with folders, relative to the working directory or to a folder, and a bare name */
	_cleanup_free_ char *p2 = cn_path_join(cn_test_tmpdir(), "atomic-paths");
	_cleanup_free_ char *whole = cn_path_join(p2, "whole");
	_cleanup_close_ int d2 = -EBADF;
	ASSERT_OK(cn_mkdir_p(p2, 0755));
	ASSERT_EQ(cn_test_sh("mkdir '%s/d'", p2), 0);
	d2 = open(p2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(d2 >= 0);
	ASSERT_OK(cn_write_file_atomic_at(AT_FDCWD, whole, "x", 1, 0644));
	ASSERT_OK(cn_write_file_atomic_at(d2, "d/f", "y", 1, 0644));
	ASSERT_OK(cn_write_file_atomic_at(d2, "bare", "z", 1, 0644));
	ASSERT_EQ(cn_test_sh("cd '%s' && [ \"$(cat whole d/f bare)\" = xyz ]", p2), 0);
	ASSERT_OK(cn_atomic_open(&a, dfd, "out", false));
	ASSERT_OK(cn_atomic_write(&a, "abc", 3));
	ASSERT_EQ(cn_test_sh("test ! -e '%s/out'", dir), 0); /* nothing visible before commit */
	ASSERT_OK(cn_atomic_link(&a, 0640));
	ASSERT_OK(cn_atomic_commit(&a));
	cn_atomic_abort(&a);
	ASSERT_EQ(cn_test_sh("test \"$(cat '%s/out')\" = abc && test $(stat -c %%a '%s/out') = 640",
			     dir, dir),
		  0);
	/* Aborted: the old content stays and no temporary is left. */
	ASSERT_OK(cn_atomic_open(&b, dfd, "out", true));
	ASSERT_OK(cn_atomic_link(&b, 0644));
	cn_atomic_abort(&b);
	ASSERT_EQ(cn_test_sh("test \"$(cat '%s/out')\" = abc && test $(ls -a '%s' | wc -l) -eq 3",
			     dir, dir),
		  0);
}

static void test_proc(void)
{
	const char *echo[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	const char *big[] = {"/bin/sh", "-c", "head -c 100000 /dev/zero", NULL};
	const char *hang[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	const struct cn_proc_opts small = {.out_max = 1000, .timeout_ms = 10000};
	const struct cn_proc_opts quick = {.timeout_ms = 200};
	const char *nothing[] = {"/nonexistent/prog", NULL};
	struct cn_proc_result res;
	_cleanup_free_ char *sh = NULL;

	ASSERT_OK(cn_proc_run(echo, NULL, &res));
	ASSERT_EQ(res.status, 3);
	ASSERT_STREQ(res.out, "out\n");
	ASSERT_STREQ(res.err, "err\n");
	ASSERT_FALSE(res.timed_out);
	cn_proc_result_done(&res);
	ASSERT_OK(cn_proc_run(big, &small, &res));
	ASSERT_EQ(res.out_len, 1000);
	ASSERT_TRUE(res.truncated);
	ASSERT_EQ(res.status, 0);
	cn_proc_result_done(&res);
	ASSERT_OK(cn_proc_run(hang, &quick, &res));
	ASSERT_TRUE(res.timed_out);
	ASSERT_EQ(res.status, 128 + 9);
	cn_proc_result_done(&res);
	ASSERT_ERR(cn_proc_run(nothing, NULL, &res), -ENOENT);
	{
		/* stdin: the given bytes then end of file; above the cap refused */
		const char *cat[] = {"/bin/sh", "-c", "cat; echo .", NULL};
		struct cn_proc_opts in = {.in = "reg.example:5000", .in_len = 16};
		static char many[CN_PROC_IN_MAX + 1];

		ASSERT_OK(cn_proc_run(cat, &in, &res));
		ASSERT_STREQ(res.out, "reg.example:5000.\n");
		cn_proc_result_done(&res);
		memset(many, 'x', sizeof(many));
		in = (struct cn_proc_opts){.in = many, .in_len = CN_PROC_IN_MAX};
		ASSERT_OK(cn_proc_run(cat, &in, &res));
		ASSERT_EQ(res.out_len, CN_PROC_IN_MAX + 2);
		cn_proc_result_done(&res);
		in.in_len = CN_PROC_IN_MAX + 1;
		ASSERT_ERR(cn_proc_run(cat, &in, &res), -E2BIG);
	}

	ASSERT_OK(cn_proc_find_executable("sh", "/nonexistent::/bin", &sh));
	ASSERT_STREQ(sh, "/bin/sh");
	ASSERT_ERR(cn_proc_find_executable("no-such-prog-xyz", CN_PROC_SYSTEM_PATH, &sh), -ENOENT);
	ASSERT_TRUE(strstr(cn_err_msg(), "no-such-prog-xyz") != NULL);
	ASSERT_ERR(cn_proc_find_executable("/nonexistent/x", NULL, &sh), -ENOENT);
}

static void test_strv(void)
{
	struct cn_strv sv = {0};

	for (int i = 0; i < 100; i++)
		ASSERT_OK(cn_strv_pushf(&sv, "arg%d", i));
	ASSERT_EQ(sv.n, 100);
	ASSERT_STREQ(sv.v[99], "arg99");
	ASSERT_NULL(sv.v[100]);
	cn_strv_done(&sv);
	ASSERT_EQ(sv.n, 0);
}

static void test_err(void)
{
	ASSERT_ERR(cn_err_set(EBADMSG, "field '%s' at offset %d", "x", 4), -EBADMSG);
	ASSERT_STREQ(cn_err_msg(), "field 'x' at offset 4");
	cn_err_clear();
	ASSERT_STREQ(cn_err_msg(), "");
}

/* Control characters never leave a message raw (issue 10 item 15). */
static void test_escape_ctl(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
	    {"plain 'name.txt'", "plain 'name.txt'"},
	    {"esc\x1b[31mred", "esc\\x1b[31mred"},
	    {"tab\tnl\ncr\rdel\x7f", "tab\\x09nl\\x0acr\\x0ddel\\x7f"},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
	    {"c1 \xc2\x9b[31m", "c1 \\xc2\\x9b[31m"},
	    {"latin1 caf\xe9 raw csi \x9b", "latin1 caf\\xe9 raw csi \\x9b"},
	    {"overlong \xc0\xaf \xe0\x80\xaf", "overlong \\xc0\\xaf \\xe0\\x80\\xaf"},
	    {"cut \xe2\x82", "cut \\xe2\\x82"},
	};
	char out[256], again[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cn_escape_ctl(v[i].in, out, sizeof(out));
		ASSERT_STREQ(out, v[i].out);
		cn_escape_ctl(out, again, sizeof(again));
		ASSERT_STREQ(again, out); /* idempotent */
	}
	cn_escape_ctl("\x1b\x1b\x1b", out, 9); /* room for two escapes only: never half of one */
	ASSERT_STREQ(out, "\\x1b\\x1b");
	(void)cn_err_set(-EINVAL, "cannot read '%s'",
			 "a\x1b]0;title\x07"
			 "b");
	ASSERT_STREQ(cn_err_msg(), "cannot read 'a\\x1b]0;title\\x07b'");
	ASSERT_NULL(strchr(cn_err_msg(), 0x1b));
}

struct par {
	unsigned char *seen;
	pthread_mutex_t mu;
	size_t sum;
};

static void par_one(void *arg, size_t i)
{
	struct par *p = arg;

	p->seen[i]++;
	(void)pthread_mutex_lock(&p->mu);
	p->sum += i;
	(void)pthread_mutex_unlock(&p->mu);
}

/* Every index exactly once, whatever the thread count; COCOON_THREADS is the one override. */
static void test_threads(void)
{
	static const unsigned counts[] = {0, 1, 2, 7, 64, 1000};
	struct par p = {.seen = calloc(1000, 1)};

	ASSERT_NOT_NULL(p.seen);
	(void)pthread_mutex_init(&p.mu, NULL);
	for (size_t c = 0; c < ELEMENTSOF(counts); c++)
		for (size_t n = 0; n <= 1000; n += 333) {
			memset(p.seen, 0, 1000);
			p.sum = 0;
			ASSERT_OK(cn_parallel_for(n, counts[c], par_one, &p));
			for (size_t i = 0; i < n; i++)
				ASSERT_EQ(p.seen[i], 1);
			ASSERT_EQ(p.sum, n ? n * (n - 1) / 2 : 0);
		}
	(void)pthread_mutex_destroy(&p.mu);
	free(p.seen);
	ASSERT_OK(setenv("COCOON_THREADS", "3", 1));
	ASSERT_EQ(cn_threads(), 3);
	ASSERT_OK(setenv("COCOON_THREADS", "0", 1));
	ASSERT_TRUE(cn_threads() >= 1 && cn_threads() <= CN_THREADS_MAX);
	ASSERT_OK(unsetenv("COCOON_THREADS"));
}

static const struct cn_test tests[] = {
    T(parse_u64), T(parse_octal), T(hex),
    T(cursor),	  T(fileio),	  T(fileio_not_regular),
    T(rm_rf),	  T(mkdir_open),  T(opendir_dup),
    T(lock_wait), T(atomic_file), T(proc),
    T(strv),	  T(err),	  T(escape_ctl),
    T(threads),
};

CN_TEST_MAIN(tests)
