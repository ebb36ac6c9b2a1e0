/*
 * batch/file: see file.h.
 *
 * Cost: dropping a torn line and reading the last line read backwards in
 * BLOCK-sized steps, so they touch about as many bytes as the last line
 * holds; counting lines reads forwards through everything it counts.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/file.h"
#include "protocol/scan.h"

#define BLOCK	(64 * 1024)

int
batch_file_pread(int fd, char *p, size_t n, off_t off)
{
	ssize_t r;

	while (n > 0) {
		r = pread(fd, p, n, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Offset just past the last newline before end, or 0 if none. */
static off_t
after_last_newline(int fd, off_t end)
{
	char block[BLOCK];
	const char *nl;
	off_t start;
	size_t n;

	while (end > 0) {
		start = end > BLOCK ? end - BLOCK : 0;
		n = (size_t)(end - start);
		if (batch_file_pread(fd, block, n, start) == -1)
			return -1;
		nl = memrchr(block, '\n', n);
		if (nl != NULL)
			return start + (nl - block) + 1;
		end = start;
	}
	return 0;
}

off_t
batch_file_drop_torn(int fd)
{
	struct stat st;
	off_t keep;

	if (fstat(fd, &st) == -1)
		return -1;
	keep = after_last_newline(fd, st.st_size);
	if (keep == -1)
		return -1;
	if (keep != st.st_size && ftruncate(fd, keep) == -1)
		return -1;
	return keep;
}

int
batch_file_last_line(int fd, off_t size, struct buf *line, off_t *start)
{
	off_t begin;
	size_t n;
	char *p;

	buf_clear(line);
	if (size <= 0)
		return 0;
	begin = after_last_newline(fd, size - 1);
	if (begin == -1)
		return -1;
	n = (size_t)(size - 1 - begin);
	p = buf_reserve(line, n);
	if (p == NULL)
		return -1;
	if (batch_file_pread(fd, p, n, begin) == -1)
		return -1;
	buf_commit(line, n);
	*start = begin;
	return 1;
}

int
batch_file_count_lines(int fd, uint64_t max, uint64_t *count, off_t *end)
{
	char block[BLOCK];
	const char *p, *nl;
	off_t off = 0;
	ssize_t r;
	size_t left;

	*count = 0;
	*end = 0;
	while (*count < max) {
		r = pread(fd, block, sizeof(block), off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		p = block;
		left = (size_t)r;
		while (*count < max &&
		    (nl = memchr(p, '\n', left)) != NULL) {
			(*count)++;
			*end = off + (nl - block) + 1;
			left -= (size_t)(nl - p) + 1;
			p = nl + 1;
		}
		off += r;
	}
	return 0;
}

uint64_t
batch_file_number(const char *val, size_t vlen)
{
	uint64_t n = 0;
	size_t i;

	if (vlen == 0 || vlen > 18 || val[0] == '0')
		return 0;
	for (i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return 0;
		n = n * 10 + (uint64_t)(val[i] - '0');
	}
	return n;
}

uint64_t
batch_file_member_number(const char *line, size_t len, const char *key)
{
	const char *val;
	size_t vlen;

	if (!scan_has_member(line, len, key, &val, &vlen))
		return 0;
	return batch_file_number(val, vlen);
}
