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
}

void
lines_free(struct lines *l)
{
	buf_free(&l->buf);
	l->discarding = false;
	l->eof = true;
	l->consume = 0;
}

/* Drop what lines_next handed out last. */
static void
settle(struct lines *l)
{
	if (l->consume > 0) {
		buf_consume(&l->buf, l->consume);
		l->consume = 0;
	}
}

/* While skipping an over-long line, drop everything up to its end. */
static void
skip(struct lines *l)
{
	const char *nl;

	if (!l->discarding)
		return;
	nl = memchr(buf_data(&l->buf), '\n', buf_len(&l->buf));
	if (nl == NULL) {
		buf_clear(&l->buf);
		return;
	}
	buf_consume(&l->buf, (size_t)(nl - buf_data(&l->buf)) + 1);
	l->discarding = false;
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
		if (l->discarding)
			buf_clear(&l->buf);
		return LINES_EOF;
	}
	if (errno == EAGAIN)
		return LINES_AGAIN;
	if (errno == ENOBUFS) {
		/* No newline within max_line bytes: the caller refuses the
		 * line (its head is still here); the rest is skipped. */
		l->discarding = true;
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
	if (l->discarding) {
		/* The head of a refused line was looked at: drop it. */
		skip(l);
		if (l->discarding)
			return false;
	}
	data = buf_data(&l->buf);
	n = buf_len(&l->buf);
	nl = memchr(data, '\n', n);
	if (nl != NULL) {
		*line = data;
		*len = (size_t)(nl - data);
		l->consume = *len + 1;
		return true;
	}
	if (l->eof && n > 0) {
		*line = data;
		*len = n;
		l->consume = n;
		return true;
	}
	return false;
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
}

bool
lines_done(const struct lines *l)
{
	return l->eof && buf_len(&l->buf) == l->consume;
}
