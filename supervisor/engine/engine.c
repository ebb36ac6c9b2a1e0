/*
 * engine: see engine.h.
 *
 * Life of an attempt: a request leaves its line for a slot: a warm
 * worker, forked ahead, gets the job on its stdin; otherwise spawn_worker
 * forks one. The slot arms a kill timer at the attempt's deadline (the
 * configured timeout from the worker's own start, cut short by what is
 * left of the request's deadline). The worker's frames arrive on its
 * result pipe. The attempt is concluded (the request answered, or a retry
 * scheduled) as soon as its outcome is known: at its result frame, or
 * when we SIGKILL it, or, for a worker that died without a result, once it
 * is reaped. The slot is freed only when both its pipe's EOF and its reap
 * are in, in either order, so no pid or descriptor is reused early.
 *
 * Cost: engine_run_due and engine_pollfds walk the slot table, O(jobs)
 * per loop turn; reaping finds a pid by a walk of the slot table too.
 * With jobs in the tens or hundreds this is cheaper than keeping indexes.
 * Timers are a heap, O(log n) each, so thousands of queued requests with
 * deadlines cost nothing per turn.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "engine/engine.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_progress.h"
#include "proto_result.h"
#include "engine/policy.h"
#include "core/spawn.h"
#include "core/timers.h"

#define WARM_PER_TURN	4	/* warm forks per loop turn */

enum timer_kind {
	TIMER_WORKER,		/* owner: struct worker, kill at deadline */
	TIMER_REQUEST,		/* owner: struct request, queue deadline or
				 * end of backoff */
	TIMER_DRAIN		/* owner: struct engine */
};

enum kill_reason {
	KILL_NONE,
	KILL_DEADLINE,
	KILL_SHUTDOWN,
	KILL_CANCEL,
	KILL_GARBAGE		/* the worker broke the frame protocol */
};

struct worker {
	bool		 in_use;
	bool		 warm;		/* forked ahead, no request yet */
	bool		 served;	/* was given a request */
	int		 job_fd;	/* warm worker's stdin; -1 once closed */
	struct buf	 job_out;	/* job bytes not yet written to it */
	pid_t		 pid;		/* 0 once reaped */
	int		 fd;		/* result pipe; -1 after EOF */
	int		 wait_status;
	bool		 reaped;
	enum kill_reason killed;
	struct request	*req;
	unsigned	 attempt;
	int64_t		 started_ms;
	long		 budget_ms;
	struct timer	 timer;
	struct buf	 in;		/* frames not yet parsed */
	struct proto_progress progress;
	bool		 has_progress;	/* at least one 'P' frame came */
	bool		 has_result;
	struct proto_result result;
	char		*body;		/* 'B' frame, on success */
	size_t		 body_len;
	char		 garbage[128];	/* why the frames were refused */
};

struct engine {
	const struct config	*cfg;
	engine_answer_fn	 answer;
	void			*answer_arg;
	struct spawn_opts	 spawn;
	struct worker		*slots;
	size_t			 n_slots;
	size_t			 n_busy;	/* slots in use */
	size_t			 n_warm;	/* of which waiting for a call */
	size_t			*poll_slot;	/* pollfd index -> slot */
	bool			*poll_job;	/* ... and which of its pipes */
	size_t			 n_polled;
	struct engine_queue	 default_queue;
	TAILQ_HEAD(, engine_queue) ring;	/* lines with requests ready */
	struct request_list	 backoff;	/* waiting to retry */
	size_t			 n_waiting;	/* ready + backoff */
	size_t			 n_live;	/* requests not yet answered */
	struct timers		 timers;
	struct timer		 drain_timer;
	bool			 shutting_down;
	bool			 kicked;	/* submitted since the last run */
	int64_t			 warm_after_ms;	/* no warm forks before this */
	size_t			 frame_max;
	int64_t			 started_ms;
	struct engine_stats	 stats;
};

struct engine *
engine_new(const struct config *cfg, engine_answer_fn answer, void *arg)
{
	struct engine *e;
	size_t i;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = cfg;
	e->answer = answer;
	e->answer_arg = arg;
	e->spawn.worker_path = cfg->worker_path;
	e->spawn.api_key = cfg->api_key;
	e->spawn.memory = cfg->worker_memory;
	e->spawn.fail_every = cfg->fault_fork_every;
	e->n_slots = cfg->jobs;
	e->started_ms = clock_ms();
	/* A body is the API's floats re-printed: at most ~4 bytes of
	 * decimal text per byte of base64 received. */
	e->frame_max = cfg->max_response > (PROTO_FRAME_MAX - (1 << 20)) / 4 ?
	    PROTO_FRAME_MAX : cfg->max_response * 4 + (1 << 20);
	engine_queue_init(&e->default_queue, 0, 0);
	TAILQ_INIT(&e->ring);
	TAILQ_INIT(&e->backoff);
	timer_init(&e->drain_timer, e, TIMER_DRAIN);
	e->slots = calloc(e->n_slots, sizeof(*e->slots));
	e->poll_slot = calloc(2 * e->n_slots, sizeof(*e->poll_slot));
	e->poll_job = calloc(2 * e->n_slots, sizeof(*e->poll_job));
	if (e->slots == NULL || e->poll_slot == NULL || e->poll_job == NULL ||
	    timers_init(&e->timers, 2 * e->n_slots + cfg->queue_max + 64) == -1) {
		free(e->slots);
		free(e->poll_slot);
		free(e->poll_job);
		free(e);
		return NULL;
	}
	for (i = 0; i < e->n_slots; i++) {
		e->slots[i].fd = -1;
		e->slots[i].job_fd = -1;
		timer_init(&e->slots[i].timer, &e->slots[i], TIMER_WORKER);
	}
	return e;
}

size_t
engine_max_workers(const struct engine *e)
{
	return 2 * e->n_slots;		/* result pipes and job pipes */
}

const struct engine_stats *
engine_stats(const struct engine *e)
{
	return &e->stats;
}

bool
engine_is_full(const struct engine *e)
{
	return e->n_waiting >= e->cfg->queue_max;
}

bool
engine_is_idle(const struct engine *e)
{
	return e->n_live == 0 && e->n_busy == e->n_warm;
}

void
engine_queue_init(struct engine_queue *q, size_t max_waiting,
    size_t max_running)
{
	TAILQ_INIT(&q->ready);
	q->in_ring = false;
	q->n_waiting = 0;
	q->n_running = 0;
	q->max_waiting = max_waiting;
	q->max_running = max_running;
}

bool
engine_queue_is_full(const struct engine_queue *q)
{
	return q->max_waiting > 0 && q->n_waiting >= q->max_waiting;
}

static struct engine_queue *
queue_of(struct engine *e, const struct request *req)
{
	return req->queue != NULL ? req->queue : &e->default_queue;
}

/* Put req in its line, at the head (a retry) or the tail. */
static void
make_ready(struct engine *e, struct request *req, bool at_head)
{
	struct engine_queue *q = queue_of(e, req);

	req->state = REQ_STATE_QUEUED;
	if (at_head)
		TAILQ_INSERT_HEAD(&q->ready, req, entry);
	else
		TAILQ_INSERT_TAIL(&q->ready, req, entry);
	if (!q->in_ring) {
		TAILQ_INSERT_TAIL(&e->ring, q, ring);
		q->in_ring = true;
	}
}

static void
unready(struct engine *e, struct request *req)
{
	struct engine_queue *q = queue_of(e, req);

	TAILQ_REMOVE(&q->ready, req, entry);
	if (TAILQ_EMPTY(&q->ready) && q->in_ring) {
		TAILQ_REMOVE(&e->ring, q, ring);
		q->in_ring = false;
	}
}

/*
 * The next request to run: the head of the first line in the ring that
 * may run one more, which then moves to the back of the ring. Cost: the
 * lines at their max_running are stepped over, O(lines) at worst.
 */
static struct request *
next_ready(struct engine *e)
{
	struct engine_queue *q;
	struct request *req;

	TAILQ_FOREACH(q, &e->ring, ring) {
		if (q->max_running > 0 && q->n_running >= q->max_running)
			continue;
		req = TAILQ_FIRST(&q->ready);
		unready(e, req);
		if (q->in_ring) {
			TAILQ_REMOVE(&e->ring, q, ring);
			TAILQ_INSERT_TAIL(&e->ring, q, ring);
		}
		return req;
	}
	return NULL;
}

static void
count_waiting(struct engine *e, struct request *req, int delta)
{
	e->n_waiting += (size_t)(ssize_t)delta;
	queue_of(e, req)->n_waiting += (size_t)(ssize_t)delta;
}

/* Arm a timer; the heap grows as needed, so failure is ENOMEM only. */
static void
arm(struct engine *e, struct timer *tm, int64_t at_ms)
{
	struct timers bigger;
	struct timer *t;

	if (timers_arm(&e->timers, tm, at_ms) == 0)
		return;
	/* Full: move every armed timer to a heap twice the size. */
	if (timers_init(&bigger, e->timers.cap * 2) == -1) {
		log_error("cannot grow the timer heap: %s; exiting",
		    strerror(errno));
		exit(EXIT_SOFTWARE);
	}
	while ((t = timers_pop_due(&e->timers, INT64_MAX)) != NULL)
		(void)timers_arm(&bigger, t, t->at_ms);
	timers_free(&e->timers);
	e->timers = bigger;
	(void)timers_arm(&e->timers, tm, at_ms);
}

/* Answer req and free it. */
static void
finish_request(struct engine *e, struct request *req, struct answer *a,
    int64_t now)
{
	timers_disarm(&e->timers, &req->timer);
	switch (req->state) {
	case REQ_STATE_QUEUED:
		unready(e, req);
		count_waiting(e, req, -1);
		break;
	case REQ_STATE_BACKOFF:
		TAILQ_REMOVE(&e->backoff, req, entry);
		count_waiting(e, req, -1);
		break;
	case REQ_STATE_RUNNING:
		queue_of(e, req)->n_running--;
		break;
	default:
		break;
	}
	a->attempts = req->attempts;
	a->ms = (long)(now - req->received_ms);
	e->stats.answered[a->code]++;
	if (a->code != REQ_OK)
		log_debug("request %s failed after %u attempts: %s: %s",
		    req->id_json, a->attempts, req_code_name(a->code),
		    a->message);
	e->n_live--;
	e->answer(e->answer_arg, req, a);
	request_free(req);
}

static void
answer_error(struct engine *e, struct request *req, enum req_code code,
    bool retryable, int http_status, const char *message, int64_t now)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	a.retryable = retryable;
	a.http_status = http_status;
	a.message = message;
	finish_request(e, req, &a, now);
}

void
engine_submit(struct engine *e, struct request *req, int64_t now)
{
	long deadline_ms;

	deadline_ms = req->deadline_ms > 0 ? req->deadline_ms :
	    e->cfg->deadline_ms;
	req->received_ms = now;
	req->deadline_at_ms = now + deadline_ms;
	req->attempts = 0;
	req->n_workers = 0;
	timer_init(&req->timer, req, TIMER_REQUEST);
	e->stats.requests++;
	e->n_live++;
	e->kicked = true;
	make_ready(e, req, false);
	count_waiting(e, req, 1);
	arm(e, &req->timer, req->deadline_at_ms);
}

static void conclude(struct engine *, struct worker *, int64_t);

/* SIGKILL a worker's process group, if it is still ours to signal. */
static void
kill_worker(struct engine *e, struct worker *w, enum kill_reason why)
{
	if (w->pid == 0 || w->killed != KILL_NONE)
		return;
	/*
	 * Race: the worker may have exited a moment ago. Until we reap it, it
	 * is a zombie that keeps its pid and its process group, so neither
	 * signal can reach a stranger; after the reap, pid is 0 and we never
	 * get here.
	 */
	if (kill(-w->pid, SIGKILL) == -1 && kill(w->pid, SIGKILL) == -1)
		log_warn("cannot kill worker %ld: %s", (long)w->pid,
		    strerror(errno));
	else
		log_debug("request %s: killed worker %ld (%s)",
		    w->req != NULL ? w->req->id_json : "(warm)",
		    (long)w->pid, why == KILL_DEADLINE ?
		    "deadline" : why == KILL_CANCEL ? "cancel" :
		    why == KILL_SHUTDOWN ? "shutdown" : "protocol error");
	w->killed = why;
	/* One that already delivered its result was finishing anyway, and
	 * an idle warm one was doing nothing. */
	if (w->has_result || w->req == NULL)
		return;
	e->stats.workers_killed++;
	/* SIGKILL cannot be caught: the outcome is known now. (After a
	 * protocol error the exit status is wanted: that waits.) */
	if (why != KILL_GARBAGE)
		conclude(e, w, clock_ms());
}

static void
close_pipe(struct worker *w)
{
	if (w->fd != -1) {
		(void)close(w->fd);
		w->fd = -1;
	}
}

/* The worker broke the protocol: stop listening and kill it. */
static void
refuse_frames(struct engine *e, struct worker *w, const char *why)
{
	(void)snprintf(w->garbage, sizeof(w->garbage), "%s", why);
	log_warn("worker %ld for request %s: %s", (long)w->pid,
	    w->req != NULL ? w->req->id_json : "(none yet)", why);
	close_pipe(w);
	kill_worker(e, w, KILL_GARBAGE);
}

/* Parse every complete frame at the front of w->in. */
static void
parse_frames(struct engine *e, struct worker *w)
{
	char type, err[128];
	const char *payload;
	size_t len;
	int r;

	while ((r = proto_frame_peek(&w->in, e->frame_max, &type, &payload,
	    &len)) == 1) {
		if (w->has_result) {
			refuse_frames(e, w, "frame after the result");
			return;
		}
		switch (type) {
		case PROTO_FRAME_PROGRESS:
			if (proto_progress_decode((const unsigned char *)payload,
			    len, &w->progress) == -1) {
				refuse_frames(e, w, "bad progress frame");
				return;
			}
			w->has_progress = true;
			break;
		case PROTO_FRAME_BODY:
			free(w->body);
			w->body = malloc(len + 1);
			if (w->body == NULL) {
				refuse_frames(e, w, "out of memory for the body");
				return;
			}
			memcpy(w->body, payload, len);
			w->body[len] = '\0';
			w->body_len = len;
			break;
		case PROTO_FRAME_RESULT:
			if (proto_result_decode(payload, len, &w->result, err,
			    sizeof(err)) == -1) {
				refuse_frames(e, w, err);
				return;
			}
			if (w->result.class == PROTO_OK && w->body == NULL) {
				refuse_frames(e, w, "ok result without a body");
				return;
			}
			w->has_result = true;
			/* The outcome is known: answer now, and let the slot
			 * wait for the exit and the reap on its own. */
			buf_consume(&w->in, PROTO_FRAME_HDR + len);
			if (w->req != NULL)
				conclude(e, w, clock_ms());
			continue;
		default:
			break;
		}
		buf_consume(&w->in, PROTO_FRAME_HDR + len);
	}
	if (r == -1)
		refuse_frames(e, w, "bad frame");
}

static void
read_worker(struct engine *e, struct worker *w)
{
	ssize_t n;

	while (w->fd != -1) {
		n = buf_read_fd(&w->in, w->fd, 1 << 16);
		if (n > 0) {
			parse_frames(e, w);
			continue;
		}
		if (n == 0) {
			close_pipe(w);
			if (buf_len(&w->in) > 0 && !w->has_result &&
			    w->garbage[0] == '\0')
				(void)snprintf(w->garbage, sizeof(w->garbage),
				    "result cut short");
			buf_free(&w->in);
		} else if (errno == ENOBUFS)
			refuse_frames(e, w, "result larger than the cap");
		else if (errno != EAGAIN) {
			log_warn("cannot read worker %ld: %s", (long)w->pid,
			    strerror(errno));
			close_pipe(w);
		}
		if (n <= 0)
			return;
	}
}

/* Write what the worker's job pipe takes; close it when all is in. */
static void
feed_job(struct engine *e, struct worker *w)
{
	ssize_t n;

	while (w->job_fd != -1 && buf_len(&w->job_out) > 0) {
		n = buf_write_fd(&w->job_out, w->job_fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		/* It is gone (EPIPE): its reap and EOF will tell why. */
		log_debug("worker %ld: cannot write its job: %s", (long)w->pid,
		    n == 0 ? "no progress" : strerror(errno));
		break;
	}
	(void)e;
	buf_free(&w->job_out);
	if (w->job_fd != -1) {
		(void)close(w->job_fd);
		w->job_fd = -1;
	}
}

size_t
engine_pollfds(struct engine *e, struct pollfd *pfd, size_t room)
{
	struct worker *w;
	size_t i, n = 0;

	for (i = 0; i < e->n_slots && n + 2 <= room; i++) {
		w = &e->slots[i];
		if (!w->in_use)
			continue;
		if (w->fd != -1) {
			pfd[n].fd = w->fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			e->poll_job[n] = false;
			e->poll_slot[n++] = i;
		}
		if (w->job_fd != -1 && !w->warm) {
			pfd[n].fd = w->job_fd;
			pfd[n].events = POLLOUT;
			pfd[n].revents = 0;
			e->poll_job[n] = true;
			e->poll_slot[n++] = i;
		}
	}
	e->n_polled = n;
	return n;
}

void
engine_handle_pollfds(struct engine *e, const struct pollfd *pfd, size_t n)
{
	struct worker *w;
	size_t i;

	for (i = 0; i < n && i < e->n_polled; i++) {
		if (pfd[i].revents == 0)
			continue;
		w = &e->slots[e->poll_slot[i]];
		if (e->poll_job[i]) {
			if (w->job_fd == pfd[i].fd)
				feed_job(e, w);
		} else if (w->fd == pfd[i].fd)
			read_worker(e, w);
	}
	e->n_polled = 0;
}

static struct worker *
slot_by_pid(struct engine *e, pid_t pid)
{
	size_t i;

	for (i = 0; i < e->n_slots; i++)
		if (e->slots[i].in_use && e->slots[i].pid == pid)
			return &e->slots[i];
	return NULL;
}

void
engine_reap(struct engine *e)
{
	struct worker *w;
	siginfo_t si;
	pid_t pid;
	int st;

	for (;;) {
		/* Look before reaping: while the exited child is a zombie its
		 * pid still names its process group, so whatever it left in
		 * that group can be killed without risk of hitting a stranger.
		 * Once reaped, the number may be reused. */
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_error("waitid: %s", strerror(errno));
			return;
		}
		pid = si.si_pid;
		if (pid == 0)
			return;
		w = slot_by_pid(e, pid);
		if (w != NULL)
			(void)kill(-pid, SIGKILL);
		while (waitpid(pid, &st, 0) == -1) {
			if (errno != EINTR) {
				log_error("waitpid %ld: %s", (long)pid,
				    strerror(errno));
				return;
			}
		}
		if (w == NULL) {
			log_warn("reaped unknown child %ld", (long)pid);
			continue;
		}
		w->pid = 0;
		w->reaped = true;
		w->wait_status = st;
	}
}

/* Why a worker ended without a result, for the message. */
static void
describe_exit(const struct worker *w, char *out, size_t outlen)
{
	if (w->garbage[0] != '\0')
		(void)snprintf(out, outlen, "worker protocol error (%s)",
		    w->garbage);
	else if (WIFSIGNALED(w->wait_status))
		(void)snprintf(out, outlen, "worker died of signal %d (%s)",
		    WTERMSIG(w->wait_status),
		    strsignal(WTERMSIG(w->wait_status)));
	else if (WIFEXITED(w->wait_status) &&
	    WEXITSTATUS(w->wait_status) == 127)
		(void)snprintf(out, outlen, "worker could not start "
		    "(exit status 127)");
	else
		(void)snprintf(out, outlen, "worker exited with status %d "
		    "without a result", WEXITSTATUS(w->wait_status));
}

/* Free the slot, keeping nothing but what the caller took. */
static void
release_slot(struct engine *e, struct worker *w)
{
	timers_disarm(&e->timers, &w->timer);
	close_pipe(w);
	if (w->job_fd != -1) {
		(void)close(w->job_fd);
		w->job_fd = -1;
	}
	buf_free(&w->job_out);
	if (w->warm) {
		w->warm = false;
		e->n_warm--;
	}
	buf_free(&w->in);
	free(w->body);
	w->body = NULL;
	w->body_len = 0;
	w->in_use = false;
	w->req = NULL;
	e->n_busy--;
	e->stats.running = e->n_busy - e->n_warm;
}

/* Wait delay ms, then put req back at the head of its line. */
static void
schedule_retry(struct engine *e, struct request *req, long delay,
    int64_t now)
{
	if (req->state == REQ_STATE_RUNNING)
		queue_of(e, req)->n_running--;
	e->stats.retries++;
	req->state = REQ_STATE_BACKOFF;
	TAILQ_INSERT_TAIL(&e->backoff, req, entry);
	count_waiting(e, req, 1);
	arm(e, &req->timer, now + delay);
}

/*
 * Decide what the attempt on w means for its request: answer it or
 * schedule a retry, then detach the request from w. Called once both of
 * the worker's events are in, or at once when we SIGKILL it (the outcome
 * is known then, and the answer need not wait for the kernel to tear the
 * process down). The slot itself is released by finish_worker.
 */
static void
conclude(struct engine *e, struct worker *w, int64_t now)
{
	const struct config *cfg = e->cfg;
	struct request *req = w->req;
	unsigned max_attempts = cfg->retries + 1;
	char where[256], message[1024];
	struct answer a;
	enum req_code code;
	bool retryable;
	long elapsed = (long)(now - w->started_ms), delay;
	int http_status = 0;

	memset(&a, 0, sizeof(a));
	w->req = NULL;
	req->n_workers--;
	if (w->has_progress)
		proto_progress_describe(&w->progress, cfg->host,
		    strncmp(cfg->base_url, "https:", 6) == 0, where,
		    sizeof(where));
	else
		(void)snprintf(where, sizeof(where), "the worker reported no "
		    "progress");
	if (req->cancelled) {
		code = REQ_CANCELLED;
		retryable = false;
		(void)snprintf(message, sizeof(message), "cancelled at %ld ms "
		    "of attempt %u of %u: %s", elapsed, w->attempt,
		    max_attempts, where);
	} else if (w->has_result) {
		code = retry_code_of(&w->result);
		retryable = retry_is_retryable(code, &w->result);
		if (code == REQ_HTTP || code == REQ_RATE_LIMITED)
			http_status = w->result.http_status;
		(void)snprintf(message, sizeof(message), "attempt %u of %u: %s",
		    w->attempt, max_attempts, w->result.message);
	} else if (w->killed == KILL_DEADLINE) {
		code = REQ_TIMEOUT;
		retryable = true;
		(void)snprintf(message, sizeof(message), "attempt %u of %u "
		    "killed at %ld ms: %s", w->attempt, max_attempts, elapsed,
		    where);
	} else if (w->killed == KILL_SHUTDOWN) {
		code = REQ_SHUTTING_DOWN;
		retryable = true;
		(void)snprintf(message, sizeof(message), "attempt %u of %u "
		    "killed by shutdown at %ld ms: %s", w->attempt,
		    max_attempts, elapsed, where);
	} else {
		code = REQ_WORKER_CRASHED;
		retryable = true;
		describe_exit(w, message, sizeof(message));
		(void)snprintf(message + strlen(message),
		    sizeof(message) - strlen(message), " at %ld ms, attempt "
		    "%u of %u: %s", elapsed, w->attempt, max_attempts, where);
	}
	if (code == REQ_TIMEOUT || code == REQ_WORKER_CRASHED)
		log_warn("request %s: %s", req->id_json, message);

	if (code == REQ_OK) {
		a.code = REQ_OK;
		a.body = w->body;
		a.body_len = w->body_len;
		finish_request(e, req, &a, now);
		return;
	}
	if (retryable && code != REQ_SHUTTING_DOWN && code != REQ_CANCELLED &&
	    !e->shutting_down &&
	    req->attempts < max_attempts) {
		delay = retry_backoff_ms(req->attempts, cfg->backoff_base_ms,
		    cfg->backoff_max_ms, w->has_result ?
		    w->result.retry_after_ms : -1);
		if (now + delay < req->deadline_at_ms) {
			log_debug("request %s: retry in %ld ms after %s",
			    req->id_json, delay, message);
			schedule_retry(e, req, delay, now);
			return;
		}
		(void)snprintf(message + strlen(message),
		    sizeof(message) - strlen(message), "; no time left for "
		    "another attempt before the deadline");
	}
	answer_error(e, req, code, retryable, http_status, message, now);
}

/* Both events are in: conclude if not done yet, then free the slot. */
static void
finish_worker(struct engine *e, struct worker *w, int64_t now)
{
	char message[512];

	if (w->req != NULL)
		conclude(e, w, now);
	else if (!w->served && !e->shutting_down) {
		describe_exit(w, message, sizeof(message));
		log_warn("warm worker ended idle: %s", message);
	}
	release_slot(e, w);
}

/* Put a freshly started worker in the free slot w, without a request. */
static void
occupy(struct engine *e, struct worker *w, pid_t pid, int fd, int job_fd)
{
	w->in_use = true;
	w->warm = false;
	w->served = false;
	w->pid = pid;
	w->fd = fd;
	w->job_fd = job_fd;
	w->wait_status = 0;
	w->reaped = false;
	w->killed = KILL_NONE;
	w->req = NULL;
	w->has_progress = false;
	w->has_result = false;
	w->garbage[0] = '\0';
	proto_progress_init(&w->progress);
	buf_init(&w->in, e->frame_max + PROTO_FRAME_HDR);
	buf_init(&w->job_out, PROTO_FRAME_MAX);
	e->n_busy++;
	e->stats.workers_started++;
}

/* Start the next attempt of req on slot w. */
static void
start_attempt(struct engine *e, struct worker *w, struct request *req,
    int64_t now)
{
	const struct config *cfg = e->cfg;
	char id_title[48], message[512];
	struct job job;
	long budget;
	int fd;
	pid_t pid;

	/* The attempt's clock starts now, not at the top of the loop turn:
	 * the spawns before this one took time. */
	now = clock_ms();
	budget = req->timeout_ms > 0 ? req->timeout_ms : cfg->timeout_ms;
	if (budget > req->deadline_at_ms - now)
		budget = (long)(req->deadline_at_ms - now);
	if (budget < 1)
		budget = 1;
	(void)snprintf(id_title, sizeof(id_title), "%s", req->id_json);

	memset(&job, 0, sizeof(job));
	job.base_url = cfg->base_url;
	job.model = req->model != NULL ? req->model : cfg->model;
	job.input_json = req->input_json;
	job.n_inputs = req->n_inputs;
	job.dimensions = req->dimensions > 0 ? req->dimensions :
	    cfg->dimensions;
	job.encoding = cfg->encoding;
	job.timeout_ms = budget;
	job.headers = (const char *const *)cfg->headers;
	job.n_headers = cfg->n_headers;
	job.cacert = cfg->cacert;
	job.insecure = cfg->insecure;
	job.max_response = cfg->max_response;
	job.api_key = cfg->api_key;
	job.request_id = id_title;
	job.attempt = ++req->attempts;

	if (w->warm) {
		/* Forked ahead: hand it the job; the pipe takes what it can
		 * now and the rest as the worker reads. */
		if (proto_job_to_json(&job, &w->job_out) == -1) {
			(void)snprintf(message, sizeof(message), "cannot "
			    "write the job: %s", strerror(errno));
			answer_error(e, req, REQ_WORKER_CRASHED, false, 0,
			    message, now);
			return;
		}
		w->warm = false;
		e->n_warm--;
		feed_job(e, w);
		pid = w->pid;
		fd = w->fd;
	} else if (spawn_worker(&e->spawn, &job, &pid, &fd) == -1) {
		e->stats.spawn_failures++;
		(void)snprintf(message, sizeof(message), "cannot spawn worker "
		    "'%s': %s", cfg->worker_path != NULL ? cfg->worker_path :
		    "(built in)", strerror(errno));
		log_error("%s", message);
		/* Treat it as a crashed attempt: retried with backoff. */
		if (req->attempts < cfg->retries + 1 && !e->shutting_down) {
			long delay = retry_backoff_ms(req->attempts,
			    cfg->backoff_base_ms, cfg->backoff_max_ms, -1);
			if (now + delay < req->deadline_at_ms) {
				schedule_retry(e, req, delay, now);
				return;
			}
		}
		answer_error(e, req, REQ_WORKER_CRASHED, true, 0, message, now);
		return;
	} else
		occupy(e, w, pid, fd, -1);
	w->req = req;
	w->served = true;
	w->attempt = job.attempt;
	w->started_ms = now;
	w->budget_ms = budget;
	arm(e, &w->timer, now + budget);
	req->n_workers++;
	e->stats.running = e->n_busy - e->n_warm;
	log_debug("request %s attempt %u: worker %ld, %ld ms", req->id_json,
	    job.attempt, (long)pid, budget);
}

/* Fork a warm worker into the free slot w. Returns 0 or -1. */
static int
start_warm(struct engine *e, struct worker *w)
{
	int fd, job_fd;
	pid_t pid;

	if (spawn_warm(&e->spawn, &pid, &fd, &job_fd) == -1) {
		e->stats.spawn_failures++;
		log_warn("cannot fork a warm worker: %s", strerror(errno));
		return -1;
	}
	occupy(e, w, pid, fd, job_fd);
	w->warm = true;
	e->n_warm++;
	return 0;
}

/* The slot for the next attempt: a warm worker if any, else a free one,
 * else NULL. Cost: O(jobs). */
static struct worker *
pick_slot(struct engine *e)
{
	struct worker *free_slot = NULL;
	size_t i;

	for (i = 0; i < e->n_slots; i++) {
		if (e->slots[i].in_use && e->slots[i].warm &&
		    !e->slots[i].reaped)
			return &e->slots[i];
		if (!e->slots[i].in_use && free_slot == NULL)
			free_slot = &e->slots[i];
	}
	return free_slot;
}

static void
fire(struct engine *e, struct timer *tm, int64_t now)
{
	struct request *req;
	struct worker *w;
	char message[256];
	size_t i;

	switch (tm->kind) {
	case TIMER_WORKER:
		w = tm->owner;
		if (w->reaped) {
			/* Gone, but something still holds its pipe open. */
			if (!w->has_result)
				refuse_frames(e, w, "result pipe still open "
				    "after the worker exited");
			close_pipe(w);
		} else
			kill_worker(e, w, KILL_DEADLINE);
		break;
	case TIMER_REQUEST:
		req = tm->owner;
		if (req->state == REQ_STATE_BACKOFF) {
			/* Retries go first: they have waited longest. */
			TAILQ_REMOVE(&e->backoff, req, entry);
			make_ready(e, req, true);
			arm(e, &req->timer, req->deadline_at_ms);
			break;
		}
		(void)snprintf(message, sizeof(message), "deadline of %ld ms "
		    "passed %s", (long)(req->deadline_at_ms - req->received_ms),
		    req->attempts == 0 ? "before a worker was free" :
		    "while waiting for a worker to retry");
		answer_error(e, req, REQ_TIMEOUT, true, 0, message, now);
		break;
	case TIMER_DRAIN:
		for (i = 0; i < e->n_slots; i++)
			if (e->slots[i].in_use)
				kill_worker(e, &e->slots[i], KILL_SHUTDOWN);
		break;
	default:
		break;
	}
}

void
engine_run_due(struct engine *e, int64_t now)
{
	struct timer *tm;
	struct request *req;
	struct worker *w;
	size_t i, started;

	while ((tm = timers_pop_due(&e->timers, now)) != NULL)
		fire(e, tm, now);
	for (i = 0; i < e->n_slots; i++) {
		w = &e->slots[i];
		if (w->in_use && w->reaped && w->fd == -1)
			finish_worker(e, w, now);
	}
	while (!e->shutting_down) {
		w = pick_slot(e);
		if (w == NULL)
			break;
		req = next_ready(e);
		if (req == NULL)
			break;
		count_waiting(e, req, -1);
		timers_disarm(&e->timers, &req->timer);
		req->state = REQ_STATE_RUNNING;
		queue_of(e, req)->n_running++;
		if (req->deadline_at_ms <= now) {
			answer_error(e, req, REQ_TIMEOUT, true, 0,
			    "deadline passed before a worker was free", now);
			continue;
		}
		start_attempt(e, w, req, now);
	}
	/* Top the warm pool up, a few forks a turn so the loop stays
	 * responsive; nothing is waiting for these. */
	for (i = 0, started = 0; i < e->n_slots && !e->shutting_down &&
	    e->n_warm < e->cfg->warm && started < WARM_PER_TURN &&
	    now >= e->warm_after_ms; i++) {
		if (e->slots[i].in_use)
			continue;
		if (start_warm(e, &e->slots[i]) == -1) {
			e->warm_after_ms = now + 1000;	/* try again later */
			break;
		}
		started++;
	}
	e->stats.queued = e->n_waiting;
	e->kicked = false;
}

int
engine_timeout_ms(const struct engine *e, int64_t now)
{
	int64_t next;

	/* Something submitted since engine_run_due may start at once. */
	if (e->kicked)
		return 0;
	next = timers_next(&e->timers);
	/* The warm pool is short and there is room to fork. */
	if (!e->shutting_down && e->n_warm < e->cfg->warm &&
	    e->n_busy < e->n_slots && (next < 0 || e->warm_after_ms < next))
		next = e->warm_after_ms;
	if (next < 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

/* Answer every waiting request shutting_down. */
static void
drop_waiting(struct engine *e, int64_t now)
{
	struct engine_queue *q;
	struct request *req;

	while ((q = TAILQ_FIRST(&e->ring)) != NULL)
		answer_error(e, TAILQ_FIRST(&q->ready), REQ_SHUTTING_DOWN,
		    true, 0, "shutting down before the request was sent",
		    now);
	while ((req = TAILQ_FIRST(&e->backoff)) != NULL)
		answer_error(e, req, REQ_SHUTTING_DOWN, true, 0,
		    "shutting down while waiting to retry", now);
}

void
engine_shutdown(struct engine *e, int64_t now, long drain_ms)
{
	size_t i;

	if (e->shutting_down)
		drain_ms = 0;
	e->shutting_down = true;
	drop_waiting(e, now);
	if (drain_ms > 0) {
		if (!timer_is_armed(&e->drain_timer))
			arm(e, &e->drain_timer, now + drain_ms);
		return;
	}
	timers_disarm(&e->timers, &e->drain_timer);
	for (i = 0; i < e->n_slots; i++)
		if (e->slots[i].in_use)
			kill_worker(e, &e->slots[i], KILL_SHUTDOWN);
}

/* Does req belong to owner and, when id_json is given, carry that id? */
static bool
matches(const struct request *req, const void *owner, const char *id_json)
{
	return req->owner == owner &&
	    (id_json == NULL || strcmp(req->id_json, id_json) == 0);
}

size_t
engine_cancel(struct engine *e, const void *owner, const char *id_json,
    int64_t now)
{
	struct engine_queue *q, *next_q;
	struct request *req, *next;
	struct worker *w;
	size_t i, n = 0;

	/* Cost: a walk of every waiting request; cancels are rare. */
	for (q = TAILQ_FIRST(&e->ring); q != NULL; q = next_q) {
		next_q = TAILQ_NEXT(q, ring);
		for (req = TAILQ_FIRST(&q->ready); req != NULL; req = next) {
			next = TAILQ_NEXT(req, entry);
			if (!matches(req, owner, id_json))
				continue;
			n++;
			answer_error(e, req, REQ_CANCELLED, false, 0,
			    "cancelled before the request was sent", now);
		}
	}
	for (req = TAILQ_FIRST(&e->backoff); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (!matches(req, owner, id_json))
			continue;
		n++;
		answer_error(e, req, REQ_CANCELLED, false, 0,
		    "cancelled while waiting to retry", now);
	}
	for (i = 0; i < e->n_slots; i++) {
		w = &e->slots[i];
		if (!w->in_use || w->req == NULL ||
		    !matches(w->req, owner, id_json))
			continue;
		if (!w->req->cancelled)
			n++;
		w->req->cancelled = true;
		kill_worker(e, w, KILL_CANCEL);
	}
	return n;
}

void
engine_count(struct engine *e, enum req_code code)
{
	e->stats.requests++;
	e->stats.answered[code]++;
}

int
engine_format_stats(const struct engine *e, struct buf *out,
    const char *id_json, const char *extra, int64_t now)
{
	const struct engine_stats *st = &e->stats;
	uint64_t errors = 0;
	int code;

	if (buf_printf(out, "{\"id\":%s,\"ok\":true,\"stats\":{"
	    "\"requests\":%llu,\"ok\":%llu,\"errors\":{",
	    id_json != NULL ? id_json : "null",
	    (unsigned long long)st->requests,
	    (unsigned long long)st->answered[REQ_OK]) == -1)
		return -1;
	for (code = REQ_OK + 1; code < REQ_N_CODES; code++) {
		errors += st->answered[code];
		if (buf_printf(out, "%s\"%s\":%llu", code > REQ_OK + 1 ?
		    "," : "", req_code_name((enum req_code)code),
		    (unsigned long long)st->answered[code]) == -1)
			return -1;
	}
	return buf_printf(out, "},\"failed\":%llu,\"workers_started\":%llu,"
	    "\"workers_killed\":%llu,\"spawn_failures\":%llu,"
	    "\"retries\":%llu,\"in_flight\":%zu,\"queued\":%zu,"
	    "\"uptime_s\":%lld%s%s}}\n", (unsigned long long)errors,
	    (unsigned long long)st->workers_started,
	    (unsigned long long)st->workers_killed,
	    (unsigned long long)st->spawn_failures,
	    (unsigned long long)st->retries, e->n_busy, e->n_waiting,
	    (long long)((now - e->started_ms) / 1000),
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
}

void
engine_free(struct engine *e)
{
	struct worker *w;
	size_t i;
	int st;
	int64_t now;

	if (e == NULL)
		return;
	now = clock_ms();
	engine_shutdown(e, now, 0);
	engine_shutdown(e, now, 0);
	/* SIGKILL cannot be caught: these waits end promptly. */
	for (i = 0; i < e->n_slots; i++) {
		w = &e->slots[i];
		if (!w->in_use)
			continue;
		if (w->pid != 0) {
			while (waitpid(w->pid, &st, 0) == -1 && errno == EINTR)
				continue;
			w->pid = 0;
			w->reaped = true;
			w->wait_status = st;
		}
		close_pipe(w);
		finish_worker(e, w, clock_ms());
	}
	drop_waiting(e, now);
	timers_free(&e->timers);
	free(e->slots);
	free(e->poll_slot);
	free(e->poll_job);
	free(e);
}
