/*
 * openai: OpenAI's embeddings API as embedwatch serves it over HTTP,
 * written once: a POST /v1/embeddings body in, a struct request out; an
 * answer in, OpenAI's response or error body out. No HTTP and no I/O:
 * serve/http does the transport, this module only the translation, so
 * it is unit-tested byte for byte.
 *
 * Vectors stay exact: an ok answer carries the worker's body fragment
 * (worker/embed.h: every value the shortest decimal that reads back as
 * the very float32 the API sent), copied as is for encoding_format
 * "float" and read back with f32_parse into little-endian float32, then
 * base64, for "base64" (what the official SDKs ask for by default).
 */
#ifndef EMBEDWATCH_OPENAI_H
#define EMBEDWATCH_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "engine/request.h"

/* What an error answer looks like on the wire. */
struct openai_error {
	int		 status;	/* HTTP status */
	const char	*type;		/* OpenAI's "type" */
	const char	*code;		/* our name, OpenAI's "code" */
	long		 retry_after_s;	/* Retry-After; 0: none */
};

/*
 * Parse a request body of len bytes: "input" (a string or an array of
 * strings; token-id arrays are refused), "model", "encoding_format"
 * ("float", the default, or "base64") and "dimensions"; every other
 * member not null ("user", checked to be a string, and whatever an SDK's
 * extra_body adds) is sent upstream as it is, in req->extra_json.
 * Returns a REQ_OP_EMBED request without id, owner
 * or line (the caller's to set; release with request_free) and *base64;
 * or NULL with a message in err and *param naming the member at fault
 * (static, or NULL for the body as a whole).
 */
struct request *openai_parse_request(const char *body, size_t len,
	    bool *base64, const char **param, char *err, size_t errlen);

/*
 * Append the response body for an ok answer a:
 *	{"object":"list","data":[{"object":"embedding","index":0,
 *	 "embedding":[...] or "base64"}],"model":...,"usage":{...}}
 * Returns 0, or -1 with errno (EINVAL if a's body fragment is not the
 * worker's shape, ENOMEM, ENOBUFS); out is then as it was.
 */
int	 openai_format_embeddings(struct buf *out, const struct answer *a,
	    bool base64);

/* The status, type and code an error answer a is sent with. */
void	 openai_error_of(const struct answer *a, struct openai_error *oe);

/*
 * Append an error body {"error":{"message":..,"type":..,"param":..,
 * "code":..}}; param and code may be NULL (null). Returns 0, or -1 with
 * errno; out is then as it was.
 */
int	 openai_format_error(struct buf *out, const char *message,
	    const char *type, const char *param, const char *code);

#endif
