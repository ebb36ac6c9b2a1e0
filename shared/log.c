/*
 * log: see log.h. Lines longer than the line buffer are truncated with a
 * marker rather than split.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "io.h"
#include "log.h"

#define LOG_LINE_MAX	4096

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static char		log_prog[32] = "embedwatch";
static enum log_level	log_threshold = LOG_LEVEL_INFO;
static bool		log_json;
static void		(*log_around)(void *, bool);
static void		*log_around_arg;

void
log_init(const char *prog, enum log_level level, bool json)
{
	(void)strlcpy(log_prog, prog, sizeof(log_prog));
	log_threshold = level;
	log_json = json;
}

int
log_open_file(const char *path)
{
	int fd, saved;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) == -1) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	if (fd != STDERR_FILENO)
		(void)close(fd);
	return 0;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

/* Append s to p (at most room bytes) as the inside of a JSON string,
 * ending with "..." if it did not fit. */
static size_t
json_escape(char *p, size_t room, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	unsigned char c;

	for (; *s != '\0' && n + 7 < room; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			p[n++] = '\\';
			p[n++] = (char)c;
		} else if (c < 0x20) {
			memcpy(p + n, "\\u00", 4);
			p[n + 4] = hex[c >> 4];
			p[n + 5] = hex[c & 15];
			n += 6;
		} else
			p[n++] = (char)c;
	}
	if (*s != '\0' && n + 3 <= room) {
		memcpy(p + n, "...", 3);
		n += 3;
	}
	return n;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 512], ts[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	if ((size_t)r >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 5, "...", 4);

	(void)gettimeofday(&tv, NULL);
	(void)gmtime_r(&tv.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	(void)snprintf(ts + n, sizeof(ts) - n, ".%03ldZ",
	    (long)(tv.tv_usec / 1000));

	if (log_json) {
		r = snprintf(line, sizeof(line),
		    "{\"ts\":\"%s\",\"prog\":\"%s\",\"pid\":%ld,"
		    "\"level\":\"%s\",\"msg\":\"", ts, log_prog,
		    (long)getpid(), level_names[level]);
		if (r < 0 || (size_t)r >= sizeof(line))
			return;
		n = (size_t)r;
		n += json_escape(line + n, sizeof(line) - n - 3, msg);
		memcpy(line + n, "\"}\n", 3);
		n += 3;
	} else {
		r = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", ts,
		    log_prog, (long)getpid(), level_names[level], msg);
		if (r < 0)
			return;
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	}
	if (log_around != NULL)
		log_around(log_around_arg, true);
	(void)io_write_all(STDERR_FILENO, line, n);
	if (log_around != NULL)
		log_around(log_around_arg, false);
}

void
log_set_around(void (*around)(void *arg, bool before), void *arg)
{
	log_around = around;
	log_around_arg = arg;
}
