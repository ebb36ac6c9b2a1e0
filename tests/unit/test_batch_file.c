/*
 * test_batch_file: proves supervisor/batch/file.h on real files:
 * batch_file_drop_torn keeps complete lines and cuts a torn one (also
 * one longer than a read block, and a file with no newline at all);
 * batch_file_last_line returns the last line, empty lines included,
 * across block boundaries, and refuses one over the buffer's cap;
 * batch_file_count_lines counts, stops at a maximum and reports where.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch/file.h"
#include "buf.h"

/* A temporary file holding len bytes of data; unlinked at once. */
static int
file_with(const char *data, size_t len)
{
	char path[] = "/tmp/test_batch_file.XXXXXX";
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

/* len bytes of c, malloc'd; the test frees them. */
static char *
filled(size_t len, char c)
{
	char *data;

	data = malloc(len);
	assert_non_null(data);
	memset(data, c, len);
	return data;
}

static off_t
size_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static void
test_drop_torn(void **state)
{
	int fd;

	(void)state;
	fd = file_with("a\nbb\nccc", 8);
	assert_int_equal(batch_file_drop_torn(fd), 5);
	assert_int_equal(size_of(fd), 5);
	assert_int_equal(batch_file_drop_torn(fd), 5);
	(void)close(fd);
	fd = file_with("no newline", 10);
	assert_int_equal(batch_file_drop_torn(fd), 0);
	(void)close(fd);
	fd = file_with("", 0);
	assert_int_equal(batch_file_drop_torn(fd), 0);
	(void)close(fd);
}

static void
test_drop_torn_long(void **state)
{
	size_t len = 300 * 1024;
	char *data;
	int fd;

	(void)state;
	data = filled(len, 'x');
	data[10] = '\n';
	fd = file_with(data, len);
	assert_int_equal(batch_file_drop_torn(fd), 11);
	(void)close(fd);
	free(data);
}

static void
test_last_line(void **state)
{
	struct buf line;
	off_t start;
	int fd;

	(void)state;
	buf_init(&line, 1024);
	fd = file_with("one\ntwo\nthree\n", 14);
	assert_int_equal(batch_file_last_line(fd, 14, &line, &start), 1);
	assert_string_equal(buf_data(&line), "three");
	assert_int_equal(start, 8);
	assert_int_equal(batch_file_last_line(fd, 8, &line, &start), 1);
	assert_string_equal(buf_data(&line), "two");
	assert_int_equal(batch_file_last_line(fd, 4, &line, &start), 1);
	assert_string_equal(buf_data(&line), "one");
	assert_int_equal(start, 0);
	assert_int_equal(batch_file_last_line(fd, 0, &line, &start), 0);
	(void)close(fd);
	fd = file_with("a\n\n", 3);
	assert_int_equal(batch_file_last_line(fd, 3, &line, &start), 1);
	assert_int_equal(buf_len(&line), 0);
	assert_int_equal(start, 2);
	(void)close(fd);
	buf_free(&line);
}

static void
test_last_line_long(void **state)
{
	size_t len = 200 * 1024 + 3;
	struct buf line;
	off_t start;
	char *data;
	int fd;

	(void)state;
	data = filled(len, 'y');
	data[0] = 'a';
	data[1] = '\n';
	data[len - 1] = '\n';
	fd = file_with(data, len);
	buf_init(&line, len);
	assert_int_equal(batch_file_last_line(fd, (off_t)len, &line, &start),
	    1);
	assert_int_equal(buf_len(&line), len - 3);
	assert_int_equal(start, 2);
	buf_free(&line);
	/* One byte over the cap. */
	buf_init(&line, len - 4);
	assert_int_equal(batch_file_last_line(fd, (off_t)len, &line, &start),
	    -1);
	assert_int_equal(errno, ENOBUFS);
	buf_free(&line);
	(void)close(fd);
	free(data);
}

static void
test_count_lines(void **state)
{
	uint64_t count;
	off_t end;
	int fd;

	(void)state;
	fd = file_with("a\nb\nc\ntorn", 10);
	assert_int_equal(batch_file_count_lines(fd, UINT64_MAX, &count, &end),
	    0);
	assert_int_equal(count, 3);
	assert_int_equal(end, 6);
	assert_int_equal(batch_file_count_lines(fd, 2, &count, &end), 0);
	assert_int_equal(count, 2);
	assert_int_equal(end, 4);
	assert_int_equal(batch_file_count_lines(fd, 0, &count, &end), 0);
	assert_int_equal(count, 0);
	assert_int_equal(end, 0);
	(void)close(fd);
}

static void
test_count_lines_many(void **state)
{
	size_t n = 100000, i;
	uint64_t count;
	off_t end;
	char *data;
	int fd;

	(void)state;
	data = malloc(2 * n);
	assert_non_null(data);
	for (i = 0; i < n; i++) {
		data[2 * i] = 'z';
		data[2 * i + 1] = '\n';
	}
	fd = file_with(data, 2 * n);
	assert_int_equal(batch_file_count_lines(fd, UINT64_MAX, &count, &end),
	    0);
	assert_int_equal(count, n);
	assert_int_equal(end, 2 * n);
	assert_int_equal(batch_file_count_lines(fd, 65537, &count, &end), 0);
	assert_int_equal(end, 2 * 65537);
	(void)close(fd);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_torn),
		cmocka_unit_test(test_drop_torn_long),
		cmocka_unit_test(test_last_line),
		cmocka_unit_test(test_last_line_long),
		cmocka_unit_test(test_count_lines),
		cmocka_unit_test(test_count_lines_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
