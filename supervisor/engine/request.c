/*
 * request: see request.h.
 */
#include <stdlib.h>

#include "engine/request.h"

static const char *const code_names[] = {
	"ok", "invalid_request", "timeout", "network", "http", "rate_limited",
	"bad_response", "worker_crashed", "shutting_down", "cancelled",
	"circuit_open"
};

const char *
req_code_name(enum req_code code)
{
	if ((size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "unknown";
	return code_names[code];
}

void
request_free(struct request *req)
{
	if (req == NULL)
		return;
	free(req->id_json);
	free(req->input_json);
	free(req->model);
	free(req->extra_json);
	free(req);
}
