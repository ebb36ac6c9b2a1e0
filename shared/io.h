/*
 * io: the one place that handles EINTR and short transfers.
 *
 * io_read and io_write make one system call, retried only on EINTR, and
 * return what it returned: a count, 0 at EOF (read), or -1 with errno,
 * where EAGAIN means "not now". io_write_all loops until everything is
 * written or a real error occurs, and io_writev_all likewise for a
 * gather list; use them only on descriptors where blocking is acceptable
 * (the worker's own stdout).
 */
#ifndef EMBEDWATCH_IO_H
#define EMBEDWATCH_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

ssize_t	 io_read(int fd, void *p, size_t n);
ssize_t	 io_write(int fd, const void *p, size_t n);

/* Write all n bytes. Returns 0, or -1 with errno (EPIPE, ...). */
int	 io_write_all(int fd, const void *p, size_t n);

/* Write every byte of the n buffers of iov, in one writev when the
 * descriptor takes it. iov is advanced past what was written (the caller's
 * copy is changed). Returns 0, or -1 with errno. */
int	 io_writev_all(int fd, struct iovec *iov, int n);

/* Read until EOF into a malloc'd NUL-terminated string of at most max
 * bytes. Returns it with *lenp set, or NULL with errno (EFBIG past max). */
char	*io_slurp(int fd, size_t max, size_t *lenp);

/* Set or clear O_NONBLOCK. Returns the previous flags, or -1 with errno. */
int	 io_set_nonblock(int fd, bool on);

#endif
