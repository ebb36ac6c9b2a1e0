/*
 * test_proto_result: shared/proto_result.h, the outcome of a call. Every
 * class survives a round trip with all its fields, a message with quotes,
 * a newline and UTF-8 included; text that is not JSON, a missing member,
 * an unknown class and an extra member are refused; every class has its
 * name and an unknown one is "unknown". The rate-limit figures and
 * prompt_tokens survive too, -1 (none) included, and proto_result_init
 * sets every one of them to -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "proto_result.h"

#define CAP	(1 << 20)

static void
test_result_round_trip(void **state)
{
	struct proto_result r, back;
	struct buf out;
	char err[256];
	int class;

	(void)state;
	buf_init(&out, CAP);
	for (class = PROTO_OK; class <= PROTO_INVALID_REQUEST; class++) {
		memset(&r, 0, sizeof(r));
		r.class = (enum proto_class)class;
		r.http_status = class == PROTO_HTTP ? 429 : 0;
		r.permanent = class == PROTO_NETWORK;
		r.retry_after_ms = class == PROTO_HTTP ? 1500 : -1;
		r.quota_exhausted = class == PROTO_HTTP;
		r.ms = 1234567;
		r.rl_limit_requests = 3000;
		r.rl_remaining_requests = class == PROTO_OK ? 0 : -1;
		r.rl_reset_requests_ms = 20;
		r.rl_limit_tokens = 1000000;
		r.rl_remaining_tokens = 999000 + class;
		r.rl_reset_tokens_ms = 360000;
		r.prompt_tokens = class == PROTO_OK ? 17 : -1;
		(void)snprintf(r.message, sizeof(r.message),
		    "message \"%d\" \xc3\xa9\n", class);
		buf_clear(&out);
		assert_int_equal(proto_result_encode(&r, &out), 0);
		memset(&back, 0x55, sizeof(back));
		if (proto_result_decode(buf_data(&out), buf_len(&out), &back,
		    err, sizeof(err)) == -1)
			fail_msg("%s", err);
		assert_int_equal(back.class, r.class);
		assert_int_equal(back.http_status, r.http_status);
		assert_int_equal(back.permanent, r.permanent);
		assert_int_equal(back.retry_after_ms, r.retry_after_ms);
		assert_int_equal(back.quota_exhausted, r.quota_exhausted);
		assert_int_equal(back.ms, r.ms);
		assert_string_equal(back.message, r.message);
		assert_int_equal(back.rl_limit_requests, r.rl_limit_requests);
		assert_int_equal(back.rl_remaining_requests,
		    r.rl_remaining_requests);
		assert_int_equal(back.rl_reset_requests_ms,
		    r.rl_reset_requests_ms);
		assert_int_equal(back.rl_limit_tokens, r.rl_limit_tokens);
		assert_int_equal(back.rl_remaining_tokens,
		    r.rl_remaining_tokens);
		assert_int_equal(back.rl_reset_tokens_ms, r.rl_reset_tokens_ms);
		assert_int_equal(back.prompt_tokens, r.prompt_tokens);
	}
	buf_free(&out);
}

static void
test_result_decode_errors(void **state)
{
	static const char unknown_class[] = "{\"class\":\"weird\","
	    "\"status\":0,\"retry_after_ms\":-1,\"quota\":false,"
	    "\"permanent\":false,\"ms\":1,\"message\":\"\","
	    "\"rl\":[-1,-1,-1,-1,-1,-1],\"prompt_tokens\":-1}";
	static const char extra[] = "{\"class\":\"ok\",\"status\":0,"
	    "\"retry_after_ms\":-1,\"quota\":false,\"permanent\":false,"
	    "\"ms\":1,\"message\":\"\",\"rl\":[-1,-1,-1,-1,-1,-1],"
	    "\"prompt_tokens\":-1,\"extra\":1}";
	static const char short_rl[] = "{\"class\":\"ok\",\"status\":0,"
	    "\"retry_after_ms\":-1,\"quota\":false,\"permanent\":false,"
	    "\"ms\":1,\"message\":\"\",\"rl\":[-1,-1,-1,-1,-1],"
	    "\"prompt_tokens\":-1}";
	struct proto_result r;
	char err[256];

	(void)state;
	assert_int_equal(proto_result_decode("{", 1, &r, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "result is not JSON"));
	assert_int_equal(proto_result_decode("{\"class\":\"ok\"}", 14, &r,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad result"));
	assert_int_equal(proto_result_decode(unknown_class,
	    sizeof(unknown_class) - 1, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "bad result class 'weird'");
	assert_int_equal(proto_result_decode(extra, sizeof(extra) - 1, &r, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "bad result"));
	assert_int_equal(proto_result_decode(short_rl, sizeof(short_rl) - 1,
	    &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad result"));
}

static void
test_result_init(void **state)
{
	struct proto_result r;

	(void)state;
	memset(&r, 0x55, sizeof(r));
	proto_result_init(&r);
	assert_int_equal(r.class, PROTO_OK);
	assert_int_equal(r.http_status, 0);
	assert_int_equal(r.retry_after_ms, -1);
	assert_int_equal(r.rl_limit_requests, -1);
	assert_int_equal(r.rl_remaining_requests, -1);
	assert_int_equal(r.rl_reset_requests_ms, -1);
	assert_int_equal(r.rl_limit_tokens, -1);
	assert_int_equal(r.rl_remaining_tokens, -1);
	assert_int_equal(r.rl_reset_tokens_ms, -1);
	assert_int_equal(r.prompt_tokens, -1);
	assert_string_equal(r.message, "");
}

static void
test_class_names(void **state)
{
	(void)state;
	assert_string_equal(proto_class_name(PROTO_OK), "ok");
	assert_string_equal(proto_class_name(PROTO_HTTP), "http");
	assert_string_equal(proto_class_name(PROTO_NETWORK), "network");
	assert_string_equal(proto_class_name(PROTO_TIMEOUT), "timeout");
	assert_string_equal(proto_class_name(PROTO_BAD_RESPONSE),
	    "bad_response");
	assert_string_equal(proto_class_name(PROTO_INVALID_REQUEST),
	    "invalid_request");
	assert_string_equal(proto_class_name((enum proto_class)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_round_trip),
		cmocka_unit_test(test_result_decode_errors),
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_result_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
