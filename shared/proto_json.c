/*
 * proto_json: see proto_json.h. jansson does the escaping, so the rules
 * are the ones every JSON value we emit through jansson follows too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_json.h"

int
proto_append_json(struct buf *out, const json_t *v, size_t flags)
{
	char *text;
	int rc;

	text = json_dumps(v, flags);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = buf_append(out, text, strlen(text));
	free(text);
	return rc;
}

int
proto_append_json_string(struct buf *out, const char *s)
{
	json_t *str;
	int rc;

	str = json_string(s);
	if (str == NULL) {
		/* Not UTF-8: say so rather than lose the line. */
		str = json_string("(text is not valid UTF-8)");
		if (str == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	rc = proto_append_json(out, str, JSON_ENCODE_ANY);
	json_decref(str);
	return rc;
}
