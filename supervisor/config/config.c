/*
 * config: see config.h. Messages go to stderr before logging is set up,
 * in the same lower-case form as log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "config/config.h"
#include "io.h"
#include "url.h"

#ifndef EMBEDWATCH_VERSION
#define EMBEDWATCH_VERSION "0.1.0"
#endif

#define MAX_HEADERS	64

static const char usage_text[] =
"usage: embedwatch pipe  [options]\n"
"       embedwatch batch [INPUT|-] [-o OUT] [batch options] [options]\n"
"       embedwatch serve --socket PATH [serve options] [options]\n"
"\n"
"Every API call runs in its own worker process, SIGKILLed at its deadline;\n"
"every request gets exactly one answer.\n"
"  pipe   JSON-line requests on stdin, one JSON-line answer each on stdout\n"
"  batch  embed a corpus (one text a line, or JSON lines) into a file\n"
"  serve  the pipe protocol on a Unix socket, for many clients\n"
"\n"
"options:\n"
"  --base-url URL        API base (EMBEDWATCH_BASE_URL, OPENAI_BASE_URL;\n"
"                        default https://api.openai.com/v1)\n"
"  --model NAME          model (EMBEDWATCH_MODEL; text-embedding-3-small)\n"
"  --api-key-file PATH   read the key from PATH (mode 0600 or stricter);\n"
"                        else EMBEDWATCH_API_KEY, then OPENAI_API_KEY\n"
"  --timeout SEC         per attempt; the worker is SIGKILLed at it (30)\n"
"  --deadline SEC        whole request, all attempts and backoff (120)\n"
"  --retries N           extra attempts after a retryable failure (3)\n"
"  --jobs N              workers at once (8)\n"
"  --warm N              keep N workers forked ahead, waiting for a call,\n"
"                        so a call does not wait for its fork (0; <= jobs)\n"
"  --queue N             requests waiting for a worker before input\n"
"                        stops being read (1024)\n"
"  --drain SEC           on SIGTERM, time in-flight calls get (= timeout)\n"
"  --dimensions N        ask for N dimensions\n"
"  --encoding FMT        base64 (default) or float, as asked of the API\n"
"  --header 'Name: v'    extra request header (repeatable)\n"
"  --cacert PATH         CA bundle to verify the server with\n"
"  --insecure            do not verify the server's certificate\n"
"  --max-line BYTES      longest request line (16777216)\n"
"  --max-response BYTES  largest API response body (268435456)\n"
"  --worker-memory BYTES address-space cap per worker (1073741824)\n"
"  --worker PATH         fork+exec PATH as the worker (EMBEDWATCH_WORKER)\n"
"  --exec-worker         fork+exec the embedwatch-worker beside this binary\n"
"  --log-level LEVEL     error, warn, info (default) or debug\n"
"  --log-format FMT      text (default) or json, on stderr\n"
"  --version, --help\n"
"\n"
"batch options:\n"
"  -o, --output OUT      output file (default stdout, jsonl only)\n"
"  --input-format FMT    text (one text a line) or jsonl ({\"id\",\"text\"});\n"
"                        default by extension (.jsonl, .ndjson), else text\n"
"  --format FMT          jsonl (default) or npy (float32 [N, D], OUT.ids)\n"
"  --errors FILE         failed inputs, one JSON line each (OUT.errors)\n"
"  --batch-size N        texts per API call (64)\n"
"  --batch-bytes BYTES   text bytes per API call (400000)\n"
"  --resume              skip the ids OUT already holds and append\n"
"  --progress, --no-progress   progress on stderr (default: if a tty)\n"
"\n"
"serve options:\n"
"  --socket PATH         Unix socket to listen on (required, unless\n"
"                        started by systemd socket activation)\n"
"  --socket-mode MODE    permissions of the socket (0600)\n"
"  --pidfile PATH        write our pid; refuse to run twice\n"
"  --allow-uid UID       accept only these peer uids (repeatable)\n"
"  --log-file PATH       log there instead of stderr (reopened on SIGHUP)\n"
"  --max-clients N       connections at once (256)\n"
"  --conn-inflight N     running requests per connection (= jobs)\n"
"  --conn-queue N        waiting requests per connection (256)\n";

enum {
	OPT_BASE_URL = 256, OPT_MODEL, OPT_KEY_FILE, OPT_TIMEOUT,
	OPT_DEADLINE, OPT_RETRIES, OPT_JOBS, OPT_WARM, OPT_QUEUE, OPT_DRAIN,
	OPT_DIMENSIONS, OPT_ENCODING, OPT_HEADER, OPT_CACERT, OPT_INSECURE,
	OPT_MAX_LINE, OPT_MAX_RESPONSE, OPT_WORKER_MEMORY, OPT_WORKER,
	OPT_EXEC_WORKER, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_VERSION, OPT_HELP,
	/* batch */
	OPT_OUTPUT, OPT_INPUT_FORMAT, OPT_FORMAT, OPT_ERRORS, OPT_BATCH_SIZE,
	OPT_BATCH_BYTES, OPT_RESUME, OPT_PROGRESS, OPT_NO_PROGRESS,
	/* serve */
	OPT_SOCKET, OPT_SOCKET_MODE, OPT_PIDFILE, OPT_ALLOW_UID, OPT_LOG_FILE,
	OPT_MAX_CLIENTS, OPT_CONN_INFLIGHT, OPT_CONN_QUEUE
};

static const struct option options[] = {
	{ "base-url", required_argument, NULL, OPT_BASE_URL },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "api-key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "warm", required_argument, NULL, OPT_WARM },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "dimensions", required_argument, NULL, OPT_DIMENSIONS },
	{ "encoding", required_argument, NULL, OPT_ENCODING },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "max-response", required_argument, NULL, OPT_MAX_RESPONSE },
	{ "worker-memory", required_argument, NULL, OPT_WORKER_MEMORY },
	{ "worker", required_argument, NULL, OPT_WORKER },
	{ "exec-worker", no_argument, NULL, OPT_EXEC_WORKER },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "input-format", required_argument, NULL, OPT_INPUT_FORMAT },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "errors", required_argument, NULL, OPT_ERRORS },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "conn-inflight", required_argument, NULL, OPT_CONN_INFLIGHT },
	{ "conn-queue", required_argument, NULL, OPT_CONN_QUEUE },
	{ NULL, 0, NULL, 0 }
};

static int
fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int status, const char *fmt, ...)
{
	va_list ap;

	(void)fputs("embedwatch: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
	return status;
}

int
config_parse_seconds(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v * 1000 < 1 || v > 86400)
		return -1;
	*ms = (long)llround(v * 1000);
	return 0;
}

static int
parse_count(const char *s, long long min, long long max, long long *out)
{
	const char *errstr;

	*out = strtonum(s, min, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

static int
parse_octal(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 8);
	return errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0;
}

/* Replace *dst with a copy of s. */
static int
set_string(char **dst, const char *s)
{
	char *p;

	p = strdup(s);
	if (p == NULL)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Read the key from path, refusing a file others can read. */
static int
read_key_file(struct config *cfg, const char *path)
{
	struct stat st;
	char *text = NULL;
	size_t len;
	int fd, rc = EXIT_CONFIG;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return fail(EXIT_CONFIG, "cannot open api key file '%s': %s",
		    path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		(void)fail(0, "cannot stat api key file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		(void)fail(0, "api key file '%s' is readable by group or "
		    "others (mode %04o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	text = io_slurp(fd, 64 * 1024, &len);
	if (text == NULL) {
		(void)fail(0, "cannot read api key file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
	    text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	if (len == 0 || has_control(text) || strlen(text) != len) {
		(void)fail(0, "api key file '%s' does not hold one key on one "
		    "line", path);
		goto out;
	}
	free(cfg->api_key);
	cfg->api_key = text;
	text = NULL;
	rc = 0;
out:
	if (text != NULL)
		explicit_bzero(text, strlen(text));
	free(text);
	(void)close(fd);
	return rc;
}

/* Set base_url (checked and normalised, see url.h) and host. */
static int
set_base_url(struct config *cfg, const char *url)
{
	struct url u;
	char err[256], *base, *host;

	if (url_parse(url, &u, err, sizeof(err)) == -1)
		return fail(EXIT_CONFIG, "base %s", err);
	base = url_normalize(&u);
	host = strndup(u.host, u.host_len);
	if (base == NULL || host == NULL) {
		free(base);
		free(host);
		return fail(EXIT_CONFIG, "out of memory");
	}
	free(cfg->base_url);
	cfg->base_url = base;
	free(cfg->host);
	cfg->host = host;
	return 0;
}

static int
add_header(struct config *cfg, const char *h)
{
	const char *colon;
	char **p;

	colon = strchr(h, ':');
	if (colon == NULL || colon == h || has_control(h) ||
	    strcspn(h, " \t") < (size_t)(colon - h))
		return fail(EXIT_USAGE, "--header wants 'Name: value', without "
		    "control characters");
	if (cfg->n_headers == MAX_HEADERS)
		return fail(EXIT_USAGE, "at most %d --header options",
		    MAX_HEADERS);
	p = reallocarray(cfg->headers, cfg->n_headers + 2, sizeof(*p));
	if (p == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->headers = p;
	p[cfg->n_headers] = strdup(h);
	if (p[cfg->n_headers] == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	p[++cfg->n_headers] = NULL;
	return 0;
}

static int
add_uid(struct config *cfg, const char *arg)
{
	long long n;
	uid_t *p;

	if (parse_count(arg, 0, (long long)UINT32_MAX - 1, &n) == -1)
		return fail(EXIT_USAGE, "--allow-uid wants a numeric uid, not "
		    "'%s'", arg);
	p = reallocarray(cfg->allow_uids, cfg->n_allow_uids + 1, sizeof(*p));
	if (p == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->allow_uids = p;
	p[cfg->n_allow_uids++] = (uid_t)n;
	return 0;
}

/* Path of embedwatch-worker beside our own executable. */
static int
set_worker_beside(struct config *cfg)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n == -1)
		return fail(EXIT_CONFIG, "cannot find our own executable: %s",
		    strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	(void)snprintf(path, sizeof(path), "%s/embedwatch-worker", self);
	if (set_string(&cfg->worker_path, path) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

static void
set_defaults(struct config *cfg, const char *mode)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->timeout_ms = 30000;
	cfg->deadline_ms = 120000;
	cfg->drain_ms = -1;
	cfg->retries = 3;
	cfg->jobs = 8;
	cfg->queue_max = 1024;
	cfg->encoding = JOB_ENCODING_BASE64;
	cfg->max_response = (size_t)256 << 20;
	cfg->max_line = (size_t)16 << 20;
	cfg->worker_memory = (rlim_t)1 << 30;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->backoff_base_ms = 500;
	cfg->backoff_max_ms = 8000;
	cfg->batch_size = 64;
	cfg->batch_bytes = 400000;
	cfg->progress = -1;
	cfg->socket_mode = 0600;
	cfg->max_clients = 256;
	cfg->conn_queue = 256;
}

/*
 * The environment's share: base URL, model, key, worker, test hooks.
 * Applied after the command line, to what it left unset, so that a bad
 * variable that an option overrides does no harm.
 */
static int
apply_env(struct config *cfg)
{
	const char *v;
	long long n;
	int rc;

	if (cfg->base_url == NULL) {
		v = getenv("EMBEDWATCH_BASE_URL");
		if (v == NULL || *v == '\0')
			v = getenv("OPENAI_BASE_URL");
		if (v == NULL || *v == '\0')
			v = "https://api.openai.com/v1";
		rc = set_base_url(cfg, v);
		if (rc != 0)
			return rc;
	}
	v = getenv("EMBEDWATCH_MODEL");
	if (cfg->model == NULL && set_string(&cfg->model, v != NULL &&
	    *v != '\0' ? v : "text-embedding-3-small") == -1)
		return fail(EXIT_CONFIG, "out of memory");
	v = getenv("EMBEDWATCH_API_KEY");
	if (v == NULL || *v == '\0')
		v = getenv("OPENAI_API_KEY");
	if (cfg->api_key == NULL && v != NULL && *v != '\0') {
		if (has_control(v))
			return fail(EXIT_CONFIG, "the api key in the "
			    "environment has control characters");
		if (set_string(&cfg->api_key, v) == -1)
			return fail(EXIT_CONFIG, "out of memory");
	}
	v = getenv("EMBEDWATCH_WORKER");
	if (cfg->worker_path == NULL && v != NULL && *v != '\0' &&
	    set_string(&cfg->worker_path, v) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	v = getenv("EMBEDWATCH_TEST_FAIL_FORK");
	if (v != NULL && parse_count(v, 1, 1000000, &n) == 0)
		cfg->fault_fork_every = (unsigned)n;
	return 0;
}

static int
parse_option(struct config *cfg, int opt, const char *arg)
{
	long long n;

	switch (opt) {
	case OPT_BASE_URL:
		return set_base_url(cfg, arg);
	case OPT_MODEL:
		if (*arg == '\0' || has_control(arg))
			return fail(EXIT_USAGE, "--model wants a name");
		return set_string(&cfg->model, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_KEY_FILE:
		return read_key_file(cfg, arg);
	case OPT_TIMEOUT:
		if (config_parse_seconds(arg, &cfg->timeout_ms) == -1)
			return fail(EXIT_USAGE, "--timeout wants seconds "
			    "(0.001 to 86400), not '%s'", arg);
		return 0;
	case OPT_DEADLINE:
		if (config_parse_seconds(arg, &cfg->deadline_ms) == -1)
			return fail(EXIT_USAGE, "--deadline wants seconds "
			    "(0.001 to 86400), not '%s'", arg);
		return 0;
	case OPT_DRAIN:
		if (strcmp(arg, "0") == 0)
			cfg->drain_ms = 0;
		else if (config_parse_seconds(arg, &cfg->drain_ms) == -1)
			return fail(EXIT_USAGE, "--drain wants seconds, not "
			    "'%s'", arg);
		return 0;
	case OPT_RETRIES:
		if (parse_count(arg, 0, 100, &n) == -1)
			return fail(EXIT_USAGE, "--retries wants 0 to 100, not "
			    "'%s'", arg);
		cfg->retries = (unsigned)n;
		return 0;
	case OPT_JOBS:
		if (parse_count(arg, 1, 4096, &n) == -1)
			return fail(EXIT_USAGE, "--jobs wants 1 to 4096, not "
			    "'%s'", arg);
		cfg->jobs = (unsigned)n;
		return 0;
	case OPT_WARM:
		if (parse_count(arg, 0, 4096, &n) == -1)
			return fail(EXIT_USAGE, "--warm wants 0 to 4096, not "
			    "'%s'", arg);
		cfg->warm = (unsigned)n;
		return 0;
	case OPT_QUEUE:
		if (parse_count(arg, 1, 10000000, &n) == -1)
			return fail(EXIT_USAGE, "--queue wants 1 to 10000000, "
			    "not '%s'", arg);
		cfg->queue_max = (size_t)n;
		return 0;
	case OPT_DIMENSIONS:
		if (parse_count(arg, 1, 1000000, &n) == -1)
			return fail(EXIT_USAGE, "--dimensions wants a positive "
			    "number, not '%s'", arg);
		cfg->dimensions = (long)n;
		return 0;
	case OPT_ENCODING:
		if (strcmp(arg, "base64") == 0)
			cfg->encoding = JOB_ENCODING_BASE64;
		else if (strcmp(arg, "float") == 0)
			cfg->encoding = JOB_ENCODING_FLOAT;
		else
			return fail(EXIT_USAGE, "--encoding wants base64 or "
			    "float, not '%s'", arg);
		return 0;
	case OPT_HEADER:
		return add_header(cfg, arg);
	case OPT_CACERT:
		if (access(arg, R_OK) == -1)
			return fail(EXIT_CONFIG, "cannot read ca file '%s': %s",
			    arg, strerror(errno));
		return set_string(&cfg->cacert, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_INSECURE:
		cfg->insecure = true;
		return 0;
	case OPT_MAX_LINE:
		if (parse_count(arg, 64, (long long)1 << 31, &n) == -1)
			return fail(EXIT_USAGE, "--max-line wants 64 to 2^31 "
			    "bytes, not '%s'", arg);
		cfg->max_line = (size_t)n;
		return 0;
	case OPT_MAX_RESPONSE:
		if (parse_count(arg, 1024, (long long)1 << 32, &n) == -1)
			return fail(EXIT_USAGE, "--max-response wants 1024 to "
			    "2^32 bytes, not '%s'", arg);
		cfg->max_response = (size_t)n;
		return 0;
	case OPT_WORKER_MEMORY:
		if (parse_count(arg, (long long)16 << 20, (long long)1 << 40,
		    &n) == -1)
			return fail(EXIT_USAGE, "--worker-memory wants 16 MiB "
			    "to 1 TiB in bytes, not '%s'", arg);
		cfg->worker_memory = (rlim_t)n;
		return 0;
	case OPT_WORKER:
		return set_string(&cfg->worker_path, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_EXEC_WORKER:
		return set_worker_beside(cfg);
	case OPT_LOG_LEVEL:
		if (log_parse_level(arg, &cfg->log_level) == -1)
			return fail(EXIT_USAGE, "--log-level wants error, warn, "
			    "info or debug, not '%s'", arg);
		return 0;
	case OPT_OUTPUT:
		return set_string(&cfg->batch_output, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_ERRORS:
		return set_string(&cfg->batch_errors, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_INPUT_FORMAT:
		if (strcmp(arg, "text") == 0)
			cfg->batch_input_format = BATCH_IN_TEXT;
		else if (strcmp(arg, "jsonl") == 0)
			cfg->batch_input_format = BATCH_IN_JSONL;
		else
			return fail(EXIT_USAGE, "--input-format wants text or "
			    "jsonl, not '%s'", arg);
		return 0;
	case OPT_FORMAT:
		if (strcmp(arg, "jsonl") == 0)
			cfg->batch_format = BATCH_OUT_JSONL;
		else if (strcmp(arg, "npy") == 0)
			cfg->batch_format = BATCH_OUT_NPY;
		else
			return fail(EXIT_USAGE, "--format wants jsonl or npy, "
			    "not '%s'", arg);
		return 0;
	case OPT_BATCH_SIZE:
		if (parse_count(arg, 1, PROTO_MAX_INPUTS, &n) == -1)
			return fail(EXIT_USAGE, "--batch-size wants 1 to %d, "
			    "not '%s'", PROTO_MAX_INPUTS, arg);
		cfg->batch_size = (unsigned)n;
		return 0;
	case OPT_BATCH_BYTES:
		if (parse_count(arg, 1024, (long long)1 << 30, &n) == -1)
			return fail(EXIT_USAGE, "--batch-bytes wants 1024 to "
			    "2^30, not '%s'", arg);
		cfg->batch_bytes = (size_t)n;
		return 0;
	case OPT_RESUME:
		cfg->resume = true;
		return 0;
	case OPT_PROGRESS:
		cfg->progress = 1;
		return 0;
	case OPT_NO_PROGRESS:
		cfg->progress = 0;
		return 0;
	case OPT_SOCKET:
		if (strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(EXIT_USAGE, "--socket path '%s' is too "
			    "long for a Unix socket", arg);
		return set_string(&cfg->socket_path, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_SOCKET_MODE:
		if (parse_octal(arg, &n) == -1 || n > 0777)
			return fail(EXIT_USAGE, "--socket-mode wants an octal "
			    "mode like 0660, not '%s'", arg);
		cfg->socket_mode = (mode_t)n;
		return 0;
	case OPT_PIDFILE:
		return set_string(&cfg->pidfile, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_ALLOW_UID:
		return add_uid(cfg, arg);
	case OPT_LOG_FILE:
		return set_string(&cfg->log_file, arg) == -1 ?
		    fail(EXIT_CONFIG, "out of memory") : 0;
	case OPT_MAX_CLIENTS:
		if (parse_count(arg, 1, 65536, &n) == -1)
			return fail(EXIT_USAGE, "--max-clients wants 1 to "
			    "65536, not '%s'", arg);
		cfg->max_clients = (unsigned)n;
		return 0;
	case OPT_CONN_INFLIGHT:
		if (parse_count(arg, 1, 4096, &n) == -1)
			return fail(EXIT_USAGE, "--conn-inflight wants 1 to "
			    "4096, not '%s'", arg);
		cfg->conn_inflight = (unsigned)n;
		return 0;
	case OPT_CONN_QUEUE:
		if (parse_count(arg, 1, 10000000, &n) == -1)
			return fail(EXIT_USAGE, "--conn-queue wants 1 to "
			    "10000000, not '%s'", arg);
		cfg->conn_queue = (unsigned)n;
		return 0;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "text") == 0)
			cfg->log_json = false;
		else if (strcmp(arg, "json") == 0)
			cfg->log_json = true;
		else
			return fail(EXIT_USAGE, "--log-format wants text or "
			    "json, not '%s'", arg);
		return 0;
	default:
		return fail(EXIT_USAGE, "unknown option; try 'embedwatch "
		    "--help'");
	}
}

/* Batch and serve options belong to their own subcommand only. */
static bool
option_fits_mode(int opt, const char *mode)
{
	if (opt >= OPT_OUTPUT && opt <= OPT_NO_PROGRESS)
		return strcmp(mode, "batch") == 0;
	if (opt >= OPT_SOCKET && opt <= OPT_CONN_QUEUE)
		return strcmp(mode, "serve") == 0;
	return true;
}

int
config_load(struct config *cfg, const char *mode, int argc, char **argv)
{
	int opt, rc;

	set_defaults(cfg, mode);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
		if (opt == 'o')
			opt = OPT_OUTPUT;
		if (opt == OPT_HELP) {
			(void)fputs(usage_text, stdout);
			return CONFIG_DONE;
		}
		if (opt == OPT_VERSION) {
			(void)printf("embedwatch %s\n", EMBEDWATCH_VERSION);
			return CONFIG_DONE;
		}
		if (opt == '?' || opt == ':')
			return fail(EXIT_USAGE, "bad option '%s'; try "
			    "'embedwatch --help'", argv[optind - 1]);
		if (!option_fits_mode(opt, mode))
			return fail(EXIT_USAGE, "option '%s' is not for "
			    "'embedwatch %s'", argv[optind - 1], mode);
		rc = parse_option(cfg, opt, optarg);
		if (rc != 0)
			return rc;
	}
	if (strcmp(mode, "batch") == 0 && optind < argc) {
		if (set_string(&cfg->batch_input, argv[optind++]) == -1)
			return fail(EXIT_CONFIG, "out of memory");
	}
	if (optind < argc)
		return fail(EXIT_USAGE, "unexpected argument '%s'",
		    argv[optind]);
	if (strcmp(mode, "batch") == 0 && cfg->batch_input == NULL &&
	    set_string(&cfg->batch_input, "-") == -1)
		return fail(EXIT_CONFIG, "out of memory");
	if (cfg->conn_inflight == 0)
		cfg->conn_inflight = cfg->jobs;
	rc = apply_env(cfg);
	if (rc != 0)
		return rc;
	if (cfg->drain_ms < 0)
		cfg->drain_ms = cfg->timeout_ms;
	if (cfg->warm > cfg->jobs)
		return fail(EXIT_USAGE, "--warm %u is more than --jobs %u",
		    cfg->warm, cfg->jobs);
	if (cfg->worker_path != NULL && access(cfg->worker_path, X_OK) == -1)
		return fail(EXIT_CONFIG, "cannot execute worker '%s': %s",
		    cfg->worker_path, strerror(errno));
	if (cfg->dimensions > 0 && cfg->dimensions > 100000)
		return fail(EXIT_USAGE, "--dimensions is too large");
	(void)unsetenv("EMBEDWATCH_API_KEY");
	(void)unsetenv("OPENAI_API_KEY");
	return 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	free(cfg->base_url);
	free(cfg->host);
	free(cfg->model);
	if (cfg->api_key != NULL)
		explicit_bzero(cfg->api_key, strlen(cfg->api_key));
	free(cfg->api_key);
	for (i = 0; i < cfg->n_headers; i++)
		free(cfg->headers[i]);
	free(cfg->headers);
	free(cfg->cacert);
	free(cfg->worker_path);
	free(cfg->batch_input);
	free(cfg->batch_output);
	free(cfg->batch_errors);
	free(cfg->socket_path);
	free(cfg->pidfile);
	free(cfg->allow_uids);
	free(cfg->log_file);
	memset(cfg, 0, sizeof(*cfg));
}
