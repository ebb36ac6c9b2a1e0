/*
 * buf: see buf.h. Growth doubles up to the cap; the dead prefix left by
 * buf_consume is reclaimed by a memmove only when it is larger than the
 * live part, so consuming a buffer piecewise costs O(n) overall.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->off = 0;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void
buf_shrink(struct buf *b, size_t keep)
{
	size_t live = b->len - b->off, size;
	char *p;

	if (b->data == NULL)
		return;
	if (keep > b->max - live)
		keep = b->max - live;
	size = live + keep + 1;
	if (size > b->alloc / 4)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, live);
		b->off = 0;
		b->len = live;
		b->data[live] = '\0';
	}
	p = realloc(b->data, size);
	if (p == NULL)
		return;
	b->data = p;
	b->alloc = size;
}

char *
buf_data(const struct buf *b)
{
	if (b->data == NULL)
		return (char *)"";
	return b->data + b->off;
}

size_t
buf_len(const struct buf *b)
{
	return b->len - b->off;
}

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t live, need, size;
	char *p;

	live = b->len - b->off;
	if (n > b->max || live > b->max - n) {
		errno = ENOBUFS;
		return NULL;
	}
	if (live + n == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	need = live + n + 1;
	if (b->off > 0 && (b->len + n + 1 > b->alloc || b->off > live)) {
		memmove(b->data, b->data + b->off, live);
		b->off = 0;
		b->len = live;
		b->data[live] = '\0';
	}
	if (need > b->alloc) {
		size = b->alloc < 64 ? 64 : b->alloc;
		while (size < need)
			size = size > SIZE_MAX / 2 ? need : size * 2;
		/* The cap plus the NUL, without wrapping at SIZE_MAX. */
		if (size - 1 > b->max)
			size = b->max + 1;
		p = realloc(b->data, size);
		if (p == NULL)
			return NULL;
		b->data = p;
		b->alloc = size;
	}
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	char *dst;

	if (n == 0)
		return 0;
	dst = buf_reserve(b, n);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	char *dst;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	dst = buf_reserve(b, (size_t)n);
	if (dst == NULL)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = 0;
		b->len = 0;
		if (b->data != NULL)
			b->data[0] = '\0';
	}
}

void
buf_truncate(struct buf *b, size_t n)
{
	if (n >= buf_len(b))
		return;
	b->len = b->off + n;
	b->data[b->len] = '\0';
}

void
buf_clear(struct buf *b)
{
	buf_consume(b, buf_len(b));
}

char *
buf_steal(struct buf *b, size_t *lenp)
{
	size_t live;
	char *p;

	live = buf_len(b);
	if (b->data == NULL || b->off > 0) {
		p = malloc(live + 1);
		if (p == NULL)
			return NULL;
		memcpy(p, buf_data(b), live);
		p[live] = '\0';
		buf_clear(b);
	} else {
		p = b->data;
		buf_init(b, b->max);
	}
	*lenp = live;
	return p;
}

ssize_t
buf_read_fd(struct buf *b, int fd, size_t want)
{
	size_t room;
	char *dst;
	ssize_t n;

	room = b->max - buf_len(b);
	if (room == 0) {
		errno = ENOBUFS;
		return -1;
	}
	if (want > room)
		want = room;
	dst = buf_reserve(b, want);
	if (dst == NULL)
		return -1;
	n = io_read(fd, dst, want);
	if (n > 0)
		buf_commit(b, (size_t)n);
	return n;
}

ssize_t
buf_write_fd(struct buf *b, int fd)
{
	ssize_t n;

	n = io_write(fd, buf_data(b), buf_len(b));
	if (n > 0)
		buf_consume(b, (size_t)n);
	return n;
}
