/*
 * curlerr: what a libcurl error means beyond the worker.
 *
 * The supervisor never sees a CURLcode (proto_result.h); what its policy
 * needs to know about one, the worker decides here and sends as a plain
 * field of the result. Today that is whether the failure is permanent:
 * no retry of the same job can fix it.
 */
#ifndef EMBEDWATCH_CURLERR_H
#define EMBEDWATCH_CURLERR_H

#include <stdbool.h>

#include <curl/curl.h>

/*
 * Is a transfer that failed with cc bound to fail again? True for
 * certificate problems (the peer's, our CA file or CRL, an issuer or
 * OCSP check, a pinned key, a client certificate the server demands) and
 * for a URL libcurl cannot use; false for everything else, CURLE_OK and
 * codes unknown to this libcurl included.
 */
bool	 curlerr_is_permanent(CURLcode cc);

#endif
