/*
 * batch/journal: see journal.h. Opened by batch_init after the output
 * files (it needs OUT's path and, resuming, is read before any input);
 * appended to by batch/chunks as answers arrive out of order; restored
 * from by batch/reader; flushed and synced by batch/output with the
 * other files; closed by batch_finish.
 *
 * Invariant: an item with jlen > 0 has its record at jpos in the
 * current journal file; an index entry's record is at its off there.
 * Rewriting the journal moves both together.
 *
 * Cost: opening reads the journal once, forwards (bounded by the
 * rewrite rule), and sorts its index; a restore is one pread; a rewrite
 * copies the records still needed, at most the results waiting in the
 * ring plus those of the index not reached yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/file.h"
#include "batch/journal.h"
#include "batch/output.h"
#include "batch/state.h"
#include "batch/vec.h"
#include "buf.h"
#include "config/config.h"
#include "log.h"
#include "protocol/scan.h"

#define READ_BLOCK	((size_t)1 << 20)
#define RECORD_MAX	((size_t)1 << 30)

static int
fail_io(struct batch *bs, const char *what, const char *path)
{
	log_error("cannot %s journal '%s': %s", what, path, strerror(errno));
	batch_stop(bs, EXIT_CANTCREAT);
	return -1;
}

static int
index_add(struct batch *bs, uint64_t line, off_t off, size_t len)
{
	struct journal_entry *p;
	size_t cap;

	if (bs->jidx_n == bs->jidx_cap) {
		cap = bs->jidx_cap > 0 ? 2 * bs->jidx_cap : 256;
		p = reallocarray(bs->jidx, cap, sizeof(*p));
		if (p == NULL)
			return -1;
		bs->jidx = p;
		bs->jidx_cap = cap;
	}
	bs->jidx[bs->jidx_n++] = (struct journal_entry){ line, off, len };
	return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct journal_entry *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Resuming: index every complete record of the journal, by line. */
static int
read_index(struct batch *bs, off_t size)
{
	struct out_file *f = &bs->journal;
	struct buf b;
	const char *p, *nl;
	off_t at = 0, line_at = 0;
	size_t used;
	uint64_t line;
	ssize_t n;
	int rc = -1;

	buf_init(&b, RECORD_MAX);
	while (at < size) {
		if (buf_reserve(&b, READ_BLOCK) == NULL)
			goto out;
		do
			n = pread(f->fd, buf_data(&b) + buf_len(&b),
			    READ_BLOCK, at);
		while (n == -1 && errno == EINTR);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto out;
		}
		buf_commit(&b, (size_t)n);
		at += n;
		for (;;) {
			p = buf_data(&b);
			nl = memchr(p, '\n', buf_len(&b));
			if (nl == NULL)
				break;
			used = (size_t)(nl - p) + 1;
			line = batch_file_member_number(p, used - 1, "line");
			if (line > 0 && index_add(bs, line, line_at, used) == -1)
				goto out;
			line_at += (off_t)used;
			buf_consume(&b, used);
		}
	}
	qsort(bs->jidx, bs->jidx_n, sizeof(bs->jidx[0]), cmp_entry);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int
batch_journal_open(struct batch *bs)
{
	struct out_file *f = &bs->journal;
	struct stat st;
	off_t size;
	int flags = O_CLOEXEC | O_CREAT | O_RDWR;

	if (bs->out_name == NULL || !bs->out.regular ||
	    bs->retrying)
		return 0;
	if (asprintf(&bs->journal_path, "%s.journal",
	    bs->out_name) == -1) {
		bs->journal_path = NULL;
		log_error("out of memory");
		return EXIT_SOFTWARE;
	}
	f->path = bs->journal_path;
	if (!bs->cfg->resume)
		flags |= O_TRUNC;
	f->fd = open(f->path, flags, 0666);
	if (f->fd == -1 || fstat(f->fd, &st) == -1) {
		log_error("cannot open journal '%s': %s", f->path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->owned = true;
	f->regular = S_ISREG(st.st_mode);
	size = f->regular ? batch_file_drop_torn(f->fd) : 0;
	if (size == -1 || (size > 0 && read_index(bs, size) == -1) ||
	    lseek(f->fd, size, SEEK_SET) == -1) {
		log_error("cannot read journal '%s': %s", f->path,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	f->written = size;
	bs->journal_compact_at = JOURNAL_COMPACT_MIN;
	if (bs->jidx_n > 0)
		log_debug("journal '%s': %zu results to reuse", f->path,
		    bs->jidx_n);
	return 0;
}

int
batch_journal_append(struct batch *bs, uint64_t seq, struct item *it,
    const char *vec, size_t len)
{
	struct buf *b = &bs->journal.pending;
	size_t before = buf_len(b);
	const char *id = it->id_json != NULL ? it->id_json : "null";

	if (bs->journal.fd == -1)
		return 0;
	if (buf_printf(b, "{\"id\":%s,\"line\":%" PRIu64 ",\"embedding\":",
	    id, seq) == -1 || buf_append(b, vec, len) == -1 ||
	    buf_append(b, "}\n", 2) == -1) {
		buf_truncate(b, before);
		log_error("cannot buffer journal '%s': %s", bs->journal.path,
		    strerror(errno));
		batch_stop(bs, EXIT_CANTCREAT);
		return -1;
	}
	it->jpos = bs->journal.written + (off_t)before;
	it->jlen = buf_len(b) - before;
	return 0;
}

/* Fill it from the record rec (len bytes, no newline) of line seq.
 * Returns 0, or -1 if the record does not fit the item. */
static int
fill_item(struct batch *bs, struct item *it, const char *rec, size_t len)
{
	struct result *res;
	const char *val, *id;
	size_t vlen, dim;
	char err[128];
	ssize_t got;

	id = it->id_json != NULL ? it->id_json : "null";
	if (!scan_has_member(rec, len, "id", &val, &vlen) ||
	    vlen != strlen(id) || memcmp(val, id, vlen) != 0 ||
	    !scan_has_member(rec, len, "embedding", &val, &vlen) ||
	    vlen < 2 || val[0] != '[')
		return -1;
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return -1;
	if (!bs->npy) {
		res->size = vlen;
		res->text = malloc(vlen);
		if (res->text == NULL)
			goto bad;
		memcpy(res->text, val, vlen);
		it->len = vlen;
	} else {
		dim = bs->dim != 0 ? bs->dim : batch_vec_count(val, vlen);
		if (dim == 0)
			goto bad;
		res->size = dim * sizeof(float);
		res->values = malloc(res->size);
		if (res->values == NULL)
			goto bad;
		got = batch_vec_parse(val, vlen, res->values, dim, err,
		    sizeof(err));
		if (got < 0 || (size_t)got != dim)
			goto bad;
		if (bs->dim == 0)
			batch_output_set_dim(bs, dim);
	}
	batch_drop_text(bs, it);
	it->state = ITEM_OK;
	it->off = 0;
	it->res = res;
	res->refs = 1;
	bs->held += res->size;
	return 0;
bad:
	free(res->text);
	free(res->values);
	free(res);
	return -1;
}

bool
batch_journal_restore(struct batch *bs, uint64_t seq, struct item *it)
{
	const struct journal_entry *e = NULL;
	char *rec;

	while (bs->jidx_next < bs->jidx_n &&
	    bs->jidx[bs->jidx_next].line <= seq) {
		if (bs->jidx[bs->jidx_next].line == seq)
			e = &bs->jidx[bs->jidx_next];	/* the latest wins */
		bs->jidx_next++;
	}
	if (e == NULL || e->len < 2)
		return false;
	rec = malloc(e->len);
	if (rec == NULL)
		return false;
	if (batch_file_pread(bs->journal.fd, rec, e->len, e->off) == -1 ||
	    fill_item(bs, it, rec, e->len - 1) == -1) {
		log_debug("journal '%s': the record of line %" PRIu64 " is "
		    "not usable; embedding it again", bs->journal.path, seq);
		free(rec);
		return false;
	}
	free(rec);
	it->jpos = e->off;
	it->jlen = e->len;
	bs->n_restored++;
	return true;
}

/* Copy len bytes at from in the old journal to the end of the new one
 * (size *at, advanced). Returns 0, or -1 with errno. */
static int
copy_record(int from_fd, off_t from, size_t len, int to_fd, off_t *at,
    struct buf *tmp)
{
	buf_clear(tmp);
	if (buf_reserve(tmp, len) == NULL ||
	    batch_file_pread(from_fd, buf_data(tmp), len, from) == -1)
		return -1;
	buf_commit(tmp, len);
	if (buf_write_fd(tmp, to_fd) != (ssize_t)len) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	*at += (off_t)len;
	return 0;
}

/* Sync the directory holding path, so that a rename in it lasts. */
static int
sync_dir(const char *path)
{
	char *copy;
	int fd, rc = -1;

	copy = strdup(path);
	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		rc = fsync(fd) == -1 && errno != EINVAL ? -1 : 0;
		(void)close(fd);
	}
	free(copy);
	return rc;
}

/*
 * Write a new journal with only the records still needed (results in
 * the ring not written yet, index entries not reached yet), sync it and
 * rename it over the old one. Race: a kill before the rename leaves the
 * old journal, complete; after it, the new one, complete and synced.
 */
static int
compact(struct batch *bs)
{
	struct out_file *f = &bs->journal;
	struct buf tmp;
	struct item *it;
	char *tmp_path = NULL;
	uint64_t seq;
	off_t at = 0, *moved = NULL;
	size_t i;
	int fd = -1, rc = -1;

	buf_init(&tmp, RECORD_MAX);
	if (asprintf(&tmp_path, "%s.tmp", f->path) == -1) {
		tmp_path = NULL;
		goto out;
	}
	moved = calloc(bs->next_seq - bs->base + 1, sizeof(*moved));
	if (moved == NULL)
		goto out;
	fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd == -1)
		goto out;
	for (seq = bs->base; seq < bs->next_seq; seq++) {
		it = batch_item(bs, seq);
		moved[seq - bs->base] = at;
		if (it->state == ITEM_OK && it->jlen > 0 &&
		    copy_record(f->fd, it->jpos, it->jlen, fd, &at, &tmp) == -1)
			goto out;
	}
	for (i = bs->jidx_next; i < bs->jidx_n; i++) {
		if (copy_record(f->fd, bs->jidx[i].off, bs->jidx[i].len, fd,
		    &at, &tmp) == -1)
			goto out;
		bs->jidx[i].off = at - (off_t)bs->jidx[i].len;
	}
	if (fsync(fd) == -1 || rename(tmp_path, f->path) == -1 ||
	    sync_dir(f->path) == -1)
		goto out;
	for (seq = bs->base; seq < bs->next_seq; seq++) {
		it = batch_item(bs, seq);
		if (it->state == ITEM_OK && it->jlen > 0)
			it->jpos = moved[seq - bs->base];
	}
	(void)close(f->fd);
	f->fd = fd;
	fd = -1;
	if (lseek(f->fd, at, SEEK_SET) == -1)
		goto out;
	log_debug("journal '%s': rewritten, %jd of %jd bytes kept", f->path,
	    (intmax_t)at, (intmax_t)f->written);
	f->written = at;
	f->dirty = false;
	bs->journal_compact_at = 2 * at > JOURNAL_COMPACT_MIN ? 2 * at :
	    JOURNAL_COMPACT_MIN;
	rc = 0;
out:
	if (rc == -1)
		(void)fail_io(bs, "rewrite", f->path);
	if (fd != -1) {
		(void)close(fd);
		(void)unlink(tmp_path);
	}
	free(tmp_path);
	free(moved);
	buf_free(&tmp);
	return rc;
}

int
batch_journal_flush(struct batch *bs)
{
	struct out_file *f = &bs->journal;

	if (f->fd == -1)
		return 0;
	if (batch_output_flush(bs, f, true) == -1)
		return -1;
	if (f->regular && f->written >= bs->journal_compact_at)
		return compact(bs);
	return 0;
}

int
batch_journal_sync(struct batch *bs)
{
	struct out_file *f = &bs->journal;

	if (f->fd == -1 || !f->regular || !f->dirty)
		return 0;
	f->dirty = false;
	if (fsync(f->fd) == -1 && errno != EINVAL)
		return fail_io(bs, "sync", f->path);
	return 0;
}

void
batch_journal_close(struct batch *bs, bool complete)
{
	struct out_file *f = &bs->journal;

	if (f->fd != -1 && complete && unlink(f->path) == -1 &&
	    errno != ENOENT)
		log_warn("cannot remove journal '%s': %s", f->path,
		    strerror(errno));
	else if (f->fd != -1 && !complete && bs->fatal == 0)
		(void)batch_journal_sync(bs);
	batch_output_close(f);
	free(bs->jidx);
	bs->jidx = NULL;
	bs->jidx_n = bs->jidx_cap = bs->jidx_next = 0;
}
