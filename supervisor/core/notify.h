/*
 * notify: the service manager's side channel, without libsystemd.
 *
 * When $NOTIFY_SOCKET is set (systemd Type=notify), notify_send writes
 * datagrams such as "READY=1", "STATUS=..." or "STOPPING=1" to it. When
 * $WATCHDOG_USEC is set for us, notify_watchdog_ms says how often to send
 * "WATCHDOG=1" (half the manager's timeout), so a wedged loop gets the
 * service restarted. Without $NOTIFY_SOCKET everything here is a no-op.
 * notify_init unsets the variables, so no child inherits them.
 */
#ifndef EMBEDWATCH_NOTIFY_H
#define EMBEDWATCH_NOTIFY_H

#include <stdint.h>

/* Read and unset the environment. Returns 0, or -1 with errno if
 * $NOTIFY_SOCKET is set but unusable. */
int	 notify_init(void);
void	 notify_close(void);

/* Send one message (several "KEY=value" lines joined by '\n'); errors
 * are logged once and otherwise ignored: the service keeps serving. */
void	 notify_send(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* Milliseconds between watchdog pings, or 0 when none are wanted. */
int64_t	 notify_watchdog_ms(void);

#endif
