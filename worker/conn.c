/*
 * conn: see conn.h. One easy handle in CONNECT_ONLY mode owns the socket
 * and the TLS state; everything after the handshake goes through
 * curl_easy_send and curl_easy_recv, so TLS stays libcurl's. Reads are
 * drained until CURLE_AGAIN before each poll, so bytes already decrypted
 * inside the TLS layer are never left waiting for the socket.
 *
 * Cost: the response is parsed as it arrives, once; the request is built
 * in one buffer and written with as few sends as the socket allows.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "clock.h"
#include "conn.h"
#include "hints.h"
#include "tls.h"
#include "url.h"

#define CONN_CONNECT_TIMEOUT_MS	10000
#define CONN_READ_MAX		(64 << 10)
#define CONN_HEADER_MAX		8192	/* longer header lines are skipped */

struct conn {
	char			*base_url;	/* what it was opened for */
	char			*cacert;
	bool			 insecure;
	CURL			*curl;
	curl_socket_t		 sock;
	struct curl_slist	*resolve;
	char			 addr[64];
	char			 errbuf[CURL_ERROR_SIZE];
};

/* The response being parsed. */
struct reading {
	struct conn_exchange	*x;
	http_parser		 parser;
	bool			 done;		/* the final response is in */
	bool			 upgrade;	/* 101: not ours to speak */
	bool			 in_value;	/* the header line gets its value */
	char			 line[CONN_HEADER_MAX];
	size_t			 line_len;
	bool			 line_over;	/* too long: skipped */
};

/* Is a proxy configured for this scheme, as libcurl reads the
 * environment? */
static bool
has_proxy(bool https)
{
	static const char *const plain[] = { "http_proxy", "all_proxy",
	    "ALL_PROXY" };
	static const char *const tls[] = { "https_proxy", "HTTPS_PROXY",
	    "all_proxy", "ALL_PROXY" };
	const char *const *names = https ? tls : plain;
	size_t i, n = https ? 4 : 3;
	const char *v;

	for (i = 0; i < n; i++) {
		v = getenv(names[i]);
		if (v != NULL && v[0] != '\0')
			return true;
	}
	return false;
}

bool
conn_is_usable(const char *base_url)
{
	struct url u;
	char err[256];

	if (base_url == NULL || url_parse(base_url, &u, err, sizeof(err)) == -1)
		return false;
	return u.https || !has_proxy(false);
}

/* The peer's address from libcurl, as the progress frames spell it. */
static void
peer_addr(struct conn *c)
{
	const char *ip = NULL;
	long port = 0;
	int n;

	c->addr[0] = '\0';
	if (curl_easy_getinfo(c->curl, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK ||
	    ip == NULL || ip[0] == '\0' ||
	    curl_easy_getinfo(c->curl, CURLINFO_PRIMARY_PORT, &port) !=
	    CURLE_OK)
		return;
	n = snprintf(c->addr, sizeof(c->addr),
	    strchr(ip, ':') != NULL ? "[%s]:%ld" : "%s:%ld", ip, port);
	if (n < 0 || (size_t)n >= sizeof(c->addr))
		c->addr[0] = '\0';
}

/* Every option of the connecting handle; the chain stops at a failure. */
static CURLcode
set_connect(struct conn *c, const struct job *job, const char *url,
    bool https, const struct tls_resume *resume)
{
	const long verify = job->insecure ? 0 : 1;
	long connect_ms = job->connect_timeout_ms > 0 ?
	    job->connect_timeout_ms : CONN_CONNECT_TIMEOUT_MS;
	CURL *h = c->curl;
	CURLcode cc;

	cc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify * 2);
	if (cc == CURLE_OK)
		cc = hints_setopt(h, job, &c->resolve);
	if (cc == CURLE_OK && https && !job->insecure)
		cc = tls_setopt(h, job->cacert, resume);
	return cc;
}

struct conn *
conn_open(const struct job *job, int out_fd, char *err, size_t errlen)
{
	struct tls_resume resume;
	struct conn *c;
	struct url u;
	char *url = NULL;
	curl_socket_t sock;
	CURLcode cc;
	size_t n;

	if (url_parse(job->base_url, &u, err, errlen) == -1)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->sock = CURL_SOCKET_BAD;
	c->insecure = job->insecure;
	c->base_url = strdup(job->base_url);
	c->cacert = job->cacert != NULL ? strdup(job->cacert) : NULL;
	url = url_endpoint(job->base_url, "embeddings");
	c->curl = curl_easy_init();
	if (url == NULL || c->curl == NULL || c->base_url == NULL ||
	    (job->cacert != NULL && c->cacert == NULL)) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	resume.session = job->tls_session;
	resume.len = job->tls_session_len;
	resume.out_fd = out_fd;
	cc = set_connect(c, job, url, u.https, &resume);
	if (cc == CURLE_OK)
		cc = curl_easy_perform(c->curl);
	if (cc == CURLE_OK)
		cc = curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &sock);
	if (cc != CURLE_OK) {
		n = strlen(c->errbuf);
		while (n > 0 && (c->errbuf[n - 1] == '\n' ||
		    c->errbuf[n - 1] == '.'))
			c->errbuf[--n] = '\0';
		(void)snprintf(err, errlen, "cannot connect to '%.*s': %s",
		    (int)(u.host_len > 200 ? 200 : u.host_len), u.host,
		    n > 0 ? c->errbuf : curl_easy_strerror(cc));
		goto fail;
	}
	c->sock = sock;
	peer_addr(c);
	free(url);
	return c;
fail:
	free(url);
	conn_close(c);
	return NULL;
}

bool
conn_serves(const struct conn *c, const struct job *job)
{
	if (job->base_url == NULL || strcmp(c->base_url, job->base_url) != 0 ||
	    c->insecure != job->insecure)
		return false;
	if (c->cacert == NULL || job->cacert == NULL)
		return c->cacert == NULL && job->cacert == NULL;
	return strcmp(c->cacert, job->cacert) == 0;
}

const char *
conn_addr(const struct conn *c)
{
	return c->addr;
}

CURL *
conn_curl(struct conn *c)
{
	return c->curl;
}

void
conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->resolve);
	free(c->base_url);
	free(c->cacert);
	free(c);
}

/*
 * Take in what the connection has while no job is out: TLS records
 * without data come and go (CURLE_AGAIN). Returns true while it stays
 * usable; false with the reason once the peer closed it, failed, or sent
 * bytes nobody asked for.
 */
static bool
drain_idle(struct conn *c, char *why, size_t whylen)
{
	char byte;
	size_t n = 0;
	CURLcode cc;

	cc = curl_easy_recv(c->curl, &byte, 1, &n);
	if (cc == CURLE_AGAIN)
		return true;
	if (cc != CURLE_OK)
		(void)snprintf(why, whylen, "connection failed while idle: %s",
		    curl_easy_strerror(cc));
	else if (n == 0)
		(void)snprintf(why, whylen, "the server closed the idle "
		    "connection");
	else
		(void)snprintf(why, whylen, "the server sent bytes before a "
		    "request");
	return false;
}

bool
conn_is_open(struct conn *c)
{
	struct pollfd pfd;
	char why[128];

	pfd.fd = c->sock;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 0)
		return true;
	return drain_idle(c, why, sizeof(why));
}

int
conn_wait(struct conn *c, int job_fd, long idle_ms, char *why, size_t whylen)
{
	struct pollfd pfd[2];
	int64_t end_ms, left;
	int r;

	end_ms = clock_ms() + idle_ms;
	for (;;) {
		left = end_ms - clock_ms();
		if (left <= 0) {
			(void)snprintf(why, whylen, "idle for %ld ms", idle_ms);
			return 0;
		}
		pfd[0].fd = job_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = c->sock;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		r = poll(pfd, 2, left > 60000 ? 60000 : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (pfd[0].revents != 0)
			return 1;
		if (pfd[1].revents != 0 && !drain_idle(c, why, whylen))
			return 0;
	}
}

/* Does the header line "Name: value" at line have the name name? */
static bool
same_name(const char *line, const char *name, size_t name_len)
{
	return strncasecmp(line, name, name_len) == 0 &&
	    line[name_len] == ':';
}

/* Should the line l go out: a value, and no later line of its name? */
static bool
header_goes_out(const struct curl_slist *l)
{
	const char *colon = strchr(l->data, ':'), *v;
	const struct curl_slist *m;
	size_t name_len;

	if (colon == NULL)
		return false;
	name_len = (size_t)(colon - l->data);
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (*v == '\0')
		return false;
	if (same_name(l->data, "Host", 4) ||
	    same_name(l->data, "Content-Length", 14) ||
	    same_name(l->data, "Transfer-Encoding", 17))
		return false;
	for (m = l->next; m != NULL; m = m->next)
		if (same_name(m->data, l->data, name_len))
			return false;
	return true;
}

/* The request head and body, in one buffer. */
static int
build(const char *base_url, const struct conn_exchange *x, struct buf *out)
{
	const struct curl_slist *l;
	const char *path;
	struct url u;
	char err[256];
	size_t path_len;

	if (url_parse(base_url, &u, err, sizeof(err)) == -1) {
		errno = EINVAL;
		return -1;
	}
	path = u.host + u.host_len;
	path_len = (size_t)(u.text + u.len - path);
	if (buf_printf(out, "POST %.*s/embeddings HTTP/1.1\r\nHost: %.*s\r\n",
	    (int)path_len, path, (int)u.host_len, u.host) == -1)
		return -1;
	for (l = x->headers; l != NULL; l = l->next)
		if (header_goes_out(l) && buf_printf(out, "%s\r\n", l->data) ==
		    -1)
			return -1;
	if (buf_printf(out, "Content-Length: %zu\r\n\r\n", x->body_len) == -1 ||
	    buf_append(out, x->body, x->body_len) == -1)
		return -1;
	return 0;
}

/* Wait until the socket is ready for events or give_up_us passes.
 * Returns 1, 0 on the backstop, -1 with errno. */
static int
wait_socket(struct conn *c, short events, int64_t give_up_us)
{
	struct pollfd pfd;
	int64_t left_ms;
	int r;

	for (;;) {
		left_ms = (give_up_us - clock_us() + 999) / 1000;
		if (left_ms <= 0)
			return 0;
		pfd.fd = c->sock;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left_ms > 60000 ? 60000 : (int)left_ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 0)
			return r;
	}
}

static int
send_all(struct conn *c, struct conn_exchange *x, const struct buf *req,
    char *err, size_t errlen)
{
	const char *p = buf_data(req);
	size_t left = buf_len(req), n;
	CURLcode cc;
	int r;

	while (left > 0) {
		n = 0;
		cc = curl_easy_send(c->curl, p, left, &n);
		if (cc == CURLE_AGAIN) {
			r = wait_socket(c, POLLOUT, x->give_up_us);
			if (r == 1)
				continue;
			x->timed_out = r == 0;
			(void)snprintf(err, errlen, "cannot send the request: "
			    "%s", r == 0 ? "timed out" : strerror(errno));
			return -1;
		}
		if (cc != CURLE_OK) {
			(void)snprintf(err, errlen, "cannot send the request: "
			    "%s", curl_easy_strerror(cc));
			return -1;
		}
		p += n;
		left -= n;
	}
	return 0;
}

/* End the header line being built and hand it to the header parser. */
static void
flush_line(struct reading *rd)
{
	if (rd->line_len > 0 && !rd->line_over &&
	    rd->line_len + 2 <= sizeof(rd->line)) {
		memcpy(rd->line + rd->line_len, "\r\n", 2);
		headers_feed(rd->x->response_headers, rd->line,
		    rd->line_len + 2);
	}
	rd->line_len = 0;
	rd->line_over = false;
	rd->in_value = false;
}

static void
line_add(struct reading *rd, const char *at, size_t len)
{
	if (rd->line_over || rd->line_len + len + 2 > sizeof(rd->line)) {
		rd->line_over = true;
		return;
	}
	memcpy(rd->line + rd->line_len, at, len);
	rd->line_len += len;
}

static int
on_message_begin(http_parser *p)
{
	struct reading *rd = p->data;
	static const char status_line[] = "HTTP/1.1 000\r\n";

	/* A status line: the header parser starts over (after a 1xx). */
	headers_feed(rd->x->response_headers, status_line,
	    sizeof(status_line) - 1);
	buf_clear(rd->x->response);
	rd->line_len = 0;
	rd->line_over = false;
	rd->in_value = false;
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct reading *rd = p->data;

	if (rd->in_value)
		flush_line(rd);
	line_add(rd, at, len);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct reading *rd = p->data;

	if (!rd->in_value) {
		line_add(rd, ": ", 2);
		rd->in_value = true;
	}
	line_add(rd, at, len);
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct reading *rd = p->data;
	struct conn_exchange *x = rd->x;

	if (rd->in_value)
		flush_line(rd);
	x->status = p->status_code;
	if (p->status_code == 101) {
		rd->upgrade = true;
		return -1;
	}
	/* Refuse early what Content-Length says will not fit. */
	if (p->status_code >= 200 && (p->flags & F_CHUNKED) == 0 &&
	    p->content_length != ULLONG_MAX &&
	    p->content_length > x->max_response) {
		x->over_cap = true;
		http_parser_pause(p, 1);
		return 0;
	}
	if (p->status_code >= 200 && p->content_length != ULLONG_MAX &&
	    p->content_length > 0)
		(void)buf_reserve(x->response, (size_t)p->content_length);
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct reading *rd = p->data;
	struct conn_exchange *x = rd->x;

	if (buf_append(x->response, at, len) == -1) {
		if (errno == ENOBUFS)
			x->over_cap = true;
		else
			x->out_of_memory = true;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct reading *rd = p->data;

	/* 1xx: informational, the response proper follows. */
	if (p->status_code >= 100 && p->status_code < 200)
		return 0;
	rd->done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Has the exchange ended, one way or the other? */
static bool
finished(const struct reading *rd)
{
	return rd->done || rd->x->over_cap || rd->x->out_of_memory;
}

/* Parse len bytes (0: EOF). Returns 0, or -1 with a message in err. */
static int
parse(struct reading *rd, const char *data, size_t len, char *err,
    size_t errlen)
{
	enum http_errno e;

	(void)http_parser_execute(&rd->parser, &settings, data, len);
	e = HTTP_PARSER_ERRNO(&rd->parser);
	if (e == HPE_OK || (e == HPE_PAUSED && finished(rd)))
		return 0;
	if (rd->upgrade)
		(void)snprintf(err, errlen, "the server switched protocols "
		    "(HTTP 101)");
	else
		(void)snprintf(err, errlen, "not an HTTP response: %s",
		    http_errno_description(e));
	return -1;
}

/* Read and parse until the response is in. */
static int
receive(struct conn *c, struct reading *rd, char *err, size_t errlen)
{
	struct conn_exchange *x = rd->x;
	static char data[CONN_READ_MAX];
	bool first = true;
	size_t n;
	CURLcode cc;
	int r;

	while (!finished(rd)) {
		n = 0;
		cc = curl_easy_recv(c->curl, data, sizeof(data), &n);
		if (cc == CURLE_AGAIN) {
			r = wait_socket(c, POLLIN, x->give_up_us);
			if (r == 1)
				continue;
			x->timed_out = r == 0;
			(void)snprintf(err, errlen, "%s", r == 0 ? "timed out" :
			    strerror(errno));
			return -1;
		}
		if (cc != CURLE_OK) {
			(void)snprintf(err, errlen, "cannot receive the "
			    "response: %s", curl_easy_strerror(cc));
			return -1;
		}
		if (first && n > 0) {
			probe_step(x->probe, PROBE_FIRST_BYTE);
			first = false;
		}
		if (n > 0 && parse(rd, data, n, err, errlen) == -1)
			return -1;
		probe_body(x->probe);
		if (n == 0 && (parse(rd, NULL, 0, err, errlen) == -1 ||
		    !finished(rd))) {
			(void)snprintf(err, errlen, "the server closed the "
			    "connection %s", x->status == 0 ? "before a "
			    "complete status and headers" : "in the middle of "
			    "the response");
			return -1;
		}
	}
	return 0;
}

int
conn_exchange(struct conn *c, const char *base_url, struct conn_exchange *x,
    char *err, size_t errlen)
{
	struct reading *rd = NULL;
	struct buf req;
	int rc = -1;

	x->status = 0;
	x->over_cap = x->out_of_memory = x->timed_out = false;
	buf_init(&req, (size_t)1 << 31);
	if (build(base_url, x, &req) == -1) {
		(void)snprintf(err, errlen, "cannot build the request: %s",
		    strerror(errno));
		goto out;
	}
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (send_all(c, x, &req, err, errlen) == -1)
		goto out;
	probe_step(x->probe, PROBE_SENT);
	buf_free(&req);
	rd->x = x;
	http_parser_init(&rd->parser, HTTP_RESPONSE);
	rd->parser.data = rd;
	rc = receive(c, rd, err, errlen);
out:
	free(rd);
	buf_free(&req);
	return rc;
}
