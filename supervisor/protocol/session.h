/*
 * session: one JSON-lines conversation over a pair of descriptors, the
 * protocol of protocol/jsonl: request lines in, answers out. Pipe mode
 * runs one over stdin and stdout; serve runs one per connection.
 *
 * A session registers its descriptors and two hooks with the loop: in
 * LOOP_INPUT it hands complete lines to the engine while there is room
 * (in the engine's queue and in its own fair line, engine/fairq), in
 * LOOP_OUTPUT it writes answers. Backpressure: it reads only when no
 * complete line is waiting, there is room, and fewer than 4 MiB of
 * answers are unwritten, so memory is bounded by the queue, one line
 * (--max-line) and the answers in flight, however fast lines arrive or
 * slowly answers are read.
 *
 * It ends in one of two ways. The input reaches EOF (stdin, or a socket
 * the peer half-closed): every request read is answered and written,
 * then the session is over. The output breaks, or a socket peer hangs
 * up: the session's requests are cancelled (queued ones dropped, running
 * workers SIGKILLed), answers not yet written and later ones are counted
 * as lost, and once none is live the session is over. Invariant: a
 * session lives until it is over (or the engine is freed), since the
 * engine holds its requests. Descriptors are not closed, except a
 * socket's (is_socket), which is closed as soon as it is no longer used.
 */
#ifndef EMBEDWATCH_SESSION_H
#define EMBEDWATCH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"
#include "engine/engine.h"

struct session;

struct session_params {
	int		 in_fd;		/* non-blocking */
	int		 out_fd;	/* non-blocking; may be in_fd */
	bool		 is_socket;	/* a hang-up ends it; closes in_fd */
	size_t		 max_waiting;	/* caps of its fair line; 0: none */
	size_t		 max_running;
	const char	*name;		/* for messages: "stdout", "client 7";
					 * must outlive the session */
	/* More members for the stats answer (JSON text), or NULL. */
	int		(*stats_extra)(void *arg, char *out, size_t len);
	void		*arg;
};

/* Returns a session over p's descriptors, or NULL with errno. cfg and
 * e must outlive it. */
struct session *session_new(struct loop *l, struct engine *e,
	    const struct config *cfg, const struct session_params *p);

/* Unregister and free; closes a socket still open. The session must be
 * over, or the engine already freed. NULL is a no-op. */
void	 session_free(struct session *s);

/* The engine's answer for a request of a session (req->owner): an
 * engine_answer_fn, so an engine whose requests all come from sessions
 * takes it as its callback (arg is not used). */
void	 session_answer(void *arg, struct request *req,
	    const struct answer *a);

/* Read no more: forget buffered lines (a drain, a stop). */
void	 session_stop_reading(struct session *s);

/* Write what the output takes now. Returns true when nothing is left. */
bool	 session_flush(struct session *s);

/* Nothing more to read, no request live, every answer written or
 * lost. */
bool	 session_is_over(const struct session *s);

/* Did the output break (so answers were lost)? */
bool	 session_output_lost(const struct session *s);

/*
 * Since when the session has been idle: nothing live, no answer
 * unwritten, no byte of input held; -1 while it is not. serve closes a
 * connection idle too long, or the longest idle one to make room.
 */
int64_t	 session_idle_since(const struct session *s);

/* Bytes of input held (O(1)), and of those the ones that are not yet a
 * whole line, the line the peer is still sending (O(bytes held)). */
size_t	 session_held_bytes(const struct session *s);
size_t	 session_partial_bytes(const struct session *s);

/*
 * Refuse the line the peer is still sending: answer it invalid_request
 * with why (and its id, if its first bytes hold one) and skip the rest
 * of it, as a line longer than --max-line is. No-op without one.
 */
void	 session_refuse_partial(struct session *s, const char *why);

/* Answers that could not be written, and how many are still unwritten. */
uint64_t session_n_lost(const struct session *s);
bool	 session_has_output(const struct session *s);

#endif
