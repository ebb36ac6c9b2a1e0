/*
 * batch/output: see output.h. Called by the loop (emit, flush,
 * checkpoint), by batch/chunks (the row width of the first answer) and
 * by batch/resume (the row width from --dimensions).
 *
 * OUT is blocking when it is a regular file and non-blocking otherwise
 * (a pipe or terminal: the loop polls it); the errors file is always
 * flushed at once, after the records before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "batch/journal.h"
#include "batch/npy.h"
#include "batch/output.h"
#include "batch/retry.h"
#include "batch/progress.h"
#include "batch/state.h"
#include "buf.h"
#include "clock.h"
#include "io.h"
#include "config/config.h"
#include "log.h"
#include "proto_json.h"

int
batch_output_flush(struct batch *bs, struct out_file *f, bool block)
{
	int flags = -1, rc = 0;
	ssize_t n;

	while (buf_len(&f->pending) > 0) {
		n = buf_write_fd(&f->pending, f->fd);
		if (n > 0) {
			f->written += n;
			f->dirty = true;
			continue;
		}
		if (n == -1 && errno == EAGAIN && !block && !f->regular)
			break;
		/* Must be written now, on a descriptor someone made
		 * non-blocking: let write itself wait, then restore. */
		if (n == -1 && errno == EAGAIN && flags == -1 &&
		    (flags = io_set_nonblock(f->fd, false)) != -1)
			continue;
		log_error("cannot write output '%s': %s", f->path,
		    n == 0 ? "no progress" : strerror(errno));
		buf_free(&f->pending);
		batch_stop(bs, EXIT_CANTCREAT);
		rc = -1;
		break;
	}
	if (flags != -1 && (flags & O_NONBLOCK) != 0)
		(void)io_set_nonblock(f->fd, true);
	return rc;
}

int
batch_output_flush_all(struct batch *bs, bool block)
{
	if (batch_journal_flush(bs) == -1)
		return -1;
	if (bs->errors.fd != -1 &&
	    batch_output_flush(bs, &bs->errors, true) == -1)
		return -1;
	if (bs->ids.fd != -1 && batch_output_flush(bs, &bs->ids, block) == -1)
		return -1;
	return batch_output_flush(bs, &bs->out, block);
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
		batch_stop(bs, EXIT_CANTCREAT);
		return -1;
	}
	if (!bs->header_written) {
		bs->header_written = true;
		bs->out.written = BATCH_NPY_HEADER_LEN;
		if (lseek(bs->out.fd, BATCH_NPY_HEADER_LEN, SEEK_SET) == -1) {
			log_error("cannot seek in output '%s': %s",
			    bs->out.path, strerror(errno));
			batch_stop(bs, EXIT_CANTCREAT);
			return -1;
		}
	}
	bs->out.dirty = true;
	return 0;
}

void
batch_output_set_dim(struct batch *bs, uint64_t dim)
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
		batch_stop(bs, EXIT_CANTCREAT);
		return -1;
	}
	return 0;
}

void
batch_output_checkpoint(struct batch *bs, int64_t now, bool final)
{
	if (!final && now - bs->synced_ms < BATCH_CHECKPOINT_MS)
		return;
	bs->synced_ms = now;
	if (batch_journal_sync(bs) == -1 || sync_file(bs, &bs->errors) == -1 ||
	    sync_file(bs, &bs->ids) == -1)
		return;
	if (bs->npy && !bs->retrying && bs->out.dirty && bs->out.regular &&
	    bs->header_written && write_header(bs) == -1)
		return;
	(void)sync_file(bs, &bs->out);
}

static void
lost_buffer(struct batch *bs)
{
	log_error("cannot buffer output '%s': %s", bs->out.path,
	    strerror(errno));
	batch_stop(bs, EXIT_CANTCREAT);
}

/*
 * The error line of a failed input. Not jsonl_format_answer's shape: the
 * record names the input line, puts the status before the message and
 * has neither "ok", "retryable" nor "ms"; only the string escaper is
 * shared.
 */
static void
write_failed(struct batch *bs, uint64_t seq, struct item *it)
{
	struct buf *e = &bs->errors.pending;

	/* The records before this one reach OUT before its error line, so
	 * that the errors file never runs ahead of a success. */
	if (bs->out.regular && batch_output_flush_all(bs, true) == -1)
		return;
	if (buf_printf(e, "{\"id\":%s,\"line\":%" PRIu64 ",\"code\":\"%s\"",
	    it->id_json != NULL ? it->id_json : "null", seq, it->code) == -1 ||
	    (it->http_status > 0 && buf_printf(e, ",\"status\":%d",
	    it->http_status) == -1) ||
	    buf_append(e, ",\"message\":", 11) == -1 ||
	    proto_append_json_string(e, it->message != NULL ? it->message :
	    "out of memory") == -1 ||
	    buf_printf(e, ",\"attempts\":%u}\n", it->attempts) == -1) {
		log_error("cannot format the error line of line %" PRIu64
		    ": %s", seq, strerror(errno));
		batch_stop(bs, EXIT_SOFTWARE);
		return;
	}
	if (bs->errors.fd == STDERR_FILENO)
		batch_progress_clear(bs);
	if (batch_output_flush(bs, &bs->errors, true) == -1)
		return;
	bs->n_failed++;
	if (!bs->npy || bs->retrying)
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
	lost_buffer(bs);
}

static void
write_ok(struct batch *bs, uint64_t seq, struct item *it)
{
	struct buf *o = &bs->out.pending;
	const char *id = it->id_json != NULL ? it->id_json : "null";

	if (bs->retrying) {
		if (batch_retry_write_ok(bs, seq, it) == 0)
			bs->n_ok++;
		return;
	}
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
	    buf_printf(o, ",\"line\":%" PRIu64 ",\"embedding\":", seq) == -1 ||
	    buf_append(o, it->res->text + it->off, it->len) == -1 ||
	    buf_append(o, "}\n", 2) == -1)
		goto nomem;
	bs->n_ok++;
	return;
nomem:
	lost_buffer(bs);
}

void
batch_output_emit_ready(struct batch *bs)
{
	struct item *it;

	while (bs->base < bs->next_seq && bs->fatal == 0) {
		it = batch_item(bs, bs->base);
		if (it->state == ITEM_OK)
			write_ok(bs, bs->base, it);
		else if (it->state == ITEM_FAILED)
			write_failed(bs, bs->base, it);
		else if (it->state != ITEM_BLANK)
			break;
		batch_reset_item(bs, it);
		bs->base++;
	}
}

void
batch_output_finish(struct batch *bs)
{
	batch_output_emit_ready(bs);
	/* No row width ever known: a valid [N, 0] array all the same. */
	if (bs->fatal == 0 && bs->npy && !bs->header_written)
		(void)write_header(bs);
	if (bs->fatal == 0 && batch_output_flush_all(bs, true) == 0)
		batch_output_checkpoint(bs, clock_ms(), true);
}

void
batch_output_close(struct out_file *f)
{
	if (f->owned && f->fd != -1 && close(f->fd) == -1)
		log_error("cannot close output '%s': %s", f->path,
		    strerror(errno));
	f->fd = -1;
	buf_free(&f->pending);
}
