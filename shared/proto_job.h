/*
 * proto_job: the job, one embeddings call as the supervisor hands it to
 * a worker.
 *
 * In fork mode the worker reads the supervisor's struct job directly; in
 * exec mode (and by hand) it arrives as one JSON object on the worker's
 * stdin, built by proto_job_to_json and read back by proto_job_parse. The
 * API key is never part of the JSON: it travels in the worker's
 * environment. Secret headers (--header-file) are, on the worker's
 * private stdin (a memfd), never on argv; the worker redacts their values
 * from server text as it does the key's. The request's "input" is
 * checked and put in its one shape here too, so that the supervisor
 * refuses what a worker would refuse.
 */
#ifndef EMBEDWATCH_PROTO_JOB_H
#define EMBEDWATCH_PROTO_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

#define PROTO_MAX_INPUTS	2048

enum job_encoding {
	JOB_ENCODING_BASE64,
	JOB_ENCODING_FLOAT
};

struct job {
	const char	 *base_url;	/* POST base_url/embeddings (url.h) */
	const char	 *model;
	const char	 *input_json;	/* JSON array of n_inputs strings */
	size_t		  n_inputs;
	long		  dimensions;	/* 0: not sent */
	const char	 *extra_json;	/* NULL, or more body members, as
					 * "k":v,... without braces ("extra"
					 * in the JSON: an object) */
	enum job_encoding encoding;
	long		  timeout_ms;	/* hard deadline of this attempt */
	const char *const *headers;	/* "Name: value" */
	size_t		  n_headers;
	size_t		  n_secret_headers; /* the last ones hold secrets */
	const char	 *api_key_header; /* NULL: "Authorization: Bearer" */
	const char	 *cacert;	/* NULL: the system store */
	bool		  insecure;
	size_t		  max_response;	/* cap on response body bytes */
	const char	 *api_key;	/* NULL: none; never serialized */
	const char	 *request_id;	/* shown in ps and logs; may be NULL */
	unsigned	  attempt;
	/* Hints from calls before this one, all optional (see hints.h). */
	long		  connect_timeout_ms; /* 0: the worker's default */
	const char	 *resolve_addr;	/* base_url's host at "ip:port" */
	const unsigned char *tls_session; /* DER SSL_SESSION to resume */
	size_t		  tls_session_len;
	void		 *priv;		/* private to proto_job_parse */
};

/*
 * Validate a request's "input" (a non-empty string, or a non-empty array
 * of at most PROTO_MAX_INPUTS non-empty strings) and return it as a
 * malloc'd compact JSON array in *json, with the count in *n. Returns 0, or
 * -1 with a message in err (ENOMEM also ends up there) and *json NULL.
 */
int	 proto_input_normalize(const json_t *input, char **json, size_t *n,
	    char *err, size_t errlen);

/*
 * The members of obj, a JSON object of more request-body members ("user",
 * or whatever an OpenAI SDK's extra_body holds), as compact JSON without
 * the braces ("k":v,...), in *members (malloc'd; NULL for an empty
 * object). Members the job sets itself (input, model, encoding_format,
 * dimensions) are refused. Returns 0, or -1 with a message in err.
 */
int	 proto_extra_members(const json_t *obj, char **members, char *err,
	    size_t errlen);

/* Append the job as one JSON object (no newline) to out. Returns 0 or -1
 * with errno (ENOBUFS, ENOMEM); out may then hold part of it. The API key
 * is left out. */
int	 proto_job_to_json(const struct job *job, struct buf *out);

/*
 * Parse a JSON job. Fields absent from the JSON keep the values of
 * defaults (which must stay valid while the job is used; may be NULL for
 * built-in ones); "input" is required. Returns a job to release with
 * proto_job_free, or NULL with a message in err. The job's strings point
 * into memory it owns or into defaults.
 */
struct job *proto_job_parse(const char *text, size_t len,
	    const struct job *defaults, char *err, size_t errlen);

/* Release a job from proto_job_parse; NULL is fine. */
void	 proto_job_free(struct job *job);

#endif
