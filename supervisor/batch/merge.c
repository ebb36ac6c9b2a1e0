/*
 * batch/merge: see merge.h. Called by batch_init instead of starting a
 * run; uses no loop, engine or worker.
 *
 * Cost: one pass over every shard file, in bounded memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/merge.h"
#include "batch/npy.h"
#include "batch/shard.h"
#include "config/config.h"
#include "io.h"
#include "log.h"

#define COPY_BLOCK	((size_t)1 << 20)

struct target {
	const char	*path;		/* final name */
	char		*tmp;		/* written here first */
	int		 fd;
};

static int
target_open(struct target *t, const char *path)
{
	t->path = path;
	t->fd = -1;
	if (asprintf(&t->tmp, "%s.tmp", path) == -1) {
		t->tmp = NULL;
		log_error("out of memory");
		return EXIT_SOFTWARE;
	}
	t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (t->fd == -1) {
		log_error("cannot open output '%s': %s", t->tmp,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	return 0;
}

/* Sync and rename into place (ok), or drop the temporary file. */
static int
target_close(struct target *t, bool ok)
{
	int rc = 0;

	if (t->fd != -1 && ok && (fsync(t->fd) == -1 ||
	    rename(t->tmp, t->path) == -1)) {
		log_error("cannot write output '%s': %s", t->path,
		    strerror(errno));
		rc = EXIT_CANTCREAT;
	}
	if (t->fd != -1 && close(t->fd) == -1 && rc == 0 && ok) {
		log_error("cannot write output '%s': %s", t->path,
		    strerror(errno));
		rc = EXIT_CANTCREAT;
	}
	if (t->fd != -1 && (!ok || rc != 0))
		(void)unlink(t->tmp);
	free(t->tmp);
	t->tmp = NULL;
	t->fd = -1;
	return rc;
}

/* Append path's bytes from offset skip to t. A missing file is empty
 * when may_miss. Returns 0, or an exit status after a message. */
static int
append_file(struct target *t, const char *path, off_t skip, bool may_miss)
{
	char *buf;
	ssize_t n;
	int fd, rc = EXIT_CANTCREAT;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && may_miss)
		return 0;
	if (fd == -1) {
		log_error("cannot merge: cannot open shard file '%s': %s",
		    path, strerror(errno));
		return EXIT_NOINPUT;
	}
	buf = malloc(COPY_BLOCK);
	if (buf == NULL || lseek(fd, skip, SEEK_SET) == -1)
		goto out;
	while ((n = io_read(fd, buf, COPY_BLOCK)) > 0)
		if (io_write_all(t->fd, buf, (size_t)n) == -1)
			goto out;
	if (n == 0)
		rc = 0;
out:
	if (rc != 0)
		log_error("cannot merge '%s' into '%s': %s", path, t->tmp,
		    strerror(errno));
	free(buf);
	(void)close(fd);
	return rc;
}

/* Append rows NaN rows of dim values. */
static int
append_nan_rows(struct target *t, uint64_t rows, uint64_t dim)
{
	float row[256];
	uint64_t r;
	size_t i, n, left;

	for (i = 0; i < 256; i++)
		row[i] = NAN;
	for (r = 0; r < rows; r++)
		for (left = dim; left > 0; left -= n) {
			n = left < 256 ? left : 256;
			if (io_write_all(t->fd, row, n * sizeof(float)) == -1) {
				log_error("cannot write output '%s': %s",
				    t->tmp, strerror(errno));
				return EXIT_CANTCREAT;
			}
		}
	return 0;
}

/* The rows and row width of a shard's .npy. */
static int
npy_shape(const char *path, uint64_t *rows, uint64_t *dim)
{
	char head[BATCH_NPY_HEADER_LEN], err[128];
	size_t off;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_error("cannot merge: cannot open shard file '%s': %s",
		    path, strerror(errno));
		return EXIT_NOINPUT;
	}
	n = pread(fd, head, sizeof(head), 0);
	(void)close(fd);
	if (n != (ssize_t)sizeof(head) || batch_npy_parse(head, sizeof(head),
	    rows, dim, &off, err, sizeof(err)) != 1 ||
	    off != BATCH_NPY_HEADER_LEN) {
		log_error("cannot merge: '%s' is not an embedwatch .npy", path);
		return EXIT_CONFIG;
	}
	return 0;
}

/* Names of every shard's file for path (NULL-free), and checks that
 * each shard finished. */
static int
shard_names(const char *out, unsigned n, char ***names)
{
	struct stat st;
	char *journal;
	unsigned k;
	int rc = 0;

	*names = calloc(n, sizeof(**names));
	if (*names == NULL)
		return EXIT_SOFTWARE;
	for (k = 0; k < n && rc == 0; k++) {
		(*names)[k] = batch_shard_name(out, k + 1, n);
		if ((*names)[k] == NULL ||
		    asprintf(&journal, "%s.journal", (*names)[k]) == -1) {
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		if (stat((*names)[k], &st) == -1) {
			log_error("cannot merge: shard %u of %u, '%s': %s",
			    k + 1, n, (*names)[k], strerror(errno));
			rc = EXIT_NOINPUT;
		} else if (stat(journal, &st) == 0) {
			log_error("cannot merge: shard %u of %u has not "
			    "finished ('%s' is there); run it again with "
			    "--resume", k + 1, n, journal);
			rc = EXIT_CONFIG;
		}
		free(journal);
	}
	return rc;
}

static void
free_names(char **names, unsigned n)
{
	unsigned k;

	if (names == NULL)
		return;
	for (k = 0; k < n; k++)
		free(names[k]);
	free(names);
}

/* OUT's own rows: header, then each shard's. */
static int
merge_npy(struct target *t, char **parts, unsigned n, uint64_t *total)
{
	char hdr[BATCH_NPY_HEADER_LEN];
	uint64_t rows, dim, d = 0;
	unsigned k;
	int rc;

	*total = 0;
	for (k = 0; k < n; k++) {
		rc = npy_shape(parts[k], &rows, &dim);
		if (rc != 0)
			return rc;
		if (dim != 0 && d != 0 && dim != d) {
			log_error("cannot merge: '%s' has rows of %" PRIu64
			    " values, the shards before it %" PRIu64,
			    parts[k], dim, d);
			return EXIT_CONFIG;
		}
		if (dim != 0)
			d = dim;
		*total += rows;
	}
	batch_npy_header(*total, d, hdr);
	if (io_write_all(t->fd, hdr, sizeof(hdr)) == -1) {
		log_error("cannot write output '%s': %s", t->tmp,
		    strerror(errno));
		return EXIT_CANTCREAT;
	}
	for (k = 0; k < n; k++) {
		rc = npy_shape(parts[k], &rows, &dim);
		if (rc == 0 && dim == 0)
			rc = append_nan_rows(t, rows, d);
		else if (rc == 0)
			rc = append_file(t, parts[k], BATCH_NPY_HEADER_LEN,
			    false);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Concatenate each shard's file named suffix after its name (errors,
 * ids) into t. */
static int
merge_side(struct target *t, char **parts, unsigned n, const char *suffix,
    char **errors_parts, bool may_miss)
{
	char *path;
	unsigned k;
	int rc = 0;

	for (k = 0; k < n && rc == 0; k++) {
		if (errors_parts != NULL) {
			rc = append_file(t, errors_parts[k], 0, may_miss);
			continue;
		}
		if (asprintf(&path, "%s%s", parts[k], suffix) == -1) {
			log_error("out of memory");
			return EXIT_SOFTWARE;
		}
		rc = append_file(t, path, 0, may_miss);
		free(path);
	}
	return rc;
}

static bool
holds_work(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

int
batch_merge(const struct config *cfg, bool npy)
{
	struct target out = { .fd = -1 }, ids = { .fd = -1 },
	    errs = { .fd = -1 };
	char **parts = NULL, **err_parts = NULL, *ids_path = NULL,
	    *errors_path = NULL;
	const char *errors;
	unsigned n = cfg->shards != 0 ? cfg->shards : cfg->shard_n, k;
	uint64_t rows = 0;
	int rc;

	if (cfg->batch_output == NULL || n == 0) {
		log_error("--merge needs -o OUT and --shards N: the OUT the "
		    "shards were run with");
		return EXIT_USAGE;
	}
	if (asprintf(&ids_path, "%s.ids", cfg->batch_output) == -1 ||
	    asprintf(&errors_path, "%s.errors", cfg->batch_output) == -1) {
		log_error("out of memory");
		rc = EXIT_SOFTWARE;
		goto out;
	}
	errors = cfg->batch_errors != NULL ? cfg->batch_errors : errors_path;
	rc = shard_names(cfg->batch_output, n, &parts);
	if (rc != 0)
		goto out;
	if (cfg->batch_errors != NULL) {
		err_parts = calloc(n, sizeof(*err_parts));
		for (k = 0; err_parts != NULL && k < n; k++) {
			err_parts[k] = batch_shard_name(cfg->batch_errors,
			    k + 1, n);
			if (err_parts[k] == NULL)
				break;
		}
		if (err_parts == NULL || k < n) {
			log_error("out of memory");
			rc = EXIT_SOFTWARE;
			goto out;
		}
	}
	if (!cfg->force && (holds_work(cfg->batch_output) ||
	    holds_work(errors) || (npy && holds_work(ids_path)))) {
		log_error("output '%s' exists; add --force to overwrite it",
		    cfg->batch_output);
		rc = EXIT_CANTCREAT;
		goto out;
	}
	rc = target_open(&out, cfg->batch_output);
	if (rc == 0)
		rc = target_open(&errs, errors);
	if (rc == 0 && npy)
		rc = target_open(&ids, ids_path);
	if (rc == 0 && npy)
		rc = merge_npy(&out, parts, n, &rows);
	else if (rc == 0)
		rc = merge_side(&out, parts, n, "", NULL, false);
	if (rc == 0 && npy)
		rc = merge_side(&ids, parts, n, ".ids", NULL, false);
	if (rc == 0)
		rc = merge_side(&errs, parts, n, ".errors", err_parts, true);
out:
	/* The errors file last: it is what says the merge is whole. */
	if (target_close(&out, rc == 0) != 0 && rc == 0)
		rc = EXIT_CANTCREAT;
	if (target_close(&ids, rc == 0) != 0 && rc == 0)
		rc = EXIT_CANTCREAT;
	if (target_close(&errs, rc == 0) != 0 && rc == 0)
		rc = EXIT_CANTCREAT;
	if (rc == 0)
		(void)fprintf(stderr, "embedwatch: merged %u shards into "
		    "'%s'\n", n, cfg->batch_output);
	free_names(parts, n);
	if (err_parts != NULL)
		free_names(err_parts, n);
	free(ids_path);
	free(errors_path);
	return rc;
}
