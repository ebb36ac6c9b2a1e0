/*
 * session: see session.h. Called by pipe and serve; the engine calls
 * back through session_answer.
 *
 * Descriptors: a socket is watched for as long as it is open, with
 * events 0 when nothing is wanted, so a hang-up is still seen; a pipe
 * pair is watched only while there is something to read or write, since
 * a pipe whose writer left reports POLLHUP for ever. Invariants: reading
 * is false once the input is done or refused; lost is true once the
 * output is gone, and then out is empty and stays so.
 *
 * Every request gets an answer, even when memory runs out: out always
 * has room allocated (not just allowed) for reserved bytes, an error
 * answer for each live request (ANSWER_RESERVE beside its id). A request
 * is taken only once its share is reserved (else its line waits, and the
 * session reads nothing, for RETRY_MS); an answer that cannot be built
 * in full is replaced by a short error answer naming the cause, which
 * fits in the request's share without allocating. Once written, out
 * gives back what it held beyond the reservation and OUT_KEEP, so one
 * big answer does not pin its memory to the session.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "engine/fairq.h"
#include "protocol/jsonl.h"
#include "protocol/lines.h"
#include "protocol/session.h"

#define READ_CHUNK	(64 * 1024)
#define OUT_HIGH_WATER	(4 * 1024 * 1024)
#define ANSWER_RESERVE	320	/* the fallback error answer, but its id */
#define IMMEDIATE_MAX	2048	/* an invalid or stats answer, but its id */
#define OUT_KEEP	(64 * 1024)	/* room kept once out is written */
#define RETRY_MS	100	/* a line that found no memory waits */

struct session {
	struct loop		*loop;
	struct engine		*engine;
	const struct config	*cfg;
	struct session_params	 p;
	int			 in_fd;		/* -1 once closed (socket) */
	struct lines		 in;
	struct buf		 out;
	bool			 reading;	/* the peer may still send */
	bool			 lost;		/* answers go nowhere */
	size_t			 n_live;	/* requests the engine holds */
	size_t			 reserved;	/* room in out kept for them */
	bool			 starved;	/* no memory: wait for retry */
	int64_t			 active_ms;	/* last read, answer or write */
	struct timer		 retry_timer;
	uint64_t		 n_lost;
	struct fairq_line	 line;
};

static void	on_fd(void *, int, short);
static void	on_retry(void *, int64_t);
static void	input_hook(void *, int64_t);
static void	output_hook(void *, int64_t);

struct session *
session_new(struct loop *l, struct engine *e, const struct config *cfg,
    const struct session_params *p)
{
	struct session *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = l;
	s->engine = e;
	s->cfg = cfg;
	s->p = *p;
	s->in_fd = p->in_fd;
	s->reading = true;
	s->active_ms = clock_ms();
	lines_init(&s->in, cfg->max_line);
	buf_init(&s->out, cfg->fault_out_cap > 0 ? cfg->fault_out_cap :
	    SIZE_MAX / 2);
	fairq_line_init(&s->line, p->max_waiting, p->max_running);
	loop_timer_init(&s->retry_timer, on_retry, s);
	if (loop_add_hook(l, LOOP_INPUT, input_hook, s) == -1 ||
	    loop_add_hook(l, LOOP_OUTPUT, output_hook, s) == -1 ||
	    (p->is_socket && loop_watch(l, s->in_fd, POLLIN, on_fd, s) == -1)) {
		session_free(s);
		return NULL;
	}
	return s;
}

/* Stop using a socket's descriptor, or a pipe pair's. */
static void
close_fds(struct session *s)
{
	if (s->in_fd == -1)
		return;
	loop_unwatch(s->loop, s->in_fd);
	if (s->p.out_fd != s->in_fd)
		loop_unwatch(s->loop, s->p.out_fd);
	if (s->p.is_socket)
		(void)close(s->in_fd);
	s->in_fd = -1;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	close_fds(s);
	loop_disarm(s->loop, &s->retry_timer);
	loop_remove_hook(s->loop, LOOP_INPUT, input_hook, s);
	loop_remove_hook(s->loop, LOOP_OUTPUT, output_hook, s);
	lines_free(&s->in);
	buf_free(&s->out);
	free(s);
}

/* Answer lines in out, each not (fully) written. Cost: O(bytes), once
 * per session, when its output is lost. */
static uint64_t
count_lines(const struct buf *out)
{
	const char *p = buf_data(out), *end = p + buf_len(out);
	uint64_t n = 0;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* The output is gone, or the peer: cancel everything that would only
 * serve it. */
static void
lose(struct session *s, const char *why)
{
	if (s->lost)
		return;
	if (s->p.is_socket)
		log_debug("%s: %s; cancelling %zu requests", s->p.name, why,
		    s->n_live);
	else
		log_error("cannot write answers to %s: %s; stopping",
		    s->p.name, why);
	s->lost = true;
	s->reading = false;
	lines_close(&s->in);
	/* The answers it still held are lost too. */
	s->n_lost += count_lines(&s->out);
	buf_free(&s->out);
	s->reserved = 0;
	if (s->p.is_socket)
		close_fds(s);
	/* None live after engine_free: then the engine may be gone. */
	if (s->n_live > 0)
		(void)engine_cancel(s->engine, s, NULL, clock_ms());
}

/* The room out keeps for the answer of a live request with this id. */
static size_t
share_of(const char *id_json)
{
	return ANSWER_RESERVE + (id_json != NULL ? strlen(id_json) : 4);
}

/* Make sure out has room allocated for everything reserved plus extra
 * bytes. Returns false if memory (or the test cap) says no. */
static bool
reserve(struct session *s, size_t extra)
{
	if (s->lost)
		return true;
	return buf_reserve(&s->out, s->reserved + extra) != NULL;
}

/* An upper bound on the bytes of a's answer line. */
static size_t
answer_bound(const char *id_json, const struct answer *a)
{
	size_t n = share_of(id_json);

	/* A message character may become \u00XX. */
	if (a->code == REQ_OK)
		return n + a->body_len;
	return n + 6 * (a->message != NULL ? strlen(a->message) : 0);
}

/*
 * Write a's answer; the room reserved for it (if any) has just been given
 * back to s->reserved's spare. If the whole answer does not fit, a short
 * error answer naming the cause does: it is no longer than share_of.
 */
static void
emit(struct session *s, const char *id_json, const struct answer *a)
{
	struct answer fb;
	char msg[96];

	if (s->lost) {
		s->n_lost++;
		return;
	}
	s->active_ms = clock_ms();
	if (reserve(s, answer_bound(id_json, a)) &&
	    jsonl_format_answer(&s->out, id_json, a) == 0)
		return;
	log_error("%s: cannot build the answer for %.64s (%zu bytes): %s; "
	    "answering with an error", s->p.name, id_json != NULL ? id_json :
	    "null", answer_bound(id_json, a), strerror(errno));
	fb = *a;
	(void)snprintf(msg, sizeof(msg), "the answer (%zu bytes) could not "
	    "be built: out of memory in embedwatch", answer_bound(id_json, a));
	fb.message = msg;
	if (a->code == REQ_OK) {
		fb.code = REQ_BAD_RESPONSE;
		fb.retryable = true;
	}
	if (jsonl_format_answer(&s->out, id_json, &fb) == -1) {
		/* Only a broken reservation gets here. */
		log_error("%s: cannot write even an error answer for %.64s: %s",
		    s->p.name, id_json != NULL ? id_json : "null",
		    strerror(errno));
		s->n_lost++;
	}
}

void
session_answer(void *arg, struct request *req, const struct answer *a)
{
	struct session *s = req->owner;

	(void)arg;
	s->n_live--;
	if (!s->lost)
		s->reserved -= share_of(req->id_json);
	emit(s, req->id_json, a);
}

/* Memory ran out for a line: give it back and read nothing for a while. */
static void
starve(struct session *s, int64_t now)
{
	if (!s->starved)
		log_warn("%s: no memory for another request; waiting",
		    s->p.name);
	s->starved = true;
	lines_unget(&s->in);
	loop_arm(s->loop, &s->retry_timer, now + RETRY_MS);
}

static void
on_retry(void *owner, int64_t now)
{
	struct session *s = owner;

	(void)now;
	s->starved = false;
}

static void
answer_invalid(struct session *s, const char *id_json, const char *msg)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = REQ_INVALID_REQUEST;
	a.message = msg;
	log_debug("%s: invalid request %s: %s", s->p.name,
	    id_json != NULL ? id_json : "null", msg);
	engine_count(s->engine, REQ_INVALID_REQUEST);
	emit(s, id_json, &a);
}

static void
answer_stats(struct session *s, const char *id_json, int64_t now)
{
	char extra[256];
	int n = 0;

	if (s->p.stats_extra != NULL)
		n = s->p.stats_extra(s->p.arg, extra, sizeof(extra));
	if (!s->lost && jsonl_format_stats(&s->out, id_json,
	    engine_stats(s->engine), n > 0 ? extra : NULL, now) == -1)
		log_error("cannot format stats: %s", strerror(errno));
}

/* Take one line. Returns false if memory ran out before it was taken
 * (then it is handed out again later). */
static bool
handle_line(struct session *s, const char *line, size_t len, int64_t now)
{
	struct request *req;
	char err[256], *id_json;
	size_t share;

	if (lines_blank(line, len))
		return true;
	req = jsonl_parse_request(line, len, &id_json, err, sizeof(err));
	if (req == NULL) {
		if (!reserve(s, IMMEDIATE_MAX + share_of(id_json))) {
			free(id_json);
			return false;
		}
		answer_invalid(s, id_json, err);
		free(id_json);
		return true;
	}
	share = req->op == REQ_OP_EMBED ? share_of(req->id_json) :
	    IMMEDIATE_MAX + share_of(req->id_json);
	if (!reserve(s, share)) {
		request_free(req);
		return false;
	}
	switch (req->op) {
	case REQ_OP_EMBED:
		req->owner = s;
		req->line = &s->line;
		s->n_live++;
		if (!s->lost)
			s->reserved += share;
		engine_submit(s->engine, req, now);
		return true;
	case REQ_OP_CANCEL:
		/* Answered through the request it names, if still live. */
		if (engine_cancel(s->engine, s, req->id_json, now) == 0)
			log_debug("cancel of %s: no such request in flight",
			    req->id_json);
		break;
	case REQ_OP_STATS:
		answer_stats(s, req->id_json, now);
		break;
	}
	request_free(req);
	return true;
}

static bool
has_room(const struct session *s)
{
	return !engine_is_full(s->engine) && !fairq_line_is_full(&s->line);
}

/* Hand complete lines to the engine while there is room. */
static void
parse_lines(struct session *s, int64_t now)
{
	const char *line;
	size_t len;

	while (!s->lost && !s->starved && has_room(s) &&
	    lines_next(&s->in, &line, &len))
		if (!handle_line(s, line, len, now))
			starve(s, now);
}

static void
read_input(struct session *s, short revents)
{
	char msg[128], *id_json;
	const char *head;
	size_t len;

	switch (lines_read(&s->in, s->in_fd, READ_CHUNK)) {
	case LINES_OK:
		s->active_ms = clock_ms();
		return;
	case LINES_AGAIN:
		return;
	case LINES_EOF:
		s->reading = false;
		/* A socket whose peer hung up, not just half-closed. */
		if (s->p.is_socket && (revents & POLLHUP) != 0)
			lose(s, "hung up");
		return;
	case LINES_TOO_LONG:
		(void)snprintf(msg, sizeof(msg), "request line longer than "
		    "%zu bytes (--max-line)", s->cfg->max_line);
		head = lines_head(&s->in, &len);
		id_json = jsonl_peek_id(head, len);
		answer_invalid(s, id_json, msg);
		free(id_json);
		return;
	case LINES_ERROR:
		if (s->p.is_socket) {
			lose(s, strerror(errno));
			return;
		}
		log_error("cannot read %s: %s", s->p.name, strerror(errno));
		s->reading = false;
		lines_close(&s->in);
		return;
	}
}

bool
session_flush(struct session *s)
{
	ssize_t n;

	while (buf_len(&s->out) > 0 && !s->lost && s->in_fd != -1) {
		n = buf_write_fd(&s->out, s->p.out_fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return false;
		lose(s, s->p.is_socket && n == 0 ? "stopped reading" :
		    n == 0 ? "no progress" : strerror(errno));
	}
	return buf_len(&s->out) == 0;
}

static void
on_fd(void *arg, int fd, short revents)
{
	struct session *s = arg;

	if (fd == s->in_fd && s->reading &&
	    (revents & (POLLIN | POLLHUP | POLLERR)) != 0)
		read_input(s, revents);
	else if (s->p.is_socket && (revents & (POLLHUP | POLLERR)) != 0)
		lose(s, "hung up");
	/* A pipe whose reader left says POLLERR, not POLLOUT: the write
	 * tells why. */
	if (s->in_fd != -1 && fd == s->p.out_fd &&
	    (revents & (POLLOUT | POLLERR | POLLHUP)) != 0)
		(void)session_flush(s);
	parse_lines(s, clock_ms());
}

static bool
wants_input(const struct session *s)
{
	return s->reading && s->in_fd != -1 && has_room(s) && !s->starved &&
	    !lines_ready(&s->in) && buf_len(&s->out) < OUT_HIGH_WATER;
}

/* Ask the loop for what the session wants next. */
static void
update_events(struct session *s)
{
	bool in = wants_input(s), out = buf_len(&s->out) > 0 && !s->lost;

	if (s->in_fd == -1)
		return;
	if (s->p.is_socket) {
		loop_events(s->loop, s->in_fd, (short)((in ? POLLIN : 0) |
		    (out ? POLLOUT : 0)));
		return;
	}
	if (loop_watch_while(s->loop, s->in_fd, in, POLLIN, on_fd, s) == -1 ||
	    loop_watch_while(s->loop, s->p.out_fd, out, POLLOUT, on_fd,
	    s) == -1)
		log_error("%s: cannot watch: %s", s->p.name, strerror(errno));
}

static void
input_hook(void *arg, int64_t now)
{
	struct session *s = arg;

	parse_lines(s, now);
	/* Lines left after EOF wait only for room, which the engine makes
	 * in its own turn: look again without sleeping. */
	if (!s->reading && !s->lost && lines_ready(&s->in) && has_room(s))
		loop_wake(s->loop);
}

static void
output_hook(void *arg, int64_t now)
{
	struct session *s = arg;

	(void)now;
	if (session_flush(s) && !s->lost)
		buf_shrink(&s->out, s->reserved + OUT_KEEP);
	if (session_is_over(s) && s->p.is_socket)
		close_fds(s);
	update_events(s);
}

void
session_stop_reading(struct session *s)
{
	s->reading = false;
	lines_close(&s->in);
}

bool
session_is_over(const struct session *s)
{
	return !s->reading && lines_done(&s->in) && s->n_live == 0 &&
	    (buf_len(&s->out) == 0 || s->lost || s->in_fd == -1);
}

bool
session_output_lost(const struct session *s)
{
	return s->lost;
}

uint64_t
session_n_lost(const struct session *s)
{
	return s->n_lost;
}

bool
session_has_output(const struct session *s)
{
	return buf_len(&s->out) > 0 && !s->lost && s->in_fd != -1;
}

int64_t
session_idle_since(const struct session *s)
{
	if (s->n_live > 0 || buf_len(&s->out) > 0 || !lines_empty(&s->in) ||
	    !s->reading)
		return -1;
	return s->active_ms;
}

size_t
session_held_bytes(const struct session *s)
{
	return lines_held(&s->in);
}

size_t
session_partial_bytes(const struct session *s)
{
	return s->reading ? lines_partial(&s->in) : 0;
}

void
session_refuse_partial(struct session *s, const char *why)
{
	const char *head;
	char *id_json;
	size_t len;

	head = lines_refuse_partial(&s->in, &len);
	if (head == NULL)
		return;
	id_json = jsonl_peek_id(head, len);
	answer_invalid(s, id_json, why);
	free(id_json);
	lines_discard(&s->in);
	update_events(s);
}
