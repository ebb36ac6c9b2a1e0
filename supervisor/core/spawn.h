/*
 * spawn: start one worker process for one job.
 *
 * Fork mode (worker_path NULL): the child runs worker_run from worker/ in
 * the forked image, so libcurl and OpenSSL, initialised once before the
 * first fork, are not loaded again. Exec mode: the child execs
 * worker_path --frames with the job as JSON on stdin (a memfd) and a
 * minimal environment that carries the API key.
 *
 * Either way the child resets signals, joins a process group of its own
 * (the parent calls setpgid too, so the group exists before anyone can
 * signal it), asks for SIGKILL when its parent dies and then checks that
 * the parent did not already die, closes every stray descriptor, drops
 * core dumps and caps its address space. Its stdout is the write end of
 * the result pipe; stderr is shared with the supervisor.
 *
 * spawn_kill and spawn_reap are the only places that signal or wait for
 * children. The engine reaches all four through a struct spawner, so its
 * unit tests can drive it with fake workers whose frames they write.
 */
#ifndef EMBEDWATCH_SPAWN_H
#define EMBEDWATCH_SPAWN_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "proto_job.h"

struct spawn_opts {
	const char	*worker_path;	/* NULL: fork mode */
	const char	*api_key;	/* for warm workers; NULL: none */
	long		 warm_idle_ms;	/* a warm worker's connection */
	rlim_t		 memory;	/* RLIMIT_AS; 0: none */
	unsigned	 fail_every;	/* test hook: fail every Nth spawn */
};

/*
 * Start a worker for job. Returns 0 with the child's pid in *pid and the
 * read end of its result pipe (non-blocking, close-on-exec) in *result_fd,
 * both owned by the caller; or -1 with errno, leaving nothing behind.
 */
int	 spawn_worker(const struct spawn_opts *opts, const struct job *job,
	    pid_t *pid, int *result_fd);

/*
 * Start a warm worker: set up like any other, it connects ahead for
 * calls like tmpl (base_url, cacert, insecure, connect timeout, hints;
 * the rest is ignored), says so in a 'W' frame and then waits for its
 * job as JSON on its stdin (worker_warm_wait), so the fork (or exec),
 * DNS, TCP and TLS are paid before a request needs them: the caller
 * writes the job (proto_job_to_json) to *job_fd, the non-blocking write
 * end of its stdin, and closes it; the worker reads to EOF. A worker
 * that loses its connection says so ('L') and exits at EOF. Returns 0
 * with *pid and *result_fd as spawn_worker, or -1 with errno.
 */
int	 spawn_warm(const struct spawn_opts *opts, const struct job *tmpl,
	    pid_t *pid, int *result_fd, int *job_fd);

/*
 * SIGKILL pid's process group, or pid alone if the group is gone.
 * Safe exactly while pid is an unreaped child of ours: until it is
 * reaped, even a zombie keeps its pid and group. Returns 0 or -1 with
 * errno.
 */
int	 spawn_kill(pid_t pid);

/*
 * Reap one exited child: look at it first (waitid with WNOWAIT) and, if
 * ours(arg, pid) says it is one of ours, SIGKILL its group while the
 * zombie still pins the pid, so nothing it left behind outlives it; then
 * reap it. Strangers are reaped too. block waits for a child to exit.
 * Returns the pid with its wait status in *status; 0 when none has
 * exited (without block); -1 with errno (ECHILD: no children).
 */
pid_t	 spawn_reap(bool block, bool (*ours)(void *arg, pid_t pid), void *arg,
	    int *status);

/*
 * How the engine starts, kills and reaps workers: the functions above
 * over a struct spawn_opts (spawner_init), or a test's fakes. Each
 * member behaves as the function of the same name; ctx is passed first.
 */
struct spawner {
	int	(*start)(void *ctx, const struct job *job, pid_t *pid,
		    int *result_fd);
	int	(*start_warm)(void *ctx, const struct job *tmpl, pid_t *pid,
		    int *result_fd, int *job_fd);
	int	(*kill)(void *ctx, pid_t pid);
	pid_t	(*reap)(void *ctx, bool block,
		    bool (*ours)(void *arg, pid_t pid), void *arg, int *status);
	bool	 warm_reports;	/* warm workers send 'W' when ready */
	void	*ctx;
};

/* The real spawner over opts, which must outlive it. */
void	 spawner_init(struct spawner *sp, struct spawn_opts *opts);

#endif
