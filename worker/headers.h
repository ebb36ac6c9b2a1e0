/*
 * headers: what the response headers of one call tell the supervisor.
 *
 * libcurl hands every header line of every response of the transfer to
 * a callback, one line at a time; a status line ("HTTP/1.1 200 OK")
 * starts over, so that only the final response counts (not a 100
 * Continue before it). Today that is how long the server asks us to wait
 * before another attempt: Retry-After (delta-seconds or an HTTP date)
 * and retry-after-ms (OpenAI, Azure), which wins when both are given;
 * and the rate-limit budget: x-ratelimit-limit-requests,
 * -remaining-requests, -reset-requests and the three -tokens ones, the
 * resets in OpenAI's duration format ("6m0s", "1s", "20ms", "1h2m3.5s";
 * a bare number is seconds), handed on as fields of the result
 * (proto_result.h, headers_ratelimit). An exhausted quota is not a
 * header: the error body says so (embed_error_parse).
 */
#ifndef EMBEDWATCH_HEADERS_H
#define EMBEDWATCH_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "proto_result.h"

/* The longest wait honoured; longer asks are cut to this. */
#define HEADERS_RETRY_AFTER_MAX_MS	(24L * 3600 * 1000)

/* What the final response's headers said. Callers embed it; the fields
 * are private (use the getters). */
struct headers {
	long	 retry_after_ms;	/* Retry-After; -1: none */
	long	 retry_after_ms_hdr;	/* retry-after-ms; -1: none */
	bool	 complete;		/* the blank line that ends them came */
	long	 rl[6];			/* x-ratelimit-*, in the order of
					 * struct proto_result; -1: none */
};

/* Start with nothing seen. */
void	 headers_init(struct headers *h);

/*
 * Take in one header line of len bytes as libcurl delivers it (name,
 * colon, value, CRLF; not NUL-terminated). Other headers, and values
 * over 127 bytes, are ignored; a value that does not parse counts as
 * none given, since the last one of a header is the one that counts.
 */
void	 headers_feed(struct headers *h, const char *line, size_t len);

/* Milliseconds the server asked to wait before the next attempt, in
 * 0..HEADERS_RETRY_AFTER_MAX_MS, or -1 if it asked nothing. */
long	 headers_retry_after_ms(const struct headers *h);

/* Did the final response's header block end (with its blank line)? A
 * server that closes in the middle of the headers leaves it false, though
 * libcurl then reports success. */
bool	 headers_complete(const struct headers *h);
/* Copy the x-ratelimit-* figures into r's rl_* fields (-1 where the
 * response had none, or a value that did not parse). */
void	 headers_ratelimit(const struct headers *h, struct proto_result *r);

/* Parse an OpenAI duration ("6m0s", "20ms", "1.5s", "2") into *ms.
 * Returns 0, or -1 if s is not one. */
int	 headers_parse_duration(const char *s, long *ms);

/*
 * Have libcurl feed every header line of curl's transfer to h, which
 * must stay valid until the transfer ends. Returns CURLE_OK or the code
 * of the curl_easy_setopt that failed.
 */
CURLcode headers_setopt(CURL *curl, struct headers *h);

#endif
