/*
 * batch: see batch.h. Called by main after init; opens its files (may
 * end with 64, 66, 73 or 78 before anything is sent), runs the loop and
 * the finish phase, like pipe.c.
 *
 * Every input line gets a sequence number, its line number, and a slot
 * in a ring of `window` items (the reorder buffer). Lines are grouped
 * into chunks of up to --batch-size texts and --batch-bytes bytes; a
 * chunk is one engine request whose owner is the chunk. Answers arrive
 * in completion order and fill their items; emit_ready writes the items
 * at the front of the ring, in input order, as long as they are done.
 *
 * Split policy: a chunk of more than one input that fails for good in a
 * way one text can cause (http 400, 413, 422, a bad response, an invalid
 * job) is split in two halves that are sent again, down to the single
 * culprit; other failures (timeouts, network, 429, 5xx after their
 * retries, 401) fail every input of the chunk with that error.
 *
 * Files and durability. OUT holds the successes (JSON lines) or one row
 * per input line (.npy, NaN for failures, OUT.ids beside it); the errors
 * file holds one line per failed input, with its input line number. Both
 * are written strictly in input order, and an error line is written only
 * after every record before it reached OUT, so a run killed at any moment
 * leaves files whose complete lines are a prefix of the work, plus at
 * most one torn line each. Resuming drops torn lines, finds where the
 * prefix ends (the last record's id, the last error's line number; for
 * .npy the complete rows that OUT.ids agrees with) and skips the input up
 * to there: no set of ids is kept, memory stays flat. Every CHECKPOINT_MS
 * and at the end the files are fsynced (errors first) and the .npy header
 * gets the current row count, so a power cut loses at most the last
 * seconds; progress counts what was written.
 *
 * Memory: the ring, the chunks in flight and at most HELD_MAX bytes of
 * texts and finished vectors waiting for an earlier input; input is read
 * only while all three have room, so a slow head of line stalls reading,
 * never grows memory.
 *
 * Invariants: items in [base, next_seq) are live; an item is in at most
 * one chunk; a chunk is either on the resubmit list or owned by the
 * engine; live counts the latter.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <jansson.h>

#include "batch/batch.h"
#include "batch/file.h"
#include "batch/input.h"
#include "batch/npy.h"
#include "batch/vec.h"
#include "buf.h"
#include "clock.h"
#include "engine/engine.h"
#include "io.h"
#include "log.h"
#include "engine/request.h"
#include "core/signals.h"

#define READ_CHUNK		(256 * 1024)
#define CHUNKS_PER_JOB		2
#define WINDOW_MIN		1024
#define WINDOW_MAX		65536
#define HELD_MAX		((size_t)16 << 20)
#define OUT_HIGH_WATER		((size_t)4 << 20)
#define LINGER_MS		20
#define PROGRESS_MS		250
#define CHECKPOINT_MS		2000
#define RECORD_MAX		((size_t)1 << 30)
#define EXIT_SOME_FAILED	3

enum item_state {
	ITEM_EMPTY,		/* not read yet, or written */
	ITEM_WAIT,		/* read, not answered (or abandoned) */
	ITEM_OK,
	ITEM_FAILED
};

/* One chunk's vectors, shared by its items until each is written. */
struct result {
	unsigned	 refs;
	size_t		 size;		/* bytes, counted in held */
	char		*text;		/* JSON lines: vector texts */
	float		*values;	/* .npy: a row per input */
};

struct item {
	enum item_state	 state;
	char		*id_json;	/* NULL: null */
	char		*text_json;	/* until answered */
	size_t		 text_len;
	struct result	*res;		/* ok */
	size_t		 off;		/* ok: into text or values */
	size_t		 len;		/* ok, JSON lines: bytes */
	const char	*code;		/* failed */
	char		*message;	/* failed */
	int		 http_status;	/* failed: 0 if none */
	unsigned	 attempts;	/* failed */
};

struct chunk {
	STAILQ_ENTRY(chunk) entry;	/* on the resubmit list */
	size_t		 n;
	uint64_t	 seqs[];	/* increasing line numbers */
};

STAILQ_HEAD(chunk_list, chunk);

struct out_file {
	const char	*path;		/* for messages */
	int		 fd;		/* -1: none */
	bool		 owned;		/* we opened it */
	bool		 regular;	/* blocking writes, fsync */
	struct buf	 pending;
	off_t		 written;	/* bytes in the file */
	bool		 dirty;		/* written since fsync */
};

struct batch {
	const struct config	*cfg;
	struct loop		*loop;
	struct signals		*sigs;
	struct engine		*engine;
	bool			 in_watched;	/* in_fd is on the loop */
	bool			 out_watched;	/* out.fd is */
	int			 out_flags;	/* out.fd's, to restore; -1 */
	struct timer		 linger_timer;
	struct timer		 progress_timer;
	struct timer		 checkpoint_timer;
	bool			 jsonl_in;
	bool			 npy;

	const char		*in_path;
	int			 in_fd;
	bool			 in_regular;
	struct buf		 in;
	bool			 in_open;	/* still reading */
	bool			 in_eof;	/* read everything */
	bool			 discarding;	/* in a long line */
	uint64_t		 next_seq;	/* number of the next line */

	bool			 skipping;	/* resuming */
	uint64_t		 skip_to;	/* skip lines <= this */
	uint64_t		 want_seq;	/* 0: look for want_id */
	char			*want_id;	/* id line want_seq has */
	uint64_t		 err_line;	/* last one in errors */

	struct item		*items;
	size_t			 window;
	uint64_t		 base;		/* next line to write */
	size_t			 held;

	uint64_t		*form;		/* chunk filling up */
	size_t			 form_n;
	size_t			 form_bytes;
	int64_t			 form_since;
	size_t			 live;	/* chunks in the engine */
	size_t			 max_live;
	struct chunk_list	 resubmit;

	struct out_file		 out, ids, errors;
	char			*ids_path;
	char			*errors_path;
	uint64_t		 dim;		/* .npy: 0 until known */
	bool			 header_written;
	uint64_t		 nan_pending;	/* NaN rows owed */
	int64_t			 synced_ms;

	bool			 stopping;
	int			 stop_signo;
	int			 fatal;		/* exit status or 0 */

	bool			 progress;
	bool			 drawn;
	int64_t			 drawn_ms;
	int64_t			 started_ms;
	uint64_t		 total;		/* lines; 0: unknown */
	uint64_t		 skipped;
	uint64_t		 n_ok;
	uint64_t		 n_failed;
	uint64_t		 failed_before;	/* listed already */
	uint64_t		 calls;
	uint64_t		 splits;
};

static struct item *
item_at(struct batch *bs, uint64_t seq)
{
	return &bs->items[seq % bs->window];
}

static void
result_unref(struct batch *bs, struct result *res)
{
	if (res == NULL || --res->refs > 0)
		return;
	bs->held -= res->size;
	free(res->text);
	free(res->values);
	free(res);
}

static void
drop_text(struct batch *bs, struct item *it)
{
	if (it->text_json == NULL)
		return;
	bs->held -= it->text_len;
	free(it->text_json);
	it->text_json = NULL;
	it->text_len = 0;
}

static void
item_reset(struct batch *bs, struct item *it)
{
	drop_text(bs, it);
	result_unref(bs, it->res);
	free(it->id_json);
	free(it->message);
	memset(it, 0, sizeof(*it));
}

static void
fail_item(struct batch *bs, struct item *it, const char *code,
    const char *message, int http_status, unsigned attempts)
{
	drop_text(bs, it);
	it->state = ITEM_FAILED;
	it->code = code;
	it->message = strdup(message != NULL ? message : "");
	it->http_status = http_status;
	it->attempts = attempts;
}

/* Forget the lines not sent yet: they stay unwritten, for a resume. */
static void
abandon_unsent(struct batch *bs)
{
	struct chunk *c;
	size_t i;

	for (i = 0; i < bs->form_n; i++)
		drop_text(bs, item_at(bs, bs->form[i]));
	bs->form_n = 0;
	bs->form_bytes = 0;
	while ((c = STAILQ_FIRST(&bs->resubmit)) != NULL) {
		STAILQ_REMOVE_HEAD(&bs->resubmit, entry);
		free(c);
	}
}

/* Stop everything after a fatal error: no more input, kill what runs. */
static void
stop_now(struct batch *bs, int status)
{
	if (bs->fatal == 0)
		bs->fatal = status;
	bs->in_open = false;
	bs->stopping = true;
	abandon_unsent(bs);
	if (bs->engine != NULL)
		engine_shutdown(bs->engine, clock_ms(), 0);
}

/* --- output ------------------------------------------------------------ */

/* Write out's pending bytes; blocking unless it is a pipe or terminal
 * and block is false. Returns 0, or -1 after a message (output lost). */
static int
flush_file(struct batch *bs, struct out_file *f, bool block)
{
	ssize_t n;

	while (buf_len(&f->pending) > 0) {
		n = buf_write_fd(&f->pending, f->fd);
		if (n > 0) {
			f->written += n;
			f->dirty = true;
			continue;
		}
		if (n == -1 && errno == EAGAIN && !block && !f->regular)
			return 0;
		if (n == -1 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = f->fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 1000);
			continue;
		}
		log_error("cannot write output '%s': %s", f->path,
		    n == 0 ? "no progress" : strerror(errno));
		buf_free(&f->pending);
		stop_now(bs, EXIT_CANTCREAT);
		return -1;
	}
	return 0;
}

static int
flush_all(struct batch *bs, bool block)
{
	if (bs->errors.fd != -1 && flush_file(bs, &bs->errors, true) == -1)
		return -1;
	if (bs->ids.fd != -1 && flush_file(bs, &bs->ids, block) == -1)
		return -1;
	return flush_file(bs, &bs->out, block);
}

/* Append s as a JSON string literal. */
static int
append_string(struct buf *out, const char *s)
{
	json_t *str;
	char *text;
	int rc;

	str = json_string(s);
	if (str == NULL)
		str = json_string("(message is not valid UTF-8)");
	if (str == NULL) {
		errno = ENOMEM;
		return -1;
	}
	text = json_dumps(str, JSON_ENCODE_ANY);
	json_decref(str);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = buf_append(out, text, strlen(text));
	free(text);
	return rc;
}

/* Append n float32 values, little-endian. */
static int
append_floats(struct buf *b, const float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	uint32_t u;
	size_t i;
#endif
	char *p;

	p = buf_reserve(b, n * 4);
	if (p == NULL)
		return -1;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (i = 0; i < n; i++) {
		memcpy(&u, &v[i], 4);
		u = __builtin_bswap32(u);
		memcpy(p + 4 * i, &u, 4);
	}
#else
	memcpy(p, v, n * 4);
#endif
	buf_commit(b, n * 4);
	return 0;
}

static int
append_nan_rows(struct batch *bs, uint64_t rows)
{
	float nan_row[256];
	uint64_t r;
	size_t i, left, n;

	for (i = 0; i < 256; i++)
		nan_row[i] = NAN;
	for (r = 0; r < rows; r++)
		for (left = bs->dim; left > 0; left -= n) {
			n = left < 256 ? left : 256;
			if (append_floats(&bs->out.pending, nan_row, n) == -1)
				return -1;
		}
	return 0;
}

/* Write the .npy header for the rows in the file (at offset 0). */
static int
write_header(struct batch *bs)
{
	char hdr[BATCH_NPY_HEADER_LEN];
	uint64_t rows = 0;
	ssize_t n;

	if (bs->dim > 0 && bs->out.written > BATCH_NPY_HEADER_LEN)
		rows = (uint64_t)(bs->out.written - BATCH_NPY_HEADER_LEN) /
		    (bs->dim * 4);
	else if (bs->dim == 0)
		rows = bs->nan_pending;
	batch_npy_header(rows, bs->dim, hdr);
	do
		n = pwrite(bs->out.fd, hdr, sizeof(hdr), 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(hdr)) {
		log_error("cannot write output '%s': %s", bs->out.path,
		    n == -1 ? strerror(errno) : "short write");
		stop_now(bs, EXIT_CANTCREAT);
		return -1;
	}
	if (!bs->header_written) {
		bs->header_written = true;
		bs->out.written = BATCH_NPY_HEADER_LEN;
		if (lseek(bs->out.fd, BATCH_NPY_HEADER_LEN, SEEK_SET) == -1) {
			log_error("cannot seek in output '%s': %s",
			    bs->out.path, strerror(errno));
			stop_now(bs, EXIT_CANTCREAT);
			return -1;
		}
	}
	bs->out.dirty = true;
	return 0;
}

/* The .npy row width is known: write the header and the NaN rows owed. */
static void
set_dim(struct batch *bs, uint64_t dim)
{
	bs->dim = dim;
	if (!bs->header_written)
		(void)write_header(bs);
}

static int
sync_file(struct batch *bs, struct out_file *f)
{
	if (f->fd == -1 || !f->regular || !f->dirty)
		return 0;
	f->dirty = false;
	if (fsync(f->fd) == -1 && errno != EINVAL) {
		log_error("cannot sync output '%s': %s", f->path,
		    strerror(errno));
		stop_now(bs, EXIT_CANTCREAT);
		return -1;
	}
	return 0;
}

/* Make what was written durable: errors first, then the rows. */
static void
checkpoint(struct batch *bs, int64_t now, bool final)
{
	if (!final && now - bs->synced_ms < CHECKPOINT_MS)
		return;
	bs->synced_ms = now;
	if (sync_file(bs, &bs->errors) == -1 || sync_file(bs, &bs->ids) == -1)
		return;
	if (bs->npy && bs->out.dirty && bs->out.regular &&
	    bs->header_written && write_header(bs) == -1)
		return;
	(void)sync_file(bs, &bs->out);
}

static void	 clear_progress(struct batch *);

static void
write_failed(struct batch *bs, uint64_t seq, struct item *it)
{
	struct buf *e = &bs->errors.pending;

	/* The records before this one reach OUT before its error line, so
	 * that the errors file never runs ahead of a success. */
	if (bs->out.regular && flush_all(bs, true) == -1)
		return;
	if (buf_printf(e, "{\"id\":%s,\"line\":%" PRIu64 ",\"code\":\"%s\"",
	    it->id_json != NULL ? it->id_json : "null", seq, it->code) == -1 ||
	    (it->http_status > 0 && buf_printf(e, ",\"status\":%d",
	    it->http_status) == -1) ||
	    buf_append(e, ",\"message\":", 11) == -1 ||
	    append_string(e, it->message != NULL ? it->message :
	    "out of memory") == -1 ||
	    buf_printf(e, ",\"attempts\":%u}\n", it->attempts) == -1) {
		log_error("cannot format the error line of line %" PRIu64
		    ": %s", seq, strerror(errno));
		stop_now(bs, EXIT_SOFTWARE);
		return;
	}
	if (bs->errors.fd == STDERR_FILENO)
		clear_progress(bs);
	if (flush_file(bs, &bs->errors, true) == -1)
		return;
	bs->n_failed++;
	if (!bs->npy)
		return;
	if (bs->dim == 0)
		bs->nan_pending++;
	else if (append_nan_rows(bs, bs->nan_pending + 1) == -1)
		goto nomem;
	else
		bs->nan_pending = 0;
	if (buf_printf(&bs->ids.pending, "%s\n", it->id_json != NULL ?
	    it->id_json : "null") == -1)
		goto nomem;
	return;
nomem:
	log_error("cannot buffer output '%s': %s", bs->out.path,
	    strerror(errno));
	stop_now(bs, EXIT_CANTCREAT);
}

static void
write_ok(struct batch *bs, struct item *it)
{
	struct buf *o = &bs->out.pending;
	const char *id = it->id_json != NULL ? it->id_json : "null";

	if (bs->npy) {
		if ((bs->nan_pending > 0 && append_nan_rows(bs,
		    bs->nan_pending) == -1) ||
		    append_floats(o, it->res->values + it->off,
		    bs->dim) == -1 ||
		    buf_printf(&bs->ids.pending, "%s\n", id) == -1)
			goto nomem;
		bs->nan_pending = 0;
	} else if (buf_append(o, "{\"id\":", 6) == -1 ||
	    buf_append(o, id, strlen(id)) == -1 ||
	    buf_append(o, ",\"embedding\":", 13) == -1 ||
	    buf_append(o, it->res->text + it->off, it->len) == -1 ||
	    buf_append(o, "}\n", 2) == -1)
		goto nomem;
	bs->n_ok++;
	return;
nomem:
	log_error("cannot buffer output '%s': %s", bs->out.path,
	    strerror(errno));
	stop_now(bs, EXIT_CANTCREAT);
}

/* Write the finished items at the front of the ring, in input order. */
static void
emit_ready(struct batch *bs)
{
	struct item *it;

	while (bs->base < bs->next_seq && bs->fatal == 0) {
		it = item_at(bs, bs->base);
		if (it->state == ITEM_OK)
			write_ok(bs, it);
		else if (it->state == ITEM_FAILED)
			write_failed(bs, bs->base, it);
		else
			break;
		item_reset(bs, it);
		bs->base++;
	}
}

/* --- chunks ------------------------------------------------------------ */

static struct chunk *
chunk_new(const uint64_t *seqs, size_t n)
{
	struct chunk *c;

	c = malloc(sizeof(*c) + n * sizeof(c->seqs[0]));
	if (c == NULL)
		return NULL;
	c->n = n;
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
		fail_item(bs, item_at(bs, c->seqs[i]), code, message,
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
		it = item_at(bs, c->seqs[i]);
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
	req->owner = c;
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

static void
submit_form(struct batch *bs, int64_t now)
{
	struct chunk *c;
	size_t i;

	if (bs->form_n == 0)
		return;
	c = chunk_new(bs->form, bs->form_n);
	if (c == NULL) {
		for (i = 0; i < bs->form_n; i++)
			fail_item(bs, item_at(bs, bs->form[i]),
			    req_code_name(REQ_INVALID_REQUEST),
			    "out of memory", 0, 0);
	} else
		submit_chunk(bs, c, now);
	bs->form_n = 0;
	bs->form_bytes = 0;
}

static void
resubmit_splits(struct batch *bs, int64_t now)
{
	struct chunk *c;

	while ((c = STAILQ_FIRST(&bs->resubmit)) != NULL) {
		STAILQ_REMOVE_HEAD(&bs->resubmit, entry);
		if (bs->stopping)
			free(c);
		else
			submit_chunk(bs, c, now);
	}
}

/* Can one text be the reason the whole call failed? */
static bool
is_splittable(const struct answer *a)
{
	switch (a->code) {
	case REQ_BAD_RESPONSE:
	case REQ_INVALID_REQUEST:
		return true;
	case REQ_HTTP:
		return a->http_status == 400 || a->http_status == 413 ||
		    a->http_status == 422;
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

/* Store the vectors of a successful answer in the chunk's items. */
static void
take_vectors(struct batch *bs, struct chunk *c, const struct answer *a)
{
	struct batch_vec_span *spans = NULL;
	struct result *res = NULL;
	struct answer bad;
	struct item *it;
	char err[160];
	size_t i, first, end;
	ssize_t got;

	spans = calloc(c->n, sizeof(*spans));
	res = calloc(1, sizeof(*res));
	if (spans == NULL || res == NULL) {
		(void)snprintf(err, sizeof(err), "out of memory");
		goto bad;
	}
	if (batch_vec_split(a->body, a->body_len, c->n, spans, err,
	    sizeof(err)) == -1)
		goto bad;
	if (!bs->npy) {
		first = spans[0].off;
		end = spans[c->n - 1].off + spans[c->n - 1].len;
		res->size = end - first;
		res->text = malloc(res->size);
		if (res->text == NULL) {
			(void)snprintf(err, sizeof(err), "out of memory");
			goto bad;
		}
		memcpy(res->text, a->body + first, res->size);
		for (i = 0; i < c->n; i++) {
			it = item_at(bs, c->seqs[i]);
			drop_text(bs, it);
			it->state = ITEM_OK;
			it->off = spans[i].off - first;
			it->len = spans[i].len;
			it->res = res;
			res->refs++;
		}
		bs->held += res->size;
		free(spans);
		return;
	}
	if (bs->dim == 0) {
		got = (ssize_t)batch_vec_count(a->body + spans[0].off,
		    spans[0].len);
		if (got == 0) {
			(void)snprintf(err, sizeof(err), "embedding 0 is "
			    "empty");
			goto bad;
		}
		set_dim(bs, (uint64_t)got);
	}
	res->size = c->n * bs->dim * sizeof(float);
	res->values = malloc(res->size);
	if (res->values == NULL) {
		(void)snprintf(err, sizeof(err), "out of memory");
		goto bad;
	}
	for (i = 0; i < c->n; i++) {
		it = item_at(bs, c->seqs[i]);
		got = batch_vec_parse(a->body + spans[i].off, spans[i].len,
		    res->values + i * bs->dim, bs->dim, err, sizeof(err));
		if (got >= 0 && (uint64_t)got != bs->dim)
			(void)snprintf(err, sizeof(err), "embedding has %zd "
			    "values, not %" PRIu64 " like the rows before it",
			    got, bs->dim);
		if (got < 0 || (uint64_t)got != bs->dim) {
			fail_item(bs, it, req_code_name(REQ_BAD_RESPONSE), err,
			    0, a->attempts);
			continue;
		}
		drop_text(bs, it);
		it->state = ITEM_OK;
		it->off = i * bs->dim;
		it->res = res;
		res->refs++;
	}
	free(spans);
	if (res->refs == 0) {
		free(res->values);
		free(res);
		return;
	}
	bs->held += res->size;
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

static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	struct batch *bs = arg;
	struct chunk *c = req->owner;

	bs->live--;
	if (a->code == REQ_OK)
		take_vectors(bs, c, a);
	else if (bs->stopping && (a->retryable || a->code ==
	    REQ_SHUTTING_DOWN || a->code == REQ_CANCELLED ||
	    (c->n > 1 && is_splittable(a)))) {
		/* Not done: left out of the files, done again on resume. */
	} else if (c->n > 1 && is_splittable(a)) {
		split_chunk(bs, c, a);
	} else
		fail_chunk(bs, c, req_code_name(a->code), a->message,
		    a->http_status, a->attempts);
	free(c);
}

/* --- input ------------------------------------------------------------- */

static bool
window_full(const struct batch *bs)
{
	return bs->next_seq - bs->base >= bs->window ||
	    bs->held >= HELD_MAX;
}

/* May another line be read into the ring? */
static bool
can_take_line(const struct batch *bs)
{
	if (bs->stopping || bs->fatal != 0)
		return false;
	if (bs->skipping)
		return true;
	return !window_full(bs) && bs->live < bs->max_live &&
	    !engine_is_full(bs->engine);
}

/* Resuming: line seq is already in the files. */
static void
skip_line(struct batch *bs, uint64_t seq, const char *line, size_t len)
{
	struct batch_input in;
	char err[256], num[24];
	const char *id;
	bool match;

	if (bs->want_id != NULL && (bs->want_seq == seq ||
	    bs->want_seq == 0)) {
		memset(&in, 0, sizeof(in));
		if (bs->jsonl_in) {
			(void)batch_input_parse(true, seq, line, len, &in, err,
			    sizeof(err));
			id = in.id_json != NULL ? in.id_json : "null";
		} else {
			(void)snprintf(num, sizeof(num), "%" PRIu64, seq);
			id = num;
		}
		match = strcmp(id, bs->want_id) == 0;
		if (match && bs->want_seq == 0) {
			bs->want_seq = seq;
			bs->skip_to = seq > bs->err_line ? seq : bs->err_line;
		} else if (!match && bs->want_seq == seq) {
			log_error("cannot resume: line %" PRIu64 " of input "
			    "'%s' has id %s, but '%s' has %s there; is it "
			    "the same input?", seq, bs->in_path, id,
			    bs->npy ? bs->ids_path : bs->out.path,
			    bs->want_id);
			stop_now(bs, EXIT_CONFIG);
		}
		batch_input_clear(&in);
	}
	bs->skipped++;
	bs->base = seq + 1;
	if (seq >= bs->skip_to)
		bs->skipping = false;
}

static void
handle_line(struct batch *bs, const char *line, size_t len, int64_t now)
{
	struct batch_input in;
	struct item *it;
	uint64_t seq = bs->next_seq++;
	char err[256];

	if (bs->skipping) {
		skip_line(bs, seq, line, len);
		return;
	}
	it = item_at(bs, seq);
	if (batch_input_parse(bs->jsonl_in, seq, line, len, &in, err,
	    sizeof(err)) == -1) {
		it->id_json = in.id_json;
		in.id_json = NULL;
		batch_input_clear(&in);
		log_debug("line %" PRIu64 ": %s", seq, err);
		fail_item(bs, it, "invalid_input", err, 0, 0);
		return;
	}
	it->state = ITEM_WAIT;
	it->id_json = in.id_json;
	it->text_json = in.text_json;
	it->text_len = in.text_len;
	bs->held += in.text_len;
	if (bs->form_n > 0 &&
	    bs->form_bytes + in.text_len > bs->cfg->batch_bytes)
		submit_form(bs, now);
	if (bs->form_n == 0)
		bs->form_since = now;
	bs->form[bs->form_n++] = seq;
	bs->form_bytes += in.text_len;
	if (bs->form_n == bs->cfg->batch_size)
		submit_form(bs, now);
}

/* The line at the end of the input was over --max-line. */
static void
handle_long_line(struct batch *bs)
{
	struct item *it;
	uint64_t seq = bs->next_seq++;
	char msg[128];

	if (bs->skipping) {
		skip_line(bs, seq, "", 0);
		return;
	}
	it = item_at(bs, seq);
	if (!bs->jsonl_in && asprintf(&it->id_json, "%" PRIu64, seq) == -1)
		it->id_json = NULL;
	(void)snprintf(msg, sizeof(msg), "line longer than %zu bytes "
	    "(--max-line)", bs->cfg->max_line);
	fail_item(bs, it, "invalid_input", msg, 0, 0);
}

static bool
has_complete_line(const struct batch *bs)
{
	return memchr(buf_data(&bs->in), '\n', buf_len(&bs->in)) != NULL;
}

/* Take complete lines while the ring and the engine have room. */
static void
parse_lines(struct batch *bs, int64_t now)
{
	const char *data, *nl;
	size_t len;

	while (can_take_line(bs)) {
		data = buf_data(&bs->in);
		len = buf_len(&bs->in);
		nl = memchr(data, '\n', len);
		if (nl == NULL) {
			if (!bs->in_open && len > 0 && !bs->discarding) {
				/* The last line had no newline. */
				handle_line(bs, data, len, now);
				buf_clear(&bs->in);
			}
			return;
		}
		if (bs->discarding)
			bs->discarding = false;
		else
			handle_line(bs, data, (size_t)(nl - data), now);
		buf_consume(&bs->in, (size_t)(nl - data) + 1);
	}
}

static bool
want_input(const struct batch *bs)
{
	return bs->in_open && can_take_line(bs) && !has_complete_line(bs) &&
	    buf_len(&bs->out.pending) < OUT_HIGH_WATER;
}

/* Is a partly filled chunk waiting for a slow pipe or terminal? */
static bool
is_lingering(const struct batch *bs)
{
	return bs->form_n > 0 && !bs->in_regular && want_input(bs);
}

/* Send a partly filled chunk when waiting for more lines would only
 * delay it: the input ended, the ring is full, or the input is a pipe
 * that has had nothing for LINGER_MS. */
static void
maybe_submit_form(struct batch *bs, int64_t now)
{
	if (bs->form_n == 0 || bs->stopping)
		return;
	if ((!bs->in_open && !has_complete_line(bs)) || window_full(bs) ||
	    (is_lingering(bs) && now - bs->form_since >= LINGER_MS))
		submit_form(bs, now);
}

static void
read_input(struct batch *bs)
{
	ssize_t n;

	n = buf_read_fd(&bs->in, bs->in_fd, READ_CHUNK);
	if (n > 0)
		return;
	if (n == 0) {
		bs->in_open = false;
		bs->in_eof = true;
		if (bs->discarding)
			buf_clear(&bs->in);
		return;
	}
	if (errno == EAGAIN)
		return;
	if (errno == ENOBUFS) {
		/* No newline within --max-line bytes: one failed input,
		 * and the rest of the line skipped. */
		handle_long_line(bs);
		buf_clear(&bs->in);
		bs->discarding = true;
		return;
	}
	log_error("cannot read input '%s': %s", bs->in_path, strerror(errno));
	stop_now(bs, EXIT_NOINPUT);
}

static void
skip_discarded(struct batch *bs)
{
	const char *nl;

	if (!bs->discarding)
		return;
	nl = memchr(buf_data(&bs->in), '\n', buf_len(&bs->in));
	if (nl == NULL) {
		buf_clear(&bs->in);
		return;
	}
	buf_consume(&bs->in, (size_t)(nl - buf_data(&bs->in)) + 1);
	bs->discarding = false;
}

/* --- progress ---------------------------------------------------------- */

static void
format_duration(char *out, size_t outlen, double sec)
{
	long s = (long)(sec + 0.5);

	if (s >= 3600)
		(void)snprintf(out, outlen, "%ldh%02ldm", s / 3600,
		    s / 60 % 60);
	else if (s >= 60)
		(void)snprintf(out, outlen, "%ldm%02lds", s / 60, s % 60);
	else
		(void)snprintf(out, outlen, "%lds", s);
}

static void
draw_progress(struct batch *bs, int64_t now, bool force)
{
	const struct engine_stats *st = engine_stats(bs->engine);
	uint64_t done = bs->base > 0 ? bs->base - 1 : 0, fresh;
	double sec, rate;
	char line[256], eta[32];
	int n;

	if (!bs->progress || (!force && now - bs->drawn_ms < PROGRESS_MS))
		return;
	bs->drawn_ms = now;
	sec = (double)(now - bs->started_ms) / 1000;
	fresh = done - bs->skipped;
	rate = sec > 0 ? (double)fresh / sec : 0;
	if (bs->total > 0) {
		if (rate > 0 && bs->total > done)
			format_duration(eta, sizeof(eta),
			    (double)(bs->total - done) / rate);
		else
			(void)snprintf(eta, sizeof(eta), "-");
		n = snprintf(line, sizeof(line), "\r%" PRIu64 "/%" PRIu64
		    " (%d%%), %.0f inputs/s, eta %s, %" PRIu64 " failed, %"
		    PRIu64 " killed\033[K", done, bs->total,
		    (int)(100 * done / bs->total), rate, eta,
		    bs->n_failed + bs->failed_before,
		    st->workers_killed);
	} else
		n = snprintf(line, sizeof(line), "\r%" PRIu64 " done, %.0f "
		    "inputs/s, %" PRIu64 " failed, %" PRIu64 " killed\033[K",
		    done, rate, bs->n_failed + bs->failed_before,
		    st->workers_killed);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)io_write(STDERR_FILENO, line, (size_t)n);
	bs->drawn = true;
}

static void
clear_progress(struct batch *bs)
{
	if (bs->drawn)
		(void)io_write(STDERR_FILENO, "\r\033[K", 4);
	bs->drawn = false;
}

/* --- the loop ---------------------------------------------------------- */

static void
on_terminate(void *arg, int signo)
{
	struct batch *bs = arg;

	if (!bs->stopping) {
		log_info("%s: no more input; letting calls in flight finish "
		    "for up to %ld ms", strsignal(signo), bs->cfg->drain_ms);
		bs->stop_signo = signo;
	} else
		log_info("%s: stopping calls in flight now", strsignal(signo));
	bs->stopping = true;
	bs->in_open = false;
	buf_clear(&bs->in);
	abandon_unsent(bs);
	engine_shutdown(bs->engine, clock_ms(), bs->cfg->drain_ms);
}

static bool
is_finished(const struct batch *bs)
{
	return !bs->in_open && (buf_len(&bs->in) == 0 || bs->stopping) &&
	    bs->form_n == 0 && STAILQ_EMPTY(&bs->resubmit) &&
	    engine_is_idle(bs->engine) &&
	    (buf_len(&bs->out.pending) == 0 || bs->fatal != 0);
}

static void
on_input_fd(void *arg, int fd, short revents)
{
	struct batch *bs = arg;

	(void)fd;
	(void)revents;
	if (bs->in_open)
		read_input(bs);
}

static void
on_output_fd(void *arg, int fd, short revents)
{
	struct batch *bs = arg;

	(void)fd;
	(void)revents;
	if (bs->fatal == 0)
		(void)flush_file(bs, &bs->out, false);
}

/* A timer that only makes the loop turn: the hooks do the work. */
static void
wake_up(void *owner, int64_t now)
{
	(void)owner;
	(void)now;
}

/* Watch fd (pipe semantics: unwatched when nothing is wanted). */
static void
watch(struct batch *bs, int fd, bool *watched, bool want, short events,
    loop_fd_fn fn)
{
	if (want && !*watched) {
		if (loop_watch(bs->loop, fd, events, fn, bs) == -1) {
			log_error("cannot watch '%s': %s", fd == bs->in_fd ?
			    bs->in_path : bs->out.path, strerror(errno));
			stop_now(bs, EXIT_SOFTWARE);
			return;
		}
		*watched = true;
	} else if (!want && *watched) {
		loop_unwatch(bs->loop, fd);
		*watched = false;
	}
}

/* Arm tm in ms unless it is armed already. */
static void
arm_within(struct batch *bs, struct timer *tm, bool want, int64_t now,
    long ms)
{
	if (want && !timer_is_armed(tm))
		loop_arm(bs->loop, tm, now + ms);
}

/* LOOP_INPUT: lines in, chunks out to the engine. */
static void
take_input(void *arg, int64_t now)
{
	struct batch *bs = arg;

	skip_discarded(bs);
	parse_lines(bs, now);
	maybe_submit_form(bs, now);
	/* Halves of chunks split since the last turn: start them. */
	resubmit_splits(bs, now);
}

/* LOOP_OUTPUT: records out, progress, and what to wait for next. */
static void
give_output(void *arg, int64_t now)
{
	struct batch *bs = arg;

	emit_ready(bs);
	if (bs->fatal == 0)
		(void)flush_all(bs, false);
	if (bs->fatal == 0)
		checkpoint(bs, now, false);
	draw_progress(bs, now, false);
	if (is_finished(bs)) {
		loop_stop(bs->loop);
		return;
	}
	watch(bs, bs->in_fd, &bs->in_watched, want_input(bs), POLLIN,
	    on_input_fd);
	watch(bs, bs->out.fd, &bs->out_watched, buf_len(&bs->out.pending) > 0
	    && bs->fatal == 0, POLLOUT, on_output_fd);
	if (!STAILQ_EMPTY(&bs->resubmit) ||
	    (can_take_line(bs) && has_complete_line(bs)) ||
	    (!bs->in_open && buf_len(&bs->in) > 0 && !bs->stopping &&
	    can_take_line(bs)))
		loop_wake(bs->loop);
	arm_within(bs, &bs->linger_timer, is_lingering(bs), now, LINGER_MS);
	arm_within(bs, &bs->progress_timer, bs->progress, now, PROGRESS_MS);
	arm_within(bs, &bs->checkpoint_timer, bs->out.dirty, now,
	    CHECKPOINT_MS);
}

/* --- init: files and resume -------------------------------------------- */

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
open_input(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	struct stat st;

	if (strcmp(cfg->batch_input, "-") == 0) {
		bs->in_path = "stdin";
		bs->in_fd = STDIN_FILENO;
	} else {
		bs->in_path = cfg->batch_input;
		bs->in_fd = open(cfg->batch_input, O_RDONLY | O_CLOEXEC);
		if (bs->in_fd == -1) {
			log_error("cannot open input '%s': %s", bs->in_path,
			    strerror(errno));
			return EXIT_NOINPUT;
		}
	}
	if (fstat(bs->in_fd, &st) == -1) {
		log_error("cannot read input '%s': %s", bs->in_path,
		    strerror(errno));
		return EXIT_NOINPUT;
	}
	if (S_ISDIR(st.st_mode)) {
		log_error("cannot read input '%s': %s", bs->in_path,
		    strerror(EISDIR));
		return EXIT_NOINPUT;
	}
	bs->in_regular = S_ISREG(st.st_mode);
	return 0;
}

/* Does path name the input file itself? */
static bool
is_input(const struct batch *bs, const char *path)
{
	struct stat a, b;

	return bs->in_regular && stat(path, &b) == 0 &&
	    fstat(bs->in_fd, &a) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

static int
open_file(struct batch *bs, struct out_file *f, const char *path)
{
	struct stat st;
	int flags = O_CLOEXEC | O_CREAT;

	f->path = path;
	if (is_input(bs, path)) {
		log_error("output '%s' is the input", path);
		return EXIT_USAGE;
	}
	flags |= bs->cfg->resume ? O_RDWR : O_WRONLY | O_TRUNC;
	f->fd = open(path, flags, 0666);
	if (f->fd == -1) {
		log_error("cannot open output '%s': %s", path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->owned = true;
	if (fstat(f->fd, &st) == -1) {
		log_error("cannot open output '%s': %s", path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->regular = S_ISREG(st.st_mode);
	return 0;
}

/* Put the file offset at the end of what the resume kept. */
static int
seek_end(struct out_file *f, off_t size)
{
	f->written = size;
	if (lseek(f->fd, size, SEEK_SET) == -1) {
		log_error("cannot seek in output '%s': %s", f->path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	return 0;
}

/* Does the file start like one of our JSON lines (or hold nothing)?
 * Checked before cutting anything off a file given by mistake. */
static bool
looks_like_ours(const struct out_file *f)
{
	static const char start[] = "{\"id\":";
	char head[sizeof(start) - 1];
	ssize_t n;

	do
		n = pread(f->fd, head, sizeof(head), 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 || memcmp(head, start, (size_t)n) != 0) {
		log_error("cannot resume: '%s' was not written by embedwatch "
		    "batch", f->path);
		return false;
	}
	return true;
}

static int
resume_fail_io(const struct out_file *f)
{
	log_error("cannot resume from '%s': %s", f->path, strerror(errno));
	return EXIT_CANTCREAT;
}

/*
 * The errors file: drop a torn line and every line past keep_upto (the
 * .npy rows); note its last line number and how many inputs it lists.
 */
static int
resume_errors(struct batch *bs, uint64_t keep_upto)
{
	struct out_file *f = &bs->errors;
	struct buf line;
	const char *val;
	const char *errstr;
	char num[24];
	uint64_t count;
	off_t size, start, end;
	size_t vlen;
	int r, rc = EXIT_CANTCREAT;

	buf_init(&line, RECORD_MAX);
	if (!f->regular) {
		rc = 0;
		goto out;
	}
	if (!looks_like_ours(f)) {
		rc = EXIT_CONFIG;
		goto out;
	}
	size = batch_file_drop_torn(f->fd);
	if (size == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	for (;;) {
		r = batch_file_last_line(f->fd, size, &line, &start);
		if (r == -1) {
			rc = resume_fail_io(f);
			goto out;
		}
		if (r == 0)
			break;
		if (!batch_input_member(buf_data(&line), buf_len(&line),
		    "line", &val, &vlen) || vlen >= sizeof(num)) {
			log_error("cannot resume: '%s' is not an embedwatch "
			    "errors file", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		bs->err_line = (uint64_t)strtonum(num, 1, LLONG_MAX, &errstr);
		if (errstr != NULL) {
			log_error("cannot resume: '%s' is not an embedwatch "
			    "errors file", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
		if (bs->err_line <= keep_upto)
			break;
		/* Listed ahead of the rows: it will be done again. */
		if (ftruncate(f->fd, start) == -1) {
			rc = resume_fail_io(f);
			goto out;
		}
		size = start;
		bs->err_line = 0;
	}
	if (batch_file_count_lines(f->fd, UINT64_MAX, &count, &end) == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	bs->failed_before = count;
	rc = seek_end(f, size);
out:
	buf_free(&line);
	return rc;
}

/* JSON lines: the prefix ends at the last record or the last error. */
static int
resume_jsonl(struct batch *bs)
{
	struct out_file *f = &bs->out;
	struct buf line;
	const char *val, *errstr;
	json_error_t jerr;
	json_t *root = NULL;
	off_t size, start;
	size_t vlen;
	int r, rc = EXIT_CANTCREAT;

	buf_init(&line, RECORD_MAX);
	if (!looks_like_ours(f)) {
		rc = EXIT_CONFIG;
		goto out;
	}
	size = batch_file_drop_torn(f->fd);
	if (size == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	r = batch_file_last_line(f->fd, size, &line, &start);
	if (r == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	if (r == 1) {
		root = json_loadb(buf_data(&line), buf_len(&line), 0, &jerr);
		if (root == NULL || !json_is_object(root) ||
		    json_object_get(root, "embedding") == NULL ||
		    !batch_input_member(buf_data(&line), buf_len(&line),
		    "id", &val, &vlen)) {
			log_error("cannot resume: the last line of '%s' is not "
			    "an embedwatch record", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
		bs->want_id = strndup(val, vlen);
		if (bs->want_id == NULL) {
			rc = resume_fail_io(f);
			goto out;
		}
	}
	rc = resume_errors(bs, UINT64_MAX);
	if (rc != 0)
		goto out;
	bs->skip_to = bs->err_line;
	if (bs->want_id != NULL && bs->jsonl_in) {
		bs->want_seq = 0;	/* found by its id */
		bs->skip_to = UINT64_MAX;
	} else if (bs->want_id != NULL) {
		bs->want_seq = (uint64_t)strtonum(bs->want_id, 1, LLONG_MAX,
		    &errstr);
		if (errstr != NULL) {
			log_error("cannot resume: '%s' ends with id %s, which "
			    "is not a line number of text input", f->path,
			    bs->want_id);
			rc = EXIT_CONFIG;
			goto out;
		}
		if (bs->want_seq > bs->skip_to)
			bs->skip_to = bs->want_seq;
	}
	bs->skipping = bs->skip_to > 0;
	rc = seek_end(f, size);
out:
	json_decref(root);
	buf_free(&line);
	return rc;
}

/* .npy: the prefix is the complete rows that OUT.ids agrees with. */
static int
resume_npy(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	char head[4096], err[128];
	struct buf line;
	struct stat st;
	uint64_t rows = 0, dim = 0, count;
	size_t off = 0;
	off_t size, ids_end, start;
	ssize_t n;
	int r, rc = EXIT_CANTCREAT;

	buf_init(&line, RECORD_MAX);
	if (fstat(bs->out.fd, &st) == -1) {
		rc = resume_fail_io(&bs->out);
		goto out;
	}
	size = st.st_size;
	if (size > 0) {
		do
			n = pread(bs->out.fd, head, sizeof(head), 0);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			rc = resume_fail_io(&bs->out);
			goto out;
		}
		r = batch_npy_parse(head, (size_t)n, &rows, &dim, &off, err,
		    sizeof(err));
		if (r == -1) {
			log_error("cannot resume: '%s': %s", bs->out.path, err);
			rc = EXIT_CONFIG;
			goto out;
		}
		if (r == 1 && off != BATCH_NPY_HEADER_LEN) {
			log_error("cannot resume: '%s' was not written by "
			    "embedwatch", bs->out.path);
			rc = EXIT_CONFIG;
			goto out;
		}
		/* A torn header, or no row width yet: start afresh. */
		if (r == 0 || dim == 0)
			size = 0;
	}
	if (size > 0 && cfg->dimensions > 0 &&
	    dim != (uint64_t)cfg->dimensions) {
		log_error("cannot resume: '%s' has %" PRIu64 " dimensions, "
		    "not %ld (--dimensions)", bs->out.path, dim,
		    cfg->dimensions);
		rc = EXIT_CONFIG;
		goto out;
	}
	rows = size > 0 ? (uint64_t)(size - BATCH_NPY_HEADER_LEN) /
	    (dim * 4) : 0;
	if (batch_file_count_lines(bs->ids.fd, rows, &count, &ids_end) ==
	    -1) {
		rc = resume_fail_io(&bs->ids);
		goto out;
	}
	rows = count;
	if (ftruncate(bs->ids.fd, ids_end) == -1) {
		rc = resume_fail_io(&bs->ids);
		goto out;
	}
	if (rows > 0) {
		r = batch_file_last_line(bs->ids.fd, ids_end, &line, &start);
		if (r == -1) {
			rc = resume_fail_io(&bs->ids);
			goto out;
		}
		bs->want_id = strndup(buf_data(&line), buf_len(&line));
		if (bs->want_id == NULL) {
			rc = resume_fail_io(&bs->ids);
			goto out;
		}
	}
	size = size > 0 ? BATCH_NPY_HEADER_LEN +
	    (off_t)(rows * dim * 4) : 0;
	if (ftruncate(bs->out.fd, size) == -1) {
		rc = resume_fail_io(&bs->out);
		goto out;
	}
	if (size > 0) {
		bs->dim = dim;
		bs->header_written = true;
		bs->out.dirty = true;	/* the header's count is stale */
	}
	rc = resume_errors(bs, rows);
	if (rc != 0)
		goto out;
	bs->want_seq = rows;
	bs->skip_to = rows;
	bs->skipping = rows > 0;
	rc = seek_end(&bs->ids, ids_end);
	if (rc == 0)
		rc = seek_end(&bs->out, size);
out:
	buf_free(&line);
	return rc;
}

static int
open_outputs(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	const char *out = cfg->batch_output;
	struct stat st;
	int rc;

	if (out == NULL) {
		bs->out.path = "stdout";
		bs->out.fd = STDOUT_FILENO;
		bs->out.regular = fstat(STDOUT_FILENO, &st) == 0 &&
		    S_ISREG(st.st_mode);
	} else {
		rc = open_file(bs, &bs->out, out);
		if (rc != 0)
			return rc;
	}
	if (bs->npy) {
		if (asprintf(&bs->ids_path, "%s.ids", out) == -1) {
			bs->ids_path = NULL;
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		rc = open_file(bs, &bs->ids, bs->ids_path);
		if (rc != 0)
			return rc;
	}
	if (cfg->batch_errors != NULL || out != NULL) {
		if (cfg->batch_errors == NULL &&
		    asprintf(&bs->errors_path, "%s.errors", out) == -1) {
			bs->errors_path = NULL;
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		rc = open_file(bs, &bs->errors, cfg->batch_errors != NULL ?
		    cfg->batch_errors : bs->errors_path);
		if (rc != 0)
			return rc;
	} else {
		bs->errors.path = "stderr";
		bs->errors.fd = STDERR_FILENO;
	}
	if (cfg->resume) {
		rc = bs->npy ? resume_npy(bs) : resume_jsonl(bs);
		if (rc != 0)
			return rc;
	}
	if (bs->npy && !bs->header_written && cfg->dimensions > 0) {
		set_dim(bs, (uint64_t)cfg->dimensions);
		if (bs->fatal != 0)
			return bs->fatal;
	}
	return 0;
}

/* Lines in a regular input, for the progress line. */
static void
count_total(struct batch *bs)
{
	struct stat st;
	uint64_t count;
	off_t end;

	if (!bs->progress || !bs->in_regular || fstat(bs->in_fd, &st) == -1 ||
	    batch_file_count_lines(bs->in_fd, UINT64_MAX, &count, &end) == -1)
		return;
	bs->total = count + (end < st.st_size);
}

/* --- finish ------------------------------------------------------------ */

/* Append arg to b, quoted for a POSIX shell when it needs it. */
static int
append_shell_word(struct buf *b, const char *arg)
{
	const char *p;

	if (*arg != '\0' && strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%") == strlen(arg))
		return buf_append(b, arg, strlen(arg));
	if (buf_append(b, "'", 1) == -1)
		return -1;
	for (p = arg; *p != '\0'; p++)
		if ((*p == '\'' ? buf_append(b, "'\\''", 4) :
		    buf_append(b, p, 1)) == -1)
			return -1;
	return buf_append(b, "'", 1);
}

/* Our command line with --resume, for the message after a stop. Header
 * values are elided: they may hold credentials. Returns 0 or -1. */
static int
resume_command(struct buf *b)
{
	char *args = NULL, *arg, *colon, *copy;
	size_t len, off;
	bool has_resume = false, header_next = false;
	int fd, rc = -1;

	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	args = io_slurp(fd, 1 << 20, &len);
	(void)close(fd);
	if (args == NULL || len == 0)
		goto out;
	for (off = 0; off < len; off += strlen(arg) + 1) {
		arg = args + off;
		if (off > 0 && buf_append(b, " ", 1) == -1)
			goto out;
		if (strcmp(arg, "--resume") == 0)
			has_resume = true;
		colon = strchr(arg, ':');
		if ((header_next || strncmp(arg, "--header=", 9) == 0) &&
		    colon != NULL) {
			copy = strndup(arg, (size_t)(colon - arg) + 1);
			if (copy == NULL || append_shell_word(b, copy) == -1 ||
			    buf_append(b, "'...'", 5) == -1) {
				free(copy);
				goto out;
			}
			free(copy);
		} else if (append_shell_word(b, arg) == -1)
			goto out;
		header_next = strcmp(arg, "--header") == 0;
	}
	if (!has_resume && buf_append(b, " --resume", 9) == -1)
		goto out;
	rc = 0;
out:
	free(args);
	return rc;
}

static void
summarize(struct batch *bs, const struct engine_stats *st, bool interrupted)
{
	uint64_t done = bs->n_ok + bs->n_failed;
	double sec = (double)(clock_ms() - bs->started_ms) / 1000;
	char where[PATH_MAX + 64], line[PATH_MAX + 512];
	struct buf cmd;
	int n;

	clear_progress(bs);
	(void)snprintf(where, sizeof(where), "; %" PRIu64 " failed inputs "
	    "are listed in '%s'", bs->n_failed + bs->failed_before,
	    bs->errors.path);
	/* The summary is the run's result, not a log line: always shown. */
	n = snprintf(line, sizeof(line), "embedwatch: batch %s: %" PRIu64
	    " inputs written (%" PRIu64 " embedded, %" PRIu64 " failed), %"
	    PRIu64 " skipped as done before; %.1f s, %.0f inputs/s; %" PRIu64
	    " calls, %" PRIu64 " splits, %" PRIu64 " retries, %" PRIu64
	    " workers killed%s\n",
	    interrupted ? "stopped" : "done", done, bs->n_ok, bs->n_failed,
	    bs->skipped, sec, sec > 0 ? (double)done / sec : 0.0,
	    bs->calls, bs->splits, (uint64_t)st->retries,
	    (uint64_t)st->workers_killed,
	    bs->n_failed + bs->failed_before > 0 ? where : "");
	if (n > 0)
		(void)io_write_all(STDERR_FILENO, line, (size_t)n <
		    sizeof(line) ? (size_t)n : sizeof(line) - 1);
	if (!interrupted)
		return;
	buf_init(&cmd, 1 << 20);
	if (bs->cfg->batch_output != NULL && resume_command(&cmd) == 0)
		log_warn("stopped by %s before the input was done; to go on, "
		    "run: %s", strsignal(bs->stop_signo), buf_data(&cmd));
	else
		log_warn("stopped by %s before the input was done; run again "
		    "with -o OUT and --resume to go on",
		    strsignal(bs->stop_signo));
	buf_free(&cmd);
}

static void
close_file(struct out_file *f)
{
	if (f->owned && f->fd != -1 && close(f->fd) == -1)
		log_error("cannot close output '%s': %s", f->path,
		    strerror(errno));
	f->fd = -1;
	buf_free(&f->pending);
}

/* Everything done is written, flushed, synced; the .npy header counts
 * the rows. */
static void
finish_files(struct batch *bs)
{
	emit_ready(bs);
	/* No row width ever known: a valid [N, 0] array all the same. */
	if (bs->fatal == 0 && bs->npy && !bs->header_written)
		(void)write_header(bs);
	if (bs->fatal == 0 && flush_all(bs, true) == 0)
		checkpoint(bs, clock_ms(), true);
}

/* Release everything init set up; the engine is already gone. */
static void
cleanup(struct batch *bs)
{
	uint64_t seq;

	if (bs->out_flags != -1 && (bs->out_flags & O_NONBLOCK) == 0)
		(void)io_set_nonblock(bs->out.fd, false);
	abandon_unsent(bs);
	if (bs->items != NULL)
		for (seq = 0; seq < bs->window; seq++)
			item_reset(bs, &bs->items[seq]);
	close_file(&bs->out);
	close_file(&bs->ids);
	close_file(&bs->errors);
	if (bs->in_fd != -1 && bs->in_fd != STDIN_FILENO)
		(void)close(bs->in_fd);
	buf_free(&bs->in);
	free(bs->items);
	free(bs->form);
	free(bs->want_id);
	free(bs->ids_path);
	free(bs->errors_path);
	free(bs);
}

/* Open the files and size the ring. Returns 0 or an exit status. */
static int
open_all(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	int status;

	bs->jsonl_in = cfg->batch_input_format == BATCH_IN_JSONL ||
	    (cfg->batch_input_format == BATCH_IN_AUTO &&
	    (has_suffix(cfg->batch_input, ".jsonl") ||
	    has_suffix(cfg->batch_input, ".ndjson")));
	bs->npy = cfg->batch_format == BATCH_OUT_NPY ||
	    (cfg->batch_format == BATCH_OUT_AUTO &&
	    cfg->batch_output != NULL && has_suffix(cfg->batch_output, ".npy"));
	if (bs->npy && cfg->batch_output == NULL) {
		log_error("--format npy needs an output file (-o OUT.npy)");
		return EXIT_USAGE;
	}
	if (cfg->resume && cfg->batch_output == NULL) {
		log_error("--resume needs the output file of the run to go on "
		    "with (-o OUT)");
		return EXIT_USAGE;
	}
	bs->progress = cfg->progress == 1 ||
	    (cfg->progress == -1 && isatty(STDERR_FILENO));
	status = open_input(bs);
	if (status != 0)
		return status;
	status = open_outputs(bs);
	if (status != 0)
		return status;
	count_total(bs);
	bs->max_live = (size_t)cfg->jobs * CHUNKS_PER_JOB;
	bs->window = bs->max_live * cfg->batch_size * 2;
	if (bs->window < WINDOW_MIN)
		bs->window = WINDOW_MIN;
	if (bs->window > WINDOW_MAX)
		bs->window = WINDOW_MAX;
	if (bs->window < (size_t)cfg->batch_size * 2)
		bs->window = (size_t)cfg->batch_size * 2;
	bs->items = calloc(bs->window, sizeof(*bs->items));
	bs->form = calloc(cfg->batch_size, sizeof(*bs->form));
	if (bs->items == NULL || bs->form == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return EXIT_SOFTWARE;
	}
	return 0;
}

void *
batch_init(const struct config *cfg, struct loop *l, struct signals *sigs,
    int *status)
{
	struct batch *bs;

	*status = EXIT_SOFTWARE;
	bs = calloc(1, sizeof(*bs));
	if (bs == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return NULL;
	}
	*bs = (struct batch){ .cfg = cfg, .loop = l, .sigs = sigs };
	bs->in_fd = bs->out.fd = bs->ids.fd = bs->errors.fd = -1;
	bs->out_flags = -1;
	bs->next_seq = bs->base = 1;
	bs->in_open = true;
	bs->started_ms = bs->synced_ms = clock_ms();
	STAILQ_INIT(&bs->resubmit);
	buf_init(&bs->in, cfg->max_line + 1);
	buf_init(&bs->out.pending, SIZE_MAX / 2);
	buf_init(&bs->ids.pending, SIZE_MAX / 2);
	buf_init(&bs->errors.pending, SIZE_MAX / 2);
	loop_timer_init(&bs->linger_timer, wake_up, bs);
	loop_timer_init(&bs->progress_timer, wake_up, bs);
	loop_timer_init(&bs->checkpoint_timer, wake_up, bs);

	*status = open_all(bs);
	if (*status != 0)
		goto fail;
	*status = EXIT_SOFTWARE;
	bs->engine = engine_new(cfg, l, sigs, NULL, on_answer, bs);
	if (bs->engine == NULL || loop_add_hook(l, LOOP_INPUT, take_input,
	    bs) == -1 || loop_add_hook(l, LOOP_OUTPUT, give_output, bs) == -1) {
		log_error("cannot start: %s", strerror(errno));
		goto fail;
	}
	if (!bs->out.regular) {
		bs->out_flags = io_set_nonblock(bs->out.fd, true);
		if (bs->out_flags == -1) {
			log_error("cannot use output '%s': %s", bs->out.path,
			    strerror(errno));
			*status = EXIT_CANTCREAT;
			goto fail;
		}
	}
	log_debug("batch: input '%s' (%s), output '%s' (%s), %u texts and "
	    "%zu bytes a call, window %zu", bs->in_path, bs->jsonl_in ?
	    "jsonl" : "text", bs->out.path, bs->npy ? "npy" : "jsonl",
	    cfg->batch_size, cfg->batch_bytes, bs->window);
	sig_on_terminate(sigs, on_terminate, bs);
	return bs;
fail:
	loop_remove_hook(l, LOOP_INPUT, take_input, bs);
	loop_remove_hook(l, LOOP_OUTPUT, give_output, bs);
	engine_free(bs->engine);
	cleanup(bs);
	return NULL;
}

/* The run could not go on from where OUT ended: say why. */
static void
check_resumed(struct batch *bs)
{
	if (!bs->skipping || bs->fatal != 0 || !bs->in_eof)
		return;
	if (bs->want_id != NULL && bs->want_seq == 0)
		log_error("cannot resume: '%s' ends with id %s, which input "
		    "'%s' does not hold", bs->out.path, bs->want_id,
		    bs->in_path);
	else
		log_error("cannot resume: input '%s' has %" PRIu64 " lines, "
		    "fewer than the %" PRIu64 " that '%s' accounts for",
		    bs->in_path, bs->next_seq - 1, bs->skip_to, bs->out.path);
	bs->fatal = EXIT_CONFIG;
}

int
batch_finish(void *state, int loop_status)
{
	struct batch *bs = state;
	struct engine_stats stats;
	bool interrupted;
	int status = 0;

	sig_on_terminate(bs->sigs, NULL, NULL);
	loop_remove_hook(bs->loop, LOOP_INPUT, take_input, bs);
	loop_remove_hook(bs->loop, LOOP_OUTPUT, give_output, bs);
	loop_disarm(bs->loop, &bs->linger_timer);
	loop_disarm(bs->loop, &bs->progress_timer);
	loop_disarm(bs->loop, &bs->checkpoint_timer);
	if (bs->in_watched)
		loop_unwatch(bs->loop, bs->in_fd);
	if (bs->out_watched)
		loop_unwatch(bs->loop, bs->out.fd);
	if (loop_status == -1 && bs->fatal == 0)
		bs->fatal = EXIT_SOFTWARE;
	stats = *engine_stats(bs->engine);
	check_resumed(bs);

	/* Finish: kill and reap what still runs, write what is done. */
	engine_free(bs->engine);
	bs->engine = NULL;
	finish_files(bs);
	interrupted = bs->stop_signo != 0 && !(bs->in_eof &&
	    bs->base == bs->next_seq);
	summarize(bs, &stats, interrupted);
	if (bs->fatal != 0)
		status = bs->fatal;
	else if (interrupted)
		status = 128 + bs->stop_signo;
	else if (bs->n_failed + bs->failed_before > 0)
		status = EXIT_SOME_FAILED;
	cleanup(bs);
	return status;
}
