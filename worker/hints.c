/*
 * hints: see hints.h. The address hint is "ip:port" or "[ip6]:port", as
 * the progress frames spell a peer; CURLOPT_RESOLVE wants
 * "host:port:address" with the host and port of the URL, so the hint is
 * used only when its port is the URL's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hints.h"
#include "url.h"

/* The port of a host[:port] of a URL, or the scheme's default. */
static long
url_port(const struct url *u, const char **host_end)
{
	const char *p, *end = u->host + u->host_len;

	*host_end = end;
	/* An IPv6 literal's colons are inside its brackets. */
	for (p = end; p > u->host; p--) {
		if (p[-1] == ']')
			break;
		if (p[-1] == ':') {
			*host_end = p - 1;
			return strtol(p, NULL, 10);
		}
	}
	return u->https ? 443 : 80;
}

int
hints_resolve_entry(const struct job *job, char *out, size_t outlen)
{
	const char *colon, *host_end;
	char err[256];
	struct url u;
	long port;
	int n;

	if (job->resolve_addr == NULL || job->base_url == NULL ||
	    url_parse(job->base_url, &u, err, sizeof(err)) == -1)
		return -1;
	colon = strrchr(job->resolve_addr, ':');
	if (colon == NULL || colon == job->resolve_addr)
		return -1;
	port = url_port(&u, &host_end);
	if (strtol(colon + 1, NULL, 10) != port)
		return -1;
	n = snprintf(out, outlen, "%.*s:%ld:%.*s",
	    (int)(host_end - u.host), u.host, port,
	    (int)(colon - job->resolve_addr), job->resolve_addr);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

CURLcode
hints_setopt(CURL *curl, const struct job *job, struct curl_slist **resolve)
{
	struct curl_slist *l;
	char entry[512];

	*resolve = NULL;
	if (hints_resolve_entry(job, entry, sizeof(entry)) == -1)
		return CURLE_OK;
	l = curl_slist_append(NULL, entry);
	if (l == NULL)
		return CURLE_OUT_OF_MEMORY;
	*resolve = l;
	return curl_easy_setopt(curl, CURLOPT_RESOLVE, l);
}
