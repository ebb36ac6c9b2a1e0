/*
 * test_batch_vec: proves supervisor/batch/vec.h: batch_vec_split finds
 * exactly n vectors in a worker body and refuses too few, too many or
 * nested ones; batch_vec_count counts values; batch_vec_parse reads back
 * every float32 exactly as strtof does: a million random bit patterns
 * printed shortest by the worker's formatter, the boundaries (denormals,
 * FLT_MIN, FLT_MAX, -0), long decimals past the fast path, exponents,
 * and halfway cases; and it refuses non-numbers, overflow to infinity,
 * more values than room and broken arrays.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch/vec.h"
#include "embed.h"

#define BODY(s)	s, sizeof(s) - 1

static void
test_split(void **state)
{
	static const char body[] = "\"embeddings\":[[1,2],[0.5],[-3e-2,4,5]],"
	    "\"model\":\"m\",\"usage\":{\"prompt_tokens\":3}";
	struct batch_vec_span spans[3];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY(body), 3, spans, err,
	    sizeof(err)), 0);
	assert_int_equal(spans[0].len, 5);
	assert_memory_equal(body + spans[0].off, "[1,2]", 5);
	assert_memory_equal(body + spans[1].off, "[0.5]", 5);
	assert_memory_equal(body + spans[2].off, "[-3e-2,4,5]", 11);
}

static void
test_split_counts(void **state)
{
	static const char body[] = "\"embeddings\":[[1],[2]],\"model\":\"m\"";
	struct batch_vec_span spans[3];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY(body), 3, spans, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer has 2 embeddings for 3 inputs");
	assert_int_equal(batch_vec_split(BODY(body), 1, spans, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer has more than 1 embeddings");
	assert_int_equal(batch_vec_split(BODY(body), 2, spans, err,
	    sizeof(err)), 0);
}

static void
test_split_refuses(void **state)
{
	struct batch_vec_span spans[2];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY("\"model\":\"m\""), 1, spans,
	    err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[[1]]]"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[1,2"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[1]"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY(""), 1, spans, err,
	    sizeof(err)), -1);
}

static void
test_count(void **state)
{
	(void)state;
	assert_int_equal(batch_vec_count(BODY("[]")), 0);
	assert_int_equal(batch_vec_count(BODY("[ ]")), 0);
	assert_int_equal(batch_vec_count(BODY("[1]")), 1);
	assert_int_equal(batch_vec_count(BODY("[1,-2.5e3,3]")), 3);
}

/* Parse one number through a one-value vector. */
static int
parse_one(const char *num, float *out)
{
	char text[128], err[128];

	(void)snprintf(text, sizeof(text), "[%s]", num);
	return (int)batch_vec_parse(text, strlen(text), out, 1, err,
	    sizeof(err));
}

static void
assert_same_bits(float a, float b)
{
	uint32_t x, y;

	memcpy(&x, &a, 4);
	memcpy(&y, &b, 4);
	if (x != y)
		fail_msg("bits %08x != %08x (%.9g, %.9g)", x, y, a, b);
}

static void
test_parse_roundtrip_random(void **state)
{
	char text[EMBED_FLOAT_MAX];
	uint64_t x = 88172645463325252ULL;
	uint32_t bits;
	float v, got;
	long i;

	(void)state;
	for (i = 0; i < 1000000; i++) {
		/* xorshift64: every exponent and mantissa alike. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bits = (uint32_t)x;
		memcpy(&v, &bits, 4);
		if (!isfinite(v))
			continue;
		(void)embed_float_format(v, text);
		assert_int_equal(parse_one(text, &got), 1);
		assert_same_bits(got, v);
	}
}

static void
test_parse_roundtrip_embeddings(void **state)
{
	char text[EMBED_FLOAT_MAX];
	float v, got;
	long i;

	(void)state;
	/* The range embeddings live in, densely. */
	for (i = -1000000; i <= 1000000; i += 7) {
		v = (float)i / 1000003.0f;
		(void)embed_float_format(v, text);
		assert_int_equal(parse_one(text, &got), 1);
		assert_same_bits(got, v);
	}
}

static void
test_parse_edges(void **state)
{
	static const char *const nums[] = {
		"0", "-0", "0.0", "1", "-1", "1e0", "1E+2", "2.5e-3",
		"1.17549435e-38", "1.1754942e-38", "1e-45", "1.4e-45",
		"3.4028235e38", "3.40282347e+38", "16777217", "16777219",
		"0.1", "0.30000001", "123456789012345678901234567890",
		"0.000000000000000000000000000000000001",
		"1.00000005960464477539062500000000001",
		"1.000000059604644775390625", "9007199254740993",
		"4.9406564584124654e-324", "1e-50",
	};
	float got, want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		want = strtof(nums[i], NULL);
		assert_int_equal(parse_one(nums[i], &got), 1);
		assert_same_bits(got, want);
	}
}

static void
test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"null", "NaN", "inf", "1e39", "-3.5e38", "01", "1.", ".5",
		"+1", "1e", "--1", "0x10", "\"1\"", "1 2",
	};
	float got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_one(bad[i], &got) != -1)
			fail_msg("'%s' was accepted", bad[i]);
}

static void
test_parse_vectors(void **state)
{
	float out[4];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_parse(BODY("[]"), out, 4, err,
	    sizeof(err)), 0);
	assert_int_equal(batch_vec_parse(BODY(" [ 1 , 2 ,3 ] "), out, 4, err,
	    sizeof(err)), 3);
	assert_true(out[0] == 1 && out[1] == 2 && out[2] == 3);
	/* Exactly the room, and one more. */
	assert_int_equal(batch_vec_parse(BODY("[1,2,3,4]"), out, 4, err,
	    sizeof(err)), 4);
	assert_int_equal(batch_vec_parse(BODY("[1,2,3,4,5]"), out, 4, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "embedding has more than 4 values");
	assert_int_equal(batch_vec_parse(BODY("[1,2"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY("[1,,2]"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY("1,2"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY(""), out, 4, err,
	    sizeof(err)), -1);
	/* A number longer than the slow path's copy is refused, not cut. */
	assert_int_equal(batch_vec_parse(BODY("[0.00000000000000000000000000"
	    "00000000000000000000000000000000000000001]"), out, 4, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_counts),
		cmocka_unit_test(test_split_refuses),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_parse_roundtrip_random),
		cmocka_unit_test(test_parse_roundtrip_embeddings),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
