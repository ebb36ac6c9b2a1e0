/*
 * options: the command line of bin/embedwatch as one table, one row per
 * option. A row names the option (long name, short letter if any, the
 * argument's name in the usage), the modes it belongs to, its help text,
 * and how its argument is parsed and stored: one of a few typed setters
 * that write a field of struct config, or a function of its own for the
 * odd ones. The getopt_long array, the short-option string and the
 * --help text are all generated from the table, so adding an option is
 * adding one row (in options.c) and, if it is new, the field it sets.
 *
 * Every setter reports a bad argument on stderr in one line, before
 * logging is set up ("embedwatch: --jobs wants 1 to 4096, not '0'"), and
 * returns the exit status to end with; it never exits itself. The API key
 * never comes from argv: only --api-key-file names where to read it.
 *
 * Used by config.c, which runs the table first and then fills what the
 * command line left unset from the environment and the defaults.
 */
#ifndef EMBEDWATCH_OPTIONS_H
#define EMBEDWATCH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

/* The modes an option belongs to: a mask of these bits. */
#define OPTIONS_PIPE	0x1u
#define OPTIONS_BATCH	0x2u
#define OPTIONS_SERVE	0x4u
#define OPTIONS_ALL	(OPTIONS_PIPE | OPTIONS_BATCH | OPTIONS_SERVE)

/*
 * How a row's argument becomes a setting. The integer setters store into
 * the field's own width (bool, unsigned, an enum, long, size_t, rlim_t),
 * which the row records with the field; every value they store is
 * non-negative, so the width alone decides the store.
 */
enum options_kind {
	OPTIONS_SECONDS,	/* "30", "0.5": long ms, 0.001 to 86400 s */
	OPTIONS_RANGE,		/* a decimal integer in [min, max] */
	OPTIONS_STRING,		/* a copy, into a char * the config owns */
	OPTIONS_FLAG,		/* no argument: stores value */
	OPTIONS_WORDS,		/* one of words: stores that word's value */
	OPTIONS_CUSTOM,		/* set() parses, checks and stores */
	OPTIONS_HELP,		/* prints the usage: CONFIG_DONE */
	OPTIONS_VERSION		/* prints the version: CONFIG_DONE */
};

struct options_word {
	const char	*word;
	int		 value;
};

struct options_row {
	const char	*name;		/* long name, without "--" */
	char		 letter;	/* short option, or 0 */
	const char	*arg;		/* in the usage; NULL: takes none */
	unsigned	 modes;		/* OPTIONS_* bits */
	enum options_kind kind;
	size_t		 offset;	/* of the field in struct config */
	size_t		 size;		/* of that field, in bytes */
	long long	 min, max;	/* OPTIONS_RANGE */
	long long	 value;		/* OPTIONS_FLAG */
	const struct options_word *words; /* OPTIONS_WORDS; ends with NULL */
	/* What a bad argument's message says is wanted; NULL: from the
	 * range, the words, or "seconds (0.001 to 86400)". */
	const char	*wants;
	/* OPTIONS_CUSTOM: 0, or the exit status after a message. */
	int		(*set)(struct config *cfg, const char *arg);
	const char	*help;		/* one line or more; wrapped by usage */
};

/*
 * The table, in the order --help lists it; *n is set to its length. The
 * rows are static and stay valid for the life of the program.
 */
const struct options_row *options_rows(size_t *n);

/*
 * Parse argv (argv[0] is the subcommand, mode names it) into cfg, option
 * by option in argv's order, so that the last of a repeated option wins
 * and a bad one is reported before anything after it is looked at. In
 * batch one operand, the input, is allowed (default "-", stdin). Returns
 * 0; CONFIG_DONE after printing the usage (--help) or the version; or,
 * after a message, EXIT_USAGE (unknown option, option of another mode,
 * bad argument, stray operand) or EXIT_CONFIG (unusable file or URL, out
 * of memory). cfg then owns what was stored: release it with config_free
 * whatever this returned. Resets getopt's state (optind).
 */
int	 options_parse(struct config *cfg, const char *mode, int argc,
	    char **argv);

/*
 * Apply the option with long name name to cfg as if the command line gave
 * it, with arg (NULL for options without an argument). config.c sends
 * some environment variables through here so they are checked the same
 * way. Returns what options_parse would, or EXIT_SOFTWARE if no row has
 * that name.
 */
int	 options_set(struct config *cfg, const char *name, const char *arg);

/*
 * Write the help text to fp: the synopsis, then each group of options
 * that belong to the same modes, each row with its argument and help,
 * wrapped to 80 columns. mode NULL (or not a mode) gives every mode and
 * option (embedwatch --help); "pipe", "batch" or "serve" only that
 * mode's synopsis and options (embedwatch help batch, batch --help).
 * Returns 0, or -1 with errno set if writing failed.
 */
int	 options_usage(FILE *fp, const char *mode);

/*
 * Write "embedwatch: MESSAGE\n" on stderr; returns status, so a caller
 * can "return options_fail(EXIT_USAGE, ...)". For EXIT_USAGE a second
 * line follows, "Try 'embedwatch help MODE' for more information." (the
 * mode being parsed; none before options_parse), so every usage error
 * has one format. The config layer's one way to report, used by
 * config.c and main.c too.
 */
int	 options_fail(int status, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Append a copy of h ("Name: value", already checked) to cfg's headers,
 * beyond --header's limit: config.c adds the default User-Agent so. It
 * goes before the --header-file headers, which stay last (proto_job.h).
 * Returns 0, or EXIT_CONFIG after a message.
 */
int	 options_append_header(struct config *cfg, const char *h);

/* Does s hold a control character (below 0x20, or DEL)? */
bool	 options_has_control(const char *s);

#endif
