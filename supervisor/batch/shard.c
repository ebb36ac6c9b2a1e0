/*
 * batch/shard: see shard.h. Called by batch/reader at open and by
 * batch/resume and batch/merge for file names.
 *
 * Cost: finding the range reads one line at each end; counting the
 * lines before the shard reads everything before it, once, at memchr
 * speed (a few seconds for tens of GB; the better design, an index of
 * line counts per range, is not worth a file of its own yet).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "batch/shard.h"
#include "config/config.h"
#include "log.h"

#define BLOCK	((size_t)1 << 20)

/* A non-negative integer from the environment variable name, or -1. */
static long long
env_number(const char *name)
{
	const char *v = getenv(name), *errstr;
	long long n;

	if (v == NULL || *v == '\0')
		return -1;
	n = strtonum(v, 0, INT_MAX, &errstr);
	return errstr == NULL ? n : -1;
}

int
batch_shard_pick(const struct config *cfg, unsigned *k, unsigned *n)
{
	long long idx, min, count;

	*k = cfg->shard_k;
	*n = cfg->shard_n != 0 ? cfg->shard_n : cfg->shards;
	if (!cfg->shard_auto && cfg->shard_k != 0)
		return 0;
	if (!cfg->shard_auto && cfg->shards == 0)
		return 0;
	idx = env_number("JOB_COMPLETION_INDEX");
	if (idx < 0) {
		idx = env_number("SLURM_ARRAY_TASK_ID");
		min = env_number("SLURM_ARRAY_TASK_MIN");
		if (idx >= 0 && min >= 0 && min <= idx)
			idx -= min;
		count = env_number("SLURM_ARRAY_TASK_COUNT");
		if (*n == 0 && count > 0)
			*n = (unsigned)count;
	}
	if (idx < 0 || *n == 0 || idx >= *n) {
		log_error("--shard auto needs JOB_COMPLETION_INDEX with "
		    "--shards N, or SLURM_ARRAY_TASK_ID and "
		    "SLURM_ARRAY_TASK_COUNT, with the index below N");
		return EXIT_USAGE;
	}
	*k = (unsigned)idx + 1;
	return 0;
}

char *
batch_shard_name(const char *path, unsigned k, unsigned n)
{
	const char *base, *dot;
	char *name;
	int width, len;

	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		dot = path + strlen(path);
	width = snprintf(NULL, 0, "%u", n);
	len = asprintf(&name, "%.*s.%0*u-of-%u%s", (int)(dot - path), path,
	    width, k, n, dot);
	return len == -1 ? NULL : name;
}

/* The first line start at or after off: off itself if it is 0 or
 * follows a newline, else just past the next newline (or size). */
static int
line_start(int fd, off_t off, off_t size, off_t *start)
{
	char buf[64 * 1024];
	const char *nl;
	ssize_t r;

	if (off == 0 || off >= size) {
		*start = off < size ? off : size;
		return 0;
	}
	for (off--; off < size; off += r) {
		do
			r = pread(fd, buf, sizeof(buf), off);
		while (r == -1 && errno == EINTR);
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		nl = memchr(buf, '\n', (size_t)r);
		if (nl != NULL) {
			*start = off + (nl - buf) + 1;
			return 0;
		}
	}
	*start = size;
	return 0;
}

/* The newlines in [from, to) of fd. Returns 0, or -1 with errno. */
static int
count_newlines(int fd, off_t from, off_t to, uint64_t *count)
{
	char *buf;
	const char *p, *stop;
	ssize_t r;
	int rc = -1;

	buf = malloc(BLOCK);
	if (buf == NULL)
		return -1;
	*count = 0;
	for (; from < to; from += r) {
		do
			r = pread(fd, buf, (size_t)(to - from) < BLOCK ?
			    (size_t)(to - from) : BLOCK, from);
		while (r == -1 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			goto out;
		}
		stop = buf + r;
		for (p = buf; (p = memchr(p, '\n', (size_t)(stop - p))) !=
		    NULL; p++)
			(*count)++;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int
batch_shard_range(int fd, unsigned k, unsigned n, struct batch_shard *sh)
{
	struct stat st;
	uint64_t in_shard;
	char last;

	if (fstat(fd, &st) == -1)
		return -1;
	if (line_start(fd, (off_t)((__int128)st.st_size * (k - 1) / n),
	    st.st_size, &sh->begin) == -1 ||
	    line_start(fd, (off_t)((__int128)st.st_size * k / n), st.st_size,
	    &sh->end) == -1 ||
	    count_newlines(fd, 0, sh->begin, &sh->lines_before) == -1 ||
	    count_newlines(fd, sh->begin, sh->end, &in_shard) == -1)
		return -1;
	sh->lines = in_shard;
	/* A last line without a newline is a line too. */
	if (sh->end > sh->begin && pread(fd, &last, 1, sh->end - 1) == 1 &&
	    last != '\n')
		sh->lines++;
	return 0;
}
