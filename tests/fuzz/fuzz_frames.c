/*
 * fuzz_frames: what the supervisor decodes from a worker and the worker
 * from the supervisor (shared/proto_*): a frame header (proto_frame_peek),
 * a result payload (proto_result_decode), a progress payload
 * (proto_progress_decode) and a job (proto_job_parse). The first byte
 * picks the decoder, so one corpus covers all four.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "proto_frame.h"
#include "proto_job.h"
#include "proto_progress.h"
#include "proto_result.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
frames(const uint8_t *data, size_t size)
{
	struct buf b;
	const char *payload;
	size_t len;
	char type;

	buf_init(&b, size + 1);
	if (buf_append(&b, data, size) == 0 &&
	    proto_frame_peek(&b, 1 << 20, &type, &payload, &len) == 1 &&
	    (payload + len > buf_data(&b) + size || len > (1 << 20)))
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_progress p;
	struct proto_result r;
	struct job defaults, *job;
	char err[256];

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		frames(data + 1, size - 1);
		break;
	case 1:
		if (proto_result_decode((const char *)data + 1, size - 1, &r,
		    err, sizeof(err)) == 0 &&
		    memchr(r.message, '\0', sizeof(r.message)) == NULL)
			abort();
		break;
	case 2:
		if (proto_progress_decode(data + 1, size - 1, &p) == 0 &&
		    memchr(p.addr, '\0', sizeof(p.addr)) == NULL)
			abort();
		break;
	default:
		memset(&defaults, 0, sizeof(defaults));
		defaults.base_url = "http://127.0.0.1:1/v1";
		defaults.model = "m";
		defaults.max_response = 1 << 20;
		job = proto_job_parse((const char *)data + 1, size - 1,
		    &defaults, err, sizeof(err));
		proto_job_free(job);
		break;
	}
	return 0;
}
