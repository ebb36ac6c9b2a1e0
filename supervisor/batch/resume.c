/*
 * batch/resume: see resume.h. Called once by batch_run at init, and once
 * after the loop.
 *
 * Cost: the files are read backwards from their ends (batch/file), so
 * resuming a large output costs about its last line; only counting the
 * errors file and the OUT.ids lines reads them forwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <jansson.h>

#include "batch/file.h"
#include "batch/npy.h"
#include "batch/output.h"
#include "batch/resume.h"
#include "batch/retry.h"
#include "batch/state.h"
#include "buf.h"
#include "config/config.h"
#include "log.h"
#include "protocol/scan.h"

#define RECORD_MAX		((size_t)1 << 30)

/* Does path name the input file itself? */
static bool
is_input(const struct batch *bs, const char *path)
{
	struct stat a, b;

	return bs->in_regular && stat(path, &b) == 0 &&
	    fstat(bs->in_fd, &a) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

static int
open_file(struct batch *bs, struct out_file *f, const char *path)
{
	struct stat st;
	int flags = O_CLOEXEC | O_CREAT;

	f->path = path;
	if (is_input(bs, path)) {
		log_error("output '%s' is the input", path);
		return EXIT_USAGE;
	}
	flags |= bs->cfg->resume ? O_RDWR : O_WRONLY | O_TRUNC;
	f->fd = open(path, flags, 0666);
	if (f->fd == -1) {
		log_error("cannot open output '%s': %s", path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->owned = true;
	if (fstat(f->fd, &st) == -1) {
		log_error("cannot open output '%s': %s", path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->regular = S_ISREG(st.st_mode);
	return 0;
}

/* Put the file offset at the end of what the resume kept. */
static int
seek_end(struct out_file *f, off_t size)
{
	f->written = size;
	if (lseek(f->fd, size, SEEK_SET) == -1) {
		log_error("cannot seek in output '%s': %s", f->path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	return 0;
}

/* Does the file start like one of our JSON lines (or hold nothing)?
 * Checked before cutting anything off a file given by mistake. */
static bool
looks_like_ours(const struct out_file *f)
{
	static const char start[] = "{\"id\":";
	char head[sizeof(start) - 1];
	ssize_t n;

	do
		n = pread(f->fd, head, sizeof(head), 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 || memcmp(head, start, (size_t)n) != 0) {
		log_error("cannot resume: '%s' was not written by embedwatch "
		    "batch", f->path);
		return false;
	}
	return true;
}

static int
resume_fail_io(const struct out_file *f)
{
	log_error("cannot resume from '%s': %s", f->path, strerror(errno));
	return EXIT_CANTCREAT;
}

/* A JSON-lines file of ours, without its torn line: *size is what is
 * kept. Returns 0, or an exit status after a message. */
static int
drop_torn_line(const struct out_file *f, off_t *size)
{
	if (!looks_like_ours(f))
		return EXIT_CONFIG;
	*size = batch_file_drop_torn(f->fd);
	if (*size == -1)
		return resume_fail_io(f);
	return 0;
}

/*
 * The errors file: drop a torn line and every line past keep_upto (the
 * .npy rows); note its last line number and how many inputs it lists.
 */
static int
resume_errors(struct batch *bs, uint64_t keep_upto)
{
	struct out_file *f = &bs->errors;
	struct buf line;
	uint64_t count;
	off_t size, start, end;
	int r, rc = EXIT_CANTCREAT;

	buf_init(&line, RECORD_MAX);
	if (!f->regular) {
		rc = 0;
		goto out;
	}
	rc = drop_torn_line(f, &size);
	if (rc != 0)
		goto out;
	for (;;) {
		r = batch_file_last_line(f->fd, size, &line, &start);
		if (r == -1) {
			rc = resume_fail_io(f);
			goto out;
		}
		if (r == 0)
			break;
		bs->err_line = batch_file_member_number(buf_data(&line),
		    buf_len(&line), "line");
		if (bs->err_line == 0) {
			log_error("cannot resume: '%s' is not an embedwatch "
			    "errors file", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
		if (bs->err_line <= keep_upto)
			break;
		/* Listed ahead of the rows: it will be done again. */
		if (ftruncate(f->fd, start) == -1) {
			rc = resume_fail_io(f);
			goto out;
		}
		size = start;
		bs->err_line = 0;
	}
	if (batch_file_count_lines(f->fd, UINT64_MAX, &count, &end) == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	bs->failed_before = count;
	rc = seek_end(f, size);
out:
	buf_free(&line);
	return rc;
}

/*
 * JSON lines: the prefix ends at the last record's line or the last
 * error's, whichever is later. The record's "line" says where it came
 * from; ids may repeat, so they only check that the input is the same.
 * Records without "line" (older files) fall back to the id for text
 * input, whose ids are line numbers.
 */
static int
resume_jsonl(struct batch *bs)
{
	struct out_file *f = &bs->out;
	struct buf line;
	const char *val;
	json_error_t jerr;
	json_t *root = NULL;
	off_t size, start;
	size_t vlen;
	int r, rc = EXIT_CANTCREAT;

	buf_init(&line, RECORD_MAX);
	rc = drop_torn_line(f, &size);
	if (rc != 0)
		goto out;
	r = batch_file_last_line(f->fd, size, &line, &start);
	if (r == -1) {
		rc = resume_fail_io(f);
		goto out;
	}
	if (r == 1) {
		root = json_loadb(buf_data(&line), buf_len(&line), 0, &jerr);
		if (root == NULL || !json_is_object(root) ||
		    json_object_get(root, "embedding") == NULL ||
		    !scan_has_member(buf_data(&line), buf_len(&line),
		    "id", &val, &vlen)) {
			log_error("cannot resume: the last line of '%s' is not "
			    "an embedwatch record", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
		bs->want_id = strndup(val, vlen);
		if (bs->want_id == NULL) {
			rc = resume_fail_io(f);
			goto out;
		}
		if (scan_has_member(buf_data(&line), buf_len(&line), "line",
		    &val, &vlen))
			bs->want_seq = batch_file_number(val, vlen);
		else if (!bs->jsonl_in)
			bs->want_seq = batch_file_number(bs->want_id,
			    strlen(bs->want_id));
		if (bs->want_seq == 0) {
			log_error("cannot resume: the last record of '%s' has "
			    "no input line number", f->path);
			rc = EXIT_CONFIG;
			goto out;
		}
	}
	rc = resume_errors(bs, UINT64_MAX);
	if (rc != 0)
		goto out;
	bs->skip_to = bs->err_line > bs->want_seq ? bs->err_line :
	    bs->want_seq;
	bs->skipping = bs->skip_to > 0;
	rc = seek_end(f, size);
out:
	json_decref(root);
	buf_free(&line);
	return rc;
}

/*
 * What OUT.npy holds by its header: *dim, the row width, and *size, its
 * size, or 0 when it starts afresh (empty, a torn header, no row width
 * yet). Returns 0, or an exit status after a message.
 */
static int
npy_extent(struct batch *bs, off_t *size, uint64_t *dim)
{
	const struct config *cfg = bs->cfg;
	char head[4096], err[128];
	struct stat st;
	uint64_t rows = 0;
	size_t off = 0;
	ssize_t n;
	int r;

	*dim = 0;
	if (fstat(bs->out.fd, &st) == -1)
		return resume_fail_io(&bs->out);
	*size = st.st_size;
	if (*size > 0) {
		do
			n = pread(bs->out.fd, head, sizeof(head), 0);
		while (n == -1 && errno == EINTR);
		if (n == -1)
			return resume_fail_io(&bs->out);
		r = batch_npy_parse(head, (size_t)n, &rows, dim, &off, err,
		    sizeof(err));
		if (r == -1) {
			log_error("cannot resume: '%s': %s", bs->out.path, err);
			return EXIT_CONFIG;
		}
		if (r == 1 && off != BATCH_NPY_HEADER_LEN) {
			log_error("cannot resume: '%s' was not written by "
			    "embedwatch", bs->out.path);
			return EXIT_CONFIG;
		}
		/* A torn header, or no row width yet: start afresh. */
		if (r == 0 || *dim == 0)
			*size = 0;
	}
	if (*size > 0 && cfg->dimensions > 0 &&
	    *dim != (uint64_t)cfg->dimensions) {
		log_error("cannot resume: '%s' has %" PRIu64 " dimensions, "
		    "not %ld (--dimensions)", bs->out.path, *dim,
		    cfg->dimensions);
		return EXIT_CONFIG;
	}
	return 0;
}

/* .npy: the prefix is the complete rows that OUT.ids agrees with. */
static int
resume_npy(struct batch *bs)
{
	struct buf line;
	uint64_t rows, dim, count;
	off_t size, ids_end, start;
	int r, rc;

	buf_init(&line, RECORD_MAX);
	rc = npy_extent(bs, &size, &dim);
	if (rc != 0)
		goto out;
	rc = EXIT_CANTCREAT;
	rows = size > 0 ? (uint64_t)(size - BATCH_NPY_HEADER_LEN) /
	    (dim * 4) : 0;
	if (batch_file_count_lines(bs->ids.fd, rows, &count, &ids_end) ==
	    -1) {
		rc = resume_fail_io(&bs->ids);
		goto out;
	}
	rows = count;
	if (ftruncate(bs->ids.fd, ids_end) == -1) {
		rc = resume_fail_io(&bs->ids);
		goto out;
	}
	if (rows > 0) {
		r = batch_file_last_line(bs->ids.fd, ids_end, &line, &start);
		if (r == -1) {
			rc = resume_fail_io(&bs->ids);
			goto out;
		}
		bs->want_id = strndup(buf_data(&line), buf_len(&line));
		if (bs->want_id == NULL) {
			rc = resume_fail_io(&bs->ids);
			goto out;
		}
	}
	size = size > 0 ? BATCH_NPY_HEADER_LEN +
	    (off_t)(rows * dim * 4) : 0;
	if (ftruncate(bs->out.fd, size) == -1) {
		rc = resume_fail_io(&bs->out);
		goto out;
	}
	if (size > 0) {
		bs->dim = dim;
		bs->header_written = true;
		bs->out.dirty = true;	/* the header's count is stale */
	}
	/* Which line the last row stands for is known only once the input
	 * is read that far (blank lines have no row): the errors file is
	 * cut then, by batch_resume_cut_errors. */
	if (rows == 0) {
		rc = resume_errors(bs, 0);
		if (rc != 0)
			goto out;
	}
	bs->skip_rows = rows;
	bs->skipping = rows > 0;
	rc = seek_end(&bs->ids, ids_end);
	if (rc == 0)
		rc = seek_end(&bs->out, size);
out:
	buf_free(&line);
	return rc;
}

/* Would opening path for a fresh run destroy a previous run's work? */
static bool
holds_work(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0;
}

/* A fresh run refuses to overwrite what a run before it wrote, unless
 * told to with --force. Returns 0, or EXIT_CANTCREAT after a message. */
static int
refuse_overwrite(const struct batch *bs, const char *errors)
{
	const char *paths[3] = { bs->out_name, bs->ids_path, errors };
	size_t i;

	if (bs->cfg->resume || bs->cfg->force)
		return 0;
	for (i = 0; i < 3; i++)
		if (holds_work(paths[i]) && !is_input(bs, paths[i])) {
			log_error("output '%s' exists; add --resume to go on "
			    "with that run, or --force to overwrite it",
			    paths[i]);
			return EXIT_CANTCREAT;
		}
	return 0;
}

int
batch_resume_open(struct batch *bs)
{
	const struct config *cfg = bs->cfg;
	const char *out = bs->out_name, *errors = bs->errors_name;
	struct stat st;
	int rc;

	if (cfg->retry_failed)
		return batch_retry_open(bs);
	if (bs->npy && asprintf(&bs->ids_path, "%s.ids", out) == -1) {
		bs->ids_path = NULL;
		log_error("out of memory");
		return EXIT_SOFTWARE;
	}
	if (errors == NULL && out != NULL) {
		if (asprintf(&bs->errors_path, "%s.errors", out) == -1) {
			bs->errors_path = NULL;
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		errors = bs->errors_path;
	}
	rc = refuse_overwrite(bs, errors);
	if (rc != 0)
		return rc;
	if (out == NULL) {
		bs->out.path = "stdout";
		bs->out.fd = STDOUT_FILENO;
		bs->out.regular = fstat(STDOUT_FILENO, &st) == 0 &&
		    S_ISREG(st.st_mode);
	} else {
		rc = open_file(bs, &bs->out, out);
		if (rc != 0)
			return rc;
	}
	if (bs->npy) {
		rc = open_file(bs, &bs->ids, bs->ids_path);
		if (rc != 0)
			return rc;
	}
	if (errors != NULL) {
		rc = open_file(bs, &bs->errors, errors);
		if (rc != 0)
			return rc;
	} else {
		bs->errors.path = "stderr";
		bs->errors.fd = STDERR_FILENO;
	}
	if (cfg->resume) {
		rc = bs->npy ? resume_npy(bs) : resume_jsonl(bs);
		if (rc != 0)
			return rc;
	}
	if (bs->npy && !bs->header_written && cfg->dimensions > 0) {
		batch_output_set_dim(bs, (uint64_t)cfg->dimensions);
		if (bs->fatal != 0)
			return bs->fatal;
	}
	return 0;
}

int
batch_resume_cut_errors(struct batch *bs, uint64_t line)
{
	return resume_errors(bs, line);
}

void
batch_resume_check_end(struct batch *bs)
{
	if (!bs->skipping || bs->fatal != 0 || !bs->in_eof)
		return;
	if (bs->npy)
		log_error("cannot resume: input '%s' has %" PRIu64 " lines "
		    "with a row, fewer than the %" PRIu64 " rows of '%s'",
		    bs->in_path, bs->rows_seen, bs->skip_rows, bs->out.path);
	else
		log_error("cannot resume: input '%s' has %" PRIu64
		    " lines, fewer than the %" PRIu64 " that '%s' "
		    "accounts for", bs->in_path, bs->next_seq - 1,
		    bs->skip_to, bs->out.path);
	bs->fatal = EXIT_CONFIG;
}
