/*
 * test_embed: worker/embed.c, the validation of embeddings answers, the
 * body fragment and the parsing of API error bodies. Every rejection is
 * checked by its message, since that message is what an operator reads.
 * The float32 printer the fragment uses is shared/f32's, proved in
 * test_f32.
 */
#include <errno.h>
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "embed.h"

#define BODY_MAX	(1 << 20)

/* Base64 of n float32 values, little-endian whatever the host order. */
static char *
b64_floats(const float *v, size_t n)
{
	unsigned char *bytes;
	uint32_t bits;
	char *text;
	size_t i;

	bytes = malloc(4 * n + 1);
	text = malloc(4 * ((4 * n + 2) / 3) + 1);
	assert_non_null(bytes);
	assert_non_null(text);
	for (i = 0; i < n; i++) {
		memcpy(&bits, &v[i], 4);
		bytes[4 * i] = (unsigned char)bits;
		bytes[4 * i + 1] = (unsigned char)(bits >> 8);
		bytes[4 * i + 2] = (unsigned char)(bits >> 16);
		bytes[4 * i + 3] = (unsigned char)(bits >> 24);
	}
	(void)base64_encode(bytes, 4 * n, text);
	free(bytes);
	return text;
}

/* Base64 of n float32 values given as bit patterns. */
static char *
b64_bits(const uint32_t *bits, size_t n)
{
	float v[16];
	size_t i;

	assert_true(n <= 16);
	for (i = 0; i < n; i++)
		memcpy(&v[i], &bits[i], 4);
	return b64_floats(v, n);
}

static void
expect_ok(const char *body, size_t n, long dims, struct embed_response *r)
{
	char err[256] = "";

	if (embed_parse(body, strlen(body), n, dims, r, err, sizeof(err)) != 0)
		fail_msg("unexpected rejection: %s\nbody: %s", err, body);
}

static void
expect_error(const char *body, size_t n, long dims, const char *want)
{
	struct embed_response r;
	char err[256] = "";

	if (embed_parse(body, strlen(body), n, dims, &r, err,
	    sizeof(err)) == 0)
		fail_msg("accepted: %s", body);
	if (strstr(err, want) == NULL)
		fail_msg("message '%s' lacks '%s'", err, want);
	/* Nothing is left to release after a rejection. */
	assert_null(r.values);
	assert_null(r.model);
}

/* The fragment for r as a NUL-terminated string (the buf's own NUL). */
static void
expect_fragment(const struct embed_response *r, const char *model,
    const char *want)
{
	struct buf out;

	buf_init(&out, BODY_MAX);
	assert_int_equal(embed_format(r, model, &out), 0);
	assert_string_equal(buf_data(&out), want);
	buf_free(&out);
}

static void
test_base64_shuffled_indexes_sorted(void **state)
{
	static const float v0[] = { 0.5f, -1.0f, 0.25f };
	static const float v1[] = { 1.5f, 2.0f, -0.125f };
	static const float v2[] = { 0.1f, 0.2f, 0.3f };
	struct embed_response r;
	char *e0, *e1, *e2, body[1024];

	(void)state;
	e0 = b64_floats(v0, 3);
	e1 = b64_floats(v1, 3);
	e2 = b64_floats(v2, 3);
	(void)snprintf(body, sizeof(body), "{\"object\":\"list\",\"data\":["
	    "{\"object\":\"embedding\",\"index\":2,\"embedding\":\"%s\"},"
	    "{\"object\":\"embedding\",\"index\":0,\"embedding\":\"%s\"},"
	    "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"%s\"}],"
	    "\"model\":\"text-embedding-3-small\","
	    "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}", e2, e0, e1);
	expect_ok(body, 3, 0, &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.dim, 3);
	assert_memory_equal(r.values, v0, sizeof(v0));
	assert_memory_equal(r.values + 3, v1, sizeof(v1));
	assert_memory_equal(r.values + 6, v2, sizeof(v2));
	assert_string_equal(r.model, "text-embedding-3-small");
	assert_int_equal(r.prompt_tokens, 5);
	assert_int_equal(r.total_tokens, 5);
	expect_fragment(&r, "job-model", "\"embeddings\":[[0.5,-1,0.25],"
	    "[1.5,2,-0.125],[0.1,0.2,0.3]],\"model\":"
	    "\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":5,"
	    "\"total_tokens\":5}");
	embed_response_free(&r);
	embed_response_free(&r);	/* twice is harmless */
	free(e0);
	free(e1);
	free(e2);
}

static void
test_float_array_form(void **state)
{
	struct embed_response r;

	(void)state;
	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[0.5,-2,0,1e-3]}]}",
	    1, 4, &r);
	assert_int_equal(r.dim, 4);
	assert_true(r.values[0] == 0.5f && r.values[1] == -2.0f &&
	    r.values[2] == 0.0f && r.values[3] == 1e-3f);
	/* No model and no usage in the answer: the job's model, no usage. */
	assert_null(r.model);
	expect_fragment(&r, "my \"model\"", "\"embeddings\":[[0.5,-2,0,0.001]],"
	    "\"model\":\"my \\\"model\\\"\"");
	embed_response_free(&r);
}

static void
test_mixed_forms(void **state)
{
	static const float v[] = { 0.75f, -0.5f };
	struct embed_response r;
	char *e, body[512];

	(void)state;
	e = b64_floats(v, 2);
	(void)snprintf(body, sizeof(body), "{\"data\":["
	    "{\"index\":1,\"embedding\":[1.25,-3]},"
	    "{\"index\":0,\"embedding\":\"%s\"}]}", e);
	expect_ok(body, 2, 2, &r);
	assert_memory_equal(r.values, v, sizeof(v));
	assert_true(r.values[2] == 1.25f && r.values[3] == -3.0f);
	embed_response_free(&r);
	free(e);
}

static void
test_count_mismatch(void **state)
{
	(void)state;
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]},"
	    "{\"index\":1,\"embedding\":[1]}]}", 3, 0,
	    "response has 2 embeddings for 3 inputs");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}]}", 2, 0,
	    "response has 1 embedding for 2 inputs");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]},"
	    "{\"index\":1,\"embedding\":[1]}]}", 1, 0,
	    "response has 2 embeddings for 1 input");
	expect_error("{\"data\":[]}", 1, 0,
	    "response has 0 embeddings for 1 input");
}

static void
test_bad_indexes(void **state)
{
	(void)state;
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]},"
	    "{\"index\":0,\"embedding\":[2]}]}", 2, 0,
	    "response has index 0 twice");
	/* Index 1 missing shows up as an index out of range. */
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]},"
	    "{\"index\":2,\"embedding\":[2]}]}", 2, 0,
	    "response 'data[1]' has index 2, outside 0..1");
	expect_error("{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", 1, 0,
	    "has index -1, outside 0..0");
	expect_error("{\"data\":[{\"embedding\":[1]}]}", 1, 0,
	    "response 'data[0]' has no integer 'index'");
	expect_error("{\"data\":[{\"index\":0.0,\"embedding\":[1]}]}", 1, 0,
	    "has no integer 'index'");
	expect_error("{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", 1, 0,
	    "has no integer 'index'");
	expect_error("{\"data\":[[0,[1]]]}", 1, 0,
	    "has no integer 'index'");
}

static void
test_dimensions(void **state)
{
	(void)state;
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1,2,3,4,5,6,7,8]},"
	    "{\"index\":1,\"embedding\":[1,2,3,4,5,6,7]}]}", 2, 0,
	    "embedding 1 has 7 dimensions, embedding 0 has 8");
	/* Compared in index order, whatever order the items came in. */
	expect_error("{\"data\":[{\"index\":1,\"embedding\":[1,2,3]},"
	    "{\"index\":0,\"embedding\":[1,2]}]}", 2, 0,
	    "embedding 1 has 3 dimensions, embedding 0 has 2");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":"
	    "[1,2,3,4,5,6,7,8]}]}", 1, 4,
	    "embedding 0 has 8 dimensions, 4 were requested");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[]}]}", 1, 0,
	    "embedding 0 is empty");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":\"\"}]}", 1, 0,
	    "embedding 0 is empty");
}

static void
test_requested_dimensions_match(void **state)
{
	struct embed_response r;

	(void)state;
	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[1,2,3,4]}]}", 1, 4,
	    &r);
	assert_int_equal(r.dim, 4);
	embed_response_free(&r);
}

static void
test_non_finite_array(void **state)
{
	(void)state;
	/* JSON has no NaN or Infinity: those bodies are not JSON. */
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1,NaN]}]}", 1, 0,
	    "response is not JSON: ");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[Infinity]}]}", 1,
	    0, "response is not JSON: ");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1e400]}]}", 1, 0,
	    "response is not JSON: ");
	/* Finite doubles that are infinite as float32. */
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1,2,1e39]}]}", 1,
	    0, "embedding 0 value 2 (1e+39) is not finite as a float32");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]},"
	    "{\"index\":1,\"embedding\":[-3.5e38]}]}", 2, 0,
	    "embedding 1 value 0 (-3.5e+38) is not finite as a float32");
}

static void
test_huge_and_tiny_values(void **state)
{
	struct embed_response r;

	(void)state;
	/* FLT_MAX printed with 9 digits, a value that rounds down to it,
	 * the smallest subnormal and one that underflows to zero. */
	expect_ok("{\"data\":[{\"index\":0,\"embedding\":"
	    "[3.40282347e38,3.402823466e38,-1e38,1.4e-45,1e-50,"
	    "123456789012]}]}", 1, 6, &r);
	assert_true(r.values[0] == FLT_MAX);
	assert_true(r.values[1] == FLT_MAX);
	assert_true(r.values[2] == -1e38f);
	assert_true(r.values[3] == 0x1p-149f);
	assert_true(r.values[4] == 0.0f);
	assert_true(r.values[5] == 123456789012.0f);
	expect_fragment(&r, "m", "\"embeddings\":[[3.4028235e38,3.4028235e38,"
	    "-1e38,1e-45,0,1.2345679e11]],\"model\":\"m\"");
	embed_response_free(&r);
}

static void
test_non_finite_base64(void **state)
{
	static const uint32_t inf[] = { 0x3f800000, 0x7f800000 };
	static const uint32_t ninf[] = { 0xff800000 };
	static const uint32_t nan[] = { 0, 0, 0, 0, 0, 0x7fc00000 };
	static const uint32_t snan[] = { 0x7f800001 };
	char *e, body[256];

	(void)state;
	e = b64_bits(inf, 2);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", e);
	expect_error(body, 1, 0, "embedding 0 value 1 is not finite");
	free(e);
	e = b64_bits(ninf, 1);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", e);
	expect_error(body, 1, 0, "embedding 0 value 0 is not finite");
	free(e);
	e = b64_bits(nan, 6);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":[1,2,3,4,5,6]},"
	    "{\"index\":2,\"embedding\":[1,2,3,4,5,6]},"
	    "{\"index\":1,\"embedding\":\"%s\"}]}", e);
	expect_error(body, 3, 0, "embedding 1 value 5 is not finite");
	free(e);
	e = b64_bits(snan, 1);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", e);
	expect_error(body, 1, 0, "is not finite");
	free(e);
}

static void
test_base64_shape(void **state)
{
	unsigned char six[6] = { 0, 0, 128, 63, 0, 0 };
	char text[16], body[256];

	(void)state;
	(void)base64_encode(six, sizeof(six), text);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", text);
	expect_error(body, 1, 0,
	    "embedding 0 has 6 bytes, not a whole number of float32");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":\"AACAPw\"}]}", 1,
	    0, "embedding 0 is not valid base64");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":\"AACA-w==\"}]}",
	    1, 0, "embedding 0 is not valid base64");
}

static void
test_little_endian_decoding(void **state)
{
	/* 1.0f, -2.0f and 0.1f as little-endian bytes, spelled out. */
	static const unsigned char bytes[] = {
		0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
		0xcd, 0xcc, 0xcc, 0x3d
	};
	struct embed_response r;
	char text[32], body[256];

	(void)state;
	(void)base64_encode(bytes, sizeof(bytes), text);
	(void)snprintf(body, sizeof(body),
	    "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", text);
	expect_ok(body, 1, 3, &r);
	assert_true(r.values[0] == 1.0f);
	assert_true(r.values[1] == -2.0f);
	assert_true(r.values[2] == 0.1f);
	embed_response_free(&r);
}

static void
test_not_an_answer(void **state)
{
	struct embed_response r;
	char err[256];

	(void)state;
	assert_int_equal(embed_parse("", 0, 1, 0, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "response body is empty");
	expect_error("<html>502 Bad Gateway</html>", 1, 0,
	    "response is not JSON: ");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}]", 1, 0,
	    "response is not JSON: ");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}]} x", 1, 0,
	    "response is not JSON: ");
	expect_error("[{\"index\":0,\"embedding\":[1]}]", 1, 0,
	    "response is not a JSON object");
	expect_error("{\"object\":\"list\"}", 1, 0,
	    "response has no 'data' array");
	expect_error("{\"data\":{\"index\":0}}", 1, 0,
	    "response has no 'data' array");
	expect_error("{\"data\":[{\"index\":0,\"index\":0,\"embedding\":[1]}]}",
	    1, 0, "response is not JSON: duplicate object key");
	expect_error("{\"data\":[{\"index\":0}]}", 1, 0,
	    "embedding 0 is neither a base64 string nor an array");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":null}]}", 1, 0,
	    "embedding 0 is neither a base64 string nor an array");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1,\"2\"]}]}", 1,
	    0, "embedding 0 value 1 is not a number");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[true]}]}", 1, 0,
	    "embedding 0 value 0 is not a number");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[[1]]}]}", 1, 0,
	    "embedding 0 value 0 is not a number");
	/* Only the explicit length counts: a NUL ends nothing. */
	assert_int_equal(embed_parse("{\"data\":[]}\0junk", 16, 1, 0, &r, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "response is not JSON"));
}

static void
test_usage(void **state)
{
	struct embed_response r;

	(void)state;
	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"model\":\"m\\u00e9\",\"usage\":{\"prompt_tokens\":7}}", 1, 0,
	    &r);
	assert_int_equal(r.prompt_tokens, 7);
	assert_int_equal(r.total_tokens, -1);
	expect_fragment(&r, "job", "\"embeddings\":[[1]],"
	    "\"model\":\"m\xc3\xa9\",\"usage\":{\"prompt_tokens\":7}");
	embed_response_free(&r);

	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"usage\":{\"total_tokens\":3}}", 1, 0, &r);
	expect_fragment(&r, "job", "\"embeddings\":[[1]],\"model\":\"job\","
	    "\"usage\":{\"total_tokens\":3}");
	embed_response_free(&r);

	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"usage\":null,\"model\":null}", 1, 0, &r);
	expect_fragment(&r, "job", "\"embeddings\":[[1]],\"model\":\"job\"");
	embed_response_free(&r);

	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"usage\":{\"prompt_tokens\":\"7\"}}", 1, 0,
	    "response 'usage.prompt_tokens' is not a non-negative integer");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"usage\":{\"total_tokens\":-1}}", 1, 0,
	    "response 'usage.total_tokens' is not a non-negative integer");
	expect_error("{\"data\":[{\"index\":0,\"embedding\":[1]}],"
	    "\"usage\":[]}", 1, 0, "response 'usage' is not an object");
}

static void
test_format_cap(void **state)
{
	struct embed_response r;
	struct buf out;

	(void)state;
	expect_ok("{\"data\":[{\"index\":0,\"embedding\":[1,2,3,4]}]}", 1, 0,
	    &r);
	buf_init(&out, 20);
	errno = 0;
	assert_int_equal(embed_format(&r, "m", &out), -1);
	assert_int_equal(errno, ENOBUFS);
	buf_free(&out);
	embed_response_free(&r);
}

/* embed_error_parse of a NUL-terminated body. */
static int
error_parse(const char *body, char *msg, size_t msglen, bool *quota)
{
	return embed_error_parse(body, strlen(body), msg, msglen, quota);
}

static void
test_error_body(void **state)
{
	char msg[128];
	bool quota;

	(void)state;
	assert_int_equal(error_parse("{\"error\":{\"message\":\"You "
	    "exceeded your current quota\",\"type\":\"insufficient_quota\","
	    "\"param\":null,\"code\":\"insufficient_quota\"}}", msg,
	    sizeof(msg), &quota), 0);
	assert_string_equal(msg, "You exceeded your current quota");
	assert_true(quota);

	/* The quota marker in type alone, or in code alone. */
	assert_int_equal(error_parse("{\"error\":{\"message\":\"m\","
	    "\"type\":\"insufficient_quota\"}}", msg, sizeof(msg),
	    &quota), 0);
	assert_true(quota);
	assert_int_equal(error_parse("{\"error\":{\"message\":\"m\","
	    "\"type\":\"x\",\"code\":\"insufficient_quota\"}}", msg,
	    sizeof(msg), &quota), 0);
	assert_true(quota);

	/* An ordinary rate limit is not a quota. */
	assert_int_equal(error_parse("{\"error\":{\"message\":\"Rate "
	    "limit reached\",\"type\":\"requests\",\"code\":"
	    "\"rate_limit_exceeded\"}}", msg, sizeof(msg), &quota), 0);
	assert_string_equal(msg, "Rate limit reached");
	assert_false(quota);

	/* Other shapes servers use. */
	assert_int_equal(error_parse("{\"error\":\"bad key\"}", msg,
	    sizeof(msg), &quota), 0);
	assert_string_equal(msg, "bad key");
	assert_int_equal(error_parse("{\"detail\":\"Not Found\"}",
	    msg, sizeof(msg), &quota), 0);
	assert_string_equal(msg, "Not Found");
	assert_int_equal(error_parse("{\"message\":\"nope\"}", msg,
	    sizeof(msg), &quota), 0);
	assert_string_equal(msg, "nope");
	assert_int_equal(error_parse("{\"error\":{\"code\":"
	    "\"insufficient_quota\"}}", msg, sizeof(msg), &quota), 0);
	assert_string_equal(msg, "insufficient_quota");
	assert_true(quota);

	/* Truncated into a small buffer, always terminated. */
	assert_int_equal(error_parse("{\"error\":\"abcdefghij\"}",
	    msg, 5, &quota), 0);
	assert_string_equal(msg, "abcd");

	/* Not error bodies. */
	assert_int_equal(error_parse("<html>502</html>", msg,
	    sizeof(msg), &quota), -1);
	assert_string_equal(msg, "");
	assert_false(quota);
	assert_int_equal(error_parse("", msg, sizeof(msg), &quota),
	    -1);
	assert_int_equal(error_parse("[\"error\"]", msg, sizeof(msg),
	    &quota), -1);
	assert_int_equal(error_parse("{\"error\":{}}", msg,
	    sizeof(msg), &quota), -1);
	assert_int_equal(error_parse("{\"error\":{\"message\":1}}",
	    msg, sizeof(msg), &quota), -1);
}

static void
test_large_answer(void **state)
{
	struct embed_response r;
	struct buf body, out;
	float v[256];
	char *e, *text;
	size_t i, j, len;

	(void)state;
	buf_init(&body, BODY_MAX * 8);
	assert_int_equal(buf_append(&body, "{\"data\":[", 9), 0);
	for (i = 0; i < 64; i++) {
		for (j = 0; j < 256; j++)
			v[j] = (float)(i * 256 + j) / 1024.0f - 8.0f;
		e = b64_floats(v, 256);
		assert_int_equal(buf_printf(&body, "%s{\"index\":%zu,"
		    "\"embedding\":\"%s\"}", i > 0 ? "," : "", 63 - i, e), 0);
		free(e);
	}
	assert_int_equal(buf_append(&body, "]}", 2), 0);
	text = buf_steal(&body, &len);
	assert_int_equal(embed_parse(text, len, 64, 256, &r, (char[64]){ 0 },
	    64), 0);
	/* Row 0 came last in the body. */
	assert_true(r.values[0] == (float)(63 * 256) / 1024.0f - 8.0f);
	buf_init(&out, BODY_MAX * 8);
	assert_int_equal(embed_format(&r, "m", &out), 0);
	assert_int_equal(strncmp(buf_data(&out), "\"embeddings\":[[7.75,", 20),
	    0);
	buf_free(&out);
	embed_response_free(&r);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_shuffled_indexes_sorted),
		cmocka_unit_test(test_float_array_form),
		cmocka_unit_test(test_mixed_forms),
		cmocka_unit_test(test_count_mismatch),
		cmocka_unit_test(test_bad_indexes),
		cmocka_unit_test(test_dimensions),
		cmocka_unit_test(test_requested_dimensions_match),
		cmocka_unit_test(test_non_finite_array),
		cmocka_unit_test(test_huge_and_tiny_values),
		cmocka_unit_test(test_non_finite_base64),
		cmocka_unit_test(test_base64_shape),
		cmocka_unit_test(test_little_endian_decoding),
		cmocka_unit_test(test_not_an_answer),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_format_cap),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_large_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
