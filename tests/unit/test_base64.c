/*
 * test_base64: the strict RFC 4648 decoder and the encoder of
 * shared/base64.c: test vectors, every padding form, characters outside
 * the alphabet, lengths that are not a multiple of 4, and round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <bsd/stdlib.h>

#include "base64.h"

/* Decode a NUL-terminated string; returns what base64_decode returns. */
static ssize_t
decode(const char *s, unsigned char *out)
{
	return base64_decode(s, strlen(s), out);
}

static void
test_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {
		"", "f", "fo", "foo", "foob", "fooba", "foobar"
	};
	static const char *const coded[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
	};
	unsigned char out[16];
	char text[16];
	size_t i;
	ssize_t n;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(base64_encode((const unsigned char *)plain[i],
		    strlen(plain[i]), text), strlen(coded[i]));
		assert_string_equal(text, coded[i]);
		n = decode(coded[i], out);
		assert_int_equal(n, (ssize_t)strlen(plain[i]));
		assert_memory_equal(out, plain[i], strlen(plain[i]));
	}
}

static void
test_empty_input(void **state)
{
	unsigned char out[1];
	char text[1];

	(void)state;
	assert_int_equal(base64_decoded_max(0), 0);
	assert_int_equal(base64_decode("", 0, out), 0);
	assert_int_equal(base64_encode(out, 0, text), 0);
	assert_string_equal(text, "");
}

static void
test_decoded_max(void **state)
{
	(void)state;
	assert_int_equal(base64_decoded_max(4), 3);
	assert_int_equal(base64_decoded_max(8), 6);
	assert_int_equal(base64_decoded_max(8192), 6144);
}

static void
test_padding_variants(void **state)
{
	unsigned char out[16];

	(void)state;
	/* One and two bytes in the last group. */
	assert_int_equal(decode("Zg==", out), 1);
	assert_int_equal(out[0], 'f');
	assert_int_equal(decode("Zm8=", out), 2);
	assert_memory_equal(out, "fo", 2);
	assert_int_equal(decode("AAAA", out), 3);
	/* Padding missing, short or excessive. */
	assert_int_equal(decode("Zg", out), -1);
	assert_int_equal(decode("Zg=", out), -1);
	assert_int_equal(decode("Zm8", out), -1);
	assert_int_equal(decode("Z===", out), -1);
	assert_int_equal(decode("====", out), -1);
	assert_int_equal(decode("Zg===", out), -1);
	/* Padding anywhere but the end. */
	assert_int_equal(decode("Zg==Zg==", out), -1);
	assert_int_equal(decode("=Zm9", out), -1);
	assert_int_equal(decode("Zm=v", out), -1);
	assert_int_equal(decode("Z=g=", out), -1);
	/* Bits left over under the padding must be zero. */
	assert_int_equal(decode("Zh==", out), -1);
	assert_int_equal(decode("Zm9=", out), -1);
}

static void
test_invalid_characters(void **state)
{
	static const char *const bad[] = {
		"Zm9v!AAA", "Zm 9", "Zm9\n", "Zm9v\r\nYg==", "-_AA", "Zm9.",
		"\xff" "AAA", "AA\x80" "A", "AAA\x7f"
	};
	unsigned char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode(bad[i], out), -1);
	/* A NUL inside the counted length is not skipped. */
	assert_int_equal(base64_decode("Zm\0v", 4, out), -1);
}

static void
test_length_not_multiple_of_4(void **state)
{
	unsigned char out[16];
	size_t len;

	(void)state;
	for (len = 1; len < 12; len++) {
		if (len % 4 == 0)
			continue;
		assert_int_equal(base64_decode("QUJDREVGR0hJSktM", len, out),
		    -1);
	}
	assert_int_equal(base64_decode("QUJDREVGR0hJSktM", 16, out), 12);
	assert_memory_equal(out, "ABCDEFGHIJKL", 12);
}

static void
test_round_trip_random(void **state)
{
	unsigned char in[300], out[300];
	char text[4 * 100 + 1];
	size_t n, len;
	int round;

	(void)state;
	for (round = 0; round < 50; round++) {
		for (n = 0; n <= sizeof(in); n++) {
			arc4random_buf(in, n);
			len = base64_encode(in, n, text);
			assert_int_equal(len, 4 * ((n + 2) / 3));
			assert_int_equal(strlen(text), len);
			assert_true(base64_decoded_max(len) >= n);
			assert_int_equal(base64_decode(text, len, out),
			    (ssize_t)n);
			assert_memory_equal(out, in, n);
		}
	}
}

static void
test_every_byte_value(void **state)
{
	unsigned char in[256], out[256];
	char text[4 * 86 + 1];
	size_t i, len;

	(void)state;
	for (i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	len = base64_encode(in, 256, text);
	assert_int_equal(base64_decode(text, len, out), 256);
	assert_memory_equal(in, out, 256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_decoded_max),
		cmocka_unit_test(test_padding_variants),
		cmocka_unit_test(test_invalid_characters),
		cmocka_unit_test(test_length_not_multiple_of_4),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_every_byte_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
