/*
 * fuzz_base64: strict base64 decoding (shared/base64). Whatever decodes
 * must be canonical: encoding the bytes again gives back the input
 * exactly, so no other alphabet, stray padding or non-zero pad bits get
 * through; the output never passes base64_decoded_max.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out;
	char *again;
	ssize_t n;

	out = malloc(base64_decoded_max(size) + 1);
	if (out == NULL)
		return 0;
	n = base64_decode((const char *)data, size, out);
	if (n >= 0) {
		if ((size_t)n > base64_decoded_max(size))
			abort();
		again = malloc(4 * (((size_t)n + 2) / 3) + 1);
		if (again != NULL) {
			if (base64_encode(out, (size_t)n, again) != size ||
			    memcmp(again, data, size) != 0)
				abort();
			free(again);
		}
	}
	free(out);
	return 0;
}
