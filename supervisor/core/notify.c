/*
 * notify: see notify.h. The protocol is sd_notify(3): one datagram per
 * message on an AF_UNIX socket whose path may be abstract ("@name").
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "log.h"
#include "core/notify.h"

static int			notify_fd = -1;
static struct sockaddr_un	notify_addr;
static socklen_t		notify_addr_len;
static int64_t			watchdog_ms;
static bool			send_failed;

int
notify_init(void)
{
	const char *path, *usec, *pid, *errstr;
	long long v;
	size_t len;

	path = getenv("NOTIFY_SOCKET");
	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (usec != NULL && (pid == NULL || strtonum(pid, 1, INT32_MAX,
	    &errstr) == (long long)getpid())) {
		v = strtonum(usec, 1, INT64_MAX / 2, &errstr);
		if (errstr == NULL)
			watchdog_ms = v / 2000 > 0 ? v / 2000 : 1;
	}
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	if (path == NULL || *path == '\0') {
		watchdog_ms = 0;
		return 0;
	}
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(notify_addr.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len + (path[0] == '@' ? 0 : 1));
	(void)unsetenv("NOTIFY_SOCKET");
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	return notify_fd == -1 ? -1 : 0;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		(void)close(notify_fd);
	notify_fd = -1;
}

void
notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_addr_len) == -1 &&
	    !send_failed) {
		send_failed = true;
		log_warn("cannot notify the service manager: %s",
		    strerror(errno));
	}
}

int64_t
notify_watchdog_ms(void)
{
	return notify_fd == -1 ? 0 : watchdog_ms;
}
