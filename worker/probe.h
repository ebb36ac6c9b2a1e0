/*
 * probe: where one call is, so that the supervisor can say where a
 * worker it had to kill was stuck.
 *
 * The probe reads libcurl's timers inside its xferinfo callback, turns
 * them into milliseconds since the worker started, and writes a 'P'
 * frame (proto_progress.h) whenever a milestone appears, and at most
 * every PROBE_BODY_REPORT_MS while the body arrives. libcurl 7.88
 * publishes its connect timer only once the whole chain, TLS included,
 * is up; to tell "still connecting" from "TLS handshake not finished"
 * the probe also watches the sockets libcurl opens itself. Its callbacks
 * never abort the transfer: a frame that cannot be written is logged
 * once and ends the frames, not the call.
 */
#ifndef EMBEDWATCH_PROBE_H
#define EMBEDWATCH_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "proto_progress.h"

#define PROBE_BODY_REPORT_MS	100	/* P frames while the body arrives */
#define PROBE_MAX_SOCKETS	4	/* happy eyeballs tries two at once */

/* One call's probe. Callers embed it; every field is private. */
struct probe {
	int			 out_fd;
	bool			 frames;	/* false: write no P frames */
	bool			 broken;	/* a P frame failed: no more */
	bool			 https;
	int64_t			 t0_us;		/* the worker started */
	int64_t			 perform_us;	/* perform started, since t0 */
	CURL			*curl;
	const struct buf	*body;		/* the response so far */
	int			 sockets[PROBE_MAX_SOCKETS]; /* -1: none */
	struct proto_progress	 progress;
	struct proto_progress	 reported;	/* the last one written */
	int32_t			 reported_ms;	/* when it was written */
};

/*
 * Start a probe for a call that began at t0_us (clock_us) and that
 * writes its frames to out_fd, or none unless frames. Writes nothing.
 */
void	 probe_init(struct probe *p, int64_t t0_us, int out_fd, bool frames);

/* Milliseconds since t0_us, capped at INT32_MAX. */
int32_t	 probe_elapsed_ms(const struct probe *p);

/*
 * Watch curl's transfer: its timers, its sockets and the length of body
 * (the buffer the response lands in), for an https call or not. p and
 * body must stay valid until the transfer ends and the handle is freed.
 * Returns CURLE_OK or the code of the curl_easy_setopt that failed.
 */
CURLcode probe_setopt(struct probe *p, CURL *curl, bool https,
	    const struct buf *body);

/* curl_easy_perform starts now: libcurl's timers count from here. */
void	 probe_perform_starts(struct probe *p);

/*
 * After the transfer: a last look at libcurl's timers, in case no
 * callback saw the last milestone (such as the upload of request_len
 * bytes completing).
 */
void	 probe_perform_done(struct probe *p, size_t request_len);

/* Write a P frame with the progress as it stands (a first one says the
 * worker is alive). A write failure is logged and ends the frames. */
void	 probe_report(struct probe *p);

/* Write a last P frame if anything changed since the one before. */
void	 probe_flush(struct probe *p);

/*
 * A call on a connection opened before its job (conn.h): resolve,
 * connect and TLS count as done at 0 ms, the peer is addr, and the
 * response lands in body. No libcurl timers: the steps below say the rest.
 */
void	 probe_preconnected(struct probe *p, bool https, const char *addr,
	    const struct buf *body);

enum probe_step {
	PROBE_SENT,		/* the whole request is written */
	PROBE_FIRST_BYTE	/* the first byte of the response came */
};

/* Record a step of a preconnected call at this moment; writes a P frame. */
void	 probe_step(struct probe *p, enum probe_step step);

/* The body grew: a P frame at most every PROBE_BODY_REPORT_MS. */
void	 probe_body(struct probe *p);

/* The progress as it stands; valid as long as p. */
const struct proto_progress *probe_progress(const struct probe *p);

#endif
