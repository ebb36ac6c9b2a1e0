/*
 * test_io: proves the I/O helpers of shared/io.h: io_read and io_write
 * make one transfer and return short counts, 0 at EOF and -1 with errno
 * (EAGAIN, EPIPE, EBADF) unchanged, and retry a call interrupted by a
 * signal; io_write_all and io_writev_all write everything or fail; io_slurp reads a
 * stream that arrives in pieces, accepts exactly its cap and refuses one
 * byte more with EFBIG; io_set_nonblock returns the previous flags.
 *
 * The EINTR tests are deterministic without timing: a helper thread
 * watches /proc/self/task/<tid>/syscall until the main thread is blocked
 * in read(2) or write(2) on the test pipe, interrupts it with a SIGALRM
 * whose handler has no SA_RESTART, waits for the handler to have run and
 * for the main thread to be blocked in the same call again (the retry),
 * and only then unblocks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "io.h"

/* Generous: only reached when the code under test is broken. */
#define WATCH_POLLS	20000	/* of 1 ms each */

static void
make_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

static void
close_fd(int *fd)
{
	if (*fd != -1)
		assert_int_equal(close(*fd), 0);
	*fd = -1;
}

static void
close_pipe(int fds[2])
{
	close_fd(&fds[0]);
	close_fd(&fds[1]);
}

static void
ignore_sigpipe(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigemptyset(&sa.sa_mask), 0);
	assert_int_equal(sigaction(SIGPIPE, &sa, old), 0);
}

/* A temporary file holding n bytes of p, opened for reading, unlinked. */
static int
temp_file_with(const void *p, size_t n)
{
	char path[] = "/tmp/test_io-XXXXXX";
	int fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(io_write_all(fd, p, n), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void
test_read_short_and_eof(void **state)
{
	int fds[2];
	char in[64];

	(void)state;
	make_pipe(fds);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	/* A short read returns what is there, not what was asked for. */
	assert_int_equal(io_read(fds[0], in, sizeof(in)), 3);
	assert_memory_equal(in, "abc", 3);
	assert_int_equal(write(fds[1], "defgh", 5), 5);
	assert_int_equal(io_read(fds[0], in, 2), 2);
	assert_memory_equal(in, "de", 2);
	assert_int_equal(io_read(fds[0], in, sizeof(in)), 3);
	assert_memory_equal(in, "fgh", 3);
	/* EOF is 0, every time it is asked. */
	close_fd(&fds[1]);
	assert_int_equal(io_read(fds[0], in, sizeof(in)), 0);
	assert_int_equal(io_read(fds[0], in, sizeof(in)), 0);
	close_pipe(fds);
}

static void
test_read_errors(void **state)
{
	int fds[2];
	char in[8];

	(void)state;
	make_pipe(fds);
	assert_true(io_set_nonblock(fds[0], true) != -1);
	errno = 0;
	assert_int_equal(io_read(fds[0], in, sizeof(in)), -1);
	assert_int_equal(errno, EAGAIN);
	close_pipe(fds);
	errno = 0;
	assert_int_equal(io_read(-1, in, sizeof(in)), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_write_short_and_errors(void **state)
{
	struct sigaction old;
	int fds[2], size;
	char *big;
	ssize_t n;

	(void)state;
	make_pipe(fds);
	size = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_true(size >= 4096);
	assert_true(io_set_nonblock(fds[1], true) != -1);
	big = calloc(1, (size_t)size * 2);
	assert_non_null(big);
	/* Non-blocking: a short write, then EAGAIN. */
	n = io_write(fds[1], big, (size_t)size * 2);
	assert_true(n > 0);
	assert_true(n < size * 2);
	errno = 0;
	assert_int_equal(io_write(fds[1], big, 1), -1);
	assert_int_equal(errno, EAGAIN);
	free(big);

	ignore_sigpipe(&old);
	close_fd(&fds[0]);
	errno = 0;
	assert_int_equal(io_write(fds[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close_pipe(fds);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	errno = 0;
	assert_int_equal(io_write(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

struct drain {
	int	 fd;
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void *
drain_thread(void *arg)
{
	struct drain *d = arg;
	ssize_t n;

	for (;;) {
		n = io_read(d->fd, d->p + d->len, d->cap - d->len);
		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	return NULL;
}

/* Write want (total bytes) through a 4 KiB pipe with write_fn while a
 * thread reads it, and check every byte came out, in order. */
static void
through_small_pipe(const char *want, size_t total,
    int (*write_fn)(int, void *), void *arg)
{
	struct drain d;
	pthread_t th;
	int fds[2];

	make_pipe(fds);
	(void)fcntl(fds[1], F_SETPIPE_SZ, 4096);
	d.fd = fds[0];
	d.cap = total + 1;
	d.len = 0;
	d.p = malloc(d.cap);
	assert_non_null(d.p);
	assert_int_equal(pthread_create(&th, NULL, drain_thread, &d), 0);
	assert_int_equal(write_fn(fds[1], arg), 0);
	close_fd(&fds[1]);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(d.len, total);
	assert_memory_equal(d.p, want, total);
	free(d.p);
	close_pipe(fds);
}

struct plain_write {
	const char	*p;
	size_t		 n;
};

static int
write_all_fn(int fd, void *arg)
{
	struct plain_write *w = arg;

	return io_write_all(fd, w->p, w->n);
}

static int
writev_all_fn(int fd, void *arg)
{
	return io_writev_all(fd, arg, 4);
}

static void
test_write_all(void **state)
{
	enum { TOTAL = 1 << 20 };
	struct plain_write pw;
	struct sigaction old;
	int fds[2], size;
	size_t i;
	char *out;

	(void)state;
	/* Nothing to write is success. */
	assert_int_equal(io_write_all(-1, "", 0), 0);

	/* A megabyte through a 4 KiB pipe, read concurrently. */
	out = malloc(TOTAL);
	assert_non_null(out);
	for (i = 0; i < TOTAL; i++)
		out[i] = (char)(i * 7 + i / 4096);
	pw.p = out;
	pw.n = TOTAL;
	through_small_pipe(out, TOTAL, write_all_fn, &pw);

	/* A real error ends it: EAGAIN after a partial write, EPIPE. */
	make_pipe(fds);
	size = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_true(size >= 4096 && size < TOTAL);
	assert_true(io_set_nonblock(fds[1], true) != -1);
	errno = 0;
	assert_int_equal(io_write_all(fds[1], out, TOTAL), -1);
	assert_int_equal(errno, EAGAIN);
	ignore_sigpipe(&old);
	close_fd(&fds[0]);
	errno = 0;
	assert_int_equal(io_write_all(fds[1], out, 10), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	close_pipe(fds);
	free(out);
}

/* Gather writes: empty pieces skipped, pieces split by short writes
 * rejoined in order, errors as io_write_all's. */
static void
test_writev_all(void **state)
{
	enum { TOTAL = 1 << 20, CUT = 12345 };
	struct sigaction old;
	struct iovec iov[4];
	int fds[2];
	size_t i;
	char *out;

	(void)state;
	assert_int_equal(io_writev_all(-1, iov, 0), 0);
	out = malloc(TOTAL);
	assert_non_null(out);
	for (i = 0; i < TOTAL; i++)
		out[i] = (char)(i * 13 + i / 1000);
	iov[0].iov_base = out;
	iov[0].iov_len = 5;
	iov[1].iov_base = out + 5;
	iov[1].iov_len = 0;
	iov[2].iov_base = out + 5;
	iov[2].iov_len = CUT;
	iov[3].iov_base = out + 5 + CUT;
	iov[3].iov_len = TOTAL - 5 - CUT;
	through_small_pipe(out, TOTAL, writev_all_fn, iov);

	make_pipe(fds);
	ignore_sigpipe(&old);
	close_fd(&fds[0]);
	iov[0].iov_base = out;
	iov[0].iov_len = 10;
	errno = 0;
	assert_int_equal(io_writev_all(fds[1], iov, 1), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	close_pipe(fds);
	free(out);
}

/* The EINTR machinery. */

/* Lock-free, so both signal-safe and visible to the helper thread. */
static atomic_int n_alarms;

static void
on_alarm(int signo)
{
	(void)signo;
	n_alarms++;
}

struct watch {
	pthread_t	 target;	/* the thread to interrupt */
	pid_t		 target_tid;
	long		 nr;		/* SYS_read or SYS_write */
	int		 fd;		/* ... on this descriptor */
	int		 unblock_fd;	/* what the helper does to unblock */
	bool		 unblock_by_read;
	int		 failed;	/* 0, or which step timed out */
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Is the thread blocked in system call nr on fd right now? */
static bool
in_syscall(pid_t tid, long nr, int fd)
{
	char path[64], text[256];
	long got_nr;
	unsigned long got_fd;
	ssize_t n;
	int pfd;

	(void)snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall",
	    (long)tid);
	pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd == -1)
		return false;
	n = read(pfd, text, sizeof(text) - 1);
	(void)close(pfd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	if (sscanf(text, "%ld 0x%lx", &got_nr, &got_fd) != 2)
		return false;
	return got_nr == nr && got_fd == (unsigned long)fd;
}

static bool
wait_in_syscall(const struct watch *w)
{
	int i;

	for (i = 0; i < WATCH_POLLS; i++) {
		if (in_syscall(w->target_tid, w->nr, w->fd))
			return true;
		sleep_ms(1);
	}
	return false;
}

static void *
watch_thread(void *arg)
{
	struct watch *w = arg;
	char junk[65536];
	int i;

	if (!wait_in_syscall(w)) {
		w->failed = 1;
		goto unblock;
	}
	if (pthread_kill(w->target, SIGALRM) != 0) {
		w->failed = 2;
		goto unblock;
	}
	for (i = 0; i < WATCH_POLLS && n_alarms == 0; i++)
		sleep_ms(1);
	if (n_alarms == 0) {
		w->failed = 3;
		goto unblock;
	}
	/* Blocked again: the interrupted call was retried. */
	if (!wait_in_syscall(w))
		w->failed = 4;
unblock:
	if (w->unblock_by_read)
		(void)read(w->unblock_fd, junk, sizeof(junk));
	else
		(void)write(w->unblock_fd, "ping", 4);
	return NULL;
}

static void
assert_watch_ok(const struct watch *w)
{
	static const char *const steps[] = { "", "call never blocked",
	    "pthread_kill failed", "handler never ran",
	    "interrupted call was not retried" };

	if (w->failed != 0)
		fail_msg("EINTR watch: %s", steps[w->failed]);
}

static void
install_alarm(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;	/* no SA_RESTART: the kernel returns EINTR */
	assert_int_equal(sigemptyset(&sa.sa_mask), 0);
	assert_int_equal(sigaction(SIGALRM, &sa, old), 0);
	n_alarms = 0;
}

static void
skip_without_proc(void)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall",
	    (long)gettid());
	if (access(path, R_OK) == -1) {
		print_message("no %s: cannot tell when a call blocks\n", path);
		skip();
	}
}

static void
test_read_eintr_retried(void **state)
{
	struct sigaction old;
	struct watch w;
	pthread_t th;
	int fds[2];
	char in[16];
	ssize_t n;

	(void)state;
	skip_without_proc();
	make_pipe(fds);
	install_alarm(&old);
	memset(&w, 0, sizeof(w));
	w.target = pthread_self();
	w.target_tid = gettid();
	w.nr = SYS_read;
	w.fd = fds[0];
	w.unblock_fd = fds[1];
	w.unblock_by_read = false;
	assert_int_equal(pthread_create(&th, NULL, watch_thread, &w), 0);
	n = io_read(fds[0], in, sizeof(in));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	assert_watch_ok(&w);
	assert_int_equal(n_alarms, 1);
	assert_int_equal(n, 4);
	assert_memory_equal(in, "ping", 4);
	close_pipe(fds);
}

static void
test_write_eintr_retried(void **state)
{
	struct sigaction old;
	struct watch w;
	pthread_t th;
	int fds[2], size;
	char *fill;
	ssize_t n;

	(void)state;
	skip_without_proc();
	make_pipe(fds);
	size = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_true(size >= 4096 && size <= 65536);
	/* Fill the pipe, then block on one more byte. */
	assert_true(io_set_nonblock(fds[1], true) != -1);
	fill = calloc(1, (size_t)size);
	assert_non_null(fill);
	while (write(fds[1], fill, (size_t)size) > 0)
		continue;
	while (write(fds[1], fill, 1) > 0)
		continue;
	assert_int_equal(errno, EAGAIN);
	free(fill);
	assert_true(io_set_nonblock(fds[1], false) != -1);

	install_alarm(&old);
	memset(&w, 0, sizeof(w));
	w.target = pthread_self();
	w.target_tid = gettid();
	w.nr = SYS_write;
	w.fd = fds[1];
	w.unblock_fd = fds[0];
	w.unblock_by_read = true;
	assert_int_equal(pthread_create(&th, NULL, watch_thread, &w), 0);
	n = io_write(fds[1], "x", 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	assert_watch_ok(&w);
	assert_int_equal(n_alarms, 1);
	assert_int_equal(n, 1);
	close_pipe(fds);
}

static void
test_slurp_empty(void **state)
{
	int fds[2];
	size_t len = 99;
	char *p;

	(void)state;
	make_pipe(fds);
	close_fd(&fds[1]);
	p = io_slurp(fds[0], 100, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	close_pipe(fds);

	/* A cap of 0 still takes an empty stream. */
	make_pipe(fds);
	close_fd(&fds[1]);
	p = io_slurp(fds[0], 0, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	free(p);
	close_pipe(fds);
}

/* The cap exactly, and one byte over it, at several sizes that straddle
 * the helper's growth steps. */
static void
test_slurp_cap(void **state)
{
	static const size_t caps[] = { 0, 1, 100, 4094, 4095, 4096, 4097,
	    8191, 8192, 20000 };
	size_t i, len;
	char *in, *p;
	int fd;

	(void)state;
	in = malloc(20001);
	assert_non_null(in);
	for (i = 0; i < 20001; i++)
		in[i] = (char)('a' + i % 26);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		fd = temp_file_with(in, caps[i]);
		len = 12345;
		p = io_slurp(fd, caps[i], &len);
		assert_non_null(p);
		assert_int_equal(len, caps[i]);
		if (caps[i] > 0)
			assert_memory_equal(p, in, caps[i]);
		assert_int_equal(p[len], '\0');
		free(p);
		close_fd(&fd);

		fd = temp_file_with(in, caps[i] + 1);
		errno = 0;
		assert_null(io_slurp(fd, caps[i], &len));
		assert_int_equal(errno, EFBIG);
		close_fd(&fd);
	}
	free(in);
}

/* A writer in another process, many small writes: pieces across reads. */
static void
test_slurp_pieces(void **state)
{
	enum { PIECES = 300, PIECE = 1000 };
	char piece[PIECE];
	int fds[2], st;
	size_t len, i;
	pid_t pid;
	char *p;
	int round;

	(void)state;
	for (round = 0; round < 2; round++) {
		make_pipe(fds);
		fflush(NULL);
		pid = fork();
		assert_true(pid != -1);
		if (pid == 0) {
			(void)close(fds[0]);
			for (i = 0; i < PIECES; i++) {
				memset(piece, (int)('A' + i % 26), PIECE);
				if (io_write_all(fds[1], piece, PIECE) == -1)
					_exit(1);
			}
			_exit(0);
		}
		close_fd(&fds[1]);
		if (round == 0) {
			p = io_slurp(fds[0], PIECES * PIECE, &len);
			assert_non_null(p);
			assert_int_equal(len, PIECES * PIECE);
			for (i = 0; i < len; i++)
				if (p[i] != (char)('A' + i / PIECE % 26))
					fail_msg("byte %zu is wrong", i);
			assert_int_equal(p[len], '\0');
			free(p);
		} else {
			errno = 0;
			assert_null(io_slurp(fds[0], PIECES * PIECE - 1, &len));
			assert_int_equal(errno, EFBIG);
		}
		/* The child may die of SIGPIPE in round 1; either is fine. */
		close_pipe(fds);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (round == 0)
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static void
test_slurp_errors(void **state)
{
	int fds[2];
	size_t len;

	(void)state;
	errno = 0;
	assert_null(io_slurp(-1, 100, &len));
	assert_int_equal(errno, EBADF);
	/* EAGAIN is an error too: slurp wants the whole stream. */
	make_pipe(fds);
	assert_true(io_set_nonblock(fds[0], true) != -1);
	assert_int_equal(write(fds[1], "partial", 7), 7);
	errno = 0;
	assert_null(io_slurp(fds[0], 100, &len));
	assert_int_equal(errno, EAGAIN);
	close_pipe(fds);
}

static void
test_set_nonblock(void **state)
{
	int fds[2], flags, prev;

	(void)state;
	make_pipe(fds);
	flags = fcntl(fds[0], F_GETFL);
	assert_true(flags != -1);
	assert_int_equal(flags & O_NONBLOCK, 0);

	prev = io_set_nonblock(fds[0], true);
	assert_int_equal(prev, flags);
	assert_int_equal(fcntl(fds[0], F_GETFL), flags | O_NONBLOCK);
	/* Setting it again changes nothing and reports it was set. */
	prev = io_set_nonblock(fds[0], true);
	assert_int_equal(prev, flags | O_NONBLOCK);
	assert_int_equal(fcntl(fds[0], F_GETFL), flags | O_NONBLOCK);

	prev = io_set_nonblock(fds[0], false);
	assert_int_equal(prev, flags | O_NONBLOCK);
	assert_int_equal(fcntl(fds[0], F_GETFL), flags);
	prev = io_set_nonblock(fds[0], false);
	assert_int_equal(prev, flags);
	/* The other end is untouched. */
	assert_int_equal(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
	close_pipe(fds);

	errno = 0;
	assert_int_equal(io_set_nonblock(-1, true), -1);
	assert_int_equal(errno, EBADF);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_short_and_eof),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_write_short_and_errors),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_writev_all),
		cmocka_unit_test(test_read_eintr_retried),
		cmocka_unit_test(test_write_eintr_retried),
		cmocka_unit_test(test_slurp_empty),
		cmocka_unit_test(test_slurp_cap),
		cmocka_unit_test(test_slurp_pieces),
		cmocka_unit_test(test_slurp_errors),
		cmocka_unit_test(test_set_nonblock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
