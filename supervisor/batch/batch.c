/*
 * batch: see batch.h. main calls batch_init (it opens the files and may
 * end with 64, 66, 73 or 78 before anything is sent), runs the loop, then
 * batch_finish, like pipe.
 *
 * The work is spread over the modules of this folder, all sharing
 * struct batch (batch/state.h, which describes the ring of items and its
 * invariants): batch/reader reads and parses input lines into the ring,
 * batch/chunks turns them into engine requests and answers into items,
 * batch/output writes finished items in input order and makes them
 * durable, batch/resume opens the files and finds where a previous run
 * ended, batch/progress talks to the person running it. This file owns
 * the lifecycle: init, the hooks and descriptors it registers with
 * core/loop to drive the others, finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "batch/batch.h"
#include "batch/chunks.h"
#include "batch/journal.h"
#include "batch/merge.h"
#include "batch/output.h"
#include "batch/progress.h"
#include "batch/reader.h"
#include "batch/resume.h"
#include "batch/retry.h"
#include "batch/shard.h"
#include "batch/state.h"
#include "buf.h"
#include "clock.h"
#include "core/loop.h"
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
	lines_close(&bs->in);
	batch_chunks_abandon(bs);
	engine_shutdown(bs->engine, clock_ms(), bs->cfg->drain_ms);
}

static bool
is_finished(const struct batch *bs)
{
	return !bs->in_open && (batch_reader_is_drained(bs) || bs->stopping) &&
	    bs->form_n == 0 && STAILQ_EMPTY(&bs->resubmit) &&
	    bs->n_waiting == 0 &&
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
		batch_reader_read(bs);
}

static void
on_output_fd(void *arg, int fd, short revents)
{
	struct batch *bs = arg;

	(void)fd;
	(void)revents;
	if (bs->fatal == 0)
		(void)batch_output_flush(bs, &bs->out, false);
}

/* Arm tm ms from now, while want holds, unless it is armed already. */
static void
arm_within(struct batch *bs, struct timer *tm, bool want, int64_t now,
    long ms)
{
	if (want && !timer_is_armed(tm))
		loop_arm(bs->loop, tm, now + ms);
}

/* LOOP_INPUT: lines in, chunks out to the engine, halves of chunks
 * split since the last turn sent again. */
static void
take_input(void *arg, int64_t now)
{
	struct batch *bs = arg;

	batch_reader_parse_lines(bs, now);
	batch_reader_maybe_submit(bs, now);
	batch_chunks_resubmit(bs, now);
}

/* LOOP_OUTPUT: records out, progress, the stop, and what to wait for. */
static void
give_output(void *arg, int64_t now)
{
	struct batch *bs = arg;

	if (bs->stop_status != 0 && !bs->stopping)
		batch_stop_calls(bs);
	batch_output_emit_ready(bs);
	if (bs->fatal == 0)
		(void)batch_output_flush_all(bs, false);
	if (bs->fatal == 0)
		batch_output_checkpoint(bs, now, false);
	batch_progress_draw(bs, now, false);
	if (is_finished(bs)) {
		loop_stop(bs->loop);
		return;
	}
	/* Files and pipes: on the loop only while wanted, since a pipe
	 * whose writer left reports POLLHUP for ever. */
	if (loop_watch_while(bs->loop, bs->in_fd, batch_reader_wants_input(bs),
	    POLLIN, on_input_fd, bs) == -1 ||
	    loop_watch_while(bs->loop, bs->out.fd, buf_len(&bs->out.pending) >
	    0 && bs->fatal == 0, POLLOUT, on_output_fd, bs) == -1) {
		log_error("cannot watch the input or output: %s",
		    strerror(errno));
		batch_stop(bs, EXIT_SOFTWARE);
	}
	/* Work the next turn can do at once: do not sleep. */
	if (!STAILQ_EMPTY(&bs->resubmit) || (batch_reader_can_take_line(bs) &&
	    batch_reader_has_line(bs)) || (!bs->in_open &&
	    !batch_reader_is_drained(bs) && !bs->stopping &&
	    batch_reader_can_take_line(bs)))
		loop_wake(bs->loop);
	arm_within(bs, &bs->linger_timer, batch_reader_is_lingering(bs), now,
	    BATCH_LINGER_MS);
	arm_within(bs, &bs->progress_timer, bs->progress, now,
	    BATCH_PROGRESS_MS);
	arm_within(bs, &bs->checkpoint_timer, bs->out.dirty, now,
	    BATCH_CHECKPOINT_MS);
	arm_within(bs, &bs->wait_timer, bs->n_waiting > 0, now,
	    (long)(bs->wait_until_ms - now));
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
init_state(struct batch *bs, const struct config *cfg, struct loop *l,
    struct signals *sigs)
{
	*bs = (struct batch){ .cfg = cfg, .loop = l, .sigs = sigs };
	loop_timer_init(&bs->linger_timer, NULL, bs);
	loop_timer_init(&bs->progress_timer, NULL, bs);
	loop_timer_init(&bs->checkpoint_timer, NULL, bs);
	loop_timer_init(&bs->wait_timer, NULL, bs);
	bs->in_fd = bs->out.fd = bs->ids.fd = bs->errors.fd = -1;
	bs->journal.fd = bs->old_fd = -1;
	bs->out_flags = -1;
	bs->next_seq = bs->base = 1;
	bs->in_open = true;
	bs->started_ms = bs->synced_ms = clock_ms();
	STAILQ_INIT(&bs->resubmit);
	STAILQ_INIT(&bs->waiting);
	lines_init(&bs->in, cfg->max_line);
	lines_init(&bs->old, (size_t)1 << 30);
	buf_init(&bs->out.pending, SIZE_MAX / 2);
	buf_init(&bs->ids.pending, SIZE_MAX / 2);
	buf_init(&bs->errors.pending, SIZE_MAX / 2);
	buf_init(&bs->journal.pending, SIZE_MAX / 2);
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
	bs->out_name = cfg->batch_output;
	bs->errors_name = cfg->batch_errors;
	if (!cfg->merge &&
	    batch_shard_pick(cfg, &bs->shard_k, &bs->shard_n) != 0)
		return EXIT_USAGE;
	if (bs->shard_n > 0 && cfg->batch_output == NULL) {
		log_error("--shard needs an output file (-o OUT; the shard "
		    "writes OUT with K-of-N in its name)");
		return EXIT_USAGE;
	}
	if (bs->shard_n > 0) {
		bs->shard_names[0] = batch_shard_name(cfg->batch_output,
		    bs->shard_k, bs->shard_n);
		if (cfg->batch_errors != NULL)
			bs->shard_names[1] = batch_shard_name(
			    cfg->batch_errors, bs->shard_k, bs->shard_n);
		if (bs->shard_names[0] == NULL || (cfg->batch_errors != NULL &&
		    bs->shard_names[1] == NULL)) {
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		bs->out_name = bs->shard_names[0];
		if (cfg->batch_errors != NULL)
			bs->errors_name = bs->shard_names[1];
	}
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
	bs->engine = engine_new(cfg, bs->loop, bs->sigs, NULL,
	    batch_chunks_on_answer, bs);
	if (bs->items == NULL || bs->form == NULL || bs->engine == NULL ||
	    loop_add_hook(bs->loop, LOOP_INPUT, take_input, bs) == -1 ||
	    loop_add_hook(bs->loop, LOOP_OUTPUT, give_output, bs) == -1) {
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
init(struct batch *bs, const struct config *cfg, struct loop *l,
    struct signals *sigs)
{
	int status;

	init_state(bs, cfg, l, sigs);
	status = pick_formats(bs);
	if (status != 0)
		return status;
	if (cfg->merge)
		return batch_merge(cfg, bs->npy);
	status = batch_reader_open(bs);
	if (status != 0)
		return status;
	status = batch_resume_open(bs);
	if (status != 0)
		return status;
	status = batch_journal_open(bs);
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
	if (bs->shard_n > 0)
		log_info("shard %u of %u: input lines %" PRIu64 " to %" PRIu64
		    " into '%s'", bs->shard_k, bs->shard_n, bs->next_seq,
		    bs->next_seq + bs->total - 1, bs->out_name);
	sig_on_terminate(sigs, on_terminate, bs);
	batch_progress_hook_log(bs, true);
	return 0;
}

/* --- finish ------------------------------------------------------------ */

/* Finish: kill and reap what still runs, write what is done, summarize.
 * Returns the exit status of the run. */
static int
finish(struct batch *bs)
{
	struct engine_stats stats;
	bool interrupted, complete;

	stats = *engine_stats(bs->engine);
	batch_resume_check_end(bs);
	engine_free(bs->engine);
	bs->engine = NULL;
	batch_output_finish(bs);
	interrupted = (bs->stop_signo != 0 || bs->stop_status != 0) &&
	    !(bs->in_eof && bs->base == bs->next_seq);
	complete = bs->fatal == 0 && bs->in_eof && bs->base == bs->next_seq &&
	    !bs->skipping;
	batch_journal_close(bs, complete);
	batch_retry_finish(bs, complete);
	batch_progress_summarize(bs, &stats, interrupted);
	if (bs->fatal != 0)
		return bs->fatal;
	if (bs->stop_status != 0)
		return bs->stop_status;
	if (interrupted)
		return 128 + bs->stop_signo;
	if (bs->n_failed + bs->failed_before > 0)
		return EXIT_SOME_FAILED;
	return 0;
}

/* Release whatever init set up, however far it got, and bs itself. */
static void
release_all(struct batch *bs)
{
	uint64_t seq;

	batch_progress_hook_log(bs, false);
	sig_on_terminate(bs->sigs, NULL, NULL);
	loop_remove_hook(bs->loop, LOOP_INPUT, take_input, bs);
	loop_remove_hook(bs->loop, LOOP_OUTPUT, give_output, bs);
	loop_disarm(bs->loop, &bs->linger_timer);
	loop_disarm(bs->loop, &bs->progress_timer);
	loop_disarm(bs->loop, &bs->checkpoint_timer);
	loop_disarm(bs->loop, &bs->wait_timer);
	loop_unwatch(bs->loop, bs->in_fd);
	loop_unwatch(bs->loop, bs->out.fd);
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
	batch_journal_close(bs, false);
	if (bs->old_fd != -1)
		(void)close(bs->old_fd);
	lines_free(&bs->old);
	if (bs->in_fd != -1 && bs->in_fd != STDIN_FILENO)
		(void)close(bs->in_fd);
	lines_free(&bs->in);
	free(bs->items);
	free(bs->form);
	free(bs->want_id);
	free(bs->ids_path);
	free(bs->errors_path);
	free(bs->journal_path);
	free(bs->retry);
	free(bs->shard_names[0]);
	free(bs->shard_names[1]);
	free(bs->errors_tmp);
	free(bs->out_tmp);
	free(bs);
}

void *
batch_init(const struct config *cfg, struct loop *l, struct signals *sigs,
    int *status)
{
	struct batch *bs;

	bs = malloc(sizeof(*bs));
	if (bs == NULL) {
		log_error("cannot start: %s", strerror(errno));
		*status = EXIT_SOFTWARE;
		return NULL;
	}
	*status = init(bs, cfg, l, sigs);
	if (*status == 0 && !cfg->merge)
		return bs;
	release_all(bs);
	return NULL;
}

int
batch_finish(void *state, int loop_status)
{
	struct batch *bs = state;
	int status;

	if (loop_status == -1 && bs->fatal == 0)
		bs->fatal = EXIT_SOFTWARE;
	status = finish(bs);
	release_all(bs);
	return status;
}
