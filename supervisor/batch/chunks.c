/*
 * batch/chunks: see chunks.h. Called by batch/reader as lines are read,
 * by the loop for the split halves, and by the engine with answers.
 *
 * Cost: an answer's vectors are located in one pass over its body
 * (batch/vec); for JSON lines they are copied once into a block the
 * chunk's items share, for .npy parsed once into float32 rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/chunks.h"
#include "batch/journal.h"
#include "batch/output.h"
#include "batch/state.h"
#include "batch/vec.h"
#include "buf.h"
#include "clock.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "log.h"

static struct chunk *
chunk_new(const uint64_t *seqs, size_t n)
{
	struct chunk *c;

	c = malloc(sizeof(*c) + n * sizeof(c->seqs[0]));
	if (c == NULL)
		return NULL;
	c->n = n;
	c->attempts = 0;
	memcpy(c->seqs, seqs, n * sizeof(seqs[0]));
	return c;
}

/* A chunk that cannot be sent: its inputs fail with the reason. */
static void
fail_chunk(struct batch *bs, struct chunk *c, const char *code,
    const char *message, int http_status, unsigned attempts)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		batch_fail_item(bs, batch_item(bs, c->seqs[i]), code, message,
		    http_status, attempts);
}

/* Hand the chunk to the engine, which owns it until it answers. */
static void
submit_chunk(struct batch *bs, struct chunk *c, int64_t now)
{
	struct request *req = NULL;
	struct item *it;
	struct buf input;
	size_t i, len;
	char err[128];

	buf_init(&input, SIZE_MAX / 2);
	if (buf_append(&input, "[", 1) == -1)
		goto fail;
	for (i = 0; i < c->n; i++) {
		it = batch_item(bs, c->seqs[i]);
		if ((i > 0 && buf_append(&input, ",", 1) == -1) ||
		    buf_append(&input, it->text_json, it->text_len) == -1)
			goto fail;
	}
	if (buf_append(&input, "]", 1) == -1)
		goto fail;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		goto fail;
	req->op = REQ_OP_EMBED;
	if (asprintf(&req->id_json, "\"lines %" PRIu64 "-%" PRIu64 "\"",
	    c->seqs[0], c->seqs[c->n - 1]) == -1) {
		req->id_json = NULL;
		goto fail;
	}
	req->input_json = buf_steal(&input, &len);
	if (req->input_json == NULL)
		goto fail;
	req->n_inputs = c->n;
	req->attempts_before = c->attempts;
	req->owner = c;
	c->sent_ms = now;
	engine_submit(bs->engine, req, now);
	bs->live++;
	bs->calls++;
	return;
fail:
	(void)snprintf(err, sizeof(err), "cannot build the request: %s",
	    strerror(errno));
	log_error("lines %" PRIu64 "-%" PRIu64 ": %s", c->seqs[0],
	    c->seqs[c->n - 1], err);
	fail_chunk(bs, c, req_code_name(REQ_INVALID_REQUEST), err, 0, 0);
	request_free(req);
	buf_free(&input);
	free(c);
}

void
batch_chunks_submit_form(struct batch *bs, int64_t now)
{
	struct chunk *c;
	size_t i;

	if (bs->form_n == 0)
		return;
	c = chunk_new(bs->form, bs->form_n);
	if (c == NULL) {
		for (i = 0; i < bs->form_n; i++)
			batch_fail_item(bs, batch_item(bs, bs->form[i]),
			    req_code_name(REQ_INVALID_REQUEST),
			    "out of memory", 0, 0);
	} else
		submit_chunk(bs, c, now);
	bs->form_n = 0;
	bs->form_bytes = 0;
}

void
batch_chunks_add(struct batch *bs, uint64_t seq, int64_t now)
{
	size_t len = batch_item(bs, seq)->text_len;

	if (bs->form_n > 0 && bs->form_bytes + len > bs->cfg->batch_bytes)
		batch_chunks_submit_form(bs, now);
	if (bs->form_n == 0)
		bs->form_since = now;
	bs->form[bs->form_n++] = seq;
	bs->form_bytes += len;
	if (bs->form_n == bs->cfg->batch_size)
		batch_chunks_submit_form(bs, now);
}

void
batch_chunks_resubmit(struct batch *bs, int64_t now)
{
	struct chunk *c;

	if (bs->n_waiting > 0 && now >= bs->wait_until_ms) {
		STAILQ_CONCAT(&bs->resubmit, &bs->waiting);
		bs->n_waiting = 0;
	}
	while ((c = STAILQ_FIRST(&bs->resubmit)) != NULL) {
		STAILQ_REMOVE_HEAD(&bs->resubmit, entry);
		if (bs->stopping)
			free(c);
		else
			submit_chunk(bs, c, now);
	}
}

void
batch_chunks_abandon(struct batch *bs)
{
	struct chunk *c;
	size_t i;

	for (i = 0; i < bs->form_n; i++)
		batch_drop_text(bs, batch_item(bs, bs->form[i]));
	bs->form_n = 0;
	bs->form_bytes = 0;
	while ((c = STAILQ_FIRST(&bs->resubmit)) != NULL) {
		STAILQ_REMOVE_HEAD(&bs->resubmit, entry);
		free(c);
	}
	while ((c = STAILQ_FIRST(&bs->waiting)) != NULL) {
		STAILQ_REMOVE_HEAD(&bs->waiting, entry);
		free(c);
	}
	bs->n_waiting = 0;
}

/*
 * Can one text be the reason the whole call failed? A 400, 413 or 422
 * and an answer we cannot use are about the request. A call that used
 * its attempts on timeouts (or whose worker crashed each time) may be
 * held up by one text the server chokes on, but a server that hangs for
 * everyone looks the same: split those when some other call was
 * answered since this one was sent, or no other call failed so (the
 * only call in flight, as when a resume takes the rest from the
 * journal). A server that hangs for everyone then costs one split per
 * halving, not one per text. Network errors, 401/403/404, 429 and 5xx
 * are about the server, never split: that would multiply the calls to a
 * server that is down.
 */
static bool
is_splittable(const struct batch *bs, const struct chunk *c,
    const struct answer *a)
{
	switch (a->code) {
	case REQ_BAD_RESPONSE:
	case REQ_INVALID_REQUEST:
		return true;
	case REQ_HTTP:
		return a->http_status == 400 || a->http_status == 413 ||
		    a->http_status == 422;
	case REQ_TIMEOUT:
	case REQ_WORKER_CRASHED:
		return bs->last_ok_ms >= c->sent_ms ||
		    bs->last_hang_ms < c->sent_ms;
	default:
		return false;
	}
}

static void
split_chunk(struct batch *bs, struct chunk *c, const struct answer *a)
{
	struct chunk *lo, *hi;
	size_t half = c->n / 2;

	lo = chunk_new(c->seqs, half);
	hi = chunk_new(c->seqs + half, c->n - half);
	if (lo == NULL || hi == NULL) {
		free(lo);
		free(hi);
		fail_chunk(bs, c, req_code_name(a->code), a->message,
		    a->http_status, a->attempts);
		return;
	}
	log_debug("lines %" PRIu64 "-%" PRIu64 ": %s; splitting %zu inputs "
	    "in two", c->seqs[0], c->seqs[c->n - 1], a->message, c->n);
	bs->splits++;
	STAILQ_INSERT_TAIL(&bs->resubmit, lo, entry);
	STAILQ_INSERT_TAIL(&bs->resubmit, hi, entry);
}

/* JSON lines: the vector texts, copied into one block of res that the
 * chunk's items share. Returns 0, or -1 (out of memory). */
static int
take_texts(struct batch *bs, struct chunk *c, const struct answer *a,
    const struct batch_vec_span *spans, struct result *res)
{
	struct item *it;
	size_t i, first, end;

	first = spans[0].off;
	end = spans[c->n - 1].off + spans[c->n - 1].len;
	res->size = end - first;
	res->text = malloc(res->size);
	if (res->text == NULL)
		return -1;
	memcpy(res->text, a->body + first, res->size);
	for (i = 0; i < c->n; i++) {
		it = batch_item(bs, c->seqs[i]);
		if (c->seqs[0] != bs->base)
			(void)batch_journal_append(bs, c->seqs[i], it,
			    a->body + spans[i].off, spans[i].len);
		batch_drop_text(bs, it);
		it->state = ITEM_OK;
		bs->n_done++;
		it->off = spans[i].off - first;
		it->len = spans[i].len;
		it->res = res;
		res->refs++;
	}
	bs->held += res->size;
	return 0;
}

/*
 * .npy: every vector parsed into its row of res; the first answer sets
 * the row width. An item whose vector is not a row of that width fails
 * alone. Returns 0, or -1 with a message in err when the chunk as a
 * whole is unusable (no width, out of memory).
 */
static int
take_values(struct batch *bs, struct chunk *c, const struct answer *a,
    const struct batch_vec_span *spans, struct result *res, char *err,
    size_t errlen)
{
	struct item *it;
	ssize_t got;
	size_t i;

	if (bs->dim == 0) {
		got = (ssize_t)batch_vec_count(a->body + spans[0].off,
		    spans[0].len);
		if (got == 0) {
			(void)snprintf(err, errlen, "embedding 0 is empty");
			return -1;
		}
		batch_output_set_dim(bs, (uint64_t)got);
	}
	res->size = c->n * bs->dim * sizeof(float);
	res->values = malloc(res->size);
	if (res->values == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < c->n; i++) {
		it = batch_item(bs, c->seqs[i]);
		got = batch_vec_parse(a->body + spans[i].off, spans[i].len,
		    res->values + i * bs->dim, bs->dim, err, errlen);
		if (got >= 0 && (uint64_t)got != bs->dim)
			(void)snprintf(err, errlen, "embedding has %zd "
			    "values, not %" PRIu64 " like the rows before it",
			    got, bs->dim);
		if (got < 0 || (uint64_t)got != bs->dim) {
			batch_fail_item(bs, it, req_code_name(REQ_BAD_RESPONSE),
			    err, 0, a->attempts);
			continue;
		}
		if (c->seqs[0] != bs->base)
			(void)batch_journal_append(bs, c->seqs[i], it,
			    a->body + spans[i].off, spans[i].len);
		batch_drop_text(bs, it);
		it->state = ITEM_OK;
		bs->n_done++;
		it->off = i * bs->dim;
		it->res = res;
		res->refs++;
	}
	if (res->refs > 0)
		bs->held += res->size;
	return 0;
}

/* The usage.prompt_tokens in what follows the vectors of a worker's
 * body (","model":..,"usage":{..}, see shared/proto_frame.h), or 0. */
static uint64_t
prompt_tokens(const char *rest, size_t len)
{
	static const char key[] = "\"prompt_tokens\":";
	const char *p;
	uint64_t n = 0;

	p = memmem(rest, len, key, sizeof(key) - 1);
	if (p == NULL)
		return 0;
	for (p += sizeof(key) - 1; p < rest + len && *p >= '0' && *p <= '9' &&
	    n < UINT64_MAX / 10; p++)
		n = n * 10 + (uint64_t)(*p - '0');
	return n;
}

/* Store the vectors of a successful answer in the chunk's items; an
 * answer that does not hold them is a bad response, split like one. */
static void
take_vectors(struct batch *bs, struct chunk *c, const struct answer *a)
{
	struct batch_vec_span *spans = NULL;
	struct result *res = NULL;
	struct answer bad;
	char err[160];
	size_t end;
	int r;

	spans = calloc(c->n, sizeof(*spans));
	res = calloc(1, sizeof(*res));
	if (spans == NULL || res == NULL) {
		(void)snprintf(err, sizeof(err), "out of memory");
		goto bad;
	}
	if (batch_vec_split(a->body, a->body_len, c->n, spans, err,
	    sizeof(err)) == -1)
		goto bad;
	end = spans[c->n - 1].off + spans[c->n - 1].len;
	bs->tokens += prompt_tokens(a->body + end, a->body_len - end);
	if (!bs->npy) {
		r = take_texts(bs, c, a, spans, res);
		if (r == -1)
			(void)snprintf(err, sizeof(err), "out of memory");
	} else
		r = take_values(bs, c, a, spans, res, err, sizeof(err));
	if (r == -1)
		goto bad;
	free(spans);
	if (res->refs == 0) {
		free(res->values);
		free(res);
	}
	return;
bad:
	free(spans);
	if (res != NULL) {
		free(res->text);
		free(res->values);
		free(res);
	}
	memset(&bad, 0, sizeof(bad));
	bad.code = REQ_BAD_RESPONSE;
	bad.message = err;
	bad.attempts = a->attempts;
	if (c->n > 1 && !bs->stopping) {
		split_chunk(bs, c, &bad);
		return;
	}
	fail_chunk(bs, c, req_code_name(bad.code), err, 0, a->attempts);
}

/*
 * The endpoint is down: stop (in LOOP_OUTPUT) as for a final error, what
 * is not done left for --resume rather than listed as failed.
 */
static void
stop_for_outage(struct batch *bs, int64_t now)
{
	long sec = (long)((now - bs->refused_since_ms) / 1000);

	bs->stop_status = EXIT_TEMPFAIL;
	(void)snprintf(bs->stop_cause, sizeof(bs->stop_cause), "an outage: "
	    "the endpoint's circuit stayed open for %ld s", sec);
	log_error("stopping: the endpoint's circuit has been open for %ld s, "
	    "no call succeeding (--max-outage %ld s); no more calls are "
	    "made, the output keeps what is done", sec,
	    bs->cfg->max_outage_ms / 1000);
}

/*
 * The engine's gate refused the chunk, making no call: the circuit is
 * open, or the rate limit holds it past its deadline. Nothing is wrong
 * with its texts: it waits and goes again when the answer says, with
 * the attempts it has left. Reading waits with it (live + n_waiting stay
 * under max_live), so an open circuit costs no input and no memory.
 */
static void
wait_chunk(struct batch *bs, struct chunk *c, const struct answer *a,
    int64_t now)
{
	long ms = a->retry_after_ms > 0 ? a->retry_after_ms : 1;

	if (a->attempts == c->attempts)
		bs->calls--;	/* this turn made none */
	c->attempts = a->attempts;
	STAILQ_INSERT_TAIL(&bs->waiting, c, entry);
	bs->n_waiting++;
	if (bs->wait_until_ms < now + ms)
		bs->wait_until_ms = now + ms;
	if (a->code != REQ_CIRCUIT_OPEN || bs->stop_status != 0)
		return;
	if (bs->refused_since_ms == 0) {
		bs->refused_since_ms = now;
		if (bs->cfg->max_outage_ms > 0)
			log_warn("the endpoint's circuit is open: lines wait "
			    "for it to close, at most %ld s (--max-outage)",
			    bs->cfg->max_outage_ms / 1000);
		else
			log_warn("the endpoint's circuit is open: lines wait "
			    "for it to close, however long (--max-outage off)");
	} else if (bs->cfg->max_outage_ms > 0 &&
	    now - bs->refused_since_ms >= bs->cfg->max_outage_ms)
		stop_for_outage(bs, now);
}

void
batch_chunks_on_answer(void *arg, struct request *req,
    const struct answer *a)
{
	struct batch *bs = arg;
	struct chunk *c = req->owner;

	bs->live--;
	if (a->refused && !bs->stopping) {
		wait_chunk(bs, c, a, clock_ms());
		return;
	}
	if (a->endpoint_failed && bs->stop_status == 0) {
		/* Every call would get it: stop (in LOOP_OUTPUT). */
		bs->stop_status = EXIT_NOPERM;
		(void)snprintf(bs->stop_cause, sizeof(bs->stop_cause),
		    "HTTP %d from the endpoint", a->http_status);
		log_error("stopping: the endpoint refuses every call with "
		    "HTTP %d (%s); no more calls are made, the output keeps "
		    "what is done", a->http_status, a->message);
	}
	if (a->code == REQ_OK) {
		bs->last_ok_ms = clock_ms();
		if (bs->refused_since_ms != 0)
			log_info("the endpoint answers again after %" PRId64
			    " ms of open circuit: lines go on",
			    bs->last_ok_ms - bs->refused_since_ms);
		bs->refused_since_ms = 0;
		take_vectors(bs, c, a);
	} else if (a->endpoint_failed) {
		/* Not done: left out of the files, done again on resume. */
	} else if (bs->stopping && (a->retryable || a->code ==
	    REQ_SHUTTING_DOWN || a->code == REQ_CANCELLED ||
	    (c->n > 1 && is_splittable(bs, c, a)))) {
		/* Not done: left out of the files, done again on resume. */
	} else if (c->n > 1 && is_splittable(bs, c, a)) {
		split_chunk(bs, c, a);
	} else
		fail_chunk(bs, c, req_code_name(a->code), a->message,
		    a->http_status, a->attempts);
	if (a->code == REQ_TIMEOUT || a->code == REQ_WORKER_CRASHED)
		bs->last_hang_ms = clock_ms();
	free(c);
}
