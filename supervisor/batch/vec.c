/*
 * batch/vec: see vec.h.
 *
 * Cost: batch_vec_split is one pass of memchr-like scanning over the
 * body; batch_vec_parse is a few nanoseconds per value on the fast path
 * (one 64-bit accumulation and one double multiplication or division)
 * and strtof's cost on the slow one, which shortest-digit float32 text
 * reaches about once in a few hundred million values.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/vec.h"

#define NUMBER_MAX	64	/* longest number text we hand to strtof */

static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
batch_vec_split(const char *body, size_t len, size_t n,
    struct batch_vec_span *spans, char *err, size_t errlen)
{
	static const char key[] = "\"embeddings\":[";
	const char *p, *end = body + len, *close;
	size_t i;

	if (len < sizeof(key) - 1 || memcmp(body, key, sizeof(key) - 1) != 0) {
		(void)snprintf(err, errlen, "answer does not start with "
		    "\"embeddings\"");
		return -1;
	}
	p = body + sizeof(key) - 1;
	for (i = 0; i < n; i++) {
		if (i > 0) {
			if (p >= end || *p != ',') {
				(void)snprintf(err, errlen, "answer has %zu "
				    "embeddings for %zu inputs", i, n);
				return -1;
			}
			p++;
		}
		if (p >= end || *p != '[') {
			(void)snprintf(err, errlen, "answer has %zu embeddings "
			    "for %zu inputs", i, n);
			return -1;
		}
		close = memchr(p, ']', (size_t)(end - p));
		if (close == NULL || memchr(p + 1, '[',
		    (size_t)(close - p - 1)) != NULL) {
			(void)snprintf(err, errlen, "embedding %zu is not an "
			    "array of numbers", i);
			return -1;
		}
		spans[i].off = (size_t)(p - body);
		spans[i].len = (size_t)(close - p) + 1;
		p = close + 1;
	}
	if (p >= end || *p != ']') {
		(void)snprintf(err, errlen, "answer has more than %zu "
		    "embeddings", n);
		return -1;
	}
	return 0;
}

size_t
batch_vec_count(const char *text, size_t len)
{
	size_t i, commas = 0;
	bool any = false;

	for (i = 0; i < len; i++) {
		if (text[i] == ',')
			commas++;
		else if (text[i] != '[' && text[i] != ']' && !is_space(text[i]))
			any = true;
	}
	return any ? commas + 1 : 0;
}

/* The slow path: strtof on a copy of the number text. */
static int
parse_slow(const char *s, size_t len, float *out)
{
	char copy[NUMBER_MAX];
	char *end;
	float v;

	if (len >= sizeof(copy))
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	errno = 0;
	v = strtof(copy, &end);
	if (end != copy + len || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/*
 * Parse one JSON number at s (up to end) as a float32. Returns the index
 * just past it, or 0 if s does not start with a finite float32 number.
 */
static size_t
parse_number(const char *s, const char *end, float *out)
{
	const char *p = s;
	uint64_t mant = 0, bits;
	int digits = 0, exp10 = 0, e = 0, esign = 1;
	bool neg = false, exact = true;
	double d;

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= end || !is_digit(*p))
		return 0;
	if (*p == '0' && p + 1 < end && is_digit(p[1]))
		return 0;
	for (; p < end && is_digit(*p); p++) {
		if (digits < 19) {
			mant = mant * 10 + (uint64_t)(*p - '0');
			digits += mant != 0;
		} else {
			exp10++;
			exact = exact && *p == '0';
		}
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !is_digit(*p))
			return 0;
		for (; p < end && is_digit(*p); p++) {
			if (digits < 19) {
				mant = mant * 10 + (uint64_t)(*p - '0');
				digits += mant != 0;
				exp10--;
			} else
				exact = exact && *p == '0';
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			esign = *p++ == '-' ? -1 : 1;
		if (p >= end || !is_digit(*p))
			return 0;
		for (; p < end && is_digit(*p); p++)
			if (e < 10000)
				e = e * 10 + (*p - '0');
		exp10 += esign * e;
	}
	if (mant == 0) {
		*out = neg ? -0.0f : 0.0f;
		return (size_t)(p - s);
	}
	if (!exact || mant > ((uint64_t)1 << 53) || exp10 < -22 ||
	    exp10 > 22)
		goto slow;
	/* Both operands exact: one correctly rounded double. */
	d = (double)mant;
	d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
	if (d < FLT_MIN || d > FLT_MAX)
		goto slow;
	/* Rounding that double to float is the decimal's rounding unless
	 * the double sits exactly halfway between two floats. */
	memcpy(&bits, &d, sizeof(bits));
	if ((bits & 0x1fffffff) == 0x10000000)
		goto slow;
	*out = neg ? -(float)d : (float)d;
	return (size_t)(p - s);
slow:
	if (parse_slow(s, (size_t)(p - s), out) == -1)
		return 0;
	return (size_t)(p - s);
}

ssize_t
batch_vec_parse(const char *text, size_t len, float *out, size_t max,
    char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	size_t n = 0, used;

	while (p < end && is_space(*p))
		p++;
	if (p >= end || *p != '[') {
		(void)snprintf(err, errlen, "embedding is not an array");
		return -1;
	}
	for (p++; p < end && is_space(*p); p++)
		continue;
	if (p < end && *p == ']')
		return 0;
	for (;;) {
		if (n == max) {
			(void)snprintf(err, errlen, "embedding has more than "
			    "%zu values", max);
			return -1;
		}
		used = parse_number(p, end, &out[n]);
		if (used == 0) {
			(void)snprintf(err, errlen, "embedding value %zu is "
			    "not a finite float32 number", n);
			return -1;
		}
		n++;
		for (p += used; p < end && is_space(*p); p++)
			continue;
		if (p < end && *p == ']')
			return (ssize_t)n;
		if (p >= end || *p != ',') {
			(void)snprintf(err, errlen, "embedding is not an array "
			    "of numbers");
			return -1;
		}
		for (p++; p < end && is_space(*p); p++)
			continue;
	}
}
