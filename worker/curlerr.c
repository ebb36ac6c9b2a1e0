/*
 * curlerr: see curlerr.h. A new libcurl may add codes; they count as
 * worth retrying, and as network errors, until listed here.
 */
#include "curlerr.h"

/* Codes that are the job's fault only while nothing reached a server. */
static bool
is_unusable_url(CURLcode cc)
{
	return cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT;
}

bool
curlerr_is_permanent(CURLcode cc, bool connected)
{
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
		return true;
	default:
		return is_unusable_url(cc) && !connected;
	}
}

enum proto_class
curlerr_class(CURLcode cc, bool connected)
{
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return PROTO_TIMEOUT;
	if (is_unusable_url(cc) && !connected)
		return PROTO_INVALID_REQUEST;
	return PROTO_NETWORK;
}
