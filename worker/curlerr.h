/*
 * curlerr: what a libcurl error means beyond the worker.
 *
 * The supervisor never sees a CURLcode (proto_result.h); what its policy
 * needs to know about one, the worker decides here and sends as plain
 * fields of the result: the class of the failure and whether it is
 * permanent (no retry of the same job can fix it).
 *
 * Some codes mean two things: CURLE_UNSUPPORTED_PROTOCOL is both "the URL
 * has a scheme libcurl cannot use" and "the server answered HTTP/0.9",
 * that is, bytes that are not HTTP at all. Before a connection was made
 * it is the job's fault; once connected, the server's, and a server that
 * sends garbage may be fixed by the next try (another backend behind the
 * balancer), so it is a network error like a reset.
 */
#ifndef EMBEDWATCH_CURLERR_H
#define EMBEDWATCH_CURLERR_H

#include <stdbool.h>

#include <curl/curl.h>

#include "proto_result.h"

/*
 * Is a transfer that failed with cc bound to fail again? connected says
 * whether a connection to the server was made. True for certificate
 * problems (the peer's, our CA file or CRL, an issuer or OCSP check, a
 * pinned key, a client certificate the server demands) and, before any
 * connection, for a URL libcurl cannot use; false for everything else,
 * CURLE_OK and codes unknown to this libcurl included.
 */
bool	 curlerr_is_permanent(CURLcode cc, bool connected);

/*
 * The class of a transfer that failed with cc (not CURLE_OK): PROTO_TIMEOUT
 * for libcurl's own timeout, PROTO_INVALID_REQUEST for a URL libcurl cannot
 * use before any connection, PROTO_NETWORK for everything else: resolving,
 * connecting, TLS, a reset, a body cut short, a close in the middle of the
 * headers, a reply that is not HTTP or has a status line like
 * 'HTTP/1.1 abc'.
 */
enum proto_class curlerr_class(CURLcode cc, bool connected);

#endif
