/*
 * worker: one embeddings call, start to finish, in the calling process.
 *
 * The supervisor forks and calls worker_run in the child (fork mode), or
 * execs bin/embedwatch-worker whose thin main does the same (exec mode).
 * worker_run makes exactly one POST {base_url}/embeddings, never retries,
 * reports progress and the outcome on out_fd (see proto_frame.h), and
 * returns the process exit status for its caller to _exit with.
 *
 * Exit statuses (also the table at the top of worker/main.c):
 *   0 ok, 2 http error status, 3 network, 4 curl timeout, 5 bad response,
 *   6 invalid job, 64 usage (main only), 70 could not write the result.
 */
#ifndef EMBEDWATCH_WORKER_H
#define EMBEDWATCH_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "proto_job.h"

#define WORKER_EXIT_OK			0
#define WORKER_EXIT_HTTP		2
#define WORKER_EXIT_NETWORK		3
#define WORKER_EXIT_TIMEOUT		4
#define WORKER_EXIT_BAD_RESPONSE	5
#define WORKER_EXIT_INVALID		6
#define WORKER_EXIT_USAGE		64
#define WORKER_EXIT_INTERNAL		70

/*
 * One-time set-up shared by every call: libcurl's global init and
 * anything expensive and read-only (the parsed CA store for cacert, or
 * the system store when NULL). Call once, while single-threaded, before
 * forking workers. Returns 0, or -1 with a message in err.
 */
int	 worker_global_init(const char *cacert, char *err, size_t errlen);

/* Release what worker_global_init prepared (for leak checkers). */
void	 worker_global_cleanup(void);

/*
 * In the parent, right before forking a worker for job (a warm one's
 * template, or the job itself): prepare what the child would otherwise
 * compute alike in every fork (the TLS session to resume, decoded once).
 * Cheap when nothing changed since the last fork. Exec'd workers do it
 * themselves.
 */
void	 worker_prefork(const struct job *job);

/*
 * Make the call and write its outcome to out_fd: frames when frames is
 * true, else one JSON line shaped like a pipe response without id.
 * Returns a WORKER_EXIT_* status.
 */
int	 worker_run(const struct job *job, int out_fd, bool frames);

struct conn;

/*
 * worker_run on conn, a connection opened ahead (worker_warm_wait; NULL:
 * none): the call goes out on it if it was opened for job's endpoint and
 * is still open, else the ordinary way. Takes conn over in every case.
 */
int	 worker_run_on(const struct job *job, int out_fd, bool frames,
	    struct conn *conn);

/* Close a connection from worker_warm_wait unused. NULL is fine. */
void	 worker_conn_free(struct conn *conn);

/*
 * A warm worker's wait for its job (proto_frame.h has the frames): open
 * a connection for calls like tmpl (its base_url, cacert, insecure,
 * connect timeout and hints) and say so on out_fd ('W'), then wait for
 * job_fd to become readable while watching the connection, at most
 * idle_ms. Returns once job_fd is readable (a job, or EOF: no job will
 * come), with *conn the connection to make the call on, or NULL: it
 * could not connect, or the connection closed or idled out, which was
 * reported ('L') before waiting on. The caller reads the job and calls
 * worker_run_on.
 */
void	 worker_warm_wait(const struct job *tmpl, long idle_ms, int job_fd,
	    int out_fd, struct conn **conn);

/*
 * Report a job that never got as far as worker_run (unreadable, not a
 * job, a CA file that cannot be loaded) as invalid_request with message,
 * after ms milliseconds, shaped exactly like worker_run's output.
 * Returns WORKER_EXIT_INVALID, or WORKER_EXIT_INTERNAL if the outcome
 * could not be written.
 */
int	 worker_refuse(const char *message, long ms, int out_fd, bool frames);

#endif
