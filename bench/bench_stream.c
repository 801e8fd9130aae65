/* bench_stream.c - concurrent streaming chat clients against a running
 * `ragd serve -m` (or any OpenAI-compatible server), for bench/sched.sh
 * and the soak:
 *
 *   bench_stream URL STREAMS PROMPT_CHARS MAX_TOKENS [KEY]
 *       STREAMS clients at once, one request each (distinct prompts of
 *       lowercase words, greedy, streamed); prints aggregate generated
 *       tokens/s (usage.completion_tokens over the wall time), TTFT
 *       P50/P99, inter-token P99, and the KV ratio /metrics showed when
 *       the running sequences stored the most tokens.
 *   bench_stream URL --prefix N [KEY]
 *       TTFT of a request whose system message is N characters, then of a
 *       second one with the same system message and another question.
 *   bench_stream URL --soak SECONDS STREAMS [KEY]
 *       STREAMS clients in a loop for SECONDS: random prompt lengths
 *       (20..1500 chars, a shared system prompt half the time), random
 *       max_tokens (1..200), and one request in four abandoned after a
 *       random 0.05..2 s (the client hangs up).  Prints requests done,
 *       abandoned, failed (HTTP status other than 200, or transport
 *       errors other than the deliberate time-outs).
 *
 * The byte-fallback vocabulary of bench_mkmodel's random models encodes
 * one token per ASCII byte, so PROMPT_CHARS is the prompt's length in
 * tokens (plus the chat template's). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/stats.h"

static const char *g_url, *g_key;

typedef struct {
    double t0, first, last;
    double *gaps, *times; /* times: arrival of each content event (cap entries) */
    int n_gaps, cap, events, usage_tokens, http;
    char line[65536];
    size_t ll;
} stream;

static void on_line(stream *s, const char *l) {
    if (strncmp(l, "data: {", 7)) return;
    const char *u = strstr(l, "\"completion_tokens\":");
    if (u) s->usage_tokens = atoi(u + 20);
    if (!strstr(l, "\"content\":\"") || strstr(l, "\"content\":\"\"")) return;
    double now = rg_now_s();
    if (s->times && s->events < s->cap) s->times[s->events] = now;
    if (s->first == 0) s->first = now;
    else if (s->n_gaps < s->cap) s->gaps[s->n_gaps++] = now - s->last;
    s->last = now;
    s->events++;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    stream *s = ud;
    size_t len = sz * n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            s->line[s->ll] = 0;
            on_line(s, s->line);
            s->ll = 0;
        } else if (s->ll + 1 < sizeof s->line) {
            s->line[s->ll++] = p[i];
        }
    }
    return len;
}

static unsigned long long rng_next(unsigned long long *r) {
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return *r >> 33;
}

/* n characters of lowercase words separated by spaces */
static void words(char *out, int n, unsigned long long *r) {
    int i = 0;
    while (i < n) {
        int w = 2 + (int)(rng_next(r) % 7);
        for (int k = 0; k < w && i < n; k++) out[i++] = (char)('a' + rng_next(r) % 26);
        if (i < n) out[i++] = ' ';
    }
    out[n] = 0;
}

/* POSTs one streamed chat request; timeout_s > 0 hangs up after it.
 * Returns the curl code. */
static CURLcode chat(stream *s, const char *system, const char *user, int max_tokens, double timeout_s) {
    size_t cap = (system ? strlen(system) : 0) + strlen(user) + 512;
    char *body = malloc(cap);
    if (!body) return CURLE_OUT_OF_MEMORY;
    if (system)
        snprintf(body, cap,
                 "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0,"
                 "\"max_tokens\":%d,\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
                 "{\"role\":\"user\",\"content\":\"%s\"}]}",
                 max_tokens, system, user);
    else
        snprintf(body, cap,
                 "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0,"
                 "\"max_tokens\":%d,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                 max_tokens, user);
    char url[1024], auth[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_url);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (g_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_key);
        h = curl_slist_append(h, auth);
    }
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    else curl_easy_setopt(c, CURLOPT_TIMEOUT, 3600L);
    s->t0 = rg_now_s();
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    s->http = (int)code;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(body);
    return rc;
}

/* GET /metrics: the value of a line starting with name (first match). */
static int metric(const char *text, const char *name, double *v) {
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ') {
            *v = atof(p + n + 1);
            return 1;
        }
    return 0;
}

typedef struct {
    char *d;
    size_t n;
} mbuf;

static size_t on_metrics(char *p, size_t sz, size_t n, void *ud) {
    mbuf *b = ud;
    char *q = realloc(b->d, b->n + sz * n + 1);
    if (!q) return 0;
    b->d = q;
    memcpy(b->d + b->n, p, sz * n);
    b->n += sz * n;
    b->d[b->n] = 0;
    return sz * n;
}

static char *get_metrics(void) {
    char url[1024], auth[256];
    snprintf(url, sizeof url, "%s/metrics", g_url);
    mbuf b = {NULL, 0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (g_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_metrics);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        free(b.d);
        return NULL;
    }
    return b.d;
}

/* CPU seconds (user + system) of the server, from /proc/PID/stat, when
 * RAGD_SERVER_PID names it; -1 otherwise.  On a shared machine tokens per
 * server CPU-second says more about batching than wall-clock rates. */
static double server_cpu_s(void) {
    const char *pid = getenv("RAGD_SERVER_PID");
    if (!pid) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* fields after the command name */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- concurrent streams ---- */

typedef struct {
    stream *s;
    char *prompt;
    int max_tokens;
    CURLcode rc;
} job;

static void *run_job(void *p) {
    job *j = p;
    j->rc = chat(j->s, NULL, j->prompt, j->max_tokens, 0);
    return NULL;
}

static volatile int g_sampling;

/* (time, server CPU seconds) every 50 ms while streams run, so the decode
 * window's CPU can be taken (tokens per CPU-second of decoding) */
#define CPU_SAMPLES 65536
typedef struct {
    double best_stored, ratio, shared;
    double t[CPU_SAMPLES], cpu[CPU_SAMPLES];
    int n;
} sampler;

static void *sample_metrics(void *p) {
    sampler *sm = p;
    while (g_sampling) {
        double c = server_cpu_s();
        if (c >= 0 && sm->n < CPU_SAMPLES) {
            sm->t[sm->n] = rg_now_s();
            sm->cpu[sm->n++] = c;
        }
        char *m = get_metrics();
        double stored = 0, ratio = 0, shared = 0;
        if (m && metric(m, "ragd_kv_tokens_stored", &stored) && metric(m, "ragd_kv_held_per_stored", &ratio) &&
            stored > sm->best_stored) {
            sm->best_stored = stored;
            sm->ratio = ratio;
            metric(m, "ragd_kv_blocks_shared", &shared);
            sm->shared = shared;
        }
        free(m);
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int streams_main(int n, int chars, int max_tokens) {
    stream *st = calloc((size_t)n, sizeof *st);
    job *jb = calloc((size_t)n, sizeof *jb);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    unsigned long long r = 12345;
    for (int i = 0; i < n; i++) {
        st[i].cap = max_tokens + 8;
        st[i].gaps = malloc(sizeof(double) * (size_t)st[i].cap);
        st[i].times = malloc(sizeof(double) * (size_t)st[i].cap);
        jb[i].s = &st[i];
        jb[i].prompt = malloc((size_t)chars + 1);
        words(jb[i].prompt, chars, &r);
        jb[i].max_tokens = max_tokens;
    }
    sampler *smp = calloc(1, sizeof *smp);
    pthread_t mt;
    g_sampling = 1;
    pthread_create(&mt, NULL, sample_metrics, smp);
    double t0 = rg_now_s(), cpu0 = server_cpu_s();
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, run_job, &jb[i]);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    double wall = rg_now_s() - t0, cpu = cpu0 >= 0 ? server_cpu_s() - cpu0 : -1;
    g_sampling = 0;
    pthread_join(mt, NULL);
    int total = 0, ng = 0, failed = 0;
    double *ttft = malloc(sizeof(double) * (size_t)n), *gaps = malloc(sizeof(double) * (size_t)n * (size_t)(max_tokens + 8));
    for (int i = 0; i < n; i++) {
        if (jb[i].rc != CURLE_OK || st[i].http != 200 || st[i].first == 0) failed++;
        total += st[i].usage_tokens ? st[i].usage_tokens : st[i].events;
        ttft[i] = st[i].first > 0 ? (st[i].first - st[i].t0) * 1e3 : wall * 1e3;
        for (int k = 0; k < st[i].n_gaps; k++) gaps[ng++] = st[i].gaps[k] * 1e3;
    }
    printf("streams=%d tokens=%d wall_s=%.1f tokens_per_s=%.2f ttft_p50_ms=%.0f ttft_p99_ms=%.0f itl_p99_ms=%.0f "
           "kv_held_per_stored=%.3f (at %.0f tokens stored) failed=%d",
           n, total, wall, total / wall, rg_percentile(ttft, n, 0.5), rg_percentile(ttft, n, 0.99),
           rg_percentile(gaps, ng, 0.99), smp->ratio,
           smp->best_stored, failed);
    if (cpu > 0) printf(" server_cpu_s=%.1f tokens_per_cpu_s=%.2f", cpu, total / cpu);
    /* decode rate: tokens received while every stream was past its first
     * token and none had finished (prefill excluded) */
    double wa = 0, wb = 1e300;
    for (int i = 0; i < n; i++) {
        if (st[i].first > wa) wa = st[i].first;
        if (st[i].last < wb) wb = st[i].last;
    }
    int in_window = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < st[i].events && k < st[i].cap; k++) in_window += st[i].times[k] > wa && st[i].times[k] <= wb;
    if (wb > wa && in_window > 0) {
        printf(" decode_tokens_per_s=%.2f", in_window / (wb - wa));
        /* CPU over the sampled part of the window (samples 50 ms apart) */
        double ta = -1, tb = -1, ca = -1, cb = -1;
        for (int i = 0; i < smp->n; i++) {
            if (smp->t[i] >= wa && ta < 0) ta = smp->t[i], ca = smp->cpu[i];
            if (smp->t[i] <= wb) tb = smp->t[i], cb = smp->cpu[i];
        }
        if (ta >= 0 && tb > ta && cb > ca) {
            int in_cpu = 0;
            for (int i = 0; i < n; i++)
                for (int k = 0; k < st[i].events && k < st[i].cap; k++) in_cpu += st[i].times[k] > ta && st[i].times[k] <= tb;
            printf(" decode_tokens_per_cpu_s=%.2f decode_cpu_util=%.2f", in_cpu / (cb - ca), (cb - ca) / (tb - ta));
        }
    }
    printf("\n");
    free(smp);
    for (int i = 0; i < n; i++) free(st[i].gaps), free(st[i].times), free(jb[i].prompt);
    free(st), free(jb), free(th), free(ttft), free(gaps);
    return failed ? 1 : 0;
}

static int prefix_main(int chars) {
    unsigned long long r = 777;
    char *sys = malloc((size_t)chars + 1), q1[64], q2[64];
    words(sys, chars, &r);
    words(q1, 40, &r);
    words(q2, 40, &r);
    stream a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.cap = b.cap = 16;
    a.gaps = malloc(sizeof(double) * 16);
    b.gaps = malloc(sizeof(double) * 16);
    CURLcode ra = chat(&a, sys, q1, 4, 0);
    CURLcode rb = chat(&b, sys, q2, 4, 0);
    int ok = ra == CURLE_OK && rb == CURLE_OK && a.first > 0 && b.first > 0;
    double ta = (a.first - a.t0) * 1e3, tb = (b.first - b.t0) * 1e3;
    char *m = get_metrics();
    double hit = 0;
    if (m) metric(m, "ragd_prefix_cache_hit_ratio", &hit);
    free(m);
    printf("prefix=%d chars: ttft_first_ms=%.0f ttft_second_ms=%.0f ratio=%.3f (goal <= 0.2) prefix_hit_ratio=%.3f%s\n",
           chars, ta, tb, ok ? tb / ta : 0, hit, ok ? "" : " FAILED");
    free(sys), free(a.gaps), free(b.gaps);
    return ok ? 0 : 1;
}

/* ---- soak ---- */

typedef struct {
    double until;
    unsigned long long rng;
    const char *system;
    int done, abandoned, failed, tokens;
} soaker;

static void *soak_worker(void *p) {
    soaker *w = p;
    char *user = malloc(1600);
    stream *s = calloc(1, sizeof *s);
    s->cap = 256;
    s->gaps = malloc(sizeof(double) * 256);
    while (rg_now_s() < w->until) {
        int chars = 20 + (int)(rng_next(&w->rng) % 1480);
        int max_tokens = 1 + (int)(rng_next(&w->rng) % 200);
        int shared = rng_next(&w->rng) % 2 == 0;
        int abandon = rng_next(&w->rng) % 4 == 0;
        double timeout = abandon ? 0.05 + (double)(rng_next(&w->rng) % 1950) / 1000.0 : 0;
        words(user, chars, &w->rng);
        s->first = s->last = 0;
        s->n_gaps = s->events = s->usage_tokens = 0;
        s->ll = 0;
        CURLcode rc = chat(s, shared ? w->system : NULL, user, max_tokens, timeout);
        if (abandon && rc == CURLE_OPERATION_TIMEDOUT) w->abandoned++;
        else if (rc != CURLE_OK || s->http != 200) {
            w->failed++;
            fprintf(stderr, "soak: request failed: curl %d (%s), HTTP %d\n", rc, curl_easy_strerror(rc), s->http);
        } else {
            w->done++;
            w->tokens += s->usage_tokens;
        }
    }
    free(user), free(s->gaps), free(s);
    return NULL;
}

static int soak_main(double secs, int n) {
    unsigned long long r = 4242;
    char system[801];
    words(system, 800, &r);
    soaker *w = calloc((size_t)n, sizeof *w);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    double until = rg_now_s() + secs;
    for (int i = 0; i < n; i++) {
        w[i].until = until;
        w[i].rng = 1000 + (unsigned long long)i * 7919;
        w[i].system = system;
        pthread_create(&th[i], NULL, soak_worker, &w[i]);
    }
    int done = 0, ab = 0, failed = 0, tokens = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        done += w[i].done, ab += w[i].abandoned, failed += w[i].failed, tokens += w[i].tokens;
    }
    printf("soak: %d streams, %.0f s: %d requests completed (%d tokens), %d abandoned by the client, %d failed\n", n,
           secs, done, tokens, ab, failed);
    free(w), free(th);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_stream URL STREAMS PROMPT_CHARS MAX_TOKENS [KEY]\n"
                        "       bench_stream URL --prefix CHARS [KEY]\n"
                        "       bench_stream URL --soak SECONDS STREAMS [KEY]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_url = argv[1];
    int rc;
    if (!strcmp(argv[2], "--prefix") && argc >= 4) {
        g_key = argc > 4 ? argv[4] : NULL;
        rc = prefix_main(atoi(argv[3]));
    } else if (!strcmp(argv[2], "--soak") && argc >= 5) {
        g_key = argc > 5 ? argv[5] : NULL;
        rc = soak_main(atof(argv[3]), atoi(argv[4]));
    } else if (argc >= 5) {
        g_key = argc > 5 ? argv[5] : NULL;
        rc = streams_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    } else {
        fprintf(stderr, "bench_stream: bad arguments\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
