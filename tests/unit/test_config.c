/*
 * test_config: proves supervisor/config.h: config_parse_seconds takes
 * exactly [0.001, 86400] seconds; config_load fills the documented
 * defaults, prefers EMBEDWATCH_* to OPENAI_* and the command line to both,
 * returns CONFIG_DONE for --help and --version, EXIT_USAGE for bad numbers,
 * bad options and bad --header values, EXIT_CONFIG for a non-http base
 * URL, a missing worker or CA file and an API key file readable by group
 * or others (0640, 0604) while 0600 and 0400 are accepted and the key's
 * trailing newline is trimmed; it strips the base URL's trailing slashes,
 * extracts its host, and removes the API key variables from the
 * environment. Every call's stdout and stderr are captured, so messages
 * can be checked and the test output stays clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "version.h"

static const char *const env_names[] = {
	"EMBEDWATCH_BASE_URL", "OPENAI_BASE_URL", "EMBEDWATCH_MODEL",
	"EMBEDWATCH_API_KEY", "OPENAI_API_KEY", "EMBEDWATCH_WORKER",
	"EMBEDWATCH_TEST_FAIL_FORK"
};

/* What the last config_load wrote on stdout and stderr. */
static char captured[16384];

static int
clean_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		if (unsetenv(env_names[i]) == -1)
			return -1;
	return 0;
}

static int
load(struct config *cfg, int argc, char **argv)
{
	char path[] = "/tmp/test_config-out-XXXXXX";
	int fd, save_out, save_err, rc;
	ssize_t n;

	(void)fflush(stdout);
	(void)fflush(stderr);
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(unlink(path), 0);
	save_out = dup(STDOUT_FILENO);
	save_err = dup(STDERR_FILENO);
	assert_true(save_out != -1 && save_err != -1);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);

	rc = config_load(cfg, "pipe", argc, argv);

	(void)fflush(stdout);
	(void)fflush(stderr);
	assert_int_equal(dup2(save_out, STDOUT_FILENO), STDOUT_FILENO);
	assert_int_equal(dup2(save_err, STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(close(save_out), 0);
	assert_int_equal(close(save_err), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, captured, sizeof(captured) - 1);
	assert_true(n >= 0);
	captured[n] = '\0';
	assert_int_equal(close(fd), 0);
	return rc;
}

/* LOAD(&cfg, "--opt", "value") runs config_load on "pipe --opt value". */
#define ARGV(...)	((char *[]){ "pipe", __VA_ARGS__ })
#define LOAD(cfg, ...)	load((cfg), (int)(sizeof(ARGV(__VA_ARGS__, NULL)) / \
			    sizeof(char *)) - 1, ARGV(__VA_ARGS__, NULL))
#define LOAD0(cfg)	load((cfg), 1, ARGV(NULL))

static void
assert_captured(const char *part)
{
	if (strstr(captured, part) == NULL)
		fail_msg("wanted '%s' in the output, got '%s'", part, captured);
}

/* Expect rc from one option with one value; the config is released. */
static void
expect_rc(int want, const char *opt, const char *val)
{
	struct config cfg;
	char *argv[4];
	int rc;

	argv[0] = ARGV(NULL)[0];
	argv[1] = (char *)(uintptr_t)opt;
	argv[2] = (char *)(uintptr_t)val;
	argv[3] = NULL;
	rc = load(&cfg, val != NULL ? 3 : 2, argv);
	config_free(&cfg);
	if (rc != want)
		fail_msg("'%s %s' returned %d, wanted %d; said '%s'", opt,
		    val != NULL ? val : "", rc, want, captured);
	if (want != 0 && want != CONFIG_DONE && captured[0] == '\0')
		fail_msg("'%s %s' failed without a message", opt,
		    val != NULL ? val : "");
}

/* A temporary file with the given mode and content; path filled in. */
static void
key_file(char *path, size_t size, mode_t mode, const char *text, size_t len)
{
	int fd;

	(void)snprintf(path, size, "/tmp/test_config-key-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void
test_parse_seconds(void **state)
{
	static const struct { const char *s; long ms; } good[] = {
		{ "30", 30000 }, { "0.5", 500 }, { "0.001", 1 },
		{ "0.0015", 2 }, { "1", 1000 }, { "86400", 86400000 },
		{ "1e3", 1000000 }, { "2.25", 2250 },
		{ "86399.9994", 86399999 },
	};
	static const char *const bad[] = { "", "0", "-0", "-1", "-0.5",
	    "0.0009", "0.00049", "86400.001", "86401", "1e400", "abc", "5s",
	    "5 ", "inf", "-inf", "nan", "1,5", "." };
	long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -7;
		if (config_parse_seconds(good[i].s, &ms) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = -7;
		if (config_parse_seconds(bad[i], &ms) != -1)
			fail_msg("'%s' accepted as %ld ms", bad[i], ms);
		assert_int_equal(ms, -7);
	}
}

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(captured, "");
	assert_string_equal(cfg.mode, "pipe");
	assert_string_equal(cfg.base_url, "https://api.openai.com/v1");
	assert_string_equal(cfg.host, "api.openai.com");
	assert_string_equal(cfg.model, "text-embedding-3-small");
	assert_null(cfg.api_key);
	assert_int_equal(cfg.timeout_ms, 30000);
	assert_int_equal(cfg.deadline_ms, 120000);
	assert_int_equal(cfg.drain_ms, 30000);
	assert_int_equal(cfg.retries, 3);
	assert_int_equal(cfg.jobs, 8);
	assert_int_equal(cfg.queue_max, 1024);
	assert_int_equal(cfg.dimensions, 0);
	assert_int_equal(cfg.encoding, JOB_ENCODING_BASE64);
	/* The one default header. */
	assert_int_equal(cfg.n_headers, 1);
	assert_string_equal(cfg.headers[0], "User-Agent: embedwatch/"
	    EMBEDWATCH_VERSION);
	assert_null(cfg.cacert);
	assert_false(cfg.insecure);
	assert_int_equal(cfg.max_response, 268435456);
	assert_int_equal(cfg.max_line, 16777216);
	assert_int_equal(cfg.worker_memory, 1073741824);
	assert_null(cfg.worker_path);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_false(cfg.log_json);
	assert_int_equal(cfg.fault_fork_every, 0);
	config_free(&cfg);
}

static void
test_all_options(void **state)
{
	struct config cfg;
	char ca[] = "/tmp/test_config-ca-XXXXXX";
	int fd;

	(void)state;
	fd = mkstemp(ca);
	assert_true(fd != -1);
	assert_int_equal(close(fd), 0);
	assert_int_equal(LOAD(&cfg, "--base-url", "http://127.0.0.1:8080/v1/",
	    "--model", "m2", "--timeout", "2.5", "--deadline", "10",
	    "--retries", "0", "--jobs", "4096", "--queue", "1",
	    "--drain", "0", "--dimensions", "100000", "--encoding", "float",
	    "--header", "X-A: 1", "--cacert", ca, "--insecure",
	    "--max-line", "64", "--max-response", "1024",
	    "--worker-memory", "16777216", "--worker", "/bin/sh",
	    "--log-level", "debug", "--log-format", "json"), 0);
	assert_int_equal(unlink(ca), 0);
	assert_string_equal(cfg.base_url, "http://127.0.0.1:8080/v1");
	assert_string_equal(cfg.host, "127.0.0.1:8080");
	assert_string_equal(cfg.model, "m2");
	assert_int_equal(cfg.timeout_ms, 2500);
	assert_int_equal(cfg.deadline_ms, 10000);
	assert_int_equal(cfg.retries, 0);
	assert_int_equal(cfg.jobs, 4096);
	assert_int_equal(cfg.queue_max, 1);
	assert_int_equal(cfg.drain_ms, 0);
	assert_int_equal(cfg.dimensions, 100000);
	assert_int_equal(cfg.encoding, JOB_ENCODING_FLOAT);
	assert_int_equal(cfg.n_headers, 2);
	assert_string_equal(cfg.headers[0], "X-A: 1");
	assert_string_equal(cfg.headers[1], "User-Agent: embedwatch/"
	    EMBEDWATCH_VERSION);
	assert_null(cfg.headers[2]);
	assert_string_equal(cfg.cacert, ca);
	assert_true(cfg.insecure);
	assert_int_equal(cfg.max_line, 64);
	assert_int_equal(cfg.max_response, 1024);
	assert_int_equal(cfg.worker_memory, 16777216);
	assert_string_equal(cfg.worker_path, "/bin/sh");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_true(cfg.log_json);
	config_free(&cfg);

	/* The upper edges, and a drain that is not 0. */
	assert_int_equal(LOAD(&cfg, "--retries", "100", "--jobs", "1",
	    "--queue", "10000000", "--dimensions", "1", "--max-line",
	    "2147483648", "--max-response", "4294967296", "--worker-memory",
	    "1099511627776", "--timeout", "86400", "--drain", "0.001",
	    "--encoding", "base64", "--log-format", "text", "--log-level",
	    "error"), 0);
	assert_int_equal(cfg.retries, 100);
	assert_int_equal(cfg.jobs, 1);
	assert_int_equal(cfg.queue_max, 10000000);
	assert_int_equal(cfg.dimensions, 1);
	assert_int_equal(cfg.max_line, (size_t)1 << 31);
	assert_int_equal(cfg.max_response, (size_t)1 << 32);
	assert_int_equal(cfg.worker_memory, (rlim_t)1 << 40);
	assert_int_equal(cfg.timeout_ms, 86400000);
	assert_int_equal(cfg.drain_ms, 1);
	assert_int_equal(cfg.encoding, JOB_ENCODING_BASE64);
	assert_false(cfg.log_json);
	assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);
	config_free(&cfg);

	/* The drain follows the timeout unless given. */
	assert_int_equal(LOAD(&cfg, "--timeout", "5"), 0);
	assert_int_equal(cfg.drain_ms, 5000);
	config_free(&cfg);
	/* Options may repeat; the last one wins. */
	assert_int_equal(LOAD(&cfg, "--model", "a", "--model", "b"), 0);
	assert_string_equal(cfg.model, "b");
	config_free(&cfg);
}

static void
test_help_and_version(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(LOAD(&cfg, "--help"), CONFIG_DONE);
	assert_captured("usage: embedwatch");
	config_free(&cfg);
	assert_int_equal(LOAD(&cfg, "--version"), CONFIG_DONE);
	assert_int_equal(strncmp(captured, "embedwatch ", 11), 0);
	assert_non_null(strchr(captured, '\n'));
	config_free(&cfg);
	/* Help wins over what follows it. */
	assert_int_equal(LOAD(&cfg, "--help", "--timeout", "nope"),
	    CONFIG_DONE);
	config_free(&cfg);
}

static void
test_bad_numbers(void **state)
{
	static const struct { const char *opt, *val; } bad[] = {
		{ "--timeout", "0" }, { "--timeout", "-1" },
		{ "--timeout", "abc" }, { "--timeout", "86401" },
		{ "--timeout", "" }, { "--timeout", "0.0001" },
		{ "--deadline", "0" }, { "--deadline", "x" },
		{ "--deadline", "1e9" },
		{ "--drain", "-1" }, { "--drain", "abc" },
		{ "--retries", "-1" }, { "--retries", "101" },
		{ "--retries", "1.5" }, { "--retries", "" },
		{ "--jobs", "0" }, { "--jobs", "4097" }, { "--jobs", "8x" },
		{ "--queue", "0" }, { "--queue", "10000001" },
		{ "--dimensions", "0" }, { "--dimensions", "-5" },
		{ "--dimensions", "100001" }, { "--dimensions", "1000001" },
		{ "--max-line", "63" }, { "--max-line", "2147483649" },
		{ "--max-response", "1023" },
		{ "--max-response", "4294967297" },
		{ "--worker-memory", "16777215" },
		{ "--worker-memory", "1099511627777" },
		{ "--encoding", "binary" }, { "--encoding", "" },
		{ "--log-level", "verbose" }, { "--log-level", "WARN" },
		{ "--log-format", "xml" },
		{ "--model", "" }, { "--model", "a\nb" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_rc(EXIT_USAGE, bad[i].opt, bad[i].val);
}

static void
test_bad_arguments(void **state)
{
	struct config cfg;

	(void)state;
	expect_rc(EXIT_USAGE, "--no-such-option", NULL);
	expect_rc(EXIT_USAGE, "-x", NULL);
	/* The value is missing. */
	expect_rc(EXIT_USAGE, "--timeout", NULL);
	/* A flag given a value. */
	expect_rc(EXIT_USAGE, "--insecure=yes", NULL);
	assert_int_equal(LOAD(&cfg, "stray"), EXIT_USAGE);
	assert_captured("stray");
	config_free(&cfg);
	assert_int_equal(LOAD(&cfg, "--timeout", "5", "--", "x"), EXIT_USAGE);
	config_free(&cfg);
}

static void
test_env_base_url(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(setenv("OPENAI_BASE_URL", "http://openai.test/v1", 1),
	    0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.base_url, "http://openai.test/v1");
	assert_string_equal(cfg.host, "openai.test");
	config_free(&cfg);

	assert_int_equal(setenv("EMBEDWATCH_BASE_URL", "https://ew.test/", 1),
	    0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.base_url, "https://ew.test");
	assert_string_equal(cfg.host, "ew.test");
	config_free(&cfg);

	/* Empty counts as unset. */
	assert_int_equal(setenv("EMBEDWATCH_BASE_URL", "", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.base_url, "http://openai.test/v1");
	config_free(&cfg);

	/* The command line beats both. */
	assert_int_equal(setenv("EMBEDWATCH_BASE_URL", "https://ew.test", 1),
	    0);
	assert_int_equal(LOAD(&cfg, "--base-url", "https://cli.test/x"), 0);
	assert_string_equal(cfg.base_url, "https://cli.test/x");
	assert_string_equal(cfg.host, "cli.test");
	config_free(&cfg);

	/* A bad one in the environment is a configuration error. */
	assert_int_equal(setenv("EMBEDWATCH_BASE_URL", "ftp://ew.test", 1), 0);
	assert_int_equal(LOAD0(&cfg), EXIT_CONFIG);
	assert_captured("ftp://ew.test");
	config_free(&cfg);
}

static void
test_env_model(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(setenv("EMBEDWATCH_MODEL", "env-model", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.model, "env-model");
	config_free(&cfg);
	assert_int_equal(LOAD(&cfg, "--model", "cli-model"), 0);
	assert_string_equal(cfg.model, "cli-model");
	config_free(&cfg);
	assert_int_equal(setenv("EMBEDWATCH_MODEL", "", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.model, "text-embedding-3-small");
	config_free(&cfg);
}

/*
 * The command line comes first, so a bad value it overrides must not
 * matter, and --help must work whatever the environment holds.
 */
static void
test_cmdline_overrides_bad_env(void **state)
{
	struct config cfg;
	char said[sizeof(captured)];
	int rc_url, rc_help;

	(void)state;
	assert_int_equal(setenv("EMBEDWATCH_BASE_URL", "ftp://ew.test", 1), 0);
	rc_url = LOAD(&cfg, "--base-url", "https://cli.test/v1");
	config_free(&cfg);
	(void)snprintf(said, sizeof(said), "%s", captured);
	rc_help = LOAD(&cfg, "--help");
	config_free(&cfg);
	if (rc_url != 0 || rc_help != CONFIG_DONE)
		fail_msg("with EMBEDWATCH_BASE_URL=ftp://ew.test, '--base-url "
		    "https://cli.test/v1' returned %d (wanted 0) and '--help' "
		    "returned %d (wanted %d); said: %s", rc_url, rc_help,
		    CONFIG_DONE, said);
}

static void
test_env_api_key(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(setenv("OPENAI_API_KEY", "sk-openai", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.api_key, "sk-openai");
	/* Gone from the environment, so no child inherits it. */
	assert_null(getenv("OPENAI_API_KEY"));
	config_free(&cfg);

	assert_int_equal(setenv("OPENAI_API_KEY", "sk-openai", 1), 0);
	assert_int_equal(setenv("EMBEDWATCH_API_KEY", "sk-ew", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.api_key, "sk-ew");
	assert_null(getenv("OPENAI_API_KEY"));
	assert_null(getenv("EMBEDWATCH_API_KEY"));
	config_free(&cfg);

	/* Empty counts as unset. */
	assert_int_equal(setenv("OPENAI_API_KEY", "sk-openai", 1), 0);
	assert_int_equal(setenv("EMBEDWATCH_API_KEY", "", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.api_key, "sk-openai");
	assert_null(getenv("OPENAI_API_KEY"));
	assert_null(getenv("EMBEDWATCH_API_KEY"));
	config_free(&cfg);

	/* A key with a control character is refused. */
	assert_int_equal(setenv("EMBEDWATCH_API_KEY", "sk-a\nb", 1), 0);
	assert_int_equal(LOAD0(&cfg), EXIT_CONFIG);
	config_free(&cfg);
	/* The message does not repeat the key. */
	assert_null(strstr(captured, "sk-a"));
}

static void
test_key_file_modes(void **state)
{
	static const struct { mode_t mode; int rc; } modes[] = {
		{ 0600, 0 }, { 0400, 0 },
		{ 0640, EXIT_CONFIG }, { 0604, EXIT_CONFIG },
		{ 0620, EXIT_CONFIG }, { 0602, EXIT_CONFIG },
		{ 0610, EXIT_CONFIG }, { 0644, EXIT_CONFIG },
	};
	struct config cfg;
	char path[64], want[16];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		key_file(path, sizeof(path), modes[i].mode, "sk-file\n", 8);
		rc = LOAD(&cfg, "--api-key-file", path);
		assert_int_equal(unlink(path), 0);
		if (rc != modes[i].rc) {
			config_free(&cfg);
			fail_msg("key file mode %04o: returned %d, wanted %d",
			    (unsigned)modes[i].mode, rc, modes[i].rc);
		}
		if (rc == 0) {
			assert_string_equal(cfg.api_key, "sk-file");
		} else {
			/* Refused for its mode, which the message names. */
			(void)snprintf(want, sizeof(want), "%04o",
			    (unsigned)modes[i].mode);
			assert_captured(want);
			assert_null(strstr(captured, "sk-file"));
		}
		config_free(&cfg);
	}
	/* A file that is not there. */
	assert_int_equal(LOAD(&cfg, "--api-key-file",
	    "/nonexistent/test_config-key"), EXIT_CONFIG);
	assert_captured("/nonexistent/test_config-key");
	config_free(&cfg);
}

static void
test_key_file_content(void **state)
{
	static const struct { const char *text; size_t len; const char *key; }
	    cases[] = {
		{ "sk-1", 4, "sk-1" },
		{ "sk-2\n", 5, "sk-2" },
		{ "sk-3\r\n", 6, "sk-3" },
		{ "sk-4 \t\n\n", 8, "sk-4" },
		{ "", 0, NULL },
		{ "\n", 1, NULL },
		{ " \r\n", 3, NULL },
		{ "sk-5\nsk-6\n", 10, NULL },
		{ "sk\0-7\n", 6, NULL },
		{ "sk\t8", 4, NULL },
	};
	struct config cfg;
	char path[64];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		key_file(path, sizeof(path), 0600, cases[i].text, cases[i].len);
		rc = LOAD(&cfg, "--api-key-file", path);
		assert_int_equal(unlink(path), 0);
		if (cases[i].key != NULL) {
			if (rc != 0)
				fail_msg("key file case %zu refused: %s", i,
				    captured);
			assert_string_equal(cfg.api_key, cases[i].key);
		} else if (rc != EXIT_CONFIG) {
			fail_msg("key file case %zu returned %d", i, rc);
		}
		config_free(&cfg);
	}
}

static void
test_key_file_beats_env(void **state)
{
	struct config cfg;
	char path[64];

	(void)state;
	assert_int_equal(setenv("EMBEDWATCH_API_KEY", "sk-env", 1), 0);
	assert_int_equal(setenv("OPENAI_API_KEY", "sk-openai", 1), 0);
	key_file(path, sizeof(path), 0600, "sk-file\n", 8);
	assert_int_equal(LOAD(&cfg, "--api-key-file", path), 0);
	assert_int_equal(unlink(path), 0);
	assert_string_equal(cfg.api_key, "sk-file");
	assert_null(getenv("EMBEDWATCH_API_KEY"));
	assert_null(getenv("OPENAI_API_KEY"));
	config_free(&cfg);
	assert_null(cfg.api_key);
}

static void
test_base_url(void **state)
{
	static const struct { const char *url, *base, *host; } good[] = {
		{ "https://x.test", "https://x.test", "x.test" },
		{ "https://x.test/", "https://x.test", "x.test" },
		{ "https://x.test///", "https://x.test", "x.test" },
		{ "https://x.test/v1/", "https://x.test/v1", "x.test" },
		{ "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1",
		    "127.0.0.1:8080" },
		{ "http://[::1]:9/", "http://[::1]:9", "[::1]:9" },
		{ "https://x.test?a=b", "https://x.test?a=b", "x.test" },
		{ "https://x.test#f", "https://x.test#f", "x.test" },
	};
	static const char *const bad[] = { "", "x.test", "ftp://x.test",
	    "file:///etc/passwd", "http:/x.test", "http://", "https://",
	    "https:///v1", "http://x .test", "http://x.test/\n",
	    "httpx://x.test", " https://x.test" };
	struct config cfg;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rc = LOAD(&cfg, "--base-url", (char *)(uintptr_t)good[i].url);
		if (rc != 0)
			fail_msg("'%s' refused: %s", good[i].url, captured);
		assert_string_equal(cfg.base_url, good[i].base);
		assert_string_equal(cfg.host, good[i].host);
		config_free(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_rc(EXIT_CONFIG, "--base-url", bad[i]);
}

static void
test_headers(void **state)
{
	static const char *const bad[] = { "NoColon", ": value", ":",
	    "Bad Name: v", "Bad\tName: v", " Lead: v", "X-A: a\r\nX-B: b",
	    "X-A: a\n", "X-A: \x01", "X-A: \x7f", "" };
	char *argv[2 + 2 * 65 + 1];
	char names[65][16];
	struct config cfg;
	size_t i;

	(void)state;
	assert_int_equal(LOAD(&cfg, "--header", "X-A: 1", "--header",
	    "X-Empty:", "--header", "X-B:2", "--header",
	    "X-C: a: b \"c\""), 0);
	assert_int_equal(cfg.n_headers, 5);
	assert_string_equal(cfg.headers[0], "X-A: 1");
	assert_string_equal(cfg.headers[1], "X-Empty:");
	assert_string_equal(cfg.headers[2], "X-B:2");
	assert_string_equal(cfg.headers[3], "X-C: a: b \"c\"");
	assert_string_equal(cfg.headers[4], "User-Agent: embedwatch/"
	    EMBEDWATCH_VERSION);
	assert_null(cfg.headers[5]);
	config_free(&cfg);
	/* A User-Agent of the user's replaces the default, in any case. */
	assert_int_equal(LOAD(&cfg, "--header", "user-agent: mine/2"), 0);
	assert_int_equal(cfg.n_headers, 1);
	assert_string_equal(cfg.headers[0], "user-agent: mine/2");
	config_free(&cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_rc(EXIT_USAGE, "--header", bad[i]);

	/* 64 are fine, 65 are not. */
	argv[0] = ARGV(NULL)[0];
	for (i = 0; i < 65; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "X-%zu: v", i);
		argv[1 + 2 * i] = "--header";
		argv[2 + 2 * i] = names[i];
	}
	argv[1 + 2 * 64] = NULL;
	assert_int_equal(load(&cfg, 1 + 2 * 64, argv), 0);
	assert_int_equal(cfg.n_headers, 65);	/* and the User-Agent */
	assert_string_equal(cfg.headers[63], "X-63: v");
	assert_null(cfg.headers[65]);
	config_free(&cfg);
	argv[1 + 2 * 64] = "--header";
	argv[2 + 2 * 64] = names[64];
	argv[3 + 2 * 64] = NULL;
	assert_int_equal(load(&cfg, 1 + 2 * 65, argv), EXIT_USAGE);
	config_free(&cfg);
}

static void
test_worker_and_cacert(void **state)
{
	struct config cfg;
	char path[64];

	(void)state;
	expect_rc(EXIT_CONFIG, "--worker", "/nonexistent/embedwatch-worker");
	/* Exists but is not executable (not even by root: no x bit). */
	key_file(path, sizeof(path), 0644, "#!/bin/sh\n", 10);
	expect_rc(EXIT_CONFIG, "--worker", path);
	assert_int_equal(unlink(path), 0);
	expect_rc(EXIT_CONFIG, "--cacert", "/nonexistent/ca.pem");

	assert_int_equal(setenv("EMBEDWATCH_WORKER", "/bin/sh", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_string_equal(cfg.worker_path, "/bin/sh");
	config_free(&cfg);
	assert_int_equal(setenv("EMBEDWATCH_WORKER", "/nonexistent/w", 1), 0);
	assert_int_equal(LOAD0(&cfg), EXIT_CONFIG);
	assert_captured("/nonexistent/w");
	config_free(&cfg);
	/* The command line wins. */
	assert_int_equal(LOAD(&cfg, "--worker", "/bin/sh"), 0);
	assert_string_equal(cfg.worker_path, "/bin/sh");
	config_free(&cfg);
}

static void
test_fault_hook(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(setenv("EMBEDWATCH_TEST_FAIL_FORK", "3", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_int_equal(cfg.fault_fork_every, 3);
	config_free(&cfg);
	assert_int_equal(setenv("EMBEDWATCH_TEST_FAIL_FORK", "0", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_int_equal(cfg.fault_fork_every, 0);
	config_free(&cfg);
	assert_int_equal(setenv("EMBEDWATCH_TEST_FAIL_FORK", "x", 1), 0);
	assert_int_equal(LOAD0(&cfg), 0);
	assert_int_equal(cfg.fault_fork_every, 0);
	config_free(&cfg);
}

#define T(f)	cmocka_unit_test_setup(f, clean_env)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_seconds),
		T(test_defaults),
		T(test_all_options),
		T(test_help_and_version),
		T(test_bad_numbers),
		T(test_bad_arguments),
		T(test_env_base_url),
		T(test_env_model),
		T(test_cmdline_overrides_bad_env),
		T(test_env_api_key),
		T(test_key_file_modes),
		T(test_key_file_content),
		T(test_key_file_beats_env),
		T(test_base_url),
		T(test_headers),
		T(test_worker_and_cacert),
		T(test_fault_hook),
	};

	return cmocka_run_group_tests(tests, clean_env, clean_env);
}
