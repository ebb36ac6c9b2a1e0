/*
 * scan: see scan.h. Cost: one forward pass over the members before the
 * one looked for, skipping nested values by counting brackets.
 */
#include <errno.h>
#include <string.h>

#include "protocol/scan.h"

/* Skip a JSON string starting at its opening quote; returns the index
 * just past the closing quote, or len. */
static size_t
skip_string(const char *s, size_t i, size_t len)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

/* Skip one JSON value starting at i; returns the index just past it. */
static size_t
skip_value(const char *s, size_t i, size_t len)
{
	int depth = 0;

	if (i < len && s[i] == '"')
		return skip_string(s, i, len);
	if (i < len && s[i] != '{' && s[i] != '[') {
		/* A number or a literal runs to the next delimiter. */
		while (i < len && strchr(",}] \t\r\n", s[i]) == NULL)
			i++;
		return i;
	}
	for (; i < len; i++) {
		if (s[i] == '"')
			i = skip_string(s, i, len) - 1;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i + 1;
	}
	return len;
}

static size_t
skip_space(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
	    s[i] == '\n'))
		i++;
	return i;
}

bool
scan_has_member(const char *s, size_t len, const char *key,
    const char **val, size_t *vlen)
{
	size_t klen = strlen(key), i, k, end;

	i = skip_space(s, 0, len);
	if (i >= len || s[i] != '{')
		return false;
	for (i++;;) {
		i = skip_space(s, i, len);
		if (i >= len || s[i] != '"')
			return false;
		k = i;
		i = skip_string(s, i, len);
		end = i;
		i = skip_space(s, i, len);
		if (i >= len || s[i] != ':')
			return false;
		i = skip_space(s, i + 1, len);
		if (end - k == klen + 2 && memcmp(s + k + 1, key, klen) == 0) {
			end = skip_value(s, i, len);
			if (end == i)
				return false;
			*val = s + i;
			*vlen = end - i;
			return true;
		}
		i = skip_space(s, skip_value(s, i, len), len);
		if (i >= len || s[i] != ',')
			return false;
		i++;
	}
}

char *
scan_member_dup(const char *s, size_t len, const char *key)
{
	const char *val;
	size_t vlen;

	if (!scan_has_member(s, len, key, &val, &vlen)) {
		errno = ENOENT;
		return NULL;
	}
	return strndup(val, vlen);
}
