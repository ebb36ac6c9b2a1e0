/*
 * batch: the `embedwatch batch` mode. Embeds a whole corpus, in input
 * order, into a JSON-lines or .npy file; resumable; failed inputs listed
 * in an errors file.
 *
 * Input (a path, or "-" for stdin), one input a line: text (the line is
 * the text, its id its 1-based line number) or JSON lines ({"id": string
 * or number, "text": "..."}; by --input-format, else by a .jsonl or
 * .ndjson name). An empty or malformed line, a text that is not UTF-8 or
 * over --max-line is a failed input (code "invalid_input", id null when
 * it cannot be read), not a fatal error.
 *
 * Output: JSON lines {"id":..,"embedding":[..]} for the successes, to OUT
 * or stdout; or with --format npy (or an OUT ending in .npy) a float32
 * [N, D] .npy with one row per input line (NaN for failures) and OUT.ids
 * beside it, one JSON id a line. Failed inputs go to --errors FILE, else
 * OUT.errors, else (output on stdout) stderr, one line each:
 *	{"id":..,"line":N,"code":"http","status":400,"message":"..",
 *	 "attempts":1}
 * Everything is written in input order and at most once; --resume (with
 * -o) picks up where a run stopped or was killed.
 */
#ifndef EMBEDWATCH_BATCH_H
#define EMBEDWATCH_BATCH_H

#include "config/config.h"
#include "core/loop.h"
#include "core/signals.h"

/* Open the files of the batch described by cfg and register the mode
 * with l and sigs. Returns its state (opaque), or NULL after a message
 * with the exit status in *status (as batch_finish's). */
void	*batch_init(const struct config *cfg, struct loop *l,
	    struct signals *sigs, int *status);

/*
 * After the loop: kill and reap what still runs, write and sync what is
 * done, print the summary; free the state. Returns the exit status: 0
 * every input embedded; 3 some failed (all listed in the errors file);
 * 64 usage (.npy or --resume without -o, OUT is the input); 66 input
 * missing or unreadable; 73 output not writable; 78 --resume on an OUT
 * that does not match the input or the options; 70 internal error; 128 +
 * the signal number after SIGINT or SIGTERM stopped it before the input
 * was done (the message shows the command that resumes).
 */
int	 batch_finish(void *state, int loop_status);

#endif
