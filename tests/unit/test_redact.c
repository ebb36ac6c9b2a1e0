/*
 * test_redact: proves worker/redact.h. The key is replaced wherever it
 * appears, also twice and back to back, and when cut off at the end of
 * the text (4 bytes or more of it); a Bearer token in any case is
 * replaced, even cut short; invalid UTF-8 (a lone 0xff, a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF) becomes
 * U+FFFD while 2-, 3- and 4-byte characters stay; control characters
 * become spaces; the output is cut on a character boundary and never
 * splits "[redacted]"'s job (no part of the key at the cut); an
 * incomplete character at the end of the input is dropped; exactly the
 * buffer size is respected, down to a 1-byte buffer; redact_job hides
 * the key and secret header values, not the plain headers'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

#define KEY	"sk-test-0123456789abcdef"

static char out[256];

static const char *
clean(const char *in, const char *key, size_t outlen)
{
	size_t n;

	assert_true(outlen <= sizeof(out));
	memset(out, 'Z', sizeof(out));
	n = redact_text(in, strlen(in), key, out, outlen);
	assert_int_equal(n, strlen(out));
	assert_true(n < outlen);
	return out;
}

static void
test_key(void **state)
{
	(void)state;
	assert_string_equal(clean("bad key " KEY " given", KEY, 256),
	    "bad key [redacted] given");
	assert_string_equal(clean(KEY KEY, KEY, 256), "[redacted][redacted]");
	assert_string_equal(clean("no secret here", KEY, 256),
	    "no secret here");
	assert_string_equal(clean("cut: sk-test-01", KEY, 256),
	    "cut: [redacted]");
	assert_string_equal(clean("ends sk-t", KEY, 256), "ends [redacted]");
	assert_string_equal(clean("ends sk-", KEY, 256), "ends sk-");
	assert_string_equal(clean("x " KEY, NULL, 256), "x " KEY);
	assert_string_equal(clean("x " KEY, "", 256), "x " KEY);
}

static void
test_bearer(void **state)
{
	(void)state;
	assert_string_equal(clean("Authorization: Bearer abc.DEF-123_x~+/=",
	    NULL, 256), "Authorization: Bearer [redacted]");
	assert_string_equal(clean("header bearer  tok\"", NULL, 256),
	    "header Bearer [redacted]\"");
	assert_string_equal(clean("BEARER t", NULL, 256), "Bearer [redacted]");
	assert_string_equal(clean("Bearer ", NULL, 256), "Bearer ");
	assert_string_equal(clean("Bearers are fine", NULL, 256),
	    "Bearers are fine");
	assert_string_equal(clean("Bearer " KEY, KEY, 256),
	    "Bearer [redacted]");
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_string_equal(clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    NULL, 256), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(clean("a\xff" "b", NULL, 256),
	    "a\xef\xbf\xbd" "b");
	assert_string_equal(clean("\x80", NULL, 256), "\xef\xbf\xbd");
	assert_string_equal(clean("\xc0\xaf", NULL, 256),
	    "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(clean("\xed\xa0\x80", NULL, 256),
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(clean("\xf4\x90\x80\x80", NULL, 256),
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(clean("line\r\nbreak\t\x7f", NULL, 256),
	    "line  break  ");
	/* Cut off at the end of the input: dropped, not replaced. */
	assert_string_equal(clean("ab\xc3", NULL, 256), "ab");
	assert_string_equal(clean("ab\xf0\x9f\x98", NULL, 256), "ab");
	/* A lead byte followed by a non-continuation is bad, not cut. */
	assert_string_equal(clean("\xc3" "a", NULL, 256), "\xef\xbf\xbd" "a");
}

static void
test_cut(void **state)
{
	(void)state;
	/* "\xc3\xa9" is 2 bytes: 5 of them need 11 with the NUL. */
	assert_string_equal(clean("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    NULL, 11), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_string_equal(clean("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    NULL, 10), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_string_equal(clean("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", NULL, 7),
	    "\xf0\x9f\x98\x80");
	assert_string_equal(clean("abc", NULL, 1), "");
	assert_string_equal(clean("abc", NULL, 3), "ab");
	/* No room for the whole replacement: the key is dropped, not cut. */
	assert_string_equal(clean("ab " KEY, KEY, 8), "ab ");
}

static void
test_inplace(void **state)
{
	char s[32] = "k=" KEY;
	char big[2048];

	(void)state;
	redact_inplace(s, sizeof(s), KEY);
	assert_string_equal(s, "k=[redacted]");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + 1500, "\xff", 1);
	redact_inplace(big, sizeof(big), NULL);
	assert_int_equal(strlen(big), sizeof(big) - 1 - 1 + 3 - 2);
}

/* The job's secrets: its key and the values of its secret headers. */
static void
test_job(void **state)
{
	static const char *const headers[] = { "X-Plain: visible-value",
	    "X-Secret:  hdr-secret-123", "X-Empty:" };
	struct job job;
	char s[128] = "key " KEY ", plain visible-value, secret "
	    "hdr-secret-123, cut hdr-sec";

	(void)state;
	memset(&job, 0, sizeof(job));
	job.api_key = KEY;
	job.headers = headers;
	job.n_headers = 3;
	job.n_secret_headers = 2;
	redact_job(s, sizeof(s), &job);
	assert_string_equal(s, "key [redacted], plain visible-value, secret "
	    "[redacted], cut [redacted]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_inplace),
		cmocka_unit_test(test_job),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
