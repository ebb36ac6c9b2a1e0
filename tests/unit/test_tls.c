/*
 * test_tls: worker/tls.h, the CA store shared across forks. A CA file
 * that cannot be opened or is not PEM is refused with its own message;
 * a store built from a file fits exactly the jobs naming that file; a
 * verified https call to a server on the loopback, run by a child of the
 * test with a certificate generated here, succeeds against the shared
 * store even after the file on disk was replaced by another CA (so the
 * store, not libcurl's own loading, did the verifying), and fails with
 * CURLE_PEER_FAILED_VERIFICATION against a store of the wrong CA.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* A self-signed certificate for 127.0.0.1, its key, its PEM file. */
struct ident {
	EVP_PKEY	*key;
	X509		*cert;
	char		 path[64];
};

struct fixture {
	struct ident	 a, b;
	char		 garbage[64];
};

/* Add extension nid with value v to cert, issued by itself. */
static void
add_ext(X509 *cert, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static void
make_ident(struct ident *id, const char *cn)
{
	X509_NAME *name;
	FILE *f;
	int fd;

	id->key = EVP_EC_gen("P-256");
	assert_non_null(id->key);
	id->cert = X509_new();
	assert_non_null(id->cert);
	assert_int_equal(X509_set_version(id->cert, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(id->cert),
	    1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(id->cert),
	    -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(id->cert),
	    86400));
	assert_int_equal(X509_set_pubkey(id->cert, id->key), 1);
	name = X509_get_subject_name(id->cert);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(id->cert, name), 1);
	add_ext(id->cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(id->cert, NID_subject_alt_name, "IP:127.0.0.1");
	assert_true(X509_sign(id->cert, id->key, EVP_sha256()) > 0);

	(void)snprintf(id->path, sizeof(id->path), "/tmp/test_tls.XXXXXX");
	fd = mkstemp(id->path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, id->cert), 1);
	assert_int_equal(fclose(f), 0);
}

static void
free_ident(struct ident *id)
{
	(void)unlink(id->path);
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
}

static int
setup(void **state)
{
	struct fixture *fx;
	int fd;

	fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	make_ident(&fx->a, "test CA a");
	make_ident(&fx->b, "test CA b");
	(void)snprintf(fx->garbage, sizeof(fx->garbage),
	    "/tmp/test_tls.XXXXXX");
	fd = mkstemp(fx->garbage);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	assert_int_equal(close(fd), 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	tls_cleanup();
	free_ident(&fx->a);
	free_ident(&fx->b);
	(void)unlink(fx->garbage);
	free(fx);
	return 0;
}

static void
test_init_errors(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "";

	assert_int_equal(tls_init("/nonexistent/ca.pem", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "cannot open CA certificates "
	    "'/nonexistent/ca.pem': No such file or directory");
	assert_false(tls_store_fits("/nonexistent/ca.pem"));
	assert_int_equal(tls_init(fx->garbage, err, sizeof(err)), -1);
	if (strstr(err, "cannot load CA certificates") == NULL ||
	    strstr(err, fx->garbage) == NULL)
		fail_msg("message: %s", err);
	assert_false(tls_store_fits(fx->garbage));
}

static void
test_store_fits(void **state)
{
	struct fixture *fx = *state;
	char err[512];

	assert_int_equal(tls_init(fx->a.path, err, sizeof(err)), 0);
	assert_true(tls_store_fits(fx->a.path));
	assert_false(tls_store_fits(fx->b.path));
	assert_false(tls_store_fits(NULL));
	/* A second init replaces the store. */
	assert_int_equal(tls_init(fx->b.path, err, sizeof(err)), 0);
	assert_true(tls_store_fits(fx->b.path));
	assert_false(tls_store_fits(fx->a.path));
	tls_cleanup();
	assert_false(tls_store_fits(fx->b.path));
	tls_cleanup();		/* twice is fine */
}

/* Serve n TLS connections with id on listener fd, for 30 s at most (a
 * failed test may never connect); never returns. */
static void
serve(int fd, const struct ident *id, int n)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	char req[4096];
	SSL_CTX *ctx;
	SSL *ssl;
	size_t got;
	int c, r;

	(void)alarm(30);
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1)
		_exit(2);
	for (; n > 0; n--) {
		c = accept(fd, NULL, NULL);
		if (c == -1)
			_exit(3);
		ssl = SSL_new(ctx);
		if (ssl == NULL || SSL_set_fd(ssl, c) != 1)
			_exit(4);
		/* A client that refuses the certificate ends here. */
		if (SSL_accept(ssl) == 1) {
			got = 0;
			while (got < sizeof(req) - 1 && (r = SSL_read(ssl,
			    req + got, (int)(sizeof(req) - 1 - got))) > 0) {
				got += (size_t)r;
				req[got] = '\0';
				if (strstr(req, "\r\n\r\n") != NULL)
					break;
			}
			(void)SSL_write(ssl, answer, sizeof(answer) - 1);
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		(void)close(c);
	}
	SSL_CTX_free(ctx);
	_exit(0);
}

/* Start a child serving n connections with id; returns its pid. */
static pid_t
start_server(const struct ident *id, int n, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	pid_t pid;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		serve(fd, id, n);
	assert_int_equal(close(fd), 0);
	return pid;
}

static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* One verified GET of https://127.0.0.1:port/ with tls_setopt(cacert). */
static CURLcode
get(int port, const char *cacert)
{
	char url[64];
	CURL *h;
	CURLcode cc;

	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	h = curl_easy_init();
	assert_non_null(h);
	cc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (cc == CURLE_OK)
		cc = tls_setopt(h, cacert, NULL);
	assert_int_equal(cc, CURLE_OK);
	cc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	return cc;
}

static void
test_handshake(void **state)
{
	struct fixture *fx = *state;
	char err[512], shared_path[64];
	int port, st;
	pid_t pid;
	FILE *f;

	pid = start_server(&fx->a, 2, &port);
	/* The store parsed a; then the file on disk becomes b. */
	(void)snprintf(shared_path, sizeof(shared_path), "%s", fx->a.path);
	assert_int_equal(tls_init(shared_path, err, sizeof(err)), 0);
	f = fopen(shared_path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, fx->b.cert), 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(get(port, shared_path), CURLE_OK);
	/* A job naming another file gets libcurl's loading of it. */
	assert_int_equal(get(port, fx->b.path), CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* A shared store of the wrong CA refuses the server. */
	pid = start_server(&fx->a, 1, &port);
	assert_int_equal(tls_init(fx->b.path, err, sizeof(err)), 0);
	assert_true(tls_store_fits(fx->b.path));
	assert_int_equal(get(port, fx->b.path), CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tls_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_store_fits),
		cmocka_unit_test(test_handshake),
	};
	int rc;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return rc;
}
