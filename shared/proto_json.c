/*
 * proto_json: see proto_json.h. jansson does the escaping, so the rules
 * are the ones every JSON value we emit through jansson follows too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto_json.h"

int
proto_append_json_string(struct buf *out, const char *s)
{
	json_t *str;
	char *text = NULL;
	int rc = -1;

	str = json_string(s);
	if (str == NULL) {
		/* Not UTF-8: say so rather than lose the line. */
		str = json_string("(text is not valid UTF-8)");
		if (str == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	text = json_dumps(str, JSON_ENCODE_ANY);
	if (text == NULL) {
		errno = ENOMEM;
		goto out;
	}
	rc = buf_append(out, text, strlen(text));
out:
	free(text);
	json_decref(str);
	return rc;
}
