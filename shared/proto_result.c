/*
 * proto_result: see proto_result.h. Encoding and decoding go through one
 * jansson format string each, in the same member order; the one json_t
 * of each is released before returning.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <bsd/string.h>

#include "proto_json.h"
#include "proto_result.h"

#define N_CLASSES	(sizeof(class_names) / sizeof(class_names[0]))

static const char *const class_names[] = {
	"ok", "http", "network", "timeout", "bad_response", "invalid_request"
};

const char *
proto_class_name(enum proto_class class)
{
	if ((size_t)class >= N_CLASSES)
		return "unknown";
	return class_names[class];
}

void
proto_result_init(struct proto_result *r)
{
	memset(r, 0, sizeof(*r));
	r->class = PROTO_OK;
	r->retry_after_ms = -1;
	r->rl_limit_requests = -1;
	r->rl_remaining_requests = -1;
	r->rl_reset_requests_ms = -1;
	r->rl_limit_tokens = -1;
	r->rl_remaining_tokens = -1;
	r->rl_reset_tokens_ms = -1;
	r->prompt_tokens = -1;
}

int
proto_result_encode(const struct proto_result *r, struct buf *out)
{
	json_t *obj;
	int rc;

	obj = json_pack("{s:s, s:i, s:I, s:b, s:b, s:I, s:s, s:[IIIIII], s:I}",
	    "class", proto_class_name(r->class),
	    "status", r->http_status,
	    "retry_after_ms", (json_int_t)r->retry_after_ms,
	    "quota", r->quota_exhausted,
	    "permanent", r->permanent,
	    "ms", (json_int_t)r->ms,
	    "message", r->message,
	    "rl", (json_int_t)r->rl_limit_requests,
	    (json_int_t)r->rl_remaining_requests,
	    (json_int_t)r->rl_reset_requests_ms,
	    (json_int_t)r->rl_limit_tokens,
	    (json_int_t)r->rl_remaining_tokens,
	    (json_int_t)r->rl_reset_tokens_ms,
	    "prompt_tokens", (json_int_t)r->prompt_tokens);
	if (obj == NULL) {
		errno = EINVAL;
		return -1;
	}
	rc = proto_append_json(out, obj, JSON_COMPACT);
	json_decref(obj);
	return rc;
}

int
proto_result_decode(const char *text, size_t len, struct proto_result *r,
    char *err, size_t errlen)
{
	json_t *root;
	json_error_t jerr;
	const char *class, *message;
	json_int_t retry_after_ms, ms, rl[6], prompt_tokens;
	int quota, permanent, rc = -1;
	size_t i;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		(void)snprintf(err, errlen, "result is not JSON: %s",
		    jerr.text);
		return -1;
	}
	if (json_unpack_ex(root, &jerr, JSON_STRICT,
	    "{s:s, s:i, s:I, s:b, s:b, s:I, s:s, s:[IIIIII], s:I}",
	    "class", &class, "status", &r->http_status,
	    "retry_after_ms", &retry_after_ms, "quota", &quota,
	    "permanent", &permanent, "ms", &ms, "message", &message,
	    "rl", &rl[0], &rl[1], &rl[2], &rl[3], &rl[4], &rl[5],
	    "prompt_tokens", &prompt_tokens) == -1) {
		(void)snprintf(err, errlen, "bad result: %s", jerr.text);
		goto out;
	}
	for (i = 0; i < N_CLASSES; i++)
		if (strcmp(class, class_names[i]) == 0)
			break;
	if (i == N_CLASSES) {
		(void)snprintf(err, errlen, "bad result class '%s'", class);
		goto out;
	}
	r->class = (enum proto_class)i;
	r->retry_after_ms = (long)retry_after_ms;
	r->quota_exhausted = quota != 0;
	r->permanent = permanent != 0;
	r->ms = (long)ms;
	r->rl_limit_requests = (long)rl[0];
	r->rl_remaining_requests = (long)rl[1];
	r->rl_reset_requests_ms = (long)rl[2];
	r->rl_limit_tokens = (long)rl[3];
	r->rl_remaining_tokens = (long)rl[4];
	r->rl_reset_tokens_ms = (long)rl[5];
	r->prompt_tokens = (long)prompt_tokens;
	(void)strlcpy(r->message, message, sizeof(r->message));
	rc = 0;
out:
	json_decref(root);
	return rc;
}
