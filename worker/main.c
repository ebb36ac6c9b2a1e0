/*
 * embedwatch-worker: one embeddings call, for the supervisor's exec mode
 * and for use by hand:
 *
 *	echo '{"input":["hello"]}' |
 *	    EMBEDWATCH_BASE_URL=http://127.0.0.1:8080/v1 embedwatch-worker
 *
 * Reads one job (a JSON object, see proto.h; only "input" is required)
 * from stdin, makes the call with worker_run and writes one JSON line to
 * stdout, or frames with --frames. Options and the environment give the
 * defaults for whatever the job leaves out. The API key comes only from
 * EMBEDWATCH_API_KEY or OPENAI_API_KEY, never from argv or the job.
 *
 * Exit statuses (worker.h has the same table):
 *	0	ok
 *	2	the API answered with an error status
 *	3	network: resolve, connect, TLS, reset
 *	4	libcurl's own timeout fired
 *	5	bad response: 2xx but no valid answer, or over --max-response
 *	6	invalid job (also unreadable stdin or CA file)
 *	64	usage: bad options
 *	70	the result could not be written
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <bsd/unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_progress.h"
#include "proto_result.h"
#include "url.h"
#include "worker.h"

#ifndef EMBEDWATCH_VERSION
#define EMBEDWATCH_VERSION	"0.1"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN	1
#endif
#endif

#define JOB_MAX			((size_t)64 << 20)
#define DEFAULT_BASE_URL	"https://api.openai.com/v1"
#define DEFAULT_MODEL		"text-embedding-3-small"

extern char **environ;

static void
usage(FILE *f)
{
	(void)fprintf(f,
	    "usage: embedwatch-worker [--frames] [--encoding base64|float] "
	    "[--insecure]\n"
	    "           [--cacert path] [--timeout sec] "
	    "[--max-response bytes]\n"
	    "           [--worker-memory bytes] < job.json\n"
	    "environment: EMBEDWATCH_BASE_URL or OPENAI_BASE_URL, "
	    "EMBEDWATCH_MODEL,\n"
	    "             EMBEDWATCH_API_KEY or OPENAI_API_KEY\n");
}

/* The first non-empty variable of the two, or NULL. */
static const char *
env2(const char *a, const char *b)
{
	const char *v;

	v = getenv(a);
	if (v != NULL && v[0] != '\0')
		return v;
	v = getenv(b);
	if (v != NULL && v[0] != '\0')
		return v;
	return NULL;
}

/*
 * Report a job that never got as far as worker_run as invalid_request,
 * shaped like worker_run's own output. Returns the exit status.
 */
static int
reject(const char *message, bool frames, int64_t t0_ms)
{
	struct proto_result r;
	struct proto_progress p;
	unsigned char payload[PROTO_PROGRESS_LEN];
	struct buf out;
	json_t *line = NULL;
	char *text = NULL;
	int status = WORKER_EXIT_INTERNAL;

	memset(&r, 0, sizeof(r));
	r.class = PROTO_INVALID_REQUEST;
	r.retry_after_ms = -1;
	r.ms = (long)(clock_ms() - t0_ms);
	(void)strlcpy(r.message, message, sizeof(r.message));
	buf_init(&out, PROTO_FRAME_MAX);
	if (frames) {
		proto_progress_init(&p);
		proto_progress_encode(&p, payload);
		if (proto_frame_write(STDOUT_FILENO, PROTO_FRAME_PROGRESS,
		    payload, sizeof(payload)) == -1 ||
		    proto_result_encode(&r, &out) == -1 ||
		    proto_frame_write(STDOUT_FILENO, PROTO_FRAME_RESULT,
		    buf_data(&out), buf_len(&out)) == -1)
			goto out;
	} else {
		line = json_pack("{s:b, s:{s:s, s:s}, s:I}", "ok", 0, "error",
		    "code", proto_class_name(r.class), "message", r.message,
		    "ms", (json_int_t)r.ms);
		if (line == NULL)
			goto out;
		text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text == NULL ||
		    io_write_all(STDOUT_FILENO, text, strlen(text)) == -1 ||
		    io_write_all(STDOUT_FILENO, "\n", 1) == -1)
			goto out;
	}
	status = WORKER_EXIT_INVALID;
out:
	if (status == WORKER_EXIT_INTERNAL)
		log_error("cannot write the result: %s", strerror(errno));
	free(text);
	json_decref(line);
	buf_free(&out);
	return status;
}

/* Parse a count of bytes; returns 0 or -1. */
static int
parse_bytes(const char *s, long long min, long long *out)
{
	const char *errstr;

	*out = strtonum(s, min, LLONG_MAX, &errstr);
	return errstr == NULL ? 0 : -1;
}

static void
set_limit(int resource, const char *name, rlim_t value)
{
	struct rlimit rl;

	rl.rlim_cur = value;
	rl.rlim_max = value;
	if (setrlimit(resource, &rl) == -1)
		log_warn("cannot set %s: %s", name, strerror(errno));
}

int
main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "frames",		no_argument,		NULL, 'F' },
		{ "encoding",		required_argument,	NULL, 'e' },
		{ "insecure",		no_argument,		NULL, 'k' },
		{ "cacert",		required_argument,	NULL, 'c' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "max-response",	required_argument,	NULL, 'm' },
		{ "worker-memory",	required_argument,	NULL, 'M' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "version",		no_argument,		NULL, 'V' },
		{ NULL,			0,			NULL, 0 }
	};
	struct job defaults, *job = NULL;
	const char *env;
	struct url url;
	char err[512], *text = NULL, *end;
	long long max_response = 256LL << 20, memory = 1LL << 30;
	int64_t t0_ms;
	double timeout_s = 30;
	bool frames = false, curl_ready = false, worker_ready = false;
	size_t len;
	int ch, status = WORKER_EXIT_INTERNAL;

	t0_ms = clock_ms();
	setproctitle_init(argc, argv, environ);
	log_init("embedwatch-worker", LOG_LEVEL_WARN, false);
	memset(&defaults, 0, sizeof(defaults));
	defaults.encoding = JOB_ENCODING_BASE64;

	while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (ch) {
		case 'F':
			frames = true;
			break;
		case 'e':
			if (strcmp(optarg, "base64") == 0)
				defaults.encoding = JOB_ENCODING_BASE64;
			else if (strcmp(optarg, "float") == 0)
				defaults.encoding = JOB_ENCODING_FLOAT;
			else {
				log_error("--encoding must be base64 or float, "
				    "not '%s'", optarg);
				return WORKER_EXIT_USAGE;
			}
			break;
		case 'k':
			defaults.insecure = true;
			break;
		case 'c':
			defaults.cacert = optarg;
			break;
		case 't':
			errno = 0;
			timeout_s = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(timeout_s >= 0.001 && timeout_s <= 86400)) {
				log_error("--timeout must be seconds in "
				    "0.001..86400, not '%s'", optarg);
				return WORKER_EXIT_USAGE;
			}
			break;
		case 'm':
			if (parse_bytes(optarg, 1, &max_response) == -1 ||
			    (size_t)max_response > PROTO_FRAME_MAX) {
				log_error("--max-response must be bytes in "
				    "1..%zu, not '%s'", PROTO_FRAME_MAX,
				    optarg);
				return WORKER_EXIT_USAGE;
			}
			break;
		case 'M':
			if (parse_bytes(optarg, 0, &memory) == -1) {
				log_error("--worker-memory must be bytes "
				    "(0: no limit), not '%s'", optarg);
				return WORKER_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return WORKER_EXIT_OK;
		case 'V':
			(void)printf("embedwatch-worker %s\n",
			    EMBEDWATCH_VERSION);
			return WORKER_EXIT_OK;
		default:
			usage(stderr);
			return WORKER_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return WORKER_EXIT_USAGE;
	}

	/* A crash must not leave the API key in a core file. */
	set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0);
#ifndef UNDER_ASAN
	if (memory > 0)
		set_limit(RLIMIT_AS, "RLIMIT_AS", (rlim_t)memory);
#endif
	/* A closed stdout is EPIPE, reported as status 70. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warn("cannot ignore SIGPIPE: %s", strerror(errno));

	/* As given: worker_run checks it, url_endpoint drops trailing '/'. */
	env = env2("EMBEDWATCH_BASE_URL", "OPENAI_BASE_URL");
	defaults.base_url = env != NULL ? env : DEFAULT_BASE_URL;
	env = getenv("EMBEDWATCH_MODEL");
	defaults.model = env != NULL && env[0] != '\0' ? env : DEFAULT_MODEL;
	defaults.api_key = env2("EMBEDWATCH_API_KEY", "OPENAI_API_KEY");
	defaults.timeout_ms = (long)(timeout_s * 1000);
	defaults.max_response = (size_t)max_response;

	text = io_slurp(STDIN_FILENO, JOB_MAX, &len);
	if (text == NULL) {
		(void)snprintf(err, sizeof(err), "cannot read the job from "
		    "stdin: %s", strerror(errno));
		status = reject(err, frames, t0_ms);
		goto out;
	}
	job = proto_job_parse(text, len, &defaults, err, sizeof(err));
	if (job == NULL) {
		status = reject(err, frames, t0_ms);
		goto out;
	}
	if (job->request_id != NULL)
		setproctitle("request %s attempt %u", job->request_id,
		    job->attempt);
	/*
	 * The CA store is worth loading up front only for a verified https
	 * call, where libcurl would load the same bundle anyway; plain http
	 * would pay ~30 ms of certificate parsing for nothing.
	 */
	if (url_parse(job->base_url, &url, err, sizeof(err)) == 0 &&
	    url.https && !job->insecure) {
		worker_ready = true;	/* cleanup copes with a failed init */
		if (worker_global_init(job->cacert, err, sizeof(err)) == -1) {
			status = reject(err, frames, t0_ms);
			goto out;
		}
	} else {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			status = reject("cannot initialize libcurl", frames,
			    t0_ms);
			goto out;
		}
		curl_ready = true;
	}
	status = worker_run(job, STDOUT_FILENO, frames);
out:
	if (worker_ready)
		worker_global_cleanup();
	if (curl_ready)
		curl_global_cleanup();
	proto_job_free(job);
	free(text);
	return status;
}
