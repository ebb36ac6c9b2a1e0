/*
 * serve: see serve.h. main calls serve_init, runs the loop, then
 * serve_finish.
 *
 * Each connection is a session (protocol/session) with a fair line of its
 * own, so workers are shared round-robin between clients and each client
 * has its own caps on running (--conn-inflight) and waiting
 * (--conn-queue) requests, and all of them together at most --queue
 * waiting: a flooding client fills only its own line, and only its own
 * socket stops being read. Ids are per connection. This file adds what
 * is the service's own: accepting (peer credentials, --allow-uid,
 * --max-clients), the pidfile, systemd notification and watchdog, the
 * log reopened on SIGHUP, and the drain on SIGTERM. The HTTP front
 * (serve/http, --listen) shares the engine, the counters (serve/metrics)
 * and the drain.
 *
 * Invariant: a struct conn lives until its session is over (every
 * request answered), since the engine holds the session's requests; its
 * descriptor may be closed long before. Conns are freed in one place,
 * the LOOP_OUTPUT hook.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bsd/libutil.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "core/notify.h"
#include "engine/engine.h"
#include "protocol/session.h"
#include "serve/http.h"
#include "serve/listen.h"
#include "serve/metrics.h"
#include "serve/serve.h"

#define FLUSH_AT_EXIT_MS	2000
#define STATUS_EVERY_MS		5000
#define EVICT_IDLE_MIN_MS	1000	/* idle this long: room for others */

struct serve;

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct serve	*serve;
	struct session	*session;
	unsigned long	 no;		/* for logs */
	char		 name[32];	/* "client 7" */
};

TAILQ_HEAD(conn_list, conn);

struct serve {
	const struct config	*cfg;
	struct loop		*loop;
	struct signals		*sigs;
	struct engine		*engine;
	struct listener		 listener;
	struct http		*http;		/* NULL: no --listen */
	struct metrics		 metrics;
	struct pidfh		*pidfh;
	struct conn_list	 conns;
	size_t			 n_conns;
	unsigned long		 next_no;
	uint64_t		 refused;
	uint64_t		 closed_idle;	/* idle timeout or room made */
	uint64_t		 lines_refused;	/* over --max-buffered */
	bool			 stopping;
	int64_t			 flush_until_ms;	/* 0: not flushing */
	struct timer		 flush_timer;
	struct timer		 ping_timer;
	struct timer		 status_timer;
	struct timer		 accept_timer;	/* a pause in accepting ends */
	struct timer		 idle_timer;	/* look for idle clients */
	unsigned		 max_clients;	/* --max-clients, or fewer if
						 * descriptors do not allow */
};

static int
stats_extra(void *arg, char *out, size_t len)
{
	struct serve *sv = arg;

	return snprintf(out, len, "\"clients\":%zu,\"clients_refused\":%llu,"
	    "\"clients_closed_idle\":%llu,\"lines_refused\":%llu,"
	    "\"http_connections\":%zu",
	    sv->n_conns, (unsigned long long)sv->refused,
	    (unsigned long long)sv->closed_idle,
	    (unsigned long long)sv->lines_refused, http_n_conns(sv->http));
}

static size_t
socket_clients(void *arg)
{
	struct serve *sv = arg;

	return sv->n_conns;
}

/* The engine's answer for a socket client's request (an HTTP request
 * has its own callback, see serve/http). */
static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	struct serve *sv = arg;

	metrics_observe(&sv->metrics, a);
	session_answer(NULL, req, a);
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

/* Take the connection fd from a peer with credentials cred. */
static void
add_conn(struct serve *sv, int fd, const struct ucred *cred)
{
	struct session_params sp;
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_error("cannot take a client: %s", strerror(errno));
		(void)close(fd);
		return;
	}
	c->serve = sv;
	c->no = ++sv->next_no;
	(void)snprintf(c->name, sizeof(c->name), "client %lu", c->no);
	memset(&sp, 0, sizeof(sp));
	sp.in_fd = sp.out_fd = fd;
	sp.is_socket = true;
	sp.max_waiting = sv->cfg->conn_queue;
	sp.max_running = sv->cfg->conn_inflight;
	sp.name = c->name;
	sp.stats_extra = stats_extra;
	sp.arg = sv;
	c->session = session_new(sv->loop, sv->engine, sv->cfg, &sp);
	if (c->session == NULL) {
		log_error("cannot take a client: %s", strerror(errno));
		(void)close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&sv->conns, c, entry);
	sv->n_conns++;
	log_debug("client %lu: uid %lu, pid %ld", c->no,
	    (unsigned long)cred->uid, (long)cred->pid);
}

static void	free_conn(struct serve *, struct conn *);

/* The connection idle the longest, if one has been idle since before;
 * else NULL. Cost: O(connections). */
static struct conn *
idlest(const struct serve *sv, int64_t before)
{
	struct conn *c, *best = NULL;
	int64_t since, best_since = before;

	TAILQ_FOREACH(c, &sv->conns, entry) {
		since = session_idle_since(c->session);
		if (since >= 0 && since <= best_since) {
			best = c;
			best_since = since;
		}
	}
	return best;
}

/* Could a client make room for another? (At --max-clients.) */
static bool
has_idle(const struct serve *sv, int64_t now)
{
	return !sv->stopping &&
	    idlest(sv, now - EVICT_IDLE_MIN_MS) != NULL;
}

/* Close c, idle with nothing in flight (so its session is over at once). */
static void
close_idle(struct serve *sv, struct conn *c, int64_t now, const char *why)
{
	log_info("%s: closed after %lld ms idle: %s", c->name,
	    (long long)(now - session_idle_since(c->session)), why);
	sv->closed_idle++;
	session_stop_reading(c->session);
	free_conn(sv, c);
}

/* At --max-clients: the longest idle client leaves room for a new one. */
static void
close_idlest(struct serve *sv, int64_t now)
{
	struct conn *c;

	c = idlest(sv, now - EVICT_IDLE_MIN_MS);
	if (c != NULL)
		close_idle(sv, c, now, "room for a new client");
}

/* Every so often: close clients idle past --idle-timeout. */
static void
check_idle(void *owner, int64_t now)
{
	struct serve *sv = owner;
	struct conn *c, *next;
	int64_t since, every;

	for (c = TAILQ_FIRST(&sv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		since = session_idle_since(c->session);
		if (since >= 0 && now - since >= sv->cfg->idle_timeout_ms)
			close_idle(sv, c, now, "--idle-timeout");
	}
	every = sv->cfg->idle_timeout_ms / 10;
	every = every < 100 ? 100 : every > 5000 ? 5000 : every;
	loop_arm(sv->loop, &sv->idle_timer, now + every);
}

/*
 * Partial lines across clients stay within --max-buffered: while the
 * input held is over it, the biggest line still arriving is refused (its
 * client gets invalid_request with its id, if its first bytes hold one,
 * and the rest of it is skipped). Whole lines waiting for room are not:
 * each session holds those only while it stops reading. Cost: O(clients)
 * a turn, and a scan of what they hold when over budget.
 */
static void
bound_input(struct serve *sv)
{
	struct conn *c, *big;
	size_t held = 0, n, most;
	char why[160];

	TAILQ_FOREACH(c, &sv->conns, entry)
		held += session_held_bytes(c->session);
	while (held > sv->cfg->max_buffered) {
		big = NULL;
		most = 0;
		TAILQ_FOREACH(c, &sv->conns, entry) {
			n = session_partial_bytes(c->session);
			if (n > most) {
				most = n;
				big = c;
			}
		}
		if (big == NULL)
			return;
		(void)snprintf(why, sizeof(why), "request line refused after "
		    "%zu bytes: clients hold %zu bytes of unfinished lines, "
		    "over --max-buffered %zu", most, held,
		    sv->cfg->max_buffered);
		log_warn("%s: %s", big->name, why);
		sv->lines_refused++;
		session_refuse_partial(big->session, why);
		held -= most;
	}
}

static void
on_listen_fd(void *arg, int fd, short revents)
{
	struct serve *sv = arg;
	struct ucred cred;
	socklen_t len;
	int cfd;

	(void)fd;
	(void)revents;
	while (sv->n_conns < sv->max_clients || has_idle(sv, clock_ms())) {
		cfd = listen_accept(&sv->listener, clock_ms());
		if (cfd == -1) {
			/* Paused: wake when the pause is over. */
			if (errno != EAGAIN && listen_paused_until(
			    &sv->listener, clock_ms()) != 0)
				loop_arm(sv->loop, &sv->accept_timer,
				    listen_paused_until(&sv->listener,
				    clock_ms()));
			return;
		}
		len = sizeof(cred);
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred,
		    &len) == -1) {
			log_warn("cannot read peer credentials: %s",
			    strerror(errno));
			(void)close(cfd);
			continue;
		}
		if (!uid_allowed(sv->cfg, cred.uid)) {
			refuse(sv, cfd, cred.uid);
			continue;
		}
		if (sv->n_conns >= sv->max_clients)
			close_idlest(sv, clock_ms());
		add_conn(sv, cfd, &cred);
	}
}

static void
free_conn(struct serve *sv, struct conn *c)
{
	TAILQ_REMOVE(&sv->conns, c, entry);
	sv->n_conns--;
	session_free(c->session);
	log_debug("client %lu: closed", c->no);
	free(c);
}

static bool
all_flushed(const struct serve *sv)
{
	const struct conn *c;

	TAILQ_FOREACH(c, &sv->conns, entry)
		if (session_has_output(c->session))
			return false;
	return true;
}

/* LOOP_OUTPUT: free finished connections, accept only while there is
 * room, and stop once a drain is done and written. */
static void
sweep(void *arg, int64_t now)
{
	struct serve *sv = arg;
	struct conn *c, *next;

	bound_input(sv);
	for (c = TAILQ_FIRST(&sv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (session_is_over(c->session))
			free_conn(sv, c);
	}
	if (sv->listener.fd != -1)
		loop_events(sv->loop, sv->listener.fd,
		    (sv->n_conns < sv->max_clients || has_idle(sv, now)) &&
		    listen_paused_until(&sv->listener, now) == 0 ? POLLIN : 0);
	if (!sv->stopping || !engine_is_idle(sv->engine))
		return;
	if (sv->flush_until_ms == 0) {
		sv->flush_until_ms = now + FLUSH_AT_EXIT_MS;
		loop_arm(sv->loop, &sv->flush_timer, sv->flush_until_ms);
	}
	if ((all_flushed(sv) && http_n_conns(sv->http) == 0) ||
	    now >= sv->flush_until_ms)
		loop_stop(sv->loop);
}

static void
report_status(void *owner, int64_t now)
{
	struct serve *sv = owner;
	const struct engine_stats *st = engine_stats(sv->engine);

	notify_send("STATUS=%zu clients, %zu HTTP connections, %zu running, "
	    "%zu queued; %llu requests, %llu ok, %llu killed", sv->n_conns,
	    http_n_conns(sv->http), st->running,
	    st->queued, (unsigned long long)st->requests,
	    (unsigned long long)st->answered[REQ_OK],
	    (unsigned long long)st->workers_killed);
	loop_arm(sv->loop, &sv->status_timer, now + STATUS_EVERY_MS);
}

static void
ping_watchdog(void *owner, int64_t now)
{
	struct serve *sv = owner;

	notify_send("WATCHDOG=1");
	loop_arm(sv->loop, &sv->ping_timer, now + notify_watchdog_ms());
}

static void
on_terminate(void *arg, int signo)
{
	struct serve *sv = arg;
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
	loop_unwatch(sv->loop, sv->listener.fd);
	listen_close(&sv->listener);
	/* Gone at once, so nobody mistakes a draining server for a stale
	 * socket file, and a successor can start during the drain. */
	listen_remove(&sv->listener);
	TAILQ_FOREACH(c, &sv->conns, entry)
		session_stop_reading(c->session);
	if (sv->http != NULL)
		http_drain(sv->http);
	engine_shutdown(sv->engine, now, sv->cfg->drain_ms);
}

static void
on_hangup(void *arg, int signo)
{
	struct serve *sv = arg;

	(void)signo;
	if (sv->cfg->log_file != NULL && log_open_file(sv->cfg->log_file) == -1)
		log_error("cannot reopen log file '%s': %s", sv->cfg->log_file,
		    strerror(errno));
	else
		log_info("SIGHUP: log reopened");
}

/* Init: the pidfile, the socket, the engine, the loop's events. Returns
 * 0, or -1 after a message with *status set. */
static int
start(struct serve *sv, int *status)
{
	const struct config *cfg = sv->cfg;
	struct http_params hp;
	pid_t other;

	if (notify_init() == -1)
		log_warn("ignoring NOTIFY_SOCKET: %s", strerror(errno));
	if (cfg->pidfile != NULL) {
		sv->pidfh = pidfile_open(cfg->pidfile, 0644, &other);
		if (sv->pidfh == NULL) {
			if (errno == EEXIST) {
				log_error("already running as pid %ld (pidfile "
				    "'%s')", (long)other, cfg->pidfile);
				*status = EXIT_UNAVAILABLE;
			} else
				log_error("cannot open pidfile '%s': %s",
				    cfg->pidfile, strerror(errno));
			return -1;
		}
	}
	if (listen_open(&sv->listener, cfg, status) == -1)
		return -1;
	sv->max_clients = listen_max_clients(cfg->max_clients, cfg->jobs);
	*status = EXIT_SOFTWARE;
	sv->engine = engine_new(cfg, sv->loop, sv->sigs, NULL, on_answer, sv);
	if (sv->engine == NULL ||
	    loop_add_hook(sv->loop, LOOP_OUTPUT, sweep, sv) == -1 ||
	    (sv->listener.fd != -1 && loop_watch(sv->loop, sv->listener.fd,
	    POLLIN, on_listen_fd, sv) == -1)) {
		log_error("cannot start: %s", strerror(errno));
		return -1;
	}
	if (cfg->n_listen > 0 || sv->listener.n_tcp > 0) {
		hp = (struct http_params){ .loop = sv->loop,
		    .engine = sv->engine, .cfg = cfg, .metrics = &sv->metrics,
		    .fds = sv->listener.tcp_fds, .n_fds = sv->listener.n_tcp,
		    .socket_clients = socket_clients, .arg = sv };
		sv->listener.n_tcp = 0;
		sv->http = http_open(&hp, status);
		if (sv->http == NULL)
			return -1;
	}
	if (sv->pidfh != NULL && pidfile_write(sv->pidfh) == -1) {
		log_error("cannot write pidfile '%s': %s", cfg->pidfile,
		    strerror(errno));
		*status = EXIT_OSERR;
		return -1;
	}
	return 0;
}

void *
serve_init(const struct config *cfg, struct loop *l, struct signals *sigs,
    int *status)
{
	struct serve *sv;

	*status = EXIT_OSERR;
	sv = calloc(1, sizeof(*sv));
	if (sv == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return NULL;
	}
	*sv = (struct serve){ .cfg = cfg, .loop = l, .sigs = sigs,
	    .listener.fd = -1 };
	TAILQ_INIT(&sv->conns);
	loop_timer_init(&sv->flush_timer, NULL, sv);
	loop_timer_init(&sv->ping_timer, ping_watchdog, sv);
	loop_timer_init(&sv->status_timer, report_status, sv);
	loop_timer_init(&sv->accept_timer, NULL, sv);
	loop_timer_init(&sv->idle_timer, check_idle, sv);
	if (start(sv, status) == -1) {
		(void)serve_finish(sv, -1);
		return NULL;
	}
	if (sv->listener.fd != -1)
		log_info("serving on '%s' with %u workers",
		    sv->listener.path != NULL ? sv->listener.path :
		    "(socket from systemd)", cfg->jobs);
	else
		log_info("serving HTTP only with %u workers", cfg->jobs);
	notify_send("READY=1\nMAINPID=%ld", (long)getpid());
	report_status(sv, clock_ms());
	if (notify_watchdog_ms() > 0)
		ping_watchdog(sv, clock_ms());
	if (cfg->idle_timeout_ms > 0)
		check_idle(sv, clock_ms());
	sig_on_terminate(sigs, on_terminate, sv);
	sig_on(sigs, SIGHUP, on_hangup, sv);
	return sv;
}

int
serve_finish(void *state, int loop_status)
{
	struct serve *sv = state;
	struct conn *c;
	int status = loop_status == 0 ? 0 : EXIT_SOFTWARE;

	sig_on_terminate(sv->sigs, NULL, NULL);
	sig_on(sv->sigs, SIGHUP, NULL, NULL);
	loop_remove_hook(sv->loop, LOOP_OUTPUT, sweep, sv);
	loop_disarm(sv->loop, &sv->flush_timer);
	loop_disarm(sv->loop, &sv->ping_timer);
	loop_disarm(sv->loop, &sv->status_timer);
	loop_disarm(sv->loop, &sv->accept_timer);
	loop_disarm(sv->loop, &sv->idle_timer);
	if (sv->engine != NULL) {
		log_info("stopped");
		engine_free(sv->engine);
	}
	/* After the engine: no HTTP request is live any more. */
	http_free(sv->http);
	/* One last try each; a client that stopped reading cannot hold
	 * the exit up. */
	while ((c = TAILQ_FIRST(&sv->conns)) != NULL) {
		(void)session_flush(c->session);
		free_conn(sv, c);
	}
	loop_unwatch(sv->loop, sv->listener.fd);
	listen_close(&sv->listener);
	listen_remove(&sv->listener);
	if (sv->pidfh != NULL)
		(void)pidfile_remove(sv->pidfh);
	notify_close();
	free(sv);
	return status;
}
