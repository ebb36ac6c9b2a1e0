/*
 * test_batch_npy: proves supervisor/batch/npy.h: the header is 128
 * bytes, version 1.0, its length field matches, the data starts at a
 * multiple of 64, the dictionary ends in a newline and reads back through
 * batch_npy_parse for 0, small and 2^64-1 rows; a header as NumPy itself
 * writes it (version 1.0 and 2.0, other spacing, a trailing comma in the
 * shape) is read; a short buffer asks for more; other dtypes, Fortran
 * order, one or three dimensions and foreign files are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "batch/npy.h"

static void
test_header_layout(void **state)
{
	char h[BATCH_NPY_HEADER_LEN];
	size_t dict_len;

	(void)state;
	batch_npy_header(1000, 1536, h);
	assert_memory_equal(h, "\x93NUMPY\x01\x00", 8);
	dict_len = (size_t)(unsigned char)h[8] |
	    (size_t)(unsigned char)h[9] << 8;
	assert_int_equal(10 + dict_len, BATCH_NPY_HEADER_LEN);
	assert_int_equal(BATCH_NPY_HEADER_LEN % 64, 0);
	assert_int_equal(h[BATCH_NPY_HEADER_LEN - 1], '\n');
	assert_memory_equal(h + 10, "{'descr': '<f4', 'fortran_order': False, "
	    "'shape': (1000, 1536), }", 65);
	/* Only spaces between the dictionary and the newline. */
	assert_int_equal(strspn(h + 10 + 65, " "), BATCH_NPY_HEADER_LEN - 76);
}

static void
roundtrip(uint64_t rows, uint64_t dim)
{
	char h[BATCH_NPY_HEADER_LEN], err[128];
	uint64_t r, d;
	size_t off;

	batch_npy_header(rows, dim, h);
	assert_int_equal(batch_npy_parse(h, sizeof(h), &r, &d, &off, err,
	    sizeof(err)), 1);
	assert_true(r == rows && d == dim);
	assert_int_equal(off, BATCH_NPY_HEADER_LEN);
}

static void
test_header_roundtrip(void **state)
{
	(void)state;
	roundtrip(0, 0);
	roundtrip(0, 8);
	roundtrip(5, 8);
	roundtrip(99968, 3072);
	roundtrip(UINT64_MAX, UINT64_MAX);
}

static void
test_parse_overflow(void **state)
{
	char h[BATCH_NPY_HEADER_LEN], err[128];
	uint64_t r, d;
	size_t off;

	(void)state;
	batch_npy_header(UINT64_MAX, 1, h);
	/* 18446744073709551615 becomes ...616: one past the largest. */
	h[10 + 70] = '6';
	assert_int_equal(batch_npy_parse(h, sizeof(h), &r, &d, &off, err,
	    sizeof(err)), -1);
}

static void
test_parse_numpy_headers(void **state)
{
	static const char v1[] = "\x93NUMPY\x01\x00\x46\x00"
	    "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"
	    "           \n";
	char v2[128], err[128];
	const char *dict = "{'shape':(7,4,),'fortran_order':False,"
	    "'descr':'<f4'}\n";
	uint64_t r, d;
	size_t off, n = strlen(dict);

	(void)state;
	assert_int_equal(batch_npy_parse(v1, sizeof(v1) - 1, &r, &d, &off,
	    err, sizeof(err)), 1);
	assert_true(r == 3 && d == 2 && off == 80);
	memcpy(v2, "\x93NUMPY\x02\x00", 8);
	v2[8] = (char)n;
	v2[9] = v2[10] = v2[11] = 0;
	memcpy(v2 + 12, dict, n);
	assert_int_equal(batch_npy_parse(v2, 12 + n, &r, &d, &off, err,
	    sizeof(err)), 1);
	assert_true(r == 7 && d == 4 && off == 12 + n);
}

static void
test_parse_short(void **state)
{
	char h[BATCH_NPY_HEADER_LEN], err[128];
	uint64_t r, d;
	size_t off, len;

	(void)state;
	batch_npy_header(1, 2, h);
	for (len = 0; len < sizeof(h); len++)
		assert_int_equal(batch_npy_parse(h, len, &r, &d, &off, err,
		    sizeof(err)), 0);
}

static void
refuse(const char *dict, const char *want)
{
	char h[256], err[128];
	uint64_t r, d;
	size_t off, n = strlen(dict);

	memcpy(h, "\x93NUMPY\x01\x00", 8);
	h[8] = (char)n;
	h[9] = 0;
	memcpy(h + 10, dict, n);
	assert_int_equal(batch_npy_parse(h, 10 + n, &r, &d, &off, err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
test_parse_refuses(void **state)
{
	char err[128];
	uint64_t r, d;
	size_t off;

	(void)state;
	refuse("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }\n",
	    ".npy data is not little-endian float32 ('<f4')");
	refuse("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }\n",
	    ".npy data is not little-endian float32 ('<f4')");
	refuse("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }\n",
	    ".npy data is not in C order");
	refuse("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n",
	    ".npy array is not two-dimensional");
	refuse("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), "
	    "}\n", ".npy array is not two-dimensional");
	refuse("{'descr': '<f4', 'fortran_order': False}\n",
	    ".npy header has no shape");
	assert_int_equal(batch_npy_parse("{\"id\":1,\"embedding\":[]}\n", 25,
	    &r, &d, &off, err, sizeof(err)), -1);
	assert_string_equal(err, "not a .npy file");
	assert_int_equal(batch_npy_parse("{\"i", 3, &r, &d, &off, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_npy_parse("\x93NUMPY\x03\x00\x10\x00xx", 12,
	    &r, &d, &off, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_parse_overflow),
		cmocka_unit_test(test_parse_numpy_headers),
		cmocka_unit_test(test_parse_short),
		cmocka_unit_test(test_parse_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
