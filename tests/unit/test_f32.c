/*
 * test_f32: shared/f32.h, both directions. f32_format prints known values
 * as expected and every float32 class (zeros, subnormals, the normal
 * extremes, every power of two, values of 1..9 digits, millions of random
 * bit patterns) in the fewest digits that strtof reads back as the same
 * bits; f32_parse reads all of those back to the same bits too, and reads
 * any other decimal (long ones past the fast path, exact ties between two
 * floats, random digit strings) exactly as strtof does. It refuses what is
 * not a JSON number and what overflows to infinity, with errno saying
 * which, and never reads past the end it is given.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bsd/stdlib.h>

#include "f32.h"

/* The bits of a float, for messages and exact comparisons. */
static uint32_t
bits_of(float v)
{
	uint32_t bits;

	memcpy(&bits, &v, 4);
	return bits;
}

static float
float_of(uint32_t bits)
{
	float v;

	memcpy(&v, &bits, 4);
	return v;
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

/* f32_parse of the whole string num: 1 if it is one number, else -1. */
static int
parse_one(const char *num, float *out)
{
	size_t len = strlen(num);

	return f32_parse(num, num + len, out) == (ssize_t)len ? 1 : -1;
}

/*
 * Print the finite float with these bits and read the text back, with
 * strtof and with f32_parse: both must give the same bits.
 */
static void
check_round_trip(uint32_t bits)
{
	char out[F32_MAX_TEXT], *end;
	float back;
	size_t n;

	n = f32_format(float_of(bits), out);
	assert_true(n < F32_MAX_TEXT);
	assert_int_equal(strlen(out), n);
	back = strtof(out, &end);
	assert_true(*end == '\0');
	if (bits_of(back) != bits)
		fail_msg("%08x printed as %s reads back as %08x", bits, out,
		    bits_of(back));
	assert_int_equal(parse_one(out, &back), 1);
	assert_same_bits(back, float_of(bits));
}

static void
test_format_exact(void **state)
{
	static const struct {
		float		 v;
		const char	*text;
	} cases[] = {
		{ 0.0f, "0" }, { -0.0f, "-0.0" }, { 1.0f, "1" },
		{ -1.0f, "-1" },
		{ 0.5f, "0.5" }, { 0.1f, "0.1" }, { -2.25f, "-2.25" },
		{ 100.0f, "100" }, { 123456.0f, "123456" },
		{ 1e8f, "100000000" }, { 1e9f, "1e9" }, { 1.5e10f, "1.5e10" },
		{ 0.001f, "0.001" }, { 1.5e-5f, "0.000015" },
		{ 1.5e-6f, "1.5e-6" }, { 1e-7f, "1e-7" },
		{ 0.3f, "0.3" }, { 2.0f / 3.0f, "0.6666667" },
		{ 16777216.0f, "16777216" }, { 16777218.0f, "16777218" },
		{ FLT_MAX, "3.4028235e38" }, { -FLT_MAX, "-3.4028235e38" },
		{ FLT_MIN, "1.1754944e-38" }, { 0x1p-149f, "1e-45" },
		{ 0x1p-126f * 0.5f, "5.877472e-39" },
		{ 0.03220462f, "0.03220462" },
		{ -0.004714966f, "-0.004714966" },
	};
	char out[F32_MAX_TEXT];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = f32_format(cases[i].v, out);
		assert_string_equal(out, cases[i].text);
		assert_int_equal(n, strlen(cases[i].text));
	}
	assert_int_equal(f32_format(NAN, out), 4);
	assert_string_equal(out, "null");
	assert_string_equal((f32_format(-INFINITY, out), out), "null");
	assert_string_equal((f32_format(INFINITY, out), out), "null");
}

/* The fewest significant digits (1..9) with which printf round-trips v. */
static int
shortest_digits(float v)
{
	char text[64];
	int p;

	for (p = 1; p < 9; p++) {
		(void)snprintf(text, sizeof(text), "%.*e", p - 1, (double)v);
		if (strtof(text, NULL) == v)
			break;
	}
	return p;
}

/* Significant digits in a formatted number. */
static int
count_digits(const char *s)
{
	const char *end;
	int n = 0;
	bool leading = true;

	end = s + strcspn(s, "e");
	/* Trailing zeros of an integer are not significant. */
	if (memchr(s, '.', (size_t)(end - s)) == NULL)
		while (end > s && end[-1] == '0')
			end--;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s == '0' && leading)
			continue;
		leading = false;
		n++;
	}
	return n;
}

static void
test_round_trip_random(void **state)
{
	char out[F32_MAX_TEXT];
	uint32_t bits;
	float v;
	int i;

	(void)state;
	for (i = 0; i < 3000000; i++) {
		/* Random patterns, and every tenth one near typical values. */
		bits = arc4random();
		if (i % 10 == 0)
			bits = (bits & 0x807fffff) | (uint32_t)(0x3a + i % 6)
			    << 23;
		if ((bits & 0x7f800000) == 0x7f800000)
			continue;
		check_round_trip(bits);
		v = float_of(bits);
		(void)f32_format(v, out);
		if (i % 64 == 0 && v != 0 &&
		    count_digits(out) != shortest_digits(v))
			fail_msg("%08x printed as %s, not shortest (%d)", bits,
			    out, shortest_digits(v));
	}
}

static void
test_round_trip_xorshift(void **state)
{
	uint64_t x = 88172645463325252ULL;
	uint32_t bits;
	long i;

	(void)state;
	for (i = 0; i < 1000000; i++) {
		/* xorshift64: every exponent and mantissa alike, and the
		 * same million patterns on every run. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bits = (uint32_t)x;
		if (isfinite(float_of(bits)))
			check_round_trip(bits);
	}
}

static void
test_round_trip_edges(void **state)
{
	static const uint32_t edges[] = {
		0x00000001, 0x00000002, 0x007fffff, 0x00800000, 0x00800001,
		0x3f7fffff, 0x3f800001, 0x4b7fffff, 0x4b800000, 0x7f7fffff,
		0x7f7ffffe, 0x80000001, 0xff7fffff, 0x3dcccccd, 0x3e4ccccd,
		0x4cbebc20, 0x5f5e1000, 0x501502f9, 0x2edbe6ff
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check_round_trip(edges[i]);
}

static void
test_round_trip_classes(void **state)
{
	static const uint32_t signs[] = { 0, 0x80000000 };
	uint32_t m, e, sign;
	size_t i;
	float got;

	(void)state;
	for (i = 0; i < 2; i++) {
		sign = signs[i];
		/* Zero; the subnormals: the first and last thousand, and a
		 * stride through the rest; every subnormal power of two. */
		check_round_trip(sign);
		for (m = 1; m < 1000; m++) {
			check_round_trip(sign | m);
			check_round_trip(sign | (0x800000 - m));
		}
		for (m = 1000; m < 0x800000 - 1000; m += 997)
			check_round_trip(sign | m);
		for (e = 0; e < 23; e++)
			check_round_trip(sign | 1u << e);
		/* The least and greatest normal; every normal power of two
		 * and the greatest mantissa of each exponent. */
		check_round_trip(sign | 0x00800000);
		check_round_trip(sign | 0x7f7fffff);
		for (e = 1; e < 0xff; e++) {
			check_round_trip(sign | e << 23);
			check_round_trip(sign | e << 23 | 0x7fffff);
		}
	}
	/* Negative zero keeps its sign, in all its spellings. */
	assert_int_equal(parse_one("-0.0", &got), 1);
	assert_int_equal(bits_of(got), 0x80000000);
	assert_int_equal(parse_one("-0", &got), 1);
	assert_int_equal(bits_of(got), 0x80000000);
	assert_int_equal(parse_one("-1e-50", &got), 1);
	assert_int_equal(bits_of(got), 0x80000000);
	assert_int_equal(parse_one("0e999999", &got), 1);
	assert_int_equal(bits_of(got), 0);
}

/*
 * A random decimal "d.ddd...e<exp>" of exactly digits significant digits
 * (the last one not 0) into text.
 */
static void
random_decimal(int digits, int exp, char *text, size_t len)
{
	char mant[16];
	int i;

	for (i = 0; i < digits; i++)
		mant[i] = (char)('0' + arc4random_uniform(10));
	if (mant[0] == '0')
		mant[0] = '1';
	if (mant[digits - 1] == '0')
		mant[digits - 1] = '7';
	mant[digits] = '\0';
	(void)snprintf(text, len, "%c%s%se%d", mant[0], digits > 1 ? "." : "",
	    mant + 1, exp);
}

static void
test_digits_1_to_9(void **state)
{
	char text[32], out[F32_MAX_TEXT];
	float v, got;
	int digits, i, n;

	(void)state;
	for (digits = 1; digits <= 9; digits++) {
		for (i = 0; i < 20000; i++) {
			random_decimal(digits, (int)arc4random_uniform(75) - 37,
			    text, sizeof(text));
			v = strtof(text, NULL);
			assert_int_equal(parse_one(text, &got), 1);
			assert_same_bits(got, v);
			check_round_trip(bits_of(v));
			/* Never longer than a decimal that reads as v; up to
			 * 6 digits, two decimals never read as one float. */
			(void)f32_format(v, out);
			n = count_digits(out);
			if (n > digits || (digits <= 6 && n != digits))
				fail_msg("%s printed as %s", text, out);
		}
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
test_parse_roundtrip_embeddings(void **state)
{
	char text[F32_MAX_TEXT];
	float v, got;
	long i;

	(void)state;
	/* The range embeddings live in, densely. */
	for (i = -1000000; i <= 1000000; i += 7) {
		v = (float)i / 1000003.0f;
		(void)f32_format(v, text);
		assert_int_equal(parse_one(text, &got), 1);
		assert_same_bits(got, v);
	}
}

/* f32_parse of text must be strtof's, refusals included. */
static void
expect_as_strtof(const char *text)
{
	float got, want;

	want = strtof(text, NULL);
	if (!isfinite(want)) {
		errno = 0;
		assert_int_equal(parse_one(text, &got), -1);
		assert_int_equal(errno, ERANGE);
		return;
	}
	if (parse_one(text, &got) != 1)
		fail_msg("'%s' was refused", text);
	if (bits_of(got) != bits_of(want))
		fail_msg("'%s' read as %08x, strtof says %08x", text,
		    bits_of(got), bits_of(want));
}

/* Subtract one unit of the last digit from the positive decimal text. */
static void
decrement_last(char *text)
{
	char *p;

	for (p = text + strlen(text) - 1; *p == '0' || *p == '.'; p--)
		if (*p == '0')
			*p = '9';
	(*p)--;
}

static void
test_parse_ties(void **state)
{
	char tie[64], text[sizeof(tie) + 8];
	uint32_t bits;
	double mid;
	int i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		/* Halfway between a float of [1, 2^31) and the next one:
		 * an exact decimal of at most 24 fraction digits, a tie
		 * that goes to even; then a hair above and below it. */
		bits = 0x3f800000 + arc4random_uniform(0x4f000000 -
		    0x3f800000);
		mid = ((double)float_of(bits) + (double)float_of(bits + 1)) /
		    2;
		(void)snprintf(tie, sizeof(tie), "%.24f", mid);
		expect_as_strtof(tie);
		if (mid == floor(mid)) {
			/* Short enough for the fast path, which must see
			 * the tie and leave it to strtof. */
			(void)snprintf(text, sizeof(text), "%.0f", mid);
			expect_as_strtof(text);
		}
		(void)snprintf(text, sizeof(text), "%s000001", tie);
		expect_as_strtof(text);
		decrement_last(tie);
		(void)snprintf(text, sizeof(text), "%s999999", tie);
		expect_as_strtof(text);
	}
}

static void
test_parse_random_decimals(void **state)
{
	char text[64];
	int i, digits;

	(void)state;
	for (i = 0; i < 300000; i++) {
		/* 1..15 digits from far below the subnormals to past the
		 * largest float; strtof decides, overflow included. */
		digits = 1 + (int)arc4random_uniform(15);
		random_decimal(digits, (int)arc4random_uniform(110) - 60,
		    text, sizeof(text));
		expect_as_strtof(text);
		memmove(text + 1, text, strlen(text) + 1);
		text[0] = '-';
		expect_as_strtof(text);
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

/* f32_parse on all of s must fail with errno want, leaving *out alone. */
static void
expect_refusal(const char *s, int want)
{
	float got = 42.0f;

	errno = 0;
	if (f32_parse(s, s + strlen(s), &got) != -1)
		fail_msg("'%s' was accepted", s);
	if (errno != want)
		fail_msg("'%s': errno %d, not %d", s, errno, want);
	assert_true(got == 42.0f);
}

static void
test_parse_errors(void **state)
{
	static const char *const junk[] = {
		"", "-", "NaN", "nan", "-nan", "inf", "-Infinity", "x1",
		"+1", ".5", "-.5", "01", "-01", "00", "1.", "1.e5", "1e",
		"1e+", "1E-", "--1", "\"1\"", " 1", "e5", "true",
		/* Longer than the slow path takes: refused, not cut. */
		"0.00000000000000000000000000000000000000000000000000000000"
		"0000001",
	};
	static const char *const huge[] = {
		"1e39", "-3.5e38", "3.4028236e38", "-3.4028236e+38", "1e400",
		"1e99999999999", "340282356779733661637539395458142568449",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		expect_refusal(junk[i], EINVAL);
	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
		expect_refusal(huge[i], ERANGE);
}

/* f32_parse of the string s: the length of the number it starts with. */
static ssize_t
parse_prefix(const char *s, float *out)
{
	return f32_parse(s, s + strlen(s), out);
}

static void
test_parse_stops(void **state)
{
	static const char text[] = "1.5e3,7";
	float got;

	(void)state;
	/* Only the number is read; what follows is the caller's. */
	assert_int_equal(f32_parse(text, text + sizeof(text) - 1, &got), 5);
	assert_true(got == 1500.0f);
	assert_int_equal(parse_prefix("0x10", &got), 1);
	assert_true(got == 0.0f);
	assert_int_equal(parse_prefix("1 2", &got), 1);
	assert_int_equal(parse_prefix("-2.5]", &got), 4);
	assert_true(got == -2.5f);
	/* Never past end: a number cut there is what end leaves of it. */
	assert_int_equal(f32_parse(text, text + 3, &got), 3);
	assert_true(got == 1.5f);
	assert_int_equal(f32_parse(text, text + 4, &got), -1);
	assert_int_equal(f32_parse(text, text, &got), -1);
	/* The greatest finite text below the overflow threshold. */
	assert_int_equal(parse_one("3.40282356e38", &got), 1);
	assert_true(got == FLT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_round_trip_xorshift),
		cmocka_unit_test(test_round_trip_edges),
		cmocka_unit_test(test_round_trip_classes),
		cmocka_unit_test(test_digits_1_to_9),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_parse_roundtrip_embeddings),
		cmocka_unit_test(test_parse_ties),
		cmocka_unit_test(test_parse_random_decimals),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
