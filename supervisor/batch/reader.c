/*
 * batch/reader: see reader.h. Called by the loop each turn and when the
 * input is readable; batch_reader_open at init. The bounded line reader
 * is protocol/lines, the one pipe and serve use: at most --max-line
 * bytes are held for a line; a line handed out by lines_next stays valid
 * until the next call, and handle_line copies what it keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/chunks.h"
#include "batch/input.h"
#include "batch/journal.h"
#include "batch/reader.h"
#include "batch/resume.h"
#include "batch/retry.h"
#include "batch/shard.h"
#include "batch/state.h"
#include "config/config.h"
#include "engine/engine.h"
#include "log.h"
#include "protocol/lines.h"

#define READ_CHUNK		(256 * 1024)
#define HELD_MAX		((size_t)16 << 20)
#define OUT_HIGH_WATER		((size_t)4 << 20)

/* Sharded: read only the shard's lines, numbered as in the whole. */
static int
open_shard(struct batch *bs)
{
	struct batch_shard sh;

	if (!bs->in_regular) {
		log_error("--shard needs a regular input file, not '%s'",
		    bs->in_path);
		return EXIT_USAGE;
	}
	if (batch_shard_range(bs->in_fd, bs->shard_k, bs->shard_n, &sh) ==
	    -1 || lseek(bs->in_fd, sh.begin, SEEK_SET) == -1) {
		log_error("cannot read input '%s': %s", bs->in_path,
		    strerror(errno));
		return EXIT_NOINPUT;
	}
	bs->in_end = sh.end;
	bs->next_seq = bs->base = sh.lines_before + 1;
	bs->total = sh.lines;
	return 0;
}

int
batch_reader_open(struct batch *bs)
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
	if (bs->shard_n > 0)
		return open_shard(bs);
	return 0;
}

static bool
window_full(const struct batch *bs)
{
	return bs->next_seq - bs->base >= bs->window ||
	    bs->held >= HELD_MAX;
}

bool
batch_reader_can_take_line(const struct batch *bs)
{
	if (bs->stopping || bs->fatal != 0)
		return false;
	if (bs->skipping)
		return true;
	return !window_full(bs) && bs->live + bs->n_waiting < bs->max_live &&
	    !engine_is_full(bs->engine);
}

/* Resuming, line seq is the last one the files account for: it must
 * have the id they list for it. */
static void
check_last_id(struct batch *bs, uint64_t seq, const char *line, size_t len)
{
	struct batch_input in;
	char err[256], num[24];
	const char *id;

	memset(&in, 0, sizeof(in));
	if (bs->jsonl_in) {
		(void)batch_input_parse(true, seq, line, len, &in, err,
		    sizeof(err));
		id = in.id_json != NULL ? in.id_json : "null";
	} else {
		(void)snprintf(num, sizeof(num), "%" PRIu64, seq);
		id = num;
	}
	if (strcmp(id, bs->want_id) != 0) {
		log_error("cannot resume: line %" PRIu64 " of input '%s' has "
		    "id %s, but '%s' has %s there; is it the same input?",
		    seq, bs->in_path, id, bs->npy ? bs->ids_path :
		    bs->out.path, bs->want_id);
		batch_stop(bs, EXIT_CONFIG);
	}
	batch_input_clear(&in);
}

/*
 * Resuming: line seq is already in the files. Positions, never ids, say
 * where the files end: JSON lines records carry their line number (skip
 * to it, or to the last error's line); a .npy row stands for each line
 * that is not skipped as blank (skip that many rows' lines).
 */
static void
skip_line(struct batch *bs, uint64_t seq, const char *line, size_t len)
{
	bool last;
	int rc;

	bs->skipped++;
	bs->base = seq + 1;
	if (bs->npy) {
		last = ++bs->rows_seen == bs->skip_rows;
		if (last && bs->want_id != NULL)
			check_last_id(bs, seq, line, len);
		if (!last)
			return;
		rc = batch_resume_cut_errors(bs, seq);
		if (rc != 0)
			batch_stop(bs, rc);
		bs->skipping = false;
		return;
	}
	if (seq == bs->want_seq && bs->want_id != NULL)
		check_last_id(bs, seq, line, len);
	if (seq >= bs->skip_to)
		bs->skipping = false;
}

/* Nothing to write for line seq: pass it at once if nothing before it
 * waits, else leave the ring's emitter to pass it. */
static void
pass_line(struct batch *bs, uint64_t seq)
{
	if (bs->base == seq)
		bs->base = seq + 1;
	else
		batch_item(bs, seq)->state = ITEM_BLANK;
}

/* --retry-failed: a line that did not fail stays as it is in OUT. */
static void
keep_line(struct batch *bs, uint64_t seq)
{
	bs->skipped++;
	pass_line(bs, seq);
}

/* A blank line, skipped (--empty skip): nothing is written for it. */
static void
skip_blank(struct batch *bs, uint64_t seq)
{
	bs->n_blank++;
	pass_line(bs, seq);
}

static void
handle_line(struct batch *bs, const char *line, size_t len, int64_t now)
{
	struct batch_input in;
	struct item *it;
	uint64_t seq = bs->next_seq++, row;
	char err[256];

	/* A UTF-8 byte-order mark is not part of the first text. */
	if (seq == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (!bs->cfg->empty_error && lines_blank(line, len)) {
		skip_blank(bs, seq);
		return;
	}
	row = bs->rows_read++;
	if (bs->retrying && !batch_retry_wants(bs, seq)) {
		keep_line(bs, seq);
		return;
	}
	if (bs->skipping) {
		skip_line(bs, seq, line, len);
		return;
	}
	it = batch_item(bs, seq);
	it->row = row;
	if (bs->cfg->empty_error && lines_blank(line, len)) {
		if (!bs->jsonl_in && asprintf(&it->id_json, "%" PRIu64,
		    seq) == -1)
			it->id_json = NULL;
		batch_fail_item(bs, it, "invalid_input", "empty line", 0, 0);
		return;
	}
	if (batch_input_parse(bs->jsonl_in, seq, line, len, &in, err,
	    sizeof(err)) == -1) {
		it->id_json = in.id_json;
		in.id_json = NULL;
		batch_input_clear(&in);
		log_debug("line %" PRIu64 ": %s", seq, err);
		batch_fail_item(bs, it, "invalid_input", err, 0, 0);
		return;
	}
	it->state = ITEM_WAIT;
	it->id_json = in.id_json;
	it->text_json = in.text_json;
	it->text_len = in.text_len;
	bs->held += in.text_len;
	if (bs->jidx_next < bs->jidx_n && batch_journal_restore(bs, seq, it))
		return;
	batch_chunks_add(bs, seq, now);
}

/* The line being read is over --max-line. */
static void
handle_long_line(struct batch *bs)
{
	struct item *it;
	uint64_t seq = bs->next_seq++, row;
	char msg[128];

	row = bs->rows_read++;
	if (bs->retrying && !batch_retry_wants(bs, seq)) {
		keep_line(bs, seq);
		return;
	}
	if (bs->skipping) {
		skip_line(bs, seq, "", 0);
		return;
	}
	it = batch_item(bs, seq);
	it->row = row;
	if (!bs->jsonl_in && asprintf(&it->id_json, "%" PRIu64, seq) == -1)
		it->id_json = NULL;
	(void)snprintf(msg, sizeof(msg), "line longer than %zu bytes "
	    "(--max-line)", bs->cfg->max_line);
	batch_fail_item(bs, it, "invalid_input", msg, 0, 0);
}

bool
batch_reader_has_line(const struct batch *bs)
{
	return lines_ready(&bs->in);
}

bool
batch_reader_is_drained(const struct batch *bs)
{
	return lines_done(&bs->in);
}

void
batch_reader_parse_lines(struct batch *bs, int64_t now)
{
	const char *line;
	size_t len;

	while (batch_reader_can_take_line(bs) &&
	    lines_next(&bs->in, &line, &len))
		handle_line(bs, line, len, now);
}

bool
batch_reader_wants_input(const struct batch *bs)
{
	return bs->in_open && batch_reader_can_take_line(bs) &&
	    !batch_reader_has_line(bs) &&
	    buf_len(&bs->out.pending) < OUT_HIGH_WATER;
}

bool
batch_reader_is_lingering(const struct batch *bs)
{
	return bs->form_n > 0 && !bs->in_regular &&
	    batch_reader_wants_input(bs);
}

void
batch_reader_maybe_submit(struct batch *bs, int64_t now)
{
	if (bs->form_n == 0 || bs->stopping)
		return;
	if ((!bs->in_open && !batch_reader_has_line(bs)) || window_full(bs) ||
	    (batch_reader_is_lingering(bs) &&
	    now - bs->form_since >= BATCH_LINGER_MS))
		batch_chunks_submit_form(bs, now);
}

void
batch_reader_read(struct batch *bs)
{
	size_t want = READ_CHUNK;
	off_t at;

	/* A shard ends at its range: reading 0 bytes there is its EOF. */
	if (bs->shard_n > 0) {
		at = lseek(bs->in_fd, 0, SEEK_CUR);
		if (at == -1)
			goto fail;
		want = bs->in_end - at < (off_t)want ?
		    (size_t)(bs->in_end - at) : want;
	}
	switch (lines_read(&bs->in, bs->in_fd, want)) {
	case LINES_OK:
	case LINES_AGAIN:
		return;
	case LINES_EOF:
		bs->in_open = false;
		bs->in_eof = true;
		return;
	case LINES_TOO_LONG:
		/* No newline within --max-line bytes: one failed input,
		 * and the rest of the line skipped. */
		handle_long_line(bs);
		return;
	case LINES_ERROR:
		break;
	}
fail:
	log_error("cannot read input '%s': %s", bs->in_path, strerror(errno));
	batch_stop(bs, EXIT_NOINPUT);
}
