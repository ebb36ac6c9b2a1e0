/*
 * f32: see f32.h. Called by the worker for every value of every answer
 * and by batch for every value it writes to .npy, so both directions are
 * on the hot path and neither allocates.
 *
 * Printing is Ryu (Ulf Adams, "Ryu: fast float-to-string conversion",
 * PLDI 2018): it finds the shortest digits inside the interval of reals
 * that round to the float with a few 64-bit multiplications, instead of
 * printing with 1..9 digits until strtof reads the value back (about 50
 * times slower). Reading takes the exact fast path of Clinger's algorithm
 * when it can (mantissa and power of ten both exact in a double) and
 * leaves the rest to strtof.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "f32.h"

/*
 * Ryu for float32. pow5_inv_split[q] = floor(2^(pow5bits(q) - 1 + 59) /
 * 5^q) + 1 and pow5_split[i] = floor(5^i / 2^(pow5bits(i) - 61)), where
 * pow5bits(e) is the bit length of 5^e; generated with exact integer
 * arithmetic. Every finite float32 has been printed and read back to its
 * own bits; tests/unit/test_f32.c repeats that for a few million.
 */
#define POW5_INV_BITCOUNT	59
#define POW5_BITCOUNT		61

#define NUMBER_MAX	64	/* longest number text we hand to strtof */

static const uint64_t pow5_inv_split[31] = {
	0x0800000000000001, 0x0666666666666667, 0x051eb851eb851eb9,
	0x04189374bc6a7efa, 0x068db8bac710cb2a, 0x053e2d6238da3c22,
	0x0431bde82d7b634e, 0x06b5fca6af2bd216, 0x055e63b88c230e78,
	0x044b82fa09b5a52d, 0x06df37f675ef6eae, 0x057f5ff85e592558,
	0x0465e6604b7a8447, 0x0709709a125da071, 0x05a126e1a84ae6c1,
	0x0480ebe7b9d58567, 0x0734aca5f6226f0b, 0x05c3bd5191b525a3,
	0x049c97747490eae9, 0x0760f253edb4ab0e, 0x05e72843249088d8,
	0x04b8ed0283a6d3e0, 0x078e480405d7b966, 0x060b6cd004ac9452,
	0x04d5f0a66a23a9db, 0x07bcb43d769f762b, 0x063090312bb2c4ef,
	0x04f3a68dbc8f03f3, 0x07ec3daf94180651, 0x065697bfa9acd1da,
	0x051212ffbaf0a7e2
};

static const uint64_t pow5_split[48] = {
	0x1000000000000000, 0x1400000000000000, 0x1900000000000000,
	0x1f40000000000000, 0x1388000000000000, 0x186a000000000000,
	0x1e84800000000000, 0x1312d00000000000, 0x17d7840000000000,
	0x1dcd650000000000, 0x12a05f2000000000, 0x174876e800000000,
	0x1d1a94a200000000, 0x12309ce540000000, 0x16bcc41e90000000,
	0x1c6bf52634000000, 0x11c37937e0800000, 0x16345785d8a00000,
	0x1bc16d674ec80000, 0x1158e460913d0000, 0x15af1d78b58c4000,
	0x1b1ae4d6e2ef5000, 0x10f0cf064dd59200, 0x152d02c7e14af680,
	0x1a784379d99db420, 0x108b2a2c28029094, 0x14adf4b7320334b9,
	0x19d971e4fe8401e7, 0x1027e72f1f128130, 0x1431e0fae6d7217c,
	0x193e5939a08ce9db, 0x1f8def8808b02452, 0x13b8b5b5056e16b3,
	0x18a6e32246c99c60, 0x1ed09bead87c0378, 0x13426172c74d822b,
	0x1812f9cf7920e2b6, 0x1e17b84357691b64, 0x12ced32a16a1b11e,
	0x178287f49c4a1d66, 0x1d6329f1c35ca4bf, 0x125dfa371a19e6f7,
	0x16f578c4e0a060b5, 0x1cb2d6f618c878e3, 0x11efc659cf7d4b8d,
	0x166bb7f0435c9e71, 0x1c06a5ec5433c60d, 0x118427b3b4a05bc8
};

/* 10^i for i = 0..8, the thresholds of decimal_length. */
static const uint32_t pow10_u32[9] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000
};

/* Powers of ten a double holds exactly, for the fast path of f32_parse. */
static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static const char digit_pairs[200] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/*
 * Ryu's state from one step to the next. vr, vp and vm are the value and
 * the halfway points to its neighbours (mv, mp, mm: the mantissa times 4,
 * so that they are integers), scaled by 10^-e10; the digits of vr that
 * lie in [vm, vp] are the candidates. last_removed is the digit of vr just
 * dropped, for rounding; vm_zeros and vr_zeros say whether every digit
 * dropped from vm and vr so far was 0 (then vm itself is exact, and a
 * last_removed of 5 is a tie).
 */
struct ryu_interval {
	uint32_t	 mv, mp, mm;
	uint32_t	 vr, vp, vm;
	int32_t		 e10;
	uint8_t		 last_removed;
	bool		 accept_bounds;	/* even mantissa: bounds round to it */
	bool		 mm_shift;	/* lower neighbour a full ulp away */
	bool		 vm_zeros;
	bool		 vr_zeros;
};

/* Bit length of 5^e for e > 0; 1 for e = 0. */
static int32_t
pow5bits(int32_t e)
{
	return (int32_t)(((uint32_t)e * 1217359) >> 19) + 1;
}

/* floor(log10(2^e)) and floor(log10(5^e)) for small e >= 0. */
static uint32_t
log10_pow2(int32_t e)
{
	return ((uint32_t)e * 78913) >> 18;
}

static uint32_t
log10_pow5(int32_t e)
{
	return ((uint32_t)e * 732923) >> 20;
}

static bool
multiple_of_pow5(uint32_t v, uint32_t p)
{
	uint32_t count = 0;

	while (v % 5 == 0) {
		v /= 5;
		count++;
	}
	return count >= p;
}

static bool
multiple_of_pow2(uint32_t v, uint32_t p)
{
	return (v & ((1u << p) - 1)) == 0;
}

/* (m * factor) >> shift, for shift > 32 and a result that fits 32 bits. */
static uint32_t
mul_shift32(uint32_t m, uint64_t factor, int32_t shift)
{
	uint64_t lo, hi;

	lo = (uint64_t)m * (uint32_t)factor;
	hi = (uint64_t)m * (uint32_t)(factor >> 32);
	return (uint32_t)(((lo >> 32) + hi) >> (shift - 32));
}

/* Ryu's first step for e2 >= 0: divide by 10^q, q = floor(log10(2^e2)). */
static void
ryu_scale_down(struct ryu_interval *iv, int32_t e2)
{
	uint32_t q;
	int32_t i, k;

	q = log10_pow2(e2);
	iv->e10 = (int32_t)q;
	k = POW5_INV_BITCOUNT + pow5bits((int32_t)q) - 1;
	i = -e2 + (int32_t)q + k;
	iv->vr = mul_shift32(iv->mv, pow5_inv_split[q], i);
	iv->vp = mul_shift32(iv->mp, pow5_inv_split[q], i);
	iv->vm = mul_shift32(iv->mm, pow5_inv_split[q], i);
	if (q != 0 && (iv->vp - 1) / 10 <= iv->vm / 10) {
		/* One digit of vr beyond those kept, for rounding. */
		k = POW5_INV_BITCOUNT + pow5bits((int32_t)q - 1) - 1;
		iv->last_removed = (uint8_t)(mul_shift32(iv->mv,
		    pow5_inv_split[q - 1], -e2 + (int32_t)q - 1 + k) % 10);
	}
	if (q <= 9) {
		/* At most one of mp, mv, mm is a multiple of 5. */
		if (iv->mv % 5 == 0)
			iv->vr_zeros = multiple_of_pow5(iv->mv, q);
		else if (iv->accept_bounds)
			iv->vm_zeros = multiple_of_pow5(iv->mm, q);
		else
			iv->vp -= multiple_of_pow5(iv->mp, q);
	}
}

/* Ryu's first step for e2 < 0: multiply by 10^-e10, e10 = q + e2. */
static void
ryu_scale_up(struct ryu_interval *iv, int32_t e2)
{
	uint32_t q;
	int32_t i, j, k;

	q = log10_pow5(-e2);
	iv->e10 = (int32_t)q + e2;
	i = -e2 - (int32_t)q;
	k = pow5bits(i) - POW5_BITCOUNT;
	j = (int32_t)q - k;
	iv->vr = mul_shift32(iv->mv, pow5_split[i], j);
	iv->vp = mul_shift32(iv->mp, pow5_split[i], j);
	iv->vm = mul_shift32(iv->mm, pow5_split[i], j);
	if (q != 0 && (iv->vp - 1) / 10 <= iv->vm / 10) {
		j = (int32_t)q - 1 - (pow5bits(i + 1) - POW5_BITCOUNT);
		iv->last_removed = (uint8_t)(mul_shift32(iv->mv,
		    pow5_split[i + 1], j) % 10);
	}
	if (q <= 1) {
		/* mv = 4 * m2 has at least two trailing zero bits. */
		iv->vr_zeros = true;
		if (iv->accept_bounds)
			iv->vm_zeros = iv->mm_shift;
		else
			iv->vp--;
	} else if (q < 31)
		iv->vr_zeros = multiple_of_pow2(iv->mv, q - 1);
}

/* Drop the last digit of vr, vp and vm; remember vr's for rounding. */
static void
ryu_drop_digit(struct ryu_interval *iv)
{
	iv->last_removed = (uint8_t)(iv->vr % 10);
	iv->vr /= 10;
	iv->vp /= 10;
	iv->vm /= 10;
	iv->e10++;
}

/*
 * Ryu's second step: drop digits while the interval still holds a shorter
 * number, then round vr. Returns the digits; iv->e10 is their exponent.
 * The rounding adds a bitwise or of two comparisons, not ||: either is a
 * coin flip, and a branch on it costs more than both.
 */
static uint32_t
ryu_shortest(struct ryu_interval *iv)
{
	if (iv->vm_zeros || iv->vr_zeros) {
		/* Exact digits below: track them for vm and a tie. */
		while (iv->vp / 10 > iv->vm / 10) {
			iv->vm_zeros &= iv->vm % 10 == 0;
			iv->vr_zeros &= iv->last_removed == 0;
			ryu_drop_digit(iv);
		}
		if (iv->vm_zeros) {
			while (iv->vm % 10 == 0) {
				iv->vr_zeros &= iv->last_removed == 0;
				ryu_drop_digit(iv);
			}
		}
		/* Exactly halfway: round to even. */
		if (iv->vr_zeros && iv->last_removed == 5 && iv->vr % 2 == 0)
			iv->last_removed = 4;
		return iv->vr + ((iv->vr == iv->vm && (!iv->accept_bounds ||
		    !iv->vm_zeros)) | (iv->last_removed >= 5));
	}
	/* The common case: nothing below is exact, no tie to break. */
	while (iv->vp / 10 > iv->vm / 10)
		ryu_drop_digit(iv);
	return iv->vr + ((iv->vr == iv->vm) | (iv->last_removed >= 5));
}

/*
 * The shortest decimal digits and exponent (value = *digits * 10^*e10)
 * that read back as the finite, non-zero float with these fields.
 */
static void
ryu_f2d(uint32_t ieee_mantissa, uint32_t ieee_exponent, uint32_t *digits,
    int32_t *e10)
{
	struct ryu_interval iv;
	uint32_t m2;
	int32_t e2;

	/* Field by field, not memset, so that the compiler keeps iv in
	 * registers (memset cost about 8 instructions a value). */
	iv.last_removed = 0;
	iv.vm_zeros = false;
	iv.vr_zeros = false;
	/* Two extra bits so that the bounds below are integers. */
	if (ieee_exponent == 0) {
		e2 = 1 - 127 - 23 - 2;
		m2 = ieee_mantissa;
	} else {
		e2 = (int32_t)ieee_exponent - 127 - 23 - 2;
		m2 = (1u << 23) | ieee_mantissa;
	}
	iv.accept_bounds = (m2 & 1) == 0;
	iv.mv = 4 * m2;
	iv.mp = 4 * m2 + 2;
	iv.mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
	iv.mm = 4 * m2 - 1 - iv.mm_shift;
	if (e2 >= 0)
		ryu_scale_down(&iv, e2);
	else
		ryu_scale_up(&iv, e2);
	*digits = ryu_shortest(&iv);
	*e10 = iv.e10;
}

/*
 * The number of decimal digits of v, 1..9: Ryu's output is below 10^9,
 * and at least 1, so pow10_u32[0] ends the loop. From the top, since
 * shortest float32 digits are mostly 7 to 9 long: usually one to three
 * comparisons, as many as an if-ladder from the top would make.
 */
static int
decimal_length(uint32_t v)
{
	int n;

	for (n = 9; v < pow10_u32[n - 1]; n--)
		continue;
	return n;
}

/* Write the len decimal digits of v to out. */
static void
put_digits(uint32_t v, int len, char *out)
{
	uint32_t r;

	while (len >= 2) {
		r = v % 100;
		v /= 100;
		len -= 2;
		memcpy(out + len, digit_pairs + 2 * r, 2);
	}
	if (len == 1)
		out[0] = (char)('0' + v);
}

size_t
f32_format(float v, char *out)
{
	uint32_t bits, mantissa, exponent, digits;
	int32_t e10, sci, n;
	char d[9], *p = out;

	memcpy(&bits, &v, sizeof(bits));
	mantissa = bits & 0x7fffff;
	exponent = (bits >> 23) & 0xff;
	if (exponent == 0xff) {
		memcpy(out, "null", 5);
		return 4;
	}
	if (exponent == 0 && mantissa == 0) {
		/* "-0.0" keeps the sign for readers that parse "-0" as 0. */
		if (bits >> 31) {
			memcpy(out, "-0.0", 5);
			return 4;
		}
		memcpy(out, "0", 2);
		return 1;
	}
	if (bits >> 31)
		*p++ = '-';
	ryu_f2d(mantissa, exponent, &digits, &e10);
	n = decimal_length(digits);
	put_digits(digits, n, d);
	sci = e10 + n - 1;	/* value = d.ddd * 10^sci */

	if (sci >= 0 && sci <= 8) {
		if (n > sci + 1) {
			memcpy(p, d, (size_t)sci + 1);
			p += sci + 1;
			*p++ = '.';
			memcpy(p, d + sci + 1, (size_t)(n - sci - 1));
			p += n - sci - 1;
		} else {
			memcpy(p, d, (size_t)n);
			p += n;
			memset(p, '0', (size_t)(sci + 1 - n));
			p += sci + 1 - n;
		}
	} else if (sci < 0 && sci >= -5) {
		*p++ = '0';
		*p++ = '.';
		memset(p, '0', (size_t)(-sci - 1));
		p += -sci - 1;
		memcpy(p, d, (size_t)n);
		p += n;
	} else {
		*p++ = d[0];
		if (n > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)n - 1);
			p += n - 1;
		}
		*p++ = 'e';
		if (sci < 0) {
			*p++ = '-';
			sci = -sci;
		}
		if (sci >= 10) {
			memcpy(p, digit_pairs + 2 * sci, 2);
			p += 2;
		} else
			*p++ = (char)('0' + sci);
	}
	*p = '\0';
	return (size_t)(p - out);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A JSON number as read by scan_number: value = mant * 10^exp10, up to
 * the digits beyond the 19 kept in mant; exact says they were all zeros.
 */
struct decimal {
	uint64_t	 mant;
	int		 exp10;
	bool		 neg;
	bool		 exact;
};

/*
 * Append the digit c to dec->mant, unless 19 significant digits (*digits,
 * leading zeros not counted) are already there. Returns whether it did.
 */
static bool
take_digit(struct decimal *dec, int *digits, char c)
{
	if (*digits >= 19) {
		dec->exact = dec->exact && c == '0';
		return false;
	}
	dec->mant = dec->mant * 10 + (uint64_t)(c - '0');
	*digits += dec->mant != 0;
	return true;
}

/*
 * Read the JSON number at s (up to end) into *dec. Returns its length, or
 * 0 if s does not start with one.
 */
static size_t
scan_number(const char *s, const char *end, struct decimal *dec)
{
	const char *p = s;
	int digits = 0, e = 0, esign = 1;

	/* Field by field, not memset, as in ryu_f2d: dec stays in
	 * registers. */
	dec->mant = 0;
	dec->exp10 = 0;
	dec->neg = false;
	dec->exact = true;
	if (p < end && *p == '-') {
		dec->neg = true;
		p++;
	}
	if (p >= end || !is_digit(*p))
		return 0;
	if (*p == '0' && p + 1 < end && is_digit(p[1]))
		return 0;
	for (; p < end && is_digit(*p); p++)
		if (!take_digit(dec, &digits, *p))
			dec->exp10++;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !is_digit(*p))
			return 0;
		for (; p < end && is_digit(*p); p++)
			if (take_digit(dec, &digits, *p))
				dec->exp10--;
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
		dec->exp10 += esign * e;
	}
	return (size_t)(p - s);
}

/*
 * The fast path: when mant and 10^|exp10| are both exact doubles, their
 * product or quotient is one correctly rounded double, and rounding that
 * to float is the decimal's own rounding unless the double lies exactly
 * halfway between two floats. Returns false where this cannot decide
 * (also for results outside the normal float range).
 */
static bool
parse_fast(const struct decimal *dec, float *out)
{
	uint64_t bits;
	double d;

	if (!dec->exact || dec->mant > ((uint64_t)1 << 53) ||
	    dec->exp10 < -22 || dec->exp10 > 22)
		return false;
	d = (double)dec->mant;
	d = dec->exp10 < 0 ? d / pow10_exact[-dec->exp10] :
	    d * pow10_exact[dec->exp10];
	if (d < FLT_MIN || d > FLT_MAX)
		return false;
	memcpy(&bits, &d, sizeof(bits));
	if ((bits & 0x1fffffff) == 0x10000000)
		return false;
	*out = dec->neg ? -(float)d : (float)d;
	return true;
}

/* The slow path: strtof on a copy of the len characters of number text. */
static ssize_t
parse_slow(const char *s, size_t len, float *out)
{
	char copy[NUMBER_MAX], *stop;
	float v;

	if (len >= sizeof(copy)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	/* A JSON number, so strtof reads all of it and only an overflow
	 * comes back infinite. */
	v = strtof(copy, &stop);
	if (stop != copy + len) {
		errno = EINVAL;
		return -1;
	}
	if (!isfinite(v)) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return (ssize_t)len;
}

ssize_t
f32_parse(const char *s, const char *end, float *out)
{
	struct decimal dec;
	size_t len;

	len = scan_number(s, end, &dec);
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (dec.mant == 0) {
		*out = dec.neg ? -0.0f : 0.0f;
		return (ssize_t)len;
	}
	if (parse_fast(&dec, out))
		return (ssize_t)len;
	return parse_slow(s, len, out);
}
