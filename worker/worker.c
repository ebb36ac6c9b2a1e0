/*
 * worker: see worker.h. One call is a struct call on worker_run's stack:
 * check the job, set up one easy handle, perform, classify the outcome,
 * write it, release everything (the exec worker runs under LeakSanitizer
 * in CI, so even the _exit path of fork mode stays leak-free).
 *
 * Progress is read from libcurl's timers inside the xferinfo callback,
 * converted to milliseconds since worker_run started, and written as a
 * 'P' frame whenever a milestone appears (and at most every
 * BODY_REPORT_MS while the body arrives), so that the supervisor can say
 * where a worker it had to kill was stuck. The callbacks never abort the
 * transfer, except the write callback at the response cap.
 *
 * TLS: worker_global_init parses the CA bundle once into an X509_STORE
 * before the supervisor forks; each worker hands that store to its
 * SSL_CTX (SSL_CTX_set1_cert_store only takes a reference, so the pages
 * stay shared copy-on-write) and tells libcurl to load no bundle of its
 * own. That saves parsing ~150 certificates per https call. The store is
 * used only when it matches the job's cacert; any other job, and every job
 * of a process that skipped worker_global_init (libcurl then initializes
 * itself), falls back to libcurl's own loading.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "buf.h"
#include "clock.h"
#include "embed.h"
#include "io.h"
#include "log.h"
#include "proto.h"
#include "worker.h"

#define BODY_REPORT_MS		100	/* P frames while the body arrives */
#define CONNECT_TIMEOUT_MS	10000
#define RETRY_AFTER_MAX_MS	(24L * 3600 * 1000)
#define SNIPPET_MAX		160	/* bytes of a non-JSON error body */
#define MAX_SOCKETS		4	/* happy eyeballs tries two at once */

/* Set by worker_global_init; read-only afterwards. */
static bool		 global_done;
static X509_STORE	*ca_store;	/* NULL: let libcurl load CAs */
static char		*ca_store_file;	/* its cacert; NULL: the system's */

/* Everything one call owns. */
struct call {
	const struct job	*job;
	int			 out_fd;
	bool			 frames;
	bool			 https;
	int64_t			 t0_us;		/* worker_run started */
	int64_t			 perform_us;	/* perform started, since t0 */
	char			 origin[256];	/* scheme://host[:port] */
	const char		*host;		/* host[:port], inside origin */
	char			*url;
	CURL			*curl;
	struct curl_slist	*headers;
	struct buf		 request;
	struct buf		 response;
	struct buf		 fragment;	/* body fragment, on success */
	char			 errbuf[CURL_ERROR_SIZE];
	struct proto_progress	 progress;
	struct proto_progress	 reported;	/* last one written */
	int32_t			 body_report_ms;
	long			 stall_s;	/* low-speed window */
	int			 sockets[MAX_SOCKETS]; /* -1: none */
	bool			 progress_broken; /* stop writing P frames */
	bool			 over_cap;
	bool			 out_of_memory;
	long			 retry_after_ms;	/* Retry-After */
	long			 retry_after_ms_hdr;	/* retry-after-ms */
	struct proto_result	 result;
};

static int32_t
since_start_ms(const struct call *c)
{
	int64_t ms;

	ms = (clock_us() - c->t0_us) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}

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

static CURLcode
ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	SSL_CTX_set1_cert_store(ssl_ctx, ca_store);
	return CURLE_OK;
}

/* The first OpenSSL error queued, for messages. */
static const char *
ssl_error_text(void)
{
	const char *reason;

	reason = ERR_reason_error_string(ERR_peek_error());
	return reason != NULL ? reason : "unknown OpenSSL error";
}

/* Load a CA file into store. Returns 0, or -1 with a message in err. */
static int
load_ca_file(X509_STORE *store, const char *file, char *err, size_t errlen)
{
	FILE *f;

	/* OpenSSL would only say "system lib"; errno says more. */
	f = fopen(file, "r");
	if (f == NULL) {
		(void)snprintf(err, errlen, "cannot open CA certificates "
		    "'%s': %s", file, strerror(errno));
		return -1;
	}
	(void)fclose(f);
	if (X509_STORE_load_file(store, file) != 1) {
		(void)snprintf(err, errlen, "cannot load CA certificates "
		    "'%s': %s", file, ssl_error_text());
		return -1;
	}
	return 0;
}

int
worker_global_init(const char *cacert, char *err, size_t errlen)
{
	const curl_version_info_data *info;
	const char *file, *dir = NULL;
	X509_STORE *store = NULL;
	CURLcode cc;
	int rc = -1;

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

	/* The shared store works only when libcurl's TLS is this OpenSSL. */
	info = curl_version_info(CURLVERSION_NOW);
	if (info->ssl_version == NULL ||
	    strncmp(info->ssl_version, "OpenSSL/", 8) != 0) {
		log_debug("libcurl uses %s, not sharing a CA store",
		    info->ssl_version != NULL ? info->ssl_version : "no TLS");
		rc = 0;
		goto out;
	}
	file = cacert != NULL ? cacert : info->cainfo;
	if (cacert == NULL)
		dir = info->capath;
	if (file == NULL && dir == NULL) {
		rc = 0;
		goto out;
	}

	ERR_clear_error();
	store = X509_STORE_new();
	if (store == NULL) {
		(void)snprintf(err, errlen, "cannot create a CA store: %s",
		    ssl_error_text());
		goto out;
	}
	if (file != NULL && load_ca_file(store, file, err, errlen) == -1) {
		if (cacert != NULL)
			goto out;
		/* libcurl will report the same problem on each call. */
		log_warn("%s", err);
		err[0] = '\0';
		rc = 0;
		goto out;
	}
	/* Like libcurl: the directory is only searched on a miss. */
	if (dir != NULL && X509_STORE_load_path(store, dir) != 1) {
		log_warn("cannot use CA directory '%s': %s", dir,
		    ssl_error_text());
		rc = 0;
		goto out;
	}
	/* libcurl sets this on the store it would have built. */
	if (X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
		(void)snprintf(err, errlen, "cannot set CA store flags: %s",
		    ssl_error_text());
		goto out;
	}
	if (cacert != NULL) {
		ca_store_file = strdup(cacert);
		if (ca_store_file == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	/* Sort now, or every forked worker sorts its own copy on lookup. */
	sk_X509_OBJECT_sort(X509_STORE_get0_objects(store));
	ca_store = store;
	store = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

void
worker_global_cleanup(void)
{
	if (!global_done)
		return;
	X509_STORE_free(ca_store);
	ca_store = NULL;
	free(ca_store_file);
	ca_store_file = NULL;
	curl_global_cleanup();
	global_done = false;
}

/* Is the shared store the one this job asks for? */
static bool
shared_store_fits(const struct job *job)
{
	if (ca_store == NULL)
		return false;
	if (job->cacert == NULL || ca_store_file == NULL)
		return job->cacert == NULL && ca_store_file == NULL;
	return strcmp(job->cacert, ca_store_file) == 0;
}

/* Write a P frame with the current progress, unless frames are off. */
static void
report_progress(struct call *c)
{
	unsigned char payload[PROTO_PROGRESS_LEN];

	c->reported = c->progress;
	c->body_report_ms = since_start_ms(c);
	if (!c->frames || c->progress_broken)
		return;
	proto_progress_encode(&c->progress, payload);
	if (proto_frame_write(c->out_fd, PROTO_FRAME_PROGRESS, payload,
	    sizeof(payload)) == -1) {
		log_warn("cannot write progress: %s", strerror(errno));
		c->progress_broken = true;
	}
}

/* Fill in *ms from a libcurl timer once it has run. */
static bool
milestone(struct call *c, CURLINFO info, int32_t *ms)
{
	curl_off_t us;
	int64_t at;

	if (*ms >= 0)
		return false;
	if (curl_easy_getinfo(c->curl, info, &us) != CURLE_OK || us <= 0)
		return false;
	at = (c->perform_us + us) / 1000;
	*ms = at > INT32_MAX ? INT32_MAX : (int32_t)at;
	return true;
}

/*
 * libcurl 7.88 publishes its connect timer only once the whole chain,
 * TLS included, is up; to tell "still connecting" from "TLS handshake not
 * finished" the worker watches the sockets libcurl opens itself.
 */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct call *c = arg;
	size_t i;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
	for (i = 0; i < MAX_SOCKETS; i++) {
		if (c->sockets[i] == -1) {
			c->sockets[i] = fd;
			break;
		}
	}
	return CURL_SOCKOPT_OK;
}

static int
closesocket_cb(void *arg, curl_socket_t fd)
{
	struct call *c = arg;
	size_t i;

	for (i = 0; i < MAX_SOCKETS; i++)
		if (c->sockets[i] == fd)
			c->sockets[i] = -1;
	return close(fd);
}

/* Has one of libcurl's sockets finished its TCP handshake? */
static bool
socket_connected(const struct call *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	size_t i;

	for (i = 0; i < MAX_SOCKETS; i++) {
		len = sizeof(ss);
		if (c->sockets[i] != -1 && getpeername(c->sockets[i],
		    (struct sockaddr *)&ss, &len) == 0)
			return true;
	}
	return false;
}

/* Refresh the progress from libcurl. Returns whether a milestone changed. */
static bool
update_progress(struct call *c, curl_off_t ultotal, curl_off_t ulnow)
{
	struct proto_progress *p = &c->progress;
	const char *ip;
	long port;
	bool changed = false;
	int n;

	changed |= milestone(c, CURLINFO_NAMELOOKUP_TIME_T, &p->resolved_ms);
	changed |= milestone(c, CURLINFO_CONNECT_TIME_T, &p->connected_ms);
	if (p->connected_ms < 0 && c->https && socket_connected(c)) {
		p->connected_ms = since_start_ms(c);
		changed = true;
	}
	if (c->https)
		changed |= milestone(c, CURLINFO_APPCONNECT_TIME_T,
		    &p->tls_ms);
	if (p->sent_ms < 0 && ultotal > 0 && ulnow == ultotal) {
		p->sent_ms = since_start_ms(c);
		changed = true;
	}
	changed |= milestone(c, CURLINFO_STARTTRANSFER_TIME_T,
	    &p->first_byte_ms);
	/* Both can show up in one callback; keep them in order. */
	if (p->first_byte_ms >= 0 && p->sent_ms > p->first_byte_ms)
		p->sent_ms = p->first_byte_ms;
	if (p->addr[0] == '\0' &&
	    curl_easy_getinfo(c->curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip != NULL && ip[0] != '\0' &&
	    curl_easy_getinfo(c->curl, CURLINFO_PRIMARY_PORT, &port) ==
	    CURLE_OK) {
		n = snprintf(p->addr, sizeof(p->addr),
		    strchr(ip, ':') != NULL ? "[%s]:%ld" : "%s:%ld", ip, port);
		if (n < 0 || (size_t)n >= sizeof(p->addr))
			p->addr[0] = '\0';
		else
			changed = true;
	}
	p->body_bytes = buf_len(&c->response);
	return changed;
}

static int
xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct call *c = arg;

	(void)dltotal;
	(void)dlnow;
	if (update_progress(c, ultotal, ulnow) ||
	    (c->progress.body_bytes != c->reported.body_bytes &&
	    since_start_ms(c) - c->body_report_ms >= BODY_REPORT_MS))
		report_progress(c);
	return 0;
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

/* Parse a header value of Retry-After (seconds or an HTTP date) or
 * retry-after-ms into milliseconds; -1 if it is neither. */
static long
parse_retry_after(const char *value, bool in_ms)
{
	const char *errstr;
	long long n;
	time_t at, now;
	char *end;
	double d;

	if (in_ms) {
		errno = 0;
		d = strtod(value, &end);
		if (errno != 0 || end == value || *end != '\0' || !(d >= 0))
			return -1;
		return d > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (long)d;
	}
	n = strtonum(value, 0, RETRY_AFTER_MAX_MS / 1000, &errstr);
	if (errstr == NULL)
		return (long)n * 1000;
	at = curl_getdate(value, NULL);
	if (at == -1)
		return -1;
	now = time(NULL);
	if (at <= now)
		return 0;
	if (at - now > RETRY_AFTER_MAX_MS / 1000)
		return RETRY_AFTER_MAX_MS;
	return (long)(at - now) * 1000;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	size_t n = size * nmemb, name_len;
	const char *value;
	char copy[128];
	bool in_ms;

	/* A new response (after a 100 Continue, say) starts over. */
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		c->retry_after_ms = -1;
		c->retry_after_ms_hdr = -1;
		return n;
	}
	if (n >= 15 && strncasecmp(line, "retry-after-ms:", 15) == 0) {
		name_len = 15;
		in_ms = true;
	} else if (n >= 12 && strncasecmp(line, "retry-after:", 12) == 0) {
		name_len = 12;
		in_ms = false;
	} else
		return n;
	value = line + name_len;
	n -= name_len;
	while (n > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		n--;
	}
	while (n > 0 && (value[n - 1] == '\r' || value[n - 1] == '\n' ||
	    value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n >= sizeof(copy))
		return size * nmemb;
	memcpy(copy, value, n);
	copy[n] = '\0';
	if (in_ms)
		c->retry_after_ms_hdr = parse_retry_after(copy, true);
	else
		c->retry_after_ms = parse_retry_after(copy, false);
	return size * nmemb;
}

/* Is s free of CR and LF, so that it cannot split a header? */
static bool
is_one_line(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* Check what libcurl would not: the job must make sense. */
static int
check_job(struct call *c)
{
	const struct job *job = c->job;
	const char *host, *end, *at;
	size_t i, len;

	if (job->base_url == NULL || job->model == NULL ||
	    job->input_json == NULL) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "job has no url, model or input");
		return -1;
	}
	if (strncasecmp(job->base_url, "https://", 8) == 0)
		c->https = true;
	else if (strncasecmp(job->base_url, "http://", 7) != 0) {
		/* Up to the first ':' only: never a password. */
		if (strchr(job->base_url, ':') != NULL)
			set_result(c, PROTO_INVALID_REQUEST,
			    "url scheme '%.*s' is not http or https",
			    (int)strcspn(job->base_url, ":"), job->base_url);
		else
			set_result(c, PROTO_INVALID_REQUEST, "url '%.200s' "
			    "does not start with http:// or https://",
			    job->base_url);
		return -1;
	}
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
	if (job->api_key != NULL && !is_one_line(job->api_key)) {
		set_result(c, PROTO_INVALID_REQUEST,
		    "API key contains a line break");
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

	/* scheme://host[:port] without any user:password@, for messages. */
	host = strstr(job->base_url, "://") + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at != NULL)
		host = at + 1;
	len = (size_t)(end - host);
	(void)snprintf(c->origin, sizeof(c->origin), "%s://%.*s",
	    c->https ? "https" : "http", len > 200 ? 200 : (int)len, host);
	c->host = strstr(c->origin, "://") + 3;
	return 0;
}

/* Build the request body and header list. */
static int
build_request(struct call *c)
{
	const struct job *job = c->job;
	struct curl_slist *l;
	char *auth = NULL;
	size_t i, len;
	int rc = -1;

	if (buf_append(&c->request, "{\"model\":", 9) == -1 ||
	    proto_append_json_string(&c->request, job->model) == -1 ||
	    buf_printf(&c->request, ",\"input\":%s,\"encoding_format\":\"%s\"",
	    job->input_json, job->encoding == JOB_ENCODING_FLOAT ?
	    "float" : "base64") == -1 ||
	    (job->dimensions > 0 && buf_printf(&c->request,
	    ",\"dimensions\":%ld", job->dimensions) == -1) ||
	    buf_append(&c->request, "}", 1) == -1) {
		set_result(c, PROTO_INVALID_REQUEST, "cannot build the request "
		    "body: %s", strerror(errno));
		goto out;
	}
	len = strlen(job->base_url);
	while (len > 0 && job->base_url[len - 1] == '/')
		len--;
	if (asprintf(&c->url, "%.*s/embeddings", (int)len, job->base_url) ==
	    -1) {
		c->url = NULL;
		set_result(c, PROTO_NETWORK,
		    "cannot build the url: out of memory");
		goto out;
	}
	if (job->api_key != NULL &&
	    asprintf(&auth, "Authorization: Bearer %s", job->api_key) == -1) {
		auth = NULL;
		set_result(c, PROTO_NETWORK,
		    "cannot build headers: out of memory");
		goto out;
	}

	/* "Expect:" turns off the 100-continue wait for large bodies. */
	l = curl_slist_append(NULL, "Content-Type: application/json");
	if (l != NULL)
		c->headers = l;
	if (l != NULL)
		l = curl_slist_append(c->headers, "Accept: application/json");
	if (l != NULL)
		l = curl_slist_append(c->headers, "Expect:");
	if (l != NULL && auth != NULL)
		l = curl_slist_append(c->headers, auth);
	for (i = 0; l != NULL && i < job->n_headers; i++)
		l = curl_slist_append(c->headers, job->headers[i]);
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

/*
 * Set every option of the one easy handle. Each setopt is checked: the
 * chain stops at the first failure, whose code ends up in cc.
 */
static int
set_options(struct call *c)
{
	const struct job *job = c->job;
	long budget_ms, margin_ms, connect_ms;
	bool shared;
	CURL *h = c->curl;
	CURLcode cc;

	/* curl's own timeout fires a little before the supervisor's kill. */
	margin_ms = job->timeout_ms / 20 > 50 ? job->timeout_ms / 20 : 50;
	budget_ms = job->timeout_ms - margin_ms;
	if (budget_ms < 1)
		budget_ms = 1;
	connect_ms = budget_ms < CONNECT_TIMEOUT_MS ? budget_ms :
	    CONNECT_TIMEOUT_MS;
	/* Stalls: libcurl averages speed over ~5 s, so this triggers
	 * some 5 s after the last byte plus stall_s. */
	c->stall_s = budget_ms / 2 / 1000;
	if (c->stall_s < 1)
		c->stall_s = 1;

	cc = curl_easy_setopt(h, CURLOPT_URL, c->url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
		    "http,https");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget_ms);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->stall_s);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
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
		cc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, c);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION,
		    closesocket_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
		    job->insecure ? 0L : 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
		    job->insecure ? 0L : 2L);
	if (cc != CURLE_OK) {
		set_result(c, PROTO_NETWORK, "cannot set up the transfer: %s",
		    curl_easy_strerror(cc));
		return -1;
	}
	if (!c->https || job->insecure)
		return 0;

	/* The shared store, with no bundle of libcurl's own; failing
	 * that, libcurl loads job->cacert (or its default) itself. */
	shared = shared_store_fits(job);
	if (shared) {
		cc = curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		if (cc == CURLE_NOT_BUILT_IN || cc == CURLE_UNKNOWN_OPTION) {
			shared = false;
			cc = CURLE_OK;
		}
	}
	if (shared && cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
	if (shared && cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	if (!shared && job->cacert != NULL)
		cc = curl_easy_setopt(h, CURLOPT_CAINFO, job->cacert);
	if (cc != CURLE_OK) {
		set_result(c, PROTO_NETWORK, "cannot set up TLS: %s",
		    curl_easy_strerror(cc));
		return -1;
	}
	return 0;
}

/* Up to SNIPPET_MAX bytes of a body as one printable line. */
static void
body_snippet(const struct buf *b, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)buf_data(b);
	size_t i, n = 0, len = buf_len(b);

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
	char msg[400], snippet[SNIPPET_MAX + 4];
	const char *location = NULL;
	bool quota;

	c->result.retry_after_ms = c->retry_after_ms_hdr >= 0 ?
	    c->retry_after_ms_hdr : c->retry_after_ms;
	if (c->over_cap) {
		set_result(c, PROTO_HTTP, "HTTP %ld, with a body larger than "
		    "%zu bytes", status, c->job->max_response);
		return;
	}
	if (embed_error_parse(buf_data(&c->response), buf_len(&c->response),
	    msg, sizeof(msg), &quota) == 0) {
		c->result.quota_exhausted = quota;
		set_result(c, PROTO_HTTP, "HTTP %ld: %s", status, msg);
		return;
	}
	if (status >= 300 && status < 400 && curl_easy_getinfo(c->curl,
	    CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
	    location != NULL) {
		set_result(c, PROTO_HTTP, "HTTP %ld, redirects are not "
		    "followed: '%.200s'", status, location);
		return;
	}
	body_snippet(&c->response, snippet, sizeof(snippet));
	set_result(c, PROTO_HTTP, "HTTP %ld%s%s", status, snippet[0] != '\0' ?
	    ": " : "", snippet);
}

/* Classify a failed transfer. */
static void
curl_error(struct call *c, CURLcode cc, long status)
{
	char where[256];
	const char *text;
	size_t n;

	c->result.curl_code = (int)cc;
	if (cc == CURLE_WRITE_ERROR && (c->over_cap || c->out_of_memory)) {
		if (status >= 300 || (status > 0 && status < 200))
			http_error(c, status);
		else if (c->over_cap)
			set_result(c, PROTO_BAD_RESPONSE,
			    "response larger than %zu bytes",
			    c->job->max_response);
		else
			set_result(c, PROTO_BAD_RESPONSE,
			    "out of memory after %zu bytes of the response",
			    buf_len(&c->response));
		return;
	}
	if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
		set_result(c, PROTO_INVALID_REQUEST, "cannot use url '%s': %s",
		    c->origin, c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(cc));
		return;
	}
	proto_progress_describe(&c->progress, c->host, c->https, where,
	    sizeof(where));
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

/* Perform the call and classify its outcome into c->result. */
static void
perform(struct call *c)
{
	struct embed_response r = { 0 };
	curl_off_t uploaded;
	char err[256];
	long status = 0;
	CURLcode cc;

	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		set_result(c, PROTO_NETWORK, "cannot create a curl handle");
		return;
	}
	if (build_request(c) == -1 || set_options(c) == -1)
		return;

	c->perform_us = clock_us() - c->t0_us;
	cc = curl_easy_perform(c->curl);
	c->result.ms = since_start_ms(c);
	/* A last look, in case no callback saw the upload complete. */
	if (curl_easy_getinfo(c->curl, CURLINFO_SIZE_UPLOAD_T, &uploaded) !=
	    CURLE_OK)
		uploaded = 0;
	(void)update_progress(c, (curl_off_t)buf_len(&c->request), uploaded);
	if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		status = 0;
	c->result.http_status = (int)status;

	if (cc != CURLE_OK) {
		curl_error(c, cc, status);
		return;
	}
	if (status < 200 || status > 299) {
		http_error(c, status);
		return;
	}
	if (embed_parse(buf_data(&c->response), buf_len(&c->response),
	    c->job->n_inputs, c->job->dimensions, &r, err, sizeof(err)) == -1) {
		set_result(c, PROTO_BAD_RESPONSE, "%s", err);
		return;
	}
	/* The raw body is not needed any more; keep the peak low. */
	buf_free(&c->response);
	if (embed_format(&r, c->job->model, &c->fragment) == -1)
		set_result(c, PROTO_BAD_RESPONSE,
		    "cannot format the embeddings: %s", strerror(errno));
	embed_response_free(&r);
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

/* Field by field: the struct has padding that memcmp would compare. */
static bool
progress_equal(const struct proto_progress *a, const struct proto_progress *b)
{
	return a->resolved_ms == b->resolved_ms &&
	    a->connected_ms == b->connected_ms && a->tls_ms == b->tls_ms &&
	    a->sent_ms == b->sent_ms && a->first_byte_ms == b->first_byte_ms &&
	    a->body_bytes == b->body_bytes && strcmp(a->addr, b->addr) == 0;
}

/* Frames: a last P if anything changed, B on success, then R. */
static int
write_frames(struct call *c)
{
	struct buf out;
	int rc = -1;

	buf_init(&out, PROTO_FRAME_MAX);
	if (!progress_equal(&c->progress, &c->reported))
		report_progress(c);
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

int
worker_run(const struct job *job, int out_fd, bool frames)
{
	struct call c;
	size_t i;
	int status;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.out_fd = out_fd;
	c.frames = frames;
	c.t0_us = clock_us();
	c.retry_after_ms = -1;
	c.retry_after_ms_hdr = -1;
	c.result.class = PROTO_OK;
	c.result.retry_after_ms = -1;
	for (i = 0; i < MAX_SOCKETS; i++)
		c.sockets[i] = -1;
	buf_init(&c.request, PROTO_FRAME_MAX);
	buf_init(&c.response, job->max_response);
	buf_init(&c.fragment, PROTO_FRAME_MAX);
	proto_progress_init(&c.progress);
	report_progress(&c);	/* alive */

	if (check_job(&c) == 0)
		perform(&c);
	c.result.ms = since_start_ms(&c);
	if (c.result.class != PROTO_HTTP)
		c.result.retry_after_ms = -1;
	if (c.result.class != PROTO_OK)
		log_debug("attempt %u of request %s: %s: %s", job->attempt,
		    job->request_id != NULL ? job->request_id : "-",
		    proto_class_name(c.result.class), c.result.message);

	status = exit_status(c.result.class);
	if ((frames ? write_frames(&c) : write_line(&c)) == -1) {
		log_error("cannot write the result: %s", strerror(errno));
		status = WORKER_EXIT_INTERNAL;
	}

	curl_easy_cleanup(c.curl);
	curl_slist_free_all(c.headers);
	free(c.url);
	buf_free(&c.request);
	buf_free(&c.response);
	buf_free(&c.fragment);
	return status;
}
