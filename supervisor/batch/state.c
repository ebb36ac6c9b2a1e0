/*
 * batch/state: see state.h. The items of the ring and the fatal stop,
 * used by every batch module.
 */
#include <stdlib.h>
#include <string.h>

#include "batch/chunks.h"
#include "batch/state.h"
#include "clock.h"
#include "engine/engine.h"

struct item *
batch_item(struct batch *bs, uint64_t seq)
{
	return &bs->items[seq % bs->window];
}

static void
result_unref(struct batch *bs, struct result *res)
{
	if (res == NULL || --res->refs > 0)
		return;
	bs->held -= res->size;
	free(res->text);
	free(res->values);
	free(res);
}

void
batch_drop_text(struct batch *bs, struct item *it)
{
	if (it->text_json == NULL)
		return;
	bs->held -= it->text_len;
	free(it->text_json);
	it->text_json = NULL;
	it->text_len = 0;
}

void
batch_reset_item(struct batch *bs, struct item *it)
{
	batch_drop_text(bs, it);
	result_unref(bs, it->res);
	free(it->id_json);
	free(it->message);
	memset(it, 0, sizeof(*it));
}

void
batch_fail_item(struct batch *bs, struct item *it, const char *code,
    const char *message, int http_status, unsigned attempts)
{
	batch_drop_text(bs, it);
	it->state = ITEM_FAILED;
	bs->n_done++;
	it->code = code;
	it->message = strdup(message != NULL ? message : "");
	it->http_status = http_status;
	it->attempts = attempts;
}

void
batch_stop_calls(struct batch *bs)
{
	bs->in_open = false;
	bs->stopping = true;
	batch_chunks_abandon(bs);
	if (bs->engine != NULL)
		engine_shutdown(bs->engine, clock_ms(), 0);
}

void
batch_stop(struct batch *bs, int status)
{
	if (bs->fatal == 0)
		bs->fatal = status;
	bs->in_open = false;
	bs->stopping = true;
	batch_chunks_abandon(bs);
	if (bs->engine != NULL)
		engine_shutdown(bs->engine, clock_ms(), 0);
}
