/*
 * proto: the job and result protocol between supervisor and worker.
 *
 * A job describes one embeddings call. In fork mode the worker reads the
 * supervisor's struct job directly; in exec mode (and by hand) it arrives
 * as one JSON object on the worker's stdin, built by proto_job_to_json and
 * read back by proto_job_parse. The API key is never part of the JSON: it
 * travels in the worker's environment.
 *
 * The worker answers on its stdout with frames: a 1-byte type, a 4-byte
 * little-endian payload length, the payload.
 *   'P' progress: a fixed-size snapshot of how far the call got, sent at
 *       each milestone; the latest one tells where a killed worker hung.
 *   'B' body: on success only, the JSON members of the answer,
 *       "embeddings":[[...]],"model":"...","usage":{...}
 *       ready to be spliced into a response line without re-parsing.
 *   'R' result: the outcome as a small JSON object; always the last frame.
 * Frames are bounded by PROTO_FRAME_MAX.
 */
#ifndef EMBEDWATCH_PROTO_H
#define EMBEDWATCH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

#define PROTO_MAX_INPUTS	2048
#define PROTO_FRAME_HDR		5
#define PROTO_FRAME_MAX		((size_t)1 << 31)

#define PROTO_FRAME_PROGRESS	'P'
#define PROTO_FRAME_BODY	'B'
#define PROTO_FRAME_RESULT	'R'

enum job_encoding {
	JOB_ENCODING_BASE64,
	JOB_ENCODING_FLOAT
};

struct job {
	const char	 *base_url;	/* no trailing slash; POST base_url/embeddings */
	const char	 *model;
	const char	 *input_json;	/* compact JSON array of n_inputs strings */
	size_t		  n_inputs;
	long		  dimensions;	/* 0: not sent */
	enum job_encoding encoding;
	long		  timeout_ms;	/* hard deadline of this attempt */
	const char *const *headers;	/* "Name: value" */
	size_t		  n_headers;
	const char	 *cacert;	/* NULL: the system store */
	bool		  insecure;
	size_t		  max_response;	/* cap on response body bytes */
	const char	 *api_key;	/* NULL: none; never serialized */
	const char	 *request_id;	/* shown in ps and logs; may be NULL */
	unsigned	  attempt;
	void		 *priv;		/* private to proto_job_parse */
};

/*
 * Validate a request's "input" (a non-empty string, or a non-empty array
 * of at most PROTO_MAX_INPUTS non-empty strings) and return it as a
 * malloc'd compact JSON array in *json, with the count in *n. Returns 0, or
 * -1 with a message in err (ENOMEM also ends up there).
 */
int	 proto_input_normalize(const json_t *input, char **json, size_t *n,
	    char *err, size_t errlen);

/* Append s as a JSON string literal (quoted and escaped); text that is
 * not UTF-8 is replaced by a note saying so. Returns 0 or -1 with errno. */
int	 proto_append_json_string(struct buf *out, const char *s);

/* Append the job as one JSON object (no newline) to out. Returns 0 or -1
 * with errno. The API key is left out. */
int	 proto_job_to_json(const struct job *job, struct buf *out);

/*
 * Parse a JSON job. Fields absent from the JSON keep the values of
 * defaults (which must stay valid while the job is used; may be NULL for
 * built-in ones); "input" is required. Returns a job to release with
 * proto_job_free, or NULL with a message in err.
 */
struct job *proto_job_parse(const char *text, size_t len,
	    const struct job *defaults, char *err, size_t errlen);
void	 proto_job_free(struct job *job);

/* How far a call got, in milliseconds since the worker started; -1 means
 * the milestone was not reached. */
struct proto_progress {
	int32_t	 resolved_ms;
	int32_t	 connected_ms;
	int32_t	 tls_ms;	/* stays -1 over plain http */
	int32_t	 sent_ms;	/* the whole request was written */
	int32_t	 first_byte_ms;
	uint64_t body_bytes;
	char	 addr[64];	/* "10.1.2.3:443", "[::1]:8080" or "" */
};

#define PROTO_PROGRESS_LEN	(5 * 4 + 8 + 64)

void	 proto_progress_init(struct proto_progress *p);
void	 proto_progress_encode(const struct proto_progress *p,
	    unsigned char out[PROTO_PROGRESS_LEN]);
/* Returns 0, or -1 if len is not PROTO_PROGRESS_LEN. */
int	 proto_progress_decode(const unsigned char *in, size_t len,
	    struct proto_progress *p);

/*
 * Describe where the call stands, for messages about a killed or timed
 * out attempt: "connected to 10.1.2.3:443 and sent the request at 41 ms,
 * no first byte". host names what was being resolved; tls says whether a
 * handshake was due. Always NUL-terminates out.
 */
void	 proto_progress_describe(const struct proto_progress *p,
	    const char *host, bool tls, char *out, size_t outlen);

enum proto_class {
	PROTO_OK,
	PROTO_HTTP,		/* the API answered with an error status */
	PROTO_NETWORK,		/* curl failed: resolve, connect, TLS, reset */
	PROTO_TIMEOUT,		/* curl's own timeout fired */
	PROTO_BAD_RESPONSE,	/* 2xx, but not a valid embeddings answer */
	PROTO_INVALID_REQUEST	/* the job itself was unusable */
};

struct proto_result {
	enum proto_class class;
	int		 http_status;	/* 0: no response */
	int		 curl_code;	/* 0: none */
	long		 retry_after_ms; /* -1: none given */
	bool		 quota_exhausted; /* 429 insufficient_quota */
	long		 ms;		/* worker's own duration */
	char		 message[512];
};

const char *proto_class_name(enum proto_class class);

/* Append the result as a JSON object to out. Returns 0 or -1 with errno. */
int	 proto_result_encode(const struct proto_result *r, struct buf *out);

/* Parse a result frame. Returns 0, or -1 with a message in err. */
int	 proto_result_decode(const char *text, size_t len,
	    struct proto_result *r, char *err, size_t errlen);

/* Write one frame to fd, blocking. Returns 0 or -1 with errno. */
int	 proto_frame_write(int fd, char type, const void *p, size_t len);

/*
 * Find the first complete frame at the front of b. Returns 1 and sets
 * *type, *payload (pointing into b, valid until b changes) and *len;
 * 0 if the frame is not complete yet; -1 if the bytes are not a frame
 * (unknown type or length over max). Consume PROTO_FRAME_HDR + len bytes
 * when done with it.
 */
int	 proto_frame_peek(const struct buf *b, size_t max, char *type,
	    const char **payload, size_t *len);

#endif
