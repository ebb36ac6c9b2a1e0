/*
 * test_proto_frame: shared/proto_frame.h, the worker's frames. Peeking
 * finds nothing in an empty or partial header or payload, finds a
 * complete frame followed by the start of the next one, takes an empty
 * payload, accepts exactly the max and refuses max plus one and unknown
 * types; frames written to a pipe read back in small pieces; a payload
 * over PROTO_FRAME_MAX is refused with EMSGSIZE.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "proto_frame.h"
#include "proto_progress.h"

#define CAP	(1 << 20)

static void
test_frame_peek(void **state)
{
	struct buf b;
	const char *payload;
	char type;
	size_t len;

	(void)state;
	buf_init(&b, CAP);
	/* Empty, and a header that is not all there yet. */
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "R\x05\x00", 3), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "\x00\x00", 2), 0);
	/* Header complete, payload partial. */
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	assert_int_equal(buf_append(&b, "hell", 4), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	/* Complete, followed by the start of the next frame. */
	assert_int_equal(buf_append(&b, "oB\x00\x00", 4), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'R');
	assert_int_equal(len, 5);
	assert_memory_equal(payload, "hello", 5);
	buf_consume(&b, PROTO_FRAME_HDR + len);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 0);
	/* A frame with an empty payload. */
	assert_int_equal(buf_append(&b, "\x00\x00", 2), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'B');
	assert_int_equal(len, 0);
	buf_consume(&b, PROTO_FRAME_HDR);
	assert_int_equal(buf_len(&b), 0);

	/* Exactly the max is fine (incomplete); max plus one is not. */
	assert_int_equal(buf_append(&b, "P\x10\x00\x00\x00", 5), 0);
	assert_int_equal(proto_frame_peek(&b, 16, &type, &payload, &len), 0);
	assert_int_equal(proto_frame_peek(&b, 15, &type, &payload, &len), -1);
	buf_clear(&b);
	/* An unknown type is refused at once, even before the length. */
	assert_int_equal(buf_append(&b, "X\x01\x00\x00\x00z", 6), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), -1);
	buf_free(&b);
}

static void
test_frame_write_and_peek(void **state)
{
	unsigned char wire[PROTO_PROGRESS_LEN];
	struct proto_progress p, back;
	const char *payload;
	struct buf b;
	char type;
	size_t len;
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	proto_progress_init(&p);
	p.resolved_ms = 5;
	proto_progress_encode(&p, wire);
	assert_int_equal(proto_frame_write(fds[1], PROTO_FRAME_PROGRESS, wire,
	    sizeof(wire)), 0);
	assert_int_equal(proto_frame_write(fds[1], PROTO_FRAME_BODY, "\"x\":1",
	    5), 0);
	assert_int_equal(close(fds[1]), 0);

	buf_init(&b, CAP);
	while (buf_read_fd(&b, fds[0], 7) > 0)
		;
	assert_int_equal(close(fds[0]), 0);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'P');
	assert_int_equal(proto_progress_decode((const unsigned char *)payload,
	    len, &back), 0);
	assert_int_equal(back.resolved_ms, 5);
	buf_consume(&b, PROTO_FRAME_HDR + len);
	assert_int_equal(proto_frame_peek(&b, CAP, &type, &payload, &len), 1);
	assert_int_equal(type, 'B');
	assert_memory_equal(payload, "\"x\":1", 5);
	buf_free(&b);

	errno = 0;
	assert_int_equal(proto_frame_write(-1, 'R', "", PROTO_FRAME_MAX + 1),
	    -1);
	assert_int_equal(errno, EMSGSIZE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_peek),
		cmocka_unit_test(test_frame_write_and_peek),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
