/*
 * batch/npy: see npy.h. The format is NumPy's "NEP 1": magic
 * "\x93NUMPY", major and minor version bytes, the dictionary's length
 * (2 bytes little-endian in 1.0, 4 in 2.0), then the dictionary as a
 * Python literal ending in a newline.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "batch/npy.h"

#define MAGIC		"\x93NUMPY"
#define MAGIC_LEN	6

void
batch_npy_header(uint64_t rows, uint64_t dim, char out[BATCH_NPY_HEADER_LEN])
{
	size_t dict_len = BATCH_NPY_HEADER_LEN - 10;
	int n;

	memset(out, ' ', BATCH_NPY_HEADER_LEN);
	memcpy(out, MAGIC, MAGIC_LEN);
	out[6] = 1;
	out[7] = 0;
	out[8] = (char)(dict_len & 0xff);
	out[9] = (char)(dict_len >> 8);
	/* At most 84 bytes with 20-digit numbers: it always fits. */
	n = snprintf(out + 10, dict_len, "{'descr': '<f4', 'fortran_order': "
	    "False, 'shape': (%" PRIu64 ", %" PRIu64 "), }", rows, dim);
	out[10 + n] = ' ';
	out[BATCH_NPY_HEADER_LEN - 1] = '\n';
}

/* The text after key and its colon in dict, or NULL. */
static const char *
find_value(const char *dict, size_t len, const char *key)
{
	size_t klen = strlen(key), i;

	for (i = 0; i + klen <= len; i++) {
		if (memcmp(dict + i, key, klen) != 0)
			continue;
		for (i += klen; i < len && dict[i] == ' '; i++)
			continue;
		if (i >= len || dict[i] != ':')
			return NULL;
		for (i++; i < len && dict[i] == ' '; i++)
			continue;
		return dict + i;
	}
	return NULL;
}

/* Read a decimal at *p (before end) into *v, advancing *p. */
static bool
read_uint(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t n = 0;

	while (s < end && *s == ' ')
		s++;
	if (s >= end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (n > UINT64_MAX / 10 ||
		    n * 10 > UINT64_MAX - (uint64_t)(*s - '0'))
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	while (s < end && *s == ' ')
		s++;
	*p = s;
	*v = n;
	return true;
}

int
batch_npy_parse(const char *p, size_t len, uint64_t *rows, uint64_t *dim,
    size_t *data_off, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)p;
	const char *dict, *end, *v;
	size_t dict_len, hdr;

	if (memcmp(p, MAGIC, len < MAGIC_LEN ? len : MAGIC_LEN) != 0) {
		(void)snprintf(err, errlen, "not a .npy file");
		return -1;
	}
	if (len < 12)
		return 0;
	if (u[6] == 1) {
		dict_len = (size_t)u[8] | (size_t)u[9] << 8;
		hdr = 10;
	} else if (u[6] == 2) {
		dict_len = (size_t)u[8] | (size_t)u[9] << 8 |
		    (size_t)u[10] << 16 | (size_t)u[11] << 24;
		hdr = 12;
	} else {
		(void)snprintf(err, errlen, ".npy version %u.%u is not 1.0 or "
		    "2.0", u[6], u[7]);
		return -1;
	}
	if (len < hdr + dict_len)
		return 0;
	dict = p + hdr;
	end = dict + dict_len;
	v = find_value(dict, dict_len, "'descr'");
	if (v == NULL || end - v < 5 || memcmp(v, "'<f4'", 5) != 0) {
		(void)snprintf(err, errlen, ".npy data is not little-endian "
		    "float32 ('<f4')");
		return -1;
	}
	v = find_value(dict, dict_len, "'fortran_order'");
	if (v == NULL || end - v < 5 || memcmp(v, "False", 5) != 0) {
		(void)snprintf(err, errlen, ".npy data is not in C order");
		return -1;
	}
	v = find_value(dict, dict_len, "'shape'");
	if (v == NULL || v >= end || *v != '(') {
		(void)snprintf(err, errlen, ".npy header has no shape");
		return -1;
	}
	v++;
	if (!read_uint(&v, end, rows) || v >= end || *v++ != ',' ||
	    !read_uint(&v, end, dim)) {
		(void)snprintf(err, errlen, ".npy array is not "
		    "two-dimensional");
		return -1;
	}
	if (v < end && *v == ',')
		for (v++; v < end && *v == ' '; v++)
			continue;
	if (v >= end || *v != ')') {
		(void)snprintf(err, errlen, ".npy array is not "
		    "two-dimensional");
		return -1;
	}
	*data_off = hdr + dict_len;
	return 1;
}
