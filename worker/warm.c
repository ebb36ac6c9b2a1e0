/*
 * warm: a warm worker's wait for its job, see worker.h. The supervisor
 * hears of every state change as a frame: 'W' when the worker is ready
 * (connected, or waiting without a connection), 'L' when it can no longer
 * serve a job on a connection opened ahead. After 'L' the worker still
 * waits for its job pipe: the supervisor may have handed it a job before
 * it read the 'L' (Race: either the job or the EOF comes, never neither),
 * and that job is made the ordinary way.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "proto_frame.h"
#include "worker.h"

/* Write a 'W' or 'L' frame: a letter, a space, text. A failure is
 * logged; the supervisor then learns from the job pipe or the kill. */
static void
say(int out_fd, char type, char letter, const char *text)
{
	char payload[512];
	int n;

	n = snprintf(payload, sizeof(payload), "%c%s%s", letter,
	    text[0] != '\0' ? " " : "", text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(payload))
		n = sizeof(payload) - 1;
	if (proto_frame_write(out_fd, type, payload, (size_t)n) == -1)
		log_warn("warm worker: cannot report: %s", strerror(errno));
}

/* Wait, without a limit, until fd is readable (or hung up). */
static void
wait_readable(int fd)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, -1) == -1 && errno == EINTR)
		;
}

void
worker_warm_wait(const struct job *tmpl, long idle_ms, int job_fd,
    int out_fd, struct conn **connp)
{
	struct conn *conn;
	char err[400];
	int r;

	*connp = NULL;
	if (!conn_is_usable(tmpl->base_url)) {
		say(out_fd, PROTO_FRAME_WARM, 'N', "");
		wait_readable(job_fd);
		return;
	}
	conn = conn_open(tmpl, out_fd, err, sizeof(err));
	if (conn == NULL) {
		log_debug("warm worker: %s", err);
		say(out_fd, PROTO_FRAME_LEAVE, 'F', err);
		wait_readable(job_fd);
		return;
	}
	say(out_fd, PROTO_FRAME_WARM, 'C', conn_addr(conn));
	r = conn_wait(conn, job_fd, idle_ms, err, sizeof(err));
	if (r == 1) {
		*connp = conn;
		return;
	}
	if (r == -1)
		(void)snprintf(err, sizeof(err), "cannot wait: %s",
		    strerror(errno));
	conn_close(conn);
	say(out_fd, PROTO_FRAME_LEAVE, 'I', err);
	wait_readable(job_fd);
}

void
worker_conn_free(struct conn *conn)
{
	conn_close(conn);
}
