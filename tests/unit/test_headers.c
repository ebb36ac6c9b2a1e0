/*
 * test_headers: worker/headers.h, what the response headers ask for.
 * Retry-After in seconds and as an HTTP date (past, near, far future),
 * retry-after-ms with fractions, either name in any case and with any
 * blanks around the value; retry-after-ms wins over Retry-After; a
 * status line starts over; values that do not parse count as none, a
 * 127-byte value is parsed and a 128-byte one ignored; waits are capped
 * at HEADERS_RETRY_AFTER_MAX_MS; other headers change nothing; the header
 * block is complete only once its blank line came (a close in the middle
 * of the headers is not a response), and a new status line reopens it. The
 * x-ratelimit-* figures reach the result's fields, in any case, -1 where
 * absent or unparsable, and a new response forgets them; OpenAI's reset
 * durations ("6m0s", "1s", "20ms", "1h2m3.5s", a bare number of
 * seconds) parse and anything else is refused. No network: the lines
 * are fed as libcurl would hand them over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "headers.h"

/* Feed NUL-terminated lines, in order, to a fresh struct headers. */
static long
after(const char *const *lines, size_t n)
{
	struct headers h;
	size_t i;

	headers_init(&h);
	for (i = 0; i < n; i++)
		headers_feed(&h, lines[i], strlen(lines[i]));
	return headers_retry_after_ms(&h);
}

/* One line. */
static long
after1(const char *line)
{
	return after(&line, 1);
}

static void
test_none(void **state)
{
	static const char *const lines[] = { "HTTP/1.1 429 Too Many\r\n",
	    "Content-Type: application/json\r\n",
	    "X-Retry-After: 5\r\n", "Retry-After-Seconds: 5\r\n",
	    "Retry-After 5\r\n", "\r\n" };

	(void)state;
	assert_int_equal(after(NULL, 0), -1);
	assert_int_equal(after(lines, sizeof(lines) / sizeof(lines[0])), -1);
	/* Shorter than any name: no read past the line. */
	assert_int_equal(after1("Retry"), -1);
}

/* One header line and the wait it asks for. */
struct want {
	const char	*line;
	long		 ms;
};

static void
expect_each(const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (after1(w[i].line) != w[i].ms)
			fail_msg("'%s' gave %ld ms, not %ld", w[i].line,
			    after1(w[i].line), w[i].ms);
}

static void
test_seconds(void **state)
{
	static const struct want w[] = {
		{ "Retry-After: 5\r\n", 5000 },
		{ "retry-after:0\r\n", 0 },
		{ "RETRY-AFTER: \t 7 \t\r\n", 7000 },
		{ "Retry-After: 86400\r\n", HEADERS_RETRY_AFTER_MAX_MS },
		{ "Retry-After: -1\r\n", -1 },
		{ "Retry-After: 1.5\r\n", -1 },
		{ "Retry-After: soon\r\n", -1 },
		{ "Retry-After:\r\n", -1 },
		/* Without CRLF, as the last line of a buffer might come. */
		{ "Retry-After: 3", 3000 },
	};

	(void)state;
	expect_each(w, sizeof(w) / sizeof(w[0]));
}

static void
test_milliseconds(void **state)
{
	static const struct want w[] = {
		{ "retry-after-ms: 1500\r\n", 1500 },
		{ "Retry-After-Ms: 20.9\r\n", 20 },
		{ "RETRY-AFTER-MS:0\r\n", 0 },
		{ "retry-after-ms: 1e12\r\n", HEADERS_RETRY_AFTER_MAX_MS },
		{ "retry-after-ms: -5\r\n", -1 },
		{ "retry-after-ms: nan\r\n", -1 },
		{ "retry-after-ms: 10ms\r\n", -1 },
		{ "retry-after-ms: 1e999\r\n", -1 },
	};

	(void)state;
	expect_each(w, sizeof(w) / sizeof(w[0]));
}

/* An HTTP date delta seconds from now. */
static void
http_date(time_t delta, char *out, size_t outlen)
{
	struct tm tm;
	time_t t;

	t = time(NULL) + delta;
	assert_non_null(gmtime_r(&t, &tm));
	assert_true(strftime(out, outlen,
	    "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm) > 0);
}

static void
test_dates(void **state)
{
	char line[96];
	long ms;

	(void)state;
	assert_int_equal(after1("Retry-After: Wed, 21 Oct 2015 07:28:00 "
	    "GMT\r\n"), 0);
	http_date(60, line, sizeof(line));
	ms = after1(line);
	/* Whole seconds, and a second may tick between the two clocks. */
	if (ms < 58000 || ms > 60000)
		fail_msg("'%s' gave %ld ms", line, ms);
	http_date(3 * 86400, line, sizeof(line));
	assert_int_equal(after1(line), HEADERS_RETRY_AFTER_MAX_MS);
	assert_int_equal(after1("Retry-After: Someday, 99 Foo 20x5\r\n"), -1);
}

static void
test_precedence(void **state)
{
	static const char *const both[] = { "Retry-After: 9\r\n",
	    "retry-after-ms: 250\r\n" };
	static const char *const ms_first[] = { "retry-after-ms: 250\r\n",
	    "Retry-After: 9\r\n" };
	static const char *const bad_ms[] = { "Retry-After: 9\r\n",
	    "retry-after-ms: later\r\n" };
	static const char *const last_wins[] = { "Retry-After: 9\r\n",
	    "Retry-After: 2\r\n" };
	static const char *const last_bad[] = { "Retry-After: 9\r\n",
	    "Retry-After: ?\r\n" };

	(void)state;
	assert_int_equal(after(both, 2), 250);
	assert_int_equal(after(ms_first, 2), 250);
	/* An unusable retry-after-ms leaves Retry-After to speak. */
	assert_int_equal(after(bad_ms, 2), 9000);
	assert_int_equal(after(last_wins, 2), 2000);
	assert_int_equal(after(last_bad, 2), -1);
}

static void
test_new_response(void **state)
{
	static const char *const continued[] = { "HTTP/1.1 100 Continue\r\n",
	    "Retry-After: 30\r\n", "\r\n", "HTTP/1.1 429 Too Many\r\n",
	    "Content-Length: 0\r\n" };
	static const char *const final[] = { "HTTP/1.1 100 Continue\r\n",
	    "retry-after-ms: 30\r\n", "HTTP/2 503\r\n",
	    "Retry-After: 4\r\n" };

	(void)state;
	assert_int_equal(after(continued, 5), -1);
	assert_int_equal(after(final, 4), 4000);
}

static void
test_value_length(void **state)
{
	static const char first[] = "retry-after-ms: 40\r\n";
	const char *lines[2];
	char line[256];
	int n;

	(void)state;
	/* 127 bytes of value (zeros, then 7) are parsed... */
	n = snprintf(line, sizeof(line), "retry-after-ms: %0127d\r\n", 7);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	assert_int_equal(after1(line), 7);
	/* ...128 bytes are ignored, so an earlier value stands. */
	n = snprintf(line, sizeof(line), "retry-after-ms: %0128d\r\n", 7);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	lines[0] = first;
	lines[1] = line;
	assert_int_equal(after(lines, 2), 40);
}

static void
test_complete(void **state)
{
	struct headers h;

	(void)state;
	headers_init(&h);
	assert_false(headers_complete(&h));
	headers_feed(&h, "HTTP/1.1 200 OK\r\n", 17);
	headers_feed(&h, "Content-Type: appl", 18);
	assert_false(headers_complete(&h));
	headers_feed(&h, "\r\n", 2);
	assert_true(headers_complete(&h));
	headers_feed(&h, "HTTP/1.1 200 OK\r\n", 17);
	assert_false(headers_complete(&h));
	headers_feed(&h, "\n", 1);
	assert_true(headers_complete(&h));
}

static void
test_ratelimit(void **state)
{
	static const char *const lines[] = { "HTTP/1.1 200 OK\r\n",
	    "x-ratelimit-limit-requests: 3000\r\n",
	    "X-RateLimit-Remaining-Requests: 2999\r\n",
	    "x-ratelimit-reset-requests: 20ms\r\n",
	    "x-ratelimit-limit-tokens: 1000000\r\n",
	    "x-ratelimit-remaining-tokens: lots\r\n",
	    "x-ratelimit-reset-tokens: 6m0s\r\n" };
	struct proto_result r;
	struct headers h;
	size_t i;

	(void)state;
	headers_init(&h);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		headers_feed(&h, lines[i], strlen(lines[i]));
	proto_result_init(&r);
	headers_ratelimit(&h, &r);
	assert_int_equal(r.rl_limit_requests, 3000);
	assert_int_equal(r.rl_remaining_requests, 2999);
	assert_int_equal(r.rl_reset_requests_ms, 20);
	assert_int_equal(r.rl_limit_tokens, 1000000);
	assert_int_equal(r.rl_remaining_tokens, -1);
	assert_int_equal(r.rl_reset_tokens_ms, 360000);
	assert_int_equal(headers_retry_after_ms(&h), -1);
	headers_feed(&h, "HTTP/1.1 200 OK\r\n", 17);
	headers_ratelimit(&h, &r);
	assert_int_equal(r.rl_limit_requests, -1);
	assert_int_equal(r.rl_reset_tokens_ms, -1);
}

static void
test_durations(void **state)
{
	static const struct {
		const char	*s;
		long		 ms;
	} good[] = {
		{ "6m0s", 360000 }, { "1s", 1000 }, { "20ms", 20 },
		{ "1h2m3.5s", 3723500 }, { "0.5s", 500 }, { "2", 2000 },
		{ "17ms", 17 }, { "0s", 0 }, { "100h", 24L * 3600 * 1000 },
	};
	static const char *const bad[] = { "", "s", "-1s", "1x", "1 s",
	    "ms", "1sms", "nan", "inf" };
	size_t i;
	long ms;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -2;
		if (headers_parse_duration(good[i].s, &ms) != 0 ||
		    ms != good[i].ms)
			fail_msg("'%s' gave %ld ms, not %ld", good[i].s, ms,
			    good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (headers_parse_duration(bad[i], &ms) != -1)
			fail_msg("'%s' parsed as %ld ms", bad[i], ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_milliseconds),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_new_response),
		cmocka_unit_test(test_value_length),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
