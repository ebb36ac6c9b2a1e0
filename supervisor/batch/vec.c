/*
 * batch/vec: see vec.h.
 *
 * Cost: batch_vec_split is one pass of memchr-like scanning over the
 * body; batch_vec_parse is f32_parse's cost per value (a few nanoseconds,
 * see shared/f32.h) plus a comma and some white space.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "batch/vec.h"
#include "f32.h"

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
batch_vec_split(const char *body, size_t len, size_t n,
    struct batch_vec_span *spans, char *err, size_t errlen)
{
	static const char key[] = "\"embeddings\":[";
	const char *p, *end = body + len, *close;
	size_t i;

	if (len < sizeof(key) - 1 || memcmp(body, key, sizeof(key) - 1) != 0) {
		(void)snprintf(err, errlen, "answer does not start with "
		    "\"embeddings\"");
		return -1;
	}
	p = body + sizeof(key) - 1;
	for (i = 0; i < n; i++) {
		if (i > 0) {
			if (p >= end || *p != ',') {
				(void)snprintf(err, errlen, "answer has %zu "
				    "embeddings for %zu inputs", i, n);
				return -1;
			}
			p++;
		}
		if (p >= end || *p != '[') {
			(void)snprintf(err, errlen, "answer has %zu embeddings "
			    "for %zu inputs", i, n);
			return -1;
		}
		close = memchr(p, ']', (size_t)(end - p));
		if (close == NULL || memchr(p + 1, '[',
		    (size_t)(close - p - 1)) != NULL) {
			(void)snprintf(err, errlen, "embedding %zu is not an "
			    "array of numbers", i);
			return -1;
		}
		spans[i].off = (size_t)(p - body);
		spans[i].len = (size_t)(close - p) + 1;
		p = close + 1;
	}
	if (p >= end || *p != ']') {
		(void)snprintf(err, errlen, "answer has more than %zu "
		    "embeddings", n);
		return -1;
	}
	return 0;
}

size_t
batch_vec_count(const char *text, size_t len)
{
	size_t i, commas = 0;
	bool any = false;

	for (i = 0; i < len; i++) {
		if (text[i] == ',')
			commas++;
		else if (text[i] != '[' && text[i] != ']' && !is_space(text[i]))
			any = true;
	}
	return any ? commas + 1 : 0;
}

ssize_t
batch_vec_parse(const char *text, size_t len, float *out, size_t max,
    char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	size_t n = 0;
	ssize_t used;

	while (p < end && is_space(*p))
		p++;
	if (p >= end || *p != '[') {
		(void)snprintf(err, errlen, "embedding is not an array");
		return -1;
	}
	for (p++; p < end && is_space(*p); p++)
		continue;
	if (p < end && *p == ']')
		return 0;
	for (;;) {
		if (n == max) {
			(void)snprintf(err, errlen, "embedding has more than "
			    "%zu values", max);
			return -1;
		}
		used = f32_parse(p, end, &out[n]);
		if (used == -1) {
			(void)snprintf(err, errlen, "embedding value %zu is "
			    "not a finite float32 number", n);
			return -1;
		}
		n++;
		for (p += used; p < end && is_space(*p); p++)
			continue;
		if (p < end && *p == ']')
			return (ssize_t)n;
		if (p >= end || *p != ',') {
			(void)snprintf(err, errlen, "embedding is not an array "
			    "of numbers");
			return -1;
		}
		for (p++; p < end && is_space(*p); p++)
			continue;
	}
}
