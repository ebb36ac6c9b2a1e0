/*
 * proto_progress: how far one call got, as the worker tells it in 'P'
 * frames (proto_frame.h) and the supervisor quotes it when it had to
 * kill the worker: "connected to 10.1.2.3:443 and sent the request at
 * 41 ms, no first byte".
 *
 * The snapshot has a fixed size on the wire, PROTO_PROGRESS_LEN bytes of
 * little-endian integers and a NUL-padded address, so decoding needs no
 * parser and cannot fail on anything but the length.
 */
#ifndef EMBEDWATCH_PROTO_PROGRESS_H
#define EMBEDWATCH_PROTO_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the worker started; -1: milestone not reached. */
struct proto_progress {
	int32_t	 resolved_ms;
	int32_t	 connected_ms;
	int32_t	 tls_ms;	/* stays -1 over plain http */
	int32_t	 sent_ms;	/* the whole request was written */
	int32_t	 first_byte_ms;
	uint64_t body_bytes;
	char	 addr[64];	/* "10.1.2.3:443", "[::1]:8080" or "" */
};

#define PROTO_PROGRESS_LEN	(5 * 4 + 8 + 64)

/* Set p to "nothing reached yet": every milestone -1, no bytes, no addr. */
void	 proto_progress_init(struct proto_progress *p);

/* Write p into out as the payload of a 'P' frame. */
void	 proto_progress_encode(const struct proto_progress *p,
	    unsigned char out[PROTO_PROGRESS_LEN]);

/* Read a 'P' payload of len bytes into p. Returns 0, or -1 (p untouched)
 * if len is not PROTO_PROGRESS_LEN. addr comes back NUL-terminated. */
int	 proto_progress_decode(const unsigned char *in, size_t len,
	    struct proto_progress *p);

/*
 * Describe where the call stands, for messages about a killed or timed
 * out attempt: "connected to 10.1.2.3:443 and sent the request at 41 ms,
 * no first byte". host names what was being resolved; tls says whether a
 * handshake was due. Always NUL-terminates out; long text is truncated.
 */
void	 proto_progress_describe(const struct proto_progress *p,
	    const char *host, bool tls, char *out, size_t outlen);

#endif
