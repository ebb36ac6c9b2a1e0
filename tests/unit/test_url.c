/*
 * test_url: shared/url.h, the one rule for base URLs. Good URLs give
 * their scheme, host (without user:password) and length without
 * trailing slashes; the scheme matches in any case and normalises to
 * lower case; bad ones are refused with a message that quotes at most
 * 200 bytes of the URL and never its password or a control character;
 * the endpoint drops trailing slashes, also of a URL never checked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

static void
test_good(void **state)
{
	static const struct {
		const char *url, *norm, *host;
		bool https;
	} good[] = {
		{ "https://x.test", "https://x.test", "x.test", true },
		{ "https://x.test/", "https://x.test", "x.test", true },
		{ "https://x.test///", "https://x.test", "x.test", true },
		{ "https://x.test/v1/", "https://x.test/v1", "x.test", true },
		{ "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1",
		    "127.0.0.1:8080", false },
		{ "http://[::1]:9/", "http://[::1]:9", "[::1]:9", false },
		{ "https://x.test?a=b", "https://x.test?a=b", "x.test", true },
		{ "https://x.test#f", "https://x.test#f", "x.test", true },
		{ "https://u:pw@x.test/v1", "https://u:pw@x.test/v1", "x.test",
		    true },
		{ "HTTPS://X.test/V1", "https://X.test/V1", "X.test", true },
		{ "Http://x.test", "http://x.test", "x.test", false },
	};
	struct url u;
	char err[256], *norm;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (url_parse(good[i].url, &u, err, sizeof(err)) == -1)
			fail_msg("'%s' refused: %s", good[i].url, err);
		assert_ptr_equal(u.text, good[i].url);
		assert_int_equal(u.https, good[i].https);
		assert_int_equal(u.host_len, strlen(good[i].host));
		assert_memory_equal(u.host, good[i].host, u.host_len);
		norm = url_normalize(&u);
		assert_non_null(norm);
		assert_string_equal(norm, good[i].norm);
		assert_int_equal(u.len, strlen(norm));
		free(norm);
	}
}

static void
expect_bad(const char *url, const char *want)
{
	struct url u;
	char err[256] = "";

	if (url_parse(url, &u, err, sizeof(err)) == 0)
		fail_msg("'%s' accepted", url);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", url, err, want);
	if (strstr(err, "secret") != NULL)
		fail_msg("'%s': message '%s' shows the password", url, err);
}

static void
test_bad(void **state)
{
	(void)state;
	expect_bad("", "url '' is not http:// or https://");
	expect_bad("x.test", "url 'x.test' is not http:// or https://");
	expect_bad("ftp://x.test/v1", "url 'ftp://x.test/v1' is not http://");
	expect_bad("file:///etc/passwd", "url 'file:///etc/passwd' is not");
	expect_bad("http:/x.test", "url 'http:/x.test' is not");
	expect_bad("httpx://x.test", "url 'httpx://x.test' is not");
	expect_bad("http://", "url 'http://' has no host");
	expect_bad("https://", "url 'https://' has no host");
	expect_bad("https:///v1", "url 'https:///v1' has no host");
	expect_bad("https://u:secret@/v1", "url 'https:///v1' has no host");
	expect_bad(" https://x.test", "url has spaces or control characters");
	expect_bad("http://x .test", "url has spaces or control characters");
	expect_bad("http://x.test/\n", "url has spaces or control");
	expect_bad("http://x.test/\x7f", "url has spaces or control");
	expect_bad("ftp://x.test/\x01", "url has spaces or control");
	/* A password is left out of what is quoted, scheme or not. */
	expect_bad("user:secret@x.test", "url 'x.test' is not");
	expect_bad("gopher://u:secret@x.test/", "url 'gopher://x.test/' is");
}

/* A long URL is quoted in part: 200 bytes of it at most. */
static void
test_long_quote(void **state)
{
	char url[400], err[512];
	struct url u;

	(void)state;
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "ftp://", 6);
	assert_int_equal(url_parse(url, &u, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), strlen("url '' is not http:// or "
	    "https://") + 6 + 200);
}

static void
test_endpoint(void **state)
{
	static const struct { const char *base, *want; } cases[] = {
		{ "https://x.test/v1", "https://x.test/v1/embeddings" },
		{ "https://x.test/v1/", "https://x.test/v1/embeddings" },
		{ "https://x.test//", "https://x.test/embeddings" },
		{ "http://h", "http://h/embeddings" },
		/* Unchecked: libcurl refuses it later, not us. */
		{ "", "/embeddings" },
		{ "/", "/embeddings" },
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = url_endpoint(cases[i].base, "embeddings");
		assert_non_null(s);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
}

/* What a log may show of a base URL: no user:password. */
static void
test_shown(void **state)
{
	static const struct { const char *base, *want; } cases[] = {
		{ "https://x.test/v1", "https://x.test/v1" },
		{ "https://alice:pw@x.test:8443/v1?a=b@c",
		    "https://***@x.test:8443/v1?a=b@c" },
		{ "http://user@h/", "http://***@h/" },
		{ "http://h/p@q", "http://h/p@q" },
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = url_shown(cases[i].base);
		assert_non_null(s);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_long_quote),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_shown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
