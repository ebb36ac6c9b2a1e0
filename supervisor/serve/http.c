/*
 * http: see http.h. serve opens it beside the Unix socket; libmicrohttpd
 * calls back into on_connection (a connection starts or ends),
 * on_request (headers, then body pieces, then once more when the upload
 * is complete or the connection was resumed) and on_completed (a
 * request is done with); the engine answers through on_answer.
 *
 * State: a struct hconn per TCP connection (libmicrohttpd's socket
 * context), a struct exchange per HTTP request (its con_cls). While the
 * engine holds an exchange's request the connection is suspended and
 * its descriptor is watched by us, for a hang-up only (POLLRDHUP), and
 * unwatched before it is resumed: libmicrohttpd owns the descriptor and
 * does not close a suspended connection. Race: a hang-up and the answer
 * in the same turn: whichever comes first resumes the connection; a
 * hang-up after the answer is libmicrohttpd's to see.
 *
 * Cost: the client-timeout sweep is O(connections) once a second.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <microhttpd.h>

#include "buf.h"
#include "clock.h"
#include "io.h"
#include "log.h"
#include "proto_json.h"
#include "engine/fairq.h"
#include "protocol/openai.h"
#include "serve/http.h"

#define MAX_DAEMONS	32
#define MAX_KEYS	1024
/* Per connection, touched whole: headers up to about 11 KiB (431 beyond);
 * 1,000 idle keep-alive connections cost 13 MiB. */
#define HEADER_POOL	(12 * 1024)
#define SWEEP_EVERY_MS	1000

struct http;
struct exchange;

/* A TCP connection. */
struct hconn {
	TAILQ_ENTRY(hconn) entry;
	struct http	*http;
	int		 fd;		/* libmicrohttpd's */
	unsigned long	 no;		/* for logs and ids */
	unsigned long	 n_requests;
	int64_t		 since_ms;	/* when its clock started */
	bool		 shut;		/* we shut it down */
	struct exchange	*x;		/* the request now, or NULL */
	struct fairq_line line;
};

/* An HTTP request. answered: by the engine, with resp (NULL if memory
 * ran out). */
struct exchange {
	struct hconn	*conn;
	struct MHD_Connection *mc;
	struct buf	 body;
	bool		 embeddings;	/* POST /v1/embeddings */
	bool		 too_large;
	bool		 base64;
	bool		 live;		/* the engine has its request */
	bool		 suspended;
	bool		 gone;		/* the client hung up */
	bool		 answered;
	int		 status;	/* of resp */
	struct MHD_Response *resp;
};

struct daemon {
	struct MHD_Daemon *mhd;
	int		 listen_fd;	/* ours until the daemon runs */
	int		 epoll_fd;	/* libmicrohttpd's */
};

TAILQ_HEAD(hconn_list, hconn);

struct http {
	struct loop	*loop;
	struct engine	*engine;
	const struct config *cfg;
	struct metrics	*metrics;
	size_t		(*socket_clients)(void *);
	void		*arg;
	struct daemon	 d[MAX_DAEMONS];
	size_t		 n_d;
	char		**keys;
	size_t		 n_keys;
	struct hconn_list conns;
	size_t		 n_conns;
	unsigned long	 next_no;
	bool		 draining;
	bool		 need_run;	/* a connection was resumed */
	struct timer	 mhd_timer;
	struct timer	 sweep_timer;
};

static void	run_all(struct http *);

/* libmicrohttpd's own messages: resets and such, not ours to shout. */
static void __attribute__((format(printf, 2, 0)))
mhd_log(void *arg, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)arg;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
}

/* Is the key sent (n bytes) one of ours? In time independent of where
 * it differs. */
static bool
key_ok(const struct http *h, const char *key, size_t n)
{
	unsigned char diff;
	bool ok = false;
	size_t i, j;

	for (i = 0; i < h->n_keys; i++) {
		if (strlen(h->keys[i]) != n)
			continue;
		diff = 0;
		for (j = 0; j < n; j++)
			diff |= (unsigned char)(h->keys[i][j] ^ key[j]);
		ok |= diff == 0;
	}
	return ok;
}

static bool
authorized(const struct http *h, struct MHD_Connection *mc)
{
	const char *v;

	if (h->n_keys == 0)
		return true;
	v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	while (*v == ' ')
		v++;
	return key_ok(h, v, strlen(v));
}

/*
 * Make the response: body (taken, freed with the response) with status;
 * an error (status >= 400) says x-should-retry: false unless retry,
 * and Retry-After when retry_after_s > 0. Returns it or NULL.
 */
static struct MHD_Response *
make_response(struct http *h, struct buf *body, const char *ctype,
    int status, bool retry, long retry_after_s)
{
	struct MHD_Response *r;
	char *text, ra[24];
	size_t len;

	text = buf_steal(body, &len);
	if (text == NULL)
		return NULL;
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return NULL;
	}
	(void)snprintf(ra, sizeof(ra), "%ld", retry_after_s);
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) == MHD_NO ||
	    (status >= 400 && MHD_add_response_header(r, "x-should-retry",
	    retry ? "true" : "false") == MHD_NO) ||
	    (retry_after_s > 0 && MHD_add_response_header(r,
	    MHD_HTTP_HEADER_RETRY_AFTER, ra) == MHD_NO) ||
	    (h->draining && MHD_add_response_header(r,
	    MHD_HTTP_HEADER_CONNECTION, "close") == MHD_NO)) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static enum MHD_Result
queue(struct http *h, struct MHD_Connection *mc, int status,
    struct MHD_Response *r)
{
	enum MHD_Result rc;

	if (r == NULL) {
		log_error("http: cannot make a response: %s", strerror(errno));
		return MHD_NO;
	}
	rc = MHD_queue_response(mc, (unsigned)status, r);
	MHD_destroy_response(r);
	if (rc == MHD_YES)
		metrics_count_http(h->metrics, status);
	return rc;
}

/* Build an OpenAI error response. NULL if memory ran out. */
static struct MHD_Response *
error_response(struct http *h, int status, const char *message,
    const char *type, const char *param, const char *code, bool retry,
    long retry_after_s)
{
	struct buf body;
	struct MHD_Response *r = NULL;

	buf_init(&body, SIZE_MAX / 2);
	if (openai_format_error(&body, message, type, param, code) == 0)
		r = make_response(h, &body, "application/json", status, retry,
		    retry_after_s);
	buf_free(&body);
	return r;
}

static enum MHD_Result
answer_error(struct http *h, struct MHD_Connection *mc, int status,
    const char *message, const char *type, const char *param,
    const char *code)
{
	return queue(h, mc, status, error_response(h, status, message, type,
	    param, code, false, status == 503 ? 1 : 0));
}

/* A small JSON or text body, now. */
static enum MHD_Result
answer_text(struct http *h, struct MHD_Connection *mc, int status,
    const char *ctype, struct buf *body)
{
	return queue(h, mc, status, make_response(h, body, ctype, status,
	    false, 0));
}

static void
watch_hangup(struct exchange *x, bool on);

/* Take the answer back to the connection. */
static void
resume(struct exchange *x)
{
	struct http *h = x->conn->http;

	watch_hangup(x, false);
	x->suspended = false;
	x->conn->since_ms = clock_ms();
	MHD_resume_connection(x->mc);
	h->need_run = true;
	loop_wake(h->loop);
}

static void
on_answer(struct request *req, const struct answer *a)
{
	struct exchange *x = req->owner;
	struct http *h = x->conn->http;
	struct openai_error oe;
	struct buf body;

	x->live = false;
	x->answered = true;
	metrics_observe(h->metrics, a);
	if (x->gone) {
		resume(x);
		return;
	}
	buf_init(&body, SIZE_MAX / 2);
	if (a->code == REQ_OK && openai_format_embeddings(&body, a,
	    x->base64) == 0) {
		x->status = 200;
		x->resp = make_response(h, &body, "application/json", 200,
		    false, 0);
	} else if (a->code == REQ_OK) {
		log_error("http: cannot translate an answer: %s",
		    strerror(errno));
		x->status = 502;
		x->resp = error_response(h, 502, "embedwatch could not "
		    "translate the worker's answer", "server_error", NULL,
		    "bad_response", false, 0);
	} else {
		openai_error_of(a, &oe);
		x->status = oe.status;
		x->resp = error_response(h, oe.status, a->message != NULL ?
		    a->message : oe.code, oe.type, NULL, oe.code, false,
		    oe.retry_after_s);
	}
	buf_free(&body);
	resume(x);
}

static void
on_hangup(void *arg, int fd, short revents)
{
	struct hconn *c = arg;
	struct exchange *x = c->x;

	(void)fd;
	if (x == NULL || !x->live ||
	    (revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0)
		return;
	log_debug("http connection %lu: hung up; cancelling", c->no);
	x->gone = true;
	/* Answered now, through on_answer, which resumes. */
	(void)engine_cancel(c->http->engine, x, NULL, clock_ms());
}

static void
watch_hangup(struct exchange *x, bool on)
{
	struct http *h = x->conn->http;

	if (!on) {
		loop_unwatch(h->loop, x->conn->fd);
		return;
	}
	if (loop_watch(h->loop, x->conn->fd, POLLRDHUP, on_hangup,
	    x->conn) == -1)
		log_warn("http connection %lu: cannot watch for a hang-up: %s",
		    x->conn->no, strerror(errno));
}

/* The upload is complete: parse, submit and suspend. */
static enum MHD_Result
submit(struct http *h, struct exchange *x)
{
	struct hconn *c = x->conn;
	struct request *req;
	const char *param;
	char err[256], id[64];

	if (x->too_large) {
		(void)snprintf(err, sizeof(err), "request body longer than "
		    "%zu bytes (--max-line)", h->cfg->max_line);
		return answer_error(h, x->mc, 413, err,
		    "invalid_request_error", NULL, "invalid_request");
	}
	if (h->draining)
		return answer_error(h, x->mc, 503, "embedwatch is shutting "
		    "down", "server_error", NULL, "shutting_down");
	if (engine_is_full(h->engine) || fairq_line_is_full(&c->line))
		return queue(h, x->mc, 503, error_response(h, 503, "embedwatch"
		    "'s queue is full (--queue)", "server_error", NULL,
		    "queue_full", true, 1));
	req = openai_parse_request(buf_data(&x->body), buf_len(&x->body),
	    &x->base64, &param, err, sizeof(err));
	buf_free(&x->body);
	if (req == NULL) {
		engine_count(h->engine, REQ_INVALID_REQUEST);
		return answer_error(h, x->mc, 400, err,
		    "invalid_request_error", param, "invalid_request");
	}
	(void)snprintf(id, sizeof(id), "\"http-%lu.%lu\"", c->no,
	    ++c->n_requests);
	req->id_json = strdup(id);
	if (req->id_json == NULL) {
		request_free(req);
		return answer_error(h, x->mc, 500, "out of memory",
		    "server_error", NULL, "server_error");
	}
	req->owner = x;
	req->line = &c->line;
	req->answer = on_answer;
	x->live = true;
	x->suspended = true;
	MHD_suspend_connection(x->mc);
	watch_hangup(x, true);
	/* Nothing is answered from inside engine_submit. */
	engine_submit(h->engine, req, clock_ms());
	return MHD_YES;
}

static enum MHD_Result
answer_models(struct http *h, struct MHD_Connection *mc)
{
	struct buf body;
	enum MHD_Result rc = MHD_NO;

	buf_init(&body, SIZE_MAX / 2);
	if (buf_append(&body, "{\"object\":\"list\",\"data\":[{\"id\":",
	    31) == 0 &&
	    proto_append_json_string(&body, h->cfg->model) == 0 &&
	    buf_append(&body, ",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"embedwatch\"}]}", 56) == 0)
		rc = answer_text(h, mc, 200, "application/json", &body);
	buf_free(&body);
	return rc;
}

static enum MHD_Result
answer_metrics(struct http *h, struct MHD_Connection *mc)
{
	struct metrics_gauges g;
	struct buf body;
	enum MHD_Result rc = MHD_NO;

	memset(&g, 0, sizeof(g));
	g.http_connections = h->n_conns;
	g.socket_clients = h->socket_clients != NULL ?
	    h->socket_clients(h->arg) : 0;
	g.draining = h->draining;
	buf_init(&body, SIZE_MAX / 2);
	if (metrics_format(&body, h->metrics, engine_stats(h->engine), &g,
	    clock_ms()) == 0)
		rc = answer_text(h, mc, 200, "text/plain; version=0.0.4; "
		    "charset=utf-8", &body);
	buf_free(&body);
	return rc;
}

static enum MHD_Result
answer_health(struct http *h, struct MHD_Connection *mc)
{
	struct buf body;
	enum MHD_Result rc = MHD_NO;

	buf_init(&body, 64);
	if (buf_printf(&body, "{\"status\":\"%s\"}\n", h->draining ?
	    "draining" : "ready") == 0)
		rc = answer_text(h, mc, h->draining ? 503 : 200,
		    "application/json", &body);
	buf_free(&body);
	return rc;
}

static bool
is_path(const char *url, const char *path)
{
	return strcmp(url, path) == 0;
}

/* The first call of a request: its headers are in. Answer it now, or
 * mark it as an upload to take. */
static enum MHD_Result
route(struct http *h, struct exchange *x, const char *url,
    const char *method)
{
	const char *cl, *errstr;
	long long n;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (is_path(url, "/healthz") && get)
		return answer_health(h, x->mc);
	if (is_path(url, "/metrics") && get)
		return answer_metrics(h, x->mc);
	if (strncmp(url, "/v1/", 4) == 0 && !authorized(h, x->mc))
		return answer_error(h, x->mc, 401, "incorrect API key "
		    "provided: send one of --client-keys as 'Authorization: "
		    "Bearer KEY'", "invalid_request_error", NULL,
		    "invalid_api_key");
	if (is_path(url, "/v1/models") && get)
		return answer_models(h, x->mc);
	if (!is_path(url, "/v1/embeddings"))
		return answer_error(h, x->mc, 404, "unknown URL: embedwatch "
		    "serves POST /v1/embeddings, GET /v1/models, /healthz and "
		    "/metrics", "invalid_request_error", NULL, "not_found");
	if (strcmp(method, "POST") != 0)
		return answer_error(h, x->mc, 405, "use POST for "
		    "/v1/embeddings", "invalid_request_error", NULL,
		    "method_not_allowed");
	cl = MHD_lookup_connection_value(x->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		n = strtonum(cl, 0, LLONG_MAX, &errstr);
		if (errstr == NULL &&
		    (unsigned long long)n > h->cfg->max_line) {
			x->too_large = true;
			return submit(h, x);
		}
	}
	x->embeddings = true;
	buf_init(&x->body, h->cfg->max_line);
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct exchange *x = *con_cls;
	const union MHD_ConnectionInfo *ci;

	(void)version;
	if (x == NULL) {
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci == NULL || ci->socket_context == NULL)
			return MHD_NO;
		x = calloc(1, sizeof(*x));
		if (x == NULL)
			return MHD_NO;
		x->conn = ci->socket_context;
		x->mc = mc;
		x->conn->x = x;
		x->conn->since_ms = clock_ms();
		*con_cls = x;
		return route(h, x, url, method);
	}
	if (!x->embeddings)
		return MHD_YES;
	if (*upload_data_size > 0) {
		if (!x->too_large && buf_append(&x->body, upload_data,
		    *upload_data_size) == -1) {
			x->too_large = true;
			buf_free(&x->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (x->gone || (x->answered && x->resp == NULL))
		return MHD_NO;
	if (x->resp != NULL) {
		struct MHD_Response *r = x->resp;

		x->resp = NULL;
		return queue(h, mc, x->status, r);
	}
	if (x->live || x->suspended)
		return MHD_YES;
	return submit(h, x);
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct exchange *x = *con_cls;

	(void)mc;
	(void)toe;
	if (x == NULL)
		return;
	if (x->live) {
		/* Cannot happen (a suspended connection is not closed);
		 * if it does, no answer may reach freed memory. */
		log_error("http connection %lu: ended with its request live",
		    x->conn->no);
		x->gone = true;
		(void)engine_cancel(h->engine, x, NULL, clock_ms());
	}
	if (x->suspended)
		watch_hangup(x, false);
	x->conn->x = NULL;
	x->conn->since_ms = clock_ms();
	if (x->resp != NULL)
		MHD_destroy_response(x->resp);
	buf_free(&x->body);
	free(x);
	*con_cls = NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct hconn *c;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_context;
		if (c == NULL)
			return;
		TAILQ_REMOVE(&h->conns, c, entry);
		h->n_conns--;
		log_debug("http connection %lu: closed", c->no);
		free(c);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (c == NULL || ci == NULL) {
		log_error("http: cannot take a connection: %s",
		    strerror(ENOMEM));
		free(c);
		*socket_context = NULL;
		return;
	}
	c->http = h;
	c->fd = ci->connect_fd;
	c->no = ++h->next_no;
	c->since_ms = clock_ms();
	fairq_line_init(&c->line, h->cfg->conn_queue, h->cfg->conn_inflight);
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->n_conns++;
	*socket_context = c;
	log_debug("http connection %lu: open", c->no);
}

/* Arm the loop timer at the nearest time a daemon wants to run. */
static void
arm_timer(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG t, best = 0;
	bool any = false;
	size_t i;

	for (i = 0; i < h->n_d; i++) {
		if (MHD_get_timeout(h->d[i].mhd, &t) != MHD_YES)
			continue;
		if (!any || t < best)
			best = t;
		any = true;
	}
	if (!any)
		loop_disarm(h->loop, &h->mhd_timer);
	else
		loop_arm(h->loop, &h->mhd_timer, clock_ms() +
		    (int64_t)(best > 86400000 ? 86400000 : best));
}

static void
run_all(struct http *h)
{
	size_t i;

	h->need_run = false;
	for (i = 0; i < h->n_d; i++)
		(void)MHD_run(h->d[i].mhd);
	arm_timer(h);
}

static void
on_epoll(void *arg, int fd, short revents)
{
	struct http *h = arg;
	size_t i;

	(void)revents;
	for (i = 0; i < h->n_d; i++)
		if (h->d[i].epoll_fd == fd)
			(void)MHD_run(h->d[i].mhd);
	arm_timer(h);
}

static void
on_mhd_timer(void *owner, int64_t now)
{
	(void)now;
	run_all(owner);
}

/* Shut a connection down: libmicrohttpd sees the end and closes it. */
static void
shut(struct hconn *c, const char *why)
{
	if (c->shut)
		return;
	c->shut = true;
	log_debug("http connection %lu: %s; closing", c->no, why);
	(void)shutdown(c->fd, SHUT_RDWR);
}

/* Drop connections whose client ran out of time, and idle ones in a
 * drain. */
static void
sweep(void *owner, int64_t now)
{
	struct http *h = owner;
	struct hconn *c;

	TAILQ_FOREACH(c, &h->conns, entry) {
		if (c->x != NULL && c->x->suspended)
			continue;
		if (h->draining && c->x == NULL)
			shut(c, "idle in a drain");
		else if (now - c->since_ms >= h->cfg->client_timeout_ms)
			shut(c, c->x == NULL ? "idle too long" :
			    "request not in within --client-timeout");
	}
	loop_arm(h->loop, &h->sweep_timer, now + (h->draining ? 100 :
	    SWEEP_EVERY_MS));
}

static void
output_hook(void *arg, int64_t now)
{
	struct http *h = arg;

	(void)now;
	if (h->need_run)
		run_all(h);
}

/* Read the client keys, refusing a file others can read. Returns 0, or
 * -1 after a message. */
static int
read_keys(struct http *h, const char *path)
{
	struct stat st;
	char *text = NULL, *line, *next, **p;
	size_t len;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_error("cannot open client keys '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_error("client keys '%s' are readable by group or others "
		    "(mode %04o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	text = io_slurp(fd, 1024 * 1024, &len);
	if (text == NULL) {
		log_error("cannot read client keys '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	for (line = text; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line += strspn(line, " \t");
		line[strcspn(line, "\r \t")] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (h->n_keys == MAX_KEYS) {
			log_error("client keys '%s': more than %d keys", path,
			    MAX_KEYS);
			goto out;
		}
		p = reallocarray(h->keys, h->n_keys + 1, sizeof(*p));
		if (p == NULL || (p[h->n_keys] = strdup(line)) == NULL) {
			if (p != NULL)
				h->keys = p;
			log_error("cannot read client keys: %s",
			    strerror(ENOMEM));
			goto out;
		}
		h->keys = p;
		h->n_keys++;
	}
	if (h->n_keys == 0) {
		log_error("client keys '%s' hold no key", path);
		goto out;
	}
	rc = 0;
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	(void)close(fd);
	return rc;
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127);
	return false;
}

/* May fd (a listening TCP socket, named what for messages) be used? */
static int
check_socket(struct http *h, int fd, const char *what, int *status)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_error("cannot read the address of '%s': %s", what,
		    strerror(errno));
		*status = EXIT_OSERR;
		return -1;
	}
	if (h->n_keys == 0 && !is_loopback(&ss)) {
		log_error("refusing to listen on '%s' without --client-keys: "
		    "anyone who can reach it could spend the API key; bind a "
		    "loopback address or give --client-keys FILE", what);
		*status = EXIT_USAGE;
		return -1;
	}
	return 0;
}

/* Resolve and bind HOST:PORT ("[::1]:8080" too). Returns the listening
 * descriptor or -1 after a message with *status set. */
static int
bind_addr(const char *hostport, int *status)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	size_t hlen = (size_t)(colon - hostport);
	int fd = -1, one = 1, rc;

	*status = EXIT_USAGE;
	if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
		hostport++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		log_error("--listen host '%s' is too long", hostport);
		return -1;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		log_error("cannot resolve --listen '%s': %s", hostport,
		    gai_strerror(rc));
		return -1;
	}
	*status = EXIT_OSERR;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		log_error("cannot make a socket: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		log_error("cannot listen on '%s': %s", hostport,
		    strerror(errno));
		(void)close(fd);
		fd = -1;
	}
out:
	freeaddrinfo(res);
	return fd;
}

/* Start a daemon on listening socket fd (taken). Returns 0 or -1 after a
 * message. */
static int
add_daemon(struct http *h, int fd, const char *what)
{
	struct daemon *d = &h->d[h->n_d];
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	d->listen_fd = fd;
	d->epoll_fd = -1;
	h->n_d++;
	d->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_TURBO | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg->max_clients,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_POOL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_END);
	if (d->mhd == NULL) {
		log_error("cannot start the HTTP server on '%s'", what);
		return -1;
	}
	di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL) {
		log_error("cannot start the HTTP server on '%s': no epoll",
		    what);
		return -1;
	}
	/* Closed by libmicrohttpd from now on (or handed back by
	 * MHD_quiesce_daemon). */
	d->listen_fd = -1;
	d->epoll_fd = di->epoll_fd;
	if (loop_watch(h->loop, d->epoll_fd, POLLIN, on_epoll, h) == -1) {
		log_error("cannot watch the HTTP server: %s", strerror(errno));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		(void)strlcpy(host, "?", sizeof(host));
	log_info("serving HTTP on %s%s%s:%s ('%s')%s",
	    ss.ss_family == AF_INET6 ? "[" : "", host,
	    ss.ss_family == AF_INET6 ? "]" : "", port, what,
	    h->n_keys > 0 ? ", client keys checked" : "");
	return 0;
}

/* Each connection is a descriptor: let there be room for --max-clients
 * of them on every socket, up to the hard limit. */
static void
raise_fd_limit(const struct config *cfg, size_t n_sockets)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_clients * n_sockets + 4 * cfg->jobs +
	    256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the descriptor limit: %s",
		    strerror(errno));
}

static int
start(struct http *h, const struct http_params *p, int *status)
{
	const struct config *cfg = p->cfg;
	char what[48];
	size_t i;
	int fd;

	*status = EXIT_CONFIG;
	if (cfg->client_keys != NULL && read_keys(h, cfg->client_keys) == -1)
		return -1;
	if (cfg->n_listen + p->n_fds > MAX_DAEMONS) {
		log_error("at most %d HTTP sockets", MAX_DAEMONS);
		*status = EXIT_USAGE;
		return -1;
	}
	raise_fd_limit(cfg, cfg->n_listen + p->n_fds);
	for (i = 0; i < p->n_fds; i++) {
		(void)snprintf(what, sizeof(what), "socket from systemd %zu",
		    i);
		if (check_socket(h, p->fds[i], what, status) == -1)
			return -1;
		*status = EXIT_OSERR;
		if (add_daemon(h, p->fds[i], what) == -1)
			return -1;
	}
	for (i = 0; i < cfg->n_listen; i++) {
		fd = bind_addr(cfg->listen[i], status);
		if (fd == -1)
			return -1;
		if (check_socket(h, fd, cfg->listen[i], status) == -1) {
			(void)close(fd);
			return -1;
		}
		*status = EXIT_OSERR;
		if (add_daemon(h, fd, cfg->listen[i]) == -1)
			return -1;
	}
	if (loop_add_hook(h->loop, LOOP_OUTPUT, output_hook, h) == -1) {
		log_error("cannot start: %s", strerror(errno));
		return -1;
	}
	loop_arm(h->loop, &h->sweep_timer, clock_ms() + SWEEP_EVERY_MS);
	return 0;
}

struct http *
http_open(const struct http_params *p, int *status)
{
	struct http *h;
	size_t i;

	*status = EXIT_OSERR;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		log_error("cannot start: %s", strerror(errno));
		for (i = 0; i < p->n_fds; i++)
			(void)close(p->fds[i]);
		return NULL;
	}
	h->loop = p->loop;
	h->engine = p->engine;
	h->cfg = p->cfg;
	h->metrics = p->metrics;
	h->socket_clients = p->socket_clients;
	h->arg = p->arg;
	TAILQ_INIT(&h->conns);
	loop_timer_init(&h->mhd_timer, on_mhd_timer, h);
	loop_timer_init(&h->sweep_timer, sweep, h);
	if (start(h, p, status) == -1) {
		/* The activated sockets not yet handed to a daemon. */
		for (i = h->n_d; i < p->n_fds; i++)
			(void)close(p->fds[i]);
		http_free(h);
		return NULL;
	}
	return h;
}

void
http_drain(struct http *h)
{
	size_t i;
	int fd;

	h->draining = true;
	for (i = 0; i < h->n_d; i++) {
		fd = MHD_quiesce_daemon(h->d[i].mhd);
		if (fd != -1)
			(void)close(fd);
	}
	sweep(h, clock_ms());
}

size_t
http_n_conns(const struct http *h)
{
	return h != NULL ? h->n_conns : 0;
}

void
http_free(struct http *h)
{
	size_t i;

	if (h == NULL)
		return;
	loop_remove_hook(h->loop, LOOP_OUTPUT, output_hook, h);
	loop_disarm(h->loop, &h->mhd_timer);
	loop_disarm(h->loop, &h->sweep_timer);
	for (i = 0; i < h->n_d; i++) {
		if (h->d[i].epoll_fd != -1)
			loop_unwatch(h->loop, h->d[i].epoll_fd);
		if (h->d[i].mhd != NULL)
			MHD_stop_daemon(h->d[i].mhd);
		if (h->d[i].listen_fd != -1)
			(void)close(h->d[i].listen_fd);
	}
	for (i = 0; i < h->n_keys; i++) {
		explicit_bzero(h->keys[i], strlen(h->keys[i]));
		free(h->keys[i]);
	}
	free(h->keys);
	free(h);
}
