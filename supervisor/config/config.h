/*
 * config: the supervisor's settings, from defaults, the environment and
 * the command line, validated once at init. After config_load returns,
 * the struct is read-only; every mode and mechanism borrows it.
 *
 * Precedence: command line, then EMBEDWATCH_* variables, then OPENAI_*
 * variables, then defaults. The API key comes from --api-key-file or the
 * environment only (never argv); config_load removes it from the
 * environment so nothing we start inherits it by accident.
 *
 * The command-line options themselves are rows of one table in
 * config/options.c (see options.h), which also writes the --help text.
 */
#ifndef EMBEDWATCH_CONFIG_H
#define EMBEDWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "log.h"
#include "proto_job.h"

/* Exit statuses of bin/embedwatch (sysexits.h values where one fits). */
#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_UNAVAILABLE 69	/* serve: another instance owns it */
#define EXIT_OSERR	71
#define EXIT_SOFTWARE	70
#define EXIT_CANTCREAT	73
#define EXIT_TEMPFAIL	75	/* batch: the endpoint is down */
#define EXIT_NOPERM	77	/* batch: the endpoint refuses every call */
#define EXIT_CONFIG	78

/* config_load's "help or version was printed, exit 0". */
#define CONFIG_DONE	(-1)

/* --warm not given: the pool follows the recent peak of calls. */
#define CONFIG_WARM_AUTO	((unsigned)-1)

struct config {
	const char	*mode;		/* "pipe", ... */
	char		*base_url;	/* without trailing '/' */
	char		*host;		/* host part of base_url, for messages */
	char		*model;
	char		*api_key;	/* NULL: none */
	char		*api_key_header; /* NULL: "Authorization: Bearer" */
	long		 timeout_ms;	/* per attempt */
	long		 deadline_ms;	/* per request */
	long		 drain_ms;
	unsigned	 retries;
	unsigned	 jobs;
	unsigned	 warm;		/* workers forked ahead, waiting;
					 * CONFIG_WARM_AUTO: from demand */
	long		 warm_idle_ms;	/* a warm worker's connection */
	long		 connect_timeout_ms;
	size_t		 queue_max;	/* requests waiting for a worker */
	long		 dimensions;	/* 0: not sent */
	enum job_encoding encoding;
	char		**headers;	/* "Name: value" */
	size_t		 n_headers;
	size_t		 n_secret_headers; /* the last ones: --header-file */
	char		*cacert;
	bool		 insecure;
	size_t		 max_response;
	size_t		 max_line;
	rlim_t		 worker_memory;
	char		*worker_path;	/* NULL: fork without exec */
	enum log_level	 log_level;
	bool		 log_json;
	/* resilience (engine/policy); zeroed is every mechanism off */
	enum { CONFIG_HEDGE_OFF, CONFIG_HEDGE_AUTO, CONFIG_HEDGE_FIXED } hedge;
	long		 hedge_ms;	/* CONFIG_HEDGE_FIXED */
	long		 hedge_min_ms;	/* auto: the shortest delay */
	unsigned	 retry_budget_pct; /* 0: no retry budget */
	unsigned	 hedge_budget_pct;
	unsigned	 budget_floor;	/* extra attempts a second, always */
	unsigned	 breaker_failures; /* 0: no circuit breaker */
	long		 fail_cooldown_ms; /* 401/403/404: 0 off */
	long		 rpm, tpm;	/* limits by hand; 0: none */
	long		 backoff_base_ms;
	long		 backoff_max_ms;
	unsigned	 fault_fork_every; /* test hook: fail every Nth fork */
	size_t		 fault_out_cap;	/* test hook: a session's answer
					 * buffer fails past it; 0: none */

	/* batch */
	char		*batch_input;	/* path, or "-" for stdin */
	char		*batch_output;	/* NULL: stdout */
	char		*batch_errors;	/* NULL: OUT.errors */
	enum { BATCH_IN_AUTO, BATCH_IN_TEXT, BATCH_IN_JSONL } batch_input_format;
	enum { BATCH_OUT_AUTO, BATCH_OUT_JSONL, BATCH_OUT_NPY } batch_format;
	unsigned	 batch_size;	/* texts per API call */
	size_t		 batch_bytes;	/* text bytes per API call */
	bool		 resume;
	bool		 force;		/* overwrite an existing OUT */
	bool		 retry_failed;	/* only the inputs in the errors file */
	bool		 empty_error;	/* a blank line fails, not skipped */
	unsigned	 shard_k, shard_n; /* --shard K/N; 0: none */
	bool		 shard_auto;	/* --shard auto */
	unsigned	 shards;	/* --shards N; 0: none */
	bool		 merge;		/* --merge: the shards into OUT */
	long		 max_outage_ms;	/* stop when the circuit refuses calls
					 * this long; 0: never */
	int		 progress;	/* -1: when stderr is a terminal */

	/* serve */
	char		*socket_path;
	mode_t		 socket_mode;
	char		*pidfile;
	uid_t		*allow_uids;	/* NULL: any peer that can connect */
	size_t		 n_allow_uids;
	char		*log_file;	/* NULL: stderr */
	unsigned	 max_clients;
	unsigned	 conn_inflight;	/* per connection: running requests */
	unsigned	 conn_queue;	/* per connection: waiting requests */
	long		 idle_timeout_ms; /* close idle clients; 0: never */
	size_t		 max_buffered;	/* partial lines across clients */
	char		**listen;	/* HTTP: "HOST:PORT" each */
	size_t		 n_listen;
	char		*client_keys;	/* HTTP: path of the bearer keys */
	long		 client_timeout_ms;
};

/*
 * Fill cfg from the defaults, the environment and argv (argv[0] is the
 * subcommand). Returns 0; CONFIG_DONE after printing the help or version
 * text; or, after a one-line message on stderr, the exit status to end
 * with (EXIT_USAGE or EXIT_CONFIG).
 */
int	 config_load(struct config *cfg, const char *mode, int argc,
	    char **argv);
void	 config_free(struct config *cfg);

/* Parse seconds ("30", "0.5") into milliseconds in [1, 1 day]. */
int	 config_parse_seconds(const char *s, long *ms);

#endif
