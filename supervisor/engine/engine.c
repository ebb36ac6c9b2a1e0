/*
 * engine: see engine.h.
 *
 * A request's states: QUEUED (in its fair line) -> RUNNING (one or more
 * attempts live, on the running list) -> answered, or -> BACKOFF (on the
 * backoff list, its timer at the end of the delay) -> QUEUED again, at
 * the head of its line. Its timer is the queue deadline while it waits,
 * the end of the backoff while it backs off. An attempt's hedge timer is
 * armed while it runs alone and a hedge is wanted, so a queued request
 * carries no timer for it.
 *
 * Events, fired then handled: a slot reports what happened to its worker
 * (result, kill, end); conclude turns that into the attempt's outcome,
 * then the request's decision, in one place: answer, wait for a sibling
 * attempt, or retry. An attempt belongs to its request until it is
 * concluded; then it is detached (req NULL) and lives on only until its
 * slot ends, so a slot never points at a freed request. When a request
 * is answered, its other live attempts are detached and SIGKILLed.
 *
 * Cost: starting attempts walks the slot table (slots_pick), O(jobs) per
 * attempt; cancelling walks the waiting and running requests. Timers are
 * a heap, so thousands of queued requests with deadlines cost nothing
 * per turn.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_result.h"
#include "engine/demand.h"
#include "engine/engine.h"
#include "engine/fairq.h"
#include "engine/slot.h"

#define HEDGE_AGAIN_MS	10	/* no worker free for a due hedge: retry */

struct attempt {
	LIST_ENTRY(attempt) entry;	/* in its request's live list */
	struct request	*req;		/* NULL once concluded */
	struct slot	*slot;
	unsigned	 no;		/* 1-based */
	bool		 hedge;		/* started beside another attempt */
	struct timer	 hedge_timer;	/* armed while it runs alone */
	struct policy_attempt pa;	/* what the policy keeps of it */
};

struct engine {
	const struct config	*cfg;
	struct loop		*loop;
	struct signals		*sigs;
	engine_answer_fn	 answer;
	void			*answer_arg;
	struct spawn_opts	 spawn_opts;
	struct spawner		 spawner;
	struct slots		*slots;
	struct policy		*policy;
	struct fairq		 q;
	struct request_list	 backoff;	/* waiting to retry */
	struct request_list	 running;	/* with live attempts */
	size_t			 n_live;	/* requests not yet answered */
	size_t			 n_main;	/* live attempts not hedges:
						 * at most --jobs */
	struct timer		 drain_timer;
	struct demand		 demand;	/* sizes the warm pool */
	struct timer		 gate_timer;	/* the rate limit's wait */
	bool			 shutting_down;
	struct engine_stats	 stats;
	/* Spawning out of descriptors or processes: an episode. */
	bool			 spawn_starved;	/* in an episode */
	size_t			 spawn_cap;	/* workers at once meanwhile */
	long			 spawn_backoff_ms;
	int64_t			 spawn_retry_at;	/* no spawn before */
	int64_t			 spawn_failed_ms;	/* the last failure */
};

#define SPAWN_BACKOFF_MIN_MS	20
#define SPAWN_BACKOFF_MAX_MS	1000
#define SPAWN_QUIET_MS		5000	/* no failure this long: it is over */

static void	on_slot_event(void *, struct slot *, enum slot_event,
		    int64_t);
static void	on_request_timer(void *, int64_t);
static void	on_hedge_timer(void *, int64_t);
static void	on_drain_timer(void *, int64_t);
static void	tell_waiting(struct engine *, int64_t);
static void	run_turn(void *, int64_t);
static void	run_late(void *, int64_t);
static void	on_sigchld(void *, int);

/* Slots only hedges may take beyond --jobs: their budget's share of the
 * workers, at least 2; none with hedging off. */
static size_t
hedge_slots(const struct config *cfg)
{
	unsigned pct = cfg->hedge_budget_pct > 0 ? cfg->hedge_budget_pct :
	    cfg->retry_budget_pct > 0 ? cfg->retry_budget_pct : 10;
	size_t n;

	if (cfg->hedge == CONFIG_HEDGE_OFF)
		return 0;
	n = ((size_t)cfg->jobs * pct + 99) / 100;
	return n < 2 ? 2 : n;
}

struct engine *
engine_new(const struct config *cfg, struct loop *l, struct signals *sigs,
    const struct spawner *sp, engine_answer_fn answer, void *arg)
{
	struct engine *e;
	size_t frame_max;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = cfg;
	e->loop = l;
	e->sigs = sigs;
	e->answer = answer;
	e->answer_arg = arg;
	e->spawn_opts.worker_path = cfg->worker_path;
	e->spawn_opts.api_key = cfg->api_key;
	e->spawn_opts.warm_idle_ms = cfg->warm_idle_ms;
	e->spawn_opts.memory = cfg->worker_memory;
	e->spawn_opts.fail_every = cfg->fault_fork_every;
	if (sp != NULL)
		e->spawner = *sp;
	else
		spawner_init(&e->spawner, &e->spawn_opts);
	e->stats.started_ms = clock_ms();
	fairq_init(&e->q);
	TAILQ_INIT(&e->backoff);
	TAILQ_INIT(&e->running);
	loop_timer_init(&e->drain_timer, on_drain_timer, e);
	loop_timer_init(&e->gate_timer, NULL, NULL);
	/* A body is the API's floats re-printed: at most ~4 bytes of
	 * decimal text per byte of base64 received. */
	frame_max = cfg->max_response > (PROTO_FRAME_MAX - (1 << 20)) / 4 ?
	    PROTO_FRAME_MAX : cfg->max_response * 4 + (1 << 20);
	/* --jobs attempts at once; hedges get a few slots beyond them (with
	 * every worker busy, the slow call that wants a hedge would
	 * otherwise never get one); and beside all of them up to --jobs (or
	 * --warm) warm workers wait. */
	e->slots = slots_new(l, &e->spawner, cfg->jobs + hedge_slots(cfg) +
	    (cfg->warm == CONFIG_WARM_AUTO ? cfg->jobs : cfg->warm),
	    frame_max, cfg->host,
	    strncmp(cfg->base_url, "https:", 6) == 0, on_slot_event, e);
	if (e->slots != NULL)
		slots_set_limit(e->slots, cfg->jobs + hedge_slots(cfg));
	e->policy = policy_new(cfg);
	if (e->slots == NULL || e->policy == NULL ||
	    loop_add_hook(l, LOOP_WORK, run_turn, e) == -1 ||
	    loop_add_hook(l, LOOP_LATE, run_late, e) == -1) {
		loop_remove_hook(l, LOOP_WORK, run_turn, e);
		slots_free(e->slots);
		policy_free(e->policy);
		free(e);
		return NULL;
	}
	if (sigs != NULL)
		sig_on(sigs, SIGCHLD, on_sigchld, e);
	return e;
}

bool
engine_is_full(const struct engine *e)
{
	return fairq_n_waiting(&e->q) >= e->cfg->queue_max;
}

bool
engine_is_idle(const struct engine *e)
{
	return e->n_live == 0 && slots_are_idle(e->slots);
}

struct policy *
engine_policy(struct engine *e)
{
	return e->policy;
}

const struct engine_stats *
engine_stats(struct engine *e)
{
	const struct slot_counts *sc = slots_counts(e->slots);

	e->stats.workers_started = sc->started;
	e->stats.workers_killed = sc->killed;
	_Static_assert(STATS_KILL_REASONS == SLOT_KILL_N, "kill reasons");
	memcpy(e->stats.workers_killed_by, sc->killed_by,
	    sizeof(e->stats.workers_killed_by));
	e->stats.spawn_failures = sc->spawn_failures;
	e->stats.warm_failures = sc->warm_failures;
	e->stats.busy = sc->busy;
	e->stats.running = slots_running(e->slots);
	e->stats.queued = fairq_n_waiting(&e->q);
	policy_stats(e->policy, clock_ms(), &e->stats);
	return &e->stats;
}

void
engine_count(struct engine *e, enum req_code code)
{
	e->stats.requests++;
	stats_count_answer(&e->stats, code);
}

/* Take req out of whichever list its state puts it on. */
static void
unlist(struct engine *e, struct request *req)
{
	switch (req->state) {
	case REQ_STATE_QUEUED:
		fairq_remove(&e->q, req);
		fairq_count_waiting(&e->q, req, -1);
		break;
	case REQ_STATE_BACKOFF:
		TAILQ_REMOVE(&e->backoff, req, entry);
		fairq_count_waiting(&e->q, req, -1);
		break;
	case REQ_STATE_RUNNING:
		TAILQ_REMOVE(&e->running, req, entry);
		fairq_count_running(&e->q, req, -1);
		break;
	default:
		break;
	}
	req->state = REQ_STATE_NEW;
}

/* Conclude none of req's attempts any more and SIGKILL their workers:
 * the request is answered without them; won: a sibling answered ok, so
 * each lost a race (a hedge's kill, not a timeout). */
static void
drop_attempts(struct engine *e, struct request *req, enum slot_kill why,
    bool won, int64_t now)
{
	struct policy_outcome po = { REQ_CANCELLED, NULL, won, NULL };
	struct attempt *at;

	while ((at = LIST_FIRST(&req->live)) != NULL) {
		LIST_REMOVE(at, entry);
		loop_disarm(e->loop, &at->hedge_timer);
		(void)policy_attempt_ended(e->policy, req, &at->pa, &po, now);
		at->req = NULL;
		req->n_live--;
		if (!at->hedge)
			e->n_main--;
		slot_kill(at->slot, why);
	}
}

/* Answer req and free it. */
static void
finish_request(struct engine *e, struct request *req, struct answer *a,
    int64_t now)
{
	loop_disarm(e->loop, &req->timer);
	unlist(e, req);
	drop_attempts(e, req, req->cancelled ? SLOT_KILL_CANCEL :
	    SLOT_KILL_LOST, a->code == REQ_OK, now);
	a->attempts = req->attempts;
	a->ms = (long)(now - req->received_ms);
	stats_count_answer(&e->stats, a->code);
	if (a->code != REQ_OK)
		log_debug("request %s failed after %u attempts: %s: %s",
		    req->id_json, a->attempts, req_code_name(a->code),
		    a->message);
	e->n_live--;
	if (req->answer != NULL)
		req->answer(req, a);
	else
		e->answer(e->answer_arg, req, a);
	request_free(req);
}

/* Answer req with an error; retry_after_ms -1 says nothing of when. */
static void
answer_error_after(struct engine *e, struct request *req, enum req_code code,
    bool retryable, int http_status, const char *message,
    long retry_after_ms, int64_t now)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	a.retryable = retryable;
	a.http_status = http_status;
	a.message = message;
	a.retry_after_ms = retry_after_ms;
	finish_request(e, req, &a, now);
}

static void
answer_error(struct engine *e, struct request *req, enum req_code code,
    bool retryable, int http_status, const char *message, int64_t now)
{
	answer_error_after(e, req, code, retryable, http_status, message, -1,
	    now);
}

/* Answer req with the error every call to the endpoint gets. */
static void
answer_endpoint_failed(struct engine *e, struct request *req, int status,
    const char *message, int64_t now)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = REQ_HTTP;
	a.http_status = status;
	a.message = message;
	a.retry_after_ms = -1;
	a.endpoint_failed = true;
	finish_request(e, req, &a, now);
}

/*
 * Answer req, not yet started, with what the policy's gate said, making
 * no call: POLICY_CIRCUIT_OPEN, POLICY_FAILED (the final error), or
 * POLICY_WAIT for longer than its deadline leaves (rate_limited).
 */
static void
answer_refused(struct engine *e, struct request *req, enum policy_gate gate,
    long wait_ms, int64_t now)
{
	const char *host = e->cfg->host != NULL ? e->cfg->host : "-";
	char message[800];
	struct answer a;
	const char *failed;
	int status;
	long left;

	if (gate == POLICY_FAILED) {
		policy_failed(e->policy, now, &status, &failed, &left);
		(void)snprintf(message, sizeof(message), "no call made: the "
		    "endpoint answered every call with HTTP %d for %ld ms "
		    "more: %s", status, left, failed);
		answer_endpoint_failed(e, req, status, message, now);
		return;
	}
	if (gate == POLICY_CIRCUIT_OPEN)
		(void)snprintf(message, sizeof(message), "circuit open: the "
		    "last calls to %s failed; no call made, the next probe "
		    "in %ld ms", host, wait_ms);
	else
		(void)snprintf(message, sizeof(message), "rate limited: calls "
		    "to %s wait %ld ms for the rate limit, past this "
		    "request's deadline; no call made", host, wait_ms);
	memset(&a, 0, sizeof(a));
	a.code = gate == POLICY_CIRCUIT_OPEN ? REQ_CIRCUIT_OPEN :
	    REQ_RATE_LIMITED;
	a.retryable = true;
	a.message = message;
	a.retry_after_ms = wait_ms;
	a.refused = true;
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
	req->attempts = req->attempts_before < policy_max_attempts(e->policy) ?
	    req->attempts_before : policy_max_attempts(e->policy) - 1;
	req->n_live = 0;
	LIST_INIT(&req->live);
	loop_timer_init(&req->timer, on_request_timer, req);
	req->engine = e;
	e->stats.requests++;
	e->n_live++;
	req->state = REQ_STATE_QUEUED;
	fairq_push(&e->q, req, false);
	fairq_count_waiting(&e->q, req, 1);
	loop_arm(e->loop, &req->timer, req->deadline_at_ms);
	loop_wake(e->loop);
}

/* Wait delay ms, then put req back at the head of its line. */
static void
schedule_retry(struct engine *e, struct request *req, long delay,
    int64_t now)
{
	unlist(e, req);
	e->stats.retries++;
	req->state = REQ_STATE_BACKOFF;
	TAILQ_INSERT_TAIL(&e->backoff, req, entry);
	fairq_count_waiting(&e->q, req, 1);
	loop_arm(e->loop, &req->timer, now + delay);
}

/*
 * After a failed attempt with none of req's attempts left running: retry
 * if the policy says so, else answer with this failure.
 */
static void
after_failure(struct engine *e, struct request *req, enum req_code code,
    bool retryable, int http_status, long retry_after_ms,
    const char *message, int64_t now)
{
	struct policy_failure f;
	char note[128], full[1200];
	long delay;

	f.code = code;
	f.retryable = retryable;
	f.retry_after_ms = retry_after_ms;
	f.stopping = e->shutting_down;
	if (policy_should_retry(e->policy, req, &f, now, &delay, note,
	    sizeof(note))) {
		log_debug("request %s: retry in %ld ms after %s",
		    req->id_json, delay, message);
		schedule_retry(e, req, delay, now);
		return;
	}
	(void)snprintf(full, sizeof(full), "%s%s", message, note);
	/* A 429 that asks for more than the deadline leaves: say when. */
	answer_error_after(e, req, code, retryable, http_status, full,
	    code == REQ_RATE_LIMITED ? retry_after_ms : -1, now);
}

/* What a worker that ended without a result means, and its message. */
static enum req_code
code_without_result(const struct engine *e, const struct request *req,
    const struct attempt *at, const struct slot_outcome *o, char *message,
    size_t len)
{
	unsigned max = policy_max_attempts(e->policy);

	if (req->cancelled) {
		(void)snprintf(message, len, "cancelled at %ld ms of attempt "
		    "%u of %u: %s", o->elapsed_ms, at->no, max, o->where);
		return REQ_CANCELLED;
	}
	if (o->killed == SLOT_KILL_DEADLINE) {
		(void)snprintf(message, len, "attempt %u of %u killed at %ld "
		    "ms: %s", at->no, max, o->elapsed_ms, o->where);
		return REQ_TIMEOUT;
	}
	if (o->killed == SLOT_KILL_SHUTDOWN) {
		(void)snprintf(message, len, "attempt %u of %u killed by "
		    "shutdown at %ld ms: %s", at->no, max, o->elapsed_ms,
		    o->where);
		return REQ_SHUTTING_DOWN;
	}
	(void)snprintf(message, len, "%s at %ld ms, attempt %u of %u: %s",
	    o->ended, o->elapsed_ms, at->no, max, o->where);
	return REQ_WORKER_CRASHED;
}

/*
 * The attempt at is over (its result came, we killed it, or it ended
 * without a result): turn its outcome into the request's decision.
 * Called at once when the outcome is known, so the answer need not wait
 * for the kernel to tear the process down; the slot is freed later.
 */
static void
conclude(struct engine *e, struct attempt *at, int64_t now)
{
	struct request *req = at->req;
	struct slot_outcome o;
	char message[1024];
	struct policy_outcome po;
	struct answer a;
	enum req_code code;
	bool retryable, news;
	int http_status = 0;
	long retry_after_ms = -1;

	LIST_REMOVE(at, entry);
	loop_disarm(e->loop, &at->hedge_timer);
	at->req = NULL;
	req->n_live--;
	if (!at->hedge)
		e->n_main--;
	slot_outcome(at->slot, now, &o);
	if (o.has_result && !req->cancelled) {
		code = policy_code_of(o.result);
		retryable = policy_is_retryable(code, o.result);
		if (code == REQ_HTTP || code == REQ_RATE_LIMITED)
			http_status = o.result->http_status;
		retry_after_ms = o.result->retry_after_ms;
		(void)snprintf(message, sizeof(message), "attempt %u of %u: "
		    "%s", at->no, policy_max_attempts(e->policy),
		    o.result->message);
	} else {
		code = code_without_result(e, req, at, &o, message,
		    sizeof(message));
		retryable = code != REQ_CANCELLED;
	}
	if (code == REQ_TIMEOUT || code == REQ_WORKER_CRASHED)
		log_warn("request %s: %s", req->id_json, message);
	po.code = code;
	po.result = o.has_result ? o.result : NULL;
	po.lost = false;
	po.message = message;
	news = policy_attempt_ended(e->policy, req, &at->pa, &po, now);

	if (code == REQ_HTTP && policy_fails_every_call(e->policy, req,
	    http_status)) {
		/* Every call would get it: say so (batch stops), and once
		 * confirmed, the queued hear it now. */
		answer_endpoint_failed(e, req, http_status, message, now);
		if (news)
			tell_waiting(e, now);
		return;
	}
	if (news)
		tell_waiting(e, now);
	if (code == REQ_OK) {
		if (at->hedge)
			e->stats.hedges_won++;
		memset(&a, 0, sizeof(a));
		a.code = REQ_OK;
		a.body = o.body;
		a.body_len = o.body_len;
		finish_request(e, req, &a, now);
		return;
	}
	/* A sibling still runs: wait for it, unless this failure ends the
	 * request whatever the sibling does. Alone, the policy decides. */
	if (req->n_live > 0 && retryable && code != REQ_SHUTTING_DOWN)
		return;
	if (req->n_live > 0)
		answer_error(e, req, code, retryable, http_status, message,
		    now);
	else
		after_failure(e, req, code, retryable, http_status,
		    retry_after_ms, message, now);
}

static void
on_slot_event(void *arg, struct slot *s, enum slot_event ev, int64_t now)
{
	struct engine *e = arg;
	struct attempt *at = slot_owner(s);

	/* A warm worker that never got a job (slot logs the odd ones). */
	if (at == NULL)
		return;
	if (at->req != NULL)
		conclude(e, at, now);
	if (ev == SLOT_ENDED)
		free(at);
}

/* Fill job with attempt number no of req, with budget_ms to run. */
static void
make_job(const struct engine *e, const struct request *req, unsigned no,
    long budget_ms, char *id_title, size_t title_len, struct job *job)
{
	const struct config *cfg = e->cfg;

	(void)snprintf(id_title, title_len, "%s", req->id_json);
	memset(job, 0, sizeof(*job));
	job->base_url = cfg->base_url;
	job->model = req->model != NULL ? req->model : cfg->model;
	job->input_json = req->input_json;
	job->n_inputs = req->n_inputs;
	job->dimensions = req->dimensions > 0 ? req->dimensions :
	    cfg->dimensions;
	job->extra_json = req->extra_json;
	job->encoding = cfg->encoding;
	job->timeout_ms = budget_ms;
	job->headers = (const char *const *)cfg->headers;
	job->n_headers = cfg->n_headers;
	job->n_secret_headers = cfg->n_secret_headers;
	job->api_key_header = cfg->api_key_header;
	job->cacert = cfg->cacert;
	job->insecure = cfg->insecure;
	job->max_response = cfg->max_response;
	job->api_key = cfg->api_key;
	job->request_id = id_title;
	job->attempt = no;
	job->connect_timeout_ms = cfg->connect_timeout_ms;
}

/* Is errno a spawn failure for lack of descriptors, processes or
 * memory, that is, of the machine and not of the request? */
static bool
is_starved(int err)
{
	return err == EMFILE || err == ENFILE || err == EAGAIN ||
	    err == ENOMEM;
}

/*
 * The spawn for req failed for lack of resources (err): not its fault.
 * It keeps its attempt and waits, at the head of its line, until the
 * next try (backoff doubling from SPAWN_BACKOFF_MIN_MS) or its deadline;
 * fewer workers run at once until a spawn works again (spawn_worked).
 * Logged once per episode.
 */
static void
spawn_starved(struct engine *e, struct request *req, int err, int64_t now)
{
	char message[256];
	size_t busy = slots_counts(e->slots)->busy;

	req->attempts--;
	if (!e->spawn_starved) {
		e->spawn_starved = true;
		e->spawn_backoff_ms = SPAWN_BACKOFF_MIN_MS;
		log_warn("cannot spawn workers: %s; requests wait (no attempt "
		    "spent) and fewer workers run (%zu now) until spawning "
		    "works again", strerror(err), busy);
	} else if (e->spawn_backoff_ms < SPAWN_BACKOFF_MAX_MS)
		e->spawn_backoff_ms *= 2;
	e->spawn_cap = busy > 0 ? busy : 1;
	e->spawn_failed_ms = now;
	e->spawn_retry_at = now + e->spawn_backoff_ms;
	if (e->spawn_retry_at >= req->deadline_at_ms) {
		(void)snprintf(message, sizeof(message), "cannot spawn a "
		    "worker before the deadline: %s", strerror(err));
		answer_error(e, req, REQ_WORKER_CRASHED, true, 0, message, now);
		return;
	}
	unlist(e, req);
	req->state = REQ_STATE_BACKOFF;
	TAILQ_INSERT_TAIL(&e->backoff, req, entry);
	fairq_count_waiting(&e->q, req, 1);
	loop_arm(e->loop, &req->timer, e->spawn_retry_at);
}

/* A spawn worked: during an episode, allow one more worker at once; the
 * episode is over once all may run and none failed for SPAWN_QUIET_MS. */
static void
spawn_worked(struct engine *e, int64_t now)
{
	if (!e->spawn_starved)
		return;
	e->spawn_backoff_ms = SPAWN_BACKOFF_MIN_MS;
	if (e->spawn_cap < e->cfg->jobs)
		e->spawn_cap++;
	else if (now - e->spawn_failed_ms >= SPAWN_QUIET_MS) {
		e->spawn_starved = false;
		log_info("spawning workers works again");
	}
}

/*
 * Start the next attempt of req (RUNNING) on slot s: a first attempt, a
 * retry or a hedge (another attempt of req is running); probe: the
 * circuit's one probe. Returns 0, or -1 after the failure was handled
 * (the request retried or answered, unless it was a hedge).
 */
static int
start_attempt(struct engine *e, struct slot *s, struct request *req,
    enum budget_kind kind, bool probe, int64_t now)
{
	bool hedge = kind == BUDGET_HEDGE;
	char id_title[48], message[512];
	struct attempt *at;
	struct job job;
	long budget, hedge_ms;
	int err;

	/* The attempt's clock starts when the request is handed its slot,
	 * now, the turn's time: the forks of the requests before it in this
	 * turn must not push its deadline back. */
	budget = policy_attempt_budget_ms(e->policy, req, now);
	make_job(e, req, ++req->attempts, budget, id_title, sizeof(id_title),
	    &job);
	at = calloc(1, sizeof(*at));
	if (at == NULL || slot_start(s, &job, at, now + budget) == -1) {
		err = at == NULL ? ENOMEM : errno;
		free(at);
		if (is_starved(err)) {
			/* A hedge just does not start. */
			if (hedge)
				req->attempts--;
			else
				spawn_starved(e, req, err, now);
			return -1;
		}
		(void)snprintf(message, sizeof(message), "cannot spawn worker "
		    "'%s': %s", e->cfg->worker_path != NULL ?
		    e->cfg->worker_path : "(built in)", strerror(err));
		log_error("%s", message);
		/* A hedge that cannot start leaves its sibling running. */
		if (!hedge)
			after_failure(e, req, REQ_WORKER_CRASHED, true, 0, -1,
			    message, now);
		return -1;
	}
	spawn_worked(e, now);
	at->req = req;
	at->slot = s;
	at->no = job.attempt;
	at->hedge = hedge;
	policy_attempt_started(e->policy, req, kind, probe, now, &at->pa);
	loop_timer_init(&at->hedge_timer, on_hedge_timer, at);
	LIST_INSERT_HEAD(&req->live, at, entry);
	req->n_live++;
	if (!hedge)
		e->n_main++;
	if (hedge)
		e->stats.hedges++;
	demand_note(&e->demand, slots_running(e->slots), now);
	hedge_ms = policy_hedge_delay_ms(e->policy, req);
	if (req->n_live == 1 && hedge_ms >= 0 &&
	    req->attempts < policy_max_attempts(e->policy))
		loop_arm(e->loop, &at->hedge_timer, now + hedge_ms);
	log_debug("request %s attempt %u%s: worker %ld, %ld ms", req->id_json,
	    job.attempt, hedge ? " (hedge)" : "", (long)slot_pid(s), budget);
	return 0;
}

/* req's only attempt has run for the hedge delay: start a second one
 * beside it if a worker is free and the policy still allows it. */
static void
on_hedge_timer(void *owner, int64_t now)
{
	struct attempt *at = owner;
	struct request *req = at->req;
	struct engine *e;
	struct slot *s;

	if (req == NULL)
		return;
	e = req->engine;
	if (req->state != REQ_STATE_RUNNING || req->n_live != 1 ||
	    req->cancelled || e->shutting_down ||
	    req->attempts >= policy_max_attempts(e->policy))
		return;
	if (!policy_may_hedge(e->policy, req, now)) {
		log_debug("request %s: no hedge: the budget, the circuit or "
		    "the rate limit says no", req->id_json);
		return;
	}
	s = slots_pick(e->slots);
	if (s == NULL) {
		/* Slots free as workers are reaped: look again soon. */
		log_debug("request %s: no worker free for a hedge yet",
		    req->id_json);
		loop_arm(e->loop, &at->hedge_timer, now + HEDGE_AGAIN_MS);
		return;
	}
	(void)start_attempt(e, s, req, BUDGET_HEDGE, false, now);
}

static void
on_request_timer(void *owner, int64_t now)
{
	struct request *req = owner;
	struct engine *e = req->engine;
	char message[256];

	if (req->state == REQ_STATE_BACKOFF) {
		/* Retries go first: they have waited longest. */
		TAILQ_REMOVE(&e->backoff, req, entry);
		req->state = REQ_STATE_QUEUED;
		fairq_push(&e->q, req, true);
		loop_arm(e->loop, &req->timer, req->deadline_at_ms);
		return;
	}
	(void)snprintf(message, sizeof(message), "deadline of %ld ms passed "
	    "%s", (long)(req->deadline_at_ms - req->received_ms),
	    req->attempts == 0 ? "before a worker was free" :
	    "while waiting for a worker to retry");
	answer_error(e, req, REQ_TIMEOUT, true, 0, message, now);
}

static void
on_drain_timer(void *owner, int64_t now)
{
	struct engine *e = owner;

	(void)now;
	slots_kill_all(e->slots, SLOT_KILL_SHUTDOWN);
}

static void
on_sigchld(void *arg, int signo)
{
	(void)signo;
	engine_reap(arg);
}

void
engine_reap(struct engine *e)
{
	slots_reap(e->slots);
}

/* The loop's LOOP_WORK hook: free finished slots, start attempts on
 * free ones as the policy allows (answering at once those the endpoint
 * refuses). LOOP_LATE tops up the warm pool. */
static void
run_turn(void *arg, int64_t now)
{
	struct engine *e = arg;
	enum policy_gate gate;
	struct request *req;
	struct slot *s;
	long wait;

	slots_sweep(e->slots, now);
	while (!e->shutting_down) {
		/* Out of descriptors or processes: fewer at once, later. */
		if (e->spawn_starved && (now < e->spawn_retry_at ||
		    slots_counts(e->slots)->busy >= e->spawn_cap))
			break;
		s = NULL;
		gate = policy_gate(e->policy, NULL, now, &wait);
		/* Refused requests need no worker: answer them all now. */
		if (gate == POLICY_GO && (e->n_main >= e->cfg->jobs ||
		    (s = slots_pick(e->slots)) == NULL))
			break;
		req = fairq_next(&e->q);
		if (req == NULL)
			break;
		/* Off its line: state NEW until it runs or waits again. */
		fairq_count_waiting(&e->q, req, -1);
		loop_disarm(e->loop, &req->timer);
		req->state = REQ_STATE_NEW;
		if (req->deadline_at_ms <= now) {
			answer_error(e, req, REQ_TIMEOUT, true, 0,
			    "deadline passed before a worker was free", now);
			continue;
		}
		gate = policy_gate(e->policy, req, now, &wait);
		if (gate == POLICY_CIRCUIT_OPEN || gate == POLICY_FAILED) {
			answer_refused(e, req, gate, wait, now);
			continue;
		}
		if (gate == POLICY_WAIT && req->deadline_at_ms <= now + wait) {
			answer_refused(e, req, gate, wait, now);
			continue;
		}
		if (gate == POLICY_WAIT || s == NULL) {
			req->state = REQ_STATE_QUEUED;
			fairq_push(&e->q, req, true);
			fairq_count_waiting(&e->q, req, 1);
			loop_arm(e->loop, &req->timer, req->deadline_at_ms);
			if (gate == POLICY_WAIT) {
				policy_count_wait(e->policy);
				loop_arm(e->loop, &e->gate_timer, now + wait);
			}
			break;
		}
		req->state = REQ_STATE_RUNNING;
		TAILQ_INSERT_TAIL(&e->running, req, entry);
		fairq_count_running(&e->q, req, 1);
		(void)start_attempt(e, s, req, req->attempts == 0 ?
		    BUDGET_FIRST : BUDGET_RETRY, gate == POLICY_PROBE, now);
	}
}

/*
 * How many warm workers to keep: --warm, or from demand: the recent peak
 * of calls at once, plus what the recent rate of calls drains while a
 * refill connects (at least one, at most --jobs).
 */
static size_t
warm_wanted(struct engine *e, int64_t now)
{
	const struct slot_counts *sc = slots_counts(e->slots);
	double in_refill;
	size_t want;

	if (e->cfg->warm != CONFIG_WARM_AUTO)
		return e->cfg->warm;
	in_refill = demand_rate(&e->demand, now) *
	    (double)sc->warm_ready_ms / 1000;
	want = demand_peak(&e->demand, now) + (size_t)(in_refill + 0.999);
	if (want < 1)
		want = 1;
	return want < e->cfg->jobs ? want : e->cfg->jobs;
}

/* The loop's LOOP_LATE hook: top up the warm pool, after the turn's
 * answers are written, so refills never delay one. */
static void
run_late(void *arg, int64_t now)
{
	struct engine *e = arg;
	const struct config *cfg = e->cfg;
	struct job tmpl;

	if (e->shutting_down || e->spawn_starved)
		return;
	/* What a warm worker connects with; the job itself comes later. */
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.base_url = cfg->base_url;
	tmpl.model = cfg->model;
	tmpl.cacert = cfg->cacert;
	tmpl.insecure = cfg->insecure;
	tmpl.connect_timeout_ms = cfg->connect_timeout_ms;
	tmpl.timeout_ms = cfg->timeout_ms;
	tmpl.max_response = cfg->max_response;
	slots_top_up(e->slots, warm_wanted(e, now), &tmpl, now);
}

struct tell {
	struct engine	*engine;
	int64_t		 now;
};

/* A queued request the endpoint refuses, or that the rate limit holds
 * past its deadline, is answered now. */
static void
tell_one(void *arg, struct request *req)
{
	struct tell *t = arg;
	enum policy_gate gate;
	long wait;

	gate = policy_gate(t->engine->policy, req, t->now, &wait);
	if (gate == POLICY_CIRCUIT_OPEN || gate == POLICY_FAILED)
		answer_refused(t->engine, req, gate, wait, t->now);
	else if (gate == POLICY_WAIT && req->deadline_at_ms <= t->now + wait)
		answer_refused(t->engine, req, gate, wait, t->now);
}

/*
 * The endpoint just failed for good or paused: tell the requests that
 * wait (queued, and backing off for a final error) now rather than at
 * their turn. Cost: a walk of every waiting request, once per 429 or
 * final error.
 */
static void
tell_waiting(struct engine *e, int64_t now)
{
	struct tell t = { e, now };
	struct request *req;
	long wait;

	fairq_walk(&e->q, tell_one, &t);
	if (policy_gate(e->policy, NULL, now, &wait) != POLICY_FAILED)
		return;
	while ((req = TAILQ_FIRST(&e->backoff)) != NULL)
		answer_refused(e, req, POLICY_FAILED, wait, now);
}

/* Answer every waiting request shutting_down. */
static void
drop_waiting(struct engine *e, int64_t now)
{
	struct request *req;

	while ((req = fairq_first(&e->q)) != NULL)
		answer_error(e, req, REQ_SHUTTING_DOWN, true, 0,
		    "shutting down before the request was sent", now);
	while ((req = TAILQ_FIRST(&e->backoff)) != NULL)
		answer_error(e, req, REQ_SHUTTING_DOWN, true, 0,
		    "shutting down while waiting to retry", now);
}

void
engine_shutdown(struct engine *e, int64_t now, long drain_ms)
{
	if (e->shutting_down)
		drain_ms = 0;
	e->shutting_down = true;
	drop_waiting(e, now);
	if (drain_ms > 0) {
		if (!timer_is_armed(&e->drain_timer))
			loop_arm(e->loop, &e->drain_timer, now + drain_ms);
		return;
	}
	loop_disarm(e->loop, &e->drain_timer);
	slots_kill_all(e->slots, SLOT_KILL_SHUTDOWN);
}

/* Does req belong to owner and, when id_json is given, carry that id? */
static bool
matches(const struct request *req, const void *owner, const char *id_json)
{
	return req->owner == owner &&
	    (id_json == NULL || strcmp(req->id_json, id_json) == 0);
}

struct cancel {
	struct engine	*engine;
	const void	*owner;
	const char	*id_json;
	const char	*message;
	int64_t		 now;
	size_t		 n;
};

/* Answer req cancelled if it matches. */
static void
cancel_one(void *arg, struct request *req)
{
	struct cancel *cx = arg;

	if (!matches(req, cx->owner, cx->id_json))
		return;
	cx->n++;
	answer_error(cx->engine, req, REQ_CANCELLED, false, 0, cx->message,
	    cx->now);
}

size_t
engine_cancel(struct engine *e, const void *owner, const char *id_json,
    int64_t now)
{
	struct cancel cx = { e, owner, id_json, NULL, now, 0 };
	struct request *req, *next;
	struct attempt *at;

	/* Cost: a walk of every waiting request; cancels are rare. */
	cx.message = "cancelled before the request was sent";
	fairq_walk(&e->q, cancel_one, &cx);
	cx.message = "cancelled while waiting to retry";
	for (req = TAILQ_FIRST(&e->backoff); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		cancel_one(&cx, req);
	}
	for (req = TAILQ_FIRST(&e->running); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (!matches(req, owner, id_json) || req->cancelled)
			continue;
		cx.n++;
		req->cancelled = true;
		/* Killing one attempt answers the request cancelled; that
		 * answer kills the others. */
		at = LIST_FIRST(&req->live);
		if (at != NULL)
			slot_kill(at->slot, SLOT_KILL_CANCEL);
	}
	return cx.n;
}

void
engine_free(struct engine *e)
{
	int64_t now;

	if (e == NULL)
		return;
	now = clock_ms();
	engine_shutdown(e, now, 0);
	engine_shutdown(e, now, 0);
	slots_free(e->slots);
	drop_waiting(e, now);
	loop_disarm(e->loop, &e->drain_timer);
	loop_disarm(e->loop, &e->gate_timer);
	loop_remove_hook(e->loop, LOOP_WORK, run_turn, e);
	loop_remove_hook(e->loop, LOOP_LATE, run_late, e);
	if (e->sigs != NULL)
		sig_on(e->sigs, SIGCHLD, NULL, NULL);
	policy_free(e->policy);
	free(e);
}
