/*
 * batch/chunks: the engine requests of a batch, private to batch/. Lines
 * read are gathered into the chunk being formed (bs->form) until it
 * holds --batch-size texts or would pass --batch-bytes; a formed chunk
 * is one engine request ("lines 5-8") whose owner is the chunk, and its
 * answer fills the chunk's items.
 *
 * Split policy: a chunk of more than one input that fails for good in a
 * way one text can cause (http 400, 413, 422, a bad response, an invalid
 * job) is split in two halves that are sent again, down to the single
 * culprit; other failures (timeouts, network, 429, 5xx after their
 * retries, 401) fail every input of the chunk with that error. While
 * stopping, what is not done is left out of the files, for a resume.
 */
#ifndef EMBEDWATCH_BATCH_CHUNKS_H
#define EMBEDWATCH_BATCH_CHUNKS_H

#include <stdint.h>

#include "batch/state.h"
#include "engine/request.h"

/* Put line seq (read, ITEM_WAIT, its text counted in held) in the chunk
 * being formed, sending the chunk first if the text would not fit and
 * afterwards if it is full. */
void	 batch_chunks_add(struct batch *bs, uint64_t seq, int64_t now);

/* Send the chunk being formed, if any. A chunk that cannot be built
 * fails its inputs ("invalid_request"); the form is empty afterwards. */
void	 batch_chunks_submit_form(struct batch *bs, int64_t now);

/* Send the halves on the resubmit list (dropped while stopping). */
void	 batch_chunks_resubmit(struct batch *bs, int64_t now);

/* Forget the lines not sent yet (the form and the resubmit list): they
 * stay unwritten, for a resume. Chunks in the engine are not touched. */
void	 batch_chunks_abandon(struct batch *bs);

/* The engine's answer callback; arg is the struct batch. Fills, fails
 * or splits the chunk that owns req, then frees the chunk. */
void	 batch_chunks_on_answer(void *arg, struct request *req,
	    const struct answer *a);

#endif
