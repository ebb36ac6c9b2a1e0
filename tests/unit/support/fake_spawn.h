/*
 * fake_spawn: a struct spawner for unit tests, whose workers are pipes
 * the test holds instead of processes. Used by the tests that drive the
 * slot table, the engine or a session on a real loop (test_slot,
 * test_engine, test_session); linked into every unit test binary.
 *
 * start makes a pipe, hands its non-blocking read end out as the result
 * pipe and keeps the write end as the fake's stdout, where the test
 * writes the worker's frames (fake_spawn_frame, fake_spawn_result).
 * start_warm does the same and also makes the job pipe: its non-blocking
 * write end goes out as the worker's stdin, its read end stays with the
 * fake for the test to read the job from. kill and reap are recorded,
 * never sent: a kill makes the fake exit of SIGKILL, and reap hands out
 * each fake that exited, once. Pids count up from FAKE_SPAWN_PID0, far
 * above any real pid.
 *
 * The fake holds its callers to the rules of struct spawner with cmocka
 * asserts: nothing signals a fake once it is reaped, and every pid reaped
 * is one the caller's ours() claims. A blocking reap cannot wait for a
 * fake (nothing else would make it exit): with none exited it fails with
 * ECHILD like a real one with no children.
 */
#ifndef EMBEDWATCH_FAKE_SPAWN_H
#define EMBEDWATCH_FAKE_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "config/config.h"
#include "core/loop.h"
#include "core/spawn.h"

#define FAKE_SPAWN_MAX	16
#define FAKE_SPAWN_PID0	900000	/* never signalled: kill is faked */

/* One fake worker. The test reads every field and may write to out_fd
 * and set exited and status itself (a worker that exits while another
 * process still holds its stdout). */
struct fake_worker {
	pid_t		 pid;
	int		 out_fd;	/* its stdout, to write; -1: closed */
	int		 job_fd;	/* warm: its stdin, to read; -1: none */
	bool		 warm;		/* started by start_warm */
	unsigned	 attempt;	/* from the job; 0 for a warm one */
	long		 timeout_ms;
	bool		 killed;
	unsigned	 n_kills;	/* kill calls it got */
	bool		 exited;	/* waiting to be reaped */
	bool		 reaped;
	int		 status;	/* wait status, once exited */
};

struct fake_spawn {
	struct spawner	 sp;		/* hand &sp to the code under test */
	struct fake_worker fake[FAKE_SPAWN_MAX];
	size_t		 n_fakes;	/* fakes started */
	unsigned	 fail_next;	/* starts to fail with fail_errno */
	int		 fail_errno;	/* 0: EAGAIN (out of processes) */
};

/* Start with no fakes and sp pointing at this fake spawner. */
void	 fake_spawn_init(struct fake_spawn *fs);

/* Close the test's ends of every fake's pipes. */
void	 fake_spawn_close(struct fake_spawn *fs);

/* The fake with this pid, or NULL. */
struct fake_worker *fake_spawn_by_pid(struct fake_spawn *fs, pid_t pid);

/* The fake exits with wait status status: the kernel closes its stdout
 * and stdin, and it waits to be reaped. A no-op once it has exited. */
void	 fake_spawn_exit(struct fake_worker *f, int status);

/* Every fake not yet reaped exits with status 0. */
void	 fake_spawn_exit_all(struct fake_spawn *fs);

/* Write one frame to f's stdout (asserts it was written). */
void	 fake_spawn_frame(struct fake_worker *f, char type, const void *p,
	    size_t len);

/* f answers: a body and an ok result when http_status is 0, else an
 * http error result with that status. */
void	 fake_spawn_result(struct fake_worker *f, int http_status);

/* A config the engine accepts, for fake workers: 4 jobs, a queue of 3,
 * 2 retries with 1 ms backoff, a 30 s timeout and a 60 s deadline, lines
 * up to 1 MiB; its strings are static. */
void	 fake_spawn_config(struct config *cfg);

/* Descriptors open in this process now, for leak checks. */
int	 fake_spawn_open_fds(void);

/* Turn loop l until cond holds, at most ~2 s; assert that it does
 * (the caller includes <cmocka.h>). */
#define FAKE_SPAWN_TURN_UNTIL(l, cond) do {				\
	int64_t until_ = clock_ms() + 2000;				\
	while (!(cond) && clock_ms() < until_)				\
		assert_int_equal(loop_once((l), 20), 0);		\
	assert_true(cond);						\
} while (0)

#endif
