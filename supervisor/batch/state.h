/*
 * batch/state: struct batch, the state the batch modules share, and the
 * ring of items they fill. Private to supervisor/batch/: nothing outside
 * that folder includes this header; everyone else sees batch/batch.h.
 *
 * Every input line gets a sequence number, its line number, and a slot
 * in a ring of `window` items (the reorder buffer). Lines are grouped
 * into chunks (batch/chunks) of up to --batch-size texts and
 * --batch-bytes bytes; a chunk is one engine request whose owner is the
 * chunk. Answers arrive in completion order and fill their items;
 * batch/output writes the items at the front of the ring, in input
 * order, as long as they are done.
 *
 * Memory: the ring, the chunks in flight and at most HELD_MAX bytes
 * (batch/reader) of texts and finished vectors waiting for an earlier
 * input; input is read only while all three have room, so a slow head of
 * line stalls reading, never grows memory. `held` counts those bytes.
 *
 * Invariants: items in [base, next_seq) are live; an item is in at most
 * one chunk; a chunk is on the resubmit list, on the waiting list
 * (n_waiting: refused by the engine's gate, sent again at wait_until_ms)
 * or owned by the engine (live).
 */
#ifndef EMBEDWATCH_BATCH_STATE_H
#define EMBEDWATCH_BATCH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "buf.h"
#include "config/config.h"
#include "core/loop.h"
#include "core/signals.h"
#include "engine/engine.h"
#include "protocol/lines.h"

enum item_state {
	ITEM_EMPTY,		/* not read yet, or written */
	ITEM_WAIT,		/* read, not answered (or abandoned) */
	ITEM_OK,
	ITEM_FAILED,
	ITEM_BLANK		/* skipped by --empty skip: nothing written */
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
	uint64_t	 row;		/* --retry-failed, .npy: its row */
	off_t		 jpos;		/* ok: its record in the journal */
	size_t		 jlen;		/* ... 0: none */
};

/* A record of the journal read at resume: line, where, how long. */
struct journal_entry {
	uint64_t	 line;
	off_t		 off;
	size_t		 len;
};

struct chunk {
	STAILQ_ENTRY(chunk) entry;	/* on the resubmit or waiting list */
	int64_t		 sent_ms;	/* last handed to the engine */
	unsigned	 attempts;	/* used before a refusal (waiting) */
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
	struct timer		 linger_timer;	/* these only wake the loop */
	struct timer		 progress_timer;
	struct timer		 checkpoint_timer;
	struct timer		 wait_timer;
	bool			 jsonl_in;
	bool			 npy;

	const char		*out_name;	/* -o OUT, or its shard's name */
	const char		*errors_name;	/* --errors FILE, or its shard's */
	char			*shard_names[2]; /* ... malloc'd */
	unsigned		 shard_k, shard_n; /* 0: not sharded */
	off_t			 in_end;	/* sharded: read no further */

	const char		*in_path;
	int			 in_fd;
	bool			 in_regular;
	struct lines		 in;
	bool			 in_open;	/* still reading */
	bool			 in_eof;	/* read everything */
	uint64_t		 next_seq;	/* number of the next line */

	bool			 skipping;	/* resuming */
	uint64_t		 skip_to;	/* JSON lines: skip lines <= this */
	uint64_t		 skip_rows;	/* .npy: skip lines of this many rows */
	uint64_t		 rows_seen;	/* ... skipped so far */
	uint64_t		 want_seq;	/* JSON lines: the last record's line */
	char			*want_id;	/* the id the last record or row has */
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
	size_t			 max_live;	/* live + n_waiting, at most */
	struct chunk_list	 resubmit;
	struct chunk_list	 waiting;	/* refused: circuit open, or
						 * the rate limit */
	size_t			 n_waiting;
	int64_t			 wait_until_ms;	/* ... sent again then */
	int64_t			 refused_since_ms; /* circuit refusals with no
						 * success since; 0: none */

	struct out_file		 out, ids, errors, journal;
	char			*journal_path;
	struct journal_entry	*jidx;		/* sorted by line */
	size_t			 jidx_n, jidx_cap;
	size_t			 jidx_next;	/* first not reached */
	off_t			 journal_compact_at;
	int			 out_flags;	/* -1, or OUT's to restore */
	char			*ids_path;
	char			*errors_path;
	uint64_t		 dim;		/* .npy: 0 until known */
	bool			 header_written;
	uint64_t		 nan_pending;	/* NaN rows owed */
	int64_t			 synced_ms;

	bool			 stopping;
	int			 stop_signo;
	int			 fatal;		/* exit status or 0 */
	int			 stop_status;	/* EXIT_NOPERM: the endpoint
						 * refuses every call;
						 * EXIT_TEMPFAIL: it is down
						 * (--max-outage); or 0 */
	char			 stop_cause[256];

	bool			 progress;
	bool			 drawn;
	bool			 redraw;	/* drawn before a log line */
	char			 progress_line[320];
	size_t			 progress_len;
	int64_t			 drawn_ms;
	int64_t			 started_ms;
	uint64_t		 total;		/* lines; 0: unknown */
	uint64_t		 skipped;
	uint64_t		 n_blank;	/* blank lines skipped */
	uint64_t		 tokens;	/* usage.prompt_tokens, summed */
	uint64_t		 n_ok;
	uint64_t		 n_failed;
	uint64_t		 failed_before;	/* listed already */
	uint64_t		 calls;
	uint64_t		 splits;
	uint64_t		 rows_read;	/* lines read that have a row */

	bool			 retrying;	/* --retry-failed */
	uint64_t		*retry;		/* the lines listed, sorted */
	size_t			 n_retry, retry_next;
	uint64_t		 retry_rows;	/* .npy: rows in OUT */
	const char		*retry_errors;	/* the errors file replaced */
	char			*errors_tmp;	/* ... by this */
	char			*out_tmp;	/* JSON lines: the new OUT */
	int			 old_fd;	/* ... and the old one */
	struct lines		 old;
	bool			 old_have, old_eof;
	const char		*old_line;	/* the next old record */
	size_t			 old_len;
	uint64_t		 n_kept;	/* old records copied */

	uint64_t		 n_done;	/* inputs completed in this run */
	uint64_t		 n_restored;	/* ... taken from the journal */
	int64_t			 last_ok_ms;	/* last good answer; 0: none */
	int64_t			 last_hang_ms;	/* last timeout or crash; 0: none */
};

/* The ring's item for line seq; valid while the ring lives. */
struct item *batch_item(struct batch *bs, uint64_t seq);

/* Free the item's text (once sent or failed) and uncount it from held. */
void	 batch_drop_text(struct batch *bs, struct item *it);

/* Release everything the item holds; it is ITEM_EMPTY afterwards. */
void	 batch_reset_item(struct batch *bs, struct item *it);

/* The item failed for good: it is written as an error line. code is a
 * static string; message is copied (out of memory: written as such). */
void	 batch_fail_item(struct batch *bs, struct item *it, const char *code,
	    const char *message, int http_status, unsigned attempts);

/* Stop everything after a fatal error, whose exit status is status (the
 * first one wins): no more input, unsent lines forgotten, the engine
 * shut down at once. */
void	 batch_stop(struct batch *bs, int status);

/* Stop making calls (the endpoint refuses every one, stop_status): no
 * more input, the engine shut down at once; what is done is written and
 * checkpointed as after a signal, so --resume goes on. */
void	 batch_stop_calls(struct batch *bs);

#endif
