/*
 * probe: see probe.h. Each callback costs a few curl_easy_getinfo calls
 * and, on https before the connect timer shows, one getpeername per
 * socket; libcurl calls xferinfo about once a second while idle and
 * more often while data moves.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "probe.h"
#include "proto_frame.h"

void
probe_init(struct probe *p, int64_t t0_us, int out_fd, bool frames)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->out_fd = out_fd;
	p->frames = frames;
	p->t0_us = t0_us;
	for (i = 0; i < PROBE_MAX_SOCKETS; i++)
		p->sockets[i] = -1;
	proto_progress_init(&p->progress);
	p->reported = p->progress;
}

int32_t
probe_elapsed_ms(const struct probe *p)
{
	int64_t ms;

	ms = (clock_us() - p->t0_us) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}

void
probe_report(struct probe *p)
{
	unsigned char payload[PROTO_PROGRESS_LEN];

	p->reported = p->progress;
	p->reported_ms = probe_elapsed_ms(p);
	if (!p->frames || p->broken)
		return;
	proto_progress_encode(&p->progress, payload);
	if (proto_frame_write(p->out_fd, PROTO_FRAME_PROGRESS, payload,
	    sizeof(payload)) == -1) {
		log_warn("cannot write progress: %s", strerror(errno));
		p->broken = true;
	}
}

/* Fill in *ms from a libcurl timer once it has run. */
static bool
milestone(struct probe *p, CURLINFO info, int32_t *ms)
{
	curl_off_t us;
	int64_t at;

	if (*ms >= 0)
		return false;
	if (curl_easy_getinfo(p->curl, info, &us) != CURLE_OK || us <= 0)
		return false;
	at = (p->perform_us + us) / 1000;
	*ms = at > INT32_MAX ? INT32_MAX : (int32_t)at;
	return true;
}

static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct probe *p = arg;
	size_t i;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
	for (i = 0; i < PROBE_MAX_SOCKETS; i++) {
		if (p->sockets[i] == -1) {
			p->sockets[i] = fd;
			break;
		}
	}
	return CURL_SOCKOPT_OK;
}

static int
closesocket_cb(void *arg, curl_socket_t fd)
{
	struct probe *p = arg;
	size_t i;

	for (i = 0; i < PROBE_MAX_SOCKETS; i++)
		if (p->sockets[i] == fd)
			p->sockets[i] = -1;
	return close(fd);
}

/* Has one of libcurl's sockets finished its TCP handshake? */
static bool
socket_connected(const struct probe *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	size_t i;

	for (i = 0; i < PROBE_MAX_SOCKETS; i++) {
		len = sizeof(ss);
		if (p->sockets[i] != -1 && getpeername(p->sockets[i],
		    (struct sockaddr *)&ss, &len) == 0)
			return true;
	}
	return false;
}

/* The peer's address, once libcurl knows it. Returns whether it is new. */
static bool
peer_address(struct probe *p)
{
	struct proto_progress *pr = &p->progress;
	const char *ip;
	long port;
	int n;

	if (pr->addr[0] != '\0' ||
	    curl_easy_getinfo(p->curl, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK ||
	    ip == NULL || ip[0] == '\0' ||
	    curl_easy_getinfo(p->curl, CURLINFO_PRIMARY_PORT, &port) !=
	    CURLE_OK)
		return false;
	n = snprintf(pr->addr, sizeof(pr->addr),
	    strchr(ip, ':') != NULL ? "[%s]:%ld" : "%s:%ld", ip, port);
	if (n < 0 || (size_t)n >= sizeof(pr->addr)) {
		pr->addr[0] = '\0';
		return false;
	}
	return true;
}

/* Refresh the progress from libcurl. Returns whether a milestone changed. */
static bool
update(struct probe *p, curl_off_t ultotal, curl_off_t ulnow)
{
	struct proto_progress *pr = &p->progress;
	bool changed = false;

	changed |= milestone(p, CURLINFO_NAMELOOKUP_TIME_T, &pr->resolved_ms);
	changed |= milestone(p, CURLINFO_CONNECT_TIME_T, &pr->connected_ms);
	if (pr->connected_ms < 0 && p->https && socket_connected(p)) {
		pr->connected_ms = probe_elapsed_ms(p);
		changed = true;
	}
	if (p->https)
		changed |= milestone(p, CURLINFO_APPCONNECT_TIME_T,
		    &pr->tls_ms);
	if (pr->sent_ms < 0 && ultotal > 0 && ulnow == ultotal) {
		pr->sent_ms = probe_elapsed_ms(p);
		changed = true;
	}
	changed |= milestone(p, CURLINFO_STARTTRANSFER_TIME_T,
	    &pr->first_byte_ms);
	/* Both can show up in one callback; keep them in order. */
	if (pr->first_byte_ms >= 0 && pr->sent_ms > pr->first_byte_ms)
		pr->sent_ms = pr->first_byte_ms;
	changed |= peer_address(p);
	pr->body_bytes = buf_len(p->body);
	return changed;
}

static int
xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct probe *p = arg;

	(void)dltotal;
	(void)dlnow;
	if (update(p, ultotal, ulnow) ||
	    (p->progress.body_bytes != p->reported.body_bytes &&
	    probe_elapsed_ms(p) - p->reported_ms >= PROBE_BODY_REPORT_MS))
		probe_report(p);
	return 0;
}

CURLcode
probe_setopt(struct probe *p, CURL *curl, bool https, const struct buf *body)
{
	static const CURLoption data[] = { CURLOPT_XFERINFODATA,
	    CURLOPT_SOCKOPTDATA, CURLOPT_CLOSESOCKETDATA };
	CURLcode cc;
	size_t i;

	p->curl = curl;
	p->https = https;
	p->body = body;
	cc = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION,
		    xferinfo_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION,
		    sockopt_cb);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION,
		    closesocket_cb);
	for (i = 0; cc == CURLE_OK && i < sizeof(data) / sizeof(data[0]); i++)
		cc = curl_easy_setopt(curl, data[i], p);
	return cc;
}

void
probe_perform_starts(struct probe *p)
{
	p->perform_us = clock_us() - p->t0_us;
}

void
probe_perform_done(struct probe *p, size_t request_len)
{
	curl_off_t uploaded;

	if (curl_easy_getinfo(p->curl, CURLINFO_SIZE_UPLOAD_T, &uploaded) !=
	    CURLE_OK)
		uploaded = 0;
	(void)update(p, (curl_off_t)request_len, uploaded);
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

void
probe_flush(struct probe *p)
{
	if (!progress_equal(&p->progress, &p->reported))
		probe_report(p);
}

const struct proto_progress *
probe_progress(const struct probe *p)
{
	return &p->progress;
}

void
probe_preconnected(struct probe *p, bool https, const char *addr,
    const struct buf *body)
{
	p->https = https;
	p->body = body;
	p->progress.resolved_ms = 0;
	p->progress.connected_ms = 0;
	if (https)
		p->progress.tls_ms = 0;
	(void)snprintf(p->progress.addr, sizeof(p->progress.addr), "%s", addr);
	probe_report(p);
}

void
probe_step(struct probe *p, enum probe_step step)
{
	int32_t *ms = step == PROBE_SENT ? &p->progress.sent_ms :
	    &p->progress.first_byte_ms;

	if (*ms >= 0)
		return;
	*ms = probe_elapsed_ms(p);
	probe_report(p);
}

void
probe_body(struct probe *p)
{
	if (p->body == NULL)
		return;
	p->progress.body_bytes = buf_len(p->body);
	if (p->progress.body_bytes != p->reported.body_bytes &&
	    probe_elapsed_ms(p) - p->reported_ms >= PROBE_BODY_REPORT_MS)
		probe_report(p);
}
