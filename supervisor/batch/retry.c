/*
 * batch/retry: see retry.h. batch_retry_open runs at init in place of
 * batch/resume; batch/reader asks batch_retry_wants for each line;
 * batch/output hands it the successes; batch_finish calls
 * batch_retry_finish.
 *
 * Invariant: the old OUT's records are copied in their order, each just
 * before the first new record with a later line, so the new OUT is in
 * input order as long as the old one was.
 *
 * Cost: the errors file is read once at open and its line numbers
 * sorted; the old OUT is read forwards once, one record at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/file.h"
#include "batch/npy.h"
#include "batch/output.h"
#include "batch/retry.h"
#include "batch/state.h"
#include "buf.h"
#include "config/config.h"
#include "log.h"
#include "protocol/lines.h"
#include "protocol/scan.h"

#define READ_CHUNK	(256 * 1024)
#define RECORD_MAX	((size_t)1 << 30)

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The line numbers the errors file lists, sorted, into bs->retry. */
static int
read_listed(struct batch *bs, const char *path)
{
	struct lines l;
	const char *line;
	uint64_t n, *p;
	size_t len, cap = 0;
	int fd, rc = EXIT_CANTCREAT;
	enum lines_status st;

	lines_init(&l, RECORD_MAX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_error("cannot retry: cannot open errors file '%s': %s",
		    path, strerror(errno));
		goto out;
	}
	do {
		st = lines_read(&l, fd, READ_CHUNK);
		if (st == LINES_ERROR || st == LINES_TOO_LONG) {
			log_error("cannot read errors file '%s': %s", path,
			    st == LINES_ERROR ? strerror(errno) :
			    "line too long");
			goto out;
		}
		while (lines_next(&l, &line, &len)) {
			n = batch_file_member_number(line, len, "line");
			if (n == 0) {
				log_error("cannot retry: '%s' is not an "
				    "embedwatch errors file", path);
				rc = EXIT_CONFIG;
				goto out;
			}
			if (bs->n_retry == cap) {
				cap = cap > 0 ? 2 * cap : 256;
				p = reallocarray(bs->retry, cap, sizeof(*p));
				if (p == NULL) {
					log_error("out of memory");
					rc = EXIT_SOFTWARE;
					goto out;
				}
				bs->retry = p;
			}
			bs->retry[bs->n_retry++] = n;
		}
	} while (st != LINES_EOF);
	qsort(bs->retry, bs->n_retry, sizeof(bs->retry[0]), cmp_u64);
	rc = 0;
out:
	if (fd != -1)
		(void)close(fd);
	lines_free(&l);
	return rc;
}

/* Create path.tmp as f, for a file renamed into place at the end. */
static int
open_tmp(struct out_file *f, const char *path, char **tmp_path)
{
	if (asprintf(tmp_path, "%s.tmp", path) == -1) {
		*tmp_path = NULL;
		log_error("out of memory");
		return EXIT_SOFTWARE;
	}
	f->path = *tmp_path;
	f->fd = open(*tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666);
	if (f->fd == -1) {
		log_error("cannot open output '%s': %s", *tmp_path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->owned = true;
	f->regular = true;
	return 0;
}

/* .npy: OUT is opened for writing rows in place; its header gives the
 * row width and count. */
static int
open_npy(struct batch *bs, const char *out)
{
	char head[BATCH_NPY_HEADER_LEN], err[128];
	size_t off;
	ssize_t n;

	bs->out.path = out;
	bs->out.fd = open(out, O_RDWR | O_CLOEXEC);
	if (bs->out.fd == -1) {
		log_error("cannot retry: cannot open '%s': %s", out,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	bs->out.owned = true;
	bs->out.regular = true;
	do
		n = pread(bs->out.fd, head, sizeof(head), 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(head) || batch_npy_parse(head, sizeof(head),
	    &bs->retry_rows, &bs->dim, &off, err, sizeof(err)) != 1 ||
	    off != BATCH_NPY_HEADER_LEN || bs->dim == 0) {
		log_error("cannot retry: '%s' is not a finished embedwatch "
		    ".npy", out);
		return EXIT_CONFIG;
	}
	bs->header_written = true;
	bs->out.written = BATCH_NPY_HEADER_LEN;
	return 0;
}

int
batch_retry_open(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	const char *out = bs->out_name, *errors = bs->errors_name;
	int rc;

	if (out == NULL || cfg->resume) {
		log_error("--retry-failed needs the output file of a finished "
		    "run (-o OUT) and no --resume");
		return EXIT_USAGE;
	}
	if (errors == NULL) {
		if (asprintf(&bs->errors_path, "%s.errors", out) == -1) {
			bs->errors_path = NULL;
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		errors = bs->errors_path;
	}
	bs->retrying = true;
	rc = read_listed(bs, errors);
	if (rc != 0)
		return rc;
	bs->retry_errors = errors;
	rc = open_tmp(&bs->errors, errors, &bs->errors_tmp);
	if (rc != 0)
		return rc;
	if (bs->npy)
		return open_npy(bs, out);
	bs->old_fd = open(out, O_RDONLY | O_CLOEXEC);
	if (bs->old_fd == -1) {
		log_error("cannot retry: cannot open '%s': %s", out,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	return open_tmp(&bs->out, out, &bs->out_tmp);
}

bool
batch_retry_wants(struct batch *bs, uint64_t seq)
{
	while (bs->retry_next < bs->n_retry && bs->retry[bs->retry_next] < seq)
		bs->retry_next++;
	return bs->retry_next < bs->n_retry && bs->retry[bs->retry_next] == seq;
}

/*
 * Copy the old OUT's records whose line is before upto (UINT64_MAX:
 * all) to the new one. Returns 0, or -1 after a message.
 */
static int
copy_old(struct batch *bs, uint64_t upto)
{
	const char *line;
	size_t len;
	uint64_t at;
	enum lines_status st;

	for (;;) {
		if (!bs->old_have) {
			if (lines_next(&bs->old, &line, &len)) {
				bs->old_have = true;
				bs->old_line = line;
				bs->old_len = len;
			} else if (bs->old_eof)
				return 0;
			else {
				st = lines_read(&bs->old, bs->old_fd,
				    READ_CHUNK);
				if (st == LINES_EOF)
					bs->old_eof = true;
				else if (st == LINES_ERROR ||
				    st == LINES_TOO_LONG)
					goto fail;
				continue;
			}
		}
		at = batch_file_member_number(bs->old_line, bs->old_len, "line");
		if (at == 0 && !bs->jsonl_in)
			at = batch_file_member_number(bs->old_line, bs->old_len, "id");
		if (at == 0) {
			log_error("cannot retry: a record of '%s' has no "
			    "input line number", bs->out_name);
			batch_stop(bs, EXIT_CONFIG);
			return -1;
		}
		if (at >= upto)
			return 0;
		if (buf_append(&bs->out.pending, bs->old_line,
		    bs->old_len) == -1 ||
		    buf_append(&bs->out.pending, "\n", 1) == -1)
			goto fail;
		bs->old_have = false;
		bs->n_kept++;
	}
fail:
	log_error("cannot copy '%s': %s", bs->out_name,
	    strerror(errno));
	batch_stop(bs, EXIT_CANTCREAT);
	return -1;
}

int
batch_retry_write_ok(struct batch *bs, uint64_t seq, const struct item *it)
{
	const char *id = it->id_json != NULL ? it->id_json : "null";
	struct buf *o = &bs->out.pending;
	size_t n = bs->dim * sizeof(float);
	off_t at;
	ssize_t w;

	if (!bs->npy) {
		if (copy_old(bs, seq) == -1)
			return -1;
		if (buf_printf(o, "{\"id\":%s,\"line\":%" PRIu64
		    ",\"embedding\":", id, seq) == -1 ||
		    buf_append(o, it->res->text + it->off, it->len) == -1 ||
		    buf_append(o, "}\n", 2) == -1) {
			log_error("cannot buffer output '%s': %s",
			    bs->out.path, strerror(errno));
			batch_stop(bs, EXIT_CANTCREAT);
			return -1;
		}
		return 0;
	}
	if (it->row >= bs->retry_rows) {
		log_error("cannot retry: line %" PRIu64 " has no row in '%s' "
		    "(finish the run with --resume first)", seq, bs->out.path);
		batch_stop(bs, EXIT_CONFIG);
		return -1;
	}
	at = BATCH_NPY_HEADER_LEN + (off_t)(it->row * n);
	do
		w = pwrite(bs->out.fd, it->res->values + it->off, n, at);
	while (w == -1 && errno == EINTR);
	if (w != (ssize_t)n) {
		log_error("cannot write output '%s': %s", bs->out.path,
		    w == -1 ? strerror(errno) : "short write");
		batch_stop(bs, EXIT_CANTCREAT);
		return -1;
	}
	bs->out.dirty = true;
	return 0;
}

/* Sync f (flushed) and rename it from tmp over path. */
static int
put_in_place(struct batch *bs, struct out_file *f, const char *tmp,
    const char *path)
{
	if (batch_output_flush(bs, f, true) == -1)
		return -1;
	if (fsync(f->fd) == -1 || rename(tmp, path) == -1) {
		log_error("cannot put '%s' in place of '%s': %s", tmp, path,
		    strerror(errno));
		batch_stop(bs, EXIT_CANTCREAT);
		return -1;
	}
	return 0;
}

void
batch_retry_finish(struct batch *bs, bool complete)
{
	if (!bs->retrying)
		return;
	if (complete && bs->fatal == 0 && !bs->npy &&
	    copy_old(bs, UINT64_MAX) == 0)
		(void)put_in_place(bs, &bs->out, bs->out_tmp,
		    bs->out_name);
	if (complete && bs->fatal == 0 && bs->npy && fsync(bs->out.fd) == -1) {
		log_error("cannot sync output '%s': %s", bs->out.path,
		    strerror(errno));
		batch_stop(bs, EXIT_CANTCREAT);
	}
	if (complete && bs->fatal == 0)
		(void)put_in_place(bs, &bs->errors, bs->errors_tmp,
		    bs->retry_errors);
	if (!complete || bs->fatal != 0) {
		if (bs->out_tmp != NULL)
			(void)unlink(bs->out_tmp);
		if (bs->errors_tmp != NULL)
			(void)unlink(bs->errors_tmp);
	}
}
