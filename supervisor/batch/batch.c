/*
 * batch: see batch.h. Called by main after init; opens its files (may
 * end with 64, 66, 73 or 78 before anything is sent), runs the loop and
 * the finish phase, like pipe.c.
 *
 * The work is spread over the modules of this folder, all sharing
 * struct batch (batch/state.h, which describes the ring of items and its
 * invariants): batch/reader reads and parses input lines into the ring,
 * batch/chunks turns them into engine requests and answers into items,
 * batch/output writes finished items in input order and makes them
 * durable, batch/resume opens the files and finds where a previous run
 * ended, batch/progress talks to the person running it. This file owns
 * the lifecycle: init, the loop that drives the others, finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "batch/batch.h"
#include "batch/chunks.h"
#include "batch/output.h"
#include "batch/progress.h"
#include "batch/reader.h"
#include "batch/resume.h"
#include "batch/state.h"
#include "buf.h"
#include "clock.h"
#include "core/signals.h"
#include "engine/engine.h"
#include "io.h"
#include "log.h"
#include "protocol/lines.h"

#define CHUNKS_PER_JOB		2
#define WINDOW_MIN		1024
#define WINDOW_MAX		65536
#define EXIT_SOME_FAILED	3

/* --- the loop ---------------------------------------------------------- */

static void
on_terminate(struct batch *bs, const struct sig_events *ev)
{
	if (!bs->stopping) {
		log_info("%s: no more input; letting calls in flight finish "
		    "for up to %ld ms", strsignal(ev->last_signo),
		    bs->cfg->drain_ms);
		bs->stop_signo = ev->last_signo;
	} else
		log_info("%s: stopping calls in flight now",
		    strsignal(ev->last_signo));
	bs->stopping = true;
	bs->in_open = false;
	lines_close(&bs->in);
	batch_chunks_abandon(bs);
	engine_shutdown(bs->engine, clock_ms(), bs->cfg->drain_ms);
}

static bool
is_finished(const struct batch *bs)
{
	return !bs->in_open && (batch_reader_is_drained(bs) || bs->stopping) &&
	    bs->form_n == 0 && STAILQ_EMPTY(&bs->resubmit) &&
	    engine_is_idle(bs->engine) &&
	    (buf_len(&bs->out.pending) == 0 || bs->fatal != 0);
}

/*
 * Over 80 lines on purpose: this is the mode's own poll loop, kept whole
 * and in one place until it moves onto the shared core/loop, when its
 * descriptors and deadlines become registrations and this goes away.
 */
static int
loop(struct batch *bs, int sig_fd)
{
	struct sig_events ev;
	struct pollfd *pfd;
	size_t n, max, i_in, i_out, n_eng;
	int64_t now;
	int timeout, r;

	max = 3 + engine_max_workers(bs->engine);
	pfd = calloc(max, sizeof(*pfd));
	if (pfd == NULL) {
		log_error("cannot allocate the poll set: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		now = clock_ms();
		batch_reader_parse_lines(bs, now);
		batch_reader_maybe_submit(bs, now);
		engine_run_due(bs->engine, now);
		if (!STAILQ_EMPTY(&bs->resubmit)) {
			/* Halves of chunks split just now: start them. */
			batch_chunks_resubmit(bs, now);
			engine_run_due(bs->engine, now);
		}
		batch_output_emit_ready(bs);
		if (bs->fatal == 0)
			(void)batch_output_flush_all(bs, false);
		if (bs->fatal == 0)
			batch_output_checkpoint(bs, now, false);
		batch_progress_draw(bs, now, false);
		if (is_finished(bs))
			break;

		n = 0;
		pfd[n].fd = sig_fd;
		pfd[n++].events = POLLIN;
		i_in = i_out = SIZE_MAX;
		if (batch_reader_wants_input(bs)) {
			i_in = n;
			pfd[n].fd = bs->in_fd;
			pfd[n++].events = POLLIN;
		}
		if (buf_len(&bs->out.pending) > 0 && bs->fatal == 0) {
			i_out = n;
			pfd[n].fd = bs->out.fd;
			pfd[n++].events = POLLOUT;
		}
		n_eng = engine_pollfds(bs->engine, pfd + n, max - n);
		/* Fresh time: spawning in this turn may have taken a while. */
		now = clock_ms();
		timeout = engine_timeout_ms(bs->engine, now);
		if (!STAILQ_EMPTY(&bs->resubmit) ||
		    (batch_reader_can_take_line(bs) &&
		    batch_reader_has_line(bs)) ||
		    (!bs->in_open && !batch_reader_is_drained(bs) &&
		    !bs->stopping &&
		    batch_reader_can_take_line(bs)))
			timeout = 0;
		if (batch_reader_is_lingering(bs) && (timeout == -1 ||
		    timeout > BATCH_LINGER_MS))
			timeout = BATCH_LINGER_MS;
		if (bs->progress && (timeout == -1 ||
		    timeout > BATCH_PROGRESS_MS))
			timeout = BATCH_PROGRESS_MS;
		if (bs->out.dirty && (timeout == -1 ||
		    timeout > BATCH_CHECKPOINT_MS))
			timeout = BATCH_CHECKPOINT_MS;

		r = poll(pfd, n + n_eng, timeout);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			free(pfd);
			return -1;
		}
		if (pfd[0].revents != 0) {
			memset(&ev, 0, sizeof(ev));
			if (sig_read(sig_fd, &ev) == -1)
				log_error("cannot read signals: %s",
				    strerror(errno));
			if (ev.child)
				engine_reap(bs->engine);
			if (ev.terminate)
				on_terminate(bs, &ev);
		}
		if (i_in != SIZE_MAX && pfd[i_in].revents != 0 && bs->in_open)
			batch_reader_read(bs);
		if (i_out != SIZE_MAX && pfd[i_out].revents != 0 &&
		    bs->fatal == 0)
			(void)batch_output_flush(bs, &bs->out, false);
		engine_handle_pollfds(bs->engine, pfd + n, n_eng);
	}
	free(pfd);
	return 0;
}

/* --- init -------------------------------------------------------------- */

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Everything empty and closed, so that release_all may run at any point. */
static void
init_state(struct batch *bs, const struct config *cfg)
{
	memset(bs, 0, sizeof(*bs));
	bs->cfg = cfg;
	bs->in_fd = bs->out.fd = bs->ids.fd = bs->errors.fd = -1;
	bs->out_flags = -1;
	bs->next_seq = bs->base = 1;
	bs->in_open = true;
	bs->started_ms = bs->synced_ms = clock_ms();
	STAILQ_INIT(&bs->resubmit);
	lines_init(&bs->in, cfg->max_line);
	buf_init(&bs->out.pending, SIZE_MAX / 2);
	buf_init(&bs->ids.pending, SIZE_MAX / 2);
	buf_init(&bs->errors.pending, SIZE_MAX / 2);
}

/* The input and output formats, by option or by file name. Returns 0,
 * or EXIT_USAGE after a message. */
static int
pick_formats(struct batch *bs)
{
	const struct config *cfg = bs->cfg;

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
	return 0;
}

/* The ring, the form and the engine. Returns 0, or an exit status after
 * a message. */
static int
start_engine(struct batch *bs)
{
	const struct config *cfg = bs->cfg;

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
	bs->engine = engine_new(cfg, batch_chunks_on_answer, bs);
	if (bs->items == NULL || bs->form == NULL || bs->engine == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return EXIT_SOFTWARE;
	}
	if (!bs->out.regular) {
		bs->out_flags = io_set_nonblock(bs->out.fd, true);
		if (bs->out_flags == -1) {
			log_error("cannot use output '%s': %s", bs->out.path,
			    strerror(errno));
			return EXIT_CANTCREAT;
		}
	}
	return 0;
}

/* Init: options, files, resume, engine. Returns 0, or an exit status
 * after a message; release_all undoes it either way. */
static int
init(struct batch *bs, const struct config *cfg)
{
	int status;

	init_state(bs, cfg);
	status = pick_formats(bs);
	if (status != 0)
		return status;
	status = batch_reader_open(bs);
	if (status != 0)
		return status;
	status = batch_resume_open(bs);
	if (status != 0)
		return status;
	batch_progress_count_total(bs);
	status = start_engine(bs);
	if (status != 0)
		return status;
	log_debug("batch: input '%s' (%s), output '%s' (%s), %u texts and "
	    "%zu bytes a call, window %zu", bs->in_path, bs->jsonl_in ?
	    "jsonl" : "text", bs->out.path, bs->npy ? "npy" : "jsonl",
	    cfg->batch_size, cfg->batch_bytes, bs->window);
	return 0;
}

/* --- finish ------------------------------------------------------------ */

/* Finish: kill and reap what still runs, write what is done, summarize.
 * Returns the exit status of the run. */
static int
finish(struct batch *bs)
{
	struct engine_stats stats;
	bool interrupted;

	stats = *engine_stats(bs->engine);
	batch_resume_check_end(bs);
	engine_free(bs->engine);
	bs->engine = NULL;
	batch_output_finish(bs);
	interrupted = bs->stop_signo != 0 && !(bs->in_eof &&
	    bs->base == bs->next_seq);
	batch_progress_summarize(bs, &stats, interrupted);
	if (bs->fatal != 0)
		return bs->fatal;
	if (interrupted)
		return 128 + bs->stop_signo;
	if (bs->n_failed + bs->failed_before > 0)
		return EXIT_SOME_FAILED;
	return 0;
}

/* Release whatever init set up, however far it got. */
static void
release_all(struct batch *bs)
{
	uint64_t seq;

	if (bs->out_flags != -1 && (bs->out_flags & O_NONBLOCK) == 0)
		(void)io_set_nonblock(bs->out.fd, false);
	if (bs->engine != NULL)
		engine_free(bs->engine);
	batch_chunks_abandon(bs);
	if (bs->items != NULL)
		for (seq = 0; seq < bs->window; seq++)
			batch_reset_item(bs, &bs->items[seq]);
	batch_output_close(&bs->out);
	batch_output_close(&bs->ids);
	batch_output_close(&bs->errors);
	if (bs->in_fd != -1 && bs->in_fd != STDIN_FILENO)
		(void)close(bs->in_fd);
	lines_free(&bs->in);
	free(bs->items);
	free(bs->form);
	free(bs->want_id);
	free(bs->ids_path);
	free(bs->errors_path);
}

int
batch_run(const struct config *cfg, int sig_fd)
{
	struct batch bs;
	int status;

	status = init(&bs, cfg);
	if (status != 0)
		goto out;
	if (loop(&bs, sig_fd) == -1 && bs.fatal == 0)
		bs.fatal = EXIT_SOFTWARE;
	status = finish(&bs);
out:
	release_all(&bs);
	return status;
}
