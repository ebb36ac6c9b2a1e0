/*
 * redact: see redact.h. One forward pass: at each position, a key or a
 * Bearer token is replaced whole, else one UTF-8 character (or one bad
 * byte) is copied; the pass stops at the first unit that does not fit,
 * so nothing is ever split.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redact.h"
#include "utf8.h"

#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */
#define KEY_TAIL_MIN	4		/* a cut key shorter than this stays */

/* Does s (n bytes) start a truncated UTF-8 character that the end of the
 * text cut off? Then it is dropped, not replaced. */
static bool
is_cut_char(const unsigned char *s, size_t n)
{
	size_t want, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		want = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		want = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		want = 4;
	else
		return false;
	if (n >= want)
		return false;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	return true;
}

/* The characters of a bearer token (RFC 6750 b64token), and quotes and
 * backslashes that a JSON or HTML rendering may wrap it in. */
static bool
is_token_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || strchr("-._~+/=", ch) != NULL;
}

/* Length of "Bearer <token>" at s (n bytes left), or 0. */
static size_t
bearer_at(const char *s, size_t n)
{
	size_t i;

	if (n < 7 || strncasecmp(s, "bearer", 6) != 0 ||
	    (s[6] != ' ' && s[6] != '\t'))
		return 0;
	for (i = 7; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		continue;
	if (i == n || !is_token_char((unsigned char)s[i]))
		return 0;
	while (i < n && is_token_char((unsigned char)s[i]))
		i++;
	return i;
}

/* Append p[0 .. n) to out at *o if it fits (one byte stays for NUL). */
static bool
put(char *out, size_t outlen, size_t *o, const char *p, size_t n)
{
	if (n >= outlen - *o)
		return false;
	memcpy(out + *o, p, n);
	*o += n;
	return true;
}

/* If out[0 .. o) ends with the first KEY_TAIL_MIN or more bytes of key,
 * replace them. Returns the new length. */
static size_t
redact_key_tail(char *out, size_t outlen, size_t o, const char *key,
    size_t klen)
{
	size_t k, start;

	for (k = klen - 1 < o ? klen - 1 : o; k >= KEY_TAIL_MIN; k--) {
		if (memcmp(out + o - k, key, k) != 0)
			continue;
		start = o - k;
		if (!put(out, outlen, &start, REDACTED, sizeof(REDACTED) - 1))
			start = o - k;	/* no room: drop the cut key */
		return start;
	}
	return o;
}

size_t
redact_text(const char *in, size_t len, const char *key, char *out,
    size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t klen = key != NULL ? strlen(key) : 0, i = 0, o = 0, n;
	char ch;

	if (outlen == 0)
		return 0;
	while (i < len) {
		if (klen > 0 && len - i >= klen &&
		    memcmp(in + i, key, klen) == 0) {
			if (!put(out, outlen, &o, REDACTED,
			    sizeof(REDACTED) - 1))
				break;
			i += klen;
			continue;
		}
		n = bearer_at(in + i, len - i);
		if (n > 0) {
			if (!put(out, outlen, &o, "Bearer " REDACTED,
			    sizeof("Bearer " REDACTED) - 1))
				break;
			i += n;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			ch = ' ';
			if (!put(out, outlen, &o, &ch, 1))
				break;
			i++;
			continue;
		}
		n = utf8_char_len(s + i, len - i);
		if (n > 0) {
			if (!put(out, outlen, &o, in + i, n))
				break;
			i += n;
			continue;
		}
		if (is_cut_char(s + i, len - i))
			break;
		if (!put(out, outlen, &o, REPLACEMENT,
		    sizeof(REPLACEMENT) - 1))
			break;
		i++;
	}
	/* Again while it changes: a key such as "3333..." ending a run of
	 * 3s. Bounded, since a replacement may itself end like a key. */
	for (n = 0; klen > KEY_TAIL_MIN && n < outlen; n++) {
		i = redact_key_tail(out, outlen, o, key, klen);
		if (i == o)
			break;
		o = i;
	}
	out[o] = '\0';
	return o;
}

void
redact_inplace(char *s, size_t size, const char *key)
{
	char tmp[1024], *copy = tmp;
	size_t len;

	if (size == 0)
		return;
	len = strnlen(s, size - 1);
	if (len >= sizeof(tmp)) {
		copy = malloc(len);
		if (copy == NULL) {
			/* Out of memory: say nothing rather than leak. */
			s[0] = '\0';
			return;
		}
	}
	memcpy(copy, s, len);
	(void)redact_text(copy, len, key, s, size);
	if (copy != tmp)
		free(copy);
}

void
redact_job(char *s, size_t size, const struct job *job)
{
	const char *value;
	size_t i;

	redact_inplace(s, size, job->api_key);
	for (i = job->n_headers - job->n_secret_headers; i < job->n_headers;
	    i++) {
		value = strchr(job->headers[i], ':');
		if (value == NULL)
			continue;
		for (value++; *value == ' ' || *value == '\t'; value++)
			continue;
		if (*value != '\0')
			redact_inplace(s, size, value);
	}
}
