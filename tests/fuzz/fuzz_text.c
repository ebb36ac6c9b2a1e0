/*
 * fuzz_text: the worker's cleaning of server text (worker/redact). The
 * first byte gives the key's length (0..31) and the next bytes the key,
 * mapped to the alphabet of API keys (letters, digits, '-', '_', '.');
 * the rest is the text, cleaned into a buffer of a size that the text's
 * own length picks. Checks: the output is NUL-terminated within the
 * buffer, valid UTF-8 without control characters, and holds no copy of
 * the key, whole or cut off at its end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

#define BEARER_REDACTED	"Bearer " REDACTED
#define KEY_CHARS	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"0123456789-_."

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is s[0 .. n) valid UTF-8 (as RFC 3629 has it) with no C0 or DEL? */
static bool
is_clean(const unsigned char *s, size_t n)
{
	size_t i = 0, len, k;
	unsigned long cp;

	while (i < n) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, cp = s[i] & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char key[32], *out;
	const char *text;
	size_t skip, klen, len, outlen, n, k, i;

	if (size < 1)
		return 0;
	skip = data[0] & 31;
	if (skip > size - 1)
		skip = size - 1;
	for (i = 0; i < skip; i++)
		key[i] = KEY_CHARS[data[1 + i] % (sizeof(KEY_CHARS) - 1)];
	key[skip] = '\0';
	klen = skip;
	text = (const char *)data + 1 + skip;
	len = size - 1 - skip;
	outlen = len % 97 + 1;
	out = malloc(outlen);
	if (out == NULL)
		return 0;
	n = redact_text(text, len, klen > 0 ? key : NULL, out, outlen);
	if (n >= outlen || out[n] != '\0' || strlen(out) != n ||
	    !is_clean((const unsigned char *)out, n))
		abort();
	/* The key, whole, must be gone; and no 4 or more of its first
	 * bytes may end the text (unless they are part of what replaced
	 * something: a key "[red" is still found in "[redacted]"). */
	if (klen > 0 && memmem(out, n, key, klen) != NULL &&
	    memmem(BEARER_REDACTED, sizeof(BEARER_REDACTED) - 1, key,
	    klen) == NULL)
		abort();
	for (k = klen - (klen > 0); klen > 4 && k >= 4; k--)
		if (n >= k && memcmp(out + n - k, key, k) == 0 &&
		    memmem(BEARER_REDACTED, sizeof(BEARER_REDACTED) - 1, key,
		    k) == NULL)
			abort();
	free(out);
	return 0;
}
