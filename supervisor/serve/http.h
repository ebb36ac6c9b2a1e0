/*
 * http: serve's second front, OpenAI's HTTP API on TCP (--listen, or
 * TCP sockets handed over by systemd): POST /v1/embeddings, GET
 * /v1/models, /healthz and /metrics, HTTP/1.1 with keep-alive.
 *
 * HTTP is parsed by libmicrohttpd, one daemon per listening socket, in
 * its external-loop mode: each daemon's epoll descriptor is watched by
 * core/loop, its timeout is a loop timer, and MHD_run is called when
 * either fires or a connection was resumed. An embeddings request
 * becomes one engine request (all its inputs in one upstream call,
 * protocol/openai translates); its connection is suspended while the
 * engine works and resumed with the answer. Each connection has its own
 * fair line (--conn-inflight, --conn-queue), like a socket client.
 *
 * Hostile clients: headers are bounded by libmicrohttpd's memory pool
 * (431), bodies by --max-line (413); a connection that has not sent a
 * request's headers within --client-timeout of its last answer (idle
 * keep-alive included), or its body within that of its headers, is
 * shut down; one that hangs up while its request runs has the request
 * cancelled and its workers SIGKILLed. Error answers carry
 * x-should-retry: false (embedwatch has retried already), but for a
 * full queue, which no upstream call has seen.
 *
 * Invariant: a connection with a live engine request is suspended, and
 * a suspended connection is never closed by libmicrohttpd, so no request
 * outlives its connection.
 */
#ifndef EMBEDWATCH_HTTP_H
#define EMBEDWATCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/loop.h"
#include "engine/engine.h"
#include "serve/metrics.h"

struct http;

/* metrics is counted into and outlives the front; fds are activated TCP
 * listening sockets; socket_clients(arg) is a gauge the caller keeps. */
struct http_params {
	struct loop	*loop;
	struct engine	*engine;
	const struct config *cfg;
	struct metrics	*metrics;
	const int	*fds;
	size_t		 n_fds;
	size_t		(*socket_clients)(void *arg);
	void		*arg;
};

/*
 * Listen on every cfg->listen address and on p->fds (taken over: closed
 * by http_free), refusing a non-loopback one without --client-keys, and
 * register with the loop. Returns the front, or NULL after a message
 * with the exit status in *status.
 */
struct http *http_open(const struct http_params *p, int *status);

/* SIGTERM: accept no more connections or requests, close idle
 * connections now and the others once their answer is sent. */
void	 http_drain(struct http *h);

/* Open connections, for the status line and the drain. */
size_t	 http_n_conns(const struct http *h);

/* Close everything and free; the engine must be freed first, so that
 * no request is live. NULL is a no-op. */
void	 http_free(struct http *h);

#endif
