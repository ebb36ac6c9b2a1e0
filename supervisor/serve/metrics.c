/*
 * metrics: see metrics.h. Called by serve for every answer and by
 * serve/http for every response and scrape.
 */
#include <stdio.h>

#include "serve/metrics.h"

/* Upper bounds of the latency buckets in ms; the last is +Inf. */
static const long bucket_ms[METRICS_BUCKETS - 1] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
	60000, 120000
};

/* The reasons of enum slot_kill by index; "none" is never counted. */
static const char *const kill_reasons[STATS_KILL_REASONS] = {
	NULL, "deadline", "shutdown", "cancel", "lost_race", "protocol_error"
};

void
metrics_observe(struct metrics *m, const struct answer *a)
{
	size_t i;

	m->attempts += a->attempts;
	m->latency_count++;
	m->latency_sum_ms += a->ms > 0 ? (uint64_t)a->ms : 0;
	for (i = 0; i < METRICS_BUCKETS - 1 && a->ms > bucket_ms[i]; i++)
		;
	m->latency[i]++;
}

void
metrics_count_http(struct metrics *m, int status)
{
	size_t i;

	for (i = 0; i < METRICS_STATUSES; i++) {
		if (m->http[i].status == status || m->http[i].status == 0) {
			m->http[i].status = status;
			m->http[i].n++;
			return;
		}
	}
	m->http_other++;
}

/* "# HELP" and "# TYPE" lines of a family. */
static int
family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family of one sample without labels. */
static int
single(struct buf *out, const char *type, const char *name,
    const char *help, uint64_t v)
{
	if (family(out, name, type, help) == -1)
		return -1;
	return buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static int
format_requests(struct buf *out, const struct engine_stats *st)
{
	int code;

	if (family(out, "embedwatch_requests_total", "counter",
	    "Requests answered, by code.") == -1)
		return -1;
	for (code = 0; code < REQ_N_CODES; code++)
		if (buf_printf(out, "embedwatch_requests_total{code=\"%s\"} "
		    "%llu\n", req_code_name((enum req_code)code),
		    (unsigned long long)st->answered[code]) == -1)
			return -1;
	return 0;
}

static int
format_kills(struct buf *out, const struct engine_stats *st)
{
	int i;

	if (family(out, "embedwatch_worker_kills_total", "counter",
	    "Workers SIGKILLed in the middle of an attempt, by reason.") == -1)
		return -1;
	for (i = 1; i < STATS_KILL_REASONS; i++)
		if (buf_printf(out, "embedwatch_worker_kills_total"
		    "{reason=\"%s\"} %llu\n", kill_reasons[i],
		    (unsigned long long)st->workers_killed_by[i]) == -1)
			return -1;
	return 0;
}

static int
format_latency(struct buf *out, const struct metrics *m)
{
	static const char name[] = "embedwatch_request_duration_seconds";
	uint64_t sum = 0;
	size_t i;

	if (family(out, name, "histogram", "Time from a request's arrival "
	    "to its answer, retries included.") == -1)
		return -1;
	for (i = 0; i < METRICS_BUCKETS; i++) {
		sum += m->latency[i];
		if (i < METRICS_BUCKETS - 1) {
			if (buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n",
			    name, (double)bucket_ms[i] / 1000,
			    (unsigned long long)sum) == -1)
				return -1;
		} else if (buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n",
		    name, (unsigned long long)sum) == -1)
			return -1;
	}
	return buf_printf(out, "%s_sum %.3f\n%s_count %llu\n", name,
	    (double)m->latency_sum_ms / 1000, name,
	    (unsigned long long)m->latency_count);
}

static int
format_http(struct buf *out, const struct metrics *m)
{
	size_t i;

	if (family(out, "embedwatch_http_responses_total", "counter",
	    "HTTP responses sent, by status.") == -1)
		return -1;
	for (i = 0; i < METRICS_STATUSES && m->http[i].status != 0; i++)
		if (buf_printf(out, "embedwatch_http_responses_total{status="
		    "\"%d\"} %llu\n", m->http[i].status,
		    (unsigned long long)m->http[i].n) == -1)
			return -1;
	if (m->http_other > 0 && buf_printf(out,
	    "embedwatch_http_responses_total{status=\"other\"} %llu\n",
	    (unsigned long long)m->http_other) == -1)
		return -1;
	return 0;
}

int
metrics_format(struct buf *out, const struct metrics *m,
    const struct engine_stats *st, const struct metrics_gauges *g,
    int64_t now_ms)
{
	const struct {
		const char	*type, *name, *help;
		uint64_t	 v;
	} head[] = {
		{ "counter", "embedwatch_attempts_total", "Attempts (worker "
		    "calls) the answered requests took.", m->attempts },
		{ "counter", "embedwatch_retries_total", "Attempts started "
		    "after a failed one.", st->retries },
		{ "counter", "embedwatch_hedges_total", "Second attempts "
		    "started beside a slow one.", st->hedges },
		{ "counter", "embedwatch_hedges_won_total", "Hedges that "
		    "answered first.", st->hedges_won },
	}, tail[] = {
		{ "counter", "embedwatch_worker_starts_total", "Worker "
		    "processes started.", st->workers_started },
		{ "counter", "embedwatch_spawn_failures_total", "Worker "
		    "processes that could not be started.",
		    st->spawn_failures },
		{ "gauge", "embedwatch_in_flight", "Workers running attempts "
		    "now.", st->running },
		{ "gauge", "embedwatch_queued", "Requests waiting for a worker "
		    "or a retry.", st->queued },
		{ "gauge", "embedwatch_http_connections", "Open HTTP "
		    "connections.", g->http_connections },
		{ "gauge", "embedwatch_socket_clients", "Open Unix socket "
		    "connections.", g->socket_clients },
		{ "gauge", "embedwatch_draining", "1 while draining after "
		    "SIGTERM.", (uint64_t)g->draining },
		{ "gauge", "embedwatch_uptime_seconds", "Seconds since start.",
		    (uint64_t)((now_ms - st->started_ms) / 1000) },
	};
	size_t i;

	if (format_requests(out, st) == -1)
		return -1;
	for (i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		if (single(out, head[i].type, head[i].name, head[i].help,
		    head[i].v) == -1)
			return -1;
	if (format_kills(out, st) == -1)
		return -1;
	for (i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		if (single(out, tail[i].type, tail[i].name, tail[i].help,
		    tail[i].v) == -1)
			return -1;
	if (format_latency(out, m) == -1 || format_http(out, m) == -1)
		return -1;
	return 0;
}
