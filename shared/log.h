/*
 * log: one line per event on stderr (or a log file), as text or JSON.
 *
 * Text:  2026-11-27T08:07:27.123Z embedwatch[4242] warn: message
 * JSON:  {"ts":"...","prog":"embedwatch","pid":4242,"level":"warn","msg":"message"}
 *
 * Under systemd, when $JOURNAL_STREAM names fd 2's device and inode, a
 * line starts with its sd-daemon(3) priority (<3> error, <4> warn, <6>
 * info, <7> debug) and carries no timestamp, which the journal adds:
 * "<4>warn: message", "<4>{"prog":...,"msg":"message"}".
 *
 * Each line is written with a single write(2), so lines from the
 * supervisor and its workers do not interleave. A line is valid UTF-8
 * (bytes that are not become U+FFFD) and a message longer than 4 KiB is
 * cut on a character boundary, ending "...". JSON lines are built by
 * jansson. Callers never pass the API key or a header value; nothing here
 * filters them.
 */
#ifndef EMBEDWATCH_LOG_H
#define EMBEDWATCH_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Set the program name, threshold and format; logging goes to fd 2.
 * Looks at $JOURNAL_STREAM (again after log_open_file). */
void	 log_init(const char *prog, enum log_level level, bool json);

/* Send the log (and anything else written to fd 2, such as workers'
 * diagnostics) to path, opened for appending; call again to reopen after
 * logrotate moved the file. Returns 0, or -1 with errno (fd 2 unchanged). */
int	 log_open_file(const char *path);

/* Parse "error", "warn", "info", "debug". Returns 0 or -1. */
int	 log_parse_level(const char *s, enum log_level *out);

/* Is a message at this level written? */
bool	 log_enabled(enum log_level level);

/* Call around(arg, true) before each line is written and around(arg,
 * false) after it (NULL: nothing), so that a status line drawn on the
 * terminal (batch progress) is erased first and drawn again. around
 * must not log. */
void	 log_set_around(void (*around)(void *arg, bool before), void *arg);

void	 log_msg(enum log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
