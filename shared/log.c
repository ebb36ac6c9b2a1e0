/*
 * log: see log.h. A message is formatted into a bounded buffer, then
 * cleaned into valid UTF-8 (bytes that are not become U+FFFD) and cut on
 * a character boundary with a "..." marker, so neither a text nor a JSON
 * line is ever split or holds half a character. JSON lines are built by
 * jansson, which does the escaping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "io.h"
#include "log.h"

#define LOG_LINE_MAX	4096	/* bytes of message, escaped, at most */
#define CUT_MARK	"..."
#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int level_priorities[] = { 3, 4, 6, 7 };

static char		log_prog[32] = "embedwatch";
static enum log_level	log_threshold = LOG_LEVEL_INFO;
static bool		log_json;
static void		(*log_around)(void *, bool);
static void		*log_around_arg;
static bool		log_journal;

/* Is fd 2 the stream $JOURNAL_STREAM ("device:inode") names? */
static bool
stderr_is_journal(void)
{
	unsigned long long dev, ino;
	const char *v;
	struct stat st;
	int n = 0;

	v = getenv("JOURNAL_STREAM");
	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    v[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *prog, enum log_level level, bool json)
{
	(void)strlcpy(log_prog, prog, sizeof(log_prog));
	log_threshold = level;
	log_json = json;
	log_journal = stderr_is_journal();
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
	log_journal = stderr_is_journal();
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

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes left), or
 * 0 if it is not one (overlong forms, surrogates and values past
 * U+10FFFF included, as jansson refuses them); *short_by is set when the
 * bytes left end inside an otherwise good sequence.
 */
static size_t
utf8_length(const unsigned char *s, size_t n, bool *short_by)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	*short_by = false;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < len; i++, lo = 0x80, hi = 0xbf) {
		if (i == n) {
			*short_by = true;
			return 0;
		}
		if (s[i] < lo || s[i] > hi)
			return 0;
	}
	return len;
}

/*
 * Copy src (len bytes; cut says it was already cut short) into dst as
 * valid UTF-8: each byte that starts no valid character becomes U+FFFD.
 * At most budget bytes are taken, counting each byte as its JSON escape
 * would if json (six for a control character); what does not fit is cut
 * at a character boundary and CUT_MARK follows. dst holds budget + 4.
 * Returns the length written, NUL excluded.
 */
static size_t
utf8_clean(char *dst, const char *src, size_t len, bool cut, size_t budget,
    bool json)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, n = 0, used = 0, clen, cost;
	bool short_by;

	budget -= strlen(CUT_MARK);
	while (i < len) {
		clen = utf8_length(s + i, len - i, &short_by);
		if (clen == 0 && short_by && cut)
			break;		/* the cut fell inside it */
		cost = clen == 0 ? strlen(REPLACEMENT) : clen;
		if (json && clen == 1 && (s[i] < 0x20 || s[i] == '"' ||
		    s[i] == '\\'))
			cost = s[i] < 0x20 ? 6 : 2;
		if (used + cost > budget) {
			cut = true;
			break;
		}
		if (clen == 0)
			memcpy(dst + n, REPLACEMENT, strlen(REPLACEMENT));
		else
			memcpy(dst + n, s + i, clen);
		n += clen == 0 ? strlen(REPLACEMENT) : clen;
		used += cost;
		i += clen == 0 ? 1 : clen;
	}
	if (cut) {
		memcpy(dst + n, CUT_MARK, strlen(CUT_MARK));
		n += strlen(CUT_MARK);
	}
	dst[n] = '\0';
	return n;
}

/* The JSON object for msg (valid UTF-8, len bytes), as a string to
 * free; NULL when out of memory. ts NULL: none. */
static char *
json_line(enum log_level level, const char *ts, const char *msg, size_t len)
{
	json_t *root;
	char *text;
	int rc = 0;

	root = json_object();
	if (root == NULL)
		return NULL;
	if (ts != NULL)
		rc |= json_object_set_new(root, "ts", json_string(ts));
	rc |= json_object_set_new(root, "prog", json_string(log_prog));
	rc |= json_object_set_new(root, "pid", json_integer(getpid()));
	rc |= json_object_set_new(root, "level",
	    json_string(level_names[level]));
	rc |= json_object_set_new(root, "msg", json_stringn(msg, len));
	text = rc == 0 ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	json_decref(root);
	return text;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[LOG_LINE_MAX], msg[LOG_LINE_MAX + 8], ts[40], prio[8] = "";
	char line[LOG_LINE_MAX + 512], *json = NULL;
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n, len;
	int r;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	r = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n = (size_t)r < sizeof(raw) ? (size_t)r : sizeof(raw) - 1;
	len = utf8_clean(msg, raw, n, (size_t)r >= sizeof(raw),
	    LOG_LINE_MAX, log_json);

	/* Under systemd the journal stamps the time and takes the priority
	 * from the prefix (sd-daemon(3)). */
	if (log_journal) {
		(void)snprintf(prio, sizeof(prio), "<%d>",
		    level_priorities[level]);
	} else {
		(void)gettimeofday(&tv, NULL);
		(void)gmtime_r(&tv.tv_sec, &tm);
		n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		(void)snprintf(ts + n, sizeof(ts) - n, ".%03ldZ",
		    (long)(tv.tv_usec / 1000));
	}

	if (log_json)
		json = json_line(level, log_journal ? NULL : ts, msg, len);
	if (json != NULL)
		r = snprintf(line, sizeof(line), "%s%s\n", prio, json);
	else if (log_journal)
		r = snprintf(line, sizeof(line), "%s%s: %s\n", prio,
		    level_names[level], msg);
	else
		r = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", ts,
		    log_prog, (long)getpid(), level_names[level], msg);
	free(json);
	if (r < 0)
		return;
	/* Cannot be cut: msg is bounded with room for the rest. */
	n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
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
