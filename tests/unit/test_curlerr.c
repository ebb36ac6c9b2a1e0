/*
 * test_curlerr: proves worker/curlerr.h, the worker's judgement of which
 * libcurl failures no retry can fix: every certificate problem and a URL
 * libcurl cannot use are permanent; resolving, connecting, sending,
 * receiving, a TLS handshake that broke off and curl's own timeout are
 * not, and neither are CURLE_OK or codes this libcurl does not know.
 * Once connected, "unsupported protocol" is a server answering bytes that
 * are not HTTP: a network error, retryable (curlerr_class).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "curlerr.h"

static void
test_transient(void **state)
{
	static const CURLcode yes[] = { CURLE_OK, CURLE_COULDNT_RESOLVE_HOST,
	    CURLE_COULDNT_CONNECT, CURLE_SEND_ERROR, CURLE_RECV_ERROR,
	    CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
	    CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR,
	    CURLE_OPERATION_TIMEDOUT, CURLE_WRITE_ERROR, CURL_LAST,
	    (CURLcode)(CURL_LAST + 100) };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (curlerr_is_permanent(yes[i], true) ||
		    curlerr_is_permanent(yes[i], false))
			fail_msg("curl code %d (%s) should be retryable",
			    yes[i], curl_easy_strerror(yes[i]));
}

static void
test_permanent(void **state)
{
	static const CURLcode no[] = { CURLE_PEER_FAILED_VERIFICATION,
	    CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
	    CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_UNSUPPORTED_PROTOCOL,
	    CURLE_URL_MALFORMAT };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!curlerr_is_permanent(no[i], false))
			fail_msg("curl code %d (%s) should not be retryable",
			    no[i], curl_easy_strerror(no[i]));
}

/*
 * The other certificate failures curl reports: a CRL that cannot be
 * loaded, an issuer check that failed, a revoked or unknown OCSP status,
 * a client certificate the server demands. No retry fixes any of them.
 */
static void
test_other_certificate_codes(void **state)
{
	static const CURLcode no[] = { CURLE_SSL_CRL_BADFILE,
	    CURLE_SSL_ISSUER_ERROR, CURLE_SSL_INVALIDCERTSTATUS,
	    CURLE_SSL_CLIENTCERT };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (!curlerr_is_permanent(no[i], true)) {
			print_error("curl code %d (%s) is a certificate "
			    "problem and should not be retryable\n", no[i],
			    curl_easy_strerror(no[i]));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A URL libcurl cannot use is the job's fault before a connection and the
 * server's after it: 'Received HTTP/0.9', a status line 'HTTP/1.1 abc'. */
static void
test_class(void **state)
{
	(void)state;
	assert_int_equal(curlerr_class(CURLE_UNSUPPORTED_PROTOCOL, false),
	    PROTO_INVALID_REQUEST);
	assert_int_equal(curlerr_class(CURLE_URL_MALFORMAT, false),
	    PROTO_INVALID_REQUEST);
	assert_int_equal(curlerr_class(CURLE_UNSUPPORTED_PROTOCOL, true),
	    PROTO_NETWORK);
	assert_false(curlerr_is_permanent(CURLE_UNSUPPORTED_PROTOCOL, true));
	assert_int_equal(curlerr_class(CURLE_WEIRD_SERVER_REPLY, true),
	    PROTO_NETWORK);
	assert_int_equal(curlerr_class(CURLE_GOT_NOTHING, true), PROTO_NETWORK);
	assert_int_equal(curlerr_class(CURLE_PARTIAL_FILE, true),
	    PROTO_NETWORK);
	assert_int_equal(curlerr_class(CURLE_COULDNT_CONNECT, false),
	    PROTO_NETWORK);
	assert_int_equal(curlerr_class(CURLE_OPERATION_TIMEDOUT, true),
	    PROTO_TIMEOUT);
	assert_true(curlerr_is_permanent(CURLE_PEER_FAILED_VERIFICATION,
	    true));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transient),
		cmocka_unit_test(test_permanent),
		cmocka_unit_test(test_other_certificate_codes),
		cmocka_unit_test(test_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
