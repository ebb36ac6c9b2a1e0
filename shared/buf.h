/*
 * buf: a growable byte buffer with a hard cap.
 *
 * Everything embedwatch reads from a client, a file or a worker lands in a
 * buf, and a buf refuses to grow past the cap given at buf_init: appends
 * that would exceed it fail with ENOBUFS and leave the buffer unchanged.
 * The live bytes are data[off .. len); consuming from the front is O(1)
 * amortised (the buffer compacts itself when the dead prefix dominates).
 * The bytes are always followed by a NUL that is not counted, so a
 * complete buffer can be handed to string functions.
 */
#ifndef EMBEDWATCH_BUF_H
#define EMBEDWATCH_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

struct buf {
	char	*data;		/* private */
	size_t	 off;		/* private: start of live bytes */
	size_t	 len;		/* private: end of live bytes */
	size_t	 alloc;		/* private */
	size_t	 max;		/* private: cap on live bytes */
};

/* Start an empty buffer that will never hold more than max bytes. */
void	 buf_init(struct buf *b, size_t max);

/* Give back what the buffer allocated beyond its live bytes and keep
 * bytes of room (fewer if that is past the cap), if it holds more than
 * four times that: a buffer that grows back soon is left alone rather
 * than reallocated every time. The live bytes stay. Nothing changes if
 * the system cannot shrink the block. */
void	 buf_shrink(struct buf *b, size_t keep);

/* Release the memory; the buffer is empty and reusable afterwards. */
void	 buf_free(struct buf *b);

/* Live bytes and their count; the pointer is valid until the next call
 * that changes the buffer. */
char	*buf_data(const struct buf *b);
size_t	 buf_len(const struct buf *b);

/* Append n bytes. Returns 0, or -1 with errno ENOBUFS (cap) or ENOMEM. */
int	 buf_append(struct buf *b, const void *p, size_t n);

/* Append formatted text; same returns as buf_append. */
int	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Make room for at least n more bytes and return where they go, or NULL
 * with errno ENOBUFS or ENOMEM. Call buf_commit with the count written. */
char	*buf_reserve(struct buf *b, size_t n);
void	 buf_commit(struct buf *b, size_t n);

/* Drop n bytes from the front (n <= buf_len). */
void	 buf_consume(struct buf *b, size_t n);

/* Keep only the first n live bytes (n <= buf_len). */
void	 buf_truncate(struct buf *b, size_t n);

/* Empty the buffer, keeping its memory. */
void	 buf_clear(struct buf *b);

/* Take the live bytes as a malloc'd NUL-terminated string of *lenp bytes;
 * the buffer is left empty. Returns NULL with ENOMEM. */
char	*buf_steal(struct buf *b, size_t *lenp);

/* One read(2) of up to want bytes from fd, appended. Returns the count,
 * 0 at EOF, -1 with errno (EAGAIN, ENOBUFS when the cap is reached, ...).
 * EINTR is retried. */
ssize_t	 buf_read_fd(struct buf *b, int fd, size_t want);

/* One write(2) of as much as fits from the front, consumed on success.
 * Returns the count or -1 with errno (EAGAIN, EPIPE, ...). */
ssize_t	 buf_write_fd(struct buf *b, int fd);

#endif
