/* test_sched.c - continuous batching: every request's greedy output in a
 * batch equals running it alone; block-level prefix caching (reuse after a
 * request, sharing between concurrent requests, copy-on-write of a shared
 * partial block); preemption under a small KV pool; cancellation; no
 * leaked KV blocks or references. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "sched/sched.h"
#include "test.h"

#define MAXGEN 64

typedef struct {
    int32_t out[MAXGEN];
    uint64_t lh[MAXGEN]; /* hash of the logits each token was sampled from (exact runs) */
    int n, n_lh;
    int done;
    rg_sched_result res;
    rg_sched *watch; /* if set, on_token samples the metrics (of the step before) */
    int max_used, max_shared, max_running;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
} collector;

static int on_token(void *ud, int32_t t) {
    collector *c = ud;
    if (c->n < MAXGEN) c->out[c->n++] = t;
    if (c->watch) {
        rg_sched_metrics m;
        rg_sched_metrics_get(c->watch, &m);
        if (m.running > c->max_running) c->max_running = m.running;
        if (m.running == 2 && m.kv_blocks_used > c->max_used) c->max_used = m.kv_blocks_used;
        if (m.kv_blocks_shared > c->max_shared) c->max_shared = m.kv_blocks_shared;
    }
    return 0;
}

/* FNV-1a over the logits' bytes: equal hashes = the same bits */
static void on_logits_hash(void *ud, float *logits, int n_vocab) {
    collector *c = ud;
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)logits;
    for (size_t i = 0; i < sizeof(float) * (size_t)n_vocab; i++) h = (h ^ p[i]) * 1099511628211ull;
    if (c->n_lh < MAXGEN) c->lh[c->n_lh++] = h;
}

static void on_done(void *ud, const rg_sched_result *r) {
    collector *c = ud;
    pthread_mutex_lock(c->mu);
    c->res = *r;
    c->done = 1;
    pthread_cond_broadcast(c->cv);
    pthread_mutex_unlock(c->mu);
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void wait_all(collector *c, int n) {
    pthread_mutex_lock(&g_mu);
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++) all &= c[i].done;
        if (all) break;
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
}

static int read_ids(const char *path, int32_t *ids, int cap) {
    char *d;
    size_t n;
    rg_err e;
    if (rg_file_read(path, 1 << 20, &d, &n, &e)) return -1;
    int k = 0;
    char *p = d, *end;
    while (k < cap) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[k++] = (int32_t)v;
        p = end;
    }
    free(d);
    return k;
}

static rg_sched_req greedy_req(const int32_t *prompt, int n, int max_tokens, collector *c) {
    rg_sched_req r;
    memset(&r, 0, sizeof r);
    r.prompt = prompt;
    r.n_prompt = n;
    r.max_tokens = max_tokens;
    rg_llm_sampler_params_init(&r.sampling);
    r.sampling.temp = 0;
    r.on_token = on_token;
    r.on_done = on_done;
    r.ud = c;
    c->mu = &g_mu;
    c->cv = &g_cv;
    return r;
}

#define NREQ 6

/* exact: the logits every token is sampled from must be the same bits
 * batched and alone (the batch-size-invariant Q8_0 kernels), not only the
 * greedy tokens */
static void batch_equals_alone(const char *model, int kv_tokens, int exact) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096], ppath[4096];
    snprintf(path, sizeof path, "%s/models/%s.gguf", fx, model);
    snprintf(ppath, sizeof ppath, "%s/models/prompts/tok512.long.ids", fx);
    int32_t ids[128];
    int n = read_ids(ppath, ids, 128);
    REQUIRE(n == 100);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    /* prompts: different lengths of the long prompt, two sharing a prefix */
    int lens[NREQ] = {8, 100, 37, 64, 5, 90};
    int gen = kv_tokens ? 48 : 24; /* a small pool must overflow while decoding */
    collector alone[NREQ], batch[NREQ];
    memset(alone, 0, sizeof alone);
    memset(batch, 0, sizeof batch);
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = 1;
    p.cache_slots = 1;
    p.n_threads = 2;
    p.kv_type = RG_DTYPE_F32;
    rg_sched *s;
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    for (int i = 0; i < NREQ; i++) {
        rg_sched_req r = greedy_req(ids, lens[i], gen, &alone[i]);
        if (exact) r.on_logits = on_logits_hash;
        REQUIRE(rg_sched_submit(s, &r, &e) > 0);
        wait_all(&alone[i], 1);
    }
    rg_sched_free(s);
    p.max_batch = 8;
    p.cache_slots = 4;
    p.n_ctx = kv_tokens;
    p.chunk = 48; /* prompts split over several steps, interleaved with decodes */
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    for (int i = 0; i < NREQ; i++) {
        rg_sched_req r = greedy_req(ids, lens[i], gen, &batch[i]);
        if (exact) r.on_logits = on_logits_hash;
        REQUIRE(rg_sched_submit(s, &r, &e) > 0);
    }
    wait_all(batch, NREQ);
    if (exact)
        for (int i = 0; i < NREQ; i++) {
            CHECKF(batch[i].n_lh == alone[i].n_lh && batch[i].n_lh > 0, "request %d: %d vs %d logit rows", i,
                   batch[i].n_lh, alone[i].n_lh);
            for (int k = 0; k < batch[i].n_lh && k < alone[i].n_lh; k++)
                CHECKF(batch[i].lh[k] == alone[i].lh[k], "%s request %d step %d: logits differ batched vs alone",
                       model, i, k);
        }
    for (int i = 0; i < NREQ; i++) {
        CHECKF(batch[i].res.finish == alone[i].res.finish, "request %d finish %d vs %d", i,
               batch[i].res.finish, alone[i].res.finish);
        CHECKF(batch[i].n == alone[i].n, "request %d: %d vs %d tokens", i, batch[i].n, alone[i].n);
        for (int k = 0; k < batch[i].n && k < alone[i].n; k++)
            CHECKF(batch[i].out[k] == alone[i].out[k], "%s request %d token %d: batched %d alone %d", model, i,
                   k, batch[i].out[k], alone[i].out[k]);
    }
    rg_sched_metrics met;
    /* metrics are published after each engine step: wait for the idle one */
    for (int tries = 0; tries < 500; tries++) {
        rg_sched_metrics_get(s, &met);
        if (met.running == 0) break;
        usleep(10000);
    }
    /* whether the pool overflows depends on how arrivals interleave with
     * engine steps; the outputs above must be equal either way */
    if (kv_tokens > 0) fprintf(stderr, "  %d KV tokens: %lld preemptions\n", kv_tokens, (long long)met.preemptions);
    /* idle: every block is free or held by the prefix cache only */
    CHECK_EQ_INT(met.running, 0);
    CHECK_EQ_INT(met.kv_blocks_used, 0);
    CHECK_EQ_INT((int)met.kv_seq_refs, 0);
    CHECK_EQ_INT(met.kv_blocks_used + met.kv_blocks_cached + met.kv_blocks_free, met.kv_blocks_total);
    rg_sched_free(s);
    rg_llm_model_close(m);
}

RG_TEST(sched_batched_greedy_equals_alone_stories) { batch_equals_alone("stories260K", 0, 0); }
RG_TEST(sched_batched_greedy_equals_alone_f32) { batch_equals_alone("tiny-llama-f32", 0, 0); }
/* Q8_0 takes the batch-size-invariant kernels (nn/batch.c): the logits are
 * the same bits batched or alone, not only the greedy tokens */
RG_TEST(sched_batched_logits_equal_alone_q8_0) { batch_equals_alone("tiny-llama-q8_0", 0, 1); }
RG_TEST(sched_preemption_small_pool) { batch_equals_alone("stories260K", 192, 0); }

RG_TEST(sched_prefix_cache_and_cancel) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096], ppath[4096];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", fx);
    snprintf(ppath, sizeof ppath, "%s/models/prompts/tok512.long.ids", fx);
    int32_t ids[128];
    REQUIRE(read_ids(ppath, ids, 128) == 100);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = 4;
    p.n_threads = 1;
    rg_sched *s;
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    collector a, b, c;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b), memset(&c, 0, sizeof c);
    rg_sched_req r = greedy_req(ids, 100, 16, &a);
    REQUIRE(rg_sched_submit(s, &r, &e) > 0);
    wait_all(&a, 1);
    CHECK_EQ_INT(a.res.n_cached, 0);
    r = greedy_req(ids, 100, 16, &b); /* same prompt: all but the last token reused */
    REQUIRE(rg_sched_submit(s, &r, &e) > 0);
    wait_all(&b, 1);
    CHECK_EQ_INT(b.res.n_cached, 100 / RG_LLM_KV_BLOCK * RG_LLM_KV_BLOCK); /* full blocks */
    CHECK_EQ_INT(b.n, a.n);
    CHECK(memcmp(a.out, b.out, sizeof(int32_t) * (size_t)a.n) == 0);
    /* cancel a long generation */
    r = greedy_req(ids, 50, 0, &c);
    int64_t id = rg_sched_submit(s, &r, &e);
    REQUIRE(id > 0);
    rg_sched_cancel(s, id);
    wait_all(&c, 1);
    CHECK_EQ_INT(c.res.finish, RG_SCHED_CANCELLED);
    rg_sched_metrics met;
    rg_sched_metrics_get(s, &met);
    CHECK(met.prompt_tokens_cached >= 100 / RG_LLM_KV_BLOCK * RG_LLM_KV_BLOCK);
    CHECK_EQ_INT(rg_sched_submit(s, &(rg_sched_req){.prompt = ids, .n_prompt = 0}, &e), -1);
    int32_t bad = 99999;
    CHECK_EQ_INT(rg_sched_submit(s, &(rg_sched_req){.prompt = &bad, .n_prompt = 1}, &e), -1);
    rg_sched_free(s);
    rg_llm_model_close(m);
}

/* Waits for the engine's idle metrics (published after each step). */
static void wait_idle(rg_sched *s, rg_sched_metrics *met) {
    for (int tries = 0; tries < 500; tries++) {
        rg_sched_metrics_get(s, met);
        if (met->running == 0 && met->waiting == 0) return;
        usleep(10000);
    }
}

static void random_ids(int32_t *ids, int n, int n_vocab, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)(1 + (seed >> 33) % (uint64_t)(n_vocab - 1));
    }
}

/* Two concurrent requests with the same 200-token prefix: the second
 * points its block table at the first one's blocks (while the first is
 * still running), both outputs equal running alone, and when idle no
 * sequence holds a reference and dropping the cache empties the pool. */
RG_TEST(sched_concurrent_prefix_shares_blocks) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-llama-f32.gguf", fx);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    const int n_vocab = rg_llm_model_hparams(m)->n_vocab;
    enum { PRE = 200, SUF = 9, GEN = 24 };
    int32_t pa[PRE + SUF], pb[PRE + SUF];
    random_ids(pa, PRE + SUF, n_vocab, 7);
    memcpy(pb, pa, sizeof(int32_t) * PRE);
    random_ids(pb + PRE, SUF, n_vocab, 8);
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = 4;
    p.n_threads = 2;
    p.n_ctx = 2048;
    p.kv_type = RG_DTYPE_F32;
    collector alone[2], both[2];
    memset(alone, 0, sizeof alone);
    memset(both, 0, sizeof both);
    rg_sched *s;
    for (int i = 0; i < 2; i++) { /* alone: a fresh engine each, nothing cached */
        REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
        rg_sched_req r = greedy_req(i ? pb : pa, PRE + SUF, GEN, &alone[i]);
        REQUIRE(rg_sched_submit(s, &r, &e) > 0);
        wait_all(&alone[i], 1);
        CHECK_EQ_INT(alone[i].res.n_cached, 0);
        rg_sched_free(s);
    }
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    rg_sched_req ra = greedy_req(pa, PRE + SUF, GEN, &both[0]);
    ra.max_tokens = GEN + 24; /* a keeps running while b decodes */
    rg_sched_req rb = greedy_req(pb, PRE + SUF, GEN, &both[1]);
    both[0].watch = both[1].watch = s;
    REQUIRE(rg_sched_submit(s, &ra, &e) > 0);
    REQUIRE(rg_sched_submit(s, &rb, &e) > 0);
    wait_all(both, 2);
    CHECK_EQ_INT(both[1].res.finish, alone[1].res.finish);
    CHECK_EQ_INT(both[1].n, alone[1].n);
    CHECK(both[0].n >= alone[0].n);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < alone[i].n; k++)
            CHECKF(both[i].out[k] == alone[i].out[k], "request %d token %d: together %d alone %d", i, k,
                   both[i].out[k], alone[i].out[k]);
    }
    /* b took every full block of the common prefix from a */
    CHECK_EQ_INT(both[1].res.n_cached, PRE / RG_LLM_KV_BLOCK * RG_LLM_KV_BLOCK);
    const int priv = (PRE + SUF + GEN + RG_LLM_KV_BLOCK - 1) / RG_LLM_KV_BLOCK; /* one alone */
    int shared = both[0].max_shared > both[1].max_shared ? both[0].max_shared : both[1].max_shared;
    int used = both[0].max_used > both[1].max_used ? both[0].max_used : both[1].max_used;
    fprintf(stderr, "  together: %d blocks at most, %d shared; alone %d each\n", used, shared, priv);
    CHECK(both[1].max_running == 2);
    CHECK(shared >= PRE / RG_LLM_KV_BLOCK);
    CHECK(used > 0 && used < 2 * priv);
    rg_sched_metrics met;
    wait_idle(s, &met);
    CHECK_EQ_INT(met.running, 0);
    CHECK_EQ_INT(met.kv_blocks_used, 0);
    CHECK_EQ_INT((int)met.kv_seq_refs, 0);
    CHECK(met.kv_blocks_cached > 0);
    CHECK_EQ_INT(met.kv_blocks_used + met.kv_blocks_cached + met.kv_blocks_free, met.kv_blocks_total);
    rg_sched_cache_drop(s);
    for (int tries = 0; tries < 500; tries++) {
        rg_sched_metrics_get(s, &met);
        if (met.kv_blocks_free == met.kv_blocks_total) break;
        usleep(10000);
    }
    CHECK_EQ_INT(met.kv_blocks_free, met.kv_blocks_total);
    CHECK_EQ_INT(met.prefix_cache_blocks, 0);
    rg_sched_free(s);
    rg_llm_model_close(m);
}

/* A prompt of whole blocks seen before: every block is cached, but the
 * last token is fed again for its logits, writing into a block the cache
 * shares -- that block is copied first, and the cached one stays intact
 * for a third request. */
RG_TEST(sched_prefix_copy_on_write) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-llama-f32.gguf", fx);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    enum { N = 2 * RG_LLM_KV_BLOCK, GEN = 12 };
    int32_t ids[N];
    random_ids(ids, N, rg_llm_model_hparams(m)->n_vocab, 11);
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = 2;
    p.n_threads = 1;
    p.n_ctx = 512;
    p.kv_type = RG_DTYPE_F32;
    rg_sched *s;
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    collector c[3];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 3; i++) {
        rg_sched_req r = greedy_req(ids, N, GEN, &c[i]);
        REQUIRE(rg_sched_submit(s, &r, &e) > 0);
        wait_all(&c[i], 1);
        CHECK_EQ_INT(c[i].n, GEN);
        CHECK(memcmp(c[i].out, c[0].out, sizeof(int32_t) * GEN) == 0);
    }
    CHECK_EQ_INT(c[0].res.n_cached, 0);
    CHECK_EQ_INT(c[1].res.n_cached, N - 1);
    CHECK_EQ_INT(c[2].res.n_cached, N - 1);
    rg_sched_metrics met;
    wait_idle(s, &met);
    CHECK(met.kv_cow_copies >= 2);
    CHECK_EQ_INT((int)met.kv_seq_refs, 0);
    CHECK_EQ_INT(met.kv_blocks_used + met.kv_blocks_cached + met.kv_blocks_free, met.kv_blocks_total);
    rg_sched_free(s);
    rg_llm_model_close(m);
}

/* A pool of 8 blocks and four requests growing to 4-5 blocks each: the
 * cache is evicted (LRU) and sequences preempted as needed, every output
 * equals running alone, and nothing leaks. */
RG_TEST(sched_small_pool_evicts_and_preempts) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-llama-f32.gguf", fx);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    enum { NR = 4, GEN = MAXGEN };
    int32_t ids[NR][80];
    int lens[NR] = {60, 75, 40, 70};
    for (int i = 0; i < NR; i++) random_ids(ids[i], 80, rg_llm_model_hparams(m)->n_vocab, 100 + (uint64_t)i);
    memcpy(ids[3], ids[1], sizeof(int32_t) * 64); /* 3 shares two blocks with 1 */
    rg_sched_params p;
    rg_sched_params_init(&p);
    p.max_batch = 1;
    p.n_threads = 1;
    p.n_ctx = 512;
    p.kv_type = RG_DTYPE_F32;
    collector alone[NR], tight[NR];
    memset(alone, 0, sizeof alone);
    memset(tight, 0, sizeof tight);
    rg_sched *s;
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    for (int i = 0; i < NR; i++) {
        rg_sched_cache_drop(s);
        rg_sched_req r = greedy_req(ids[i], lens[i], GEN, &alone[i]);
        REQUIRE(rg_sched_submit(s, &r, &e) > 0);
        wait_all(&alone[i], 1);
    }
    rg_sched_free(s);
    p.max_batch = 4;
    p.n_ctx = 8 * RG_LLM_KV_BLOCK;
    p.chunk = 32;
    REQUIRE(rg_sched_new(m, &p, &s, &e) == RG_OK);
    for (int round = 0; round < 2; round++) {
        memset(tight, 0, sizeof tight);
        for (int i = 0; i < NR; i++) {
            rg_sched_req r = greedy_req(ids[i], lens[i], GEN, &tight[i]);
            REQUIRE(rg_sched_submit(s, &r, &e) > 0);
        }
        wait_all(tight, NR);
        for (int i = 0; i < NR; i++) {
            CHECKF(tight[i].n == alone[i].n && tight[i].res.finish == alone[i].res.finish,
                   "round %d request %d: %d tokens (finish %d: %s), alone %d", round, i, tight[i].n,
                   tight[i].res.finish, tight[i].res.error, alone[i].n);
            for (int k = 0; k < alone[i].n && k < tight[i].n; k++)
                CHECKF(tight[i].out[k] == alone[i].out[k], "round %d request %d token %d: %d vs %d alone", round,
                       i, k, tight[i].out[k], alone[i].out[k]);
        }
    }
    rg_sched_metrics met;
    wait_idle(s, &met);
    fprintf(stderr, "  8-block pool: %lld preemptions, %lld prompt tokens cached of %lld\n",
            (long long)met.preemptions, (long long)met.prompt_tokens_cached, (long long)met.prompt_tokens);
    CHECK_EQ_INT((int)met.kv_seq_refs, 0);
    CHECK_EQ_INT(met.kv_blocks_used, 0);
    CHECK_EQ_INT(met.kv_blocks_used + met.kv_blocks_cached + met.kv_blocks_free, met.kv_blocks_total);
    rg_sched_free(s);
    rg_llm_model_close(m);
}
