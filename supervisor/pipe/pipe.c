/*
 * pipe: see pipe.h. Called by main after init; runs the loop and the
 * finish phase.
 *
 * Backpressure: complete lines are parsed only while the engine has room
 * in its queue, and stdin is read only when no complete line is waiting
 * and the output backlog is small. So memory is bounded by the queue,
 * one line buffer (--max-line) and the answers of the workers in flight,
 * however fast lines arrive or however slowly stdout is drained.
 *
 * stdout is switched to non-blocking so a slow reader never stalls the
 * loop (and so deadlines are kept); its flags are restored on the way
 * out. stdin is read only after poll says it is readable.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "engine/engine.h"
#include "io.h"
#include "protocol/lines.h"
#include "log.h"
#include "pipe/pipe.h"
#include "engine/request.h"
#include "protocol/jsonl.h"
#include "core/signals.h"

#define READ_CHUNK		(64 * 1024)
#define OUT_HIGH_WATER		(4 * 1024 * 1024)
#define EXIT_OUTPUT_LOST	74	/* EX_IOERR */

struct pipe_state {
	const struct config	*cfg;
	struct engine		*engine;
	struct lines		 in;		/* stdin, line by line */
	struct buf		 out;		/* answers not yet written */
	bool			 in_open;	/* still reading stdin */
	bool			 out_broken;	/* stdout is gone */
	uint64_t		 lost;		/* answers we could not write */
};

static void
emit(struct pipe_state *ps, const char *id_json, const struct answer *a)
{
	if (ps->out_broken) {
		ps->lost++;
		return;
	}
	if (jsonl_format_answer(&ps->out, id_json, a) == -1) {
		/* Only memory can fail here; the request still needs its
		 * one answer, so say so in the smallest line there is. */
		log_error("cannot format answer for %s: %s",
		    id_json != NULL ? id_json : "null", strerror(errno));
		ps->lost++;
	}
}

static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	emit(arg, req->id_json, a);
}

static void
answer_invalid(struct pipe_state *ps, const char *id_json, const char *msg)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.code = REQ_INVALID_REQUEST;
	a.message = msg;
	log_debug("invalid request %s: %s", id_json != NULL ? id_json : "null",
	    msg);
	emit(ps, id_json, &a);
}

static bool
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void
handle_line(struct pipe_state *ps, const char *line, size_t len, int64_t now)
{
	struct request *req;
	char err[256], *id_json;

	if (is_blank(line, len))
		return;
	req = jsonl_parse_request(line, len, &id_json, err, sizeof(err));
	if (req == NULL) {
		engine_count(ps->engine, REQ_INVALID_REQUEST);
		answer_invalid(ps, id_json, err);
		free(id_json);
		return;
	}
	switch (req->op) {
	case REQ_OP_EMBED:
		req->owner = ps;
		engine_submit(ps->engine, req, now);
		return;
	case REQ_OP_CANCEL:
		/* Answered through the request it names, if still live. */
		if (engine_cancel(ps->engine, ps, req->id_json, now) == 0)
			log_debug("cancel of %s: no such request in flight",
			    req->id_json);
		break;
	case REQ_OP_STATS:
		if (!ps->out_broken && engine_format_stats(ps->engine,
		    &ps->out, req->id_json, NULL, now) == -1)
			log_error("cannot format stats: %s", strerror(errno));
		break;
	}
	request_free(req);
}

/* Hand complete lines to the engine while it has room. */
static void
parse_lines(struct pipe_state *ps, int64_t now)
{
	const char *line;
	size_t len;

	while (!engine_is_full(ps->engine) &&
	    lines_next(&ps->in, &line, &len))
		handle_line(ps, line, len, now);
}

static void
read_input(struct pipe_state *ps)
{
	char msg[128], *id_json;
	const char *head;
	size_t len;

	switch (lines_read(&ps->in, STDIN_FILENO, READ_CHUNK)) {
	case LINES_OK:
	case LINES_AGAIN:
		return;
	case LINES_EOF:
		ps->in_open = false;
		return;
	case LINES_TOO_LONG:
		(void)snprintf(msg, sizeof(msg), "request line longer than "
		    "%zu bytes (--max-line)", ps->cfg->max_line);
		head = lines_head(&ps->in, &len);
		id_json = jsonl_peek_id(head, len);
		engine_count(ps->engine, REQ_INVALID_REQUEST);
		answer_invalid(ps, id_json, msg);
		free(id_json);
		return;
	case LINES_ERROR:
		log_error("cannot read stdin: %s", strerror(errno));
		ps->in_open = false;
		lines_close(&ps->in);
		return;
	}
}

static void
write_output(struct pipe_state *ps, int64_t now)
{
	ssize_t n;

	while (buf_len(&ps->out) > 0 && !ps->out_broken) {
		n = buf_write_fd(&ps->out, STDOUT_FILENO);
		if (n > 0)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		log_error("cannot write answers to stdout: %s; stopping",
		    n == 0 ? "no progress" : strerror(errno));
		ps->out_broken = true;
		ps->in_open = false;
		lines_close(&ps->in);
		buf_free(&ps->out);
		engine_shutdown(ps->engine, now, 0);
	}
}

static bool
want_input(const struct pipe_state *ps)
{
	return ps->in_open && !engine_is_full(ps->engine) &&
	    !lines_ready(&ps->in) && buf_len(&ps->out) < OUT_HIGH_WATER;
}

static int
loop(struct pipe_state *ps, int sig_fd)
{
	struct sig_events ev;
	struct pollfd *pfd;
	size_t n, max, i_in, i_out, n_eng;
	int64_t now;
	int timeout, r;

	max = 3 + engine_max_workers(ps->engine);
	pfd = calloc(max, sizeof(*pfd));
	if (pfd == NULL) {
		log_error("cannot allocate the poll set: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		now = clock_ms();
		parse_lines(ps, now);
		engine_run_due(ps->engine, now);
		write_output(ps, now);
		if (lines_done(&ps->in) && engine_is_idle(ps->engine) &&
		    (buf_len(&ps->out) == 0 || ps->out_broken))
			break;

		n = 0;
		pfd[n].fd = sig_fd;
		pfd[n++].events = POLLIN;
		i_in = i_out = SIZE_MAX;
		if (want_input(ps)) {
			i_in = n;
			pfd[n].fd = STDIN_FILENO;
			pfd[n++].events = POLLIN;
		}
		if (buf_len(&ps->out) > 0 && !ps->out_broken) {
			i_out = n;
			pfd[n].fd = STDOUT_FILENO;
			pfd[n++].events = POLLOUT;
		}
		n_eng = engine_pollfds(ps->engine, pfd + n, max - n);
		/* Fresh time: spawning in this turn may have taken a while. */
		now = clock_ms();
		timeout = engine_timeout_ms(ps->engine, now);
		if (!lines_done(&ps->in) && !ps->in_open &&
		    !engine_is_full(ps->engine))
			timeout = 0;

		r = poll(pfd, n + n_eng, timeout);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			free(pfd);
			return -1;
		}
		if (pfd[0].revents != 0) {
			if (sig_read(sig_fd, &ev) == -1)
				log_error("cannot read signals: %s",
				    strerror(errno));
			if (ev.child)
				engine_reap(ps->engine);
			if (ev.terminate) {
				log_info("%s: %s", strsignal(ev.last_signo),
				    ps->in_open ? "no more input; draining" :
				    "stopping in-flight work now");
				ps->in_open = false;
				lines_close(&ps->in);
				engine_shutdown(ps->engine, clock_ms(),
				    ps->cfg->drain_ms);
			}
		}
		if (i_in != SIZE_MAX && pfd[i_in].revents != 0)
			read_input(ps);
		if (i_out != SIZE_MAX && pfd[i_out].revents != 0)
			write_output(ps, clock_ms());
		engine_handle_pollfds(ps->engine, pfd + n, n_eng);
	}
	free(pfd);
	return 0;
}

int
pipe_run(const struct config *cfg, int sig_fd)
{
	struct pipe_state ps;
	const struct engine_stats *st;
	int out_flags, status = 0;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.in_open = true;
	lines_init(&ps.in, cfg->max_line);
	buf_init(&ps.out, SIZE_MAX / 2);
	ps.engine = engine_new(cfg, on_answer, &ps);
	if (ps.engine == NULL) {
		log_error("cannot start: %s", strerror(errno));
		return EXIT_SOFTWARE;
	}
	out_flags = io_set_nonblock(STDOUT_FILENO, true);
	if (out_flags == -1) {
		log_error("cannot use stdout: %s", strerror(errno));
		engine_free(ps.engine);
		return EXIT_SOFTWARE;
	}

	if (loop(&ps, sig_fd) == -1)
		status = EXIT_SOFTWARE;

	/* Finish: whatever is still live is killed, reaped and answered. */
	st = engine_stats(ps.engine);
	log_info("done: %llu requests, %llu ok, %llu failed; %llu workers, "
	    "%llu killed, %llu retries", (unsigned long long)st->requests,
	    (unsigned long long)st->answered[REQ_OK],
	    (unsigned long long)(st->requests - st->answered[REQ_OK]),
	    (unsigned long long)st->workers_started,
	    (unsigned long long)st->workers_killed,
	    (unsigned long long)st->retries);
	engine_free(ps.engine);
	(void)io_set_nonblock(STDOUT_FILENO, false);
	while (buf_len(&ps.out) > 0 && !ps.out_broken &&
	    buf_write_fd(&ps.out, STDOUT_FILENO) > 0)
		continue;
	if ((out_flags & O_NONBLOCK) != 0)
		(void)io_set_nonblock(STDOUT_FILENO, true);
	if (ps.out_broken || buf_len(&ps.out) > 0) {
		log_error("%llu answers could not be written",
		    (unsigned long long)(ps.lost + (buf_len(&ps.out) > 0)));
		status = EXIT_OUTPUT_LOST;
	}
	lines_free(&ps.in);
	buf_free(&ps.out);
	return status;
}
