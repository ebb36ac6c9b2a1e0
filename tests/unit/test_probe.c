/*
 * test_probe: worker/probe.h without a transfer: a report is one 'P'
 * frame of "nothing reached yet"; a flush with nothing new writes
 * nothing; a probe without frames writes none; a frame that cannot be
 * written ends the frames for good (once the descriptor has room again,
 * still nothing comes); the elapsed time counts from t0 and is capped at
 * INT32_MAX. The milestones themselves are proved by the integration
 * tests, through the messages about killed and timed out calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "io.h"
#include "log.h"
#include "probe.h"
#include "proto_frame.h"

/* Read what the pipe holds now; its read end does not block. */
static void
drain(int fd, struct buf *b)
{
	while (buf_read_fd(b, fd, 65536) > 0)
		;
}

/* How many P frames b holds; the last one decoded into *last. */
static int
count_frames(struct buf *b, struct proto_progress *last)
{
	const char *payload;
	char type;
	size_t len;
	int n = 0;

	while (proto_frame_peek(b, PROTO_PROGRESS_LEN, &type, &payload,
	    &len) == 1) {
		assert_int_equal(type, PROTO_FRAME_PROGRESS);
		assert_int_equal(proto_progress_decode(
		    (const unsigned char *)payload, len, last), 0);
		buf_consume(b, PROTO_FRAME_HDR + len);
		n++;
	}
	assert_int_equal(buf_len(b), 0);
	return n;
}

/* Each test's pipe, read end non-blocking, and what was read from it. */
struct fixture {
	int		 fds[2];
	struct buf	 b;
	struct probe	 p;
};

static struct fixture fx;

static int
setup(void **state)
{
	(void)state;
	if (pipe2(fx.fds, O_CLOEXEC) == -1 ||
	    io_set_nonblock(fx.fds[0], true) == -1)
		return -1;
	buf_init(&fx.b, 1 << 20);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&fx.b);
	if (close(fx.fds[0]) == -1 || close(fx.fds[1]) == -1)
		return -1;
	return 0;
}

/* Frames written so far, the last one in *last. */
static int
frames_now(struct proto_progress *last)
{
	drain(fx.fds[0], &fx.b);
	return count_frames(&fx.b, last);
}

static void
test_reports(void **state)
{
	struct proto_progress got;

	(void)state;
	probe_init(&fx.p, clock_us(), fx.fds[1], true);
	assert_int_equal(frames_now(&got), 0);
	probe_report(&fx.p);
	assert_int_equal(frames_now(&got), 1);
	assert_int_equal(got.resolved_ms, -1);
	assert_int_equal(got.first_byte_ms, -1);
	assert_string_equal(got.addr, "");
	assert_int_equal(probe_progress(&fx.p)->connected_ms, -1);
	/* Nothing new: no frame. */
	probe_flush(&fx.p);
	assert_int_equal(frames_now(&got), 0);
}

static void
test_no_frames(void **state)
{
	struct proto_progress got;

	(void)state;
	probe_init(&fx.p, clock_us(), fx.fds[1], false);
	probe_report(&fx.p);
	probe_flush(&fx.p);
	assert_int_equal(frames_now(&got), 0);
}

/* A full pipe refuses the frame (EAGAIN); after that, no frame again. */
static void
test_broken(void **state)
{
	struct proto_progress got;
	char fill[4096];

	(void)state;
	assert_true(io_set_nonblock(fx.fds[1], true) != -1);
	memset(fill, 'x', sizeof(fill));
	while (write(fx.fds[1], fill, sizeof(fill)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	probe_init(&fx.p, clock_us(), fx.fds[1], true);
	probe_report(&fx.p);	/* logs "cannot write progress" */
	drain(fx.fds[0], &fx.b);
	buf_clear(&fx.b);
	probe_report(&fx.p);
	probe_flush(&fx.p);
	assert_int_equal(frames_now(&got), 0);
}

static void
test_elapsed(void **state)
{
	struct probe p;
	int32_t ms;

	(void)state;
	probe_init(&p, clock_us() - 1500 * 1000, -1, false);
	ms = probe_elapsed_ms(&p);
	assert_true(ms >= 1500 && ms < 1500 + 10000);
	probe_init(&p, clock_us() - ((int64_t)INT32_MAX + 5) * 1000, -1,
	    false);
	assert_int_equal(probe_elapsed_ms(&p), INT32_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
		cmocka_unit_test(test_elapsed),
	};

	log_init("test_probe", LOG_LEVEL_WARN, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
