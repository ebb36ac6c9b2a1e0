/*
 * config: see config.h. config_load runs in four steps: the defaults, the
 * command line (config/options.c, one table row per option), the
 * environment for what the command line left unset, then the settings
 * that follow from others and the checks across options. Messages go to
 * stderr before logging is set up, in the same lower-case form as log
 * lines (options_fail).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "config/config.h"
#include "config/options.h"
#include "version.h"

#define DEFAULT_BASE_URL	"https://api.openai.com/v1"
#define DEFAULT_MODEL		"text-embedding-3-small"
#define DEFAULT_USER_AGENT	"User-Agent: embedwatch/" EMBEDWATCH_VERSION

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
	cfg->warm = CONFIG_WARM_AUTO;
	cfg->warm_idle_ms = 20000;
	cfg->connect_timeout_ms = 10000;
	cfg->queue_max = 1024;
	cfg->encoding = JOB_ENCODING_BASE64;
	cfg->max_response = (size_t)256 << 20;
	cfg->max_line = (size_t)16 << 20;
	cfg->worker_memory = (rlim_t)1 << 30;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->hedge = CONFIG_HEDGE_AUTO;
	cfg->hedge_min_ms = 50;
	cfg->retry_budget_pct = 20;
	cfg->hedge_budget_pct = 10;
	cfg->budget_floor = 10;
	cfg->breaker_failures = 5;
	cfg->fail_cooldown_ms = 30000;
	cfg->backoff_base_ms = 500;
	cfg->backoff_max_ms = 8000;
	cfg->batch_size = 64;
	cfg->batch_bytes = 400000;
	cfg->max_outage_ms = 300 * 1000;
	cfg->progress = -1;
	cfg->socket_mode = 0600;
	cfg->max_clients = 256;
	cfg->conn_queue = 256;
	cfg->idle_timeout_ms = 300 * 1000;
	cfg->max_buffered = (size_t)64 << 20;
	cfg->client_timeout_ms = 30000;
}

/*
 * The environment's share: base URL, model, key, worker, test hooks.
 * Applied after the command line, to what it left unset, so that a bad
 * variable that an option overrides does no harm. The base URL and the
 * worker go through their options' setters, so they are checked alike.
 */
#define JOB_FDS		3	/* result pipe, job pipe, pidfd */
#define RESERVED_FDS	16	/* stdio, loop, signals, logs, clients */

static int
apply_env(struct config *cfg)
{
	const char *v, *errstr;
	long long n;
	int rc;

	if (cfg->base_url == NULL) {
		v = getenv("EMBEDWATCH_BASE_URL");
		if (v == NULL || *v == '\0')
			v = getenv("OPENAI_BASE_URL");
		if (v == NULL || *v == '\0')
			v = DEFAULT_BASE_URL;
		rc = options_set(cfg, "base-url", v);
		if (rc != 0)
			return rc;
	}
	if (cfg->model == NULL) {
		v = getenv("EMBEDWATCH_MODEL");
		cfg->model = strdup(v != NULL && *v != '\0' ? v :
		    DEFAULT_MODEL);
		if (cfg->model == NULL)
			return options_fail(EXIT_CONFIG, "out of memory");
	}
	v = getenv("EMBEDWATCH_API_KEY");
	if (v == NULL || *v == '\0')
		v = getenv("OPENAI_API_KEY");
	if (cfg->api_key == NULL && v != NULL && *v != '\0') {
		if (options_has_control(v))
			return options_fail(EXIT_CONFIG, "the api key in the "
			    "environment has control characters");
		cfg->api_key = strdup(v);
		if (cfg->api_key == NULL)
			return options_fail(EXIT_CONFIG, "out of memory");
	}
	v = getenv("EMBEDWATCH_WORKER");
	if (cfg->worker_path == NULL && v != NULL && *v != '\0') {
		rc = options_set(cfg, "worker", v);
		if (rc != 0)
			return rc;
	}
	v = getenv("EMBEDWATCH_TEST_FAIL_FORK");
	if (v != NULL) {
		n = strtonum(v, 1, 1000000, &errstr);
		if (errstr == NULL)
			cfg->fault_fork_every = (unsigned)n;
	}
	v = getenv("EMBEDWATCH_TEST_OUT_CAP");
	if (v != NULL) {
		n = strtonum(v, 1024, 1LL << 40, &errstr);
		if (errstr == NULL)
			cfg->fault_out_cap = (size_t)n;
	}
	return 0;
}

/* Does a --header already name User-Agent (in any case)? */
static bool
has_user_agent(const struct config *cfg)
{
	size_t i, len = strlen("User-Agent:");

	for (i = 0; i < cfg->n_headers; i++)
		if (strncasecmp(cfg->headers[i], "User-Agent:", len) == 0)
			return true;
	return false;
}

/*
 * --jobs within what RLIMIT_NOFILE allows: each worker holds
 * JOB_FDS descriptors of ours while it runs, and RESERVED_FDS are kept
 * for everything else. Lowered, with a warning, never refused.
 */
static void
fit_jobs(struct config *cfg)
{
	struct rlimit rl;
	rlim_t fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return;
	fit = rl.rlim_cur > RESERVED_FDS + JOB_FDS ?
	    (rl.rlim_cur - RESERVED_FDS) / JOB_FDS : 1;
	if (fit >= cfg->jobs)
		return;
	(void)options_fail(0, "warning: --jobs %u lowered to %u: "
	    "RLIMIT_NOFILE is %llu (%d descriptors a worker, %d kept)",
	    cfg->jobs, (unsigned)fit, (unsigned long long)rl.rlim_cur,
	    JOB_FDS, RESERVED_FDS);
	cfg->jobs = (unsigned)fit;
	if (cfg->warm > cfg->jobs)
		cfg->warm = cfg->jobs;
	if (cfg->conn_inflight > cfg->jobs)
		cfg->conn_inflight = cfg->jobs;
}

/*
 * What follows from other settings (the drain from the timeout, a
 * connection's share from the jobs, the User-Agent every worker sends
 * unless a --header names one), then the checks that involve more than
 * one option or the file system.
 */
static int
settle(struct config *cfg)
{
	/* Beyond --header's 64: the default is not the user's. */
	if (!has_user_agent(cfg) &&
	    options_append_header(cfg, DEFAULT_USER_AGENT) != 0)
		return EXIT_CONFIG;
	if (cfg->conn_inflight == 0)
		cfg->conn_inflight = cfg->jobs;
	if (cfg->drain_ms < 0)
		cfg->drain_ms = cfg->timeout_ms;
	/* batch checks these again; here they get the usage-error form. */
	if (strcmp(cfg->mode, "batch") == 0 && cfg->batch_output == NULL &&
	    cfg->batch_format == BATCH_OUT_NPY)
		return options_fail(EXIT_USAGE, "--format npy needs an output "
		    "file (-o OUT.npy)");
	if (strcmp(cfg->mode, "batch") == 0 && cfg->batch_output == NULL &&
	    cfg->resume)
		return options_fail(EXIT_USAGE, "--resume needs the output file "
		    "of the run to go on with (-o OUT)");
	if (cfg->warm != CONFIG_WARM_AUTO && cfg->warm > cfg->jobs)
		return options_fail(EXIT_USAGE, "--warm %u is more than --jobs "
		    "%u", cfg->warm, cfg->jobs);
	fit_jobs(cfg);
	if (cfg->worker_path != NULL && access(cfg->worker_path, X_OK) == -1)
		return options_fail(EXIT_CONFIG, "cannot execute worker '%s': "
		    "%s", cfg->worker_path, strerror(errno));
	if (cfg->dimensions > 0 && cfg->dimensions > 100000)
		return options_fail(EXIT_USAGE, "--dimensions is too large");
	return 0;
}

int
config_load(struct config *cfg, const char *mode, int argc, char **argv)
{
	int rc;

	set_defaults(cfg, mode);
	rc = options_parse(cfg, mode, argc, argv);
	if (rc != 0)
		return rc;
	rc = apply_env(cfg);
	if (rc != 0)
		return rc;
	rc = settle(cfg);
	if (rc != 0)
		return rc;
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
	free(cfg->api_key_header);
	for (i = 0; i < cfg->n_headers; i++) {
		if (i >= cfg->n_headers - cfg->n_secret_headers)
			explicit_bzero(cfg->headers[i],
			    strlen(cfg->headers[i]));
		free(cfg->headers[i]);
	}
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
	for (i = 0; i < cfg->n_listen; i++)
		free(cfg->listen[i]);
	free(cfg->listen);
	free(cfg->client_keys);
	memset(cfg, 0, sizeof(*cfg));
}
