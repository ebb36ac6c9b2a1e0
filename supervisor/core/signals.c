/*
 * signals: see signals.h. Linux signalfd; the kernel coalesces repeated
 * SIGCHLDs, so the reaper always loops waitpid until nothing is left.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "io.h"
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
