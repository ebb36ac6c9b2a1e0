/*
 * proto_progress: see proto_progress.h. The wire layout, all integers
 * little-endian: five int32 milestones at 0..19, body_bytes as two uint32
 * halves (low first) at 20..27, addr NUL-padded at 28..91.
 */
#include <stdio.h>
#include <string.h>

#include <bsd/string.h>

#include "le32.h"
#include "proto_progress.h"

void
proto_progress_init(struct proto_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->resolved_ms = -1;
	p->connected_ms = -1;
	p->tls_ms = -1;
	p->sent_ms = -1;
	p->first_byte_ms = -1;
}

void
proto_progress_encode(const struct proto_progress *p,
    unsigned char out[PROTO_PROGRESS_LEN])
{
	le32_put(out, (uint32_t)p->resolved_ms);
	le32_put(out + 4, (uint32_t)p->connected_ms);
	le32_put(out + 8, (uint32_t)p->tls_ms);
	le32_put(out + 12, (uint32_t)p->sent_ms);
	le32_put(out + 16, (uint32_t)p->first_byte_ms);
	le32_put(out + 20, (uint32_t)p->body_bytes);
	le32_put(out + 24, (uint32_t)(p->body_bytes >> 32));
	memset(out + 28, 0, sizeof(p->addr));
	(void)strlcpy((char *)out + 28, p->addr, sizeof(p->addr));
}

int
proto_progress_decode(const unsigned char *in, size_t len,
    struct proto_progress *p)
{
	if (len != PROTO_PROGRESS_LEN)
		return -1;
	p->resolved_ms = (int32_t)le32_get(in);
	p->connected_ms = (int32_t)le32_get(in + 4);
	p->tls_ms = (int32_t)le32_get(in + 8);
	p->sent_ms = (int32_t)le32_get(in + 12);
	p->first_byte_ms = (int32_t)le32_get(in + 16);
	p->body_bytes = (uint64_t)le32_get(in + 20) |
	    (uint64_t)le32_get(in + 24) << 32;
	memcpy(p->addr, in + 28, sizeof(p->addr));
	p->addr[sizeof(p->addr) - 1] = '\0';
	return 0;
}

void
proto_progress_describe(const struct proto_progress *p, const char *host,
    bool tls, char *out, size_t outlen)
{
	const char *addr = p->addr[0] != '\0' ? p->addr : host;
	char sent[48] = "";
	unsigned long long n = (unsigned long long)p->body_bytes;

	if (p->sent_ms >= 0)
		(void)snprintf(sent, sizeof(sent),
		    ", sent the request at %d ms", p->sent_ms);
	if (p->first_byte_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s%s, first byte at "
		    "%d ms, %llu byte%s of the body received", addr, sent,
		    p->first_byte_ms, n, n == 1 ? "" : "s");
	else if (p->sent_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s and sent the "
		    "request at %d ms, no first byte", addr, p->sent_ms);
	else if (p->tls_ms >= 0)
		(void)snprintf(out, outlen, "TLS with %s done at %d ms, "
		    "request not fully sent", addr, p->tls_ms);
	else if (p->connected_ms >= 0)
		(void)snprintf(out, outlen, "connected to %s at %d ms, %s",
		    addr, p->connected_ms, tls ? "TLS handshake not finished" :
		    "request not fully sent");
	else if (p->resolved_ms >= 0)
		(void)snprintf(out, outlen, "resolved '%s' at %d ms, still "
		    "connecting%s%s", host, p->resolved_ms,
		    p->addr[0] != '\0' ? " to " : "", p->addr);
	else
		(void)snprintf(out, outlen, "still resolving '%s'", host);
}
