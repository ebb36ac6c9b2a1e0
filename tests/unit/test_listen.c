/*
 * test_listen: serve's listening socket, supervisor/serve/listen, in a
 * temporary directory. Proves that listen_open binds the path with
 * exactly the mode asked (and leaves the umask as it was), non-blocking
 * and close-on-exec; that a stale socket file (bound, closed, never
 * unlinked) is replaced; that a path where a live server answers is
 * refused with EXIT_UNAVAILABLE and left to that server; that a path
 * that is not a socket is refused with EXIT_CONFIG and left as it was;
 * that no path and no activation is a usage error; that listen_remove
 * unlinks the path only while it is still ours; and that a socket handed
 * over on fd 3 (LISTEN_PID, LISTEN_FDS) is used as it is, while one
 * meant for another pid, or more than one, is ignored; that accepting
 * pauses when descriptors run out; that --max-clients is sized to
 * RLIMIT_NOFILE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "config/config.h"
#include "serve/listen.h"

#define ACTIVATED_FD	3	/* SD_LISTEN_FDS_START */

struct world {
	char		 dir[64];
	char		 path[96];	/* the socket path under test */
	char		 handed[96];	/* one bound by a "service manager" */
	int		 saved_fd;	/* what fd 3 was before; -1: closed */
	bool		 handing;	/* fd 3 is handed over */
	struct config	 cfg;
	struct listener	 ls;
};

static int
setup(void **state)
{
	struct world *w;

	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	(void)snprintf(w->dir, sizeof(w->dir), "/tmp/ew-listen-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	(void)snprintf(w->path, sizeof(w->path), "%s/s.sock", w->dir);
	(void)snprintf(w->handed, sizeof(w->handed), "%s/handed.sock",
	    w->dir);
	w->cfg.socket_path = w->path;
	w->cfg.socket_mode = 0600;
	w->ls.fd = -1;
	*state = w;
	return 0;
}

static void	take_back(struct world *);

static int
teardown(void **state)
{
	struct world *w = *state;
	struct stat st;

	if (w->ls.fd == ACTIVATED_FD)
		w->ls.fd = -1;		/* take_back closes it */
	listen_close(&w->ls);
	if (w->handing)
		take_back(w);
	if (lstat(w->path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			assert_int_equal(rmdir(w->path), 0);
		else
			assert_int_equal(unlink(w->path), 0);
	}
	assert_int_equal(rmdir(w->dir), 0);
	free(w);
	return 0;
}

static void
address(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path));
}

/* A socket bound at path, listening if asked; the caller closes it. */
static int
bind_at(const char *path, bool listening)
{
	struct sockaddr_un sa;
	int fd;

	address(&sa, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static bool
can_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, rc;

	address(&sa, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	assert_int_equal(close(fd), 0);
	return rc == 0;
}

static ino_t
inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static void
assert_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	assert_true(fl != -1 && (fl & O_NONBLOCK) != 0);
	assert_true(fdfl != -1 && (fdfl & FD_CLOEXEC) != 0);
}

static void
test_binds_with_mode(void **state)
{
	static const mode_t modes[] = { 0600, 0660, 0666 };
	struct world *w = *state;
	struct stat st;
	mode_t mask;
	size_t i;
	int status = -1;

	mask = umask(022);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		w->cfg.socket_mode = modes[i];
		assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
		assert_true(w->ls.fd >= 0);
		assert_string_equal(w->ls.path, w->path);
		assert_int_equal(lstat(w->path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 07777, modes[i]);
		assert_nonblock_cloexec(w->ls.fd);
		assert_true(can_connect(w->path));
		assert_int_equal(umask(022), 022);	/* as it was */
		listen_remove(&w->ls);
		listen_close(&w->ls);
		assert_int_equal(w->ls.fd, -1);
	}
	(void)umask(mask);
}

static void
test_replaces_stale(void **state)
{
	struct world *w = *state;
	int status = -1;

	assert_int_equal(close(bind_at(w->path, true)), 0);
	assert_false(can_connect(w->path));	/* a crash's leftover */
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_true(can_connect(w->path));
	assert_int_equal(inode_of(w->path), w->ls.ino);
}

static void
test_live_not_stolen(void **state)
{
	struct world *w = *state;
	int server, status = -1, conn;
	ino_t ino;

	server = bind_at(w->path, true);
	ino = inode_of(w->path);
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), -1);
	assert_int_equal(status, EXIT_UNAVAILABLE);
	assert_int_equal(w->ls.fd, -1);
	assert_int_equal(inode_of(w->path), ino);
	/* Still the live server's: a new client reaches it. */
	assert_true(can_connect(w->path));
	conn = accept4(server, NULL, NULL, SOCK_CLOEXEC);	/* the probe */
	assert_true(conn >= 0);
	assert_int_equal(close(conn), 0);
	conn = accept4(server, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_int_equal(close(conn), 0);
	listen_remove(&w->ls);			/* never ours: left alone */
	assert_int_equal(inode_of(w->path), ino);
	assert_int_equal(close(server), 0);
}

static void
test_not_a_socket(void **state)
{
	struct world *w = *state;
	char text[8] = "";
	int fd, status = -1;

	fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	assert_int_equal(close(fd), 0);
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), -1);
	assert_int_equal(status, EXIT_CONFIG);
	fd = open(w->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, text, sizeof(text) - 1), 4);
	assert_string_equal(text, "keep");
	assert_int_equal(close(fd), 0);
	assert_int_equal(unlink(w->path), 0);

	assert_int_equal(mkdir(w->path, 0700), 0);
	status = -1;
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), -1);
	assert_int_equal(status, EXIT_CONFIG);
}

static void
test_no_path(void **state)
{
	struct world *w = *state;
	int status = -1;

	w->cfg.socket_path = NULL;
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), -1);
	assert_int_equal(status, EXIT_USAGE);
}

static void
test_remove_only_ours(void **state)
{
	struct world *w = *state;
	int status = -1, other;
	ino_t ino;

	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	listen_remove(&w->ls);
	assert_int_equal(access(w->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	listen_close(&w->ls);

	/* A successor replaced the path while we drained. */
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_int_equal(unlink(w->path), 0);
	other = bind_at(w->path, true);
	ino = inode_of(w->path);
	listen_remove(&w->ls);
	assert_int_equal(inode_of(w->path), ino);
	assert_true(can_connect(w->path));
	listen_remove(&w->ls);
	assert_int_equal(inode_of(w->path), ino);
	assert_int_equal(close(other), 0);
}

/* Put a listening socket, bound at w->handed, on fd 3 as systemd
 * does, moving away what was there. */
static void
hand_over(struct world *w)
{
	int fd;

	w->saved_fd = -1;
	if (fcntl(ACTIVATED_FD, F_GETFD) != -1) {
		w->saved_fd = fcntl(ACTIVATED_FD, F_DUPFD_CLOEXEC, 10);
		assert_true(w->saved_fd >= 0);
	}
	fd = bind_at(w->handed, true);
	if (fd != ACTIVATED_FD) {
		assert_int_equal(dup2(fd, ACTIVATED_FD), ACTIVATED_FD);
		assert_int_equal(close(fd), 0);
	}
	/* Blocking and inherited, as a handed-over socket is. */
	assert_int_equal(fcntl(ACTIVATED_FD, F_SETFD, 0), 0);
	w->handing = true;
}

/* Put fd 3 back as it was, and forget the environment. */
static void
take_back(struct world *w)
{
	assert_int_equal(close(ACTIVATED_FD), 0);
	if (w->saved_fd != -1) {
		assert_int_equal(dup2(w->saved_fd, ACTIVATED_FD),
		    ACTIVATED_FD);
		assert_int_equal(close(w->saved_fd), 0);
	}
	assert_int_equal(unlink(w->handed), 0);
	w->handing = false;
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
}

static void
set_listen_env(pid_t pid, const char *n_fds)
{
	char text[32];

	(void)snprintf(text, sizeof(text), "%ld", (long)pid);
	assert_int_equal(setenv("LISTEN_PID", text, 1), 0);
	assert_int_equal(setenv("LISTEN_FDS", n_fds, 1), 0);
	assert_int_equal(setenv("LISTEN_FDNAMES", "embedwatch", 1), 0);
}

static void
test_activation(void **state)
{
	struct world *w = *state;
	int status = -1;

	hand_over(w);
	set_listen_env(getpid(), "1");
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_int_equal(w->ls.fd, ACTIVATED_FD);
	assert_null(w->ls.path);
	assert_nonblock_cloexec(ACTIVATED_FD);
	/* Nothing bound at the configured path; nothing inherited on. */
	assert_int_equal(access(w->path, F_OK), -1);
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
	assert_true(can_connect(w->handed));
	listen_remove(&w->ls);			/* not ours to unlink */
	assert_int_equal(access(w->handed, F_OK), 0);
}

/* Meant for another process, or more sockets than one Unix and
 * LISTEN_MAX_TCP TCP ones: the path is bound instead, and fd 3 left as
 * it is. */
static void
test_activation_ignored(void **state)
{
	struct world *w = *state;
	int status = -1;

	hand_over(w);
	set_listen_env(getpid() + 1, "1");
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_true(w->ls.fd != ACTIVATED_FD);
	assert_string_equal(w->ls.path, w->path);
	assert_non_null(getenv("LISTEN_PID"));	/* not ours to clear */
	listen_remove(&w->ls);
	listen_close(&w->ls);

	set_listen_env(getpid(), "18");
	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_true(w->ls.fd != ACTIVATED_FD);
	assert_null(getenv("LISTEN_FDS"));
	assert_true(can_connect(w->path));
	assert_int_equal(fcntl(ACTIVATED_FD, F_GETFL) & O_NONBLOCK, 0);
}

/* Out of descriptors, accepting pauses for LISTEN_PAUSE_MS (the client
 * waits in the backlog) and says so once; after the pause, and with
 * descriptors back, the client is taken. */
static void
test_accept_pause(void **state)
{
	struct world *w = *state;
	struct sockaddr_un sa;
	struct rlimit saved, tight;
	int status = -1, client, fd, probe;

	assert_int_equal(listen_open(&w->ls, &w->cfg, &status), 0);
	assert_int_equal(listen_accept(&w->ls, 1000), -1);
	assert_int_equal(errno, EAGAIN);	/* nobody waiting */
	assert_int_equal(listen_paused_until(&w->ls, 1000), 0);
	address(&sa, w->path);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client >= 0);
	assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)),
	    0);
	/* The lowest free descriptor is the limit: none is left. */
	probe = dup(0);
	assert_true(probe >= 0);
	assert_int_equal(close(probe), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	tight = saved;
	tight.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	fd = listen_accept(&w->ls, 1000);
	status = errno;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(status, EMFILE);
	assert_int_equal(listen_paused_until(&w->ls, 1000),
	    1000 + LISTEN_PAUSE_MS);
	assert_int_equal(listen_accept(&w->ls, 1100), -1);
	assert_int_equal(errno, EAGAIN);	/* paused: not even tried */
	fd = listen_accept(&w->ls, 1000 + LISTEN_PAUSE_MS);
	assert_true(fd >= 0);
	assert_nonblock_cloexec(fd);
	assert_int_equal(listen_paused_until(&w->ls, 2000), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(client), 0);
	listen_remove(&w->ls);
}

/* The clients descriptors allow: all asked for under a roomy limit; one
 * at least, and fewer than asked, under a tight one. */
static void
test_max_clients(void **state)
{
	struct rlimit saved, tight;
	unsigned n;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	tight = saved;
	tight.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	assert_int_equal(listen_max_clients(4, 2), 4);
	n = listen_max_clients(256, 2);
	assert_true(n >= 1 && n < 64);
	assert_int_equal(listen_max_clients(256, 64), 1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_binds_with_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replaces_stale, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_live_not_stolen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_only_ours, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_activation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_accept_pause, setup,
		    teardown),
		cmocka_unit_test(test_max_clients),
		cmocka_unit_test_setup_teardown(test_activation_ignored, setup,
		    teardown),
	};

	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	log_init("test_listen", LOG_LEVEL_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
