/*
 * test_log: proves shared/log.h: the exact text line
 * ("<UTC ts> prog[pid] level: msg") and JSON line ({"ts","prog","pid",
 * "level","msg"} in that order) on fd 2; JSON escaping of quotes,
 * backslashes, newlines and every control character, so each line parses
 * back to the original message; level parsing and filtering; one write(2)
 * per line; long messages truncated with a "..." marker, never split,
 * always on a character boundary, always valid UTF-8; sd-daemon(3)
 * priority prefixes and no timestamps when fd 2 is $JOURNAL_STREAM.
 *
 * fd 2 is pointed at one end of a SOCK_SEQPACKET socketpair for each
 * check: every write(2) arrives as its own record, so "one line, one
 * write" is observed rather than assumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

#define MAX_RECORDS	8

/* The writes fd 2 received since capture_start. */
static char	 records[MAX_RECORDS][16384];
static size_t	 record_len[MAX_RECORDS];
static size_t	 n_records;

static int	 cap_read = -1, saved_stderr = -1;

static void
capture_start(void)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	(void)fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr != -1);
	assert_int_equal(dup2(sv[1], STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(close(sv[1]), 0);
	cap_read = sv[0];
}

static void
capture_stop(void)
{
	ssize_t n;

	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(close(saved_stderr), 0);
	saved_stderr = -1;
	n_records = 0;
	for (;;) {
		n = recv(cap_read, records[n_records],
		    sizeof(records[0]) - 1, MSG_DONTWAIT);
		/* The writing end is closed: 0 once every record is in. */
		if (n == 0)
			break;
		assert_true(n > 0);
		assert_true(n_records < MAX_RECORDS - 1);
		records[n_records][n] = '\0';
		record_len[n_records] = (size_t)n;
		n_records++;
	}
	assert_int_equal(close(cap_read), 0);
	cap_read = -1;
}

/* Each record is exactly one line: no newline but the last byte. */
static void
assert_whole_lines(void)
{
	size_t i;

	for (i = 0; i < n_records; i++) {
		assert_true(record_len[i] > 0);
		assert_int_equal(records[i][record_len[i] - 1], '\n');
		assert_ptr_equal(memchr(records[i], '\n', record_len[i]),
		    records[i] + record_len[i] - 1);
	}
}

/* "2026-11-27T08:07:27.123Z", and within a day of now. */
static void
assert_timestamp(const char *ts)
{
	int y, mo, d, h, mi, s, ms, n = 0;
	struct tm tm;
	time_t t;

	assert_int_equal(strlen(ts) >= 24, true);
	assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo,
	    &d, &h, &mi, &s, &ms, &n), 7);
	assert_int_equal(n, 24);
	assert_true(ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' &&
	    ts[13] == ':' && ts[16] == ':' && ts[19] == '.' && ts[23] == 'Z');
	assert_true(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 &&
	    mi <= 59 && s <= 60 && ms >= 0 && ms <= 999);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	assert_true(t > time(NULL) - 86400 && t < time(NULL) + 86400);
}

/* Check a text line and return where the message starts. */
static const char *
text_message(const char *line, const char *prog, const char *level)
{
	char want[128];
	size_t n;

	assert_timestamp(line);
	n = (size_t)snprintf(want, sizeof(want), " %s[%ld] %s: ", prog,
	    (long)getpid(), level);
	assert_memory_equal(line + 24, want, n);
	return line + 24 + n;
}

static void
test_parse_level(void **state)
{
	static const char *const names[] = { "error", "warn", "info",
	    "debug" };
	static const char *const bad[] = { "", "WARN", "Warn", "warning",
	    "info ", " info", "debug\n", "err", "trace", "0" };
	enum log_level level;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		level = (enum log_level)99;
		assert_int_equal(log_parse_level(names[i], &level), 0);
		assert_int_equal(level, (enum log_level)i);
	}
	assert_int_equal(LOG_LEVEL_ERROR, 0);
	assert_int_equal(LOG_LEVEL_DEBUG, 3);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		level = LOG_LEVEL_WARN;
		if (log_parse_level(bad[i], &level) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(level, LOG_LEVEL_WARN);
	}
}

static void
test_enabled(void **state)
{
	int threshold, level;

	(void)state;
	for (threshold = LOG_LEVEL_ERROR; threshold <= LOG_LEVEL_DEBUG;
	    threshold++) {
		log_init("t", (enum log_level)threshold, false);
		for (level = LOG_LEVEL_ERROR; level <= LOG_LEVEL_DEBUG; level++)
			assert_int_equal(log_enabled((enum log_level)level),
			    level <= threshold);
	}
}

static void
test_text_line(void **state)
{
	(void)state;
	log_init("ewtest", LOG_LEVEL_INFO, false);
	capture_start();
	log_warn("cannot spawn worker '%s': %s", "/x", "Resource busy");
	capture_stop();
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	assert_string_equal(text_message(records[0], "ewtest", "warn"),
	    "cannot spawn worker '/x': Resource busy\n");
	assert_int_equal(record_len[0], strlen(records[0]));

	/* An empty message is still a line. */
	capture_start();
	log_error("%s", "");
	capture_stop();
	assert_int_equal(n_records, 1);
	assert_string_equal(text_message(records[0], "ewtest", "error"), "\n");
}

static void
test_level_filtering(void **state)
{
	static const char *const names[] = { "error", "warn", "info",
	    "debug" };
	int threshold;
	size_t i;

	(void)state;
	for (threshold = LOG_LEVEL_ERROR; threshold <= LOG_LEVEL_DEBUG;
	    threshold++) {
		log_init("lvl", (enum log_level)threshold, threshold % 2 == 1);
		capture_start();
		log_error("e");
		log_warn("w");
		log_info("i");
		log_debug("d");
		log_msg(LOG_LEVEL_DEBUG, "%s", "d2");
		capture_stop();
		assert_int_equal(n_records, (size_t)threshold + 1 +
		    (threshold == LOG_LEVEL_DEBUG));
		assert_whole_lines();
		for (i = 0; i <= (size_t)threshold; i++) {
			if (threshold % 2 == 1) {
				char want[32];

				(void)snprintf(want, sizeof(want),
				    "\"level\":\"%s\"", names[i]);
				assert_non_null(strstr(records[i], want));
			} else
				(void)text_message(records[i], "lvl", names[i]);
		}
	}
}

static void
test_json_line(void **state)
{
	json_t *root;
	json_error_t jerr;
	const char *ts;
	char want[256];
	size_t n;

	(void)state;
	log_init("ewtest", LOG_LEVEL_DEBUG, true);
	capture_start();
	log_info("plain %d", 7);
	capture_stop();
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	/* {"ts":"<24 chars>","prog":..., keys in the documented order. */
	assert_memory_equal(records[0], "{\"ts\":\"", 7);
	assert_timestamp(records[0] + 7);
	n = (size_t)snprintf(want, sizeof(want), "\",\"prog\":\"ewtest\","
	    "\"pid\":%ld,\"level\":\"info\",\"msg\":\"plain 7\"}\n",
	    (long)getpid());
	assert_int_equal(record_len[0], 7 + 24 + n);
	assert_string_equal(records[0] + 7 + 24, want);

	root = json_loadb(records[0], record_len[0], 0, &jerr);
	assert_non_null(root);
	ts = json_string_value(json_object_get(root, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(json_integer_value(json_object_get(root, "pid")),
	    getpid());
	json_decref(root);
}

/* The message must come back from the JSON exactly as logged. */
static void
assert_json_round_trip(const char *msg, const char *want_escaped)
{
	json_t *root;
	json_error_t jerr;
	const char *got;
	char tail[256];

	capture_start();
	log_warn("%s", msg);
	capture_stop();
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	root = json_loadb(records[0], record_len[0], 0, &jerr);
	if (root == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, records[0]);
	got = json_string_value(json_object_get(root, "msg"));
	assert_non_null(got);
	assert_string_equal(got, msg);
	json_decref(root);
	if (want_escaped != NULL) {
		(void)snprintf(tail, sizeof(tail), "\"msg\":\"%s\"}\n",
		    want_escaped);
		assert_true(record_len[0] > strlen(tail));
		assert_string_equal(records[0] + record_len[0] - strlen(tail),
		    tail);
	}
}

static void
test_json_escaping(void **state)
{
	char all[40];
	int c;

	(void)state;
	log_init("ewtest", LOG_LEVEL_INFO, true);
	assert_json_round_trip("say \"hi\"", "say \\\"hi\\\"");
	assert_json_round_trip("C:\\path\\", "C:\\\\path\\\\");
	/* jansson's escapes (short forms where JSON has them). */
	assert_json_round_trip("two\nlines\r\n", "two\\nlines\\r\\n");
	assert_json_round_trip("tab\there", "tab\\there");
	assert_json_round_trip("\x01\x1f\x7f", "\\u0001\\u001F\x7f");
	assert_json_round_trip("caf\xc3\xa9 \xe6\x97\xa5 a/b",
	    "caf\xc3\xa9 \xe6\x97\xa5 a/b");
	assert_json_round_trip("", "");
	/* Every control character. */
	for (c = 1; c < 0x20; c++)
		all[c - 1] = (char)c;
	all[0x1f] = '"';
	all[0x20] = '\\';
	all[0x21] = '\0';
	assert_json_round_trip(all, NULL);
}

static void
test_long_text(void **state)
{
	char *msg;

	(void)state;
	msg = malloc(10001);
	assert_non_null(msg);
	memset(msg, 'x', 10000);
	msg[10000] = '\0';
	log_init("ewtest", LOG_LEVEL_INFO, false);
	capture_start();
	log_info("%s", msg);
	capture_stop();
	free(msg);
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	assert_true(record_len[0] < 4096 + 128);
	assert_string_equal(records[0] + record_len[0] - 5, "x...\n");
}

static void
test_long_json(void **state)
{
	json_t *root;
	json_error_t jerr;
	const char *got;
	char *msg;

	(void)state;
	msg = malloc(10001);
	assert_non_null(msg);
	memset(msg, 'y', 10000);
	msg[10000] = '\0';
	log_init("ewtest", LOG_LEVEL_INFO, true);
	capture_start();
	log_info("%s", msg);
	capture_stop();
	free(msg);
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	root = json_loadb(records[0], record_len[0], 0, &jerr);
	assert_non_null(root);
	got = json_string_value(json_object_get(root, "msg"));
	assert_non_null(got);
	assert_true(strlen(got) > 4000);
	assert_string_equal(got + strlen(got) - 4, "y...");
	json_decref(root);
}

/*
 * A message that fits the message buffer but grows past the line buffer
 * when escaped (quotes double, control characters take six bytes): the
 * line must stay valid JSON, and say it was cut, as text lines do.
 */
static void
check_long_escaped(char fill, size_t len)
{
	json_t *root;
	json_error_t jerr;
	const char *got;
	size_t got_len;
	char *msg;
	bool marked;

	msg = malloc(len + 1);
	assert_non_null(msg);
	memset(msg, fill, len);
	msg[len] = '\0';
	capture_start();
	log_info("%s", msg);
	capture_stop();
	free(msg);
	assert_int_equal(n_records, 1);
	assert_whole_lines();
	root = json_loadb(records[0], record_len[0], 0, &jerr);
	if (root == NULL)
		fail_msg("not JSON (%s)", jerr.text);
	got = json_string_value(json_object_get(root, "msg"));
	assert_non_null(got);
	got_len = strlen(got);
	marked = got_len >= 3 && strcmp(got + got_len - 3, "...") == 0;
	json_decref(root);
	if (got_len < len && !marked)
		fail_msg("a %zu-byte message of 0x%02x bytes came out as %zu "
		    "bytes with no truncation marker", len,
		    (unsigned)(unsigned char)fill, got_len);
}

static void
test_long_escaped_json(void **state)
{
	(void)state;
	log_init("ewtest", LOG_LEVEL_INFO, true);
	check_long_escaped('"', 3000);
	check_long_escaped('\001', 1000);
}

/* Is s (n bytes) valid UTF-8, as jansson judges it? */
static bool
valid_utf8(const char *s, size_t n)
{
	json_t *j;
	bool ok;

	j = json_stringn(s, n);
	ok = j != NULL;
	json_decref(j);
	return ok;
}

/*
 * A message cut inside a multibyte character (2,000 euro signs are 6,000
 * bytes) and one holding bytes that are no UTF-8 at all: both lines are
 * valid UTF-8, cut on a character boundary with the marker, invalid bytes
 * shown as U+FFFD.
 */
static void
test_utf8(void **state)
{
	static const char euro[] = "\xe2\x82\xac";
	json_t *root;
	json_error_t jerr;
	const char *got;
	char *msg;
	size_t i;
	int json;

	(void)state;
	msg = malloc(2000 * 3 + 1);
	assert_non_null(msg);
	for (i = 0; i < 2000; i++)
		memcpy(msg + 3 * i, euro, 3);
	msg[2000 * 3] = '\0';
	for (json = 0; json < 2; json++) {
		log_init("ewtest", LOG_LEVEL_INFO, json == 1);
		capture_start();
		log_warn("id %s: HTTP 500", msg);
		log_warn("bad \xff bytes \xc3(\xed\xa0\x80 and a cut \xe2\x82");
		capture_stop();
		assert_int_equal(n_records, 2);
		assert_whole_lines();
		for (i = 0; i < 2; i++)
			if (!valid_utf8(records[i], record_len[i]))
				fail_msg("not UTF-8: %s", records[i]);
		if (json == 0) {
			assert_string_equal(records[0] + record_len[0] - 7,
			    "\xe2\x82\xac...\n");
			assert_non_null(strstr(records[1], "bad \xef\xbf\xbd "
			    "bytes \xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd and a cut \xef\xbf\xbd"
			    "\xef\xbf\xbd\n"));
			continue;
		}
		root = json_loadb(records[0], record_len[0], 0, &jerr);
		if (root == NULL)
			fail_msg("not JSON (%s): %.200s", jerr.text, records[0]);
		got = json_string_value(json_object_get(root, "msg"));
		assert_non_null(got);
		assert_true(strlen(got) > 4000);
		assert_string_equal(got + strlen(got) - 6, "\xe2\x82\xac...");
		json_decref(root);
		root = json_loadb(records[1], record_len[1], 0, &jerr);
		assert_non_null(root);
		json_decref(root);
	}
	free(msg);
}

/*
 * Under systemd (JOURNAL_STREAM names fd 2's device and inode): each line
 * starts with its sd-daemon(3) priority and carries no timestamp; a
 * JOURNAL_STREAM of another file changes nothing.
 */
static void
test_journal(void **state)
{
	struct stat st;
	char stream[64];
	int json;

	(void)state;
	for (json = 0; json < 2; json++) {
		capture_start();
		assert_int_equal(fstat(STDERR_FILENO, &st), 0);
		(void)snprintf(stream, sizeof(stream), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
		log_init("ewtest", LOG_LEVEL_DEBUG, json == 1);
		log_error("e %d", 1);
		log_warn("w");
		log_info("i");
		log_debug("d");
		(void)snprintf(stream, sizeof(stream), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino + 1);
		assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
		log_init("ewtest", LOG_LEVEL_DEBUG, json == 1);
		log_info("not the journal");
		capture_stop();
		assert_int_equal(n_records, 5);
		assert_whole_lines();
		if (json == 0) {
			assert_string_equal(records[0], "<3>error: e 1\n");
			assert_string_equal(records[1], "<4>warn: w\n");
			assert_string_equal(records[2], "<6>info: i\n");
			assert_string_equal(records[3], "<7>debug: d\n");
			(void)text_message(records[4], "ewtest", "info");
		} else {
			assert_memory_equal(records[0], "<3>{\"prog\":\"ewtest\"",
			    19);
			assert_non_null(strstr(records[0],
			    "\"level\":\"error\",\"msg\":\"e 1\"}\n"));
			assert_null(strstr(records[0], "\"ts\""));
			assert_memory_equal(records[3], "<7>{", 4);
			assert_memory_equal(records[4], "{\"ts\":\"", 7);
		}
	}
	assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_enabled),
		cmocka_unit_test(test_text_line),
		cmocka_unit_test(test_level_filtering),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_long_text),
		cmocka_unit_test(test_long_json),
		cmocka_unit_test(test_long_escaped_json),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
