/*
 * lines: a bounded reader of newline-terminated lines, for the modes that
 * read the pipe protocol (pipe on stdin, serve on each connection).
 *
 * At most max_line bytes are ever held for one line. A line that grows
 * past it is reported once (LINES_TOO_LONG, with its first bytes still
 * readable for an id) and the rest of it, however long, is skipped. After
 * EOF, a last line without a newline is still a line.
 */
#ifndef EMBEDWATCH_LINES_H
#define EMBEDWATCH_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct lines {
	struct buf	 buf;		/* private */
	bool		 discarding;	/* private: inside an over-long line */
	bool		 eof;		/* private */
	size_t		 consume;	/* private: length of the line handed out */
	size_t		 discard_from;	/* private: the skipped line's start */
};

enum lines_status {
	LINES_OK,		/* read something (maybe not a whole line) */
	LINES_AGAIN,		/* nothing to read now */
	LINES_EOF,		/* the peer is done sending */
	LINES_TOO_LONG,		/* a line passed max_line: see lines_head */
	LINES_ERROR		/* errno says why */
};

void	 lines_init(struct lines *l, size_t max_line);

/* Release the memory; the reader is then closed and empty. */
void	 lines_free(struct lines *l);

/* One read(2) of up to chunk bytes from fd. */
enum lines_status lines_read(struct lines *l, int fd, size_t chunk);

/* After LINES_TOO_LONG: the first bytes of the refused line (valid until
 * the next call), for request_peek_id. */
const char *lines_head(const struct lines *l, size_t *len);

/* The next complete line, without its newline, valid until the next
 * call; false when there is none yet. */
bool	 lines_next(struct lines *l, const char **line, size_t *len);

/* Give back the line lines_next handed out last: the next lines_next
 * hands it out again (a caller that cannot take it now). */
void	 lines_unget(struct lines *l);

/* Bytes held of the line still arriving (after the last newline). Cost:
 * a backward scan of what is held, up to its last newline. */
size_t	 lines_partial(const struct lines *l);

/*
 * Refuse the line still arriving, as if it were too long: its first bytes
 * are returned (*len of them; NULL and 0 if there is none), valid until
 * the next call, for request_peek_id; lines_discard then drops them, and
 * the rest of that line is skipped as it comes. Complete lines before it
 * are kept.
 */
const char *lines_refuse_partial(struct lines *l, size_t *len);

/* Drop now what is being skipped, and the memory it held. */
void	 lines_discard(struct lines *l);

/* Nothing held: no line, whole or partial. */
bool	 lines_empty(const struct lines *l);

/* Bytes held, whole lines and partial. O(1). */
size_t	 lines_held(const struct lines *l);

/* Is a complete line waiting? (Then there is no need to read.) */
bool	 lines_ready(const struct lines *l);

/* Forget everything buffered and read no more (shutdown). */
void	 lines_close(struct lines *l);

/* Nothing buffered and nothing more to come. */
bool	 lines_done(const struct lines *l);

/* Is this line blank: empty, or spaces, tabs and a CR only? */
bool	 lines_blank(const char *line, size_t len);

#endif
