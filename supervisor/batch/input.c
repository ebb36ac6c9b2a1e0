/*
 * batch/input: see input.h.
 *
 * Cost: a text line is validated and escaped in one pass; a JSON line is
 * parsed once by jansson, then its id is found again by a scan of the
 * raw text (protocol/scan, cheap next to jansson) and its text escaped
 * once more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "utf8.h"
#include "batch/input.h"
#include "protocol/scan.h"

void
batch_input_clear(struct batch_input *in)
{
	free(in->id_json);
	free(in->text_json);
	in->id_json = NULL;
	in->text_json = NULL;
	in->text_len = 0;
}

/*
 * The text as a malloc'd JSON string literal in *out (*outlen bytes).
 * Returns 0, or -1 with a message in err.
 */
static int
escape_text(const char *text, size_t len, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)text;
	char *buf, *p;
	size_t i, n;

	/* Worst case: every byte a six-byte \u00XX escape. */
	if (len > (SIZE_MAX - 3) / 6) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf = malloc(len * 6 + 3);
	if (buf == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	p = buf;
	*p++ = '"';
	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] == '"' || s[i] == '\\') {
			*p++ = '\\';
			*p++ = (char)s[i];
		} else if (s[i] == '\0') {
			(void)snprintf(err, errlen, "text holds a NUL byte at "
			    "byte %zu", i + 1);
			free(buf);
			return -1;
		} else if (s[i] < 0x20) {
			*p++ = '\\';
			switch (s[i]) {
			case '\n':
				*p++ = 'n';
				break;
			case '\r':
				*p++ = 'r';
				break;
			case '\t':
				*p++ = 't';
				break;
			default:
				*p++ = 'u';
				*p++ = '0';
				*p++ = '0';
				*p++ = hex[s[i] >> 4];
				*p++ = hex[s[i] & 0xf];
				break;
			}
		} else if (s[i] < 0x80)
			*p++ = (char)s[i];
		else {
			n = utf8_char_len(s + i, len - i);
			if (n == 0) {
				(void)snprintf(err, errlen, "text is not valid "
				    "UTF-8 at byte %zu", i + 1);
				free(buf);
				return -1;
			}
			memcpy(p, s + i, n);
			p += n;
		}
	}
	*p++ = '"';
	*p = '\0';
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}

/* The id of a parsed JSON line as raw text, or NULL (ENOMEM). */
static char *
raw_id(const char *line, size_t len, const json_t *id)
{
	char *text;

	text = scan_member_dup(line, len, "id");
	if (text != NULL || errno != ENOENT)
		return text;
	/* An escaped key: fall back to jansson's spelling. */
	return json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int
parse_jsonl(const char *line, size_t len, struct batch_input *in, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const json_t *id, *text;
	int rc = -1;

	root = json_loadb(line, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_INT_AS_REAL, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "line is not JSON: %s at column %d",
		    jerr.text, jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "line is not a JSON object");
		goto out;
	}
	id = json_object_get(root, "id");
	if (id != NULL && (json_is_string(id) || json_is_number(id))) {
		in->id_json = raw_id(line, len, id);
		if (in->id_json == NULL) {
			(void)snprintf(err, errlen, "out of memory");
			goto out;
		}
	} else {
		(void)snprintf(err, errlen, id == NULL ? "line has no 'id'" :
		    "'id' must be a string or a number");
		goto out;
	}
	text = json_object_get(root, "text");
	if (text == NULL || !json_is_string(text)) {
		(void)snprintf(err, errlen, text == NULL ?
		    "line has no 'text'" : "'text' must be a string");
		goto out;
	}
	if (json_string_length(text) == 0) {
		(void)snprintf(err, errlen, "'text' is empty");
		goto out;
	}
	if (escape_text(json_string_value(text), json_string_length(text),
	    &in->text_json, &in->text_len, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
batch_input_parse(bool jsonl, uint64_t line_no, const char *line,
    size_t len, struct batch_input *in, char *err, size_t errlen)
{
	char id[24];

	in->id_json = NULL;
	in->text_json = NULL;
	in->text_len = 0;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		(void)snprintf(err, errlen, "empty line");
		if (!jsonl) {
			(void)snprintf(id, sizeof(id), "%" PRIu64, line_no);
			in->id_json = strdup(id);
		}
		return -1;
	}
	if (jsonl)
		return parse_jsonl(line, len, in, err, errlen);
	(void)snprintf(id, sizeof(id), "%" PRIu64, line_no);
	in->id_json = strdup(id);
	if (in->id_json == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	return escape_text(line, len, &in->text_json, &in->text_len, err,
	    errlen);
}
