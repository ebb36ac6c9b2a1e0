/*
 * hints: the address hint becomes "host:port:address" for the URL's own
 * host and port (the scheme's default when none is given), and is
 * dropped when it names another port, is not "addr:port", or does not fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hints.h"

static int
entry(const char *url, const char *addr, char *out, size_t len)
{
	struct job job;

	memset(&job, 0, sizeof(job));
	job.base_url = url;
	job.resolve_addr = addr;
	return hints_resolve_entry(&job, out, len);
}

static void
test_entries(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(entry("https://api.example.com/v1", "10.1.2.3:443",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "api.example.com:443:10.1.2.3");
	assert_int_equal(entry("http://localhost:8080/v1/", "127.0.0.1:8080",
	    out, sizeof(out)), 0);
	assert_string_equal(out, "localhost:8080:127.0.0.1");
	assert_int_equal(entry("http://h.test/v1", "[::1]:80", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "h.test:80:[::1]");
}

static void
test_refused(void **state)
{
	char out[128];

	(void)state;
	/* Another port, no port, no hint, too small a buffer, a bad URL. */
	assert_int_equal(entry("https://h.test/v1", "10.1.2.3:8443", out,
	    sizeof(out)), -1);
	assert_int_equal(entry("https://h.test/v1", "10.1.2.3", out,
	    sizeof(out)), -1);
	assert_int_equal(entry("https://h.test/v1", NULL, out, sizeof(out)),
	    -1);
	assert_int_equal(entry("https://h.test/v1", "10.1.2.3:443", out, 10),
	    -1);
	assert_int_equal(entry("ftp://h.test/v1", "10.1.2.3:21", out,
	    sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
