/*
 * serve: see serve.h. Called by main after init; does its own init (log
 * file, pidfile, listening socket), runs the loop and the finish phase.
 *
 * Each connection speaks the pipe protocol and owns an engine_queue, so
 * workers are shared round-robin between clients and each client has its
 * own caps on running (--conn-inflight) and waiting (--conn-queue)
 * requests: a flooding client fills only its own line, and only its own
 * socket stops being read. Ids are per connection.
 *
 * A connection ends in one of two ways. The peer half-closes (EOF on
 * read, no POLLHUP): like stdin EOF in pipe mode, its requests finish and
 * their answers are written before we close. The peer hangs up (POLLHUP,
 * EPIPE, ECONNRESET): its descriptor is closed at once, its requests are
 * cancelled (queued ones dropped, running workers SIGKILLed) and their
 * answers discarded. Invariant: a struct conn lives until its last
 * request is answered (n_live == 0), because the engine holds pointers to
 * its queue; its descriptor may be closed long before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "buf.h"
#include "clock.h"
#include "engine/engine.h"
#include "io.h"
#include "protocol/lines.h"
#include "log.h"
#include "core/notify.h"
#include "engine/request.h"
#include "protocol/jsonl.h"
#include "serve/serve.h"
#include "core/signals.h"

#define READ_CHUNK		(64 * 1024)
#define OUT_HIGH_WATER		(4 * 1024 * 1024)
#define FLUSH_AT_EXIT_MS	2000
#define STATUS_EVERY_MS		5000
#define LISTEN_FDS_START	3

struct conn {
	TAILQ_ENTRY(conn) entry;
	int		 fd;		/* -1 once closed */
	unsigned long	 no;		/* for logs */
	uid_t		 uid;
	struct lines	 in;
	struct buf	 out;
	bool		 reading;	/* the peer may still send */
	bool		 hung_up;	/* answers go nowhere */
	size_t		 n_live;	/* requests the engine holds */
	struct engine_queue queue;
};

TAILQ_HEAD(conn_list, conn);

struct serve {
	const struct config	*cfg;
	struct engine		*engine;
	int			 listen_fd;
	bool			 own_socket;	/* we made the path: unlink it */
	dev_t			 sock_dev;	/* ... while it is still ours */
	ino_t			 sock_ino;
	struct pidfh		*pidfh;
	struct conn_list	 conns;
	size_t			 n_conns;
	unsigned long		 next_no;
	uint64_t		 refused;
	bool			 stopping;
	int64_t			 flush_until_ms;
	int64_t			 next_ping_ms;
	int64_t			 next_status_ms;
};

static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	struct conn *c = req->owner;

	(void)arg;
	c->n_live--;
	if (c->hung_up || c->fd == -1)
		return;
	if (jsonl_format_answer(&c->out, req->id_json, a) == -1)
		log_error("client %lu: cannot format answer for %s: %s", c->no,
		    req->id_json, strerror(errno));
}

/* The peer is gone: stop everything that would only serve it. */
static void
hang_up(struct serve *sv, struct conn *c, const char *why)
{
	if (c->fd == -1)
		return;
	log_debug("client %lu: %s; cancelling %zu requests", c->no, why,
	    c->n_live);
	(void)close(c->fd);
	c->fd = -1;
	c->hung_up = true;
	c->reading = false;
	lines_free(&c->in);
	buf_free(&c->out);
	(void)engine_cancel(sv->engine, c, NULL, clock_ms());
}

static void
answer_invalid(struct conn *c, const char *id_json, const char *msg)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = REQ_INVALID_REQUEST;
	a.message = msg;
	if (jsonl_format_answer(&c->out, id_json, &a) == -1)
		log_error("client %lu: cannot format answer: %s", c->no,
		    strerror(errno));
}

static void
handle_line(struct serve *sv, struct conn *c, const char *line, size_t len,
    int64_t now)
{
	struct request *req;
	char err[256], *id_json, extra[96];
	size_t i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			break;
	if (i == len)
		return;
	req = jsonl_parse_request(line, len, &id_json, err, sizeof(err));
	if (req == NULL) {
		engine_count(sv->engine, REQ_INVALID_REQUEST);
		answer_invalid(c, id_json, err);
		free(id_json);
		return;
	}
	switch (req->op) {
	case REQ_OP_EMBED:
		req->owner = c;
		req->queue = &c->queue;
		c->n_live++;
		engine_submit(sv->engine, req, now);
		return;
	case REQ_OP_CANCEL:
		(void)engine_cancel(sv->engine, c, req->id_json, now);
		break;
	case REQ_OP_STATS:
		(void)snprintf(extra, sizeof(extra), "\"clients\":%zu,"
		    "\"clients_refused\":%llu", sv->n_conns,
		    (unsigned long long)sv->refused);
		if (engine_format_stats(sv->engine, &c->out, req->id_json,
		    extra, now) == -1)
			log_error("cannot format stats: %s", strerror(errno));
		break;
	}
	request_free(req);
}

/* Hand c's complete lines to the engine while its line has room. */
static void
parse_lines(struct serve *sv, struct conn *c, int64_t now)
{
	const char *line;
	size_t len;

	while (c->fd != -1 && !engine_queue_is_full(&c->queue) &&
	    lines_next(&c->in, &line, &len))
		handle_line(sv, c, line, len, now);
}

static void
read_conn(struct serve *sv, struct conn *c, short revents)
{
	char msg[128], *id_json;
	const char *head;
	size_t len;

	switch (lines_read(&c->in, c->fd, READ_CHUNK)) {
	case LINES_OK:
	case LINES_AGAIN:
		return;
	case LINES_EOF:
		if ((revents & POLLHUP) != 0)
			hang_up(sv, c, "hung up");
		else
			c->reading = false;	/* half-closed: answer, then close */
		return;
	case LINES_TOO_LONG:
		(void)snprintf(msg, sizeof(msg), "request line longer than "
		    "%zu bytes (--max-line)", sv->cfg->max_line);
		head = lines_head(&c->in, &len);
		id_json = jsonl_peek_id(head, len);
		engine_count(sv->engine, REQ_INVALID_REQUEST);
		answer_invalid(c, id_json, msg);
		free(id_json);
		return;
	case LINES_ERROR:
		hang_up(sv, c, strerror(errno));
		return;
	}
}

static void
write_conn(struct serve *sv, struct conn *c)
{
	ssize_t n;

	while (c->fd != -1 && buf_len(&c->out) > 0) {
		n = buf_write_fd(&c->out, c->fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		hang_up(sv, c, n == 0 ? "stopped reading" : strerror(errno));
	}
}

static bool
wants_input(const struct serve *sv, const struct conn *c)
{
	return c->reading && !sv->stopping && c->fd != -1 &&
	    !engine_queue_is_full(&c->queue) && !lines_ready(&c->in) &&
	    buf_len(&c->out) < OUT_HIGH_WATER;
}

/* Free connections that have nothing left to do. */
static void
sweep_conns(struct serve *sv)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&sv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->n_live > 0)
			continue;
		if (c->fd != -1 && (c->reading || buf_len(&c->out) > 0 ||
		    !lines_done(&c->in)))
			continue;
		if (c->fd != -1)
			(void)close(c->fd);
		lines_free(&c->in);
		buf_free(&c->out);
		TAILQ_REMOVE(&sv->conns, c, entry);
		sv->n_conns--;
		log_debug("client %lu: closed", c->no);
		free(c);
	}
}

static bool
uid_allowed(const struct config *cfg, uid_t uid)
{
	size_t i;

	if (cfg->n_allow_uids == 0)
		return true;
	for (i = 0; i < cfg->n_allow_uids; i++)
		if (cfg->allow_uids[i] == uid)
			return true;
	return false;
}

static void
refuse(struct serve *sv, int fd, uid_t uid)
{
	char line[160];
	int n;

	sv->refused++;
	log_warn("refused a client with uid %lu: not in --allow-uid",
	    (unsigned long)uid);
	n = snprintf(line, sizeof(line), "{\"id\":null,\"ok\":false,\"error\":"
	    "{\"code\":\"forbidden\",\"message\":\"uid %lu may not use this "
	    "socket\",\"retryable\":false},\"attempts\":0,\"ms\":0}\n",
	    (unsigned long)uid);
	/* A fresh socket's buffer takes one short line; if not, too bad. */
	if (n > 0 && (size_t)n < sizeof(line))
		(void)io_write(fd, line, (size_t)n);
	(void)close(fd);
}

static void
accept_conns(struct serve *sv)
{
	struct ucred cred;
	socklen_t len;
	struct conn *c;
	int fd;

	while (sv->n_conns < sv->cfg->max_clients) {
		fd = accept4(sv->listen_fd, NULL, NULL,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("cannot accept: %s", strerror(errno));
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			log_warn("cannot read peer credentials: %s",
			    strerror(errno));
			(void)close(fd);
			continue;
		}
		if (!uid_allowed(sv->cfg, cred.uid)) {
			refuse(sv, fd, cred.uid);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			log_error("cannot take a client: %s", strerror(errno));
			(void)close(fd);
			return;
		}
		c->fd = fd;
		c->no = ++sv->next_no;
		c->uid = cred.uid;
		c->reading = true;
		lines_init(&c->in, sv->cfg->max_line);
		buf_init(&c->out, SIZE_MAX / 2);
		engine_queue_init(&c->queue, sv->cfg->conn_queue,
		    sv->cfg->conn_inflight);
		TAILQ_INSERT_TAIL(&sv->conns, c, entry);
		sv->n_conns++;
		log_debug("client %lu: uid %lu, pid %ld", c->no,
		    (unsigned long)cred.uid, (long)cred.pid);
	}
}

/* A listening socket from systemd, or -1 if we were not given one. */
static int
activated_socket(void)
{
	const char *pid, *fds, *errstr;
	long long n;

	pid = getenv("LISTEN_PID");
	fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL ||
	    strtonum(pid, 1, INT32_MAX, &errstr) != (long long)getpid())
		return -1;
	n = strtonum(fds, 1, 64, &errstr);
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	if (errstr != NULL || n != 1) {
		log_warn("ignoring LISTEN_FDS=%s: one socket expected", fds);
		return -1;
	}
	if (fcntl(LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) == -1 ||
	    io_set_nonblock(LISTEN_FDS_START, true) == -1)
		return -1;
	return LISTEN_FDS_START;
}

/*
 * Bind the socket path. A socket file nobody answers on is the leftover
 * of a crash and is replaced; one that answers belongs to a live server
 * and is never stolen. Returns the descriptor or -1 after a message,
 * with *status set.
 */
static int
bind_socket(struct serve *sv, int *status)
{
	const char *path = sv->cfg->socket_path;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_mask;
	int fd = -1, probe;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	(void)strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	*status = EXIT_OSERR;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("cannot listen on '%s': it exists and is not "
			    "a socket", path);
			*status = EXIT_CONFIG;
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe == -1) {
			log_error("cannot make a socket: %s", strerror(errno));
			return -1;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			(void)close(probe);
			log_error("cannot listen on '%s': another server is "
			    "answering on it", path);
			*status = EXIT_UNAVAILABLE;
			return -1;
		}
		if (errno != ECONNREFUSED) {
			log_error("cannot check socket '%s': %s", path,
			    strerror(errno));
			(void)close(probe);
			return -1;
		}
		(void)close(probe);
		log_info("replacing stale socket '%s'", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_error("cannot remove stale socket '%s': %s", path,
			    strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		log_error("cannot make a socket: %s", strerror(errno));
		return -1;
	}
	/* Race: no moment with looser permissions than asked for. */
	old_mask = umask((mode_t)(~sv->cfg->socket_mode & 0777));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		(void)umask(old_mask);
		log_error("cannot bind '%s': %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	(void)umask(old_mask);
	if (lstat(path, &st) == 0) {
		sv->own_socket = true;
		sv->sock_dev = st.st_dev;
		sv->sock_ino = st.st_ino;
	}
	if (chmod(path, sv->cfg->socket_mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		log_error("cannot listen on '%s': %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
}

/*
 * Remove the socket path if it is still the one we bound. Race: once we
 * stop listening, another instance may already have replaced it; its
 * socket has another inode and is left alone.
 */
static void
remove_socket(struct serve *sv)
{
	struct stat st;

	if (!sv->own_socket)
		return;
	sv->own_socket = false;
	if (lstat(sv->cfg->socket_path, &st) == -1 ||
	    st.st_dev != sv->sock_dev || st.st_ino != sv->sock_ino)
		return;
	if (unlink(sv->cfg->socket_path) == -1)
		log_warn("cannot remove socket '%s': %s", sv->cfg->socket_path,
		    strerror(errno));
}

static void
report_status(struct serve *sv, int64_t now)
{
	const struct engine_stats *st = engine_stats(sv->engine);

	notify_send("STATUS=%zu clients, %zu running, %zu queued; %llu "
	    "requests, %llu ok, %llu killed", sv->n_conns, st->running,
	    st->queued, (unsigned long long)st->requests,
	    (unsigned long long)st->answered[REQ_OK],
	    (unsigned long long)st->workers_killed);
	sv->next_status_ms = now + STATUS_EVERY_MS;
}

static void
begin_stop(struct serve *sv, int signo)
{
	struct conn *c;
	int64_t now = clock_ms();

	if (sv->stopping) {
		log_info("%s again: stopping in-flight work now",
		    strsignal(signo));
		engine_shutdown(sv->engine, now, 0);
		return;
	}
	log_info("%s: no new clients or requests; draining", strsignal(signo));
	sv->stopping = true;
	notify_send("STOPPING=1");
	(void)close(sv->listen_fd);
	sv->listen_fd = -1;
	/* Gone at once, so nobody mistakes a draining server for a stale
	 * socket file, and a successor can start during the drain. */
	remove_socket(sv);
	TAILQ_FOREACH(c, &sv->conns, entry) {
		c->reading = false;
		lines_close(&c->in);
	}
	engine_shutdown(sv->engine, now, sv->cfg->drain_ms);
}

static bool
all_flushed(const struct serve *sv)
{
	const struct conn *c;

	TAILQ_FOREACH(c, &sv->conns, entry)
		if (c->fd != -1 && buf_len(&c->out) > 0)
			return false;
	return true;
}

static int
loop(struct serve *sv, int sig_fd)
{
	struct sig_events ev;
	struct pollfd *pfd = NULL;
	struct conn **polled = NULL, *c;
	size_t n, max = 0, i, first_conn, n_eng;
	int64_t now, wake;
	int timeout, r, i_listen;

	for (;;) {
		now = clock_ms();
		TAILQ_FOREACH(c, &sv->conns, entry)
			parse_lines(sv, c, now);
		engine_run_due(sv->engine, now);
		TAILQ_FOREACH(c, &sv->conns, entry)
			write_conn(sv, c);
		sweep_conns(sv);
		if (notify_watchdog_ms() > 0 && now >= sv->next_ping_ms) {
			notify_send("WATCHDOG=1");
			sv->next_ping_ms = now + notify_watchdog_ms();
		}
		if (now >= sv->next_status_ms)
			report_status(sv, now);
		if (sv->stopping && engine_is_idle(sv->engine)) {
			if (sv->flush_until_ms == 0)
				sv->flush_until_ms = now + FLUSH_AT_EXIT_MS;
			if (all_flushed(sv) || now >= sv->flush_until_ms)
				break;
		}

		if (max < 2 + sv->n_conns + engine_max_workers(sv->engine)) {
			max = 2 + sv->n_conns * 2 + engine_max_workers(
			    sv->engine);
			free(pfd);
			free(polled);
			pfd = calloc(max, sizeof(*pfd));
			polled = calloc(max, sizeof(*polled));
			if (pfd == NULL || polled == NULL) {
				log_error("cannot allocate the poll set: %s",
				    strerror(errno));
				free(pfd);
				free(polled);
				return -1;
			}
		}
		n = 0;
		pfd[n].fd = sig_fd;
		pfd[n++].events = POLLIN;
		i_listen = -1;
		if (sv->listen_fd != -1 && sv->n_conns < sv->cfg->max_clients) {
			i_listen = (int)n;
			pfd[n].fd = sv->listen_fd;
			pfd[n++].events = POLLIN;
		}
		first_conn = n;
		TAILQ_FOREACH(c, &sv->conns, entry) {
			if (c->fd == -1)
				continue;
			polled[n] = c;
			pfd[n].fd = c->fd;
			pfd[n].events = (short)((wants_input(sv, c) ? POLLIN :
			    0) | (buf_len(&c->out) > 0 ? POLLOUT : 0));
			pfd[n++].revents = 0;
		}
		n_eng = engine_pollfds(sv->engine, pfd + n, max - n);

		/* Fresh time: spawning in this turn may have taken a while. */
		now = clock_ms();
		timeout = engine_timeout_ms(sv->engine, now);
		wake = sv->next_status_ms;
		if (notify_watchdog_ms() > 0 && sv->next_ping_ms < wake)
			wake = sv->next_ping_ms;
		if (sv->flush_until_ms > 0 && sv->flush_until_ms < wake)
			wake = sv->flush_until_ms;
		if (timeout < 0 || wake - now < timeout)
			timeout = wake > now ? (int)(wake - now) : 0;

		r = poll(pfd, n + n_eng, timeout);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents != 0) {
			if (sig_read(sig_fd, &ev) == -1)
				log_error("cannot read signals: %s",
				    strerror(errno));
			if (ev.child)
				engine_reap(sv->engine);
			if (ev.hangup && sv->cfg->log_file != NULL &&
			    log_open_file(sv->cfg->log_file) == -1)
				log_error("cannot reopen log file '%s': %s",
				    sv->cfg->log_file, strerror(errno));
			else if (ev.hangup)
				log_info("SIGHUP: log reopened");
			if (ev.terminate)
				begin_stop(sv, ev.last_signo);
		}
		for (i = first_conn; i < n; i++) {
			c = polled[i];
			if (pfd[i].revents == 0 || c->fd != pfd[i].fd)
				continue;
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0
			    && c->reading)
				read_conn(sv, c, pfd[i].revents);
			else if ((pfd[i].revents & (POLLHUP | POLLERR)) != 0)
				hang_up(sv, c, "hung up");
			if (c->fd != -1 && (pfd[i].revents & POLLOUT) != 0)
				write_conn(sv, c);
		}
		engine_handle_pollfds(sv->engine, pfd + n, n_eng);
		if (i_listen != -1 && sv->listen_fd != -1 &&
		    pfd[i_listen].revents != 0)
			accept_conns(sv);
	}
	free(pfd);
	free(polled);
	return 0;
}

int
serve_run(const struct config *cfg, int sig_fd)
{
	struct serve sv;
	struct conn *c;
	pid_t other;
	int status = EXIT_OSERR;

	memset(&sv, 0, sizeof(sv));
	sv.cfg = cfg;
	sv.listen_fd = -1;
	TAILQ_INIT(&sv.conns);

	/* Init (main already sent the log to --log-file). */
	if (notify_init() == -1)
		log_warn("ignoring NOTIFY_SOCKET: %s", strerror(errno));
	if (cfg->pidfile != NULL) {
		sv.pidfh = pidfile_open(cfg->pidfile, 0644, &other);
		if (sv.pidfh == NULL) {
			if (errno == EEXIST) {
				log_error("already running as pid %ld (pidfile "
				    "'%s')", (long)other, cfg->pidfile);
				status = EXIT_UNAVAILABLE;
			} else
				log_error("cannot open pidfile '%s': %s",
				    cfg->pidfile, strerror(errno));
			goto out;
		}
	}
	sv.listen_fd = activated_socket();
	if (sv.listen_fd == -1) {
		if (cfg->socket_path == NULL) {
			log_error("serve needs --socket PATH (or systemd "
			    "socket activation)");
			status = EXIT_USAGE;
			goto out;
		}
		sv.listen_fd = bind_socket(&sv, &status);
		if (sv.listen_fd == -1)
			goto out;
	}
	sv.engine = engine_new(cfg, on_answer, &sv);
	if (sv.engine == NULL) {
		log_error("cannot start: %s", strerror(errno));
		status = EXIT_SOFTWARE;
		goto out;
	}
	if (sv.pidfh != NULL && pidfile_write(sv.pidfh) == -1) {
		log_error("cannot write pidfile '%s': %s", cfg->pidfile,
		    strerror(errno));
		goto out;
	}
	log_info("serving on '%s' with %u workers", cfg->socket_path != NULL ?
	    cfg->socket_path : "(socket from systemd)", cfg->jobs);
	notify_send("READY=1\nMAINPID=%ld", (long)getpid());
	report_status(&sv, clock_ms());

	/* Loop and finish. */
	status = loop(&sv, sig_fd) == 0 ? 0 : EXIT_SOFTWARE;
	log_info("stopped");
	engine_free(sv.engine);
	sv.engine = NULL;
	while ((c = TAILQ_FIRST(&sv.conns)) != NULL) {
		if (c->fd != -1) {
			/* One last try; a client that stopped reading
			 * cannot hold the exit up. */
			write_conn(&sv, c);
			if (c->fd != -1)
				(void)close(c->fd);
		}
		lines_free(&c->in);
		buf_free(&c->out);
		TAILQ_REMOVE(&sv.conns, c, entry);
		free(c);
	}
out:
	engine_free(sv.engine);
	if (sv.listen_fd != -1)
		(void)close(sv.listen_fd);
	remove_socket(&sv);
	if (sv.pidfh != NULL)
		(void)pidfile_remove(sv.pidfh);
	notify_close();
	return status;
}
