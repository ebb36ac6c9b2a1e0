/*
 * hints: what earlier calls learned that saves this one a round trip,
 * as the supervisor hands it on in the job (proto_job.h): the address
 * base_url's host resolved to (libcurl's CURLOPT_RESOLVE, so no DNS
 * query goes out while the hint is fresh) and, in tls.h, a TLS session
 * to resume. A hint that does not fit the job is ignored; a stale one
 * costs what no hint would (a failed connect is retried by policy, and
 * the supervisor drops the hint after a network failure).
 */
#ifndef EMBEDWATCH_HINTS_H
#define EMBEDWATCH_HINTS_H

#include <curl/curl.h>

#include "proto_job.h"

/*
 * The CURLOPT_RESOLVE entry for job's address hint, "host:port:address"
 * with the URL's host and port, into out. Returns 0, or -1 when there is
 * no hint, it does not fit the URL (another port) or out is too small.
 */
int	 hints_resolve_entry(const struct job *job, char *out, size_t outlen);

/*
 * Apply job's address hint to curl's transfer; the list libcurl reads
 * goes to *resolve, for the caller to free with curl_slist_free_all
 * after the handle. Returns CURLE_OK (also when there is no usable hint)
 * or the code of the curl_easy_setopt that failed (CURLE_OUT_OF_MEMORY
 * when the list cannot be built).
 */
CURLcode hints_setopt(CURL *curl, const struct job *job,
	    struct curl_slist **resolve);

#endif
