/*
 * tls: the CA store that every https call of a process, and of the
 * children it forks, shares; and TLS sessions carried from one worker
 * to the next.
 *
 * tls_init parses the CA bundle once into an X509_STORE, before the
 * supervisor forks; each call's SSL_CTX then takes a reference to that
 * store (SSL_CTX_set1_cert_store), so its pages stay shared copy-on-write
 * and libcurl loads no bundle of its own. That saves parsing ~150
 * certificates per https call. The store is used only when it matches
 * the job's cacert; any other job, and every job of a process that never
 * called tls_init or whose libcurl does not use this OpenSSL, falls back
 * to libcurl's own loading. The store is read-only between tls_init and
 * tls_cleanup.
 */
#ifndef EMBEDWATCH_TLS_H
#define EMBEDWATCH_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

/*
 * Parse cacert (NULL: libcurl's default bundle and directory) into the
 * shared store. Call once, while single-threaded, after
 * curl_global_init. Returns 0, also when no store is built because
 * libcurl cannot use one or the default bundle is unreadable (a warning
 * is logged; libcurl reports the same on each call); -1 with a message in
 * err when cacert itself cannot be opened or loaded, or memory runs out.
 */
int	 tls_init(const char *cacert, char *err, size_t errlen);

/*
 * In the parent, before forking a worker whose job resumes the session
 * der (len bytes): decode it now, once, unless it is the one decoded
 * last, so that the forked worker takes the object from its copy of our
 * memory instead of decoding it again (tls_setopt's resumption compares
 * the bytes). A session that does not decode is left to the worker.
 */
void	 tls_prefork(const unsigned char *der, size_t len);

/* Release the shared store and the decoded session; tls_init may be
 * called again afterwards. */
void	 tls_cleanup(void);

/* Does the shared store hold what a job with this cacert asks for? */
bool	 tls_store_fits(const char *cacert);

/* The longest TLS session handed on, in DER bytes. */
#define TLS_SESSION_MAX		8192

/*
 * TLS sessions across processes: a worker resumes the session an
 * earlier one learned (the supervisor keeps the bytes, opaque) and
 * hands on each new one the server issues, as an 'S' frame
 * (proto_frame.h). libcurl's own session cache, which lives only inside
 * one process, is off then.
 */
struct tls_resume {
	const unsigned char	*session;	/* DER; NULL: none */
	size_t			 len;
	int			 out_fd;	/* for 'S' frames; -1: none */
};

/*
 * Set up certificate verification of curl's transfer for a job with
 * this cacert: the shared store when it fits (and libcurl can take it),
 * else libcurl's own loading of cacert or of its default; and, unless r
 * is NULL, session resumption as r says (r's bytes must stay valid until
 * the handshake is done). One transfer per process: the callbacks read
 * what the last call set. Returns CURLE_OK or the code of the
 * curl_easy_setopt that failed.
 */
CURLcode tls_setopt(CURL *curl, const char *cacert,
	    const struct tls_resume *r);

#endif
