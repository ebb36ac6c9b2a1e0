/*
 * proto_frame: see proto_frame.h. Writing is one blocking writev of the
 * header and the payload, so the reader wakes once a frame; peeking
 * never consumes, so a caller can wait for more bytes and look again.
 */
#include <errno.h>
#include <stdint.h>

#include "io.h"
#include "le32.h"
#include "proto_frame.h"

int
proto_frame_write(int fd, char type, const void *p, size_t len)
{
	unsigned char hdr[PROTO_FRAME_HDR];
	struct iovec iov[2];

	if (len > PROTO_FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr[0] = (unsigned char)type;
	le32_put(hdr + 1, (uint32_t)len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)p;
	iov[1].iov_len = len;
	return io_writev_all(fd, iov, 2);
}

int
proto_frame_peek(const struct buf *b, size_t max, char *type,
    const char **payload, size_t *len)
{
	const unsigned char *p = (const unsigned char *)buf_data(b);
	size_t n = buf_len(b);
	uint32_t flen;

	if (n < PROTO_FRAME_HDR)
		return 0;
	if (p[0] != PROTO_FRAME_PROGRESS && p[0] != PROTO_FRAME_BODY &&
	    p[0] != PROTO_FRAME_RESULT && p[0] != PROTO_FRAME_WARM &&
	    p[0] != PROTO_FRAME_LEAVE && p[0] != PROTO_FRAME_SESSION)
		return -1;
	flen = le32_get(p + 1);
	if (flen > max)
		return -1;
	if (n - PROTO_FRAME_HDR < flen)
		return 0;
	*type = (char)p[0];
	*payload = (const char *)p + PROTO_FRAME_HDR;
	*len = flen;
	return 1;
}
