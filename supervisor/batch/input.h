/*
 * batch/input: one line of a batch corpus, as an id and a text ready to
 * be sent.
 *
 * Text input: the whole line is the text (a trailing CR is dropped) and
 * its id is its 1-based line number. JSON-lines input: the line is an
 * object {"id": string or number, "text": non-empty string, ...}; other
 * members are ignored. Ids are kept as the raw JSON text of the line, so
 * 1e3 stays 1e3 and "caf\u00e9" stays as written: output echoes them and
 * resuming compares them as text.
 *
 * Every failure is about one line and has a message: an empty line, a
 * text that is not UTF-8 or holds a NUL, a line that is not such an
 * object. The caller reports it and goes on with the next line.
 */
#ifndef EMBEDWATCH_BATCH_INPUT_H
#define EMBEDWATCH_BATCH_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct batch_input {
	char	*id_json;	/* malloc'd; NULL: unreadable */
	char	*text_json;	/* malloc'd JSON string literal */
	size_t	 text_len;	/* its length */
};

/*
 * Parse line number line_no (len bytes, without its newline). Returns 0
 * with in filled in, or -1 with a message in err; then in->id_json may
 * still be set and in->text_json is NULL. Release with
 * batch_input_clear either way. Running out of memory is a failure of
 * the line too ("out of memory").
 */
int	 batch_input_parse(bool jsonl, uint64_t line_no, const char *line,
	    size_t len, struct batch_input *in, char *err, size_t errlen);

/* Free what batch_input_parse allocated; in is empty afterwards. */
void	 batch_input_clear(struct batch_input *in);

#endif
