/*
 * spawn: see spawn.h. Everything the child needs is prepared before
 * fork(); the supervisor is single-threaded, so the child may call into
 * libc and libcurl freely. Nothing in the child returns into supervisor
 * code: it ends in _exit or exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "proto_frame.h"
#include "core/signals.h"
#include "core/spawn.h"
#include "worker.h"

#define EXEC_FAILED	127

extern char **environ;

/*
 * The number of the worker being started, counted from 1 over the life of
 * the supervisor: its process title ("worker 17 attempt 2") shows this,
 * never the request's id, which ps would show to every user.
 */
static unsigned long worker_no;

/* What an exec'd worker takes from our environment besides PATH and the
 * key: the proxies libcurl reads (the fork worker reads them anyway) and
 * the journal's stream, for log priorities. */
static const char *const passed_env[] = {
	"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	"no_proxy", "NO_PROXY", "JOURNAL_STREAM"
};

#define N_PASSED_ENV	(sizeof(passed_env) / sizeof(passed_env[0]))
#define EXEC_ENV_MAX	(2 + N_PASSED_ENV + 1)

/* Write the job's JSON into a sealed-off memory file for the child's
 * stdin: writing it never blocks, whatever its size. */
static int
job_memfd(const struct job *job)
{
	struct buf b;
	int fd = -1, saved;

	buf_init(&b, PROTO_FRAME_MAX);
	if (proto_job_to_json(job, &b) == -1 || buf_append(&b, "\n", 1) == -1)
		goto fail;
	fd = memfd_create("embedwatch-job", MFD_CLOEXEC);
	if (fd == -1)
		goto fail;
	if (io_write_all(fd, buf_data(&b), buf_len(&b)) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1)
		goto fail;
	buf_free(&b);
	return fd;
fail:
	saved = errno;
	if (fd != -1)
		(void)close(fd);
	buf_free(&b);
	errno = saved;
	return -1;
}

/* A warm worker in fork mode: read the job, then run it. */
static int
run_warm(const struct spawn_opts *opts)
{
	struct job *job;
	char *text, err[256];
	size_t len;
	int status;

	text = io_slurp(STDIN_FILENO, (size_t)PROTO_FRAME_MAX, &len);
	if (text == NULL || len == 0)
		return WORKER_EXIT_INTERNAL;	/* no job: supervisor gone */
	job = proto_job_parse(text, len, NULL, err, sizeof(err));
	free(text);
	if (job == NULL) {
		log_error("warm worker: %s", err);
		return WORKER_EXIT_INTERNAL;
	}
	job->api_key = opts->api_key;
	setproctitle("worker %lu attempt %u", worker_no, job->attempt);
	status = worker_run(job, STDOUT_FILENO, true);
	proto_job_free(job);
	return status;
}

/* The child's side, up to running the worker or exec. job is NULL for a
 * warm worker. Never returns. */
static void __attribute__((noreturn))
child(const struct spawn_opts *opts, const struct job *job, pid_t parent,
    int stdin_fd, int result_fd, char *const envp[])
{
	char *argv[5], number[24];
	struct rlimit rl;
	int status;

	sig_child_reset();
	(void)setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(EXEC_FAILED);
	if (dup2(stdin_fd, STDIN_FILENO) == -1 ||
	    dup2(result_fd, STDOUT_FILENO) == -1)
		_exit(EXEC_FAILED);
	closefrom(STDERR_FILENO + 1);

	rl.rlim_cur = rl.rlim_max = 0;
	(void)setrlimit(RLIMIT_CORE, &rl);
#ifndef __SANITIZE_ADDRESS__
	/* ASan reserves terabytes of address space; it cannot run capped. */
	if (opts->memory > 0) {
		rl.rlim_cur = rl.rlim_max = opts->memory;
		(void)setrlimit(RLIMIT_AS, &rl);
	}
#endif
	if (opts->worker_path == NULL && job == NULL) {
		setproctitle("worker (warm)");
		_exit(run_warm(opts));
	}
	if (opts->worker_path == NULL) {
		setproctitle("worker %lu attempt %u", worker_no, job->attempt);
		status = worker_run(job, STDOUT_FILENO, true);
		_exit(status);
	}
	argv[0] = (char *)(uintptr_t)opts->worker_path;
	argv[1] = (char *)(uintptr_t)"--frames";
	argv[2] = (char *)(uintptr_t)"--number";
	(void)snprintf(number, sizeof(number), "%lu", worker_no);
	argv[3] = number;
	argv[4] = NULL;
	execve(opts->worker_path, argv, envp);
	_exit(EXEC_FAILED);
}

/* The environment of an exec'd worker: a PATH, passed_env and the key.
 * The passed entries point into environ, valid until the fork. */
static int
exec_env(const struct spawn_opts *opts, char *envp[EXEC_ENV_MAX],
    char **key_env)
{
	size_t i, n = 0, len;
	char **e;

	envp[n++] = (char *)(uintptr_t)"PATH=/usr/local/bin:/usr/bin:/bin";
	for (i = 0; i < N_PASSED_ENV; i++) {
		len = strlen(passed_env[i]);
		for (e = environ; *e != NULL; e++)
			if (strncmp(*e, passed_env[i], len) == 0 &&
			    (*e)[len] == '=') {
				envp[n++] = *e;
				break;
			}
	}
	envp[n] = NULL;
	envp[n + 1] = NULL;
	*key_env = NULL;
	if (opts->api_key == NULL)
		return 0;
	if (asprintf(key_env, "EMBEDWATCH_API_KEY=%s", opts->api_key) == -1) {
		*key_env = NULL;
		errno = ENOMEM;
		return -1;
	}
	envp[n] = *key_env;
	return 0;
}

static void
free_key_env(char *key_env)
{
	if (key_env != NULL) {
		explicit_bzero(key_env, strlen(key_env));
		free(key_env);
	}
}

/* The test hook: does this spawn fail, as every fail_every-th one does? */
static bool
hook_fails(const struct spawn_opts *opts)
{
	static unsigned long n_spawns;

	return opts->fail_every > 0 && ++n_spawns % opts->fail_every == 0;
}

/*
 * Fork the child with stdin_fd as its stdin; job is NULL for a warm
 * worker. stdin_fd is the caller's and closed here, in every case.
 * Returns 0 with the pid and the read end of the result pipe, or -1 with
 * errno and nothing left behind.
 */
static int
start(const struct spawn_opts *opts, const struct job *job, int stdin_fd,
    pid_t *pidp, int *result_fdp)
{
	int pipefd[2] = { -1, -1 }, saved;
	char *envp[EXEC_ENV_MAX] = { NULL }, *key_env = NULL;
	pid_t parent, pid;

	if (pipe2(pipefd, O_CLOEXEC) == -1 ||
	    io_set_nonblock(pipefd[0], true) == -1)
		goto fail;
	if (opts->worker_path != NULL && exec_env(opts, envp, &key_env) == -1)
		goto fail;
	parent = getpid();
	worker_no++;
	pid = fork();
	if (pid == -1)
		goto fail;
	if (pid == 0)
		child(opts, job, parent, stdin_fd, pipefd[1], envp);
	/* Race: whichever of us runs setpgid first creates the group; the
	 * other's call is a no-op or fails harmlessly (EACCES after exec). */
	(void)setpgid(pid, pid);
	(void)close(pipefd[1]);
	(void)close(stdin_fd);
	free_key_env(key_env);
	*pidp = pid;
	*result_fdp = pipefd[0];
	return 0;
fail:
	saved = errno;
	if (pipefd[0] != -1)
		(void)close(pipefd[0]);
	if (pipefd[1] != -1)
		(void)close(pipefd[1]);
	(void)close(stdin_fd);
	free_key_env(key_env);
	errno = saved;
	return -1;
}

int
spawn_worker(const struct spawn_opts *opts, const struct job *job,
    pid_t *pidp, int *result_fdp)
{
	int stdin_fd;

	if (hook_fails(opts)) {
		errno = EAGAIN;
		return -1;
	}
	if (opts->worker_path != NULL)
		stdin_fd = job_memfd(job);
	else
		stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (stdin_fd == -1)
		return -1;
	return start(opts, job, stdin_fd, pidp, result_fdp);
}

int
spawn_warm(const struct spawn_opts *opts, pid_t *pidp, int *result_fdp,
    int *job_fdp)
{
	int jobfd[2], saved;

	if (hook_fails(opts)) {
		errno = EAGAIN;
		return -1;
	}
	if (pipe2(jobfd, O_CLOEXEC) == -1)
		return -1;
	if (io_set_nonblock(jobfd[1], true) == -1) {
		saved = errno;
		(void)close(jobfd[0]);
		(void)close(jobfd[1]);
		errno = saved;
		return -1;
	}
	/* start closes the read end whatever happens. */
	if (start(opts, NULL, jobfd[0], pidp, result_fdp) == -1) {
		saved = errno;
		(void)close(jobfd[1]);
		errno = saved;
		return -1;
	}
	*job_fdp = jobfd[1];
	return 0;
}

int
spawn_kill(pid_t pid)
{
	if (pid <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (kill(-pid, SIGKILL) == 0)
		return 0;
	return kill(pid, SIGKILL);
}

pid_t
spawn_reap(bool block, bool (*ours)(void *, pid_t), void *arg, int *status)
{
	siginfo_t si;
	pid_t pid;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT |
		    (block ? 0 : WNOHANG)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		pid = si.si_pid;
		if (pid == 0)
			return 0;
		/* Race: the zombie pins pid and its group until the reap
		 * below, so this signal cannot reach a stranger. */
		if (ours != NULL && ours(arg, pid))
			(void)kill(-pid, SIGKILL);
		while (waitpid(pid, status, 0) == -1)
			if (errno != EINTR)
				return -1;
		return pid;
	}
}

static int
real_start(void *ctx, const struct job *job, pid_t *pid, int *result_fd)
{
	return spawn_worker(ctx, job, pid, result_fd);
}

static int
real_start_warm(void *ctx, pid_t *pid, int *result_fd, int *job_fd)
{
	return spawn_warm(ctx, pid, result_fd, job_fd);
}

static int
real_kill(void *ctx, pid_t pid)
{
	(void)ctx;
	return spawn_kill(pid);
}

static pid_t
real_reap(void *ctx, bool block, bool (*ours)(void *, pid_t), void *arg,
    int *status)
{
	(void)ctx;
	return spawn_reap(block, ours, arg, status);
}

void
spawner_init(struct spawner *sp, struct spawn_opts *opts)
{
	sp->start = real_start;
	sp->start_warm = real_start_warm;
	sp->kill = real_kill;
	sp->reap = real_reap;
	sp->ctx = opts;
}
