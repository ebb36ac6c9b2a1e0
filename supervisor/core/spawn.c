/*
 * spawn: see spawn.h. Everything the child needs is prepared before
 * fork(); the supervisor is single-threaded, so the child may call into
 * libc and libcurl freely. Nothing in the child returns into supervisor
 * code: it ends in _exit or exec.
 *
 * An exec'd worker (--worker) may start processes of its own, which
 * PR_SET_PDEATHSIG does not reach: where the kernel lets us (root or
 * CAP_SYS_ADMIN), it is cloned as the first process of a PID namespace
 * of its own, so that when it dies (killed at its deadline, or by the
 * death signal of a SIGKILLed supervisor) the kernel kills everything it
 * started. Elsewhere it is forked as usual, once logged; the cgroup of a
 * systemd service (KillMode=control-group) then covers the rest.
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
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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
#define EXEC_ARGV_MAX	14

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
#define EXEC_ENV_MAX	(3 + N_PASSED_ENV + 1)

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

/* A warm worker in fork mode: connect ahead for calls like tmpl, wait
 * for the job, then run it (on the connection if it is still good). */
static int
run_warm(const struct spawn_opts *opts, const struct job *tmpl)
{
	struct conn *conn;
	struct job *job;
	char *text, err[256];
	size_t len;
	int status;

	worker_warm_wait(tmpl, opts->warm_idle_ms, STDIN_FILENO,
	    STDOUT_FILENO, &conn);
	text = io_slurp(STDIN_FILENO, (size_t)PROTO_FRAME_MAX, &len);
	if (text == NULL || len == 0) {
		/* No job: the supervisor let it go, or is gone. */
		free(text);
		worker_conn_free(conn);
		return WORKER_EXIT_OK;
	}
	job = proto_job_parse(text, len, NULL, err, sizeof(err));
	free(text);
	if (job == NULL) {
		log_error("warm worker: %s", err);
		worker_conn_free(conn);
		return WORKER_EXIT_INTERNAL;
	}
	job->api_key = opts->api_key;
	setproctitle("worker %lu attempt %u", worker_no, job->attempt);
	status = worker_run_on(job, STDOUT_FILENO, true, conn);
	proto_job_free(job);
	return status;
}

/* Has the reader of the pipe fd writes to gone? */
static bool
orphaned(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR) != 0;
}

/*
 * Fork, the child first in a new PID namespace where that is allowed
 * (see the top of this file); *in_ns says which. Like fork otherwise.
 */
static pid_t
fork_contained(bool *in_ns)
{
	static int refused = -1;	/* -1: not tried yet */
	pid_t pid;

	*in_ns = false;
	if (refused != 1) {
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL,
		    NULL, NULL, NULL);
		if (pid != -1) {
			if (pid > 0 && refused == -1)
				log_debug("exec'd workers run in PID "
				    "namespaces of their own");
			refused = 0;
			*in_ns = true;
			return pid;
		}
		if (errno != EPERM && errno != EINVAL && errno != ENOSPC &&
		    errno != EUSERS && errno != ENOSYS)
			return -1;
		if (refused == -1)
			log_info("cannot give workers a PID namespace (%s): "
			    "what a --worker starts may outlive a SIGKILLed "
			    "supervisor unless a cgroup holds it (systemd "
			    "KillMode=control-group)", strerror(errno));
		refused = 1;
	}
	return fork();
}

/* The child's side, up to running the worker or exec: for job or, when
 * warm, to wait for one made like job (the template); parent is 0 in a
 * PID namespace of its own. Never returns. */
static void __attribute__((noreturn))
child(const struct spawn_opts *opts, const struct job *job, bool warm,
    pid_t parent, int stdin_fd, int result_fd, char *const argv[],
    char *const envp[])
{
	struct rlimit rl;
	int status;

	/* First, so that ps (and the tests) never take a warm worker for
	 * its supervisor or a running one. */
	if (opts->worker_path == NULL && warm)
		setproctitle("worker (warm)");
	sig_child_reset();
	(void)setpgid(0, 0);
	/* In a PID namespace of its own the parent is outside: pid 0. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
	    (parent != 0 && getppid() != parent))
		_exit(EXEC_FAILED);
	if (dup2(stdin_fd, STDIN_FILENO) == -1 ||
	    dup2(result_fd, STDOUT_FILENO) == -1)
		_exit(EXEC_FAILED);
	closefrom(STDERR_FILENO + 1);
	/* Race: there, a parent that died before PR_SET_PDEATHSIG shows as
	 * a result pipe with no reader left (ours is closed by now). */
	if (parent == 0 && orphaned(STDOUT_FILENO))
		_exit(EXEC_FAILED);

	rl.rlim_cur = rl.rlim_max = 0;
	(void)setrlimit(RLIMIT_CORE, &rl);
#ifndef __SANITIZE_ADDRESS__
	/* ASan reserves terabytes of address space; it cannot run capped. */
	if (opts->memory > 0) {
		rl.rlim_cur = rl.rlim_max = opts->memory;
		(void)setrlimit(RLIMIT_AS, &rl);
	}
#endif
	if (opts->worker_path == NULL && warm)
		_exit(run_warm(opts, job));
	if (opts->worker_path == NULL) {
		setproctitle("worker %lu attempt %u", worker_no, job->attempt);
		status = worker_run(job, STDOUT_FILENO, true);
		_exit(status);
	}
	execve(opts->worker_path, argv, envp);
	_exit(EXEC_FAILED);
}

/* What an exec'd worker gets. */
struct exec_args {
	char	*argv[EXEC_ARGV_MAX];
	char	*envp[EXEC_ENV_MAX];
	char	*key_env;	/* EMBEDWATCH_API_KEY=... */
	char	*url_env;	/* EMBEDWATCH_BASE_URL=..., warm only */
	char	 number[24];
	char	 idle[24];
	char	 connect[24];
};

/*
 * The command line and environment of an exec'd worker: --frames and its
 * number, a PATH, passed_env (pointing into environ, valid until the
 * fork) and the key; a warm one also --warm with its idle limit and what
 * it connects to (tmpl's base URL in its environment, --cacert,
 * --insecure, --connect-timeout). Returns 0, or -1 with errno.
 */
static int
exec_args(const struct spawn_opts *opts, const struct job *tmpl, bool warm,
    struct exec_args *x)
{
	size_t i, n = 0, e = 0, len;
	char **env;

	memset(x, 0, sizeof(*x));
	x->argv[n++] = (char *)(uintptr_t)opts->worker_path;
	x->argv[n++] = (char *)(uintptr_t)"--frames";
	x->argv[n++] = (char *)(uintptr_t)"--number";
	(void)snprintf(x->number, sizeof(x->number), "%lu", worker_no + 1);
	x->argv[n++] = x->number;
	x->envp[e++] = (char *)(uintptr_t)"PATH=/usr/local/bin:/usr/bin:/bin";
	for (i = 0; i < N_PASSED_ENV; i++) {
		len = strlen(passed_env[i]);
		for (env = environ; *env != NULL; env++)
			if (strncmp(*env, passed_env[i], len) == 0 &&
			    (*env)[len] == '=') {
				x->envp[e++] = *env;
				break;
			}
	}
	if (opts->api_key != NULL) {
		if (asprintf(&x->key_env, "EMBEDWATCH_API_KEY=%s",
		    opts->api_key) == -1) {
			x->key_env = NULL;
			errno = ENOMEM;
			return -1;
		}
		x->envp[e++] = x->key_env;
	}
	if (!warm || tmpl == NULL)
		return 0;
	(void)snprintf(x->idle, sizeof(x->idle), "%.3f",
	    (double)opts->warm_idle_ms / 1000);
	x->argv[n++] = (char *)(uintptr_t)"--warm";
	x->argv[n++] = x->idle;
	if (tmpl->connect_timeout_ms > 0) {
		(void)snprintf(x->connect, sizeof(x->connect), "%.3f",
		    (double)tmpl->connect_timeout_ms / 1000);
		x->argv[n++] = (char *)(uintptr_t)"--connect-timeout";
		x->argv[n++] = x->connect;
	}
	if (tmpl->cacert != NULL) {
		x->argv[n++] = (char *)(uintptr_t)"--cacert";
		x->argv[n++] = (char *)(uintptr_t)tmpl->cacert;
	}
	if (tmpl->insecure)
		x->argv[n++] = (char *)(uintptr_t)"--insecure";
	if (asprintf(&x->url_env, "EMBEDWATCH_BASE_URL=%s",
	    tmpl->base_url) == -1) {
		x->url_env = NULL;
		errno = ENOMEM;
		return -1;
	}
	x->envp[e++] = x->url_env;
	return 0;
}

static void
exec_args_free(struct exec_args *x)
{
	if (x->key_env != NULL) {
		explicit_bzero(x->key_env, strlen(x->key_env));
		free(x->key_env);
	}
	free(x->url_env);
	x->key_env = x->url_env = NULL;
}

/* The test hook: does this spawn fail, as every fail_every-th one does? */
static bool
hook_fails(const struct spawn_opts *opts)
{
	static unsigned long n_spawns;

	return opts->fail_every > 0 && ++n_spawns % opts->fail_every == 0;
}

/*
 * Fork the child with stdin_fd as its stdin, for job or, when warm, to
 * wait for one made like job (the template, or NULL). stdin_fd is the
 * caller's and closed here, in every case. Returns 0 with the pid and
 * the read end of the result pipe, or -1 with errno and nothing left
 * behind.
 */
static int
start(const struct spawn_opts *opts, const struct job *job, bool warm,
    int stdin_fd, pid_t *pidp, int *result_fdp)
{
	int pipefd[2] = { -1, -1 }, saved;
	struct exec_args x;
	pid_t parent, pid;
	bool in_ns;

	memset(&x, 0, sizeof(x));
	if (pipe2(pipefd, O_CLOEXEC) == -1 ||
	    io_set_nonblock(pipefd[0], true) == -1)
		goto fail;
	if (opts->worker_path != NULL &&
	    exec_args(opts, job, warm, &x) == -1)
		goto fail;
	if (opts->worker_path == NULL)
		worker_prefork(job);
	parent = getpid();
	worker_no++;
	in_ns = false;
	pid = opts->worker_path != NULL ? fork_contained(&in_ns) : fork();
	if (pid == -1)
		goto fail;
	if (pid == 0)
		child(opts, job, warm, in_ns ? 0 : parent, stdin_fd,
		    pipefd[1], x.argv, x.envp);
	/* Race: whichever of us runs setpgid first creates the group; the
	 * other's call is a no-op or fails harmlessly (EACCES after exec). */
	(void)setpgid(pid, pid);
	(void)close(pipefd[1]);
	(void)close(stdin_fd);
	exec_args_free(&x);
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
	exec_args_free(&x);
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
	return start(opts, job, false, stdin_fd, pidp, result_fdp);
}

int
spawn_warm(const struct spawn_opts *opts, const struct job *tmpl,
    pid_t *pidp, int *result_fdp, int *job_fdp)
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
	if (start(opts, tmpl, true, jobfd[0], pidp, result_fdp) == -1) {
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
real_start_warm(void *ctx, const struct job *tmpl, pid_t *pid,
    int *result_fd, int *job_fd)
{
	return spawn_warm(ctx, tmpl, pid, result_fd, job_fd);
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
	sp->warm_reports = true;
	sp->ctx = opts;
}
