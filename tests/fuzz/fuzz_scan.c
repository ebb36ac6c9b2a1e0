/*
 * fuzz_scan: the raw-JSON member scanner (supervisor/protocol/scan) and
 * the id peeker of a line too long to parse (jsonl_peek_id), on any
 * bytes: the head of an over-long line is whatever a client sent, cut
 * anywhere. ASan catches a read outside the input; the checks below
 * catch a value that does not lie inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/jsonl.h"
#include "protocol/scan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "id", "input", "line", "" };
	const char *s = (const char *)data, *val;
	size_t i, vlen;
	char *id;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (scan_has_member(s, size, keys[i], &val, &vlen) &&
		    (val < s || vlen == 0 || val + vlen > s + size))
			abort();
	id = jsonl_peek_id(s, size);
	free(id);
	id = scan_member_dup(s, size, "id");
	free(id);
	return 0;
}
