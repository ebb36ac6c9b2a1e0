/*
 * test_lines: the bounded line reader. Proves that lines split across
 * reads are joined, that a line of exactly the cap is taken and one byte
 * more is refused once and skipped to its end, that a last line without a
 * newline counts after EOF, and that done/ready tell the truth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol/lines.h"

struct pipe_fds {
	int	 r;
	int	 w;
};

static void
open_pipe(struct pipe_fds *p)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	p->r = fds[0];
	p->w = fds[1];
}

static void
put(struct pipe_fds *p, const char *s)
{
	assert_int_equal(write(p->w, s, strlen(s)), (ssize_t)strlen(s));
}

static void
expect_line(struct lines *l, const char *want)
{
	const char *line;
	size_t len;

	assert_true(lines_next(l, &line, &len));
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
}

static void
test_split_across_reads(void **state)
{
	struct pipe_fds p;
	struct lines l;
	const char *line;
	size_t len;

	(void)state;
	open_pipe(&p);
	lines_init(&l, 64);
	put(&p, "hel");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	assert_false(lines_ready(&l));
	assert_false(lines_next(&l, &line, &len));
	put(&p, "lo\n\nworld\n");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	assert_true(lines_ready(&l));
	expect_line(&l, "hello");
	expect_line(&l, "");
	expect_line(&l, "world");
	assert_false(lines_next(&l, &line, &len));
	assert_false(lines_done(&l));
	(void)close(p.w);
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_EOF);
	assert_true(lines_done(&l));
	lines_free(&l);
	(void)close(p.r);
}

static void
test_last_line_without_newline(void **state)
{
	struct pipe_fds p;
	struct lines l;
	const char *line;
	size_t len;

	(void)state;
	open_pipe(&p);
	lines_init(&l, 64);
	put(&p, "a\nlast");
	(void)close(p.w);
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	expect_line(&l, "a");
	assert_false(lines_next(&l, &line, &len));
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_EOF);
	expect_line(&l, "last");
	assert_true(lines_done(&l));
	assert_false(lines_next(&l, &line, &len));
	lines_free(&l);
	(void)close(p.r);
}

static void
test_cap(void **state)
{
	char exact[17], over[18];
	struct pipe_fds p;
	struct lines l;
	const char *head;
	size_t len;
	int i;

	(void)state;
	memset(exact, 'x', 16);
	exact[16] = '\0';
	memset(over, 'y', 17);
	over[17] = '\0';
	open_pipe(&p);
	lines_init(&l, 16);
	/* Exactly the cap, then its newline: taken. */
	put(&p, exact);
	put(&p, "\n");
	for (i = 0; i < 4 && !lines_ready(&l); i++)
		assert_int_equal(lines_read(&l, p.r, 8), LINES_OK);
	expect_line(&l, exact);
	/* One byte more: refused once, its head readable, then skipped
	 * however long it goes on; the next line is whole. */
	put(&p, "{\"id\":7,");
	put(&p, over);
	put(&p, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\nnext\n");
	for (i = 0; i < 8; i++) {
		enum lines_status st = lines_read(&l, p.r, 8);

		if (st == LINES_TOO_LONG)
			break;
		assert_int_equal(st, LINES_OK);
	}
	assert_true(i < 8);
	head = lines_head(&l, &len);
	assert_int_equal(len, 17);
	assert_memory_equal(head, "{\"id\":7,", 8);
	for (i = 0; i < 16 && !lines_ready(&l); i++)
		(void)lines_read(&l, p.r, 8);
	expect_line(&l, "next");
	lines_free(&l);
	(void)close(p.r);
	(void)close(p.w);
}

static void
test_close(void **state)
{
	struct pipe_fds p;
	struct lines l;
	const char *line;
	size_t len;

	(void)state;
	open_pipe(&p);
	lines_init(&l, 64);
	put(&p, "one\ntwo\n");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	lines_close(&l);
	assert_false(lines_next(&l, &line, &len));
	assert_true(lines_done(&l));
	lines_free(&l);
	(void)close(p.r);
	(void)close(p.w);
}

/* A line given back is handed out again, then the next one. */
static void
test_unget(void **state)
{
	struct pipe_fds p;
	struct lines l;

	(void)state;
	open_pipe(&p);
	lines_init(&l, 64);
	put(&p, "one\ntwo\n");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	expect_line(&l, "one");
	lines_unget(&l);
	assert_true(lines_ready(&l));
	expect_line(&l, "one");
	expect_line(&l, "two");
	lines_unget(&l);
	expect_line(&l, "two");
	lines_free(&l);
	(void)close(p.r);
	(void)close(p.w);
}

/* The line still arriving: measured, refused with its head readable,
 * dropped with the rest of it, while whole lines before it are kept and
 * the line after it is read as usual. */
static void
test_refuse_partial(void **state)
{
	struct pipe_fds p;
	struct lines l;
	const char *head, *line;
	size_t len;

	(void)state;
	open_pipe(&p);
	lines_init(&l, 1024);
	assert_int_equal(lines_partial(&l), 0);
	assert_null(lines_refuse_partial(&l, &len));
	assert_int_equal(len, 0);
	put(&p, "one\n{\"id\": 7, \"in");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	assert_int_equal(lines_held(&l), 17);
	assert_int_equal(lines_partial(&l), 13);
	head = lines_refuse_partial(&l, &len);
	assert_int_equal(len, 13);
	assert_memory_equal(head, "{\"id\": 7, \"in", 13);
	lines_discard(&l);
	assert_int_equal(lines_partial(&l), 0);
	expect_line(&l, "one");
	assert_false(lines_next(&l, &line, &len));
	put(&p, "put\": \"rest\"}\ntwo\nthr");
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_OK);
	expect_line(&l, "two");
	assert_int_equal(lines_partial(&l), 3);
	assert_false(lines_next(&l, &line, &len));
	(void)close(p.w);
	assert_int_equal(lines_read(&l, p.r, 1024), LINES_EOF);
	assert_int_equal(lines_partial(&l), 0);
	expect_line(&l, "thr");
	assert_true(lines_done(&l));
	lines_free(&l);
	(void)close(p.r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_across_reads),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_unget),
		cmocka_unit_test(test_refuse_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
