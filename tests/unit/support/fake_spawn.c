/*
 * fake_spawn: see fake_spawn.h. Called by the code under test through
 * struct spawner, and by the tests that hold the fakes' other ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "proto_frame.h"
#include "proto_result.h"
#include "support/fake_spawn.h"

/* A pipe with a non-blocking, close-on-exec end for the code under test
 * (rd_nonblock says which) and a blocking one for the test. */
static void
make_pipe(int fds[2], bool rd_nonblock)
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[rd_nonblock ? 0 : 1], F_SETFL, O_NONBLOCK),
	    0);
}

static struct fake_worker *
new_fake(struct fake_spawn *fs)
{
	struct fake_worker *f;

	if (fs->fail_next > 0) {
		fs->fail_next--;
		errno = fs->fail_errno != 0 ? fs->fail_errno : EAGAIN;
		return NULL;
	}
	assert_true(fs->n_fakes < FAKE_SPAWN_MAX);
	f = &fs->fake[fs->n_fakes];
	memset(f, 0, sizeof(*f));
	f->pid = FAKE_SPAWN_PID0 + (pid_t)fs->n_fakes;
	f->out_fd = -1;
	f->job_fd = -1;
	fs->n_fakes++;
	return f;
}

static int
fake_start(void *ctx, const struct job *job, pid_t *pid, int *result_fd)
{
	struct fake_worker *f = new_fake(ctx);
	int fds[2];

	if (f == NULL)
		return -1;
	make_pipe(fds, true);
	f->out_fd = fds[1];
	f->attempt = job->attempt;
	f->timeout_ms = job->timeout_ms;
	*pid = f->pid;
	*result_fd = fds[0];
	return 0;
}

static int
fake_start_warm(void *ctx, const struct job *tmpl, pid_t *pid, int *result_fd,
    int *job_fd)
{
	struct fake_worker *f = new_fake(ctx);
	int out[2], in[2];

	(void)tmpl;
	if (f == NULL)
		return -1;
	make_pipe(out, true);
	make_pipe(in, false);
	f->warm = true;
	f->out_fd = out[1];
	f->job_fd = in[0];
	*pid = f->pid;
	*result_fd = out[0];
	*job_fd = in[1];
	return 0;
}

static int
fake_kill(void *ctx, pid_t pid)
{
	struct fake_worker *f = fake_spawn_by_pid(ctx, pid);

	assert_non_null(f);
	assert_false(f->reaped);	/* never signal a reaped pid */
	f->killed = true;
	f->n_kills++;
	fake_spawn_exit(f, SIGKILL);	/* WIFSIGNALED, WTERMSIG 9 */
	return 0;
}

static pid_t
fake_reap(void *ctx, bool block, bool (*ours)(void *, pid_t), void *arg,
    int *status)
{
	struct fake_spawn *fs = ctx;
	struct fake_worker *f;
	size_t i;

	(void)block;
	for (i = 0; i < fs->n_fakes; i++) {
		f = &fs->fake[i];
		if (!f->exited)
			continue;
		assert_true(ours(arg, f->pid));
		f->exited = false;
		f->reaped = true;
		*status = f->status;
		return f->pid;
	}
	errno = ECHILD;
	return -1;
}

void
fake_spawn_init(struct fake_spawn *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->sp.start = fake_start;
	fs->sp.start_warm = fake_start_warm;
	fs->sp.kill = fake_kill;
	fs->sp.reap = fake_reap;
	fs->sp.ctx = fs;
}

static void
close_end(int *fd)
{
	if (*fd == -1)
		return;
	assert_int_equal(close(*fd), 0);
	*fd = -1;
}

void
fake_spawn_close(struct fake_spawn *fs)
{
	size_t i;

	for (i = 0; i < fs->n_fakes; i++) {
		close_end(&fs->fake[i].out_fd);
		close_end(&fs->fake[i].job_fd);
	}
}

struct fake_worker *
fake_spawn_by_pid(struct fake_spawn *fs, pid_t pid)
{
	size_t i;

	for (i = 0; i < fs->n_fakes; i++)
		if (fs->fake[i].pid == pid)
			return &fs->fake[i];
	return NULL;
}

void
fake_spawn_exit(struct fake_worker *f, int status)
{
	close_end(&f->out_fd);
	close_end(&f->job_fd);
	if (!f->exited && !f->reaped) {
		f->exited = true;
		f->status = status;
	}
}

void
fake_spawn_exit_all(struct fake_spawn *fs)
{
	size_t i;

	for (i = 0; i < fs->n_fakes; i++)
		if (!fs->fake[i].reaped)
			fake_spawn_exit(&fs->fake[i], 0);
}

void
fake_spawn_frame(struct fake_worker *f, char type, const void *p, size_t len)
{
	assert_int_equal(proto_frame_write(f->out_fd, type, p, len), 0);
}

void
fake_spawn_result(struct fake_worker *f, int http_status)
{
	static const char body[] = "\"embeddings\":[[0.5]],\"model\":\"m\","
	    "\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}";
	struct proto_result r;
	struct buf b;

	proto_result_init(&r);
	if (http_status == 0) {
		r.class = PROTO_OK;
		fake_spawn_frame(f, PROTO_FRAME_BODY, body, sizeof(body) - 1);
	} else {
		r.class = PROTO_HTTP;
		r.http_status = http_status;
		(void)snprintf(r.message, sizeof(r.message), "http error");
	}
	buf_init(&b, 1 << 16);
	assert_int_equal(proto_result_encode(&r, &b), 0);
	fake_spawn_frame(f, PROTO_FRAME_RESULT, buf_data(&b), buf_len(&b));
	buf_free(&b);
}

void
fake_spawn_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->base_url = (char *)(uintptr_t)"http://127.0.0.1:9/v1";
	cfg->host = (char *)(uintptr_t)"127.0.0.1";
	cfg->model = (char *)(uintptr_t)"m";
	cfg->timeout_ms = 30000;
	cfg->deadline_ms = 60000;
	cfg->retries = 2;
	cfg->jobs = 4;
	cfg->queue_max = 3;
	cfg->backoff_base_ms = 1;
	cfg->backoff_max_ms = 1;
	cfg->max_response = 1 << 20;
	cfg->max_line = 1 << 20;
}

int
fake_spawn_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	assert_int_equal(closedir(d), 0);
	return n;
}
