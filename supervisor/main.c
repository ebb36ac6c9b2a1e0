/*
 * embedwatch: the supervisor. Parses the command line and runs one mode
 * in three phases: init (may exit with a clear message: the config, the
 * log, the worker's TLS store, the loop and signals, then the mode's own
 * files and sockets), the loop (core/loop, the only one; it never stops
 * because one request failed), finish (the mode's: stop reading, drain,
 * kill, reap, flush, and the exit status).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "batch/batch.h"
#include "config/config.h"
#include "config/options.h"
#include "log.h"
#include "pipe/pipe.h"
#include "serve/serve.h"
#include "core/signals.h"
#include "url.h"
#include "worker.h"

extern char **environ;

struct mode {
	const char	*name;
	void		*(*init)(const struct config *, struct loop *,
			    struct signals *, int *);
	int		 (*finish)(void *, int);
};

static const struct mode modes[] = {
	{ "pipe", pipe_init, pipe_finish },
	{ "batch", batch_init, batch_finish },
	{ "serve", serve_init, serve_finish },
	{ NULL, NULL, NULL }
};

/*
 * The key lives in our memory: no core dump may write it out and no
 * process of our uid may read it through ptrace or /proc/PID/mem, however
 * the environment set RLIMIT_CORE. Workers do the same (core/spawn,
 * worker/main.c). Failures are ignored: nothing else can be done and the
 * calls fail only on kernels without them.
 */
static void
no_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static const struct mode *
mode_named(const char *name)
{
	const struct mode *m;

	for (m = modes; m->name != NULL; m++)
		if (strcmp(name, m->name) == 0)
			return m;
	return NULL;
}

/* embedwatch help [CMD] (or --help, -h): the help of one command, or of
 * them all. */
static int
help(int argc, char **argv)
{
	if (argc > 3)
		return options_fail(EXIT_USAGE, "unexpected argument '%s'",
		    argv[3]);
	if (argc == 3 && mode_named(argv[2]) == NULL &&
	    strcmp(argv[2], "help") != 0)
		return options_fail(EXIT_USAGE, "unknown command '%s'; the "
		    "commands are pipe, batch, serve and help", argv[2]);
	if (options_usage(stdout, argc == 3 ? argv[2] : NULL) == -1)
		return EXIT_SOFTWARE;
	return 0;
}

int
main(int argc, char **argv)
{
	const struct mode *m;
	struct config cfg;
	struct signals *sigs = NULL;
	struct loop *loop = NULL;
	char err[256], *shown_url;
	void *state;
	int status;

	no_core_dumps();
	setproctitle_init(argc, argv, environ);
	if (argc < 2)
		return options_fail(EXIT_USAGE, "no command given; the commands "
		    "are pipe, batch, serve and help");
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)
		return help(argc, argv);
	if (strcmp(argv[1], "--version") == 0) {
		status = config_load(&cfg, "pipe", argc, argv);
		config_free(&cfg);
		return status == CONFIG_DONE ? 0 : status;
	}
	m = mode_named(argv[1]);
	if (m == NULL)
		return options_fail(EXIT_USAGE, "unknown command '%s'; the "
		    "commands are pipe, batch, serve and help", argv[1]);

	/* Init. */
	status = config_load(&cfg, argv[1], argc - 1, argv + 1);
	if (status != 0) {
		config_free(&cfg);
		return status == CONFIG_DONE ? 0 : status;
	}
	log_init("embedwatch", cfg.log_level, cfg.log_json);
	if (cfg.log_file != NULL && log_open_file(cfg.log_file) == -1) {
		log_error("cannot open log file '%s': %s", cfg.log_file,
		    strerror(errno));
		config_free(&cfg);
		return EXIT_CANTCREAT;
	}
	if (cfg.worker_path == NULL &&
	    worker_global_init(cfg.cacert, err, sizeof(err)) == -1) {
		log_error("cannot initialise the worker: %s", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	loop = loop_new();
	if (loop != NULL)
		sigs = sig_open(loop);
	if (sigs == NULL) {
		log_error("cannot set up the loop and signals: %s",
		    strerror(errno));
		status = EXIT_SOFTWARE;
		goto out;
	}
	shown_url = url_shown(cfg.base_url);
	log_debug("%s: %s, model %s, %u jobs, timeout %ld ms, deadline "
	    "%ld ms, %s worker%s%s", m->name, shown_url != NULL ? shown_url :
	    "(out of memory)", cfg.model, cfg.jobs,
	    cfg.timeout_ms, cfg.deadline_ms,
	    cfg.worker_path != NULL ? "exec" : "forked",
	    cfg.worker_path != NULL ? " " : "",
	    cfg.worker_path != NULL ? cfg.worker_path : "");
	free(shown_url);
	state = m->init(&cfg, loop, sigs, &status);

	/* Loop and finish. */
	if (state != NULL)
		status = m->finish(state, loop_run(loop));
out:
	sig_close(sigs);
	loop_free(loop);
	if (cfg.worker_path == NULL)
		worker_global_cleanup();
	config_free(&cfg);
	return status;
}
