/*
 * url: the API's base URL, checked by one rule in both programs.
 *
 * A base URL is "http://" or "https://" (the scheme in any case), an
 * optional "user:password@", a non-empty host[:port], then an optional
 * path, query or fragment, with no spaces or control characters. The
 * endpoint is the base without its trailing slashes, then "/" and the
 * path of the call. The host given for messages never includes the
 * user:password, and neither does any message written here.
 */
#ifndef EMBEDWATCH_URL_H
#define EMBEDWATCH_URL_H

#include <stdbool.h>
#include <stddef.h>

/* A checked base URL. It points into the string given to url_parse and
 * is valid as long as that string is. */
struct url {
	const char	*text;		/* the string given to url_parse */
	size_t		 len;		/* of text without trailing slashes */
	bool		 https;
	const char	*host;		/* host[:port], inside text */
	size_t		 host_len;	/* > 0 */
};

/*
 * Check base and fill in u. Returns 0, or -1 with a message in err such
 * as "url 'ftp://x.test/v1' is not http:// or https://"; a quoted URL
 * is cut at 200 bytes and never includes a user:password@ or a control
 * character.
 */
int	 url_parse(const char *base, struct url *u, char *err,
	    size_t errlen);

/*
 * The base in its one spelling: lower-case scheme, everything else as
 * given, without trailing slashes. Returns a malloc'd string, or NULL
 * with errno ENOMEM.
 */
char	*url_normalize(const struct url *u);

/*
 * base as it may be logged: any "user:password@" replaced by "***@".
 * base need not have passed url_parse. Returns a malloc'd string, or
 * NULL with errno ENOMEM.
 */
char	*url_shown(const char *base);

/*
 * The URL of a call: base without trailing slashes, "/", path. base need
 * not have passed url_parse (libcurl then refuses what is wrong). Returns
 * a malloc'd string, or NULL with errno ENOMEM.
 */
char	*url_endpoint(const char *base, const char *path);

#endif
