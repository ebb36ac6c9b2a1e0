/*
 * options: see options.h. The table (options_table, below the setters)
 * is the one place an option is described; everything else in this file
 * walks it. A row's getopt value is 256 plus its index, so long options
 * map back to their row in O(1) and a short letter by a scan of the table
 * (a handful of rows, once per argument).
 *
 * In this file fail() and has_control() are options_fail() and
 * options_has_control(): set_base_url, moved here from config.c word for
 * word while a shared URL module is written to replace it, calls them by
 * those names, and the rest of the file does the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "config/options.h"
#include "io.h"
#include "log.h"
#include "proto_job.h"
#include "url.h"
#include "version.h"

#define fail		options_fail
#define has_control	options_has_control

#define MAX_HEADERS	64
#define MAX_LISTEN	16
#define ROW_VAL_BASE	256	/* getopt value of row 0; above any letter */

#define USAGE_HELP_COL	24	/* where help text starts */
#define USAGE_WIDTH	79	/* the widest a usage line may be */

/* The mode options_parse is parsing, for the hint under a usage error;
 * NULL before (main's own errors) and for the whole program. */
static const char *hint_mode;

int
options_fail(int status, const char *fmt, ...)
{
	va_list ap;

	(void)fputs("embedwatch: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
	if (status == EXIT_USAGE)
		(void)fprintf(stderr, "Try 'embedwatch help%s%s' for more "
		    "information.\n", hint_mode != NULL ? " " : "",
		    hint_mode != NULL ? hint_mode : "");
	return status;
}

bool
options_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
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

/* The setters of the odd options, each named in one row of the table. */

static int
set_model(struct config *cfg, const char *arg)
{
	if (*arg == '\0' || has_control(arg))
		return fail(EXIT_USAGE, "--model wants a name");
	if (set_string(&cfg->model, arg) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

/*
 * Read a file of secrets (what names it in messages): a regular file that
 * neither group nor others may read, at most 64 KiB. Opened without
 * blocking, so a FIFO or a device cannot stall start-up. Returns its text
 * (NUL-terminated, *lenp bytes; the caller wipes and frees it), or NULL
 * after a message.
 */
static char *
read_private_file(const char *what, const char *path, size_t *lenp)
{
	struct stat st;
	char *text = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1) {
		(void)fail(0, "cannot open %s '%s': %s", what, path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		(void)fail(0, "cannot stat %s '%s': %s", what, path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)fail(0, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		(void)fail(0, "%s '%s' is readable by group or others (mode "
		    "%04o): chmod 600 it", what, path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (io_set_nonblock(fd, false) == -1) {
		(void)fail(0, "cannot read %s '%s': %s", what, path,
		    strerror(errno));
		goto out;
	}
	text = io_slurp(fd, 64 * 1024, lenp);
	if (text == NULL)
		(void)fail(0, "cannot read %s '%s': %s", what, path,
		    strerror(errno));
out:
	(void)close(fd);
	return text;
}

/* Read the key from path, refusing a file others can read. */
static int
read_key_file(struct config *cfg, const char *path)
{
	char *text;
	size_t len;
	int rc = EXIT_CONFIG;

	text = read_private_file("api key file", path, &len);
	if (text == NULL)
		return EXIT_CONFIG;
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
	return rc;
}

/* --idle-timeout: seconds like --timeout, or "0": never. */
static int
set_idle_timeout(struct config *cfg, const char *arg)
{
	if (strcmp(arg, "0") == 0)
		cfg->idle_timeout_ms = 0;
	else if (config_parse_seconds(arg, &cfg->idle_timeout_ms) == -1)
		return fail(EXIT_USAGE, "--idle-timeout wants seconds, or 0 "
		    "for never, not '%s'", arg);
	return 0;
}

/* Seconds like --timeout, or exactly "0": do not wait at all. */
static int
set_drain(struct config *cfg, const char *arg)
{
	if (strcmp(arg, "0") == 0)
		cfg->drain_ms = 0;
	else if (config_parse_seconds(arg, &cfg->drain_ms) == -1)
		return fail(EXIT_USAGE, "--drain wants seconds, not '%s'", arg);
	return 0;
}

static int
set_hedge(struct config *cfg, const char *arg)
{
	const char *errstr;
	long long ms;

	if (strcmp(arg, "auto") == 0) {
		cfg->hedge = CONFIG_HEDGE_AUTO;
		return 0;
	}
	if (strcmp(arg, "off") == 0) {
		cfg->hedge = CONFIG_HEDGE_OFF;
		return 0;
	}
	ms = strtonum(arg, 0, 86400000, &errstr);
	if (errstr != NULL)
		return fail(EXIT_USAGE, "--hedge wants auto, off or "
		    "milliseconds, not '%s'", arg);
	cfg->hedge = CONFIG_HEDGE_FIXED;
	cfg->hedge_ms = (long)ms;
	return 0;
}

/* PCT, or off (0). */
static int
set_percent(unsigned *dst, const char *opt, const char *arg)
{
	const char *errstr;
	long long n;

	if (strcmp(arg, "off") == 0) {
		*dst = 0;
		return 0;
	}
	n = strtonum(arg, 0, 1000, &errstr);
	if (errstr != NULL)
		return fail(EXIT_USAGE, "--%s wants a percentage (0 to 1000) "
		    "or off, not '%s'", opt, arg);
	*dst = (unsigned)n;
	return 0;
}

static int
set_retry_budget(struct config *cfg, const char *arg)
{
	return set_percent(&cfg->retry_budget_pct, "retry-budget", arg);
}

static int
set_hedge_budget(struct config *cfg, const char *arg)
{
	return set_percent(&cfg->hedge_budget_pct, "hedge-budget", arg);
}

static int
set_breaker(struct config *cfg, const char *arg)
{
	const char *errstr;
	long long n;

	if (strcmp(arg, "off") == 0) {
		cfg->breaker_failures = 0;
		return 0;
	}
	n = strtonum(arg, 1, 1000000, &errstr);
	if (errstr != NULL)
		return fail(EXIT_USAGE, "--breaker wants a number of failures "
		    "or off, not '%s'", arg);
	cfg->breaker_failures = (unsigned)n;
	return 0;
}

static int
set_fail_cooldown(struct config *cfg, const char *arg)
{
	if (strcmp(arg, "0") == 0 || strcmp(arg, "off") == 0)
		cfg->fail_cooldown_ms = 0;
	else if (config_parse_seconds(arg, &cfg->fail_cooldown_ms) == -1)
		return fail(EXIT_USAGE, "--fail-cooldown wants seconds or off, "
		    "not '%s'", arg);
	return 0;
}

static int
set_max_outage(struct config *cfg, const char *arg)
{
	if (strcmp(arg, "0") == 0 || strcmp(arg, "off") == 0)
		cfg->max_outage_ms = 0;
	else if (config_parse_seconds(arg, &cfg->max_outage_ms) == -1)
		return fail(EXIT_USAGE, "--max-outage wants seconds or off, "
		    "not '%s'", arg);
	return 0;
}

/* Is h one 'Name: value' header line? */
static bool
is_header(const char *h)
{
	const char *colon;

	colon = strchr(h, ':');
	return colon != NULL && colon != h && !has_control(h) &&
	    strcspn(h, " \t") >= (size_t)(colon - h);
}

/*
 * Add header h, NULL-terminating the list, whatever the cap. Secret ones (from
 * --header-file) stay at the end of cfg->headers, so that the job can
 * say "the last n_secret_headers" (proto_job.h); a plain one goes in
 * front of them. Returns 0, or an exit status after a message.
 */
static int
insert_header(struct config *cfg, const char *h, bool secret)
{
	size_t at = cfg->n_headers - cfg->n_secret_headers;
	char **p, *copy;

	p = reallocarray(cfg->headers, cfg->n_headers + 2, sizeof(*p));
	if (p == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->headers = p;
	copy = strdup(h);
	if (copy == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	if (secret)
		at = cfg->n_headers;
	memmove(p + at + 1, p + at, (cfg->n_headers - at) * sizeof(*p));
	p[at] = copy;
	p[++cfg->n_headers] = NULL;
	if (secret)
		cfg->n_secret_headers++;
	return 0;
}

/* insert_header within --header's cap. */
static int
push_header(struct config *cfg, const char *h, bool secret)
{
	if (cfg->n_headers == MAX_HEADERS)
		return fail(EXIT_USAGE, "at most %d headers (--header and "
		    "--header-file)", MAX_HEADERS);
	return insert_header(cfg, h, secret);
}

int
options_append_header(struct config *cfg, const char *h)
{
	return insert_header(cfg, h, false);
}

static int
add_header(struct config *cfg, const char *h)
{
	if (!is_header(h))
		return fail(EXIT_USAGE, "--header wants 'Name: value', without "
		    "control characters");
	return push_header(cfg, h, false);
}

/*
 * --header-file: one 'Name: value' a line (CRLF too; blank lines and
 * lines starting with '#' skipped), from a private regular file like the
 * key's. The values may be secrets: they are sent, kept off argv and
 * logs, and redacted from what servers say; messages name the line, never
 * its text.
 */
static int
read_header_file(struct config *cfg, const char *path)
{
	char *text, *line, *next;
	size_t len, lineno = 0, n;
	int rc = EXIT_CONFIG;

	text = read_private_file("header file", path, &len);
	if (text == NULL)
		return EXIT_CONFIG;
	if (strlen(text) != len) {
		(void)fail(0, "header file '%s' holds a NUL byte", path);
		goto out;
	}
	for (line = text; line != NULL; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
		    line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (!is_header(line)) {
			(void)fail(0, "header file '%s' line %zu is not one "
			    "'Name: value'", path, lineno);
			goto out;
		}
		rc = push_header(cfg, line, true);
		if (rc != 0)
			goto out;
		rc = EXIT_CONFIG;
	}
	rc = 0;
out:
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* --api-key-header NAME: send the key as "NAME: key" (Azure's api-key). */
static int
set_api_key_header(struct config *cfg, const char *name)
{
	if (*name == '\0' || has_control(name) ||
	    strpbrk(name, ": \t") != NULL)
		return fail(EXIT_USAGE, "--api-key-header wants a header name "
		    "such as api-key");
	if (strcasecmp(name, "authorization") == 0)
		return fail(EXIT_USAGE, "--api-key-header: the key goes in "
		    "'Authorization: Bearer' by default");
	if (set_string(&cfg->api_key_header, name) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

/*
 * --proxy URL: the proxy of every call, as if http_proxy and https_proxy
 * said so (libcurl reads them in the fork worker; core/spawn passes them
 * to an exec'd one). NO_PROXY still applies. An empty URL: no proxy,
 * whatever the environment says.
 */
static int
set_proxy(struct config *cfg, const char *url)
{
	static const char *const vars[] = {
		"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
		"ALL_PROXY"
	};
	size_t i;

	(void)cfg;
	if (has_control(url) || strchr(url, ' ') != NULL)
		return fail(EXIT_USAGE, "--proxy wants a URL such as "
		    "http://proxy:3128, not '%s'", url);
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (unsetenv(vars[i]) == -1)
			return fail(EXIT_CONFIG, "cannot unset '%s': %s",
			    vars[i], strerror(errno));
	if (*url == '\0')
		return 0;
	if (setenv("http_proxy", url, 1) == -1 ||
	    setenv("https_proxy", url, 1) == -1)
		return fail(EXIT_CONFIG, "cannot set the proxy: %s",
		    strerror(errno));
	return 0;
}

static int
set_cacert(struct config *cfg, const char *path)
{
	if (access(path, R_OK) == -1)
		return fail(EXIT_CONFIG, "cannot read ca file '%s': %s", path,
		    strerror(errno));
	if (set_string(&cfg->cacert, path) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

/* --exec-worker: the embedwatch-worker beside our own executable. */
static int
set_worker_beside(struct config *cfg, const char *unused)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	(void)unused;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n == -1)
		return fail(EXIT_CONFIG, "cannot find our own executable: %s",
		    strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	/* Cannot truncate: path has room for self and the name. */
	(void)snprintf(path, sizeof(path), "%s/embedwatch-worker", self);
	if (set_string(&cfg->worker_path, path) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

static int
set_socket(struct config *cfg, const char *path)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(EXIT_USAGE, "--socket path '%s' is too long for "
		    "a Unix socket", path);
	if (set_string(&cfg->socket_path, path) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

/* An octal mode as strtoll reads one ("0660", "660"), up to 0777. */
static int
set_socket_mode(struct config *cfg, const char *arg)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(arg, &end, 8);
	if (errno != 0 || end == arg || *end != '\0' || n < 0 || n > 0777)
		return fail(EXIT_USAGE, "--socket-mode wants an octal mode "
		    "like 0660, not '%s'", arg);
	cfg->socket_mode = (mode_t)n;
	return 0;
}

/* "K/N" (1 <= K <= N <= 65536), or "auto": from the scheduler. */
static int
set_shard(struct config *cfg, const char *arg)
{
	unsigned k, n;
	int used = 0;

	if (strcmp(arg, "auto") == 0) {
		cfg->shard_auto = true;
		return 0;
	}
	if (sscanf(arg, "%5u/%5u%n", &k, &n, &used) != 2 ||
	    (size_t)used != strlen(arg) || k < 1 || n > 65536 || k > n ||
	    arg[0] < '0' || arg[0] > '9')
		return fail(EXIT_USAGE, "--shard wants K/N with 1 <= K <= N "
		    "<= 65536, or auto, not '%s'", arg);
	cfg->shard_k = k;
	cfg->shard_n = n;
	cfg->shard_auto = false;
	return 0;
}

static int
add_uid(struct config *cfg, const char *arg)
{
	const char *errstr;
	long long n;
	uid_t *p;

	n = strtonum(arg, 0, (long long)UINT32_MAX - 1, &errstr);
	if (errstr != NULL)
		return fail(EXIT_USAGE, "--allow-uid wants a numeric uid, not "
		    "'%s'", arg);
	p = reallocarray(cfg->allow_uids, cfg->n_allow_uids + 1, sizeof(*p));
	if (p == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->allow_uids = p;
	p[cfg->n_allow_uids++] = (uid_t)n;
	return 0;
}

/* HOST:PORT ("127.0.0.1:8080", "[::1]:8080", "localhost:8080"; port 0:
 * any free one, logged); the address is resolved and checked when serve
 * starts. */
static int
add_listen(struct config *cfg, const char *arg)
{
	const char *colon, *errstr;
	char **p;

	colon = strrchr(arg, ':');
	if (colon == NULL || colon == arg || has_control(arg) ||
	    (strtonum(colon + 1, 0, 65535, &errstr), errstr != NULL))
		return fail(EXIT_USAGE, "--listen wants HOST:PORT, such as "
		    "127.0.0.1:8080, not '%s'", arg);
	if (cfg->n_listen == MAX_LISTEN)
		return fail(EXIT_USAGE, "at most %d --listen options",
		    MAX_LISTEN);
	p = reallocarray(cfg->listen, cfg->n_listen + 1, sizeof(*p));
	if (p == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->listen = p;
	p[cfg->n_listen] = strdup(arg);
	if (p[cfg->n_listen] == NULL)
		return fail(EXIT_CONFIG, "out of memory");
	cfg->n_listen++;
	return 0;
}

static const struct options_word encodings[] = {
	{ "base64", JOB_ENCODING_BASE64 }, { "float", JOB_ENCODING_FLOAT },
	{ NULL, 0 }
};

/* The names log_parse_level knows; test_options holds them equal. */
static const struct options_word log_levels[] = {
	{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
	{ NULL, 0 }
};

static const struct options_word log_formats[] = {
	{ "text", false }, { "json", true }, { NULL, 0 }
};

static const struct options_word input_formats[] = {
	{ "text", BATCH_IN_TEXT }, { "jsonl", BATCH_IN_JSONL }, { NULL, 0 }
};

static const struct options_word output_formats[] = {
	{ "jsonl", BATCH_OUT_JSONL }, { "npy", BATCH_OUT_NPY }, { NULL, 0 }
};

static const struct options_word empty_modes[] = {
	{ "skip", false }, { "error", true }, { NULL, 0 }
};

/* A row's field: where it is in struct config and how wide. */
#define FIELD(f)	.offset = offsetof(struct config, f), \
			.size = sizeof(((struct config *)NULL)->f)

/*
 * The options, in the order --help lists them; getopt_long's prefix
 * matching does not depend on it. Defaults in the help text are those of
 * config.c's set_defaults.
 */
static const struct options_row options_table[] = {
	{ .name = "base-url", .arg = "URL", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_base_url,
	    .help = "API base (EMBEDWATCH_BASE_URL, OPENAI_BASE_URL; default "
	    "https://api.openai.com/v1)" },
	{ .name = "model", .arg = "NAME", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_model,
	    .help = "model (EMBEDWATCH_MODEL; text-embedding-3-small)" },
	{ .name = "api-key-file", .arg = "PATH", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = read_key_file,
	    .help = "read the key from PATH (mode 0600 or stricter); else "
	    "EMBEDWATCH_API_KEY, then OPENAI_API_KEY" },
	{ .name = "timeout", .arg = "SEC", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_SECONDS, FIELD(timeout_ms),
	    .help = "per attempt; the worker is SIGKILLed at it (30)" },
	{ .name = "deadline", .arg = "SEC", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_SECONDS, FIELD(deadline_ms),
	    .help = "whole request, all attempts and backoff (120)" },
	{ .name = "retries", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(retries), .min = 0, .max = 100,
	    .help = "extra attempts after a retryable failure (3)" },
	{ .name = "hedge", .arg = "auto|MS|off", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_hedge,
	    .help = "start a second attempt beside one slower than the p95 of "
	    "recent calls (auto, default), after MS, or never" },
	{ .name = "hedge-min", .arg = "MS", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(hedge_min_ms), .min = 1,
	    .max = 86400000, .help = "auto: never hedge sooner (50)" },
	{ .name = "retry-budget", .arg = "PCT|off", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_retry_budget,
	    .help = "retries and hedges, at most PCT% of first attempts over "
	    "10 s (20)" },
	{ .name = "hedge-budget", .arg = "PCT|off", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_hedge_budget,
	    .help = "hedges alone, at most PCT% of first attempts (10)" },
	{ .name = "budget-floor", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(budget_floor), .min = 0,
	    .max = 1000000,
	    .help = "retries and hedges a second allowed beyond the budget (10)" },
	{ .name = "breaker", .arg = "N|off", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_breaker,
	    .help = "open the circuit after N failures in a row, or half of "
	    "20 in 10 s (5)" },
	{ .name = "fail-cooldown", .arg = "SEC|off", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_fail_cooldown,
	    .help = "after a 401, 403 or 404, answer with it, making no call, "
	    "for SEC (30)" },
	{ .name = "rpm", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(rpm), .min = 0, .max = 1000000000,
	    .help = "pace calls to N requests a minute (0: headers only)" },
	{ .name = "tpm", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(tpm), .min = 0, .max = 1000000000000LL,
	    .help = "pace calls to N tokens a minute (bytes/4; 0: headers "
	    "only)" },
	{ .name = "jobs", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(jobs), .min = 1, .max = 4096,
	    .help = "workers at once (8)" },
	{ .name = "warm", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(warm), .min = 0, .max = 4096,
	    .help = "keep N workers forked and connected ahead, waiting for "
	    "a call (<= jobs; 0: none; default: the recent peak of calls at "
	    "once, at least 1)" },
	{ .name = "warm-idle", .arg = "SEC", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_SECONDS, FIELD(warm_idle_ms),
	    .help = "a warm worker's connection waits at most this long, "
	    "then it is replaced (20)" },
	{ .name = "connect-timeout", .arg = "SEC", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_SECONDS, FIELD(connect_timeout_ms),
	    .help = "resolve, connect and TLS handshake, per worker; a warm "
	    "worker not connected by then is killed (10)" },
	{ .name = "queue", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(queue_max), .min = 1, .max = 10000000,
	    .help = "requests waiting for a worker before input stops being "
	    "read (1024)" },
	{ .name = "drain", .arg = "SEC", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_drain,
	    .help = "on SIGTERM, time in-flight calls get (= timeout)" },
	{ .name = "dimensions", .arg = "N", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(dimensions), .min = 1, .max = 1000000,
	    .wants = "a positive number",
	    .help = "ask for N dimensions (at most 100000)" },
	{ .name = "encoding", .arg = "FMT", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_WORDS, FIELD(encoding), .words = encodings,
	    .help = "base64 (default) or float, as asked of the API" },
	{ .name = "header", .arg = "'Name: v'", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = add_header,
	    .help = "extra request header (repeatable, at most 64; "
	    "User-Agent: embedwatch/VERSION unless one is given); on argv, "
	    "so never a secret" },
	{ .name = "proxy", .arg = "URL", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_proxy,
	    .help = "proxy for every call (default: http_proxy, https_proxy, "
	    "NO_PROXY; '' for none)" },
	{ .name = "header-file", .arg = "PATH", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = read_header_file,
	    .help = "secret headers, one 'Name: value' a line (mode 0600), "
	    "redacted from server text" },
	{ .name = "api-key-header", .arg = "NAME", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_api_key_header,
	    .help = "send the key as 'NAME: key' (Azure: api-key), not as "
	    "'Authorization: Bearer'" },
	{ .name = "cacert", .arg = "PATH", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_cacert,
	    .help = "CA bundle to verify the server with" },
	{ .name = "insecure", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_FLAG, FIELD(insecure), .value = true,
	    .help = "do not verify the server's certificate" },
	{ .name = "max-line", .arg = "BYTES", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(max_line),
	    .min = 64, .max = (long long)1 << 31, .wants = "64 to 2^31 bytes",
	    .help = "longest request line (16777216)" },
	{ .name = "max-response", .arg = "BYTES", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(max_response),
	    .min = 1024, .max = (long long)1 << 32,
	    .wants = "1024 to 2^32 bytes",
	    .help = "largest API response body (268435456)" },
	{ .name = "worker-memory", .arg = "BYTES", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_RANGE, FIELD(worker_memory),
	    .min = (long long)16 << 20, .max = (long long)1 << 40,
	    .wants = "16 MiB to 1 TiB in bytes",
	    .help = "address-space cap per worker (1073741824)" },
	{ .name = "worker", .arg = "PATH", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_STRING, FIELD(worker_path),
	    .help = "fork+exec PATH as the worker (EMBEDWATCH_WORKER)" },
	{ .name = "exec-worker", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_CUSTOM, .set = set_worker_beside,
	    .help = "fork+exec the embedwatch-worker beside this binary" },
	{ .name = "log-level", .arg = "LEVEL", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_WORDS, FIELD(log_level), .words = log_levels,
	    .help = "error, warn, info (default) or debug" },
	{ .name = "log-format", .arg = "FMT", .modes = OPTIONS_ALL,
	    .kind = OPTIONS_WORDS, FIELD(log_json), .words = log_formats,
	    .help = "text (default) or json, on stderr" },
	{ .name = "version", .modes = OPTIONS_ALL, .kind = OPTIONS_VERSION,
	    .help = "print the version and exit" },
	{ .name = "help", .letter = 'h', .modes = OPTIONS_ALL,
	    .kind = OPTIONS_HELP,
	    .help = "print this text and exit" },

	{ .name = "output", .letter = 'o', .arg = "OUT", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_STRING, FIELD(batch_output),
	    .help = "output file (default stdout, jsonl only)" },
	{ .name = "input-format", .arg = "FMT", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_WORDS, FIELD(batch_input_format),
	    .words = input_formats,
	    .help = "text (one text a line) or jsonl ({\"id\",\"text\"}); "
	    "default by extension (.jsonl, .ndjson), else text" },
	{ .name = "format", .arg = "FMT", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_WORDS, FIELD(batch_format), .words = output_formats,
	    .help = "jsonl (default) or npy (float32 [N, D], OUT.ids)" },
	{ .name = "errors", .arg = "FILE", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_STRING, FIELD(batch_errors),
	    .help = "failed inputs, one JSON line each (OUT.errors)" },
	{ .name = "batch-size", .arg = "N", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_RANGE, FIELD(batch_size),
	    .min = 1, .max = PROTO_MAX_INPUTS,
	    .help = "texts per API call (64)" },
	{ .name = "batch-bytes", .arg = "BYTES", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_RANGE, FIELD(batch_bytes),
	    .min = 1024, .max = (long long)1 << 30, .wants = "1024 to 2^30",
	    .help = "text bytes per API call (400000)" },
	{ .name = "resume", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(resume), .value = true,
	    .help = "go on after the inputs OUT already holds" },
	{ .name = "force", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(force), .value = true,
	    .help = "overwrite an existing OUT" },
	{ .name = "retry-failed", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(retry_failed), .value = true,
	    .help = "embed again only the inputs in the errors file" },
	{ .name = "shard", .arg = "K/N", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_CUSTOM, .set = set_shard,
	    .help = "only the K-th of N line-aligned byte ranges of INPUT; "
	    "auto: K (and N) from the scheduler" },
	{ .name = "shards", .arg = "N", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_RANGE, FIELD(shards), .min = 1, .max = 65536,
	    .help = "N shards, K from JOB_COMPLETION_INDEX or SLURM" },
	{ .name = "merge", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(merge), .value = true,
	    .help = "merge the --shards N shards' files into OUT" },
	{ .name = "max-outage", .arg = "SEC|off", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_CUSTOM, .set = set_max_outage,
	    .help = "while the circuit is open, wait; stop (exit 75, "
	    "resumable) after SEC with no success (300)" },
	{ .name = "empty", .arg = "MODE", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_WORDS, FIELD(empty_error), .words = empty_modes,
	    .help = "blank lines: skip (default) or error" },
	{ .name = "progress", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(progress), .value = 1,
	    .help = "progress on stderr (default: if stderr is a terminal)" },
	{ .name = "no-progress", .modes = OPTIONS_BATCH,
	    .kind = OPTIONS_FLAG, FIELD(progress), .value = 0,
	    .help = "no progress on stderr" },

	{ .name = "socket", .arg = "PATH", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_CUSTOM, .set = set_socket,
	    .help = "Unix socket to listen on (required, unless started by "
	    "systemd socket activation)" },
	{ .name = "socket-mode", .arg = "MODE", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_CUSTOM, .set = set_socket_mode,
	    .help = "permissions of the socket (0600)" },
	{ .name = "pidfile", .arg = "PATH", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_STRING, FIELD(pidfile),
	    .help = "write our pid; refuse to run twice" },
	{ .name = "allow-uid", .arg = "UID", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_CUSTOM, .set = add_uid,
	    .help = "accept only these peer uids (repeatable)" },
	{ .name = "log-file", .arg = "PATH", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_STRING, FIELD(log_file),
	    .help = "log there instead of stderr (reopened on SIGHUP)" },
	{ .name = "max-clients", .arg = "N", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_RANGE, FIELD(max_clients), .min = 1, .max = 65536,
	    .help = "connections at once (256)" },
	{ .name = "conn-inflight", .arg = "N", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_RANGE, FIELD(conn_inflight), .min = 1, .max = 4096,
	    .help = "running requests per connection (= jobs)" },
	{ .name = "conn-queue", .arg = "N", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_RANGE, FIELD(conn_queue), .min = 1, .max = 10000000,
	    .help = "waiting requests per connection (256)" },
	{ .name = "idle-timeout", .arg = "SEC", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_CUSTOM, .set = set_idle_timeout,
	    .help = "close a client idle this long with nothing in flight; "
	    "0: never (300)" },
	{ .name = "max-buffered", .arg = "BYTES", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_RANGE, FIELD(max_buffered),
	    .min = 1024, .max = (long long)1 << 40, .wants = "1024 to 2^40 "
	    "bytes", .help = "unfinished request lines held across clients "
	    "(67108864)" },
	{ .name = "listen", .arg = "HOST:PORT", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_CUSTOM, .set = add_listen,
	    .help = "also serve OpenAI's HTTP API (/v1/embeddings, /metrics) "
	    "there (repeatable; loopback unless --client-keys)" },
	{ .name = "client-keys", .arg = "FILE", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_STRING, FIELD(client_keys),
	    .help = "HTTP bearer keys clients must send, one a line (mode "
	    "0600)" },
	{ .name = "client-timeout", .arg = "SECONDS", .modes = OPTIONS_SERVE,
	    .kind = OPTIONS_SECONDS, FIELD(client_timeout_ms),
	    .help = "HTTP: a request must arrive whole within this, and an "
	    "idle connection is closed after it (30)" },
};

#define N_ROWS	(sizeof(options_table) / sizeof(options_table[0]))

static const struct {
	const char	*name;
	unsigned	 bit;
} modes[] = {
	{ "pipe", OPTIONS_PIPE }, { "batch", OPTIONS_BATCH },
	{ "serve", OPTIONS_SERVE },
};

const struct options_row *
options_rows(size_t *n)
{
	*n = N_ROWS;
	return options_table;
}

/* The OPTIONS_* bit of a mode's name; 0 for a name that is none. */
static unsigned
mode_bit(const char *mode)
{
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i].name) == 0)
			return modes[i].bit;
	return 0;
}

static void *
field_of(struct config *cfg, const struct options_row *o)
{
	return (char *)cfg + o->offset;
}

/*
 * Store v in o's integer field, in the field's width; v is never
 * negative and never above what the field holds (test_options checks
 * each row's largest value against its width).
 */
static int
store_integer(struct config *cfg, const struct options_row *o, long long v)
{
	void *field = field_of(cfg, o);
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	uint64_t u64 = (uint64_t)v;

	switch (o->size) {
	case sizeof(u8):
		memcpy(field, &u8, sizeof(u8));
		return 0;
	case sizeof(u16):
		memcpy(field, &u16, sizeof(u16));
		return 0;
	case sizeof(u32):
		memcpy(field, &u32, sizeof(u32));
		return 0;
	case sizeof(u64):
		memcpy(field, &u64, sizeof(u64));
		return 0;
	default:
		return fail(EXIT_SOFTWARE, "option '--%s' sets a field of %zu "
		    "bytes", o->name, o->size);
	}
}

/*
 * What o wants, for a message: its own words, or from its range or word
 * list ("error, warn, info or debug"). A text longer than size is cut
 * short, which only shortens the message.
 */
static void
describe(const struct options_row *o, char *buf, size_t size)
{
	const struct options_word *w;

	if (o->wants != NULL) {
		(void)strlcpy(buf, o->wants, size);
	} else if (o->kind == OPTIONS_RANGE) {
		(void)snprintf(buf, size, "%lld to %lld", o->min, o->max);
	} else if (o->kind == OPTIONS_WORDS) {
		buf[0] = '\0';
		for (w = o->words; w->word != NULL; w++) {
			if (w != o->words)
				(void)strlcat(buf, w[1].word != NULL ? ", " :
				    " or ", size);
			(void)strlcat(buf, w->word, size);
		}
	} else
		(void)strlcpy(buf, "seconds (0.001 to 86400)", size);
}

static int
bad_argument(const struct options_row *o, const char *arg)
{
	char wanted[256];

	describe(o, wanted, sizeof(wanted));
	return fail(EXIT_USAGE, "--%s wants %s, not '%s'", o->name, wanted,
	    arg);
}

/* The typed setters and the rest: one row's argument into cfg. */
static int
apply(struct config *cfg, const struct options_row *o, const char *arg)
{
	const struct options_word *w;
	const char *errstr;
	long long n;
	long ms;

	switch (o->kind) {
	case OPTIONS_SECONDS:
		if (config_parse_seconds(arg, &ms) == -1)
			return bad_argument(o, arg);
		return store_integer(cfg, o, ms);
	case OPTIONS_RANGE:
		n = strtonum(arg, o->min, o->max, &errstr);
		if (errstr != NULL)
			return bad_argument(o, arg);
		return store_integer(cfg, o, n);
	case OPTIONS_STRING:
		if (set_string(field_of(cfg, o), arg) == -1)
			return fail(EXIT_CONFIG, "out of memory");
		return 0;
	case OPTIONS_FLAG:
		return store_integer(cfg, o, o->value);
	case OPTIONS_WORDS:
		for (w = o->words; w->word != NULL; w++)
			if (strcmp(arg, w->word) == 0)
				return store_integer(cfg, o, w->value);
		return bad_argument(o, arg);
	case OPTIONS_CUSTOM:
		return o->set(cfg, arg);
	case OPTIONS_HELP:
		(void)options_usage(stdout, hint_mode);
		return CONFIG_DONE;
	case OPTIONS_VERSION:
		(void)printf("embedwatch %s\n", EMBEDWATCH_VERSION);
		return CONFIG_DONE;
	}
	return fail(EXIT_SOFTWARE, "option '--%s' has no setter", o->name);
}

int
options_set(struct config *cfg, const char *name, const char *arg)
{
	const struct options_row *o;
	size_t i;

	for (i = 0; i < N_ROWS; i++) {
		o = &options_table[i];
		if (strcmp(o->name, name) != 0)
			continue;
		if ((o->arg == NULL) != (arg == NULL))
			return fail(EXIT_SOFTWARE, "option '--%s' given %s "
			    "argument", name, arg != NULL ? "an" : "no");
		return apply(cfg, o, arg);
	}
	return fail(EXIT_SOFTWARE, "no option '--%s'", name);
}

/* getopt_long's view of the table: longopts[N_ROWS + 1], "o:". */
static void
build_getopt(struct option *longopts, char *letters, size_t size)
{
	const struct options_row *o;
	size_t i, n = 0;

	for (i = 0; i < N_ROWS; i++) {
		o = &options_table[i];
		longopts[i].name = o->name;
		longopts[i].has_arg = o->arg != NULL ? required_argument :
		    no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = ROW_VAL_BASE + (int)i;
		if (o->letter != 0 && n + 2 < size) {
			letters[n++] = o->letter;
			if (o->arg != NULL)
				letters[n++] = ':';
		}
	}
	memset(&longopts[N_ROWS], 0, sizeof(longopts[N_ROWS]));
	letters[n] = '\0';
}

/* The row getopt_long's value opt stands for, or NULL. */
static const struct options_row *
row_of(int opt)
{
	size_t i;

	if (opt >= ROW_VAL_BASE && (size_t)(opt - ROW_VAL_BASE) < N_ROWS)
		return &options_table[opt - ROW_VAL_BASE];
	for (i = 0; i < N_ROWS; i++)
		if (options_table[i].letter != 0 &&
		    options_table[i].letter == opt)
			return &options_table[i];
	return NULL;
}

/* After the options: batch's one input operand, nothing else. */
static int
parse_operands(struct config *cfg, unsigned mode, int argc, char **argv)
{
	if (mode == OPTIONS_BATCH && optind < argc &&
	    set_string(&cfg->batch_input, argv[optind++]) == -1)
		return fail(EXIT_CONFIG, "out of memory");
	if (optind < argc)
		return fail(EXIT_USAGE, "unexpected argument '%s'",
		    argv[optind]);
	if (mode == OPTIONS_BATCH && cfg->batch_input == NULL &&
	    set_string(&cfg->batch_input, "-") == -1)
		return fail(EXIT_CONFIG, "out of memory");
	return 0;
}

/*
 * The message for what getopt_long refused: arg (argv[optind - 1]) is an
 * option that needs a value and has none, an unknown one, or a prefix of
 * several long names. Names the option, never a value.
 */
static int
refused(int opt, const char *arg)
{
	const struct options_row *o;
	char names[512] = "";
	size_t i, len;
	int n = 0;

	if (opt == ':') {
		o = row_of(optopt);
		if (o != NULL)
			return fail(EXIT_USAGE, "option '--%s' needs a value",
			    o->name);
		return fail(EXIT_USAGE, "option '%s' needs a value", arg);
	}
	if (strncmp(arg, "--", 2) != 0) {
		if (optopt != 0 && optopt < ROW_VAL_BASE)
			return fail(EXIT_USAGE, "unknown option '-%c'", optopt);
		return fail(EXIT_USAGE, "unknown option '%s'", arg);
	}
	len = strcspn(arg + 2, "=");
	for (i = 0; i < N_ROWS; i++) {
		if (strncmp(options_table[i].name, arg + 2, len) != 0)
			continue;
		/* A long list is cut short, which only shortens the text. */
		(void)strlcat(names, n++ > 0 ? ", --" : "--", sizeof(names));
		(void)strlcat(names, options_table[i].name, sizeof(names));
	}
	if (n < 2)
		return fail(EXIT_USAGE, "unknown option '%.*s'", (int)len + 2,
		    arg);
	return fail(EXIT_USAGE, "option '%.*s' is ambiguous (%s)",
	    (int)len + 2, arg, names);
}

int
options_parse(struct config *cfg, const char *mode, int argc, char **argv)
{
	struct option longopts[N_ROWS + 1];
	char letters[2 * N_ROWS + 2];
	const struct options_row *o;
	unsigned bit;
	int opt, rc;

	/* A leading ':': a missing value is ':', not '?'. */
	letters[0] = ':';
	build_getopt(longopts, letters + 1, sizeof(letters) - 1);
	bit = mode_bit(mode);
	hint_mode = bit != 0 ? mode : NULL;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, letters, longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return refused(opt, argv[optind - 1]);
		o = row_of(opt);
		if (o == NULL)
			return fail(EXIT_USAGE, "unknown option");
		if ((o->modes & bit) == 0)
			return fail(EXIT_USAGE, "option '--%s' is not for "
			    "'embedwatch %s'", o->name, mode);
		rc = apply(cfg, o, optarg);
		if (rc != 0)
			return rc;
	}
	return parse_operands(cfg, bit, argc, argv);
}

/* Each mode's synopsis line and what it does, in --help's order. */
static const struct {
	const char	*mode;
	const char	*synopsis;
	const char	*about;
} usage_modes[] = {
	{ "pipe", "pipe  [options]",
	    "JSON-line requests on stdin, one JSON-line answer each on stdout" },
	{ "batch", "batch [INPUT|-] [-o OUT] [batch options] [options]",
	    "embed a corpus (one text a line, or JSON lines) into a file" },
	{ "serve", "serve --socket PATH | --listen HOST:PORT [options]",
	    "the pipe protocol on a Unix socket, OpenAI's API over HTTP" },
};

#define N_USAGE_MODES	(sizeof(usage_modes) / sizeof(usage_modes[0]))

static const char usage_about[] =
"Every API call runs in its own worker process, SIGKILLed at its deadline;\n"
"every request gets exactly one answer.\n";

/*
 * One row: "  LABEL" ("-o, --output OUT", "--timeout SEC") and its help
 * from column USAGE_HELP_COL, word by word, starting a new line where a
 * word would pass USAGE_WIDTH. A label that leaves no space before that
 * column puts the help below it.
 */
static void
usage_row(FILE *fp, const struct options_row *o)
{
	const char *word;
	size_t col, len;

	col = 2 + strlen("--") + strlen(o->name);
	(void)fputs("  ", fp);
	if (o->letter != 0) {
		(void)fprintf(fp, "-%c, ", o->letter);
		col += strlen("-o, ");
	}
	(void)fprintf(fp, "--%s", o->name);
	if (o->arg != NULL) {
		(void)fprintf(fp, " %s", o->arg);
		col += 1 + strlen(o->arg);
	}
	for (word = o->help; *word != '\0'; word += len) {
		word += strspn(word, " ");
		len = strcspn(word, " ");
		if (len == 0)
			break;
		if (col >= USAGE_HELP_COL && col + 1 + len > USAGE_WIDTH) {
			(void)fputc('\n', fp);
			col = 0;
		}
		if (col < USAGE_HELP_COL) {
			(void)fprintf(fp, "%*s", (int)(USAGE_HELP_COL - col),
			    "");
			col = USAGE_HELP_COL;
		} else {
			(void)fputc(' ', fp);
			col++;
		}
		(void)fwrite(word, 1, len, fp);
		col += len;
	}
	(void)fputc('\n', fp);
}

/* "options:" for every mode, else "batch options:" and the like. */
static void
usage_title(FILE *fp, unsigned mask)
{
	const char *sep = "";
	size_t i;

	if (mask != OPTIONS_ALL) {
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			if ((mask & modes[i].bit) == 0)
				continue;
			(void)fprintf(fp, "%s%s", sep, modes[i].name);
			sep = " and ";
		}
		(void)fputc(' ', fp);
	}
	(void)fputs("options:\n", fp);
}

int
options_usage(FILE *fp, const char *mode)
{
	const char *lead = "usage: ";
	unsigned bit, mask;
	size_t i, j, k;

	bit = mode != NULL ? mode_bit(mode) : 0;
	for (i = 0; i < N_USAGE_MODES; i++) {
		if (bit != 0 && strcmp(usage_modes[i].mode, mode) != 0)
			continue;
		(void)fprintf(fp, "%sembedwatch %s\n", lead,
		    usage_modes[i].synopsis);
		lead = "       ";
	}
	if (bit == 0)
		(void)fputs("       embedwatch help [pipe|batch|serve]\n"
		    "       embedwatch --version\n", fp);
	(void)fprintf(fp, "\n%s", usage_about);
	for (i = 0; i < N_USAGE_MODES; i++)
		if (bit == 0 || strcmp(usage_modes[i].mode, mode) == 0)
			(void)fprintf(fp, "  %-6s %s\n", usage_modes[i].mode,
			    usage_modes[i].about);
	/* Each mask once, where it first appears: O(n^2), n = N_ROWS. */
	for (i = 0; i < N_ROWS; i++) {
		mask = options_table[i].modes;
		if (bit != 0 && (mask & bit) == 0)
			continue;
		for (k = 0; k < i; k++)
			if (options_table[k].modes == mask)
				break;
		if (k < i)
			continue;
		(void)fputc('\n', fp);
		usage_title(fp, mask);
		for (j = i; j < N_ROWS; j++)
			if (options_table[j].modes == mask)
				usage_row(fp, &options_table[j]);
	}
	if (bit == 0)
		(void)fputs("\nSee embedwatch(1), embedwatch-protocol(5).\n", fp);
	if (fflush(fp) == EOF || ferror(fp))
		return -1;
	return 0;
}
