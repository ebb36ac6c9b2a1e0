/*
 * listen: see listen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "io.h"
#include "log.h"
#include "serve/listen.h"

#define LISTEN_FDS_START	3

/* Sockets from systemd: the Unix one (or -1) returned, TCP ones into
 * ls->tcp_fds. */
static int
activated_socket(struct listener *ls)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *pid, *fds, *errstr;
	long long n;
	int fd, unix_fd = -1;

	pid = getenv("LISTEN_PID");
	fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL ||
	    strtonum(pid, 1, INT32_MAX, &errstr) != (long long)getpid())
		return -1;
	n = strtonum(fds, 1, 64, &errstr);
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	if (errstr != NULL || n > 1 + LISTEN_MAX_TCP) {
		log_warn("ignoring LISTEN_FDS=%s: at most one Unix and %d TCP "
		    "sockets expected", fds, LISTEN_MAX_TCP);
		return -1;
	}
	for (fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
		len = sizeof(ss);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
		    io_set_nonblock(fd, true) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
			continue;
		if (ss.ss_family == AF_UNIX && unix_fd == -1)
			unix_fd = fd;
		else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			ls->tcp_fds[ls->n_tcp++] = fd;
		else
			log_warn("ignoring socket %d from systemd", fd);
	}
	return unix_fd;
}

/*
 * Bind the socket path. A socket file nobody answers on is the leftover
 * of a crash and is replaced; one that answers belongs to a live server
 * and is never stolen. Returns the descriptor or -1 after a message,
 * with *status set.
 */
static int
bind_socket(struct listener *ls, mode_t mode, int *status)
{
	const char *path = ls->path;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_mask;
	int fd = -1, probe;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	(void)strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	*status = EXIT_OSERR;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("cannot listen on '%s': it exists and is not "
			    "a socket", path);
			*status = EXIT_CONFIG;
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe == -1) {
			log_error("cannot make a socket: %s", strerror(errno));
			return -1;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			(void)close(probe);
			log_error("cannot listen on '%s': another server is "
			    "answering on it", path);
			*status = EXIT_UNAVAILABLE;
			return -1;
		}
		if (errno != ECONNREFUSED) {
			log_error("cannot check socket '%s': %s", path,
			    strerror(errno));
			(void)close(probe);
			return -1;
		}
		(void)close(probe);
		log_info("replacing stale socket '%s'", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_error("cannot remove stale socket '%s': %s", path,
			    strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		log_error("cannot make a socket: %s", strerror(errno));
		return -1;
	}
	/* Race: no moment with looser permissions than asked for. */
	old_mask = umask((mode_t)(~mode & 0777));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		(void)umask(old_mask);
		log_error("cannot bind '%s': %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	(void)umask(old_mask);
	if (lstat(path, &st) == 0) {
		ls->own_path = true;
		ls->dev = st.st_dev;
		ls->ino = st.st_ino;
	}
	if (chmod(path, mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		log_error("cannot listen on '%s': %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
}

/*
 * Remove the socket path if it is still the one we bound. Race: once we
 * stop listening, another instance may already have replaced it; its
 * socket has another inode and is left alone.
 */
void
listen_remove(struct listener *ls)
{
	struct stat st;

	if (!ls->own_path)
		return;
	ls->own_path = false;
	if (lstat(ls->path, &st) == -1 ||
	    st.st_dev != ls->dev || st.st_ino != ls->ino)
		return;
	if (unlink(ls->path) == -1)
		log_warn("cannot remove socket '%s': %s", ls->path,
		    strerror(errno));
}


int
listen_open(struct listener *ls, const struct config *cfg, int *status)
{
	memset(ls, 0, sizeof(*ls));
	ls->path = cfg->socket_path;
	ls->fd = activated_socket(ls);
	if (ls->fd != -1) {
		ls->path = NULL;
		return 0;
	}
	if (cfg->socket_path == NULL && (cfg->n_listen > 0 || ls->n_tcp > 0))
		return 0;
	if (cfg->socket_path == NULL) {
		log_error("serve needs --socket PATH or --listen HOST:PORT (or "
		    "systemd socket activation)");
		*status = EXIT_USAGE;
		return -1;
	}
	ls->fd = bind_socket(ls, cfg->socket_mode, status);
	return ls->fd == -1 ? -1 : 0;
}

void
listen_close(struct listener *ls)
{
	if (ls->fd != -1)
		(void)close(ls->fd);
	ls->fd = -1;
}

int
listen_accept(struct listener *ls, int64_t now)
{
	int fd, saved;

	if (listen_paused_until(ls, now) != 0) {
		errno = EAGAIN;
		return -1;
	}
	fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd != -1 || errno == EAGAIN || errno == EINTR ||
	    errno == ECONNABORTED) {
		if (fd == -1)
			errno = EAGAIN;
		return fd;
	}
	saved = errno;
	if (saved == EMFILE || saved == ENFILE || saved == ENOBUFS ||
	    saved == ENOMEM)
		ls->paused_until_ms = now + LISTEN_PAUSE_MS;
	ls->n_failed++;
	if (ls->logged_ms == 0 || now - ls->logged_ms >= LISTEN_LOG_EVERY_MS) {
		log_warn("cannot accept: %s (%llu time%s since the last "
		    "report)%s", strerror(saved),
		    (unsigned long long)ls->n_failed, ls->n_failed == 1 ?
		    "" : "s", ls->paused_until_ms != 0 ? "; pausing accepts" :
		    "");
		ls->logged_ms = now;
		ls->n_failed = 0;
	}
	errno = saved;
	return -1;
}

int64_t
listen_paused_until(struct listener *ls, int64_t now)
{
	if (ls->paused_until_ms != 0 && now >= ls->paused_until_ms)
		ls->paused_until_ms = 0;
	return ls->paused_until_ms;
}

/* Descriptors open now, or -1 if /proc is not there. */
static long
open_fds(void)
{
	DIR *d;
	long n = 0;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	(void)closedir(d);
	return n - 3;		/* ".", ".." and the directory's own */
}

unsigned
listen_max_clients(unsigned wanted, unsigned jobs)
{
	struct rlimit rl;
	long open_now, room;

	open_now = open_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || open_now == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX)
		return wanted;
	room = (long)rl.rlim_cur - open_now - (long)jobs *
	    LISTEN_FDS_PER_WORKER - LISTEN_FDS_SPARE;
	if (room >= (long)wanted)
		return wanted;
	if (room < 1)
		room = 1;
	log_warn("--max-clients %u lowered to %ld: RLIMIT_NOFILE is %llu "
	    "with %ld open and %u workers", wanted, room,
	    (unsigned long long)rl.rlim_cur, open_now, jobs);
	return (unsigned)room;
}
