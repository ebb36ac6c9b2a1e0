/*
 * signals: see signals.h. Linux signalfd; the kernel coalesces repeated
 * SIGCHLDs, so the reaper always loops waitpid until nothing is left.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "core/signals.h"

int
sig_init(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigemptyset(&sa.sa_mask) == -1 || sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	if (sigemptyset(&set) == -1 || sigaddset(&set, SIGCHLD) == -1 ||
	    sigaddset(&set, SIGTERM) == -1 || sigaddset(&set, SIGINT) == -1 ||
	    sigaddset(&set, SIGHUP) == -1)
		return -1;
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int
sig_read(int fd, struct sig_events *ev)
{
	struct signalfd_siginfo si;
	ssize_t n;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		n = io_read(fd, &si, sizeof(si));
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		if (n != (ssize_t)sizeof(si)) {
			errno = EIO;
			return -1;
		}
		switch (si.ssi_signo) {
		case SIGCHLD:
			ev->child = true;
			break;
		case SIGTERM:
		case SIGINT:
			ev->terminate = true;
			ev->last_signo = (int)si.ssi_signo;
			break;
		case SIGHUP:
			ev->hangup = true;
			break;
		default:
			break;
		}
	}
}

enum { SIG_CHLD, SIG_TERM, SIG_INT, SIG_HUP, SIG_N };

struct signals {
	struct loop	*loop;
	int		 fd;
	sig_fn		 fn[SIG_N];
	void		*arg[SIG_N];
};

static int
index_of(int signo)
{
	switch (signo) {
	case SIGCHLD:
		return SIG_CHLD;
	case SIGTERM:
		return SIG_TERM;
	case SIGINT:
		return SIG_INT;
	case SIGHUP:
		return SIG_HUP;
	default:
		return -1;
	}
}

static void
dispatch(struct signals *s, int signo)
{
	int i = index_of(signo);

	if (i >= 0 && s->fn[i] != NULL)
		s->fn[i](s->arg[i], signo);
}

static void
on_readable(void *arg, int fd, short revents)
{
	struct signals *s = arg;
	struct sig_events ev;

	(void)revents;
	if (sig_read(fd, &ev) == -1)
		log_error("cannot read signals: %s", strerror(errno));
	/* Children first: a stop then sees the slots as they are. */
	if (ev.child)
		dispatch(s, SIGCHLD);
	if (ev.hangup)
		dispatch(s, SIGHUP);
	if (ev.terminate)
		dispatch(s, ev.last_signo);
}

struct signals *
sig_open(struct loop *l)
{
	struct signals *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = l;
	s->fd = sig_init();
	if (s->fd == -1 || loop_watch(l, s->fd, POLLIN, on_readable, s) == -1) {
		if (s->fd != -1)
			(void)close(s->fd);
		free(s);
		return NULL;
	}
	return s;
}

void
sig_close(struct signals *s)
{
	if (s == NULL)
		return;
	loop_unwatch(s->loop, s->fd);
	(void)close(s->fd);
	free(s);
}

void
sig_on(struct signals *s, int signo, sig_fn fn, void *arg)
{
	int i = index_of(signo);

	if (i < 0)
		return;
	s->fn[i] = fn;
	s->arg[i] = arg;
}

void
sig_on_terminate(struct signals *s, sig_fn fn, void *arg)
{
	sig_on(s, SIGTERM, fn, arg);
	sig_on(s, SIGINT, fn, arg);
}

void
sig_child_reset(void)
{
	struct sigaction sa;
	sigset_t set;
	int signo;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	for (signo = 1; signo < NSIG; signo++) {
		if (signo == SIGKILL || signo == SIGSTOP)
			continue;
		/* Fails harmlessly for the numbers glibc reserves. */
		(void)sigaction(signo, &sa, NULL);
	}
	(void)sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
}
