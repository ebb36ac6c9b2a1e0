/*
 * stats: see stats.h.
 */
#include "engine/stats.h"

void
stats_count_answer(struct engine_stats *st, enum req_code code)
{
	st->answered[code]++;
}

uint64_t
stats_failed(const struct engine_stats *st)
{
	uint64_t n = 0;
	int code;

	for (code = REQ_OK + 1; code < REQ_N_CODES; code++)
		n += st->answered[code];
	return n;
}
