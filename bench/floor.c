/*
 * floor: the keep-alive floor for make bench (scripts/bench-rtt.py): one
 * process per lane, each with one libcurl easy handle that keeps its
 * connection open, making its share of sequential embeddings POSTs. No
 * supervisor, no fork per call, no killability: what one call costs on a
 * connection that is already open.
 *
 *	floor URL CALLS LANES [CACERT]
 *
 * Prints one line per call, "lane microseconds", on stdout; exits 0 if
 * every call answered 200, else 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static long long
now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One lane: calls sequential POSTs on one handle. Returns 0 if all were
 * 200. */
static int
lane(const char *url, long calls, int no, const char *cacert)
{
	struct curl_slist *headers = NULL;
	char body[256];
	long i, status;
	long long t0;
	CURL *h;
	int rc = 0;

	h = curl_easy_init();
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Authorization: Bearer floor");
	if (h == NULL || headers == NULL)
		return 1;
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    (cacert != NULL &&
	    curl_easy_setopt(h, CURLOPT_CAINFO, cacert) != CURLE_OK))
		return 1;
	for (i = 0; i < calls; i++) {
		(void)snprintf(body, sizeof(body), "{\"model\":\"m\",\"input\":"
		    "[\"floor %d %ld\"],\"encoding_format\":\"base64\"}", no, i);
		if (curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) != CURLE_OK)
			return 1;
		t0 = now_us();
		if (curl_easy_perform(h) != CURLE_OK ||
		    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) !=
		    CURLE_OK || status != 200)
			rc = 1;
		(void)printf("%d %lld\n", no, now_us() - t0);
	}
	(void)fflush(stdout);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	return rc;
}

int
main(int argc, char *argv[])
{
	long calls, lanes, i, share;
	int status, rc = 0;
	pid_t pid;

	if (argc < 4 || argc > 5) {
		(void)fprintf(stderr, "usage: floor URL CALLS LANES [CACERT]\n");
		return 64;
	}
	calls = strtol(argv[2], NULL, 10);
	lanes = strtol(argv[3], NULL, 10);
	if (calls < 1 || lanes < 1 || lanes > calls) {
		(void)fprintf(stderr, "floor: bad CALLS or LANES\n");
		return 64;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	(void)fflush(stdout);
	for (i = 0; i < lanes; i++) {
		share = calls / lanes + (i < calls % lanes ? 1 : 0);
		pid = fork();
		if (pid == -1)
			return 1;
		if (pid == 0)
			_exit(lane(argv[1], share, (int)i, argc == 5 ? argv[4] :
			    NULL));
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = 1;
	curl_global_cleanup();
	return rc;
}
