/* bench_sched.c - continuous batching under concurrent streams, in
 * process (the engine the server uses):
 *   bench_sched MODEL.gguf STREAMS [PROMPT_TOKENS 64] [GEN_TOKENS 32] [THREADS 2]
 * prints aggregate generated tokens/s, TTFT P50/P99, inter-token P99 and
 * KV memory held per token stored at the busiest step;
 *   bench_sched MODEL.gguf --prefix 1000   TTFT of a request, then of a
 * second one sharing its first 1000 tokens (prefix cache);
 *   bench_sched MODEL.gguf --step T CTX [STEPS 8] [THREADS 2]   the decode
 * step alone (rg_llm_decode of T sequences, one token each, at context
 * CTX, plus greedy argmax): ms per step, wall and CPU (all threads), so
 * matrix-matrix efficiency shows even on a shared machine;
 *   bench_sched MODEL.gguf --kv STREAMS MIN MAX   KV memory held / tokens
 * stored while STREAMS sequences of random prompt lengths in [MIN, MAX]
 * decode 48 tokens each (depends on lengths and the block size only, so
 * any model will do), and the step rate. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "core/clock.h"
#include "core/stats.h"
#include "sched/sched.h"

typedef struct {
    double last, *gaps;
    int n_gaps, cap, done;
    rg_sched_result res;
} stream;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static int on_token(void *ud, int32_t t) {
    stream *s = ud;
    double now = rg_now_s();
    if (s->last > 0 && s->n_gaps < s->cap) s->gaps[s->n_gaps++] = now - s->last;
    s->last = now;
    (void)t;
    return 0;
}

static void on_done(void *ud, const rg_sched_result *r) {
    stream *s = ud;
    pthread_mutex_lock(&mu);
    s->res = *r;
    s->done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_done(stream *st, int n) {
    pthread_mutex_lock(&mu);
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++) all &= st[i].done;
        if (all) break;
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
}

static rg_sched_req req_for(int32_t *prompt, int n, int gen, stream *s) {
    rg_sched_req r;
    memset(&r, 0, sizeof r);
    r.prompt = prompt;
    r.n_prompt = n;
    r.max_tokens = gen;
    rg_llm_sampler_params_init(&r.sampling);
    r.sampling.temp = 0;
    r.on_token = on_token;
    r.on_done = on_done;
    r.ud = s;
    return r;
}

static int kv_main(rg_llm_model *m, int streams, int lo, int hi) {
    int n_vocab = rg_llm_model_hparams(m)->n_vocab;
    if (streams < 1 || lo < 1 || hi < lo) return 2;
    const int G = 48;
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = streams;
    p.chunk = 2048; /* every prompt in a few steps: all sequences decode together */
    p.decode_chunk = 2048; /* also once the first ones decode (the default shrinks the chunk) */
    p.n_ctx = (hi + G + 2 * RG_LLM_KV_BLOCK) * streams;
    p.n_threads = 2;
    rg_sched *s;
    rg_err e;
    if (rg_sched_new(m, &p, &s, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    stream *st = calloc((size_t)streams, sizeof *st);
    int32_t **pr = calloc((size_t)streams, sizeof *pr);
    unsigned long long rng = 7;
    int64_t total_len = 0;
    for (int i = 0; i < streams; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int len = lo + (int)((rng >> 33) % (unsigned long long)(hi - lo + 1));
        total_len += len;
        pr[i] = malloc(sizeof(int32_t) * (size_t)len);
        for (int k = 0; k < len; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            pr[i][k] = (int32_t)((rng >> 33) % (unsigned long long)n_vocab);
        }
        st[i].cap = G + 1;
        st[i].gaps = malloc(sizeof(double) * (size_t)st[i].cap);
        rg_sched_req r = req_for(pr[i], len, G, &st[i]);
        rg_sched_submit(s, &r, &e);
    }
    double worst = 0, sum = 0;
    int n = 0;
    int64_t steps0 = -1;
    double t0 = 0;
    for (;;) {
        rg_sched_metrics met;
        rg_sched_metrics_get(s, &met);
        int decoding = met.running == streams && met.kv_tokens_stored >= total_len;
        if (decoding) {
            if (steps0 < 0) steps0 = met.steps, t0 = rg_now_s();
            if (met.kv_held_per_stored > worst) worst = met.kv_held_per_stored;
            sum += met.kv_held_per_stored;
            n++;
        }
        pthread_mutex_lock(&mu);
        int all = 1;
        for (int i = 0; i < streams; i++) all &= st[i].done;
        pthread_mutex_unlock(&mu);
        if (all || (steps0 >= 0 && !decoding)) {
            double dt = rg_now_s() - t0;
            printf("kv: %d sequences of %d..%d prompt tokens (mean %.0f), block %d: held/stored mean %.4f, worst "
                   "%.4f (goal <= 1.05); %d-way decode step %.1f ms\n",
                   streams, lo, hi, (double)total_len / streams, RG_LLM_KV_BLOCK, n ? sum / n : 0, worst, streams,
                   steps0 >= 0 && met.steps > steps0 ? dt * 1e3 / (double)(met.steps - steps0) : 0);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    wait_done(st, streams);
    for (int i = 0; i < streams; i++) free(pr[i]), free(st[i].gaps);
    free(pr), free(st);
    rg_sched_free(s);
    rg_llm_model_close(m);
    return 0;
}

/* T sequences of CTX random tokens, then STEPS decode steps of one token
 * each (what the engine runs when every stream decodes). */
static int step_main(rg_llm_model *m, int T, int ctx_len, int steps, int threads) {
    int n_vocab = rg_llm_model_hparams(m)->n_vocab;
    if (T < 1 || ctx_len < 1 || steps < 1) return 2;
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_seq_max = T;
    cp.n_outputs_max = T;
    cp.n_batch = T > ctx_len ? T : ctx_len;
    cp.n_ctx = (ctx_len + steps + 2 * RG_LLM_KV_BLOCK) * T;
    cp.n_threads = threads;
    rg_llm_ctx *c;
    rg_err e;
    if (rg_llm_ctx_new(m, &cp, &c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    unsigned long long rng = 5;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)ctx_len);
    int32_t *bt = malloc(sizeof(int32_t) * (size_t)T * 3);
    int32_t *bp = bt + T, *bs = bt + 2 * T;
    int8_t *bl = malloc((size_t)T);
    double pw = rg_now_s(), pc = rg_cpu_s();
    for (int s = 0; s < T; s++) {
        for (int k = 0; k < ctx_len; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            toks[k] = (int32_t)((rng >> 33) % (unsigned long long)n_vocab);
        }
        if (rg_llm_eval(c, s, toks, ctx_len, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        bt[s] = rg_llm_argmax(rg_llm_logits(c, 0), n_vocab);
        bs[s] = s;
        bl[s] = 1;
    }
    pw = rg_now_s() - pw, pc = rg_cpu_s() - pc;
    printf("prefill: %d x %d tokens: %.1f tokens/s wall, %.1f tokens per CPU-s\n", T, ctx_len, T * ctx_len / pw,
           T * ctx_len / pc);
    double w = 0, cpu = 0, ws = 0;
    for (int it = 0; it <= steps; it++) { /* step 0 warms up */
        for (int s = 0; s < T; s++) bp[s] = rg_llm_seq_len(c, s);
        rg_llm_batch b = {T, bt, bp, bs, bl};
        double t0 = rg_now_s(), c0 = rg_cpu_s();
        if (rg_llm_decode(c, &b, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double t1 = rg_now_s();
        for (int s = 0; s < T; s++) bt[s] = rg_llm_argmax(rg_llm_logits(c, s), n_vocab);
        double t2 = rg_now_s(), c2 = rg_cpu_s();
        if (it) w += t2 - t0, cpu += c2 - c0, ws += t2 - t1;
    }
    printf("step: %d sequences at context %d, %d threads: %.1f ms/step wall (%.1f tokens/s), %.1f ms CPU "
           "(%.1f tokens per CPU-s), argmax %.2f ms\n",
           T, ctx_len, rg_llm_ctx_params_get(c)->n_threads, w * 1e3 / steps, T * steps / w, cpu * 1e3 / steps,
           T * steps / cpu, ws * 1e3 / steps);
    free(toks), free(bt), free(bl);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_sched MODEL.gguf STREAMS|--prefix N [PROMPT GEN THREADS]\n");
        return 2;
    }
    rg_llm_model *m;
    rg_err e;
    if (rg_llm_model_open(argv[1], &m, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    int n_vocab = rg_llm_model_hparams(m)->n_vocab;
    if (!strcmp(argv[2], "--step") && argc >= 5)
        return step_main(m, atoi(argv[3]), atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 8, argc > 6 ? atoi(argv[6]) : 2);
    if (!strcmp(argv[2], "--kv") && argc == 6) return kv_main(m, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    int prefix = !strcmp(argv[2], "--prefix");
    int streams = prefix ? 1 : atoi(argv[2]);
    int P = argc > 3 ? atoi(argv[3]) : 64, G = argc > 4 ? atoi(argv[4]) : 32;
    int threads = argc > 5 ? atoi(argv[5]) : 2;
    if (prefix) P = atoi(argv[3] ? argv[3] : "1000"), G = 8;
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = streams < 1 ? 1 : streams;
    p.n_ctx = (P + G + 64) * (streams + 2);
    p.n_threads = threads;
    rg_sched *s;
    if (rg_sched_new(m, &p, &s, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    unsigned long long rng = 99;
    int32_t *prompts = malloc(sizeof(int32_t) * (size_t)(P + 16) * (size_t)(streams + 1));
    for (int i = 0; i < (P + 16) * (streams + 1); i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        prompts[i] = (int32_t)((rng >> 33) % (unsigned long long)n_vocab);
    }
    stream *st = calloc((size_t)streams + 1, sizeof *st);
    for (int i = 0; i <= streams; i++) {
        st[i].cap = G + 1;
        st[i].gaps = malloc(sizeof(double) * (size_t)st[i].cap);
    }
    if (prefix) {
        rg_sched_req r = req_for(prompts, P, G, &st[0]);
        rg_sched_submit(s, &r, &e);
        wait_done(&st[0], 1);
        /* same first P tokens, a different ending */
        int32_t *q = malloc(sizeof(int32_t) * (size_t)(P + 10));
        memcpy(q, prompts, sizeof(int32_t) * (size_t)P);
        for (int i = 0; i < 10; i++) q[P + i] = prompts[P + 16 + i];
        r = req_for(q, P + 10, G, &st[1]);
        rg_sched_submit(s, &r, &e);
        wait_done(&st[1], 1);
        printf("prefix %d tokens: TTFT first %.1f ms, second %.1f ms (%d tokens from the cache), ratio %.3f\n", P,
               st[0].res.ttft_s * 1e3, st[1].res.ttft_s * 1e3, st[1].res.n_cached,
               st[1].res.ttft_s / st[0].res.ttft_s);
        free(q);
    } else {
        double t0 = rg_now_s();
        for (int i = 0; i < streams; i++) {
            rg_sched_req r = req_for(prompts + (size_t)i * (size_t)(P + 16), P, G, &st[i]);
            rg_sched_submit(s, &r, &e);
        }
        /* sample KV use while the streams run */
        double ratio = 0;
        for (;;) {
            rg_sched_metrics met;
            rg_sched_metrics_get(s, &met);
            if (met.running == streams && met.kv_held_per_stored > ratio) ratio = met.kv_held_per_stored;
            pthread_mutex_lock(&mu);
            int all = 1;
            for (int i = 0; i < streams; i++) all &= st[i].done;
            pthread_mutex_unlock(&mu);
            if (all) break;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        double wall = rg_now_s() - t0;
        int total = 0, ng = 0;
        double *ttft = malloc(sizeof(double) * (size_t)streams), *gaps = malloc(sizeof(double) * (size_t)(streams * (G + 1)));
        for (int i = 0; i < streams; i++) {
            total += st[i].res.n_gen;
            ttft[i] = st[i].res.ttft_s * 1e3;
            for (int k = 0; k < st[i].n_gaps; k++) gaps[ng++] = st[i].gaps[k] * 1e3;
        }
        printf("streams=%d tokens/s=%.1f ttft_p50_ms=%.0f ttft_p99_ms=%.0f itl_p99_ms=%.0f kv_held_per_stored=%.3f\n",
               streams, total / wall, rg_percentile(ttft, streams, 0.5), rg_percentile(ttft, streams, 0.99),
               rg_percentile(gaps, ng, 0.99), ratio);
        free(ttft);
        free(gaps);
    }
    rg_sched_free(s);
    rg_llm_model_close(m);
    return 0;
}
