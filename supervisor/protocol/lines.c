/*
 * lines: see lines.h. Cost: each byte is scanned for a newline once per
 * lines_next call that finds none, so a line arriving in k pieces costs
 * O(k * length); pieces are READ_CHUNK sized, so k is small.
 */
#include <errno.h>
#include <string.h>

#include "protocol/lines.h"

void
lines_init(struct lines *l, size_t max_line)
{
	buf_init(&l->buf, max_line + 1);
	l->discarding = false;
	l->eof = false;
	l->consume = 0;
	l->discard_from = 0;
}

void
lines_free(struct lines *l)
{
	buf_free(&l->buf);
	l->discarding = false;
	l->eof = true;
	l->consume = 0;
	l->discard_from = 0;
}

/* Drop what lines_next handed out last. */
static void
settle(struct lines *l)
{
	if (l->consume > 0) {
		buf_consume(&l->buf, l->consume);
		/* What is skipped lies after the whole lines. */
		l->discard_from -= l->consume < l->discard_from ? l->consume :
		    l->discard_from;
		l->consume = 0;
	}
}

#define KEEP_AFTER_SKIP	(64 * 1024)	/* room kept once a line is dropped */

/* While skipping a refused line (from discard_from on: complete lines
 * before it stay), drop everything up to its end. */
static void
skip(struct lines *l)
{
	char *data = buf_data(&l->buf);
	size_t len = buf_len(&l->buf), from = l->discard_from, rest;
	const char *nl;

	if (!l->discarding)
		return;
	nl = memchr(data + from, '\n', len - from);
	if (nl == NULL) {
		buf_truncate(&l->buf, from);
		buf_shrink(&l->buf, KEEP_AFTER_SKIP);
		return;
	}
	l->discarding = false;
	l->discard_from = 0;
	if (from == 0) {
		buf_consume(&l->buf, (size_t)(nl - data) + 1);
		return;
	}
	rest = len - (size_t)(nl + 1 - data);
	memmove(data + from, nl + 1, rest);
	buf_truncate(&l->buf, from + rest);
}

enum lines_status
lines_read(struct lines *l, int fd, size_t chunk)
{
	ssize_t n;

	settle(l);
	skip(l);	/* the head of a refused line has been looked at */
	n = buf_read_fd(&l->buf, fd, chunk);
	if (n > 0) {
		skip(l);
		return LINES_OK;
	}
	if (n == 0) {
		l->eof = true;
		if (l->discarding) {
			buf_truncate(&l->buf, l->discard_from);
			l->discarding = false;
			l->discard_from = 0;
		}
		return LINES_EOF;
	}
	if (errno == EAGAIN)
		return LINES_AGAIN;
	if (errno == ENOBUFS) {
		/* No newline within max_line bytes: the caller refuses the
		 * line (its head is still here); the rest is skipped. */
		l->discarding = true;
		l->discard_from = 0;
		return LINES_TOO_LONG;
	}
	return LINES_ERROR;
}

const char *
lines_head(const struct lines *l, size_t *len)
{
	*len = buf_len(&l->buf);
	return buf_data(&l->buf);
}

bool
lines_next(struct lines *l, const char **line, size_t *len)
{
	const char *data, *nl;
	size_t n;

	settle(l);
	/* The head of a refused line was looked at: drop it. */
	skip(l);
	data = buf_data(&l->buf);
	n = buf_len(&l->buf);
	/* Complete lines before a line being skipped still count. */
	nl = memchr(data, '\n', l->discarding ? l->discard_from : n);
	if (nl != NULL) {
		*line = data;
		*len = (size_t)(nl - data);
		l->consume = *len + 1;
		return true;
	}
	if (l->discarding)
		return false;
	if (l->eof && n > 0) {
		*line = data;
		*len = n;
		l->consume = n;
		return true;
	}
	return false;
}

/* Where the line still arriving starts, past what was handed out. */
static size_t
partial_start(const struct lines *l)
{
	const char *data = buf_data(&l->buf), *nl;
	size_t len = buf_len(&l->buf);

	nl = memrchr(data + l->consume, '\n', len - l->consume);
	return nl != NULL ? (size_t)(nl + 1 - data) : l->consume;
}

size_t
lines_partial(const struct lines *l)
{
	if (l->discarding || l->eof)
		return 0;
	return buf_len(&l->buf) - partial_start(l);
}

const char *
lines_refuse_partial(struct lines *l, size_t *len)
{
	size_t start;

	*len = lines_partial(l);
	if (*len == 0)
		return NULL;
	settle(l);
	start = partial_start(l);
	l->discarding = true;
	l->discard_from = start;
	return buf_data(&l->buf) + start;
}

void
lines_discard(struct lines *l)
{
	skip(l);
}

size_t
lines_held(const struct lines *l)
{
	return buf_len(&l->buf) - l->consume;
}

bool
lines_empty(const struct lines *l)
{
	return buf_len(&l->buf) == l->consume;
}

void
lines_unget(struct lines *l)
{
	l->consume = 0;
}

bool
lines_ready(const struct lines *l)
{
	return memchr(buf_data(&l->buf) + l->consume, '\n',
	    buf_len(&l->buf) - l->consume) != NULL;
}

void
lines_close(struct lines *l)
{
	l->consume = 0;
	buf_clear(&l->buf);
	l->eof = true;
	l->discarding = false;
	l->discard_from = 0;
}

bool
lines_done(const struct lines *l)
{
	return l->eof && buf_len(&l->buf) == l->consume;
}

bool
lines_blank(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}
