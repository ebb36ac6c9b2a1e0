/*
 * test_proto_progress: shared/proto_progress.h, the worker's progress
 * snapshot. A round trip keeps every field, the wire form is
 * little-endian, a full address field stays terminated, a payload of the
 * wrong length is refused, and every stage of a call is described in
 * its own words, truncated but terminated in a small buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto_progress.h"

static void
test_progress_round_trip(void **state)
{
	struct proto_progress p, back;
	unsigned char wire[PROTO_PROGRESS_LEN];

	(void)state;
	proto_progress_init(&p);
	assert_int_equal(p.resolved_ms, -1);
	assert_int_equal(p.connected_ms, -1);
	assert_int_equal(p.tls_ms, -1);
	assert_int_equal(p.sent_ms, -1);
	assert_int_equal(p.first_byte_ms, -1);
	assert_int_equal(p.body_bytes, 0);
	assert_string_equal(p.addr, "");
	proto_progress_encode(&p, wire);
	memset(&back, 0x55, sizeof(back));
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.resolved_ms, -1);
	assert_int_equal(back.first_byte_ms, -1);
	assert_string_equal(back.addr, "");

	p.resolved_ms = 1;
	p.connected_ms = 20;
	p.tls_ms = 300;
	p.sent_ms = 4000;
	p.first_byte_ms = INT32_MAX;
	p.body_bytes = ((uint64_t)5 << 32) + 7;
	(void)snprintf(p.addr, sizeof(p.addr), "[2001:db8::1]:443");
	proto_progress_encode(&p, wire);
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.resolved_ms, 1);
	assert_int_equal(back.connected_ms, 20);
	assert_int_equal(back.tls_ms, 300);
	assert_int_equal(back.sent_ms, 4000);
	assert_int_equal(back.first_byte_ms, INT32_MAX);
	assert_true(back.body_bytes == ((uint64_t)5 << 32) + 7);
	assert_string_equal(back.addr, "[2001:db8::1]:443");

	/* The wire form is little-endian whatever the host. */
	assert_int_equal(wire[4], 20);
	assert_int_equal(wire[5], 0);

	/* An address filling the field stays terminated. */
	memset(wire + 28, 'a', 64);
	assert_int_equal(proto_progress_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(strlen(back.addr), 63);

	assert_int_equal(proto_progress_decode(wire, sizeof(wire) - 1, &back),
	    -1);
	assert_int_equal(proto_progress_decode(wire, 0, &back), -1);
}

/* proto_progress_describe into a string to compare. */
static void
expect_describe(const struct proto_progress *p, const char *host, bool tls,
    const char *want)
{
	char out[256];

	proto_progress_describe(p, host, tls, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_progress_describe(void **state)
{
	struct proto_progress p;
	char small[8];

	(void)state;
	proto_progress_init(&p);
	expect_describe(&p, "api.openai.com", true,
	    "still resolving 'api.openai.com'");
	p.resolved_ms = 3;
	expect_describe(&p, "api.openai.com", true,
	    "resolved 'api.openai.com' at 3 ms, still connecting");
	(void)snprintf(p.addr, sizeof(p.addr), "10.1.2.3:443");
	expect_describe(&p, "api.openai.com", true,
	    "resolved 'api.openai.com' at 3 ms, still connecting to "
	    "10.1.2.3:443");
	p.connected_ms = 9;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443 at 9 ms, TLS handshake not finished");
	expect_describe(&p, "127.0.0.1:8080", false,
	    "connected to 10.1.2.3:443 at 9 ms, request not fully sent");
	p.tls_ms = 30;
	expect_describe(&p, "api.openai.com", true,
	    "TLS with 10.1.2.3:443 done at 30 ms, request not fully sent");
	p.sent_ms = 41;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443 and sent the request at 41 ms, no "
	    "first byte");
	p.first_byte_ms = 900;
	p.body_bytes = 12345;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, sent the request at 41 ms, first byte "
	    "at 900 ms, 12345 bytes of the body received");
	p.body_bytes = 1;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, sent the request at 41 ms, first byte "
	    "at 900 ms, 1 byte of the body received");
	/* An answer that came before the upload finished. */
	p.sent_ms = -1;
	expect_describe(&p, "api.openai.com", true,
	    "connected to 10.1.2.3:443, first byte at 900 ms, 1 byte of the "
	    "body received");
	/* Without an address the host stands in. */
	p.sent_ms = 41;
	p.body_bytes = 12345;
	p.addr[0] = '\0';
	expect_describe(&p, "h", true, "connected to h, sent the request at 41 "
	    "ms, first byte at 900 ms, 12345 bytes of the body received");
	/* Truncated, but terminated. */
	proto_progress_describe(&p, "h", true, small, sizeof(small));
	assert_string_equal(small, "connect");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_round_trip),
		cmocka_unit_test(test_progress_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
