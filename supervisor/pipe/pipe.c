/*
 * pipe: see pipe.h. One session (protocol/session) over stdin and stdout;
 * this file adds only the mode's lifecycle: stdout switched to
 * non-blocking (so a slow reader never stalls the loop, and deadlines
 * are kept) and restored on the way out, SIGTERM and SIGINT as a drain,
 * the stop once the session is over and the engine idle, and the exit
 * status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "engine/engine.h"
#include "pipe/pipe.h"
#include "protocol/session.h"

#define EXIT_OUTPUT_LOST	74	/* EX_IOERR */

struct pipe_mode {
	const struct config	*cfg;
	struct loop		*loop;
	struct signals		*sigs;
	struct engine		*engine;
	struct session		*session;
	int			 out_flags;	/* stdout's, to restore */
	bool			 draining;	/* a first SIGTERM came */
	bool			 lost;		/* stdout went away */
};

static void
on_terminate(void *arg, int signo)
{
	struct pipe_mode *pm = arg;

	log_info("%s: %s", strsignal(signo), pm->draining ?
	    "stopping in-flight work now" : "no more input; draining");
	pm->draining = true;
	session_stop_reading(pm->session);
	engine_shutdown(pm->engine, clock_ms(), pm->cfg->drain_ms);
}

/* LOOP_OUTPUT, after the session's own: stop when all is done. */
static void
check_done(void *arg, int64_t now)
{
	struct pipe_mode *pm = arg;

	if (session_output_lost(pm->session) && !pm->lost) {
		/* Nobody hears the answers: stop the work now. */
		pm->lost = true;
		engine_shutdown(pm->engine, now, 0);
	}
	if (session_is_over(pm->session) && engine_is_idle(pm->engine))
		loop_stop(pm->loop);
}

void *
pipe_init(const struct config *cfg, struct loop *l, struct signals *sigs,
    int *status)
{
	struct session_params sp;
	struct pipe_mode *pm;

	*status = EXIT_SOFTWARE;
	pm = calloc(1, sizeof(*pm));
	if (pm == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return NULL;
	}
	*pm = (struct pipe_mode){ .cfg = cfg, .loop = l, .sigs = sigs };
	pm->out_flags = io_set_nonblock(STDOUT_FILENO, true);
	if (pm->out_flags == -1) {
		log_error("cannot use stdout: %s", strerror(errno));
		free(pm);
		return NULL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.in_fd = STDIN_FILENO;
	sp.out_fd = STDOUT_FILENO;
	sp.name = "stdout";
	pm->engine = engine_new(cfg, l, sigs, NULL, session_answer, NULL);
	if (pm->engine != NULL)
		pm->session = session_new(l, pm->engine, cfg, &sp);
	if (pm->session == NULL || loop_add_hook(l, LOOP_OUTPUT, check_done,
	    pm) == -1) {
		log_error("cannot start: %s", strerror(errno));
		(void)pipe_finish(pm, -1);
		return NULL;
	}
	sig_on_terminate(sigs, on_terminate, pm);
	return pm;
}

int
pipe_finish(void *state, int loop_status)
{
	struct pipe_mode *pm = state;
	const struct engine_stats *st;
	int status = loop_status == 0 ? 0 : EXIT_SOFTWARE;
	uint64_t lost;

	sig_on_terminate(pm->sigs, NULL, NULL);
	loop_remove_hook(pm->loop, LOOP_OUTPUT, check_done, pm);
	if (pm->engine != NULL) {
		/* Whatever is still live is killed, reaped and answered. */
		st = engine_stats(pm->engine);
		log_info("done: %llu requests, %llu ok, %llu failed; %llu "
		    "workers, %llu killed, %llu retries",
		    (unsigned long long)st->requests,
		    (unsigned long long)st->answered[REQ_OK],
		    (unsigned long long)(st->requests - st->answered[REQ_OK]),
		    (unsigned long long)st->workers_started,
		    (unsigned long long)st->workers_killed,
		    (unsigned long long)st->retries);
		engine_free(pm->engine);
	}
	if (pm->session != NULL) {
		(void)io_set_nonblock(STDOUT_FILENO, false);
		(void)session_flush(pm->session);
		if ((pm->out_flags & O_NONBLOCK) != 0)
			(void)io_set_nonblock(STDOUT_FILENO, true);
		lost = session_n_lost(pm->session) +
		    (session_has_output(pm->session) ? 1 : 0);
		if (session_output_lost(pm->session) || lost > 0) {
			log_error("%llu answers could not be written",
			    (unsigned long long)lost);
			status = EXIT_OUTPUT_LOST;
		}
		session_free(pm->session);
	} else if (pm->out_flags != -1 && (pm->out_flags & O_NONBLOCK) == 0)
		(void)io_set_nonblock(STDOUT_FILENO, false);
	free(pm);
	return status;
}
