/*
 * test_session: one JSON-lines session of supervisor/protocol/session,
 * over a socketpair (as a serve connection) and over two pipes (as pipe
 * mode), with an engine on the fake spawner (support/fake_spawn) and a
 * real loop. Proves that a request line becomes one answer line with the
 * same id text; that blank lines are skipped and invalid ones answered
 * invalid_request; that a line of exactly --max-line bytes is taken and
 * a longer one refused, with its id when the id comes early; that cancel
 * and stats ops work; that with the engine full no more lines are parsed
 * and nothing more is read; that a peer hanging up cancels its running
 * requests (their workers killed) and the session is over once none is
 * live, with no descriptor left; that EOF answers everything first and
 * then is over; and that when the reader of the answers leaves, every
 * answer that could not be written is counted lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "core/loop.h"
#include "engine/engine.h"
#include "protocol/session.h"
#include "support/fake_spawn.h"

struct world {
	struct fake_spawn fs;
	struct config	 cfg;
	struct session_params p;	/* for start_session */
	struct loop	*loop;
	struct engine	*engine;
	struct session	*s;
	int		 fds_at_setup;
	int		 peer_w;	/* the client writes requests here */
	int		 peer_r;	/* ... and reads answers here */
	int		 sess_in;	/* the session's ends (pipes) */
	int		 sess_out;
	size_t		 n_answered;	/* by the engine, lost ones too */
	char		 got[1 << 16];	/* answers read so far */
	size_t		 got_len;
	bool		 got_eof;
};

#define TURN_UNTIL(w, cond) FAKE_SPAWN_TURN_UNTIL((w)->loop, cond)

static void
on_answer(void *arg, struct request *req, const struct answer *a)
{
	struct world *w = arg;

	w->n_answered++;
	session_answer(req->owner, req, a);
}

static int
stats_extra(void *arg, char *out, size_t len)
{
	(void)arg;
	return snprintf(out, len, "\"clients\":1");
}

static struct world *
new_world(void)
{
	struct world *w;

	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->fds_at_setup = fake_spawn_open_fds();
	fake_spawn_init(&w->fs);
	fake_spawn_config(&w->cfg);
	w->loop = loop_new();
	assert_non_null(w->loop);
	w->p.name = "test peer";
	return w;
}

static int
setup_socket(void **state)
{
	struct world *w = new_world();
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	w->p.in_fd = w->p.out_fd = sv[0];
	w->p.is_socket = true;
	w->sess_in = w->sess_out = -1;	/* the session closes its socket */
	w->peer_w = w->peer_r = sv[1];
	*state = w;
	return 0;
}

static int
setup_pipes(void **state)
{
	struct world *w = new_world();
	int in[2], out[2];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(fcntl(in[0], F_SETFL, O_NONBLOCK), 0);
	w->p.in_fd = w->sess_in = in[0];
	w->p.out_fd = w->sess_out = out[1];
	w->peer_w = in[1];
	w->peer_r = out[0];
	*state = w;
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd != -1)
		assert_int_equal(close(*fd), 0);
	*fd = -1;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	engine_free(w->engine);
	session_free(w->s);
	loop_free(w->loop);
	fake_spawn_close(&w->fs);
	if (w->peer_r != w->peer_w)
		close_fd(&w->peer_r);
	close_fd(&w->peer_w);
	close_fd(&w->sess_in);
	close_fd(&w->sess_out);
	free(w);
	return 0;
}

/* The engine and the session, after the test set cfg and p. */
static void
start_session(struct world *w)
{
	w->engine = engine_new(&w->cfg, w->loop, NULL, &w->fs.sp, on_answer,
	    w);
	assert_non_null(w->engine);
	w->s = session_new(w->loop, w->engine, &w->cfg, &w->p);
	assert_non_null(w->s);
}

static void
send_text(struct world *w, const char *text)
{
	size_t len = strlen(text);

	assert_int_equal(write(w->peer_w, text, len), (ssize_t)len);
}

/* Read what the session wrote so far; returns the answer lines. */
static size_t
n_answers(struct world *w)
{
	size_t i, n = 0;
	ssize_t got = 0;

	while (w->peer_r != -1 && !w->got_eof) {
		got = read(w->peer_r, w->got + w->got_len,
		    sizeof(w->got) - 1 - w->got_len);
		if (got == 0)
			w->got_eof = true;
		if (got <= 0)
			break;
		w->got_len += (size_t)got;
	}
	assert_true(got == -1 ? errno == EAGAIN : true);
	w->got[w->got_len] = '\0';
	for (i = 0; i < w->got_len; i++)
		if (w->got[i] == '\n')
			n++;
	return n;
}

/* Answer line i (0-based), without its newline, in a static buffer. */
static const char *
answer(struct world *w, size_t i)
{
	static char line[4096];
	const char *p = w->got, *nl;

	while (i-- > 0) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	nl = strchr(p, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - p) < sizeof(line));
	memcpy(line, p, (size_t)(nl - p));
	line[nl - p] = '\0';
	return line;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Start the session and two requests, each on its fake worker. */
static void
start_two(struct world *w)
{
	start_session(w);
	send_text(w, "{\"id\":1,\"input\":\"a\"}\n"
	    "{\"id\":2,\"input\":\"a\"}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 2);
}

/* Fake number i answers ok and exits; it is reaped. */
static void
finish_fake(struct world *w, size_t i)
{
	fake_spawn_result(&w->fs.fake[i], 0);
	fake_spawn_exit(&w->fs.fake[i], 0);
	engine_reap(w->engine);
}

static void
test_roundtrip(void **state)
{
	struct world *w = *state;

	start_session(w);
	send_text(w, "{\"id\":\"q1\",\"input\":\"a\"}\n{\"id\":1e3,"
	    "\"input\":[\"b\",\"c\"]}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 2);
	assert_int_equal(n_answers(w), 0);
	finish_fake(w, 1);
	TURN_UNTIL(w, n_answers(w) == 1);
	assert_true(starts_with(answer(w, 0), "{\"id\":1e3,\"ok\":true,"
	    "\"embeddings\":[[0.5]]"));
	finish_fake(w, 0);
	TURN_UNTIL(w, n_answers(w) == 2);
	assert_true(starts_with(answer(w, 1), "{\"id\":\"q1\",\"ok\":true,"));
	assert_false(session_is_over(w->s));	/* the peer may send more */
	assert_int_equal(engine_stats(w->engine)->requests, 2);
	assert_int_equal(session_n_lost(w->s), 0);
}

static void
test_invalid_and_blank(void **state)
{
	struct world *w = *state;

	start_session(w);
	send_text(w, "\n \t\r\nnot json\n{\"id\":\"x\"}\n"
	    "{\"id\":\"ok\",\"input\":\"a\"}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 1 && n_answers(w) == 2);
	assert_true(starts_with(answer(w, 0), "{\"id\":null,\"ok\":false,"
	    "\"error\":{\"code\":\"invalid_request\""));
	assert_true(starts_with(answer(w, 1), "{\"id\":\"x\",\"ok\":false,"
	    "\"error\":{\"code\":\"invalid_request\""));
	finish_fake(w, 0);
	TURN_UNTIL(w, n_answers(w) == 3);
	assert_true(starts_with(answer(w, 2), "{\"id\":\"ok\",\"ok\":true"));
	assert_int_equal(engine_stats(w->engine)->answered[REQ_INVALID_REQUEST],
	    2);
	assert_int_equal(engine_stats(w->engine)->requests, 3);
}

/* A request line of exactly len bytes (without its newline), id id. */
static void
send_sized(struct world *w, const char *head, size_t len, const char *tail)
{
	char line[512];
	size_t n = strlen(head), pad;

	assert_true(len < sizeof(line) - 1 && len > n + strlen(tail));
	pad = len - n - strlen(tail);
	memcpy(line, head, n);
	memset(line + n, 'x', pad);
	(void)snprintf(line + n + pad, sizeof(line) - n - pad, "%s\n", tail);
	assert_int_equal(strlen(line), len + 1);
	send_text(w, line);
}

static void
test_max_line(void **state)
{
	struct world *w = *state;

	w->cfg.max_line = 64;
	start_session(w);
	send_sized(w, "{\"id\":\"at\",\"input\":\"", 64, "\"}");
	send_sized(w, "{\"id\":\"over\",\"input\":\"", 65, "\"}");
	send_sized(w, "{\"input\":\"", 300, "\",\"id\":\"late\"}");
	send_text(w, "{\"id\":\"after\",\"input\":\"a\"}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 2 && n_answers(w) == 2);
	assert_true(starts_with(answer(w, 0), "{\"id\":\"over\",\"ok\":false,"
	    "\"error\":{\"code\":\"invalid_request\",\"message\":\"request "
	    "line longer than 64 bytes (--max-line)\""));
	assert_true(starts_with(answer(w, 1), "{\"id\":null,\"ok\":false,"
	    "\"error\":{\"code\":\"invalid_request\",\"message\":\"request "
	    "line longer than 64 bytes"));
	finish_fake(w, 0);
	finish_fake(w, 1);
	TURN_UNTIL(w, n_answers(w) == 4);
	assert_true(starts_with(answer(w, 2), "{\"id\":\"at\",\"ok\":true"));
	assert_true(starts_with(answer(w, 3), "{\"id\":\"after\",\"ok\":true"));
}

static void
test_cancel_and_stats(void **state)
{
	struct world *w = *state;

	w->p.stats_extra = stats_extra;
	start_session(w);
	send_text(w, "{\"id\":\"c\",\"input\":\"a\"}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 1);
	/* Nothing in flight by that id: no answer of its own. */
	send_text(w, "{\"op\":\"cancel\",\"id\":\"nope\"}\n"
	    "{\"op\":\"cancel\",\"id\":\"c\"}\n");
	TURN_UNTIL(w, n_answers(w) == 1);
	assert_true(starts_with(answer(w, 0), "{\"id\":\"c\",\"ok\":false,"
	    "\"error\":{\"code\":\"cancelled\""));
	assert_true(w->fs.fake[0].killed);
	send_text(w, "{\"op\":\"stats\",\"id\":\"s\"}\n{\"op\":\"stats\"}\n");
	TURN_UNTIL(w, n_answers(w) == 3);
	assert_true(starts_with(answer(w, 1), "{\"id\":\"s\",\"ok\":true,"
	    "\"stats\":{\"requests\":1,\"ok\":0,"));
	assert_non_null(strstr(answer(w, 1), "\"cancelled\":1"));
	assert_non_null(strstr(answer(w, 1), ",\"clients\":1}}"));
	assert_true(starts_with(answer(w, 2), "{\"id\":null,\"ok\":true,"
	    "\"stats\":{"));
}

static int
unread_bytes(int fd)
{
	int n;

	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

static void
test_backpressure(void **state)
{
	struct world *w = *state;
	const char *more = "{\"id\":5,\"input\":\"a\"}\n";
	size_t i;
	int t;

	w->cfg.jobs = 1;
	w->cfg.queue_max = 1;
	start_session(w);
	send_text(w, "{\"id\":1,\"input\":\"a\"}\n{\"id\":2,\"input\":\"a\"}\n"
	    "{\"id\":3,\"input\":\"a\"}\n{\"id\":4,\"input\":\"a\"}\n");
	TURN_UNTIL(w, w->fs.n_fakes == 1 && engine_is_full(w->engine));
	send_text(w, more);
	for (t = 0; t < 20; t++)
		assert_int_equal(loop_once(w->loop, 5), 0);
	/* One running, one waiting; the rest not parsed, and not read. */
	assert_int_equal(engine_stats(w->engine)->requests, 2);
	assert_int_equal(unread_bytes(w->sess_in), (int)strlen(more));
	for (i = 0; i < 5; i++) {
		TURN_UNTIL(w, w->fs.n_fakes == i + 1);
		assert_true(engine_stats(w->engine)->requests <= i + 2);
		finish_fake(w, i);
	}
	TURN_UNTIL(w, n_answers(w) == 5);
	assert_int_equal(unread_bytes(w->sess_in), 0);
	for (i = 0; i < 5; i++)
		assert_non_null(strstr(answer(w, i), "\"ok\":true"));
}

static void
test_hang_up_cancels(void **state)
{
	struct world *w = *state;

	start_two(w);
	close_fd(&w->peer_w);
	w->peer_r = -1;
	TURN_UNTIL(w, session_is_over(w->s));
	assert_true(w->fs.fake[0].killed);
	assert_true(w->fs.fake[1].killed);
	assert_true(session_output_lost(w->s));
	assert_int_equal(session_n_lost(w->s), 2);
	assert_int_equal(w->n_answered, 2);
	assert_int_equal(engine_stats(w->engine)->answered[REQ_CANCELLED], 2);
	/* Workers reaped, socket closed: nothing left open. */
	engine_reap(w->engine);
	TURN_UNTIL(w, engine_is_idle(w->engine));
	fake_spawn_close(&w->fs);
	assert_int_equal(fake_spawn_open_fds(), w->fds_at_setup);
}

/* The client is done sending: what it sent is answered, then over. */
static void
end_input(struct world *w)
{
	if (w->p.is_socket)
		assert_int_equal(shutdown(w->peer_w, SHUT_WR), 0);
	else
		close_fd(&w->peer_w);
}

static void
test_eof_answers_first(void **state)
{
	struct world *w = *state;

	start_session(w);
	/* The last line has no newline: still a line at EOF. */
	send_text(w, "{\"id\":1,\"input\":\"a\"}\n{\"id\":2,\"input\":\"a\"}");
	end_input(w);
	TURN_UNTIL(w, w->fs.n_fakes == 2);
	for (int t = 0; t < 5; t++)
		assert_int_equal(loop_once(w->loop, 5), 0);
	assert_false(session_is_over(w->s));
	finish_fake(w, 0);
	TURN_UNTIL(w, n_answers(w) == 1);
	assert_false(session_is_over(w->s));
	finish_fake(w, 1);
	TURN_UNTIL(w, n_answers(w) == 2 && session_is_over(w->s));
	assert_false(w->fs.fake[0].killed);
	assert_false(w->fs.fake[1].killed);
	assert_false(session_output_lost(w->s));
	assert_int_equal(session_n_lost(w->s), 0);
	assert_true(starts_with(answer(w, 1), "{\"id\":2,\"ok\":true"));
	if (w->p.is_socket)		/* it closed its end: EOF here */
		TURN_UNTIL(w, n_answers(w) == 2 && w->got_eof);
}

static void
test_output_lost(void **state)
{
	struct world *w = *state;

	start_two(w);
	close_fd(&w->peer_r);
	/* The first answer cannot be written; the other request is
	 * cancelled, its answer lost too. */
	finish_fake(w, 0);
	TURN_UNTIL(w, session_output_lost(w->s) && session_is_over(w->s));
	assert_true(w->fs.fake[1].killed);
	assert_int_equal(session_n_lost(w->s), 2);
	assert_false(session_has_output(w->s));
	assert_true(session_flush(w->s));
}

#define BOTH(fn) \
	{ #fn "_socket", fn, setup_socket, teardown, NULL }, \
	{ #fn "_pipes", fn, setup_pipes, teardown, NULL }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_roundtrip),
		BOTH(test_invalid_and_blank),
		BOTH(test_max_line),
		BOTH(test_cancel_and_stats),
		BOTH(test_eof_answers_first),
		cmocka_unit_test_setup_teardown(test_backpressure, setup_pipes,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hang_up_cancels,
		    setup_socket, teardown),
		cmocka_unit_test_setup_teardown(test_output_lost, setup_pipes,
		    teardown),
	};

	/* As the supervisor does: EPIPE is handled where it happens. */
	(void)signal(SIGPIPE, SIG_IGN);
	log_init("test_session", LOG_LEVEL_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
