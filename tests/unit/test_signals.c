/*
 * test_signals: proves supervisor/signals.h: after sig_init, SIGCHLD,
 * SIGTERM, SIGINT and SIGHUP are blocked and arrive as events on a
 * non-blocking, close-on-exec descriptor that sig_read drains into
 * flags (nothing pending reads as no events, not an error); SIGPIPE is
 * ignored; a read error or a short record is reported; and
 * sig_child_reset in a forked child leaves an empty mask and default
 * dispositions, which the child checks and reports through its exit
 * status. Signals are sent to ourselves while blocked, so nothing here
 * depends on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/signals.h"

/* A fresh signal descriptor with nothing pending. */
static int
fresh_fd(void)
{
	struct sig_events ev;
	int fd;

	fd = sig_init();
	assert_true(fd != -1);
	assert_int_equal(sig_read(fd, &ev), 0);
	return fd;
}

static void
assert_no_events(const struct sig_events *ev)
{
	assert_false(ev->child);
	assert_false(ev->terminate);
	assert_false(ev->hangup);
	assert_int_equal(ev->last_signo, 0);
}

static void
test_init(void **state)
{
	struct sigaction sa;
	sigset_t mask;
	int fd, flags;

	(void)state;
	fd = fresh_fd();
	flags = fcntl(fd, F_GETFL);
	assert_true(flags != -1);
	assert_true((flags & O_NONBLOCK) != 0);
	flags = fcntl(fd, F_GETFD);
	assert_true(flags != -1);
	assert_true((flags & FD_CLOEXEC) != 0);

	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	assert_int_equal(sigismember(&mask, SIGCHLD), 1);
	assert_int_equal(sigismember(&mask, SIGTERM), 1);
	assert_int_equal(sigismember(&mask, SIGINT), 1);
	assert_int_equal(sigismember(&mask, SIGHUP), 1);
	assert_int_equal(sigismember(&mask, SIGPIPE), 0);
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_ptr_equal(sa.sa_handler, SIG_IGN);
	assert_int_equal(close(fd), 0);
}

static void
test_nothing_pending(void **state)
{
	struct sig_events ev;
	int fd;

	(void)state;
	fd = fresh_fd();
	memset(&ev, 0xff, sizeof(ev));
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_no_events(&ev);
	assert_int_equal(close(fd), 0);
}

static void
test_child_and_term(void **state)
{
	struct sig_events ev;
	int fd;

	(void)state;
	fd = fresh_fd();
	assert_int_equal(raise(SIGCHLD), 0);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_true(ev.child);
	assert_true(ev.terminate);
	assert_false(ev.hangup);
	assert_int_equal(ev.last_signo, SIGTERM);
	/* Drained: the next read has nothing. */
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_no_events(&ev);
	assert_int_equal(close(fd), 0);
}

static void
test_each_signal(void **state)
{
	struct sig_events ev;
	int fd;

	(void)state;
	fd = fresh_fd();
	assert_int_equal(kill(getpid(), SIGINT), 0);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_false(ev.child);
	assert_true(ev.terminate);
	assert_false(ev.hangup);
	assert_int_equal(ev.last_signo, SIGINT);

	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_false(ev.child);
	assert_false(ev.terminate);
	assert_true(ev.hangup);
	assert_int_equal(ev.last_signo, 0);

	assert_int_equal(raise(SIGCHLD), 0);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_true(ev.child);
	assert_false(ev.terminate);
	assert_false(ev.hangup);

	/* Everything at once, each standard signal coalesced. */
	assert_int_equal(raise(SIGCHLD), 0);
	assert_int_equal(raise(SIGCHLD), 0);
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(raise(SIGTERM), 0);
	assert_int_equal(raise(SIGINT), 0);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_true(ev.child);
	assert_true(ev.terminate);
	assert_true(ev.hangup);
	assert_true(ev.last_signo == SIGTERM || ev.last_signo == SIGINT);
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_no_events(&ev);
	assert_int_equal(close(fd), 0);
}

/* A real child's exit is an event too. */
static void
test_child_exit(void **state)
{
	struct sig_events ev;
	pid_t pid;
	int fd, st;

	(void)state;
	fd = fresh_fd();
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* The kernel queues SIGCHLD before it wakes the waiting parent. */
	assert_int_equal(sig_read(fd, &ev), 0);
	assert_true(ev.child);
	assert_false(ev.terminate);
	assert_int_equal(close(fd), 0);
}

static void
test_read_errors(void **state)
{
	struct sig_events ev;
	int fds[2];
	struct signalfd_siginfo junk;

	(void)state;
	errno = 0;
	assert_int_equal(sig_read(-1, &ev), -1);
	assert_int_equal(errno, EBADF);

	/* A record that is not a whole signalfd_siginfo. */
	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(write(fds[1], "abc", 3), 3);
	errno = 0;
	assert_int_equal(sig_read(fds[0], &ev), -1);
	assert_int_equal(errno, EIO);

	/* A whole record of a signal we do not handle is ignored. */
	memset(&junk, 0, sizeof(junk));
	assert_int_equal(write(fds[1], &junk, sizeof(junk)),
	    (ssize_t)sizeof(junk));
	assert_int_equal(sig_read(fds[0], &ev), 0);
	assert_no_events(&ev);
	assert_int_equal(close(fds[0]), 0);
	assert_int_equal(close(fds[1]), 0);
}

static void
on_usr1(int signo)
{
	(void)signo;
}

/*
 * In the child: 0 if the mask is empty and dispositions are default,
 * else a code naming what was left behind.
 */
static int
reset_child(void)
{
	struct sigaction sa;
	sigset_t mask;
	int signo;

	sig_child_reset();
	if (sigprocmask(SIG_BLOCK, NULL, &mask) == -1)
		return 2;
	for (signo = 1; signo < NSIG; signo++)
		if (sigismember(&mask, signo) == 1)
			return 3;
	if (sigaction(SIGPIPE, NULL, &sa) == -1 || sa.sa_handler != SIG_DFL)
		return 4;
	if (sigaction(SIGUSR1, NULL, &sa) == -1 || sa.sa_handler != SIG_DFL)
		return 5;
	if (sigaction(SIGCHLD, NULL, &sa) == -1 || sa.sa_handler != SIG_DFL)
		return 6;
	if (sigaction(SIGALRM, NULL, &sa) == -1 || sa.sa_handler != SIG_DFL)
		return 7;
	return 0;
}

static void
test_child_reset(void **state)
{
	struct sigaction sa, old_usr1, old_alrm;
	sigset_t extra, mask;
	pid_t pid;
	int fd, st;

	(void)state;
	fd = fresh_fd();
	/* Leave the child more to undo than sig_init did. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	assert_int_equal(sigemptyset(&sa.sa_mask), 0);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGALRM, &sa, &old_alrm), 0);
	assert_int_equal(sigemptyset(&extra), 0);
	assert_int_equal(sigaddset(&extra, SIGUSR2), 0);
	assert_int_equal(sigaddset(&extra, SIGRTMIN), 0);
	assert_int_equal(sigprocmask(SIG_BLOCK, &extra, NULL), 0);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(reset_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);

	assert_int_equal(sigprocmask(SIG_UNBLOCK, &extra, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old_alrm, NULL), 0);
	assert_int_equal(close(fd), 0);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("child after sig_child_reset: code %d (3: a signal "
		    "still blocked, 4-7: SIGPIPE, SIGUSR1, SIGCHLD, SIGALRM "
		    "not SIG_DFL)", WEXITSTATUS(st));
	/* The parent's own mask is untouched. */
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask), 0);
	assert_int_equal(sigismember(&mask, SIGTERM), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_nothing_pending),
		cmocka_unit_test(test_child_and_term),
		cmocka_unit_test(test_each_signal),
		cmocka_unit_test(test_child_exit),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_child_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
