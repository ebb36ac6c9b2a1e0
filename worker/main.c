/*
 * embedwatch-worker: one embeddings call, for the supervisor's exec mode
 * and for use by hand:
 *
 *	echo '{"input":["hello"]}' |
 *	    EMBEDWATCH_BASE_URL=http://127.0.0.1:8080/v1 embedwatch-worker
 *
 * Reads one job (a JSON object, see proto_job.h; only "input" is required)
 * from stdin, makes the call with worker_run and writes one JSON line to
 * stdout, or frames with --frames. Options and the environment give the
 * defaults for whatever the job leaves out. The API key comes only from
 * EMBEDWATCH_API_KEY or OPENAI_API_KEY, never from argv or the job.
 *
 * With --warm SEC it is a warm worker (the supervisor's exec mode):
 * it connects ahead for calls to the base URL, waits for its job at most
 * SEC while watching the connection, and says so in frames (worker.h,
 * worker_warm_wait); EOF on stdin without a job ends it with status 0.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include <bsd/stdlib.h>
#include <bsd/unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "url.h"
#include "version.h"
#include "worker.h"

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

static const char *const default_headers[] = {
	"User-Agent: embedwatch/" EMBEDWATCH_VERSION
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
	    "usage: embedwatch-worker [--frames] [--encoding base64|float] "
	    "[--insecure]\n"
	    "           [--cacert PATH] [--timeout SEC] "
	    "[--max-response BYTES]\n"
	    "           [--worker-memory BYTES] [--number N] "
	    "[--connect-timeout SEC]\n"
	    "           [--warm IDLE-SEC] < job.json\n"
	    "       embedwatch-worker --help | --version\n"
	    "environment: EMBEDWATCH_BASE_URL or OPENAI_BASE_URL, "
	    "EMBEDWATCH_MODEL,\n"
	    "             EMBEDWATCH_API_KEY or OPENAI_API_KEY, http_proxy, "
	    "https_proxy,\n"
	    "             NO_PROXY\n"
	    "See embedwatch-worker(1).\n");
}

/* A usage error in the supervisor's format; returns -1. */
static int __attribute__((format(printf, 1, 2)))
usage_fail(const char *fmt, ...)
{
	va_list ap;

	(void)fputs("embedwatch-worker: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputs("\nTry 'embedwatch-worker --help' for more "
	    "information.\n", stderr);
	return -1;
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

/* Refuse the job on stdout, t0_ms (clock_ms) after the start. */
static int
reject(const char *message, bool frames, int64_t t0_ms)
{
	return worker_refuse(message, (long)(clock_ms() - t0_ms),
	    STDOUT_FILENO, frames);
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

/* What the command line asks for; defaults holds the job's fields. */
struct args {
	bool		 frames;
	struct job	 defaults;
	double		 timeout_s;
	long long	 max_response;
	long long	 memory;	/* RLIMIT_AS; 0: none */
	long		 warm_idle_ms;	/* --warm; 0: not warm */
	long long	 number;	/* the supervisor's, for ps; 0: none */
};

/* Apply option ch with argument arg. Returns 0, or -1 once the refusal
 * is on stderr. */
static int
set_option(struct args *a, int ch, const char *arg)
{
	double seconds;
	const char *errstr;
	char *end;

	switch (ch) {
	case 'F':
		a->frames = true;
		return 0;
	case 'e':
		if (strcmp(arg, "base64") == 0)
			a->defaults.encoding = JOB_ENCODING_BASE64;
		else if (strcmp(arg, "float") == 0)
			a->defaults.encoding = JOB_ENCODING_FLOAT;
		else {
			return usage_fail("--encoding wants base64 or float, "
			    "not '%s'", arg);
		}
		return 0;
	case 'k':
		a->defaults.insecure = true;
		return 0;
	case 'c':
		a->defaults.cacert = arg;
		return 0;
	case 't':
		errno = 0;
		a->timeout_s = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' ||
		    !(a->timeout_s >= 0.001 && a->timeout_s <= 86400)) {
			return usage_fail("--timeout wants seconds (0.001 to "
			    "86400), not '%s'", arg);
		}
		return 0;
	case 'm':
		if (parse_bytes(arg, 1, &a->max_response) == -1 ||
		    (size_t)a->max_response > PROTO_FRAME_MAX) {
			return usage_fail("--max-response wants 1 to %zu "
			    "bytes, not '%s'", PROTO_FRAME_MAX, arg);
		}
		return 0;
	case 'W':
	case 'C':
		errno = 0;
		seconds = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' ||
		    !(seconds >= 0.001 && seconds <= 86400)) {
			return usage_fail("--%s wants seconds (0.001 to 86400), "
			    "not '%s'", ch == 'W' ? "warm" : "connect-timeout",
			    arg);
		}
		if (ch == 'W')
			a->warm_idle_ms = (long)(seconds * 1000);
		else
			a->defaults.connect_timeout_ms = (long)(seconds * 1000);
		return 0;
	case 'M':
		if (parse_bytes(arg, 0, &a->memory) == -1) {
			return usage_fail("--worker-memory wants bytes (0: "
			    "no limit), not '%s'", arg);
		}
		return 0;
	case 'n':
		a->number = strtonum(arg, 1, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return usage_fail("--number wants a positive integer, "
			    "not '%s'", arg);
		return 0;
	}
	return usage_fail("unknown option");
}

/*
 * Parse the command line into a. Returns 0 to go on, or -1 with the
 * status main is to return in *status: help or version printed, or a
 * usage error reported.
 */
static int
parse_args(int argc, char *argv[], struct args *a, int *status)
{
	static const struct option options[] = {
		{ "frames",		no_argument,		NULL, 'F' },
		{ "encoding",		required_argument,	NULL, 'e' },
		{ "insecure",		no_argument,		NULL, 'k' },
		{ "cacert",		required_argument,	NULL, 'c' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "max-response",	required_argument,	NULL, 'm' },
		{ "worker-memory",	required_argument,	NULL, 'M' },
		{ "warm",		required_argument,	NULL, 'W' },
		{ "connect-timeout",	required_argument,	NULL, 'C' },
		{ "number",		required_argument,	NULL, 'n' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "version",		no_argument,		NULL, 'V' },
		{ NULL,			0,			NULL, 0 }
	};
	int ch;

	memset(a, 0, sizeof(*a));
	a->defaults.encoding = JOB_ENCODING_BASE64;
	a->timeout_s = 30;
	a->max_response = 256LL << 20;
	a->memory = 1LL << 30;
	*status = WORKER_EXIT_OK;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (ch == ':' || ch == '?') {
			*status = WORKER_EXIT_USAGE;
			if (ch == ':' && optopt != 0 && optopt != 'h')
				(void)usage_fail("option '%s' needs a value",
				    argv[optind - 1]);
			else
				(void)usage_fail("unknown option '%.*s'",
				    (int)strcspn(argv[optind - 1], "="),
				    argv[optind - 1]);
			return -1;
		}
		if (ch == 'h') {
			usage(stdout);
			return -1;
		}
		if (ch == 'V') {
			(void)printf("embedwatch-worker %s\n",
			    EMBEDWATCH_VERSION);
			return -1;
		}
		if (set_option(a, ch, optarg) == -1) {
			*status = WORKER_EXIT_USAGE;
			return -1;
		}
	}
	if (optind != argc) {
		(void)usage_fail("unexpected argument '%s'", argv[optind]);
		*status = WORKER_EXIT_USAGE;
		return -1;
	}
	return 0;
}

/*
 * Initialise libcurl for job: with the shared CA store when the call is
 * verified https. Sets *worker_ready or *curl_ready for the cleanup that
 * is due. Returns 0, or -1 with a message in err.
 */
static int
global_init(const struct job *job, bool *worker_ready, bool *curl_ready,
    char *err, size_t errlen)
{
	struct url url;

	/*
	 * The CA store is worth loading up front only for a verified https
	 * call, where libcurl would load the same bundle anyway; plain http
	 * would pay ~30 ms of certificate parsing for nothing.
	 */
	if (url_parse(job->base_url, &url, err, errlen) == 0 && url.https &&
	    !job->insecure) {
		*worker_ready = true;	/* cleanup copes with a failed init */
		return worker_global_init(job->cacert, err, errlen);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		(void)snprintf(err, errlen, "cannot initialize libcurl");
		return -1;
	}
	*curl_ready = true;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct args a;
	struct job *job = NULL;
	struct conn *conn = NULL;
	const char *env;
	char err[512], *text = NULL;
	int64_t t0_ms;
	bool curl_ready = false, worker_ready = false;
	size_t len;
	int status = WORKER_EXIT_INTERNAL;

	t0_ms = clock_ms();
	setproctitle_init(argc, argv, environ);
	log_init("embedwatch-worker", LOG_LEVEL_WARN, false);
	if (parse_args(argc, argv, &a, &status) == -1)
		return status;

	/* A crash must not leave the API key in a core file. */
	set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0);
#ifndef UNDER_ASAN
	if (a.memory > 0)
		set_limit(RLIMIT_AS, "RLIMIT_AS", (rlim_t)a.memory);
#endif
	/* A closed stdout is EPIPE, reported as status 70. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warn("cannot ignore SIGPIPE: %s", strerror(errno));

	/* As given: worker_run checks it, url_endpoint drops trailing '/'. */
	env = env2("EMBEDWATCH_BASE_URL", "OPENAI_BASE_URL");
	a.defaults.base_url = env != NULL ? env : DEFAULT_BASE_URL;
	env = getenv("EMBEDWATCH_MODEL");
	a.defaults.model = env != NULL && env[0] != '\0' ? env :
	    DEFAULT_MODEL;
	a.defaults.api_key = env2("EMBEDWATCH_API_KEY", "OPENAI_API_KEY");
	a.defaults.timeout_ms = (long)(a.timeout_s * 1000);
	a.defaults.max_response = (size_t)a.max_response;
	/* A job without "headers" (one by hand) sends the supervisor's
	 * default User-Agent; the supervisor's jobs carry their own. */
	a.defaults.headers = default_headers;
	a.defaults.n_headers = 1;

	/* Warm: connect ahead for calls like the defaults, then wait. */
	if (a.warm_idle_ms > 0) {
		setproctitle("worker (warm)");
		if (global_init(&a.defaults, &worker_ready, &curl_ready, err,
		    sizeof(err)) == -1) {
			status = reject(err, a.frames, t0_ms);
			goto out;
		}
		worker_warm_wait(&a.defaults, a.warm_idle_ms, STDIN_FILENO,
		    STDOUT_FILENO, &conn);
	}
	text = io_slurp(STDIN_FILENO, JOB_MAX, &len);
	if (text != NULL && len == 0 && a.warm_idle_ms > 0) {
		status = WORKER_EXIT_OK;	/* let go without a job */
		goto out;
	}
	if (text == NULL) {
		(void)snprintf(err, sizeof(err), "cannot read the job from "
		    "stdin: %s", strerror(errno));
		status = reject(err, a.frames, t0_ms);
		goto out;
	}
	job = proto_job_parse(text, len, &a.defaults, err, sizeof(err));
	if (job == NULL) {
		status = reject(err, a.frames, t0_ms);
		goto out;
	}
	/* The supervisor's number for this worker, never the request's id:
	 * ps shows the title to every user. */
	if (a.number > 0)
		setproctitle("worker %lld attempt %u", a.number, job->attempt);
	if (a.warm_idle_ms == 0 && global_init(job, &worker_ready,
	    &curl_ready, err, sizeof(err)) == -1) {
		status = reject(err, a.frames, t0_ms);
		goto out;
	}
	status = worker_run_on(job, STDOUT_FILENO, a.frames, conn);
	conn = NULL;
out:
	worker_conn_free(conn);
	if (worker_ready)
		worker_global_cleanup();
	if (curl_ready)
		curl_global_cleanup();
	proto_job_free(job);
	free(text);
	return status;
}
