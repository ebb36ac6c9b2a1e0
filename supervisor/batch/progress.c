/*
 * batch/progress: see progress.h. Called by the loop (draw), by
 * batch/output before an error line goes to stderr (clear) and by
 * batch_run (count, summarize). Writes to stderr only, ignoring errors:
 * a lost progress line is not worth stopping for.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/file.h"
#include "batch/progress.h"
#include "batch/state.h"
#include "buf.h"
#include "clock.h"
#include "engine/engine.h"
#include "io.h"
#include "log.h"

void
batch_progress_count_total(struct batch *bs)
{
	struct stat st;
	uint64_t count;
	off_t end;

	if (!bs->progress || !bs->in_regular || bs->shard_n > 0 ||
	    fstat(bs->in_fd, &st) == -1 ||
	    batch_file_count_lines(bs->in_fd, UINT64_MAX, &count, &end) == -1)
		return;
	bs->total = count + (end < st.st_size);
}

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

/*
 * done counts every input whose result is in: written, waiting behind an
 * earlier input, or accounted for by the files before this run; the
 * rate and ETA count only what this run completed, so a resume does not
 * look faster than it is.
 */
void
batch_progress_draw(struct batch *bs, int64_t now, bool force)
{
	const struct engine_stats *st = engine_stats(bs->engine);
	uint64_t written = bs->base > 0 ? bs->base - 1 : 0, done;
	double sec, rate;
	char line[320], eta[32], of[64];
	int n;

	if (!bs->progress || (!force && now - bs->drawn_ms < BATCH_PROGRESS_MS))
		return;
	bs->drawn_ms = now;
	sec = (double)(now - bs->started_ms) / 1000;
	done = bs->skipped + bs->n_blank + bs->n_done + bs->n_restored;
	rate = sec > 0 ? (double)bs->n_done / sec : 0;
	of[0] = '\0';
	(void)snprintf(eta, sizeof(eta), "-");
	if (bs->total > 0) {
		if (rate > 0 && bs->total > done)
			format_duration(eta, sizeof(eta),
			    (double)(bs->total - done) / rate);
		(void)snprintf(of, sizeof(of), "/%" PRIu64 " (%d%%)",
		    bs->total, (int)(100 * (done < bs->total ? done :
		    bs->total) / bs->total));
	}
	n = snprintf(line, sizeof(line), "\r%" PRIu64 "%s done, %" PRIu64
	    " written, %.0f inputs/s, eta %s, %" PRIu64 " tokens, %" PRIu64
	    " failed, %" PRIu64 " killed\033[K", done, of, written, rate, eta,
	    bs->tokens, bs->n_failed + bs->failed_before,
	    st->workers_killed);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	memcpy(bs->progress_line, line, (size_t)n);
	bs->progress_len = (size_t)n;
	(void)io_write(STDERR_FILENO, line, (size_t)n);
	bs->drawn = true;
}

/* The log's hook: a log line on the terminal erases the progress line
 * first and draws it again after itself. */
static void
around_log_line(void *arg, bool before)
{
	struct batch *bs = arg;

	if (before) {
		bs->redraw = bs->drawn;
		batch_progress_clear(bs);
	} else if (bs->redraw && bs->progress_len > 0) {
		(void)io_write(STDERR_FILENO, bs->progress_line,
		    bs->progress_len);
		bs->drawn = true;
		bs->redraw = false;
	}
}

void
batch_progress_hook_log(struct batch *bs, bool on)
{
	if (bs->progress)
		log_set_around(on ? around_log_line : NULL, on ? bs : NULL);
}

void
batch_progress_clear(struct batch *bs)
{
	if (bs->drawn)
		(void)io_write(STDERR_FILENO, "\r\033[K", 4);
	bs->drawn = false;
}

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

void
batch_progress_summarize(struct batch *bs, const struct engine_stats *st,
    bool interrupted)
{
	uint64_t done = bs->n_ok + bs->n_failed;
	double sec = (double)(clock_ms() - bs->started_ms) / 1000;
	char where[PATH_MAX + 64], line[PATH_MAX + 512];
	struct buf cmd;
	int n;

	batch_progress_clear(bs);
	(void)snprintf(where, sizeof(where), "; %" PRIu64 " failed inputs "
	    "are listed in '%s'", bs->n_failed + bs->failed_before,
	    bs->errors.path);
	if (bs->cfg->resume && !interrupted && bs->in_eof && done == 0 &&
	    bs->n_restored == 0 && bs->fatal == 0) {
		n = snprintf(line, sizeof(line), "embedwatch: batch already "
		    "finished: the %" PRIu64 " input lines were done by an "
		    "earlier run, %" PRIu64 " of them failed%s%s\n",
		    bs->next_seq - 1, bs->failed_before,
		    bs->failed_before > 0 ? where : "",
		    bs->failed_before > 0 ? " (--retry-failed tries them "
		    "again)" : "");
		if (n > 0)
			(void)io_write_all(STDERR_FILENO, line, (size_t)n <
			    sizeof(line) ? (size_t)n : sizeof(line) - 1);
		return;
	}
	/* The summary is the run's result, not a log line: always shown. */
	n = snprintf(line, sizeof(line), "embedwatch: batch %s: %" PRIu64
	    " inputs written (%" PRIu64 " embedded, %" PRIu64 " failed), %"
	    PRIu64 " %s, %" PRIu64 " blank lines "
	    "skipped; %" PRIu64 " prompt tokens; %.1f s, %.0f inputs/s; %"
	    PRIu64 " calls, %" PRIu64 " splits, %" PRIu64 " retries, %" PRIu64
	    " workers killed%s\n",
	    interrupted ? "stopped" : "done", done, bs->n_ok, bs->n_failed,
	    bs->skipped, bs->retrying ? "kept as they were (--retry-failed)" :
	    "skipped as done before", bs->n_blank, bs->tokens, sec, sec > 0 ?
	    (double)done / sec : 0.0, bs->calls, bs->splits,
	    (uint64_t)st->retries, (uint64_t)st->workers_killed,
	    bs->n_failed + bs->failed_before > 0 ? where : "");
	if (n > 0)
		(void)io_write_all(STDERR_FILENO, line, (size_t)n <
		    sizeof(line) ? (size_t)n : sizeof(line) - 1);
	if (!interrupted)
		return;
	buf_init(&cmd, 1 << 20);
	if (bs->out_name != NULL && resume_command(&cmd) == 0)
		log_warn("stopped by %s before the input was done; to go on, "
		    "run: %s", bs->stop_signo != 0 ? strsignal(bs->stop_signo) :
		    bs->stop_cause, buf_data(&cmd));
	else
		log_warn("stopped by %s before the input was done; run again "
		    "with -o OUT and --resume to go on", bs->stop_signo != 0 ?
		    strsignal(bs->stop_signo) : bs->stop_cause);
	buf_free(&cmd);
}
