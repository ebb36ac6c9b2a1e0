/*
 * fuzz_request: a request line as a client may send it, through
 * jsonl_parse_request, and the answer line for whatever id came back
 * through jsonl_format_answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "engine/request.h"
#include "protocol/jsonl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer a;
	struct request *req;
	struct buf out;
	char err[256], *id = NULL;

	req = jsonl_parse_request((const char *)data, size, &id, err,
	    sizeof(err));
	if (req == NULL && memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	memset(&a, 0, sizeof(a));
	a.code = REQ_INVALID_REQUEST;
	a.message = err;
	buf_init(&out, 1 << 20);
	if (jsonl_format_answer(&out, req != NULL ? req->id_json : id,
	    &a) == 0 && buf_data(&out)[buf_len(&out) - 1] != '\n')
		abort();
	buf_free(&out);
	free(id);
	request_free(req);
	return 0;
}
