/* metrics.c - request counters and latency histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * All updates are relaxed atomics: /metrics may read a count a moment
 * before its sum, which Prometheus tolerates. Status codes are tracked per
 * route for a fixed set; anything else is counted under its class. */
#include <inttypes.h>
#include <stdio.h>

#include "server/server_int.h"

static const double bucket_le[RG__NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                               5,      10,    30,     60,    120};

static const int tracked_status[RG__NSTATUS] = {200, 201, 400, 401, 404, 405,
                                                408, 409, 413, 429, 500, 503};

void rg__hist_observe(rg__hist *h, double seconds) {
    int i = 0;
    while (i < RG__NBUCKETS && seconds > bucket_le[i]) i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static int status_slot(int status) {
    for (int i = 0; i < RG__NSTATUS; i++)
        if (tracked_status[i] == status) return i;
    if (status >= 500) return 10; /* counted as 500 */
    return 2;                     /* other 4xx counted as 400 */
}

void rg__metrics_request(rg__metrics *m, rg__route r, int status, double seconds) {
    if ((unsigned)r >= RG__R_COUNT) r = RG__R_OTHER;
    rg__hist_observe(&m->latency[r], seconds);
    atomic_fetch_add_explicit(&m->requests[r][status_slot(status)], 1, memory_order_relaxed);
}

void rg__metrics_pii(rg__metrics *m, int stage, const rg_guard_stats *st) {
    if (!st->total) return;
    for (int k = 0; k < RG_PII__COUNT; k++)
        if (st->count[k]) atomic_fetch_add_explicit(&m->pii[stage][k], st->count[k], memory_order_relaxed);
}

void rg__metrics_injection(rg__metrics *m, int dropped, size_t n) {
    if (n) atomic_fetch_add_explicit(&m->injection[dropped ? 1 : 0], n, memory_order_relaxed);
}

void rg__metrics_filter(rg__metrics *m, const uint32_t counts[3]) {
    for (int i = 0; i < 3; i++)
        if (counts[i]) atomic_fetch_add_explicit(&m->filter[i], counts[i], memory_order_relaxed);
}

static void render_hist(rg_buf *out, const char *name, const char *labels, rg__hist *h) {
    uint64_t cum = 0;
    const char *sep = *labels ? "," : "";
    for (int i = 0; i <= RG__NBUCKETS; i++) {
        cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (i < RG__NBUCKETS)
            rg_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep,
                          bucket_le[i], cum);
        else
            rg_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
    }
    const char *ob = *labels ? "{" : "", *cb = *labels ? "}" : "";
    rg_buf_printf(out, "%s_sum%s%s%s %.6f\n", name, ob, labels, cb,
                  (double)atomic_load(&h->sum_us) / 1e6);
    rg_buf_printf(out, "%s_count%s%s%s %" PRIu64 "\n", name, ob, labels, cb, cum);
}

void rg__metrics_render(rg__metrics *m, rg_buf *out) {
    rg_buf_puts(out, "# HELP ragd_requests_total HTTP requests by route and status.\n"
                     "# TYPE ragd_requests_total counter\n");
    for (int r = 0; r < RG__R_COUNT; r++)
        for (int s = 0; s < RG__NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
            if (v)
                rg_buf_printf(out, "ragd_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                              rg__route_name((rg__route)r), tracked_status[s], v);
        }
    rg_buf_puts(out, "# HELP ragd_request_duration_seconds Request latency by route.\n"
                     "# TYPE ragd_request_duration_seconds histogram\n");
    for (int r = 0; r < RG__R_COUNT; r++) {
        if (!atomic_load(&m->latency[r].count)) continue;
        char lab[96];
        snprintf(lab, sizeof lab, "route=\"%s\"", rg__route_name((rg__route)r));
        render_hist(out, "ragd_request_duration_seconds", lab, &m->latency[r]);
    }
    rg_buf_puts(out, "# HELP ragd_time_to_first_token_seconds Time from request to first token.\n"
                     "# TYPE ragd_time_to_first_token_seconds histogram\n");
    render_hist(out, "ragd_time_to_first_token_seconds", "", &m->ttft);
    rg_buf_puts(out, "# HELP ragd_inter_token_latency_seconds Time between streamed tokens.\n"
                     "# TYPE ragd_inter_token_latency_seconds histogram\n");
    render_hist(out, "ragd_inter_token_latency_seconds", "", &m->itl);
    rg_buf_puts(out, "# HELP ragd_retrieval_duration_seconds Retrieval latency (search, RAG).\n"
                     "# TYPE ragd_retrieval_duration_seconds histogram\n");
    render_hist(out, "ragd_retrieval_duration_seconds", "", &m->retrieval);
    rg_buf_printf(out,
                  "# HELP ragd_tokens_total Tokens processed.\n"
                  "# TYPE ragd_tokens_total counter\n"
                  "ragd_tokens_total{direction=\"in\"} %" PRIu64 "\n"
                  "ragd_tokens_total{direction=\"out\"} %" PRIu64 "\n"
                  "# HELP ragd_cache_requests_total Response cache lookups.\n"
                  "# TYPE ragd_cache_requests_total counter\n"
                  "ragd_cache_requests_total{result=\"hit\"} %" PRIu64 "\n"
                  "ragd_cache_requests_total{result=\"miss\"} %" PRIu64 "\n"
                  "# HELP ragd_queue_depth Jobs waiting for a worker.\n"
                  "# TYPE ragd_queue_depth gauge\n"
                  "ragd_queue_depth %" PRId64 "\n"
                  "# HELP ragd_jobs_running Jobs running on workers.\n"
                  "# TYPE ragd_jobs_running gauge\n"
                  "ragd_jobs_running %" PRId64 "\n"
                  "# HELP ragd_requests_in_flight Requests being served.\n"
                  "# TYPE ragd_requests_in_flight gauge\n"
                  "ragd_requests_in_flight %" PRId64 "\n"
                  "# HELP ragd_client_disconnects_total Requests whose client went away early.\n"
                  "# TYPE ragd_client_disconnects_total counter\n"
                  "ragd_client_disconnects_total %" PRIu64 "\n",
                  atomic_load(&m->tokens_in), atomic_load(&m->tokens_out),
                  atomic_load(&m->cache_hits), atomic_load(&m->cache_misses),
                  atomic_load(&m->queue_depth), atomic_load(&m->jobs_running),
                  atomic_load(&m->inflight), atomic_load(&m->client_disconnects));
    rg_buf_puts(out, "# HELP ragd_tool_calls_total Built-in tool calls by the server: run, or denied "
                     "(not in the key's allowlist).\n# TYPE ragd_tool_calls_total counter\n");
    for (int i = 0; i < RG__BT_COUNT; i++)
        for (int d = 0; d < 2; d++)
            rg_buf_printf(out, "ragd_tool_calls_total{tool=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                          rg__builtin_name(i), d ? "denied" : "run", atomic_load(&m->tool_calls[i][d]));
    /* guard: every type is listed (0 included) so a dashboard sees the series */
    rg_buf_puts(out, "# HELP ragd_guard_pii_redactions_total PII values replaced, by stage (ingest: "
                     "documents added through the API to a collection with redaction on; upstream: "
                     "prompts sent to --upstream) and type.\n"
                     "# TYPE ragd_guard_pii_redactions_total counter\n");
    static const char *const stage[2] = {"ingest", "upstream"};
    for (int st = 0; st < 2; st++)
        for (int k = 0; k < RG_PII__COUNT; k++)
            rg_buf_printf(out, "ragd_guard_pii_redactions_total{stage=\"%s\",type=\"%s\"} %" PRIu64 "\n",
                          stage[st], rg_pii_type_name((rg_pii_type)k), atomic_load(&m->pii[st][k]));
    rg_buf_printf(out,
                  "# HELP ragd_guard_injection_chunks_total Retrieved chunks scored as prompt "
                  "injection: flagged in the citations, or dropped (--drop-injected).\n"
                  "# TYPE ragd_guard_injection_chunks_total counter\n"
                  "ragd_guard_injection_chunks_total{action=\"flagged\"} %" PRIu64 "\n"
                  "ragd_guard_injection_chunks_total{action=\"dropped\"} %" PRIu64 "\n"
                  "# HELP ragd_guard_output_filter_total Output filter actions (--filter, "
                  "--redact-output) on generated text.\n"
                  "# TYPE ragd_guard_output_filter_total counter\n"
                  "ragd_guard_output_filter_total{action=\"flag\"} %" PRIu64 "\n"
                  "ragd_guard_output_filter_total{action=\"mask\"} %" PRIu64 "\n"
                  "ragd_guard_output_filter_total{action=\"block\"} %" PRIu64 "\n",
                  atomic_load(&m->injection[0]), atomic_load(&m->injection[1]),
                  atomic_load(&m->filter[RG_FILTER_FLAG]), atomic_load(&m->filter[RG_FILTER_MASK]),
                  atomic_load(&m->filter[RG_FILTER_BLOCK]));
}
