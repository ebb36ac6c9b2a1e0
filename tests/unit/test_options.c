/*
 * test_options: proves supervisor/config/options.h, the option table:
 * every row has a name, help, a mode and what its kind needs (an
 * argument name, a range inside its field's width, words, a setter);
 * names and letters are unique; the usage lists every row with its
 * argument and its help, in 80 columns, under one title per set of
 * modes; each typed setter takes its edges (min and max, the shortest and
 * longest seconds, every word) and refuses the value past them, junk and
 * the empty string with EXIT_USAGE and a message naming the option and
 * the value; a row applies in its modes only; batch takes one operand;
 * options_set refuses names it does not know. stdout and stderr are
 * swapped for a memory stream around each call, so messages can be read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/options.h"
#include "log.h"

/* What the last captured call wrote on stdout and stderr. */
static char	*said;
static size_t	 said_len;

static FILE	*real_stdout, *real_stderr;

static void
capture_begin(void)
{
	FILE *mem;

	free(said);
	said = NULL;
	mem = open_memstream(&said, &said_len);
	assert_non_null(mem);
	real_stdout = stdout;
	real_stderr = stderr;
	stdout = mem;
	stderr = mem;
}

static void
capture_end(void)
{
	FILE *mem = stdout;

	stdout = real_stdout;
	stderr = real_stderr;
	assert_int_equal(fclose(mem), 0);
}

static int
set_captured(struct config *cfg, const char *name, const char *arg)
{
	int rc;

	capture_begin();
	rc = options_set(cfg, name, arg);
	capture_end();
	return rc;
}

static int
parse_captured(struct config *cfg, const char *mode, int argc, char **argv)
{
	int rc;

	capture_begin();
	rc = options_parse(cfg, mode, argc, argv);
	capture_end();
	return rc;
}

static void
said_has(const char *part)
{
	if (strstr(said, part) == NULL)
		fail_msg("wanted '%s' in the output, got '%s'", part, said);
}

/* The integer in o's field, read in the field's width. */
static long long
field_integer(const struct config *cfg, const struct options_row *o)
{
	const unsigned char *p = (const unsigned char *)cfg + o->offset;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	if (o->size == 1) {
		memcpy(&v8, p, 1);
		return v8;
	}
	if (o->size == 2) {
		memcpy(&v16, p, 2);
		return v16;
	}
	if (o->size == 4) {
		memcpy(&v32, p, 4);
		return v32;
	}
	assert_int_equal(o->size, 8);
	memcpy(&v64, p, 8);
	return (long long)v64;
}

static const struct options_row *
row(const char *name)
{
	const struct options_row *rows;
	size_t i, n;

	rows = options_rows(&n);
	for (i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	fail_msg("no row '%s'", name);
	return NULL;
}

static bool
takes_argument(enum options_kind kind)
{
	return kind == OPTIONS_SECONDS || kind == OPTIONS_RANGE ||
	    kind == OPTIONS_STRING || kind == OPTIONS_WORDS;
}

static bool
stores_integer(enum options_kind kind)
{
	return kind == OPTIONS_SECONDS || kind == OPTIONS_RANGE ||
	    kind == OPTIONS_FLAG || kind == OPTIONS_WORDS;
}

/* Does v fit a field of size bytes, signed or not? */
static bool
fits(long long v, size_t size)
{
	return v >= 0 && (size >= 8 || v < (1LL << (8 * size - 1)));
}

static void
check_row(const struct options_row *o)
{
	const struct options_word *w;

	if (o->help == NULL || o->help[0] == '\0' ||
	    strchr(o->help, '\n') != NULL)
		fail_msg("--%s: help wanted, on one line", o->name);
	if (o->modes == 0 || (o->modes & ~OPTIONS_ALL) != 0)
		fail_msg("--%s: modes 0x%x", o->name, o->modes);
	if (takes_argument(o->kind) && o->arg == NULL)
		fail_msg("--%s: no argument name", o->name);
	if (!takes_argument(o->kind) && o->kind != OPTIONS_CUSTOM &&
	    o->arg != NULL)
		fail_msg("--%s: an argument for a kind without one", o->name);
	if ((o->kind == OPTIONS_CUSTOM) != (o->set != NULL))
		fail_msg("--%s: a setter if and only if custom", o->name);
	if (o->kind == OPTIONS_SECONDS)
		assert_int_equal(o->size, sizeof(long));
	if (o->kind == OPTIONS_STRING)
		assert_int_equal(o->size, sizeof(char *));
	if (o->kind == OPTIONS_RANGE &&
	    (o->min > o->max || !fits(o->min, o->size) ||
	    !fits(o->max, o->size)))
		fail_msg("--%s: range [%lld, %lld] in %zu bytes", o->name,
		    o->min, o->max, o->size);
	if (o->kind == OPTIONS_FLAG && !fits(o->value, o->size))
		fail_msg("--%s: flag value %lld", o->name, o->value);
	if (o->kind == OPTIONS_WORDS) {
		assert_non_null(o->words);
		assert_non_null(o->words[0].word);
		assert_non_null(o->words[1].word);
		for (w = o->words; w->word != NULL; w++)
			if (!fits(w->value, o->size))
				fail_msg("--%s: word '%s'", o->name, w->word);
	}
	if (stores_integer(o->kind) &&
	    o->size != 1 && o->size != 2 && o->size != 4 && o->size != 8)
		fail_msg("--%s: a field of %zu bytes", o->name, o->size);
}

static void
test_rows_complete(void **state)
{
	const struct options_row *rows;
	size_t i, j, n;

	(void)state;
	rows = options_rows(&n);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_non_null(rows[i].name);
		check_row(&rows[i]);
		for (j = 0; j < i; j++) {
			if (strcmp(rows[i].name, rows[j].name) == 0)
				fail_msg("--%s twice", rows[i].name);
			if (rows[i].letter != 0 &&
			    rows[i].letter == rows[j].letter)
				fail_msg("-%c twice", rows[i].letter);
		}
	}
	/* The ones main and the systemd unit rely on. */
	assert_int_equal(row("help")->kind, OPTIONS_HELP);
	assert_int_equal(row("version")->kind, OPTIONS_VERSION);
	assert_int_equal(row("output")->letter, 'o');
}

/* s with every run of white space made one space. */
static char *
squeeze(const char *s)
{
	char *out, *p;

	out = malloc(strlen(s) + 1);
	assert_non_null(out);
	for (p = out; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n') {
			if (p == out || p[-1] != ' ')
				*p++ = ' ';
		} else
			*p++ = *s;
	}
	*p = '\0';
	return out;
}

static void
test_usage_lists_every_option(void **state)
{
	const struct options_row *rows;
	char *text = NULL, *flat, *line, want[256], letter[8];
	size_t i, n, len;
	FILE *fp;

	(void)state;
	fp = open_memstream(&text, &len);
	assert_non_null(fp);
	assert_int_equal(options_usage(fp, NULL), 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(strncmp(text, "usage: embedwatch", 17), 0);
	for (line = text; *line != '\0'; line += strcspn(line, "\n") + 1)
		if (strcspn(line, "\n") > 79)
			fail_msg("a usage line over 79 columns: %.100s", line);
	flat = squeeze(text);
	rows = options_rows(&n);
	for (i = 0; i < n; i++) {
		letter[0] = '\0';
		if (rows[i].letter != 0)
			(void)snprintf(letter, sizeof(letter), "-%c, ",
			    rows[i].letter);
		(void)snprintf(want, sizeof(want), " %s--%s%s%s ", letter,
		    rows[i].name, rows[i].arg != NULL ? " " : "",
		    rows[i].arg != NULL ? rows[i].arg : "");
		if (strstr(flat, want) == NULL)
			fail_msg("usage lacks '%s'", want);
		if (strstr(flat, rows[i].help) == NULL)
			fail_msg("usage lacks --%s's help '%s'", rows[i].name,
			    rows[i].help);
	}
	assert_non_null(strstr(text, "\noptions:\n"));
	assert_non_null(strstr(text, "\nbatch options:\n"));
	assert_non_null(strstr(text, "\nserve options:\n"));
	free(flat);
	free(text);
}

/* Does text list the option name (" --name" followed by a space or the
 * line's end)? */
static bool
lists(const char *text, const char *name)
{
	char want[96];
	const char *p;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), " --%s", name);
	for (p = strstr(text, want); p != NULL; p = strstr(p + 1, want))
		if (p[n] == ' ' || p[n] == '\n')
			return true;
	return false;
}

/* embedwatch help MODE lists that mode's options and only those. */
static void
test_usage_per_mode(void **state)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} modes[] = {
		{ "pipe", OPTIONS_PIPE }, { "batch", OPTIONS_BATCH },
		{ "serve", OPTIONS_SERVE },
	};
	const struct options_row *rows;
	char *text, synopsis[64];
	size_t i, m, n, len;
	FILE *fp;

	(void)state;
	rows = options_rows(&n);
	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		text = NULL;
		fp = open_memstream(&text, &len);
		assert_non_null(fp);
		assert_int_equal(options_usage(fp, modes[m].name), 0);
		assert_int_equal(fclose(fp), 0);
		(void)snprintf(synopsis, sizeof(synopsis),
		    "usage: embedwatch %s ", modes[m].name);
		if (strncmp(text, synopsis, strlen(synopsis)) != 0)
			fail_msg("help %s starts '%.60s'", modes[m].name, text);
		if (strstr(text, "\n       embedwatch") != NULL)
			fail_msg("help %s shows other commands", modes[m].name);
		for (i = 0; i < n; i++)
			if (lists(text, rows[i].name) !=
			    ((rows[i].modes & modes[m].bit) != 0))
				fail_msg("help %s %s --%s", modes[m].name,
				    lists(text, rows[i].name) ? "lists" :
				    "lacks", rows[i].name);
		free(text);
	}
}

static void
test_help_and_version(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(set_captured(&cfg, "help", NULL), CONFIG_DONE);
	said_has("usage: embedwatch");
	said_has("--timeout SEC");
	assert_int_equal(set_captured(&cfg, "version", NULL), CONFIG_DONE);
	assert_int_equal(strncmp(said, "embedwatch ", 11), 0);
	assert_int_equal(said[said_len - 1], '\n');
	config_free(&cfg);
}

/* Expect a refusal of arg for o that names both. */
static void
expect_refused(const struct options_row *o, const char *arg)
{
	struct config cfg;
	char name[64];
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = set_captured(&cfg, o->name, arg);
	config_free(&cfg);
	if (rc != EXIT_USAGE)
		fail_msg("--%s '%s' returned %d, wanted %d", o->name, arg, rc,
		    EXIT_USAGE);
	(void)snprintf(name, sizeof(name), "embedwatch: --%s wants ",
	    o->name);
	said_has(name);
	(void)snprintf(name, sizeof(name), "not '%s'\n", arg);
	said_has(name);
}

/* Expect arg for o to store want in its field. */
static void
expect_stored(const struct options_row *o, const char *arg, long long want)
{
	struct config cfg;
	long long got;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = set_captured(&cfg, o->name, arg);
	got = field_integer(&cfg, o);
	config_free(&cfg);
	if (rc != 0 || got != want)
		fail_msg("--%s '%s' returned %d and stored %lld, wanted %lld; "
		    "said '%s'", o->name, arg != NULL ? arg : "", rc, got,
		    want, said);
	assert_int_equal(said_len, 0);
}

static void
check_range(const struct options_row *o)
{
	char arg[32];

	(void)snprintf(arg, sizeof(arg), "%lld", o->min);
	expect_stored(o, arg, o->min);
	(void)snprintf(arg, sizeof(arg), "%lld", o->max);
	expect_stored(o, arg, o->max);
	(void)snprintf(arg, sizeof(arg), "%lld", o->max + 1);
	expect_refused(o, arg);
	(void)snprintf(arg, sizeof(arg), "%lld", o->min - 1);
	expect_refused(o, arg);
	(void)snprintf(arg, sizeof(arg), "%lldx", o->min);
	expect_refused(o, arg);
	expect_refused(o, "1.5");
	expect_refused(o, "junk");
	expect_refused(o, "");
}

static void
check_seconds(const struct options_row *o)
{
	expect_stored(o, "0.001", 1);
	expect_stored(o, "86400", 86400000);
	expect_stored(o, "0.5", 500);
	expect_refused(o, "0");
	expect_refused(o, "86400.001");
	expect_refused(o, "junk");
	expect_refused(o, "");
}

static void
check_words(const struct options_row *o)
{
	const struct options_word *w;

	for (w = o->words; w->word != NULL; w++)
		expect_stored(o, w->word, w->value);
	expect_refused(o, "junk");
	expect_refused(o, "");
	/* The message lists the words: "a or b", "a, b, c or d". */
	said_has(o->words[0].word);
	said_has(" or ");
}

static void
test_typed_setters(void **state)
{
	const struct options_row *rows;
	size_t i, n, checked = 0;

	(void)state;
	rows = options_rows(&n);
	for (i = 0; i < n; i++) {
		switch (rows[i].kind) {
		case OPTIONS_RANGE:
			check_range(&rows[i]);
			break;
		case OPTIONS_SECONDS:
			check_seconds(&rows[i]);
			break;
		case OPTIONS_WORDS:
			check_words(&rows[i]);
			break;
		case OPTIONS_FLAG:
			expect_stored(&rows[i], NULL, rows[i].value);
			break;
		default:
			continue;
		}
		checked++;
	}
	assert_true(checked > 20);
}

/* The exact messages the old hand-written parser gave, kept. */
static void
test_messages(void **state)
{
	static const struct { const char *name, *arg, *said; } cases[] = {
		{ "jobs", "0", "--jobs wants 1 to 4096, not '0'" },
		{ "log-level", "loud", "--log-level wants error, warn, info "
		    "or debug, not 'loud'" },
		{ "timeout", "0",
		    "--timeout wants seconds (0.001 to 86400), not '0'" },
		{ "max-line", "63",
		    "--max-line wants 64 to 2^31 bytes, not '63'" },
		{ "format", "csv", "--format wants jsonl or npy, not 'csv'" },
		{ "socket-mode", "8",
		    "--socket-mode wants an octal mode like 0660, not '8'" },
	};
	struct config cfg;
	char want[128];
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(set_captured(&cfg, cases[i].name,
		    cases[i].arg), EXIT_USAGE);
		/* The message, then the one hint every usage error has. */
		(void)snprintf(want, sizeof(want), "embedwatch: %s\nTry "
		    "'embedwatch help", cases[i].said);
		assert_int_equal(strncmp(said, want, strlen(want)), 0);
		assert_string_equal(said + strlen(want) +
		    strcspn(said + strlen(want), "'"),
		    "' for more information.\n");
	}
	config_free(&cfg);
}

static void
test_strings_and_log_levels(void **state)
{
	const struct options_word *w;
	enum log_level level;
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(set_captured(&cfg, "pidfile", "/run/a"), 0);
	assert_int_equal(set_captured(&cfg, "pidfile", ""), 0);
	assert_string_equal(cfg.pidfile, "");
	assert_int_equal(set_captured(&cfg, "log-file", "/var/log/x"), 0);
	assert_string_equal(cfg.log_file, "/var/log/x");
	config_free(&cfg);
	/* The words of --log-level are the names log_parse_level knows. */
	for (w = row("log-level")->words; w->word != NULL; w++) {
		assert_int_equal(log_parse_level(w->word, &level), 0);
		assert_int_equal((int)level, w->value);
	}
}

static void
test_set_refuses_misuse(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(set_captured(&cfg, "no-such-option", "1"),
	    EXIT_SOFTWARE);
	said_has("no-such-option");
	assert_int_equal(set_captured(&cfg, "jobs", NULL), EXIT_SOFTWARE);
	assert_int_equal(set_captured(&cfg, "insecure", "1"), EXIT_SOFTWARE);
	assert_false(cfg.insecure);
	config_free(&cfg);
}

/* Each row is taken in its modes and refused in the others. */
static void
test_modes(void **state)
{
	static const struct { const char *name; unsigned bit; } modes[] = {
		{ "pipe", OPTIONS_PIPE }, { "batch", OPTIONS_BATCH },
		{ "serve", OPTIONS_SERVE },
	};
	const struct options_row *rows;
	char opt[64], want[64], *argv[4];
	struct config cfg;
	size_t i, m, n;
	int rc;

	(void)state;
	rows = options_rows(&n);
	for (i = 0; i < n; i++) {
		for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			(void)snprintf(opt, sizeof(opt), "--%s", rows[i].name);
			(void)snprintf(want, sizeof(want), "is not for "
			    "'embedwatch %s'", modes[m].name);
			argv[0] = (char *)(uintptr_t)modes[m].name;
			argv[1] = opt;
			argv[2] = rows[i].arg != NULL ? "/nonexistent" : NULL;
			argv[3] = NULL;
			memset(&cfg, 0, sizeof(cfg));
			rc = parse_captured(&cfg, modes[m].name,
			    rows[i].arg != NULL ? 3 : 2, argv);
			config_free(&cfg);
			if ((rows[i].modes & modes[m].bit) != 0 &&
			    strstr(said, "is not for") != NULL)
				fail_msg("%s refused in %s: %s", opt,
				    modes[m].name, said);
			if ((rows[i].modes & modes[m].bit) == 0 &&
			    (rc != EXIT_USAGE || strstr(said, want) == NULL))
				fail_msg("%s taken in %s: %d, '%s'", opt,
				    modes[m].name, rc, said);
		}
	}
}

/* Batch's operand, the -o letter, and getopt_long's prefixes. */
static void
test_letters_and_operands(void **state)
{
	static const struct {
		const char	*argv[5];	/* the mode first */
		int		 rc;
		const char	*input, *output; /* wanted when rc is 0 */
		const char	*said;		/* wanted when rc is not */
	} cases[] = {
		{ { "batch", "in.txt", "-o", "out.jsonl" }, 0, "in.txt",
		    "out.jsonl", NULL },
		{ { "batch", "-oout.npy" }, 0, "-", "out.npy", NULL },
		{ { "batch", "--out", "o" }, 0, "-", "o", NULL },
		{ { "batch", "a", "b" }, EXIT_USAGE, NULL, NULL,
		    "unexpected argument 'b'" },
		{ { "pipe", "a" }, EXIT_USAGE, NULL, NULL,
		    "unexpected argument 'a'" },
		{ { "pipe", "-o", "x" }, EXIT_USAGE, NULL, NULL,
		    "option '--output' is not for 'embedwatch pipe'" },
		{ { "pipe", "--log", "x" }, EXIT_USAGE, NULL, NULL,
		    "option '--log' is ambiguous (--log-level, --log-format" },
		{ { "pipe", "--timeout" }, EXIT_USAGE, NULL, NULL,
		    "embedwatch: option '--timeout' needs a value\n"
		    "Try 'embedwatch help pipe' for more information.\n" },
		{ { "batch", "-o" }, EXIT_USAGE, NULL, NULL,
		    "option '--output' needs a value" },
		{ { "pipe", "--bogus=/tmp/x" }, EXIT_USAGE, NULL, NULL,
		    "unknown option '--bogus'\n" },
		{ { "serve", "-q" }, EXIT_USAGE, NULL, NULL,
		    "unknown option '-q'\n" },
		{ { "serve", "--jobs", "0" }, EXIT_USAGE, NULL, NULL,
		    "--jobs wants 1 to 4096, not '0'\n"
		    "Try 'embedwatch help serve' for more information.\n" },
	};
	char *argv[5];
	struct config cfg;
	size_t i;
	int argc, rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A copy: getopt_long moves the operands to the end. */
		for (argc = 0; cases[i].argv[argc] != NULL; argc++)
			argv[argc] = (char *)(uintptr_t)cases[i].argv[argc];
		argv[argc] = NULL;
		memset(&cfg, 0, sizeof(cfg));
		rc = parse_captured(&cfg, argv[0], argc, argv);
		if (rc != cases[i].rc)
			fail_msg("case %zu returned %d: '%s'", i, rc, said);
		if (rc == 0) {
			assert_string_equal(cfg.batch_input, cases[i].input);
			assert_string_equal(cfg.batch_output, cases[i].output);
		} else
			said_has(cases[i].said);
		config_free(&cfg);
	}
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(parse_captured(&cfg, "pipe", 3,
	    (char *[]){ "pipe", "--dimen", "7", NULL }), 0);
	assert_int_equal(cfg.dimensions, 7);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_complete),
		cmocka_unit_test(test_usage_lists_every_option),
		cmocka_unit_test(test_usage_per_mode),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_typed_setters),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_strings_and_log_levels),
		cmocka_unit_test(test_set_refuses_misuse),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_letters_and_operands),
	};
	int rc;

	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(said);
	return rc;
}
