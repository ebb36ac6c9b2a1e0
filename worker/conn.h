/*
 * conn: a connection made before its call, for warm workers.
 *
 * conn_open has libcurl resolve, connect and finish the TLS handshake
 * (CURLOPT_CONNECT_ONLY) exactly as the call itself would: the same
 * certificate and host verification, CA store, connect timeout and hints
 * (tls.h). The worker then waits in conn_wait for its job and watches
 * the connection meanwhile; conn_exchange sends the one request on it
 * (curl_easy_send) and reads the response (curl_easy_recv), framed by
 * libhttp-parser: Content-Length, chunked or to EOF, 1xx skipped, the
 * body capped while it arrives. No byte is sent before the job: a warm
 * worker never makes a request of its own.
 *
 * A response that is not HTTP, or that ends early, is a network failure
 * (retryable). Over plain http through a proxy the request would need
 * the absolute form: conn_is_usable says no, and the worker makes its
 * call the ordinary way.
 */
#ifndef EMBEDWATCH_CONN_H
#define EMBEDWATCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "headers.h"
#include "probe.h"
#include "proto_job.h"

struct conn;

/* Can a call to base_url go out on a connection opened ahead? False for
 * a bad URL and for plain http through a proxy (the environment's). */
bool	 conn_is_usable(const char *base_url);

/*
 * Resolve, connect and handshake for a call of job (its base_url,
 * cacert, insecure, connect timeout and hints); nothing is sent. Blocks
 * up to the connect timeout. New TLS sessions go to out_fd as 'S'
 * frames, now and while the connection is used (-1: none). Returns the
 * connection, or NULL with a message in err.
 */
struct conn *conn_open(const struct job *job, int out_fd, char *err,
	    size_t errlen);

/* Was c opened for calls like job's (base_url, cacert, insecure)? */
bool	 conn_serves(const struct conn *c, const struct job *job);

/* The peer as "10.1.2.3:443" or "[::1]:8080"; valid as long as c. */
const char *conn_addr(const struct conn *c);

/*
 * Wait for job_fd to become readable (returns 1: a job, or EOF), for the
 * connection to close or turn unusable, or for idle_ms to pass (both
 * return 0 with the reason in why). TLS records that carry no data
 * (session tickets) are taken in on the way. Returns -1 with errno if
 * poll fails.
 */
int	 conn_wait(struct conn *c, int job_fd, long idle_ms, char *why,
	    size_t whylen);

/* Is the connection still open, as far as can be seen without waiting?
 * Asked just before the request goes out. */
bool	 conn_is_open(struct conn *c);

/* One exchange on the connection. */
struct conn_exchange {
	const struct curl_slist	*headers;	/* "Name: value" lines */
	const char		*body;
	size_t			 body_len;
	int64_t			 give_up_us;	/* clock_us: a backstop */
	struct buf		*response;	/* the body */
	size_t			 max_response;	/* its cap */
	struct headers		*response_headers;
	struct probe		*probe;		/* sent, first byte, body */
	long			 status;	/* out: 0 before a status */
	bool			 over_cap;	/* out: the body hit the cap */
	bool			 out_of_memory;	/* out */
	bool			 timed_out;	/* out: give_up_us passed */
};

/*
 * Send POST base_url/embeddings with x's headers (a header whose value is
 * empty, or that a later one of the same name overrides, is left out;
 * Host and Content-Length are ours) and body, then read the response
 * into x. Returns 0 once a whole response is in (or the body went over
 * the cap, or memory ran out: see x), or -1 with a message in err
 * (not sent, cut short, not HTTP, timed out). Once only per connection.
 */
int	 conn_exchange(struct conn *c, const char *base_url,
	    struct conn_exchange *x, char *err, size_t errlen);

/* The easy handle, for curl_easy_getinfo; valid as long as c. */
CURL	*conn_curl(struct conn *c);

/* Close the connection and free c. NULL is fine. */
void	 conn_close(struct conn *c);

#endif
