/*
 * tls: see tls.h. The store mirrors the one libcurl would build for
 * itself: the bundle file first, the CA directory searched only on a
 * miss, X509_V_FLAG_PARTIAL_CHAIN set. It is sorted before any fork, so
 * that lookups in the children do not each write (and copy) its pages.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "log.h"
#include "proto_frame.h"
#include "tls.h"

/* Set by tls_init; read-only afterwards. */
static X509_STORE	*ca_store;	/* NULL: let libcurl load CAs */
static char		*ca_store_file;	/* its cacert; NULL: the default */

/* The session last decoded by tls_prefork, and its DER bytes: a worker
 * forked after it finds the object in its copy of our memory. */
static struct {
	unsigned char	*der;
	size_t		 len;
	SSL_SESSION	*sess;
} decoded;

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

/*
 * Build the store from file and dir (either may be NULL) into *storep.
 * Returns 0 with *storep set, 0 with *storep NULL when libcurl is better
 * left to load the default itself, or -1 with a message in err.
 */
static int
build_store(const char *cacert, const char *file, const char *dir,
    X509_STORE **storep, char *err, size_t errlen)
{
	X509_STORE *store;
	int rc = -1;

	*storep = NULL;
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
	*storep = store;
	store = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	return rc;
}

/*
 * Fetch once, before any fork, what every handshake fetches: OpenSSL 3
 * caches fetched algorithms in its method store, so each forked worker
 * finds them there instead of searching the providers (a fresh SSL_CTX,
 * the key shares, the TLS 1.3 hashes, ciphers and KDF). Failures only
 * mean the workers fetch for themselves.
 */
static void
prefetch(void)
{
	static const char *const digests[] = { "SHA256", "SHA384" };
	static const char *const ciphers[] = { "AES-128-GCM", "AES-256-GCM",
	    "ChaCha20-Poly1305" };
	static const char *const kdfs[] = { "TLS13-KDF", "HKDF" };
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	size_t i;

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx != NULL)
		ssl = SSL_new(ctx);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	EVP_PKEY_free(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		EVP_MD_free(EVP_MD_fetch(NULL, digests[i], NULL));
	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		EVP_CIPHER_free(EVP_CIPHER_fetch(NULL, ciphers[i], NULL));
	for (i = 0; i < sizeof(kdfs) / sizeof(kdfs[0]); i++)
		EVP_KDF_free(EVP_KDF_fetch(NULL, kdfs[i], NULL));
	ERR_clear_error();
}

int
tls_init(const char *cacert, char *err, size_t errlen)
{
	const curl_version_info_data *info;
	const char *file, *dir = NULL;
	X509_STORE *store = NULL;
	char *store_file = NULL;
	int rc = -1;

	/* The shared store works only when libcurl's TLS is this OpenSSL. */
	info = curl_version_info(CURLVERSION_NOW);
	if (info->ssl_version == NULL ||
	    strncmp(info->ssl_version, "OpenSSL/", 8) != 0) {
		log_debug("libcurl uses %s, not sharing a CA store",
		    info->ssl_version != NULL ? info->ssl_version : "no TLS");
		return 0;
	}
	prefetch();
	file = cacert != NULL ? cacert : info->cainfo;
	if (cacert == NULL)
		dir = info->capath;
	if (file == NULL && dir == NULL)
		return 0;

	ERR_clear_error();
	if (build_store(cacert, file, dir, &store, err, errlen) == -1)
		goto out;
	if (store == NULL) {
		rc = 0;
		goto out;
	}
	if (cacert != NULL) {
		store_file = strdup(cacert);
		if (store_file == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	/* Sort now, or every forked worker sorts its own copy on lookup. */
	sk_X509_OBJECT_sort(X509_STORE_get0_objects(store));
	tls_cleanup();
	ca_store = store;
	ca_store_file = store_file;
	store = NULL;
	store_file = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	free(store_file);
	ERR_clear_error();
	return rc;
}

void
tls_prefork(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	SSL_SESSION *sess;
	unsigned char *copy;

	if (der == NULL || len == 0 || (decoded.sess != NULL &&
	    decoded.len == len && memcmp(decoded.der, der, len) == 0))
		return;
	copy = malloc(len);
	sess = copy != NULL ? d2i_SSL_SESSION(NULL, &p, (long)len) : NULL;
	if (sess == NULL) {
		/* The worker decodes it itself, and fails as it would. */
		ERR_clear_error();
		free(copy);
		return;
	}
	memcpy(copy, der, len);
	SSL_SESSION_free(decoded.sess);
	free(decoded.der);
	decoded.der = copy;
	decoded.len = len;
	decoded.sess = sess;
}

void
tls_cleanup(void)
{
	SSL_SESSION_free(decoded.sess);
	free(decoded.der);
	memset(&decoded, 0, sizeof(decoded));
	X509_STORE_free(ca_store);
	ca_store = NULL;
	free(ca_store_file);
	ca_store_file = NULL;
}

bool
tls_store_fits(const char *cacert)
{
	if (ca_store == NULL)
		return false;
	if (cacert == NULL || ca_store_file == NULL)
		return cacert == NULL && ca_store_file == NULL;
	return strcmp(cacert, ca_store_file) == 0;
}

/* What the one call of this process wants of its TLS sessions; set by
 * tls_setopt, read by the OpenSSL callbacks below. */
static struct {
	bool		 shared;	/* give the handle the shared store */
	bool		 resume;	/* import, export sessions */
	const unsigned char *in;	/* the session to resume; NULL: none */
	size_t		 in_len;
	int		 out_fd;	/* 'S' frames; -1: none */
	bool		 imported;
} call_tls = { false, false, NULL, 0, -1, false };

/* The peer of the TLS connection's socket as "ip:port"; "" if unknown. */
static void
peer_of(const SSL *ssl, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	const void *a;
	int port, fd = SSL_get_fd(ssl);

	out[0] = '\0';
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		a = &((struct sockaddr_in *)&ss)->sin_addr;
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else
		return;
	if (inet_ntop(ss.ss_family, a, ip, sizeof(ip)) == NULL)
		return;
	(void)snprintf(out, outlen, ss.ss_family == AF_INET6 ? "[%s]:%d" :
	    "%s:%d", ip, port);
}

/*
 * A new session from the server: hand it to the supervisor, DER after
 * the peer and a NUL, in one 'S' frame. Keeps no reference. Not when
 * this handshake resumed the session offered: that one still works, and
 * keeping it lets fork workers share the copy decoded before the fork
 * (tls_prefork) instead of decoding a new one each (the peer's
 * certificate in it costs as much as a tenth of a call's CPU). Offered
 * again, a TLS 1.3 ticket stays safe (PSK with (EC)DHE, no early data);
 * once the server refuses it or it expires, the full handshake's new
 * session replaces it.
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	unsigned char frame[TLS_SESSION_MAX + 80], *p;
	size_t addr_len;
	int n;

	if (call_tls.out_fd < 0 || (call_tls.imported &&
	    SSL_session_reused(ssl)))
		return 0;
	peer_of(ssl, (char *)frame, 72);
	addr_len = strlen((char *)frame) + 1;
	n = i2d_SSL_SESSION(sess, NULL);
	if (n <= 0 || (size_t)n > TLS_SESSION_MAX)
		return 0;
	p = frame + addr_len;
	if (i2d_SSL_SESSION(sess, &p) != n)
		return 0;
	if (proto_frame_write(call_tls.out_fd, PROTO_FRAME_SESSION, frame,
	    addr_len + (size_t)n) == -1)
		log_debug("cannot hand on the TLS session: %s",
		    strerror(errno));
	return 0;
}

/*
 * The handshake starts: offer the session learned by an earlier worker.
 * Race: libcurl creates the SSL after our SSL_CTX callback, so this is
 * the first moment the SSL exists; the ClientHello is not built yet.
 */
static void
info_cb(const SSL *cssl, int where, int ret)
{
	SSL *ssl = (SSL *)(uintptr_t)cssl;
	const unsigned char *p = call_tls.in;
	SSL_SESSION *sess;

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_START) == 0 || call_tls.imported ||
	    p == NULL)
		return;
	call_tls.imported = true;
	if (decoded.sess != NULL && decoded.len == call_tls.in_len &&
	    memcmp(decoded.der, p, decoded.len) == 0) {
		if (SSL_set_session(ssl, decoded.sess) != 1)
			ERR_clear_error();
		return;
	}
	sess = d2i_SSL_SESSION(NULL, &p, (long)call_tls.in_len);
	if (sess == NULL) {
		ERR_clear_error();
		return;
	}
	if (SSL_set_session(ssl, sess) != 1)
		ERR_clear_error();
	SSL_SESSION_free(sess);
}

static CURLcode
ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	if (call_tls.shared)
		SSL_CTX_set1_cert_store(ssl_ctx, ca_store);
	if (call_tls.resume) {
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ssl_ctx, new_session_cb);
		SSL_CTX_set_info_callback(ssl_ctx, info_cb);
	}
	return CURLE_OK;
}

CURLcode
tls_setopt(CURL *curl, const char *cacert, const struct tls_resume *r)
{
	CURLcode cc = CURLE_OK;
	bool want_cb;

	/* The shared store, with no bundle of libcurl's own; failing
	 * that, libcurl loads cacert (or its default) itself. Sessions
	 * are ours to carry across processes, not libcurl's cache. */
	call_tls.shared = tls_store_fits(cacert);
	call_tls.resume = r != NULL;
	call_tls.in = r != NULL && r->len > 0 ? r->session : NULL;
	call_tls.in_len = r != NULL ? r->len : 0;
	call_tls.out_fd = r != NULL ? r->out_fd : -1;
	call_tls.imported = false;
	want_cb = call_tls.shared || call_tls.resume;
	if (want_cb) {
		cc = curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION,
		    ssl_ctx_cb);
		if (cc == CURLE_NOT_BUILT_IN || cc == CURLE_UNKNOWN_OPTION) {
			call_tls.shared = call_tls.resume = false;
			cc = CURLE_OK;
		}
	}
	if (call_tls.resume && cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (call_tls.shared && cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
	if (call_tls.shared && cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	if (!call_tls.shared && cacert != NULL && cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_CAINFO, cacert);
	return cc;
}
