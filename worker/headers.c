/*
 * headers: see headers.h. A header line is matched on its name only
 * (case-insensitively), and its value is copied to a small buffer to be
 * parsed as a NUL-terminated string: values worth having are short.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/stdlib.h>

#include "headers.h"

#define VALUE_MAX	128	/* bytes of a value, with its NUL */

/* The x-ratelimit-* headers, in the order of headers.rl. */
static const struct {
	const char	*name;		/* with its colon */
	bool		 duration;
} rl_names[6] = {
	{ "x-ratelimit-limit-requests:", false },
	{ "x-ratelimit-remaining-requests:", false },
	{ "x-ratelimit-reset-requests:", true },
	{ "x-ratelimit-limit-tokens:", false },
	{ "x-ratelimit-remaining-tokens:", false },
	{ "x-ratelimit-reset-tokens:", true },
};

void
headers_init(struct headers *h)
{
	size_t i;

	h->retry_after_ms = -1;
	h->retry_after_ms_hdr = -1;
	h->complete = false;
	for (i = 0; i < 6; i++)
		h->rl[i] = -1;
}

int
headers_parse_duration(const char *s, long *ms)
{
	double total = 0, n, unit;
	char *end;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!(*s >= '0' && *s <= '9') && *s != '.')
			return -1;
		errno = 0;
		n = strtod(s, &end);
		if (errno != 0 || end == s || !(n >= 0))
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else if (*s == 'h' || *s == 'm' || *s == 's' ||
		    *s == '\0') {
			unit = *s == 'h' ? 3600000 : *s == 'm' ? 60000 : 1000;
			if (*s != '\0')
				s++;
		} else
			return -1;
		total += n * unit;
		if (total > HEADERS_RETRY_AFTER_MAX_MS)
			total = HEADERS_RETRY_AFTER_MAX_MS;
	}
	*ms = (long)(total + 0.5);
	return 0;
}

/* A rate-limit figure: a count, or a duration in ms; -1 if neither. */
static long
parse_rl(const char *value, bool duration)
{
	const char *errstr;
	long long n;
	long ms;

	if (duration)
		return headers_parse_duration(value, &ms) == 0 ? ms : -1;
	n = strtonum(value, 0, LONG_MAX, &errstr);
	return errstr == NULL ? (long)n : -1;
}

void
headers_ratelimit(const struct headers *h, struct proto_result *r)
{
	r->rl_limit_requests = h->rl[0];
	r->rl_remaining_requests = h->rl[1];
	r->rl_reset_requests_ms = h->rl[2];
	r->rl_limit_tokens = h->rl[3];
	r->rl_remaining_tokens = h->rl[4];
	r->rl_reset_tokens_ms = h->rl[5];
}

bool
headers_complete(const struct headers *h)
{
	return h->complete;
}

/* Parse a value of Retry-After (seconds or an HTTP date) or, in_ms,
 * retry-after-ms into milliseconds; -1 if it is neither. */
static long
parse_retry_after(const char *value, bool in_ms)
{
	const char *errstr;
	long long n;
	time_t at, now;
	char *end;
	double d;

	if (in_ms) {
		errno = 0;
		d = strtod(value, &end);
		if (errno != 0 || end == value || *end != '\0' || !(d >= 0))
			return -1;
		return d > HEADERS_RETRY_AFTER_MAX_MS ?
		    HEADERS_RETRY_AFTER_MAX_MS : (long)d;
	}
	n = strtonum(value, 0, HEADERS_RETRY_AFTER_MAX_MS / 1000, &errstr);
	if (errstr == NULL)
		return (long)n * 1000;
	at = curl_getdate(value, NULL);
	if (at == -1)
		return -1;
	now = time(NULL);
	if (at <= now)
		return 0;
	if (at - now > HEADERS_RETRY_AFTER_MAX_MS / 1000)
		return HEADERS_RETRY_AFTER_MAX_MS;
	return (long)(at - now) * 1000;
}

void
headers_feed(struct headers *h, const char *line, size_t len)
{
	const char *value;
	char copy[VALUE_MAX];
	size_t name_len, i;
	bool in_ms;
	int rl = -1;

	/* A new response (after a 100 Continue, say) starts over. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		headers_init(h);
		return;
	}
	if ((len == 2 && line[0] == '\r' && line[1] == '\n') ||
	    (len == 1 && line[0] == '\n')) {
		h->complete = true;
		return;
	}
	if (len >= 15 && strncasecmp(line, "retry-after-ms:", 15) == 0) {
		name_len = 15;
		in_ms = true;
	} else if (len >= 12 && strncasecmp(line, "retry-after:", 12) == 0) {
		name_len = 12;
		in_ms = false;
	} else {
		for (i = 0; i < 6; i++) {
			name_len = strlen(rl_names[i].name);
			if (len >= name_len && strncasecmp(line,
			    rl_names[i].name, name_len) == 0)
				break;
		}
		if (i == 6)
			return;
		rl = (int)i;
		in_ms = false;
	}
	value = line + name_len;
	len -= name_len;
	while (len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
	    value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= sizeof(copy))
		return;
	memcpy(copy, value, len);
	copy[len] = '\0';
	if (rl >= 0)
		h->rl[rl] = parse_rl(copy, rl_names[rl].duration);
	else if (in_ms)
		h->retry_after_ms_hdr = parse_retry_after(copy, true);
	else
		h->retry_after_ms = parse_retry_after(copy, false);
}

long
headers_retry_after_ms(const struct headers *h)
{
	return h->retry_after_ms_hdr >= 0 ? h->retry_after_ms_hdr :
	    h->retry_after_ms;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	headers_feed(arg, line, size * nmemb);
	return size * nmemb;
}

CURLcode
headers_setopt(CURL *curl, struct headers *h)
{
	CURLcode cc;

	cc = curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_HEADERDATA, h);
	return cc;
}
