/*
 * embed: see embed.h. Called by the worker on every successful call, so
 * both halves are on the hot path: base64 is decoded into one scratch
 * buffer reused across rows, and floats are printed with Ryu (Ulf Adams,
 * "Ryu: fast float-to-string conversion", PLDI 2018), which finds the
 * shortest round-tripping digits with a few 64-bit multiplications
 * instead of the printf-then-strtof loop (about 50 times slower).
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <bsd/string.h>

#include "base64.h"
#include "embed.h"
#include "proto_json.h"

/*
 * Ryu for float32. pow5_inv_split[q] = floor(2^(pow5bits(q) - 1 + 59) /
 * 5^q) + 1 and pow5_split[i] = floor(5^i / 2^(pow5bits(i) - 61)), where
 * pow5bits(e) is the bit length of 5^e; generated with exact integer
 * arithmetic and checked against every float32 (see tests/unit).
 */
#define POW5_INV_BITCOUNT	59
#define POW5_BITCOUNT		61

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

static const char digit_pairs[200] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

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

/*
 * The shortest decimal digits and exponent (value = *digits * 10^*e10)
 * that read back as the finite, non-zero float with these fields.
 */
static void
ryu_f2d(uint32_t ieee_mantissa, uint32_t ieee_exponent, uint32_t *digits,
    int32_t *e10_out)
{
	uint32_t m2, mv, mp, mm, mm_shift, vr, vp, vm, q, output;
	int32_t e2, e10, i, j, k, removed = 0;
	bool accept_bounds, vm_zeros = false, vr_zeros = false;
	uint8_t last_removed = 0;

	/* Two extra bits so that the bounds below are integers. */
	if (ieee_exponent == 0) {
		e2 = 1 - 127 - 23 - 2;
		m2 = ieee_mantissa;
	} else {
		e2 = (int32_t)ieee_exponent - 127 - 23 - 2;
		m2 = (1u << 23) | ieee_mantissa;
	}
	accept_bounds = (m2 & 1) == 0;

	/* The value and the halfway points to its neighbours, times 4. */
	mv = 4 * m2;
	mp = 4 * m2 + 2;
	mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
	mm = 4 * m2 - 1 - mm_shift;

	/* Scale all three by a power of ten with 64-bit multiplications. */
	if (e2 >= 0) {
		q = log10_pow2(e2);
		e10 = (int32_t)q;
		k = POW5_INV_BITCOUNT + pow5bits((int32_t)q) - 1;
		i = -e2 + (int32_t)q + k;
		vr = mul_shift32(mv, pow5_inv_split[q], i);
		vp = mul_shift32(mp, pow5_inv_split[q], i);
		vm = mul_shift32(mm, pow5_inv_split[q], i);
		if (q != 0 && (vp - 1) / 10 <= vm / 10) {
			/* One digit of vr beyond those kept, for rounding. */
			k = POW5_INV_BITCOUNT + pow5bits((int32_t)q - 1) - 1;
			last_removed = (uint8_t)(mul_shift32(mv,
			    pow5_inv_split[q - 1], -e2 + (int32_t)q - 1 + k) %
			    10);
		}
		if (q <= 9) {
			/* At most one of mp, mv, mm is a multiple of 5. */
			if (mv % 5 == 0)
				vr_zeros = multiple_of_pow5(mv, q);
			else if (accept_bounds)
				vm_zeros = multiple_of_pow5(mm, q);
			else
				vp -= multiple_of_pow5(mp, q);
		}
	} else {
		q = log10_pow5(-e2);
		e10 = (int32_t)q + e2;
		i = -e2 - (int32_t)q;
		k = pow5bits(i) - POW5_BITCOUNT;
		j = (int32_t)q - k;
		vr = mul_shift32(mv, pow5_split[i], j);
		vp = mul_shift32(mp, pow5_split[i], j);
		vm = mul_shift32(mm, pow5_split[i], j);
		if (q != 0 && (vp - 1) / 10 <= vm / 10) {
			j = (int32_t)q - 1 - (pow5bits(i + 1) - POW5_BITCOUNT);
			last_removed = (uint8_t)(mul_shift32(mv,
			    pow5_split[i + 1], j) % 10);
		}
		if (q <= 1) {
			/* mv = 4 * m2 has at least two trailing zero bits. */
			vr_zeros = true;
			if (accept_bounds)
				vm_zeros = mm_shift == 1;
			else
				vp--;
		} else if (q < 31)
			vr_zeros = multiple_of_pow2(mv, q - 1);
	}

	/* Drop digits while the interval still holds a shorter number. */
	if (vm_zeros || vr_zeros) {
		while (vp / 10 > vm / 10) {
			vm_zeros &= vm % 10 == 0;
			vr_zeros &= last_removed == 0;
			last_removed = (uint8_t)(vr % 10);
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		if (vm_zeros) {
			while (vm % 10 == 0) {
				vr_zeros &= last_removed == 0;
				last_removed = (uint8_t)(vr % 10);
				vr /= 10;
				vp /= 10;
				vm /= 10;
				removed++;
			}
		}
		/* Exactly halfway: round to even. */
		if (vr_zeros && last_removed == 5 && vr % 2 == 0)
			last_removed = 4;
		output = vr + ((vr == vm && (!accept_bounds || !vm_zeros)) ||
		    last_removed >= 5);
	} else {
		while (vp / 10 > vm / 10) {
			last_removed = (uint8_t)(vr % 10);
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		output = vr + (vr == vm || last_removed >= 5);
	}
	*digits = output;
	*e10_out = e10 + removed;
}

static int
decimal_length(uint32_t v)
{
	if (v >= 100000000)
		return 9;
	if (v >= 10000000)
		return 8;
	if (v >= 1000000)
		return 7;
	if (v >= 100000)
		return 6;
	if (v >= 10000)
		return 5;
	if (v >= 1000)
		return 4;
	if (v >= 100)
		return 3;
	if (v >= 10)
		return 2;
	return 1;
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
embed_float_format(float v, char *out)
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

void
embed_response_free(struct embed_response *r)
{
	free(r->values);
	free(r->model);
	memset(r, 0, sizeof(*r));
	r->prompt_tokens = -1;
	r->total_tokens = -1;
}

/* Read an optional non-negative integer member of usage into *dst. */
static int
get_count(const json_t *usage, const char *key, long long *dst, char *err,
    size_t errlen)
{
	const json_t *v;

	v = json_object_get(usage, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		(void)snprintf(err, errlen,
		    "response 'usage.%s' is not a non-negative integer", key);
		return -1;
	}
	*dst = (long long)json_integer_value(v);
	return 0;
}

/*
 * Decode the base64 embedding s (len characters) into *scratch, grown as
 * needed. Returns the number of float32 values, or -1 with a message.
 */
static ssize_t
decode_base64(size_t index, const char *s, size_t len,
    unsigned char **scratch, size_t *scratch_len, char *err, size_t errlen)
{
	unsigned char *p;
	size_t need;
	ssize_t n;

	need = base64_decoded_max(len);
	if (need > *scratch_len) {
		p = realloc(*scratch, need);
		if (p == NULL) {
			(void)snprintf(err, errlen, "out of memory decoding "
			    "embedding %zu", index);
			return -1;
		}
		*scratch = p;
		*scratch_len = need;
	}
	n = base64_decode(s, len, *scratch);
	if (n == -1) {
		(void)snprintf(err, errlen, "embedding %zu is not valid base64",
		    index);
		return -1;
	}
	if (n % 4 != 0) {
		(void)snprintf(err, errlen, "embedding %zu has %zd bytes, not "
		    "a whole number of float32", index, n);
		return -1;
	}
	return n / 4;
}

/* Convert n little-endian float32 from in to row, checking each. */
static int
store_base64_row(size_t index, const unsigned char *in, size_t n,
    float *row, char *err, size_t errlen)
{
	uint32_t bits;
	size_t i;

	for (i = 0; i < n; i++, in += 4) {
		bits = (uint32_t)in[0] | (uint32_t)in[1] << 8 |
		    (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
		if ((bits & 0x7f800000) == 0x7f800000) {
			(void)snprintf(err, errlen,
			    "embedding %zu value %zu is not finite", index, i);
			return -1;
		}
		memcpy(&row[i], &bits, sizeof(bits));
	}
	return 0;
}

/* Convert the JSON numbers of arr to row, checking each. */
static int
store_array_row(size_t index, const json_t *arr, float *row, char *err,
    size_t errlen)
{
	/* The least magnitude that rounds to infinity: FLT_MAX + ulp/2. */
	const double limit = (double)FLT_MAX + (double)FLT_MAX / 0x1p24 / 2;
	const json_t *v;
	double d;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (!json_is_number(v)) {
			(void)snprintf(err, errlen, "embedding %zu value %zu "
			    "is not a number", index, i);
			return -1;
		}
		d = json_number_value(v);
		if (!(d > -limit && d < limit)) {
			(void)snprintf(err, errlen, "embedding %zu value %zu "
			    "(%g) is not finite as a float32", index, i, d);
			return -1;
		}
		row[i] = (float)d;
	}
	return 0;
}

int
embed_parse(const char *body, size_t len, size_t n_inputs, long dimensions,
    struct embed_response *r, char *err, size_t errlen)
{
	json_t *root = NULL;
	json_error_t jerr;
	const json_t *data, *item, *v, *emb;
	const json_t **by_index = NULL;
	unsigned char *scratch = NULL;
	size_t scratch_len = 0, count, pos, i, dim;
	json_int_t index;
	ssize_t n;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->prompt_tokens = -1;
	r->total_tokens = -1;
	if (len == 0) {
		(void)snprintf(err, errlen, "response body is empty");
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "response is not JSON: %s",
		    jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "response is not a JSON object");
		goto out;
	}
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		(void)snprintf(err, errlen, "response has no 'data' array");
		goto out;
	}
	count = json_array_size(data);
	if (count != n_inputs || n_inputs == 0) {
		(void)snprintf(err, errlen,
		    "response has %zu embedding%s for %zu input%s", count,
		    count == 1 ? "" : "s", n_inputs, n_inputs == 1 ? "" : "s");
		goto out;
	}

	/* Put the items in index order; the API may send any order. */
	by_index = calloc(count, sizeof(*by_index));
	if (by_index == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(data, pos, item) {
		v = json_object_get(item, "index");
		if (!json_is_object(item) || !json_is_integer(v)) {
			(void)snprintf(err, errlen,
			    "response 'data[%zu]' has no integer 'index'", pos);
			goto out;
		}
		index = json_integer_value(v);
		if (index < 0 || (uintmax_t)index >= count) {
			(void)snprintf(err, errlen, "response 'data[%zu]' has "
			    "index %" JSON_INTEGER_FORMAT ", outside 0..%zu",
			    pos, index, count - 1);
			goto out;
		}
		if (by_index[index] != NULL) {
			(void)snprintf(err, errlen, "response has index %"
			    JSON_INTEGER_FORMAT " twice", index);
			goto out;
		}
		by_index[index] = item;
	}

	for (i = 0; i < count; i++) {
		emb = json_object_get(by_index[i], "embedding");
		if (json_is_string(emb)) {
			n = decode_base64(i, json_string_value(emb),
			    json_string_length(emb), &scratch, &scratch_len,
			    err, errlen);
			if (n == -1)
				goto out;
			dim = (size_t)n;
		} else if (json_is_array(emb))
			dim = json_array_size(emb);
		else {
			(void)snprintf(err, errlen, "embedding %zu is neither "
			    "a base64 string nor an array", i);
			goto out;
		}
		if (i == 0) {
			if (dim == 0) {
				(void)snprintf(err, errlen,
				    "embedding 0 is empty");
				goto out;
			}
			if (dimensions > 0 && dim != (size_t)dimensions) {
				(void)snprintf(err, errlen, "embedding 0 has "
				    "%zu dimensions, %ld were requested", dim,
				    dimensions);
				goto out;
			}
			if (dim > SIZE_MAX / sizeof(float) / count) {
				(void)snprintf(err, errlen, "out of memory");
				goto out;
			}
			r->values = malloc(count * dim * sizeof(float));
			if (r->values == NULL) {
				(void)snprintf(err, errlen, "out of memory "
				    "for %zu x %zu values", count, dim);
				goto out;
			}
			r->n = count;
			r->dim = dim;
		} else if (dim != r->dim) {
			(void)snprintf(err, errlen, "embedding %zu has %zu "
			    "dimensions, embedding 0 has %zu", i, dim, r->dim);
			goto out;
		}
		if (json_is_string(emb)) {
			if (store_base64_row(i, scratch, dim,
			    r->values + i * dim, err, errlen) == -1)
				goto out;
		} else if (store_array_row(i, emb, r->values + i * dim, err,
		    errlen) == -1)
			goto out;
	}

	v = json_object_get(root, "model");
	if (json_is_string(v)) {
		r->model = strdup(json_string_value(v));
		if (r->model == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	v = json_object_get(root, "usage");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v)) {
			(void)snprintf(err, errlen,
			    "response 'usage' is not an object");
			goto out;
		}
		if (get_count(v, "prompt_tokens", &r->prompt_tokens, err,
		    errlen) == -1 ||
		    get_count(v, "total_tokens", &r->total_tokens, err,
		    errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		embed_response_free(r);
	free(scratch);
	free(by_index);
	json_decref(root);
	return rc;
}

int
embed_format(const struct embed_response *r, const char *model,
    struct buf *out)
{
	const float *row;
	size_t i, j, room;
	char *start, *p;

	if (r->dim > (SIZE_MAX - 4) / EMBED_FLOAT_MAX) {
		errno = ENOMEM;
		return -1;
	}
	/* One reservation per row: the worst case, trimmed by commit. */
	room = r->dim * EMBED_FLOAT_MAX + 4;
	if (buf_append(out, "\"embeddings\":[", 14) == -1)
		return -1;
	for (i = 0; i < r->n; i++) {
		start = buf_reserve(out, room);
		if (start == NULL)
			return -1;
		p = start;
		if (i > 0)
			*p++ = ',';
		*p++ = '[';
		row = r->values + i * r->dim;
		for (j = 0; j < r->dim; j++) {
			if (j > 0)
				*p++ = ',';
			p += embed_float_format(row[j], p);
		}
		*p++ = ']';
		buf_commit(out, (size_t)(p - start));
	}
	if (buf_append(out, "],\"model\":", 10) == -1 ||
	    proto_append_json_string(out, r->model != NULL ? r->model :
	    model) == -1)
		return -1;
	if (r->prompt_tokens < 0 && r->total_tokens < 0)
		return 0;
	if (buf_append(out, ",\"usage\":{", 10) == -1)
		return -1;
	if (r->prompt_tokens >= 0 && buf_printf(out, "\"prompt_tokens\":%lld",
	    r->prompt_tokens) == -1)
		return -1;
	if (r->total_tokens >= 0 && buf_printf(out, "%s\"total_tokens\":%lld",
	    r->prompt_tokens >= 0 ? "," : "", r->total_tokens) == -1)
		return -1;
	return buf_append(out, "}", 1);
}

/* The string member key of obj, or NULL. */
static const char *
get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int
embed_error_parse(const char *body, size_t len, char *msg, size_t msglen,
    bool *quota)
{
	json_t *root;
	const json_t *error;
	const char *text = NULL, *type = NULL, *code = NULL;
	int rc = -1;

	if (msglen > 0)
		msg[0] = '\0';
	*quota = false;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	error = json_object_get(root, "error");
	if (json_is_object(error)) {
		text = get_str(error, "message");
		type = get_str(error, "type");
		code = get_str(error, "code");
	} else if (json_is_string(error))
		text = json_string_value(error);
	if (text == NULL)
		text = get_str(root, "message");
	if (text == NULL)
		text = get_str(root, "detail");
	if (text == NULL || text[0] == '\0')
		text = code != NULL ? code : type;
	if (text == NULL)
		goto out;
	(void)strlcpy(msg, text, msglen);
	*quota = (code != NULL && strcmp(code, "insufficient_quota") == 0) ||
	    (type != NULL && strcmp(type, "insufficient_quota") == 0);
	rc = 0;
out:
	json_decref(root);
	return rc;
}
