/*
 * fuzz_embed: the worker's reading of what a server answered
 * (worker/embed): embed_parse of a 2xx body, embed_format of whatever it
 * accepted, and embed_error_parse of an error body. The first byte picks
 * the number of inputs (1..8) and whether dimensions are asked for.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct embed_response r;
	struct buf out;
	char err[256], msg[512];
	size_t n_inputs;
	long dims;
	bool quota;

	if (size < 1)
		return 0;
	n_inputs = (size_t)(data[0] & 7) + 1;
	dims = (data[0] & 8) != 0 ? (long)(data[0] >> 4) + 1 : 0;
	data++;
	size--;
	if (embed_parse((const char *)data, size, n_inputs, dims, &r, err,
	    sizeof(err)) == 0) {
		if (r.n != n_inputs || r.dim == 0 ||
		    (dims > 0 && r.dim != (size_t)dims))
			abort();
		buf_init(&out, 64 << 20);
		(void)embed_format(&r, "m", &out);
		buf_free(&out);
		embed_response_free(&r);
	} else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (embed_error_parse((const char *)data, size, msg, sizeof(msg),
	    &quota) == 0 && memchr(msg, '\0', sizeof(msg)) == NULL)
		abort();
	return 0;
}
