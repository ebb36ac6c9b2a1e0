/*
 * url: see url.h. Used by the supervisor's config (once, at init), by
 * the worker on every job and by embedwatch-worker's main; it allocates
 * only when asked for a string.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

#define QUOTED_MAX	200	/* bytes of a url quoted in a message */

/* Length of s without its trailing slashes. */
static size_t
trimmed_len(const char *s)
{
	size_t len;

	len = strlen(s);
	while (len > 0 && s[len - 1] == '/')
		len--;
	return len;
}

/* Does s hold a space, a control character or DEL? */
static bool
has_space_or_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Where the authority of url starts: after "://", else at url. */
static const char *
authority(const char *url)
{
	const char *p;

	p = strstr(url, "://");
	return p != NULL ? p + 3 : url;
}

/* The host[:port] of the authority at p, past any "user:password@". */
static const char *
host_of(const char *p, const char **end)
{
	const char *at;

	*end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(*end - p));
	return at != NULL ? at + 1 : p;
}

/* Refuse url in a message that quotes it without its user:password@. */
static int
refuse(const char *url, const char *why, char *err, size_t errlen)
{
	const char *p, *host, *end;

	p = authority(url);
	host = host_of(p, &end);
	(void)snprintf(err, errlen, "url '%.*s%.*s' %s", (int)(p - url), url,
	    (int)strnlen(host, QUOTED_MAX), host, why);
	return -1;
}

int
url_parse(const char *base, struct url *u, char *err, size_t errlen)
{
	const char *p, *end;

	memset(u, 0, sizeof(*u));
	/* First, so that a message never quotes a control character. */
	if (has_space_or_control(base)) {
		(void)snprintf(err, errlen,
		    "url has spaces or control characters");
		return -1;
	}
	if (strncasecmp(base, "https://", 8) == 0)
		u->https = true;
	else if (strncasecmp(base, "http://", 7) != 0)
		return refuse(base, "is not http:// or https://", err, errlen);
	p = authority(base);
	u->host = host_of(p, &end);
	if (end == u->host)
		return refuse(base, "has no host", err, errlen);
	u->text = base;
	u->len = trimmed_len(base);
	u->host_len = (size_t)(end - u->host);
	return 0;
}

char *
url_normalize(const struct url *u)
{
	const char *scheme = u->https ? "https" : "http";
	size_t scheme_len = strlen(scheme);
	char *s;

	s = strndup(u->text, u->len);
	if (s == NULL)
		return NULL;
	memcpy(s, scheme, scheme_len);
	return s;
}

char *
url_endpoint(const char *base, const char *path)
{
	char *s;

	if (asprintf(&s, "%.*s/%s", (int)trimmed_len(base), base, path) ==
	    -1) {
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

char *
url_shown(const char *base)
{
	const char *p, *host, *end;
	char *s;

	p = authority(base);
	host = host_of(p, &end);
	if (host == p)
		s = strdup(base);
	else if (asprintf(&s, "%.*s***@%s", (int)(p - base), base, host) ==
	    -1)
		s = NULL;
	if (s == NULL)
		errno = ENOMEM;
	return s;
}
