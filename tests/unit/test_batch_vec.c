/*
 * test_batch_vec: proves supervisor/batch/vec.h: batch_vec_split finds
 * exactly n vectors in a worker body and refuses too few, too many or
 * nested ones; batch_vec_count counts values; batch_vec_parse reads the
 * worker's shortest digits back to the same float32 bits and refuses a
 * value that is not a finite float32 by its position, more values than
 * room and broken arrays. Its numbers are f32_parse's, proved in test_f32
 * (every class of float32, strtof's rounding, every refusal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch/vec.h"
#include "f32.h"

#define BODY(s)	s, sizeof(s) - 1

static void
test_split(void **state)
{
	static const char body[] = "\"embeddings\":[[1,2],[0.5],[-3e-2,4,5]],"
	    "\"model\":\"m\",\"usage\":{\"prompt_tokens\":3}";
	struct batch_vec_span spans[3];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY(body), 3, spans, err,
	    sizeof(err)), 0);
	assert_int_equal(spans[0].len, 5);
	assert_memory_equal(body + spans[0].off, "[1,2]", 5);
	assert_memory_equal(body + spans[1].off, "[0.5]", 5);
	assert_memory_equal(body + spans[2].off, "[-3e-2,4,5]", 11);
}

static void
test_split_counts(void **state)
{
	static const char body[] = "\"embeddings\":[[1],[2]],\"model\":\"m\"";
	struct batch_vec_span spans[3];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY(body), 3, spans, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer has 2 embeddings for 3 inputs");
	assert_int_equal(batch_vec_split(BODY(body), 1, spans, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "answer has more than 1 embeddings");
	assert_int_equal(batch_vec_split(BODY(body), 2, spans, err,
	    sizeof(err)), 0);
}

static void
test_split_refuses(void **state)
{
	struct batch_vec_span spans[2];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_split(BODY("\"model\":\"m\""), 1, spans,
	    err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[[1]]]"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[1,2"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY("\"embeddings\":[[1]"), 1,
	    spans, err, sizeof(err)), -1);
	assert_int_equal(batch_vec_split(BODY(""), 1, spans, err,
	    sizeof(err)), -1);
}

static void
test_count(void **state)
{
	(void)state;
	assert_int_equal(batch_vec_count(BODY("[]")), 0);
	assert_int_equal(batch_vec_count(BODY("[ ]")), 0);
	assert_int_equal(batch_vec_count(BODY("[1]")), 1);
	assert_int_equal(batch_vec_count(BODY("[1,-2.5e3,3]")), 3);
}

static void
test_parse_vectors(void **state)
{
	float out[4];
	char err[128];

	(void)state;
	assert_int_equal(batch_vec_parse(BODY("[]"), out, 4, err,
	    sizeof(err)), 0);
	assert_int_equal(batch_vec_parse(BODY(" [ 1 , 2 ,3 ] "), out, 4, err,
	    sizeof(err)), 3);
	assert_true(out[0] == 1 && out[1] == 2 && out[2] == 3);
	/* Exactly the room, and one more. */
	assert_int_equal(batch_vec_parse(BODY("[1,2,3,4]"), out, 4, err,
	    sizeof(err)), 4);
	assert_int_equal(batch_vec_parse(BODY("[1,2,3,4,5]"), out, 4, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "embedding has more than 4 values");
	assert_int_equal(batch_vec_parse(BODY("[1,2"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY("[1,,2]"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY("1,2"), out, 4, err,
	    sizeof(err)), -1);
	assert_int_equal(batch_vec_parse(BODY(""), out, 4, err,
	    sizeof(err)), -1);
	/* A number longer than the slow path's copy is refused, not cut. */
	assert_int_equal(batch_vec_parse(BODY("[0.00000000000000000000000000"
	    "00000000000000000000000000000000000000001]"), out, 4, err,
	    sizeof(err)), -1);
	/* A value f32_parse refuses is named by its position. */
	assert_int_equal(batch_vec_parse(BODY("[1, 1e39]"), out, 4, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "embedding value 1 is not a finite float32 "
	    "number");
}

static void
test_parse_worker_digits(void **state)
{
	static const uint32_t bits[] = {
		0x00000001, 0x80000000, 0x00800000, 0x7f7fffff, 0xbdcccccd,
		0x3f800001, 0x4b800001, 0x2edbe6ff,
	};
	char text[8 * F32_MAX_TEXT + 8], *p = text;
	float in[8], out[8];
	size_t i;

	(void)state;
	/* What the worker printed, as it printed it, reads back bit for
	 * bit. */
	*p++ = '[';
	for (i = 0; i < 8; i++) {
		memcpy(&in[i], &bits[i], 4);
		if (i > 0)
			*p++ = ',';
		p += f32_format(in[i], p);
	}
	*p++ = ']';
	assert_int_equal(batch_vec_parse(text, (size_t)(p - text), out, 8,
	    (char[64]){ 0 }, 64), 8);
	assert_memory_equal(out, in, sizeof(in));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_counts),
		cmocka_unit_test(test_split_refuses),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_parse_vectors),
		cmocka_unit_test(test_parse_worker_digits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
