/*
 * worker: see worker.h. One call is a struct call on worker_run's stack:
 * check the job, set up one easy handle, perform, classify the outcome,
 * write it, release everything (the exec worker runs under LeakSanitizer
 * in CI, so even the _exit path of fork mode stays leak-free).
 *
 * The parts of a call live in their own modules: tls.c (the CA store
 * shared before fork), probe.c (progress frames, socket watch),
 * headers.c (what the response headers ask for), curlerr.c (which
 * libcurl errors are permanent), redact.c (server text made safe: the key
 * hidden, valid UTF-8, cut on a character boundary). This file owns the
 * handle, the request, the capped response buffer and the classification
 * of the outcome.
 * No callback aborts the transfer, except the write callback at the
 * response cap.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <bsd/string.h>

#include "buf.h"
#include "clock.h"
#include "conn.h"
#include "curlerr.h"
#include "embed.h"
#include "headers.h"
#include "hints.h"
#include "io.h"
#include "log.h"
#include "probe.h"
#include "proto_frame.h"
#include "proto_json.h"
#include "proto_result.h"
#include "redact.h"
#include "tls.h"
#include "url.h"
#include "worker.h"

#define CONNECT_TIMEOUT_MS	10000
#define WORKER_BACKSTOP_MS	1000	/* libcurl's timeout after the kill */
#define SNIPPET_MAX		160	/* bytes of a non-JSON error body */
#define HOST_SHOWN_MAX		200	/* bytes of a host in messages */

/* Set by worker_global_init; read-only afterwards. */
static bool		 global_done;

/* Everything one call owns. */
struct call {
	const struct job	*job;
	int			 out_fd;
	bool			 frames;
	bool			 https;
	char			 origin[256];	/* scheme://host[:port] */
	const char		*host;		/* host[:port], inside origin */
	char			*url;
	CURL			*curl;
	struct conn		*conn;		/* opened ahead; NULL: none */
	struct curl_slist	*request_headers;
	struct curl_slist	*resolve;
	struct buf		 request;
	struct buf		 response;
	struct buf		 fragment;	/* body fragment, on success */
	char			 errbuf[CURL_ERROR_SIZE];
	struct probe		 probe;
	struct headers		 response_headers;
	long			 stall_s;	/* low-speed window */
	bool			 over_cap;
	bool			 out_of_memory;
	struct proto_result	 result;
};

/* Set the outcome; the first one set wins. */
static void
set_result(struct call *c, enum proto_class class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_result(struct call *c, enum proto_class class, const char *fmt, ...)
{
	va_list ap;

	if (c->result.class != PROTO_OK)
		return;
	c->result.class = class;
	va_start(ap, fmt);
	(void)vsnprintf(c->result.message, sizeof(c->result.message), fmt, ap);
	va_end(ap);
}

int
worker_global_init(const char *cacert, char *err, size_t errlen)
{
	CURLcode cc;

	if (global_done) {
		(void)snprintf(err, errlen, "worker_global_init called twice");
		return -1;
	}
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		(void)snprintf(err, errlen, "cannot initialize libcurl: %s",
		    curl_easy_strerror(cc));
		return -1;
	}
	global_done = true;
	return tls_init(cacert, err, errlen);
}

void
worker_prefork(const struct job *job)
{
	if (job != NULL && global_done)
		tls_prefork(job->tls_session, job->tls_session_len);
}

void
worker_global_cleanup(void)
{
	if (!global_done)
		return;
	tls_cleanup();
	curl_global_cleanup();
	global_done = false;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	curl_off_t length;
	size_t n = size * nmemb;

	/* Refuse early what Content-Length says will not fit; else size
	 * the buffer once. */
	if (buf_len(&c->response) == 0 && curl_easy_getinfo(c->curl,
	    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
	    length > 0) {
		if ((uintmax_t)length > c->job->max_response) {
			c->over_cap = true;
			return 0;
		}
		(void)buf_reserve(&c->response, (size_t)length);
	}
	if (buf_append(&c->response, data, n) == -1) {
		if (errno == ENOBUFS)
			c->over_cap = true;
		else
			c->out_of_memory = true;
		return 0;
	}
	return n;
}

/* Is s free of CR and LF, so that it cannot split a header? */
static bool
is_one_line(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* The job's API key and extra headers must each be one header line. */
static int
check_headers(struct call *c)
{
	const struct job *job = c->job;
	size_t i;

	if (job->api_key != NULL && !is_one_line(job->api_key)) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "API key contains a line break");
		return -1;
	}
	if (job->api_key_header != NULL && (!is_one_line(job->api_key_header) ||
	    strchr(job->api_key_header, ':') != NULL)) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "api_key_header is not a header name");
		return -1;
	}
	for (i = 0; i < job->n_headers; i++) {
		if (job->headers[i] == NULL ||
		    !is_one_line(job->headers[i]) ||
		    strchr(job->headers[i], ':') == NULL ||
		    job->headers[i][0] == ':') {
			set_result(c, PROTO_INVALID_REQUEST,
			    "header %zu is not one 'Name: value' line", i);
			return -1;
		}
	}
	return 0;
}

/* Check what libcurl would not: the job must make sense. */
static int
check_job(struct call *c)
{
	const struct job *job = c->job;
	struct url u;
	char err[256];

	if (job->base_url == NULL || job->model == NULL ||
	    job->input_json == NULL) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "job has no url, model or input");
		return -1;
	}
	if (url_parse(job->base_url, &u, err, sizeof(err)) == -1) {
		set_result(c, PROTO_INVALID_REQUEST, "%s", err);
		return -1;
	}
	c->https = u.https;
	if (job->n_inputs == 0 || job->n_inputs > PROTO_MAX_INPUTS) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "job has %zu inputs, not 1..%d", job->n_inputs,
		    PROTO_MAX_INPUTS);
		return -1;
	}
	if (job->timeout_ms <= 0 || job->max_response == 0 ||
	    job->dimensions < 0) {
		set_result(c, PROTO_INVALID_REQUEST, "job needs a positive "
		    "timeout_ms and max_response and no negative dimensions");
		return -1;
	}
	if (check_headers(c) == -1)
		return -1;

	/* scheme://host[:port] without any user:password@, for messages. */
	(void)snprintf(c->origin, sizeof(c->origin), "%s://%.*s",
	    c->https ? "https" : "http", u.host_len > HOST_SHOWN_MAX ?
	    HOST_SHOWN_MAX : (int)u.host_len, u.host);
	c->host = strstr(c->origin, "://") + 3;
	return 0;
}

/* The request body: model, input, encoding, dimensions and the extra
 * members (user, extra_body). */
static int
build_body(struct call *c)
{
	const struct job *job = c->job;

	if (buf_append(&c->request, "{\"model\":", 9) == -1 ||
	    proto_append_json_string(&c->request, job->model) == -1 ||
	    buf_printf(&c->request, ",\"input\":%s,\"encoding_format\":\"%s\"",
	    job->input_json, job->encoding == JOB_ENCODING_FLOAT ?
	    "float" : "base64") == -1 ||
	    (job->dimensions > 0 && buf_printf(&c->request,
	    ",\"dimensions\":%ld", job->dimensions) == -1) ||
	    (job->extra_json != NULL && buf_printf(&c->request, ",%s",
	    job->extra_json) == -1) ||
	    buf_append(&c->request, "}", 1) == -1) {
		set_result(c, PROTO_INVALID_REQUEST, "cannot build the request "
		    "body: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Build the request body, the URL and the header list. */
static int
build_request(struct call *c)
{
	const struct job *job = c->job;
	struct curl_slist *l;
	char *auth = NULL;
	size_t i;
	int rc = -1;

	if (build_body(c) == -1)
		goto out;
	c->url = url_endpoint(job->base_url, "embeddings");
	if (c->url == NULL) {
		set_result(c, PROTO_NETWORK,
		    "cannot build the url: out of memory");
		goto out;
	}
	if (job->api_key != NULL && asprintf(&auth, "%s: %s%s",
	    job->api_key_header != NULL ? job->api_key_header :
	    "Authorization", job->api_key_header != NULL ? "" : "Bearer ",
	    job->api_key) == -1) {
		auth = NULL;
		set_result(c, PROTO_NETWORK,
		    "cannot build headers: out of memory");
		goto out;
	}

	/* "Expect:" turns off the 100-continue wait for large bodies. */
	l = curl_slist_append(NULL, "Content-Type: application/json");
	if (l != NULL)
		c->request_headers = l;
	if (l != NULL)
		l = curl_slist_append(c->request_headers,
		    "Accept: application/json");
	if (l != NULL)
		l = curl_slist_append(c->request_headers, "Expect:");
	if (l != NULL && auth != NULL)
		l = curl_slist_append(c->request_headers, auth);
	for (i = 0; l != NULL && i < job->n_headers; i++)
		l = curl_slist_append(c->request_headers, job->headers[i]);
	if (l == NULL) {
		set_result(c, PROTO_NETWORK,
		    "cannot build headers: out of memory");
		goto out;
	}
	rc = 0;
out:
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return rc;
}

/* A numeric libcurl option and its value. */
struct long_opt {
	CURLoption	 opt;
	long		 value;
};

/*
 * What every call asks of libcurl: the URL, an error buffer, http and
 * https only, no signals, no redirects, the time budget, the stall
 * window and certificate checks. The chain stops at the first failure.
 */
static CURLcode
set_transfer(struct call *c, long budget_ms, long connect_ms)
{
	const long verify = c->job->insecure ? 0 : 1;
	const struct long_opt longs[] = {
		{ CURLOPT_NOSIGNAL,		1 },
		{ CURLOPT_FOLLOWLOCATION,	0 },
		{ CURLOPT_TIMEOUT_MS,		budget_ms },
		{ CURLOPT_CONNECTTIMEOUT_MS,	connect_ms },
		{ CURLOPT_LOW_SPEED_LIMIT,	c->stall_s > 0 ? 1 : 0 },
		{ CURLOPT_LOW_SPEED_TIME,	c->stall_s },
		{ CURLOPT_SSL_VERIFYPEER,	verify },
		{ CURLOPT_SSL_VERIFYHOST,	verify * 2 },
	};
	CURL *h = c->curl;
	CURLcode cc;
	size_t i;

	cc = curl_easy_setopt(h, CURLOPT_URL, c->url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
		    "http,https");
	for (i = 0; cc == CURLE_OK && i < sizeof(longs) / sizeof(longs[0]);
	    i++)
		cc = curl_easy_setopt(h, longs[i].opt, longs[i].value);
	if (cc == CURLE_OK)
		cc = hints_setopt(h, c->job, &c->resolve);
	return cc;
}

/* The request going out and the response coming in. */
static CURLcode
set_exchange(struct call *c)
{
	CURL *h = c->curl;
	CURLcode cc;

	cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->request_headers);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)buf_len(&c->request));
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    buf_data(&c->request));
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	if (cc == CURLE_OK)
		cc = headers_setopt(h, &c->response_headers);
	if (cc == CURLE_OK)
		cc = probe_setopt(&c->probe, h, c->https, &c->response);
	return cc;
}

/* Set every option of the one easy handle; each setopt is checked. */
static int
set_options(struct call *c)
{
	const struct job *job = c->job;
	struct tls_resume resume;
	long budget_ms, connect_ms;
	CURLcode cc;

	/*
	 * Under the supervisor (frames) its SIGKILL at the deadline is the
	 * timeout and the progress frames say where the call was: libcurl's
	 * own timers are only a backstop after the deadline, so they never
	 * answer first, and no stall window cuts the call short. By hand
	 * libcurl is the only clock: the timeout, and a stall window.
	 */
	budget_ms = job->timeout_ms;
	if (c->frames)
		budget_ms += WORKER_BACKSTOP_MS;
	connect_ms = job->connect_timeout_ms > 0 ? job->connect_timeout_ms :
	    CONNECT_TIMEOUT_MS;
	if (connect_ms > budget_ms)
		connect_ms = budget_ms;
	/* Stalls: libcurl averages speed over ~5 s, so this triggers
	 * some 5 s after the last byte plus stall_s. */
	c->stall_s = 0;
	if (!c->frames) {
		c->stall_s = budget_ms / 2 / 1000;
		if (c->stall_s < 1)
			c->stall_s = 1;
	}

	cc = set_transfer(c, budget_ms, connect_ms);
	if (cc == CURLE_OK)
		cc = set_exchange(c);
	if (cc != CURLE_OK) {
		set_result(c, PROTO_NETWORK, "cannot set up the transfer: %s",
		    curl_easy_strerror(cc));
		return -1;
	}
	if (!c->https || job->insecure)
		return 0;
	resume.session = job->tls_session;
	resume.len = job->tls_session_len;
	resume.out_fd = c->frames ? c->out_fd : -1;
	cc = tls_setopt(c->curl, job->cacert, &resume);
	if (cc != CURLE_OK) {
		set_result(c, PROTO_NETWORK, "cannot set up TLS: %s",
		    curl_easy_strerror(cc));
		return -1;
	}
	return 0;
}

/* Up to SNIPPET_MAX bytes of a body as one printable line, the key
 * redacted from the whole body first so that no cut can split it. */
static void
body_snippet(const struct buf *b, const char *key, char *out, size_t outlen)
{
	char clean[4 * SNIPPET_MAX];
	const unsigned char *p = (const unsigned char *)clean;
	size_t i, n = 0, len;

	len = redact_text(buf_data(b), buf_len(b), key, clean, sizeof(clean));

	for (i = 0; i < len && n + 4 < outlen && n < SNIPPET_MAX; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			out[n++] = (char)p[i];
		else if (n > 0 && out[n - 1] != ' ')
			out[n++] = ' ';
	}
	if (i < len && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	if (outlen > 0)
		out[n < outlen ? n : outlen - 1] = '\0';
}

/* Classify a complete response with a non-2xx status. */
static void
http_error(struct call *c, long status)
{
	char msg[400], snippet[SNIPPET_MAX + 4], where[201];
	const char *location = NULL;
	bool quota;

	c->result.retry_after_ms = headers_retry_after_ms(
	    &c->response_headers);
	if (c->over_cap) {
		set_result(c, PROTO_HTTP, "HTTP %ld, with a body larger than "
		    "%zu bytes", status, c->job->max_response);
		return;
	}
	if (embed_error_parse(buf_data(&c->response), buf_len(&c->response),
	    msg, sizeof(msg), &quota) == 0) {
		c->result.quota_exhausted = quota;
		redact_job(msg, sizeof(msg), c->job);
		set_result(c, PROTO_HTTP, "HTTP %ld: %s", status, msg);
		return;
	}
	if (status >= 300 && status < 400 && c->curl != NULL &&
	    curl_easy_getinfo(c->curl,
	    CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
	    location != NULL) {
		(void)redact_text(location, strlen(location),
		    c->job->api_key, where, sizeof(where));
		set_result(c, PROTO_HTTP, "HTTP %ld, redirects are not "
		    "followed: '%s'", status, where);
		return;
	}
	body_snippet(&c->response, c->job->api_key, snippet, sizeof(snippet));
	set_result(c, PROTO_HTTP, "HTTP %ld%s%s", status, snippet[0] != '\0' ?
	    ": " : "", snippet);
}

/* Classify a transfer stopped by the write callback: cap or memory. */
static void
write_error(struct call *c, long status)
{
	if (status >= 300 || (status > 0 && status < 200))
		http_error(c, status);
	else if (c->over_cap)
		set_result(c, PROTO_BAD_RESPONSE,
		    "response larger than %zu bytes", c->job->max_response);
	else
		set_result(c, PROTO_BAD_RESPONSE,
		    "out of memory after %zu bytes of the response",
		    buf_len(&c->response));
}

/* Classify a failed transfer. */
static void
curl_error(struct call *c, CURLcode cc, long status)
{
	char where[256];
	const char *text;
	size_t n;
	bool connected;

	connected = probe_progress(&c->probe)->connected_ms >= 0;
	c->result.permanent = curlerr_is_permanent(cc, connected);
	if (cc == CURLE_WRITE_ERROR && (c->over_cap || c->out_of_memory)) {
		write_error(c, status);
		return;
	}
	if (curlerr_class(cc, connected) == PROTO_INVALID_REQUEST) {
		set_result(c, PROTO_INVALID_REQUEST, "cannot use url '%s': %s",
		    c->origin, c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(cc));
		return;
	}
	proto_progress_describe(probe_progress(&c->probe), c->host, c->https,
	    where, sizeof(where));
	/* Before the attempt's timeout only the connect timeout fires: the
	 * endpoint did not take the connection, a network failure. */
	if (cc == CURLE_OPERATION_TIMEDOUT && c->result.ms < c->job->timeout_ms &&
	    strncmp(c->errbuf, "Operation too slow", 18) != 0) {
		set_result(c, PROTO_NETWORK, "no connection within %ld ms: %s",
		    c->result.ms, where);
		return;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		if (strncmp(c->errbuf, "Operation too slow", 18) == 0)
			set_result(c, PROTO_TIMEOUT, "timed out after %ld ms, "
			    "under 1 byte/s for %ld s: %s", c->result.ms,
			    c->stall_s, where);
		else
			set_result(c, PROTO_TIMEOUT, "timed out after %ld ms: "
			    "%s", c->result.ms, where);
		return;
	}
	text = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc);
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '.'))
		n--;
	set_result(c, PROTO_NETWORK, "%.*s: %s", (int)n, text, where);
}

static void	classify(struct call *, long);

/* Perform the call and classify its outcome into c->result. */
static void
perform(struct call *c)
{
	long status = 0;
	CURLcode cc;

	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		set_result(c, PROTO_NETWORK, "cannot create a curl handle");
		return;
	}
	if (build_request(c) == -1 || set_options(c) == -1)
		return;

	probe_perform_starts(&c->probe);
	cc = curl_easy_perform(c->curl);
	c->result.ms = probe_elapsed_ms(&c->probe);
	probe_perform_done(&c->probe, buf_len(&c->request));
	if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		status = 0;
	c->result.http_status = (int)status;

	if (cc != CURLE_OK) {
		curl_error(c, cc, status);
		return;
	}
	if (!headers_complete(&c->response_headers)) {
		set_result(c, PROTO_NETWORK, "connection closed in the "
		    "middle of the response headers (HTTP %ld)", status);
		return;
	}
	classify(c, status);
}

/* Classify a complete response with this status into c->result. */
static void
classify(struct call *c, long status)
{
	struct embed_response r = { 0 };
	char err[256];

	if (status < 200 || status > 299) {
		http_error(c, status);
		return;
	}
	if (embed_parse(buf_data(&c->response), buf_len(&c->response),
	    c->job->n_inputs, c->job->dimensions, &r, err, sizeof(err)) == -1) {
		set_result(c, PROTO_BAD_RESPONSE, "%s", err);
		return;
	}
	c->result.prompt_tokens = r.prompt_tokens > LONG_MAX ? LONG_MAX :
	    (long)r.prompt_tokens;
	/* The raw body is not needed any more; keep the peak low. */
	buf_free(&c->response);
	if (embed_format(&r, c->job->model, &c->fragment) == -1)
		set_result(c, PROTO_BAD_RESPONSE,
		    "cannot format the embeddings: %s", strerror(errno));
	embed_response_free(&r);
}

/* Make the call on the connection opened ahead; classify as perform. */
static void
exchange(struct call *c)
{
	const struct job *job = c->job;
	struct conn_exchange x;
	char err[256], where[256];
	int rc;

	if (build_request(c) == -1)
		return;
	memset(&x, 0, sizeof(x));
	x.headers = c->request_headers;
	x.body = buf_data(&c->request);
	x.body_len = buf_len(&c->request);
	x.give_up_us = clock_us() + (int64_t)(job->timeout_ms +
	    (c->frames ? WORKER_BACKSTOP_MS : 0)) * 1000;
	x.response = &c->response;
	x.max_response = job->max_response;
	x.response_headers = &c->response_headers;
	x.probe = &c->probe;
	probe_preconnected(&c->probe, c->https, conn_addr(c->conn),
	    &c->response);
	rc = conn_exchange(c->conn, job->base_url, &x, err, sizeof(err));
	c->result.ms = probe_elapsed_ms(&c->probe);
	c->result.http_status = (int)x.status;
	if (rc == -1) {
		proto_progress_describe(probe_progress(&c->probe), c->host,
		    c->https, where, sizeof(where));
		if (x.timed_out)
			set_result(c, PROTO_TIMEOUT, "timed out after %ld ms: "
			    "%s", c->result.ms, where);
		else
			set_result(c, PROTO_NETWORK, "%s: %s", err, where);
		return;
	}
	if (x.over_cap || x.out_of_memory) {
		c->over_cap = x.over_cap;
		c->out_of_memory = x.out_of_memory;
		write_error(c, x.status);
		return;
	}
	classify(c, x.status);
}

static int
exit_status(enum proto_class class)
{
	switch (class) {
	case PROTO_OK:
		return WORKER_EXIT_OK;
	case PROTO_HTTP:
		return WORKER_EXIT_HTTP;
	case PROTO_NETWORK:
		return WORKER_EXIT_NETWORK;
	case PROTO_TIMEOUT:
		return WORKER_EXIT_TIMEOUT;
	case PROTO_BAD_RESPONSE:
		return WORKER_EXIT_BAD_RESPONSE;
	case PROTO_INVALID_REQUEST:
		return WORKER_EXIT_INVALID;
	}
	return WORKER_EXIT_INTERNAL;
}

/* Frames: a last P if anything changed, B on success, then R. */
static int
write_frames(struct call *c)
{
	struct buf out;
	int rc = -1;

	buf_init(&out, PROTO_FRAME_MAX);
	probe_flush(&c->probe);
	if (c->result.class == PROTO_OK &&
	    proto_frame_write(c->out_fd, PROTO_FRAME_BODY,
	    buf_data(&c->fragment), buf_len(&c->fragment)) == -1)
		goto out;
	if (proto_result_encode(&c->result, &out) == -1 ||
	    proto_frame_write(c->out_fd, PROTO_FRAME_RESULT, buf_data(&out),
	    buf_len(&out)) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&out);
	return rc;
}

/* By hand: one JSON line. */
static int
write_line(struct call *c)
{
	json_t *error = NULL, *line = NULL;
	char *text = NULL;
	int rc = -1;

	if (c->result.class == PROTO_OK) {
		if (buf_printf(&c->fragment, ",\"ms\":%ld}\n",
		    c->result.ms) == -1 ||
		    io_write_all(c->out_fd, "{\"ok\":true,", 11) == -1 ||
		    io_write_all(c->out_fd, buf_data(&c->fragment),
		    buf_len(&c->fragment)) == -1)
			goto out;
		rc = 0;
		goto out;
	}
	errno = ENOMEM;		/* what jansson failures mean here */
	error = json_pack("{s:s, s:s}", "code",
	    proto_class_name(c->result.class), "message", c->result.message);
	if (error == NULL || (c->result.class == PROTO_HTTP &&
	    json_object_set_new(error, "status",
	    json_integer(c->result.http_status)) == -1))
		goto out;
	line = json_pack("{s:b, s:O, s:I}", "ok", 0, "error", error, "ms",
	    (json_int_t)c->result.ms);
	if (line == NULL)
		goto out;
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL || io_write_all(c->out_fd, text, strlen(text)) == -1 ||
	    io_write_all(c->out_fd, "\n", 1) == -1)
		goto out;
	rc = 0;
out:
	free(text);
	json_decref(line);
	json_decref(error);
	return rc;
}

/* Write the outcome. Returns status, or WORKER_EXIT_INTERNAL if the
 * outcome could not be written. */
static int
write_outcome(struct call *c, int status)
{
	if ((c->frames ? write_frames(c) : write_line(c)) == -1) {
		log_error("cannot write the result: %s", strerror(errno));
		return WORKER_EXIT_INTERNAL;
	}
	return status;
}

int
worker_refuse(const char *message, long ms, int out_fd, bool frames)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	c.out_fd = out_fd;
	c.frames = frames;
	proto_result_init(&c.result);
	c.result.class = PROTO_INVALID_REQUEST;
	c.result.ms = ms;
	(void)redact_text(message, strlen(message), NULL, c.result.message,
	    sizeof(c.result.message));
	probe_init(&c.probe, clock_us(), out_fd, frames);
	probe_report(&c.probe);	/* as worker_run starts */
	return write_outcome(&c, WORKER_EXIT_INVALID);
}

int
worker_run(const struct job *job, int out_fd, bool frames)
{
	return worker_run_on(job, out_fd, frames, NULL);
}

int
worker_run_on(const struct job *job, int out_fd, bool frames,
    struct conn *conn)
{
	struct call c;
	int64_t t0_us;
	int status;

	t0_us = clock_us();
	memset(&c, 0, sizeof(c));
	c.job = job;
	c.out_fd = out_fd;
	c.frames = frames;
	proto_result_init(&c.result);
	buf_init(&c.request, PROTO_FRAME_MAX);
	buf_init(&c.response, job->max_response);
	buf_init(&c.fragment, PROTO_FRAME_MAX);
	headers_init(&c.response_headers);
	probe_init(&c.probe, t0_us, out_fd, frames);
	probe_report(&c.probe);	/* alive */

	/* A connection opened ahead serves a job for its endpoint if it is
	 * still open; else the call goes the ordinary way. */
	if (conn != NULL && conn_serves(conn, job) && conn_is_open(conn))
		c.conn = conn;
	else
		conn_close(conn);
	if (check_job(&c) == 0 && c.conn != NULL)
		exchange(&c);
	else if (c.result.class == PROTO_OK)
		perform(&c);
	c.result.ms = probe_elapsed_ms(&c.probe);
	/* Server text is in the message: from here on it is safe. */
	redact_job(c.result.message, sizeof(c.result.message), job);
	if (c.result.class != PROTO_HTTP)
		c.result.retry_after_ms = -1;
	headers_ratelimit(&c.response_headers, &c.result);
	if (c.result.class != PROTO_OK)
		log_debug("attempt %u of request %s: %s: %s", job->attempt,
		    job->request_id != NULL ? job->request_id : "-",
		    proto_class_name(c.result.class), c.result.message);
	status = write_outcome(&c, exit_status(c.result.class));

	curl_easy_cleanup(c.curl);
	conn_close(c.conn);
	curl_slist_free_all(c.resolve);
	curl_slist_free_all(c.request_headers);
	free(c.url);
	buf_free(&c.request);
	buf_free(&c.response);
	buf_free(&c.fragment);
	return status;
}
