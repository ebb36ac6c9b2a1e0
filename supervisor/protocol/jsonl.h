/*
 * jsonl: the JSON-lines protocol, written once: request lines in, answer
 * lines out, for pipe mode, serve connections and the Python client.
 *
 * A request line is one JSON object: {"id": "q1" or 7, "input": "text" or
 * ["a", "b"], optional "model", "dimensions", "timeout", "deadline" (in
 * seconds)}. jsonl_parse_request validates it completely, so a request
 * that reaches the engine can always be sent. Two control lines share the
 * format: {"op":"cancel","id":X} (answered through request X, which ends
 * with code cancelled) and {"op":"stats"} (answered with counters).
 * An answer is one line:
 *   {"id":..,"ok":true,"embeddings":[[..]],"model":..,"usage":{..},
 *    "attempts":1,"ms":41}
 *   {"id":..,"ok":false,"error":{"code":..,"message":..,"retryable":..},
 *    "attempts":4,"ms":30012}
 * Ids are echoed exactly as they were sent (the raw JSON text).
 */
#ifndef EMBEDWATCH_JSONL_H
#define EMBEDWATCH_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "engine/request.h"
#include "engine/stats.h"

/*
 * Parse one request line (without its newline). Returns a request to
 * release with request_free, or NULL with a message in err; then
 * *id_json is the id as JSON text if it could be read (malloc'd, caller
 * frees), else NULL.
 */
struct request *jsonl_parse_request(const char *line, size_t len,
	    char **id_json, char *err, size_t errlen);

/*
 * The id of a line too long to parse, read from its first len bytes when
 * "id" comes early enough: the id as JSON text (malloc'd), or NULL.
 */
char	*jsonl_peek_id(const char *head, size_t len);

/* Append one answer line for the id (JSON text; NULL means null) to out.
 * Returns 0 or -1 with errno. */
int	 jsonl_format_answer(struct buf *out, const char *id_json,
	    const struct answer *a);

/* Append the answer line for a {"op":"stats"} request; extra, if not
 * NULL, is more JSON members for the "stats" object (the mode's own
 * counters). Returns 0 or -1 with errno. */
int	 jsonl_format_stats(struct buf *out, const char *id_json,
	    const struct engine_stats *st, const char *extra, int64_t now);

#endif
