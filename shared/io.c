/*
 * io: see io.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "io.h"

ssize_t
io_read(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

ssize_t
io_write(int fd, const void *p, size_t n)
{
	ssize_t r;

	do
		r = write(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

int
io_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	while (n > 0) {
		r = io_write(fd, s, n);
		if (r == -1)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

int
io_writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t done;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		done = writev(fd, iov, n);
		if (done == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

char *
io_slurp(int fd, size_t max, size_t *lenp)
{
	size_t len = 0, alloc = 0;
	char *p = NULL, *np;
	ssize_t r;

	for (;;) {
		if (alloc - len < 2) {
			alloc = alloc == 0 ? 4096 : alloc * 2;
			np = realloc(p, alloc);
			if (np == NULL)
				goto fail;
			p = np;
		}
		r = io_read(fd, p + len, alloc - len - 1);
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	p[len] = '\0';
	*lenp = len;
	return p;
fail:
	free(p);
	return NULL;
}

int
io_set_nonblock(int fd, bool on)
{
	int flags, nflags;

	flags = fcntl(fd, F_GETFL);
	if (flags == -1)
		return -1;
	nflags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (nflags != flags && fcntl(fd, F_SETFL, nflags) == -1)
		return -1;
	return flags;
}
