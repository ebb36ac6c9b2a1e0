/*
 * test_buf: proves the capped buffer of shared/buf.h keeps its promises:
 * appends stop at exactly the cap and fail with ENOBUFS one byte past it,
 * leaving the buffer unchanged; consuming and compacting never lose or
 * reorder bytes (checked against a plain array over thousands of random
 * operations); the bytes are always NUL-terminated; buf_steal, buf_truncate
 * and buf_printf past its 256-byte fast path behave; buf_read_fd stops at
 * the cap and keeps a line split across reads; buf_write_fd reports EAGAIN
 * on a full non-blocking pipe and consumes exactly what was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "io.h"

/* A small deterministic generator, so a failing sequence can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : rng_next() % n;
}

/* The live bytes are followed by a NUL that is not counted. */
static void
assert_terminated(const struct buf *b)
{
	assert_non_null(buf_data(b));
	assert_int_equal(buf_data(b)[buf_len(b)], '\0');
}

static void
assert_content(const struct buf *b, const char *p, size_t n)
{
	assert_int_equal(buf_len(b), n);
	if (n > 0)
		assert_memory_equal(buf_data(b), p, n);
	assert_terminated(b);
}

static void
make_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

static void
close_pipe(int fds[2])
{
	if (fds[0] != -1)
		assert_int_equal(close(fds[0]), 0);
	if (fds[1] != -1)
		assert_int_equal(close(fds[1]), 0);
}

static void
test_empty(void **state)
{
	struct buf b;
	size_t len = 99;
	char *p;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_data(&b), "");
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_len(&b), 0);
	buf_consume(&b, 0);
	buf_truncate(&b, 0);
	buf_truncate(&b, 5);
	buf_clear(&b);
	assert_int_equal(buf_len(&b), 0);
	/* Stealing a never-used buffer still gives a string to free. */
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	buf_free(&b);
	buf_free(&b);
	assert_int_equal(buf_len(&b), 0);
}

static void
test_exactly_cap(void **state)
{
	struct buf b;
	char want[100];

	(void)state;
	memset(want, 'x', sizeof(want));
	buf_init(&b, sizeof(want));
	assert_int_equal(buf_append(&b, want, sizeof(want)), 0);
	assert_content(&b, want, sizeof(want));
	/* Appending nothing to a full buffer is not an error. */
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_content(&b, want, sizeof(want));
	buf_free(&b);

	/* The same cap reached in pieces. */
	buf_init(&b, sizeof(want));
	assert_int_equal(buf_append(&b, want, 60), 0);
	assert_int_equal(buf_append(&b, want, 40), 0);
	assert_content(&b, want, sizeof(want));
	buf_free(&b);
}

static void
test_cap_plus_one(void **state)
{
	struct buf b;
	char big[101];
	char *before;

	(void)state;
	memset(big, 'y', sizeof(big));

	/* One append over the cap on an empty buffer. */
	buf_init(&b, 100);
	errno = 0;
	assert_int_equal(buf_append(&b, big, 101), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "", 0);
	buf_free(&b);

	/* The byte that crosses the cap, on a buffer holding data. */
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, big, 100), 0);
	before = buf_data(&b);
	errno = 0;
	assert_int_equal(buf_append(&b, "z", 1), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_ptr_equal(buf_data(&b), before);
	assert_content(&b, big, 100);
	buf_free(&b);

	/* A partial fill plus a chunk one byte too long. */
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	errno = 0;
	assert_int_equal(buf_append(&b, big, 98), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "abc", 3);
	assert_int_equal(buf_append(&b, big, 97), 0);
	assert_int_equal(buf_len(&b), 100);
	buf_free(&b);

	/* A huge n must not wrap the cap check. */
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	errno = 0;
	assert_null(buf_reserve(&b, SIZE_MAX));
	assert_int_equal(errno, ENOBUFS);
	errno = 0;
	assert_null(buf_reserve(&b, SIZE_MAX - 1));
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "abc", 3);
	buf_free(&b);
}

static void
test_zero_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	errno = 0;
	assert_int_equal(buf_append(&b, "a", 1), -1);
	assert_int_equal(errno, ENOBUFS);
	errno = 0;
	assert_int_equal(buf_printf(&b, "%s", "a"), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "", 0);
	buf_free(&b);
}

static void
test_consume_then_append(void **state)
{
	struct buf b;
	char want[64];
	size_t i;

	(void)state;
	buf_init(&b, 64);
	for (i = 0; i < 64; i++)
		want[i] = (char)('A' + i % 26);
	assert_int_equal(buf_append(&b, want, 64), 0);
	/* A small dead prefix, then a big one: both must compact. */
	buf_consume(&b, 1);
	assert_content(&b, want + 1, 63);
	assert_int_equal(buf_append(&b, "1", 1), 0);
	assert_int_equal(buf_len(&b), 64);
	assert_memory_equal(buf_data(&b), want + 1, 63);
	assert_int_equal(buf_data(&b)[63], '1');
	assert_terminated(&b);

	buf_consume(&b, 50);
	assert_int_equal(buf_len(&b), 14);
	assert_int_equal(buf_append(&b, "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMN", 50), 0);
	assert_int_equal(buf_len(&b), 64);
	assert_memory_equal(buf_data(&b), want + 51, 13);
	assert_int_equal(buf_data(&b)[13], '1');
	assert_memory_equal(buf_data(&b) + 14, "0123456789", 10);
	assert_terminated(&b);

	/* Still capped after compaction. */
	errno = 0;
	assert_int_equal(buf_append(&b, "!", 1), -1);
	assert_int_equal(errno, ENOBUFS);

	/* Consuming everything empties the buffer. */
	buf_consume(&b, buf_len(&b));
	assert_content(&b, "", 0);
	assert_int_equal(buf_append(&b, want, 64), 0);
	assert_content(&b, want, 64);
	buf_free(&b);
}

static void
test_reserve_commit(void **state)
{
	struct buf b;
	char *p;

	(void)state;
	buf_init(&b, 10);
	p = buf_reserve(&b, 10);
	assert_non_null(p);
	memcpy(p, "hello", 5);
	buf_commit(&b, 5);
	assert_content(&b, "hello", 5);
	errno = 0;
	assert_null(buf_reserve(&b, 6));
	assert_int_equal(errno, ENOBUFS);
	p = buf_reserve(&b, 5);
	assert_non_null(p);
	buf_commit(&b, 0);
	assert_content(&b, "hello", 5);
	memcpy(p, "world", 5);
	buf_commit(&b, 5);
	assert_content(&b, "helloworld", 10);
	buf_free(&b);
}

static void
test_truncate(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "hello world", 11), 0);
	buf_truncate(&b, 11);
	assert_content(&b, "hello world", 11);
	buf_truncate(&b, 100);
	assert_content(&b, "hello world", 11);
	buf_truncate(&b, 5);
	assert_content(&b, "hello", 5);
	/* After a consume, n counts live bytes, not offsets. */
	buf_consume(&b, 2);
	buf_truncate(&b, 2);
	assert_content(&b, "ll", 2);
	assert_int_equal(buf_append(&b, "ama", 3), 0);
	assert_content(&b, "llama", 5);
	buf_truncate(&b, 0);
	assert_content(&b, "", 0);
	buf_free(&b);
}

static void
test_steal(void **state)
{
	struct buf b;
	size_t len;
	char *p;

	(void)state;
	/* Nothing consumed: the buffer's own memory is handed over. */
	buf_init(&b, 32);
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 6);
	assert_string_equal(p, "abcdef");
	free(p);
	assert_content(&b, "", 0);
	/* The buffer is reusable with the same cap. */
	assert_int_equal(buf_append(&b, "0123456789012345678901234567890"
	    "1", 32), 0);
	errno = 0;
	assert_int_equal(buf_append(&b, "x", 1), -1);
	assert_int_equal(errno, ENOBUFS);

	/* With a dead prefix: only the live bytes come out. */
	buf_consume(&b, 30);
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 2);
	assert_string_equal(p, "01");
	free(p);
	assert_content(&b, "", 0);
	assert_int_equal(buf_append(&b, "again", 5), 0);
	assert_content(&b, "again", 5);
	buf_free(&b);
}

static void
test_printf(void **state)
{
	struct buf b;
	char want[1200];
	size_t i;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_content(&b, "42-x", 4);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_content(&b, "42-x", 4);
	buf_clear(&b);

	/* 255, 256 and 257 bytes: both sides of the stack buffer. */
	for (i = 255; i <= 257; i++) {
		memset(want, 'a' + (int)(i - 255), i);
		want[i] = '\0';
		assert_int_equal(buf_printf(&b, "%s", want), 0);
		assert_content(&b, want, i);
		buf_clear(&b);
	}

	/* Well past 256, after existing bytes and a dead prefix. */
	assert_int_equal(buf_append(&b, "prefix:", 7), 0);
	buf_consume(&b, 3);
	for (i = 0; i < 1000; i++)
		want[i] = (char)('0' + i % 10);
	want[1000] = '\0';
	assert_int_equal(buf_printf(&b, "[%s|%5d]", want, 7), 0);
	assert_int_equal(buf_len(&b), 4 + 1 + 1000 + 7);
	assert_memory_equal(buf_data(&b), "fix:[", 5);
	assert_memory_equal(buf_data(&b) + 5, want, 1000);
	assert_memory_equal(buf_data(&b) + 1005, "|    7]", 7);
	assert_terminated(&b);
	buf_free(&b);
}

static void
test_printf_over_cap(void **state)
{
	struct buf b;
	char big[600];

	(void)state;
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	/* The short path. */
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	errno = 0;
	assert_int_equal(buf_printf(&b, "%s", "678901"), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "12345", 5);
	assert_int_equal(buf_printf(&b, "%s", "67890"), 0);
	assert_content(&b, "1234567890", 10);
	buf_free(&b);

	/* The long path: exactly the cap, then one over. */
	buf_init(&b, 600);
	assert_int_equal(buf_append(&b, "a", 1), 0);
	assert_int_equal(buf_printf(&b, "%s", big), 0);
	assert_int_equal(buf_len(&b), 600);
	buf_truncate(&b, 1);
	assert_int_equal(buf_append(&b, "b", 1), 0);
	errno = 0;
	assert_int_equal(buf_printf(&b, "%s", big), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "ab", 2);
	buf_free(&b);
}

static void
test_random_against_model(void **state)
{
	enum { CAP = 300, ROUNDS = 20000 };
	char model[CAP], chunk[CAP + 8];
	struct buf b;
	size_t len = 0, n, i, got;
	char *p;
	int r;

	(void)state;
	buf_init(&b, CAP);
	for (i = 0; i < ROUNDS; i++) {
		switch (rng_below(7)) {
		case 0:
		case 1:
		case 2:
			n = rng_below(CAP / 3);
			for (got = 0; got < n; got++)
				chunk[got] = (char)(1 + rng_below(255));
			r = buf_append(&b, chunk, n);
			if (len + n > CAP) {
				assert_int_equal(r, -1);
				assert_int_equal(errno, ENOBUFS);
			} else {
				assert_int_equal(r, 0);
				memcpy(model + len, chunk, n);
				len += n;
			}
			break;
		case 3:
		case 4:
			n = rng_below(len + 1);
			buf_consume(&b, n);
			memmove(model, model + n, len - n);
			len -= n;
			break;
		case 5:
			n = rng_below(len + 2);
			buf_truncate(&b, n);
			if (n < len)
				len = n;
			break;
		default:
			n = rng_below(20);
			r = buf_printf(&b, "<%zu>", n);
			got = (size_t)snprintf(chunk, sizeof(chunk), "<%zu>",
			    n);
			if (len + got > CAP) {
				assert_int_equal(r, -1);
				assert_int_equal(errno, ENOBUFS);
			} else {
				assert_int_equal(r, 0);
				memcpy(model + len, chunk, got);
				len += got;
			}
			break;
		}
		assert_content(&b, model, len);
	}
	p = buf_steal(&b, &got);
	assert_non_null(p);
	assert_int_equal(got, len);
	if (len > 0)
		assert_memory_equal(p, model, len);
	free(p);
	buf_free(&b);
}

static void
test_read_fd_split_line(void **state)
{
	struct buf b;
	int fds[2];
	char *nl;

	(void)state;
	make_pipe(fds);
	buf_init(&b, 64);
	assert_int_equal(write(fds[1], "{\"id\":", 6), 6);
	assert_int_equal(buf_read_fd(&b, fds[0], 64), 6);
	assert_null(memchr(buf_data(&b), '\n', buf_len(&b)));
	assert_int_equal(write(fds[1], "1}\n{\"id\"", 8), 8);
	assert_int_equal(buf_read_fd(&b, fds[0], 64), 8);
	assert_content(&b, "{\"id\":1}\n{\"id\"", 14);
	nl = memchr(buf_data(&b), '\n', buf_len(&b));
	assert_non_null(nl);
	buf_consume(&b, (size_t)(nl - buf_data(&b)) + 1);
	assert_content(&b, "{\"id\"", 5);

	/* want limits one read. */
	assert_int_equal(write(fds[1], ":2}\n", 4), 4);
	assert_int_equal(buf_read_fd(&b, fds[0], 1), 1);
	assert_content(&b, "{\"id\":", 6);
	assert_int_equal(buf_read_fd(&b, fds[0], 64), 3);
	assert_content(&b, "{\"id\":2}\n", 9);

	/* EOF is 0, and leaves the buffer as it was. */
	assert_int_equal(close(fds[1]), 0);
	fds[1] = -1;
	assert_int_equal(buf_read_fd(&b, fds[0], 64), 0);
	assert_content(&b, "{\"id\":2}\n", 9);
	buf_free(&b);
	close_pipe(fds);
}

static void
test_read_fd_reaches_cap(void **state)
{
	struct buf b;
	int fds[2];
	char in[20];

	(void)state;
	make_pipe(fds);
	memcpy(in, "0123456789abcdefghij", 20);
	assert_int_equal(write(fds[1], in, 20), 20);
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "xyz", 3), 0);
	/* Only the room left is read, however much is wanted. */
	assert_int_equal(buf_read_fd(&b, fds[0], 100), 5);
	assert_content(&b, "xyz01234", 8);
	errno = 0;
	assert_int_equal(buf_read_fd(&b, fds[0], 100), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_content(&b, "xyz01234", 8);
	/* Consuming makes room again; nothing in the pipe was lost. */
	buf_consume(&b, 3);
	assert_int_equal(buf_read_fd(&b, fds[0], 100), 3);
	assert_content(&b, "01234567", 8);
	buf_clear(&b);
	assert_int_equal(buf_read_fd(&b, fds[0], 100), 8);
	assert_content(&b, "89abcdef", 8);
	buf_free(&b);
	close_pipe(fds);
}

static void
test_read_fd_errors(void **state)
{
	struct buf b;
	int fds[2];

	(void)state;
	make_pipe(fds);
	assert_true(io_set_nonblock(fds[0], true) != -1);
	buf_init(&b, 16);
	assert_int_equal(buf_append(&b, "keep", 4), 0);
	errno = 0;
	assert_int_equal(buf_read_fd(&b, fds[0], 16), -1);
	assert_int_equal(errno, EAGAIN);
	assert_content(&b, "keep", 4);
	close_pipe(fds);
	errno = 0;
	assert_int_equal(buf_read_fd(&b, fds[0], 16), -1);
	assert_int_equal(errno, EBADF);
	assert_content(&b, "keep", 4);
	buf_free(&b);
}

static void
test_write_fd_full_pipe(void **state)
{
	struct buf b;
	int fds[2], pipe_size;
	size_t total, written = 0, i;
	ssize_t n;
	char *all, *back;

	(void)state;
	make_pipe(fds);
	pipe_size = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_true(pipe_size >= 4096);
	assert_true(io_set_nonblock(fds[1], true) != -1);
	assert_true(io_set_nonblock(fds[0], true) != -1);
	total = (size_t)pipe_size * 3;
	all = malloc(total);
	back = malloc(total);
	assert_non_null(all);
	assert_non_null(back);
	for (i = 0; i < total; i++)
		all[i] = (char)('a' + i % 23);

	buf_init(&b, total);
	assert_int_equal(buf_append(&b, all, total), 0);
	/* Writes until the pipe is full; each consumes what it wrote. */
	for (;;) {
		n = buf_write_fd(&b, fds[1]);
		if (n == -1)
			break;
		assert_true(n > 0);
		written += (size_t)n;
		assert_content(&b, all + written, total - written);
	}
	assert_int_equal(errno, EAGAIN);
	assert_true(written > 0);
	assert_true(written < total);
	assert_content(&b, all + written, total - written);
	errno = 0;
	assert_int_equal(buf_write_fd(&b, fds[1]), -1);
	assert_int_equal(errno, EAGAIN);
	assert_content(&b, all + written, total - written);

	/* What reached the pipe is exactly the front of the buffer. */
	assert_int_equal(io_read(fds[0], back, total), (ssize_t)written);
	assert_memory_equal(back, all, written);

	/* Drained: the rest goes, and an empty buffer writes nothing. */
	while (buf_len(&b) > 0) {
		n = buf_write_fd(&b, fds[1]);
		assert_true(n > 0);
		assert_int_equal(io_read(fds[0], back + written, (size_t)n),
		    n);
		written += (size_t)n;
	}
	assert_int_equal(written, total);
	assert_memory_equal(back, all, total);
	assert_int_equal(buf_write_fd(&b, fds[1]), 0);
	buf_free(&b);
	free(all);
	free(back);
	close_pipe(fds);
}

static void
test_write_fd_epipe(void **state)
{
	struct sigaction ign, old;
	struct buf b;
	int fds[2];

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigemptyset(&ign.sa_mask), 0);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	make_pipe(fds);
	assert_int_equal(close(fds[0]), 0);
	fds[0] = -1;
	buf_init(&b, 16);
	assert_int_equal(buf_append(&b, "lost", 4), 0);
	errno = 0;
	assert_int_equal(buf_write_fd(&b, fds[1]), -1);
	assert_int_equal(errno, EPIPE);
	assert_content(&b, "lost", 4);
	buf_free(&b);
	close_pipe(fds);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

/*
 * A cap of SIZE_MAX ("no limit") is a valid size_t. In a child, because
 * the memory errors it provokes would take the whole test run down.
 */
static int
cap_size_max_child(void)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	if (buf_append(&b, "hello", 5) == -1)
		return 11;
	if (buf_append(&b, " world, a longer second piece that needs room "
	    "beyond the first allocation", 73) == -1)
		return 12;
	if (buf_len(&b) != 78 || memcmp(buf_data(&b), "hello world", 11) != 0)
		return 13;
	buf_free(&b);
	return 0;
}

static void
test_cap_size_max(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(cap_size_max_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("buf with cap SIZE_MAX: child killed by signal %d",
		    WTERMSIG(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("buf with cap SIZE_MAX: child exited %d (11: first "
		    "append failed, 12: second append failed, 13: wrong bytes, "
		    "other: a sanitizer report above)",
		    WEXITSTATUS(st));
}

/* buf_shrink gives back all but the live bytes and the room asked for,
 * keeps the live bytes (also after a consume), and respects the cap. */
static void
test_shrink(void **state)
{
	struct buf b;
	char *p;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_shrink(&b, 100);		/* nothing allocated: a no-op */
	assert_int_equal(buf_len(&b), 0);
	p = buf_reserve(&b, 1 << 19);
	assert_non_null(p);
	memset(p, 'x', 1 << 19);
	buf_commit(&b, 1 << 19);
	buf_consume(&b, (1 << 19) - 3);
	buf_shrink(&b, 10);
	assert_int_equal(buf_len(&b), 3);
	assert_memory_equal(buf_data(&b), "xxx", 4);	/* and the NUL */
	assert_true(b.alloc <= 3 + 10 + 1);
	assert_int_equal(buf_append(&b, "abcdefghij", 10), 0);
	assert_string_equal(buf_data(&b), "xxxabcdefghij");
	buf_clear(&b);
	buf_shrink(&b, SIZE_MAX);	/* capped at max */
	assert_true(b.alloc <= (1 << 20) + 1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_exactly_cap),
		cmocka_unit_test(test_cap_plus_one),
		cmocka_unit_test(test_zero_cap),
		cmocka_unit_test(test_consume_then_append),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_over_cap),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_read_fd_split_line),
		cmocka_unit_test(test_read_fd_reaches_cap),
		cmocka_unit_test(test_read_fd_errors),
		cmocka_unit_test(test_write_fd_full_pipe),
		cmocka_unit_test(test_write_fd_epipe),
		cmocka_unit_test(test_cap_size_max),
		cmocka_unit_test(test_shrink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
