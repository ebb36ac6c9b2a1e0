/*
 * slot: see slot.h. Called by the engine only.
 *
 * A slot's life: free -> busy (warm, or running an attempt) -> both EOF
 * and reap in -> SLOT_ENDED -> free. The result pipe is watched on the
 * loop while open; a warm worker's job pipe is watched for writing only
 * while a job is being handed over. The kill timer fires at the
 * attempt's deadline; if by then the worker was reaped but its pipe is
 * still open (a grandchild holds it), the pipe is closed instead.
 *
 * Cost: picking, sweeping and finding a pid walk the table, O(slots) per
 * call; with slots in the tens or hundreds that is cheaper than indexes.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_progress.h"
#include "proto_result.h"
#include "engine/slot.h"

#define WARM_PER_TURN	4	/* warm forks per loop turn */
#define WARM_RETRY_MS	1000	/* after a failed warm fork */
#define WARM_CONNECT_MS	10000	/* a warm worker's default connect time */
#define WARM_SLACK_MS	1000	/* ... and what we give it on top */
#define WARM_BACKOFF_MS	250	/* after a failed connect, doubling */
#define WARM_SHORT_MS	100	/* a connection lost sooner: a failure */
#define WARM_BACKOFF_MAX_MS 30000
#define HINT_ADDR_TTL_MS 60000	/* an address learned stays this fresh */
#define HINT_SESSION_MAX 16384	/* bytes of a TLS session we keep */

/* Where a warm worker stands (slot.warm_state). */
enum warm_state {
	WARM_NONE,		/* not warm: running, or never was */
	WARM_STARTING,		/* forked, not ready yet */
	WARM_READY,		/* connected (or waits without) */
	WARM_LEFT		/* said it can no longer serve: let go */
};

struct slot {
	struct slots	*table;
	bool		 in_use;
	bool		 warm;		/* forked ahead, no job yet */
	enum warm_state	 warm_state;
	int64_t		 ready_ms;	/* when it said 'W' */
	int64_t		 forked_ms;	/* when it was forked */
	bool		 served;	/* was given a job */
	bool		 hinted;	/* was given an address hint */
	bool		 endpoint;	/* its call is to the hints' endpoint */
	void		*owner;		/* the engine's attempt, or NULL */
	pid_t		 pid;		/* 0 once reaped */
	int		 fd;		/* result pipe; -1 after EOF */
	int		 job_fd;	/* warm worker's stdin; -1 once closed */
	struct buf	 job_out;	/* job bytes not yet written to it */
	int		 wait_status;
	bool		 reaped;
	enum slot_kill	 killed;
	int64_t		 started_ms;
	struct timer	 timer;		/* kill at the deadline */
	struct buf	 in;		/* frames not yet parsed */
	struct proto_progress progress;
	bool		 has_progress;	/* at least one 'P' frame came */
	bool		 has_result;
	struct proto_result result;
	char		*body;		/* 'B' frame, on success */
	size_t		 body_len;
	char		 garbage[128];	/* why the frames were refused */
};

struct slots {
	struct loop		*loop;
	const struct spawner	*spawner;
	struct slot		*slot;
	size_t			 n;
	size_t			 frame_max;
	const char		*host;
	bool			 tls;
	slot_event_fn		 fn;
	void			*arg;
	struct slot_counts	 counts;
	int64_t			 warm_after_ms;	/* no warm forks before */
	struct timer		 warm_timer;	/* ... then wake up */
	unsigned		 warm_failing;	/* connects failed in a row */
	size_t			 limit;		/* attempts running at once */
	/* What calls learned, handed to later ones (hints.h): opaque. */
	char			*hint_url;	/* the endpoint they are for */
	char			 hint_addr[64];	/* "ip:port"; "" none */
	int64_t			 hint_addr_ms;	/* when it was learned */
	unsigned char		*hint_session;	/* DER TLS session */
	size_t			 hint_session_len;
};

static void	on_result_fd(void *, int, short);
static void	on_job_fd(void *, int, short);
static void	on_deadline(void *, int64_t);

/* Tell the engine, if it still cares. */
static void
fire(struct slot *s, enum slot_event ev, int64_t now)
{
	if (s->owner != NULL || ev == SLOT_ENDED)
		s->table->fn(s->table->arg, s, ev, now);
}

struct slots *
slots_new(struct loop *l, const struct spawner *sp, size_t n,
    size_t frame_max, const char *host, bool tls, slot_event_fn fn, void *arg)
{
	struct slots *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->slot = calloc(n, sizeof(*t->slot));
	if (t->slot == NULL) {
		free(t);
		return NULL;
	}
	t->loop = l;
	t->spawner = sp;
	t->n = n;
	t->limit = n;
	t->frame_max = frame_max;
	t->host = host;
	t->tls = tls;
	t->fn = fn;
	t->arg = arg;
	loop_timer_init(&t->warm_timer, NULL, t);
	for (i = 0; i < n; i++) {
		t->slot[i].table = t;
		t->slot[i].fd = -1;
		t->slot[i].job_fd = -1;
		loop_timer_init(&t->slot[i].timer, on_deadline, &t->slot[i]);
	}
	return t;
}

/* Stop watching *fd and close it, if open. */
static void
close_watched(struct slot *s, int *fd)
{
	if (*fd == -1)
		return;
	loop_unwatch(s->table->loop, *fd);
	(void)close(*fd);
	*fd = -1;
}

static void
close_result_fd(struct slot *s)
{
	close_watched(s, &s->fd);
}

static void
close_job_fd(struct slot *s)
{
	buf_free(&s->job_out);
	close_watched(s, &s->job_fd);
}

/* Put a freshly started worker in the free slot s, without an owner. */
static int
occupy(struct slot *s, pid_t pid, int fd, int job_fd)
{
	struct slots *t = s->table;

	s->in_use = true;
	s->warm = false;
	s->warm_state = WARM_NONE;
	s->served = false;
	s->hinted = false;
	s->endpoint = false;
	s->ready_ms = 0;
	s->owner = NULL;
	s->pid = pid;
	s->fd = fd;
	s->job_fd = job_fd;
	s->wait_status = 0;
	s->reaped = false;
	s->killed = SLOT_KILL_NONE;
	s->has_progress = false;
	s->has_result = false;
	s->garbage[0] = '\0';
	proto_progress_init(&s->progress);
	buf_init(&s->in, t->frame_max + PROTO_FRAME_HDR);
	buf_init(&s->job_out, PROTO_FRAME_MAX);
	t->counts.busy++;
	t->counts.started++;
	if (loop_watch(t->loop, fd, POLLIN, on_result_fd, s) == -1 ||
	    (job_fd != -1 &&
	    loop_watch(t->loop, job_fd, 0, on_job_fd, s) == -1)) {
		/* Without its pipe the worker cannot be heard: the caller
		 * kills it, and the slot is freed at its reap. */
		log_error("cannot watch worker %ld: %s", (long)pid,
		    strerror(errno));
		close_result_fd(s);
		close_job_fd(s);
		return -1;
	}
	return 0;
}

/* Free the slot; its worker is reaped and its pipes are closed. */
static void
release(struct slot *s)
{
	struct slots *t = s->table;

	loop_disarm(t->loop, &s->timer);
	close_result_fd(s);
	close_job_fd(s);
	if (s->warm) {
		s->warm = false;
		t->counts.warm--;
	}
	if (s->warm_state == WARM_LEFT)
		t->counts.leaving--;
	s->warm_state = WARM_NONE;
	buf_free(&s->in);
	free(s->body);
	s->body = NULL;
	s->body_len = 0;
	s->in_use = false;
	s->owner = NULL;
	t->counts.busy--;
}

void
slot_kill(struct slot *s, enum slot_kill why)
{
	static const char *const reason[] = {
		"none", "deadline", "shutdown", "cancel", "lost the race",
		"protocol error"
	};

	if (!s->in_use || s->pid == 0 || s->killed != SLOT_KILL_NONE)
		return;
	if (s->table->spawner->kill(s->table->spawner->ctx, s->pid) == -1)
		log_warn("cannot kill worker %ld: %s", (long)s->pid,
		    strerror(errno));
	else
		log_debug("killed worker %ld (%s)", (long)s->pid, reason[why]);
	s->killed = why;
	/* One that already delivered its result was finishing anyway, and
	 * an idle warm one was doing nothing. */
	if (s->has_result || !s->served)
		return;
	s->table->counts.killed++;
	s->table->counts.killed_by[why]++;
	/* After a protocol error the exit status is wanted: that waits
	 * for SLOT_ENDED. */
	if (why != SLOT_KILL_GARBAGE)
		fire(s, SLOT_KILLED, clock_ms());
}

void
slots_kill_all(struct slots *t, enum slot_kill why)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->slot[i].in_use)
			slot_kill(&t->slot[i], why);
}

/* The worker broke the protocol: stop listening and kill it. */
static void
refuse_frames(struct slot *s, const char *why)
{
	(void)snprintf(s->garbage, sizeof(s->garbage), "%s", why);
	log_warn("worker %ld: %s", (long)s->pid, why);
	close_result_fd(s);
	slot_kill(s, SLOT_KILL_GARBAGE);
}

/* Do calls of base_url share the hints? The first endpoint seen owns
 * them (with fallback endpoints, the others go without). */
static bool
hint_endpoint(struct slots *t, const char *base_url)
{
	if (base_url == NULL)
		return false;
	if (t->hint_url == NULL)
		t->hint_url = strdup(base_url);
	return t->hint_url != NULL && strcmp(t->hint_url, base_url) == 0;
}

/* out = job with the hints that fit it; says whether it is for the
 * hints' endpoint and got an address hint. */
static void
add_hints(struct slots *t, const struct job *job, struct job *out,
    bool *endpoint, bool *hinted)
{
	*out = *job;
	*hinted = false;
	*endpoint = hint_endpoint(t, job->base_url);
	if (!*endpoint)
		return;
	if (t->hint_addr[0] != '\0' && out->resolve_addr == NULL &&
	    clock_ms() - t->hint_addr_ms < HINT_ADDR_TTL_MS) {
		out->resolve_addr = t->hint_addr;
		*hinted = true;
	}
	if (t->hint_session != NULL && out->tls_session == NULL) {
		out->tls_session = t->hint_session;
		out->tls_session_len = t->hint_session_len;
	}
}

/* A worker that resolved the endpoint itself says where it went. */
static void
learn_addr(struct slot *s, const char *addr, size_t len, int64_t now)
{
	struct slots *t = s->table;

	if (!s->endpoint || s->hinted || len == 0 ||
	    len >= sizeof(t->hint_addr) || memchr(addr, '\0', len) != NULL)
		return;
	memcpy(t->hint_addr, addr, len);
	t->hint_addr[len] = '\0';
	t->hint_addr_ms = now;
}

/* An 'S' frame: the peer, a NUL, the session; kept as opaque bytes. */
static void
learn_session(struct slot *s, const char *payload, size_t len)
{
	struct slots *t = s->table;
	const char *nul;
	unsigned char *copy;
	size_t n;

	nul = memchr(payload, '\0', len);
	if (!s->endpoint || nul == NULL)
		return;
	n = len - (size_t)(nul + 1 - payload);
	if (n == 0 || n > HINT_SESSION_MAX)
		return;
	copy = malloc(n);
	if (copy == NULL)
		return;
	memcpy(copy, nul + 1, n);
	free(t->hint_session);
	t->hint_session = copy;
	t->hint_session_len = n;
	log_debug("worker %d: a new TLS session of %zu bytes, for the next "
	    "workers to resume", (int)s->pid, n);
}

/* After a network failure the address or session may be what failed. */
static void
forget_hints(struct slots *t)
{
	t->hint_addr[0] = '\0';
	free(t->hint_session);
	t->hint_session = NULL;
	t->hint_session_len = 0;
}

/* A warm worker could not connect: count it, and back refills off. */
static void
warm_failed(struct slots *t, int64_t now)
{
	long delay;

	t->counts.warm_failures++;
	if (t->warm_failing < 8)
		t->warm_failing++;
	delay = WARM_BACKOFF_MS << (t->warm_failing - 1);
	if (delay > WARM_BACKOFF_MAX_MS)
		delay = WARM_BACKOFF_MAX_MS;
	if (t->warm_after_ms < now + delay)
		t->warm_after_ms = now + delay;
	loop_arm(t->loop, &t->warm_timer, t->warm_after_ms);
}

/* Let an unserved warm worker go: it exits at EOF on its job pipe. */
static void
let_go(struct slot *s)
{
	struct slots *t = s->table;

	if (!s->warm)
		return;
	s->warm = false;
	t->counts.warm--;
	t->counts.leaving++;
	s->warm_state = WARM_LEFT;
	loop_disarm(t->loop, &s->timer);
	close_job_fd(s);
	loop_wake(t->loop);	/* a refill */
}

/* 'W': ready, with "C addr" once connected. */
static void
warm_ready(struct slot *s, const char *payload, size_t len, int64_t now)
{
	struct slots *t = s->table;

	s->ready_ms = now;
	if (s->warm_state == WARM_STARTING) {
		/* How long a refill takes, for the pool's size: an average
		 * that follows the last eight or so. */
		t->counts.warm_ready_ms = t->counts.warm_ready_ms == 0 ?
		    (long)(now - s->forked_ms) + 1 :
		    (t->counts.warm_ready_ms * 7 + (long)(now - s->forked_ms)) /
		    8 + 1;
		s->warm_state = WARM_READY;
		loop_disarm(t->loop, &s->timer);	/* connect deadline */
	}
	if (len >= 2 && payload[0] == 'C') {
		t->warm_failing = 0;
		learn_addr(s, payload + 2, len - 2, now);
	}
}

/* 'L': it can no longer serve a job on its connection. */
static void
warm_leaves(struct slot *s, const char *payload, size_t len, int64_t now)
{
	struct slots *t = s->table;

	/* Refused, or accepted and dropped at once: either way no pool can
	 * be kept, and refills must not turn into a fork loop. */
	if ((len >= 1 && payload[0] == 'F') ||
	    (s->ready_ms > 0 && now - s->ready_ms < WARM_SHORT_MS)) {
		if (t->warm_failing == 0)
			log_warn("warm worker %ld: %.*s", (long)s->pid,
			    (int)(len > 2 ? len - 2 : 0), payload + 2);
		warm_failed(t, now);
	} else
		log_debug("warm worker %ld: %.*s", (long)s->pid,
		    (int)(len > 2 ? len - 2 : 0), payload + 2);
	/* Race: a job handed over already is made the ordinary way. */
	if (!s->served)
		let_go(s);
}

/* Take one complete frame; returns false once the frames were refused. */
static bool
take_frame(struct slot *s, char type, const char *payload, size_t len)
{
	char err[128];

	if (s->has_result) {
		refuse_frames(s, "frame after the result");
		return false;
	}
	switch (type) {
	case PROTO_FRAME_PROGRESS:
		if (proto_progress_decode((const unsigned char *)payload, len,
		    &s->progress) == -1) {
			refuse_frames(s, "bad progress frame");
			return false;
		}
		s->has_progress = true;
		if (s->progress.connected_ms >= 0)
			learn_addr(s, s->progress.addr,
			    strlen(s->progress.addr), clock_ms());
		return true;
	case PROTO_FRAME_WARM:
		warm_ready(s, payload, len, clock_ms());
		return true;
	case PROTO_FRAME_LEAVE:
		warm_leaves(s, payload, len, clock_ms());
		return true;
	case PROTO_FRAME_SESSION:
		learn_session(s, payload, len);
		return true;
	case PROTO_FRAME_BODY:
		free(s->body);
		s->body = malloc(len + 1);
		if (s->body == NULL) {
			refuse_frames(s, "out of memory for the body");
			return false;
		}
		memcpy(s->body, payload, len);
		s->body[len] = '\0';
		s->body_len = len;
		return true;
	case PROTO_FRAME_RESULT:
		if (proto_result_decode(payload, len, &s->result, err,
		    sizeof(err)) == -1) {
			refuse_frames(s, err);
			return false;
		}
		if (s->result.class == PROTO_OK && s->body == NULL) {
			refuse_frames(s, "ok result without a body");
			return false;
		}
		s->has_result = true;
		return true;
	default:
		return true;
	}
}

/* Parse every complete frame at the front of s->in. */
static void
parse_frames(struct slot *s)
{
	const char *payload;
	size_t len;
	char type;
	int r;

	while ((r = proto_frame_peek(&s->in, s->table->frame_max, &type,
	    &payload, &len)) == 1) {
		if (!take_frame(s, type, payload, len))
			return;
		buf_consume(&s->in, PROTO_FRAME_HDR + len);
		/* A big body was copied out: do not hold it twice. */
		buf_shrink(&s->in, 1 << 16);
		/* The outcome is known: the engine answers now, and the
		 * slot waits for the exit and the reap on its own. */
		if (type == PROTO_FRAME_RESULT && s->endpoint &&
		    s->result.class == PROTO_NETWORK)
			forget_hints(s->table);
		if (type == PROTO_FRAME_RESULT)
			fire(s, SLOT_RESULT, clock_ms());
		if (!s->in_use || s->fd == -1)
			return;
	}
	if (r == -1)
		refuse_frames(s, "bad frame");
}

static void
on_result_fd(void *arg, int fd, short revents)
{
	struct slot *s = arg;
	ssize_t n;

	(void)fd;
	(void)revents;
	while (s->fd != -1) {
		n = buf_read_fd(&s->in, s->fd, 1 << 16);
		if (n > 0) {
			parse_frames(s);
			continue;
		}
		if (n == 0) {
			/* A frame left half-written broke the protocol:
			 * kill it, since a worker that closed its stdout
			 * may still run (slot_kill spares a reaped one). */
			if (buf_len(&s->in) > 0 && !s->has_result)
				refuse_frames(s, "result cut short");
			else
				close_result_fd(s);
			buf_free(&s->in);
		} else if (errno == ENOBUFS)
			refuse_frames(s, "result larger than the cap");
		else if (errno != EAGAIN) {
			log_warn("cannot read worker %ld: %s", (long)s->pid,
			    strerror(errno));
			close_result_fd(s);
		}
		return;
	}
}

/* Write what the worker's job pipe takes; close it when all is in. */
static void
feed_job(struct slot *s)
{
	ssize_t n;

	while (s->job_fd != -1 && buf_len(&s->job_out) > 0) {
		n = buf_write_fd(&s->job_out, s->job_fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN) {
			loop_events(s->table->loop, s->job_fd, POLLOUT);
			return;
		}
		/* It is gone (EPIPE): its reap and EOF will tell why. */
		log_debug("worker %ld: cannot write its job: %s", (long)s->pid,
		    n == 0 ? "no progress" : strerror(errno));
		break;
	}
	close_job_fd(s);
}

static void
on_job_fd(void *arg, int fd, short revents)
{
	(void)fd;
	(void)revents;
	feed_job(arg);
}

static void
on_deadline(void *owner, int64_t now)
{
	struct slot *s = owner;

	if (s->warm && !s->served) {
		/* A warm worker that did not connect in time. */
		log_warn("warm worker %ld: not ready within the connect "
		    "timeout; killed", (long)s->pid);
		warm_failed(s->table, now);
		let_go(s);
		slot_kill(s, SLOT_KILL_DEADLINE);
		return;
	}
	if (!s->reaped) {
		slot_kill(s, SLOT_KILL_DEADLINE);
		return;
	}
	/* Gone, but something still holds its pipe open. */
	if (!s->has_result)
		refuse_frames(s, "result pipe still open after the worker "
		    "exited");
	close_result_fd(s);
}

int
slot_start(struct slot *s, const struct job *job, void *owner,
    int64_t kill_at_ms)
{
	struct slots *t = s->table;
	struct job hinted_job;
	bool endpoint, hinted;
	int fd;
	pid_t pid;

	add_hints(t, job, &hinted_job, &endpoint, &hinted);
	if (s->in_use && s->warm) {
		/* Forked ahead: hand it the job; the pipe takes what it can
		 * now and the rest as the worker reads. It connected with
		 * the hints it was forked with. */
		if (proto_job_to_json(&hinted_job, &s->job_out) == -1)
			return -1;
		s->warm = false;
		s->warm_state = WARM_NONE;
		t->counts.warm--;
		feed_job(s);
	} else if (t->spawner->start(t->spawner->ctx, &hinted_job, &pid,
	    &fd) == -1) {
		t->counts.spawn_failures++;
		return -1;
	} else if (occupy(s, pid, fd, -1) == -1) {
		slot_kill(s, SLOT_KILL_GARBAGE);
		errno = ENOMEM;
		return -1;
	} else {
		s->endpoint = endpoint;
		s->hinted = hinted;
	}
	s->owner = owner;
	s->served = true;
	/* Its clock runs from the handover (the job's budget before the
	 * kill), not from the end of the fork. */
	s->started_ms = kill_at_ms - job->timeout_ms;
	loop_arm(t->loop, &s->timer, kill_at_ms);
	return 0;
}

struct slot *
slots_pick(struct slots *t)
{
	struct slot *free_slot = NULL, *starting = NULL, *s;
	size_t i;

	if (slots_running(t) >= t->limit)
		return NULL;
	/* A ready warm worker first; then a fork; a warm worker that is
	 * still connecting last, since its connect may be what hangs. */
	for (i = 0; i < t->n; i++) {
		s = &t->slot[i];
		if (s->in_use && s->warm && !s->reaped && s->fd != -1) {
			if (s->warm_state == WARM_READY)
				return s;
			if (starting == NULL)
				starting = s;
		}
		if (!s->in_use && free_slot == NULL)
			free_slot = s;
	}
	return free_slot != NULL ? free_slot : starting;
}

/* Is a warm worker still connecting? Cost: O(slots). */
static bool
warm_starting(const struct slots *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->slot[i].in_use && t->slot[i].warm &&
		    t->slot[i].warm_state == WARM_STARTING)
			return true;
	return false;
}

void
slots_top_up(struct slots *t, size_t want, const struct job *tmpl,
    int64_t now)
{
	struct job job;
	struct slot *s;
	bool endpoint, hinted;
	int fd, job_fd;
	size_t i, started = 0;
	long connect_ms;
	pid_t pid;

	connect_ms = tmpl->connect_timeout_ms > 0 ? tmpl->connect_timeout_ms :
	    WARM_CONNECT_MS;
	for (i = 0; i < t->n && t->counts.warm < want; i++) {
		s = &t->slot[i];
		if (s->in_use)
			continue;
		if (now < t->warm_after_ms)
			return;
		/* While connects fail, one warm worker at a time tries. */
		if (t->warm_failing > 0 && (started > 0 || warm_starting(t)))
			return;
		if (started == WARM_PER_TURN) {
			loop_wake(t->loop);	/* more next turn */
			return;
		}
		add_hints(t, tmpl, &job, &endpoint, &hinted);
		if (t->spawner->start_warm(t->spawner->ctx, &job, &pid, &fd,
		    &job_fd) == -1) {
			t->counts.spawn_failures++;
			log_warn("cannot fork a warm worker: %s",
			    strerror(errno));
			t->warm_after_ms = now + WARM_RETRY_MS;
			loop_arm(t->loop, &t->warm_timer, t->warm_after_ms);
			return;
		}
		if (occupy(s, pid, fd, job_fd) == -1)
			slot_kill(s, SLOT_KILL_GARBAGE);
		else {
			s->warm = true;
			s->forked_ms = now;
			s->endpoint = endpoint;
			s->hinted = hinted;
			t->counts.warm++;
			s->warm_state = WARM_READY;
			if (t->spawner->warm_reports) {
				s->warm_state = WARM_STARTING;
				loop_arm(t->loop, &s->timer, now + connect_ms +
				    WARM_SLACK_MS);
			}
		}
		started++;
	}
}

static struct slot *
slot_by_pid(struct slots *t, pid_t pid)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->slot[i].in_use && t->slot[i].pid == pid)
			return &t->slot[i];
	return NULL;
}

static bool
is_ours(void *arg, pid_t pid)
{
	return slot_by_pid(arg, pid) != NULL;
}

/* Record one reap: pid is 0 from here on. */
static void
reaped(struct slots *t, pid_t pid, int status)
{
	struct slot *s = slot_by_pid(t, pid);

	if (s == NULL) {
		log_warn("reaped unknown child %ld", (long)pid);
		return;
	}
	s->pid = 0;
	s->reaped = true;
	s->wait_status = status;
}

void
slots_reap(struct slots *t)
{
	const struct spawner *sp = t->spawner;
	pid_t pid;
	int status;

	while ((pid = sp->reap(sp->ctx, false, is_ours, t, &status)) > 0)
		reaped(t, pid, status);
	if (pid == -1 && errno != ECHILD)
		log_error("cannot reap workers: %s", strerror(errno));
}

void
slots_sweep(struct slots *t, int64_t now)
{
	struct slot *s;
	size_t i;

	for (i = 0; i < t->n; i++) {
		s = &t->slot[i];
		if (!s->in_use || !s->reaped || s->fd != -1)
			continue;
		if (!s->served && s->warm_state != WARM_LEFT &&
		    s->killed == SLOT_KILL_NONE)
			log_warn("warm worker %ld ended idle: %s", (long)s->pid,
			    WIFSIGNALED(s->wait_status) ? "killed by a signal" :
			    "exited without saying why");
		fire(s, SLOT_ENDED, now);
		release(s);
	}
}

void
slots_free(struct slots *t)
{
	const struct spawner *sp;
	size_t i, n_alive;
	pid_t pid;
	int status;

	if (t == NULL)
		return;
	sp = t->spawner;
	slots_kill_all(t, SLOT_KILL_SHUTDOWN);
	/* SIGKILL cannot be caught: these waits end promptly. */
	for (;;) {
		for (i = 0, n_alive = 0; i < t->n; i++)
			if (t->slot[i].in_use && !t->slot[i].reaped)
				n_alive++;
		if (n_alive == 0)
			break;
		pid = sp->reap(sp->ctx, true, is_ours, t, &status);
		if (pid <= 0) {
			log_error("cannot reap workers: %s", strerror(errno));
			break;
		}
		reaped(t, pid, status);
	}
	for (i = 0; i < t->n; i++) {
		if (!t->slot[i].in_use)
			continue;
		close_result_fd(&t->slot[i]);
		t->slot[i].reaped = true;
	}
	slots_sweep(t, clock_ms());
	loop_disarm(t->loop, &t->warm_timer);
	forget_hints(t);
	free(t->hint_url);
	free(t->slot);
	free(t);
}

void *
slot_owner(const struct slot *s)
{
	return s->owner;
}

void
slot_detach(struct slot *s)
{
	s->owner = NULL;
}

pid_t
slot_pid(const struct slot *s)
{
	return s->pid;
}

/* Why a worker ended without a result, for the message. */
static void
describe_exit(const struct slot *s, char *out, size_t outlen)
{
	if (s->garbage[0] != '\0')
		(void)snprintf(out, outlen, "worker protocol error (%s)",
		    s->garbage);
	else if (WIFSIGNALED(s->wait_status))
		(void)snprintf(out, outlen, "worker died of signal %d (%s)",
		    WTERMSIG(s->wait_status),
		    strsignal(WTERMSIG(s->wait_status)));
	else if (WIFEXITED(s->wait_status) &&
	    WEXITSTATUS(s->wait_status) == 127)
		(void)snprintf(out, outlen, "worker could not start "
		    "(exit status 127)");
	else
		(void)snprintf(out, outlen, "worker exited with status %d "
		    "without a result", WEXITSTATUS(s->wait_status));
}

void
slot_outcome(const struct slot *s, int64_t now, struct slot_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->has_result = s->has_result;
	o->result = &s->result;
	o->body = s->body;
	o->body_len = s->body_len;
	o->killed = s->killed;
	o->elapsed_ms = (long)(now - s->started_ms);
	if (s->has_progress)
		proto_progress_describe(&s->progress, s->table->host,
		    s->table->tls, o->where, sizeof(o->where));
	else
		(void)snprintf(o->where, sizeof(o->where), "the worker "
		    "reported no progress");
	if (!s->has_result || s->garbage[0] != '\0')
		describe_exit(s, o->ended, sizeof(o->ended));
}

const struct slot_counts *
slots_counts(const struct slots *t)
{
	return &t->counts;
}

void
slots_set_limit(struct slots *t, size_t running_max)
{
	t->limit = running_max < t->n ? running_max : t->n;
}

size_t
slots_running(const struct slots *t)
{
	return t->counts.busy - t->counts.warm - t->counts.leaving;
}

bool
slots_are_idle(const struct slots *t)
{
	return slots_running(t) == 0;
}
