/* test_llm.c - the language-model engine: ops against naive references
 * (every SIMD level), sampler, chat templates, the paged KV cache with
 * several sequences, loader errors, and conformance with llama.cpp on the
 * shared fixture models (logits, teacher-forced steps, greedy ids). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/file.h"
#include "gguf/gguf.h"
#include "llm/llm.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "test.h"

/* ---------------------------------------------------------------- ops */

static void fill(float *x, int n, unsigned long long *st, float sd) {
    for (int i = 0; i < n; i++) x[i] = (float)rg_test_randn(st) * sd;
}

static double max_rel(const float *a, const double *ref, int n) {
    double m = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > m) m = d;
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    return mx > 0 ? m / mx : m;
}

RG_TEST(llm_ops_against_naive_every_level) {
    unsigned long long st = 7;
    enum { N = 203 };
    float x[N], w[N], u[N], y[N];
    double ref[N];
    for (int level = RG_CPU_SCALAR; level <= (int)rg_cpu_level_get(); level++) {
        rg_cpu_level_force(level);
        fill(x, N, &st, 3.0f);
        fill(w, N, &st, 1.0f);
        fill(u, N, &st, 1.0f);
        /* rmsnorm */
        double ss = 0;
        for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];
        for (int i = 0; i < N; i++) ref[i] = x[i] / sqrt(ss / N + 1e-5) * w[i];
        rg_nn_rmsnorm(y, x, w, N, 1e-5f);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d rmsnorm %g", level, max_rel(y, ref, N));
        /* softmax, with large values and n not a multiple of 8 */
        for (int n = 1; n <= N; n += 17) {
            double mx = -1e30, s = 0;
            for (int i = 0; i < n; i++) mx = fmax(mx, x[i] * 10);
            for (int i = 0; i < n; i++) s += exp(x[i] * 10 - mx);
            for (int i = 0; i < n; i++) {
                ref[i] = exp(x[i] * 10 - mx) / s;
                y[i] = x[i] * 10;
            }
            rg_nn_softmax(y, n);
            CHECKF(max_rel(y, ref, n) < 1e-6, "level %d softmax n=%d %g", level, n,
                   max_rel(y, ref, n));
        }
        /* silu * up */
        memcpy(y, x, sizeof y);
        for (int i = 0; i < N; i++) ref[i] = x[i] / (1 + exp(-(double)x[i])) * u[i];
        rg_nn_silu_mul(y, u, N);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d silu %g", level, max_rel(y, ref, N));
        /* gelu (tanh form) */
        memcpy(y, x, sizeof y);
        for (int i = 0; i < N; i++) {
            double v = x[i];
            ref[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        }
        rg_nn_gelu(y, N);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d gelu %g", level, max_rel(y, ref, N));
        /* layernorm */
        double mean = 0, var = 0;
        for (int i = 0; i < N; i++) mean += x[i];
        mean /= N;
        for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= N;
        for (int i = 0; i < N; i++) ref[i] = (x[i] - mean) / sqrt(var + 1e-12) * w[i] + u[i];
        rg_nn_layernorm(y, x, w, u, N, 1e-12f);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d layernorm %g", level, max_rel(y, ref, N));
        /* f16 dot / axpy / conversion */
        uint16_t h[N];
        rg_nn_f32_to_f16_row(h, x, N);
        double d = 0;
        for (int i = 0; i < N; i++) {
            CHECK_EQ_INT(h[i], rg_f32_to_f16(x[i]));
            d += (double)rg_f16_to_f32(h[i]) * w[i];
        }
        float got = rg_nn_dot_f16_f32(h, w, N);
        CHECKF(fabs(got - d) < 1e-4 * (1 + fabs(d)), "level %d dot_f16 %g vs %g", level, got, d);
        for (int i = 0; i < N; i++) {
            y[i] = u[i];
            ref[i] = u[i] + 0.37 * rg_f16_to_f32(h[i]);
        }
        rg_nn_axpy_f16(y, 0.37f, h, N);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d axpy_f16", level);
        /* bias add, n not a multiple of 8 */
        memcpy(y, x, sizeof y);
        for (int i = 0; i < N; i++) ref[i] = (double)x[i] + u[i];
        rg_nn_add(y, u, N);
        CHECKF(max_rel(y, ref, N) < 1e-6, "level %d add", level);
    }
    rg_cpu_level_force(-1);
}

/* Blocked online-softmax attention == softmax(q K^T) V computed directly,
 * at every SIMD level, for head sizes that take each path, partial blocks
 * and causal limits (including rows that see nothing in a block). */
RG_TEST(llm_attn_block_every_level) {
    enum { NQ = 7, NKEYS = 75, BLK = 32, MAXHD = 128 };
    static float q[NQ * MAXHD], K[NKEYS * MAXHD], V[NKEYS * MAXHD];
    static float kT[MAXHD * BLK], vb[BLK * MAXHD], o[NQ * MAXHD];
    float m[NQ], l[NQ];
    int lim[NQ], visible[NQ] = {1, 5, 32, 33, 60, 75, 40};
    const int hds[] = {8, 24, 64, 128};
    unsigned long long st = 5;
    for (int level = RG_CPU_SCALAR; level <= (int)rg_cpu_level_get(); level++) {
        rg_cpu_level_force(level);
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
            const int hd = hds[hi];
            fill(q, NQ * hd, &st, 0.5f);
            fill(K, NKEYS * hd, &st, 1.0f);
            fill(V, NKEYS * hd, &st, 1.0f);
            for (int i = 0; i < NQ; i++) {
                m[i] = -INFINITY;
                l[i] = 0;
            }
            memset(o, 0, sizeof o);
            for (int p0 = 0; p0 < NKEYS; p0 += BLK) {
                int nk = NKEYS - p0 < BLK ? NKEYS - p0 : BLK;
                for (int j = 0; j < nk; j++)
                    for (int d = 0; d < hd; d++) {
                        kT[d * BLK + j] = K[(p0 + j) * hd + d];
                        vb[j * hd + d] = V[(p0 + j) * hd + d];
                    }
                for (int i = 0; i < NQ; i++) {
                    int n = visible[i] - p0;
                    lim[i] = n < 0 ? 0 : n > BLK ? BLK : n;
                }
                rg_nn_attn_block(q, NQ, hd, kT, BLK, vb, nk, lim, m, l, o);
            }
            double worst = 0;
            for (int i = 0; i < NQ; i++) {
                double sc[NKEYS], mx = -1e30, sum = 0;
                for (int j = 0; j < visible[i]; j++) {
                    sc[j] = 0;
                    for (int d = 0; d < hd; d++) sc[j] += (double)q[i * hd + d] * K[j * hd + d];
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j < visible[i]; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double want = 0;
                    for (int j = 0; j < visible[i]; j++) want += sc[j] / sum * V[j * hd + d];
                    worst = fmax(worst, fabs(o[i * hd + d] / l[i] - want));
                }
            }
            CHECKF(worst < 1e-5, "level %d hd %d: max abs error %g", level, hd, worst);
        }
    }
    rg_cpu_level_force(-1);
}

RG_TEST(llm_rope_modes) {
    /* normal: pairs (2i, 2i+1); neox: pairs (i, i+n/2); theta_i = pos * base^(-2i/n_rot) */
    enum { HD = 16, NR = 12 };
    float x[2 * HD], y[2 * HD], cs[NR];
    unsigned long long st = 3;
    fill(x, 2 * HD, &st, 1.0f);
    const int pos = 37;
    rg_nn_rope_cache(cs, NR, pos, 10000.0f, 0.5f, NULL);
    for (int mode = 0; mode <= 2; mode += 2) {
        memcpy(y, x, sizeof y);
        rg_nn_rope_apply(y, 2, HD, NR, cs, (rg_rope_mode)mode);
        for (int h = 0; h < 2; h++) {
            const float *a = x + h * HD;
            const float *b = y + h * HD;
            for (int i = 0; i < NR / 2; i++) {
                double th = 0.5 * pos * pow(10000.0, -2.0 * i / NR);
                int i0 = mode ? i : 2 * i, i1 = mode ? i + NR / 2 : 2 * i + 1;
                double r0 = a[i0] * cos(th) - a[i1] * sin(th);
                double r1 = a[i0] * sin(th) + a[i1] * cos(th);
                CHECKF(fabs(b[i0] - r0) < 1e-4 && fabs(b[i1] - r1) < 1e-4, "mode %d i %d", mode, i);
            }
            for (int i = NR; i < HD; i++) CHECK(b[i] == a[i]); /* past n_rot: untouched */
        }
    }
}

/* ------------------------------------------------------------ sampler */

RG_TEST(llm_sampler) {
    enum { V = 1000 };
    static float logits[V], work[V];
    unsigned long long st = 11;
    for (int i = 0; i < V; i++) logits[i] = (float)rg_test_randn(&st) * 2;
    rg_llm_sampler_params p;
    rg_llm_sampler_params_init(&p);
    /* greedy = argmax, lowest id on ties */
    p.temp = 0;
    rg_llm_sampler *s = rg_llm_sampler_new(&p, V);
    REQUIRE(s);
    memcpy(work, logits, sizeof work);
    CHECK_EQ_INT(rg_llm_sample(s, work), rg_llm_argmax(logits, V));
    float tie[4] = {1, 3, 3, 2};
    CHECK_EQ_INT(rg_llm_argmax(tie, 4), 1);
    rg_llm_sampler_free(s);

    /* same seed, same sequence; another seed, another one */
    int32_t a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        p.temp = 1.0f;
        p.top_k = 0;
        p.top_p = 1.0f;
        p.min_p = 0;
        p.seed = run == 2 ? 43 : 42;
        s = rg_llm_sampler_new(&p, V);
        for (int i = 0; i < 64; i++) {
            memcpy(work, logits, sizeof work);
            int32_t t = rg_llm_sample(s, work);
            (run == 0 ? a : run == 1 ? b : c)[i] = t;
        }
        rg_llm_sampler_free(s);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);

    /* top-k = 3: only the three best ever come out */
    int best[3];
    memcpy(work, logits, sizeof work);
    for (int k = 0; k < 3; k++) {
        best[k] = rg_llm_argmax(work, V);
        work[best[k]] = -INFINITY;
    }
    p.top_k = 3;
    p.temp = 5.0f;
    s = rg_llm_sampler_new(&p, V);
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 300; i++) {
        memcpy(work, logits, sizeof work);
        int32_t t = rg_llm_sample(s, work);
        int ok = 0;
        for (int k = 0; k < 3; k++)
            if (t == best[k]) {
                ok = 1;
                seen[k]++;
            }
        CHECK(ok);
    }
    CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    rg_llm_sampler_free(s);

    /* top-p: one dominant token (p > 0.99) is the only one kept at top_p 0.9 */
    memcpy(work, logits, sizeof work);
    float dom[V];
    memcpy(dom, logits, sizeof dom);
    dom[123] = 50;
    p.top_k = 0;
    p.top_p = 0.9f;
    p.temp = 1.0f;
    s = rg_llm_sampler_new(&p, V);
    for (int i = 0; i < 50; i++) {
        memcpy(work, dom, sizeof work);
        CHECK_EQ_INT(rg_llm_sample(s, work), 123);
    }
    rg_llm_sampler_free(s);

    /* min-p 0.5 with two tokens at +10 and +9.9 and the rest far below: only those two */
    float two[V];
    for (int i = 0; i < V; i++) two[i] = 0;
    two[5] = 10.0f;
    two[9] = 9.9f;
    p.top_p = 1.0f;
    p.min_p = 0.5f;
    s = rg_llm_sampler_new(&p, V);
    for (int i = 0; i < 100; i++) {
        memcpy(work, two, sizeof work);
        int32_t t = rg_llm_sample(s, work);
        CHECK(t == 5 || t == 9);
    }
    rg_llm_sampler_free(s);

    /* repetition penalty turns greedy away from a repeated token */
    p.temp = 0;
    p.min_p = 0;
    p.repeat_penalty = 100.0f;
    s = rg_llm_sampler_new(&p, V);
    rg_llm_sampler_accept(s, 5);
    memcpy(work, two, sizeof work);
    CHECK_EQ_INT(rg_llm_sample(s, work), 9);
    rg_llm_sampler_free(s);
    /* presence penalty likewise; frequency penalty scales with the count */
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.05f;
    s = rg_llm_sampler_new(&p, V);
    rg_llm_sampler_accept(s, 5);
    memcpy(work, two, sizeof work);
    CHECK_EQ_INT(rg_llm_sample(s, work), 5); /* 9.95 > 9.9 */
    rg_llm_sampler_free(s);
    p.presence_penalty = 0;
    p.frequency_penalty = 0.06f;
    s = rg_llm_sampler_new(&p, V);
    rg_llm_sampler_accept(s, 5);
    memcpy(work, two, sizeof work);
    CHECK_EQ_INT(rg_llm_sample(s, work), 5);
    rg_llm_sampler_accept(s, 5);
    memcpy(work, two, sizeof work);
    CHECK_EQ_INT(rg_llm_sample(s, work), 9); /* 10 - 2*0.06 < 9.9 */
    rg_llm_sampler_free(s);
}

/* ------------------------------------------------------- chat templates */

RG_TEST(llm_chat_templates) {
    bool known;
    CHECK_EQ_INT(rg_llm_chat_detect("{% for m in messages %}<|im_start|>{{m.role}}", &known),
                 RG_LLM_CHAT_CHATML);
    CHECK(known);
    CHECK_EQ_INT(rg_llm_chat_detect("<|start_header_id|>' + message['role'] + '<|end_header_id|>"
                                    "\n\n'+ message['content'] | trim + '<|eot_id|>'",
                                    &known),
                 RG_LLM_CHAT_LLAMA3);
    CHECK_EQ_INT(rg_llm_chat_detect("[INST] <<SYS>>\\n' + system + '\\n<</SYS>>", &known),
                 RG_LLM_CHAT_LLAMA2);
    CHECK_EQ_INT(rg_llm_chat_detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}", &known),
                 RG_LLM_CHAT_MISTRAL);
    CHECK_EQ_INT(rg_llm_chat_detect("{{'<|user|>' + '\\n' + message['content'] + '<|end|>'", &known),
                 RG_LLM_CHAT_PHI3);
    CHECK_EQ_INT(rg_llm_chat_detect("{{ '<start_of_turn>' + role + '\\n' }}", &known),
                 RG_LLM_CHAT_GEMMA);
    CHECK_EQ_INT(rg_llm_chat_detect("{{ something else }}", &known), RG_LLM_CHAT_CHATML);
    CHECK(!known);
    rg_llm_chat_detect(NULL, &known);
    CHECK(!known);

    rg_llm_chat_msg msgs[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "2+2?"}};
    struct {
        rg_llm_chat_family f;
        const char *want;
    } cases[] = {
        {RG_LLM_CHAT_CHATML,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
         "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
         "<|im_start|>assistant\n"},
        {RG_LLM_CHAT_LLAMA3,
         "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {RG_LLM_CHAT_LLAMA2,
         "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s><s>[INST] 2+2? [/INST]"},
        {RG_LLM_CHAT_MISTRAL, "[INST] Be brief.\n\nHi [/INST] Hello.</s><s>[INST] 2+2? [/INST]"},
        {RG_LLM_CHAT_PHI3,
         "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
         "<|user|>\n2+2?<|end|>\n<|assistant|>\n"},
        {RG_LLM_CHAT_GEMMA,
         "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello."
         "<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg_buf b;
        rg_buf_init(&b, 0);
        CHECK(rg_llm_chat_render(cases[i].f, msgs, 4, true, &b) == RG_OK);
        CHECK_STREQ(b.data, cases[i].want);
        CHECK_EQ_INT(rg_llm_chat_parse(rg_llm_chat_name(cases[i].f)), cases[i].f);
        rg_buf_free(&b);
    }
}

/* ---------------------------------------------------- generated models */

/* dim 64, n_head heads (head size 64 / n_head), half as many KV heads */
static const char *mk_model_heads(const char *name, rg_llm_arch arch, rg_dtype t, int n_head) {
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s.gguf", rg_test_tmpdir(), name);
    rg_llm_mk_params mp = {arch, 300, 64, 2, n_head, n_head / 2, 96, 512, 0, t, false,
                           arch == RG_LLM_ARCH_QWEN2, 5};
    rg_err err;
    rg_status st = rg_llm_make_random(p, &mp, &err);
    if (st) fprintf(stderr, "  %s\n", rg_err_text(&err));
    REQUIRE(st == RG_OK);
    return p;
}

static const char *mk_model(const char *name, rg_llm_arch arch, rg_dtype t) {
    return mk_model_heads(name, arch, t, 4);
}

static double rel_diff(const float *a, const float *b, int n) {
    double m = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)a[i]));
    }
    return m / (mx > 0 ? mx : 1);
}

/* Prefill in one batch == token by token; two sequences decoded together
 * == each alone; seq_rm + re-decode reproduces the logits. */
static void check_kv_paths(const char *path, rg_dtype kv, double tol, int n_threads) {
    rg_llm_model *m;
    rg_err err;
    REQUIRE(rg_llm_model_open(path, &m, &err) == RG_OK);
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    const int V = hp->n_vocab;
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = 256;
    cp.n_seq_max = 3;
    cp.n_batch = 64;
    cp.kv_type = kv;
    cp.n_threads = n_threads;
    rg_llm_ctx *c;
    REQUIRE(rg_llm_ctx_new(m, &cp, &c, &err) == RG_OK);
    enum { N = 45 }; /* crosses a KV block boundary */
    int32_t toks[N];
    unsigned long long st = 99;
    for (int i = 0; i < N; i++) toks[i] = (int32_t)(rg_test_rand(&st) % (unsigned)V);
    float *ref = malloc((size_t)V * sizeof(float)), *one = malloc((size_t)V * sizeof(float));

    /* sequence 0: whole prompt in one batch */
    REQUIRE(rg_llm_eval(c, 0, toks, N, &err) == RG_OK);
    memcpy(ref, rg_llm_logits(c, 0), (size_t)V * sizeof(float));
    CHECK_EQ_INT(rg_llm_seq_len(c, 0), N);
    /* sequence 1: one token at a time */
    for (int i = 0; i < N; i++) REQUIRE(rg_llm_eval(c, 1, toks + i, 1, &err) == RG_OK);
    CHECKF(rel_diff(ref, rg_llm_logits(c, 0), V) < tol, "batch vs one-by-one %g",
           rel_diff(ref, rg_llm_logits(c, 0), V));
    /* drop the last 5 of seq 1 and re-decode them */
    rg_llm_seq_rm(c, 1, N - 5);
    CHECK_EQ_INT(rg_llm_seq_len(c, 1), N - 5);
    REQUIRE(rg_llm_eval(c, 1, toks + N - 5, 5, &err) == RG_OK);
    CHECKF(rel_diff(ref, rg_llm_logits(c, 0), V) < tol, "after seq_rm %g",
           rel_diff(ref, rg_llm_logits(c, 0), V));

    /* one batch holding the next token of seq 0 and seq 1, plus a new seq 2 prompt */
    int32_t bt[1 + 1 + 10], bp[12], bs[12];
    int8_t bl[12] = {0};
    bt[0] = 7;
    bp[0] = N;
    bs[0] = 0;
    bl[0] = 1;
    bt[1] = 8;
    bp[1] = N;
    bs[1] = 1;
    bl[1] = 1;
    for (int i = 0; i < 10; i++) {
        bt[2 + i] = toks[i];
        bp[2 + i] = i;
        bs[2 + i] = 2;
    }
    bl[11] = 1;
    rg_llm_batch b = {12, bt, bp, bs, bl};
    REQUIRE(rg_llm_decode(c, &b, &err) == RG_OK);
    CHECK_EQ_INT(rg_llm_n_outputs(c), 3);
    float *r0 = malloc((size_t)V * 3 * sizeof(float));
    for (int i = 0; i < 3; i++) memcpy(r0 + (size_t)i * V, rg_llm_logits(c, i), (size_t)V * sizeof(float));
    /* the same three alone */
    rg_llm_seq_rm(c, 0, N);
    rg_llm_seq_rm(c, 1, N);
    rg_llm_seq_rm(c, 2, 0);
    REQUIRE(rg_llm_eval(c, 0, &bt[0], 1, &err) == RG_OK);
    CHECKF(rel_diff(rg_llm_logits(c, 0), r0, V) < tol, "seq 0 in a mixed batch");
    REQUIRE(rg_llm_eval(c, 1, &bt[1], 1, &err) == RG_OK);
    CHECKF(rel_diff(rg_llm_logits(c, 0), r0 + V, V) < tol, "seq 1 in a mixed batch");
    REQUIRE(rg_llm_eval(c, 2, toks, 10, &err) == RG_OK);
    CHECKF(rel_diff(rg_llm_logits(c, 0), r0 + 2 * V, V) < tol, "seq 2 in a mixed batch");

    /* misuse is an error that leaves the cache alone */
    int32_t badpos = 3, tok = 1, seq = 0;
    rg_llm_batch bad = {1, &tok, &badpos, &seq, NULL};
    CHECK(rg_llm_decode(c, &bad, &err) == RG_INVALID);
    CHECK(strstr(err.msg, "position 3") != NULL);
    int32_t badtok = V, pos = rg_llm_seq_len(c, 0);
    rg_llm_batch bad2 = {1, &badtok, &pos, &seq, NULL};
    CHECK(rg_llm_decode(c, &bad2, &err) == RG_INVALID);
    CHECK_EQ_INT(rg_llm_seq_len(c, 0), N + 1);
    /* fill the cache (256 slots): a clear RG_LIMIT, not a crash */
    int32_t many[256];
    for (int i = 0; i < 256; i++) many[i] = 3;
    CHECK(rg_llm_eval(c, 2, many, 256, &err) == RG_LIMIT);
    free(r0);
    free(ref);
    free(one);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
}

RG_TEST(llm_kv_paths_llama_f32) {
    check_kv_paths(mk_model("l32", RG_LLM_ARCH_LLAMA, RG_DTYPE_F32), RG_DTYPE_F32, 1e-5, 1);
}
RG_TEST(llm_kv_paths_qwen2_f16kv) {
    check_kv_paths(mk_model("q16", RG_LLM_ARCH_QWEN2, RG_DTYPE_F16), RG_DTYPE_F16, 2e-3, 1);
}
RG_TEST(llm_kv_paths_q8_0_kv) {
    check_kv_paths(mk_model_heads("kq8", RG_LLM_ARCH_QWEN2, RG_DTYPE_F16, 2), RG_DTYPE_Q8_0, 2e-3, 2);
}

/* last-position logits of a 45-token prompt with the given KV type */
static void kv_logits(const char *path, rg_dtype kv, float *out, uint64_t *kv_bytes) {
    rg_llm_model *m;
    rg_err err;
    REQUIRE(rg_llm_model_open(path, &m, &err) == RG_OK);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = 128;
    cp.kv_type = kv;
    cp.n_threads = 1;
    rg_llm_ctx *c;
    REQUIRE(rg_llm_ctx_new(m, &cp, &c, &err) == RG_OK);
    int32_t toks[45];
    unsigned long long st = 5;
    for (int i = 0; i < 45; i++) toks[i] = (int32_t)(rg_test_rand(&st) % 300u);
    REQUIRE(rg_llm_eval(c, 0, toks, 45, &err) == RG_OK);
    memcpy(out, rg_llm_logits(c, 0), 300 * sizeof(float));
    *kv_bytes = rg_llm_ctx_kv_bytes(c);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
}

/* A Q8_0 KV cache is about half of F16's bytes; its logits stay within
 * 1% of an F32 cache's (measured 0.18%; F16's 0.009%: 8 bits of mantissa
 * against 11), and it really is quantized (further off than F16); a head
 * size that is not a multiple of 32 is refused with a reason. */
RG_TEST(llm_kv_q8_0_close_to_f32) {
    const char *path = mk_model_heads("kvq", RG_LLM_ARCH_LLAMA, RG_DTYPE_F32, 2);
    float f32[300], f16[300], q8[300];
    uint64_t b32, b16, b8;
    kv_logits(path, RG_DTYPE_F32, f32, &b32);
    kv_logits(path, RG_DTYPE_F16, f16, &b16);
    kv_logits(path, RG_DTYPE_Q8_0, q8, &b8);
    CHECK_EQ_INT((long long)b16 * 2, (long long)b32);
    CHECK_EQ_INT((long long)b8 * 64, (long long)b16 * 34); /* 34 bytes per 32 values vs 64 */
    double e16 = rel_diff(f16, f32, 300), e8 = rel_diff(q8, f32, 300);
    CHECKF(e8 > e16 && e8 < 0.01, "q8_0 %g vs f16 %g", e8, e16);

    rg_llm_model *m;
    rg_err err;
    REQUIRE(rg_llm_model_open(mk_model("kvbad", RG_LLM_ARCH_LLAMA, RG_DTYPE_F32), &m, &err) == RG_OK);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.kv_type = RG_DTYPE_Q8_0;
    rg_llm_ctx *c = NULL;
    CHECK(rg_llm_ctx_new(m, &cp, &c, &err) == RG_UNSUPPORTED);
    CHECK(strstr(err.msg, "multiple of 32") != NULL);
    CHECK(c == NULL);
    rg_llm_model_close(m);
}

RG_TEST(llm_kv_paths_llama_q8_0) {
    check_kv_paths(mk_model("lq8", RG_LLM_ARCH_LLAMA, RG_DTYPE_Q8_0), RG_DTYPE_F16, 2e-2, 2);
}

/* A model whose tensor or key is wrong fails with a message naming it. */
static void expect_load_error(const char *path, rg_status code, const char *needle) {
    rg_llm_model *m = NULL;
    rg_err err;
    rg_err_clear(&err);
    rg_status st = rg_llm_model_open(path, &m, &err);
    CHECKF(st == code, "%s: status %s, expected %s (%s)", needle, rg_status_name(st),
           rg_status_name(code), err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    CHECK(m == NULL);
}

RG_TEST(llm_load_errors) {
    const char *good = mk_model("good", RG_LLM_ARCH_QWEN2, RG_DTYPE_F32);
    rg_gguf *g;
    rg_err err;
    REQUIRE(rg_gguf_open(good, &g, &err) == RG_OK);
    char path[600];
    /* rewrite the model dropping / reshaping / retyping one tensor or key */
    struct {
        const char *drop_tensor, *reshape, *drop_key, *arch;
        rg_status code;
        const char *needle;
    } cases[] = {
        {"blk.1.ffn_up.weight", NULL, NULL, NULL, RG_FORMAT, "missing tensor blk.1.ffn_up.weight"},
        {"blk.0.attn_k.bias", NULL, NULL, NULL, RG_FORMAT, "blk.0.attn_k.bias"},
        {NULL, "blk.0.attn_k.weight", NULL, NULL, RG_FORMAT,
         "blk.0.attn_k.weight has shape [64, 16], expected [64, 32]"},
        {NULL, NULL, "qwen2.block_count", NULL, RG_FORMAT, "missing metadata key qwen2.block_count"},
        {NULL, NULL, NULL, "gpt9", RG_UNSUPPORTED, "architecture 'gpt9'"},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        rg_gguf_writer *w = rg_gguf_writer_new();
        for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
            const char *k = rg_gguf_kv_key(g, i);
            if (cases[ci].drop_key && !strcmp(k, cases[ci].drop_key)) continue;
            if (!strncmp(k, "tokenizer.", 10)) continue; /* the vocabulary plays no part here */
            rg_gguf_type t = rg_gguf_kv_type(g, i);
            if (t == RG_GGUF_STRING) {
                const char *v = rg_gguf_get_str(g, k, NULL);
                if (cases[ci].arch && !strcmp(k, "general.architecture")) v = cases[ci].arch;
                rg_gguf_writer_set_str(w, k, v);
            } else if (t == RG_GGUF_FLOAT32) {
                float f;
                rg_gguf_get_f32(g, k, &f);
                rg_gguf_writer_set_f32(w, k, f);
            } else {
                uint32_t u;
                REQUIRE(rg_gguf_get_u32(g, k, &u));
                rg_gguf_writer_set_u32(w, k, u);
            }
        }
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
            if (cases[ci].drop_tensor && !strcmp(t->name, cases[ci].drop_tensor)) continue;
            int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
            uint64_t nb = t->nbytes;
            if (cases[ci].reshape && !strcmp(t->name, cases[ci].reshape)) {
                ne[1] /= 2;
                nb /= 2;
            }
            rg_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne, t->data, nb);
        }
        snprintf(path, sizeof path, "%s/bad%zu.gguf", rg_test_tmpdir(), ci);
        REQUIRE(rg_gguf_writer_write(w, path, &err) == RG_OK);
        rg_gguf_writer_free(w);
        expect_load_error(path, cases[ci].code, cases[ci].needle);
    }
    rg_gguf_close(g);
}

/* ------------------------------------------------ llama.cpp conformance */

typedef struct {
    const char *model, *vocab, *preset;
    double rel, cos;
} fx_model;

static const fx_model fx_models[] = {
    {"stories260K", "tok512", "f32", 1e-4, 0.999999},
    {"tiny-llama-f32", "tok512", "f32", 1e-4, 0.999999},
    {"tiny-llama-f16", "tok512", "f16", 5e-3, 0.99999},
    {"tiny-llama-bf16", "tok512", "bf16", 2e-2, 0.9999},
    {"tiny-llama-q8_0", "tok512", "q8_0", 1e-1, 0.998},
    {"tiny-llama-q4_0", "tok512", "q4_0", 1e-1, 0.998},
    {"tiny-llama-q5_0", "tok512", "q5_0", 1e-1, 0.998},
    {"tiny-llama-q4_k", "tok512", "q4_k", 1e-1, 0.998},
    {"tiny-llama-q5_k", "tok512", "q5_k", 1e-1, 0.998},
    {"tiny-llama-q6_k", "tok512", "q6_k", 1e-1, 0.998},
    {"tiny-qwen2-f16", "deepseek-coder", "f16", 5e-3, 0.99999},
    {"tiny-qwen2-q4_k", "deepseek-coder", "q4_k", 1e-1, 0.998},
};

static float *read_f32(const char *path, size_t *n) {
    char *d;
    size_t len;
    rg_err err;
    if (rg_file_read(path, 1u << 28, &d, &len, &err) != RG_OK) return NULL;
    *n = len / 4;
    return (float *)d;
}

static int32_t *read_ids(const char *path, int *n) {
    char *d;
    size_t len;
    rg_err err;
    if (rg_file_read(path, 1u << 20, &d, &len, &err) != RG_OK) return NULL;
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    int k = 0;
    char *p = d, *end;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[k++] = (int32_t)v;
        p = end;
    }
    free(d);
    *n = k;
    return ids;
}

/* check_logits.py's rule: rel max abs diff, cosine, and top-1 equal unless
 * the reference scores our argmax within the absolute tolerance. */
static int logits_ok(const float *ref, const float *cand, int n, double rel, double mincos,
                     double *rel_out, const char *what) {
    double dmax = 0, rmax = 0, dot = 0, nr = 0, nc = 0;
    for (int i = 0; i < n; i++) {
        dmax = fmax(dmax, fabs((double)ref[i] - cand[i]));
        rmax = fmax(rmax, fabs((double)ref[i]));
        dot += (double)ref[i] * cand[i];
        nr += (double)ref[i] * ref[i];
        nc += (double)cand[i] * cand[i];
    }
    double r = dmax / rmax, cosv = dot / sqrt(nr * nc);
    int ir = rg_llm_argmax(ref, n), ic = rg_llm_argmax(cand, n);
    int ok = r <= rel && cosv >= mincos && (ir == ic || ref[ir] - ref[ic] <= rel * rmax);
    if (!ok)
        fprintf(stderr, "  %s: rel %.3g (<= %g) cos %.9f (>= %g) top1 ref %d cand %d\n", what, r,
                rel, cosv, mincos, ir, ic);
    if (rel_out && r > *rel_out) *rel_out = r;
    return ok;
}

/* Runs one model over its prompts: last-position logits, teacher-forced
 * steps (steps.bin, or greedy_steps_top8 for big vocabularies) and free
 * greedy decoding (divergence allowed only at a reference near-tie). */
static void conformance(const fx_model *fm, int n_threads) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s.gguf", fx, fm->model);
    rg_llm_model *m;
    rg_err err;
    if (rg_llm_model_open(path, &m, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        REQUIRE(0);
    }
    const int V = rg_llm_model_hparams(m)->n_vocab;
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.kv_type = RG_DTYPE_F32;
    cp.n_threads = n_threads;
    rg_llm_ctx *c;
    REQUIRE(rg_llm_ctx_new(m, &cp, &c, &err) == RG_OK);
    const char *prompts[] = {"short", "long", "once200"};
    for (int pi = 0; pi < 3; pi++) {
        const char *pr = prompts[pi];
        int is200 = pi == 2;
        if (is200 && strcmp(fm->model, "stories260K") != 0) continue;
        snprintf(path, sizeof path, "%s/models/prompts/%s.%s.ids", fx,
                 is200 ? "stories260K" : fm->vocab, pr);
        int n_prompt;
        int32_t *prompt = read_ids(path, &n_prompt);
        REQUIRE(prompt && n_prompt > 0);
        snprintf(path, sizeof path, "%s/models/refs/%s.%s.logits.bin", fx, fm->model, pr);
        size_t nref;
        float *ref = read_f32(path, &nref);
        REQUIRE(ref && nref == (size_t)V);
        snprintf(path, sizeof path, "%s/models/refs/%s.%s.json", fx, fm->model, pr);
        /* the json writes undecodable token bytes raw; jansson wants UTF-8: mask them */
        char *jtext;
        size_t jlen;
        REQUIRE(rg_file_read(path, 1u << 24, &jtext, &jlen, &err) == RG_OK);
        for (size_t i = 0; i < jlen; i++)
            if ((unsigned char)jtext[i] >= 0x80) jtext[i] = '?';
        json_error_t je;
        json_t *js = json_loadb(jtext, jlen, JSON_ALLOW_NUL, &je);
        free(jtext);
        if (!js) fprintf(stderr, "  %s: %s (line %d)\n", path, je.text, je.line);
        REQUIRE(js);
        json_t *gids = json_object_get(js, "greedy_ids");
        json_t *margins = json_object_get(js, "greedy_top1_minus_top2");
        json_t *top8 = json_object_get(js, "greedy_steps_top8");
        double max_abs_logit = json_real_value(json_object_get(js, "max_abs_logit"));
        const int n_steps = (int)json_array_size(gids);
        REQUIRE(n_steps > 0);
        snprintf(path, sizeof path, "%s/models/refs/%s.%s.steps.bin", fx, fm->model, pr);
        size_t nsteps_f = 0;
        float *steps = V <= 512 ? read_f32(path, &nsteps_f) : NULL;
        if (steps) REQUIRE(nsteps_f == (size_t)n_steps * V);

        char what[160];
        double worst = 0;
        /* 1. last prompt position (prompt in one batch) */
        rg_llm_seq_rm(c, 0, 0);
        REQUIRE(rg_llm_eval(c, 0, prompt, n_prompt, &err) == RG_OK);
        snprintf(what, sizeof what, "%s %s logits", fm->model, pr);
        CHECK(logits_ok(ref, rg_llm_logits(c, 0), V, fm->rel, fm->cos, &worst, what));
        /* 2. teacher-forced steps: feed the reference greedy ids.  Until the
         * first step where our argmax differs, this is also free greedy
         * decoding: that divergence is allowed only at a reference near-tie. */
        double margin_tol = fm->rel * max_abs_logit;
        int equal = -1;
        for (int s = 0; s < n_steps; s++) {
            const float *got = rg_llm_logits(c, 0);
            snprintf(what, sizeof what, "%s %s step %d", fm->model, pr, s);
            if (steps) {
                CHECK(logits_ok(steps + (size_t)s * V, got, V, fm->rel, fm->cos, &worst, what));
            } else {
                /* big vocabulary: the reference's 8 best of this step */
                json_t *row = json_array_get(top8, (size_t)s);
                double tol = fm->rel * max_abs_logit;
                int best = rg_llm_argmax(got, V);
                double ref_best = json_real_value(json_array_get(json_array_get(row, 0), 1));
                int best_in = 0;
                for (size_t j = 0; j < json_array_size(row); j++) {
                    int id = (int)json_integer_value(json_array_get(json_array_get(row, j), 0));
                    double lv = json_real_value(json_array_get(json_array_get(row, j), 1));
                    CHECKF(fabs(got[id] - lv) <= tol, "%s id %d: %g vs %g", what, id, got[id], lv);
                    worst = fmax(worst, fabs(got[id] - lv) / max_abs_logit);
                    if (id == best) {
                        best_in = 1;
                        CHECKF(ref_best - lv <= tol, "%s: argmax %d is %g below the best", what,
                               best, ref_best - lv);
                    }
                }
                CHECKF(best_in, "%s: argmax %d not among the reference's 8 best", what, best);
            }
            int32_t t = (int32_t)json_integer_value(json_array_get(gids, (size_t)s));
            if (equal < 0 && rg_llm_argmax(got, V) != t) {
                equal = s;
                double mg = json_real_value(json_array_get(margins, (size_t)s));
                CHECKF(mg <= margin_tol && !is200,
                       "%s %s: greedy step %d: %d, expected %d (reference margin %g > %g)",
                       fm->model, pr, s, rg_llm_argmax(got, V), t, mg, margin_tol);
            }
            if (s + 1 < n_steps) REQUIRE(rg_llm_eval(c, 0, &t, 1, &err) == RG_OK);
        }
        if (equal < 0) equal = n_steps;
        fprintf(stderr, "  %-16s %-7s rel max diff %.2e (logits + %d teacher-forced steps), greedy %d/%d equal\n",
                fm->model, pr, worst, n_steps, equal, n_steps);
        free(steps);
        json_decref(js);
        free(ref);
        free(prompt);
    }
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
}

#define FX_TEST(idx, nm)                                                                          \
    RG_TEST(llm_conformance_##nm) { conformance(&fx_models[idx], (idx) == 4 ? 2 : 1); }
FX_TEST(0, stories260K)
FX_TEST(1, llama_f32)
FX_TEST(2, llama_f16)
FX_TEST(3, llama_bf16)
FX_TEST(4, llama_q8_0)
FX_TEST(5, llama_q4_0)
FX_TEST(6, llama_q5_0)
FX_TEST(7, llama_q4_k)
FX_TEST(8, llama_q5_k)
FX_TEST(9, llama_q6_k)
FX_TEST(10, qwen2_f16)
FX_TEST(11, qwen2_q4_k)

/* rg_llm_sample_allowed must draw exactly what rg_llm_sample draws from
 * the logits with the refused tokens at -INFINITY: same seed, same token,
 * over sampler settings (top-k/top-p/min-p on and off, greedy, penalties)
 * and allowed sets from dense to sparse.  Returning -1 (give up) is
 * allowed; a different token is not. */
typedef struct {
    unsigned salt;
    int permille; /* share of the vocabulary allowed */
} allow_rule;

static int allow_by_rule(void *ud, int32_t id) {
    const allow_rule *r = ud;
    unsigned h = ((unsigned)id + r->salt) * 2654435761u;
    return (int)((h >> 8) % 1000) < r->permille;
}

RG_TEST(llm_sample_allowed_equals_masked_sample) {
    enum { V = 3000 };
    static float logits[V], masked[V];
    unsigned long long st = 99;
    const float temps[] = {0.0f, 0.7f, 1.0f};
    const int topk[] = {0, 1, 40};
    const float topp[] = {1.0f, 0.9f};
    const float minp[] = {0.0f, 0.05f};
    const int dens[] = {1000, 900, 300, 40, 3};
    int same = 0, gave_up = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 2; d++)
                    for (int e = 0; e < 5; e++) {
                        rg_llm_sampler_params p;
                        rg_llm_sampler_params_init(&p);
                        p.temp = temps[a], p.top_k = topk[b], p.top_p = topp[c], p.min_p = minp[d];
                        p.repeat_penalty = e % 2 ? 1.3f : 1.0f;
                        p.seed = (uint64_t)(a * 1000 + b * 100 + c * 10 + d + e * 7);
                        rg_llm_sampler *s1 = rg_llm_sampler_new(&p, V), *s2 = rg_llm_sampler_new(&p, V);
                        REQUIRE(s1 && s2);
                        for (int t = 0; t < 20; t++) {
                            /* sharp and flat distributions, and ties */
                            double scale = t % 3 == 0 ? 6.0 : t % 3 == 1 ? 0.5 : 2.0;
                            for (int i = 0; i < V; i++)
                                logits[i] = t % 5 == 4 ? (float)(int)(rg_test_randf(&st) * 4)
                                                       : (float)(rg_test_randn(&st) * scale);
                            allow_rule r = {(unsigned)(t * 7919 + e), dens[e]};
                            /* 256 checks: stops short of the vocabulary; 4096: may check it all */
                            int32_t got = rg_llm_sample_allowed(s1, logits, allow_by_rule, &r, t % 2 ? 4096 : 256);
                            if (got < 0) {
                                gave_up++;
                                continue; /* nothing drawn: s1's stream did not move */
                            }
                            for (int i = 0; i < V; i++) masked[i] = allow_by_rule(&r, i) ? logits[i] : -INFINITY;
                            int32_t want = rg_llm_sample(s2, masked);
                            CHECKF(got == want, "temp %g top_k %d top_p %g min_p %g density %d trial %d: %d vs %d",
                                   p.temp, p.top_k, p.top_p, p.min_p, dens[e], t, got, want);
                            CHECK(allow_by_rule(&r, got));
                            same += got == want;
                            rg_llm_sampler_accept(s1, got);
                            rg_llm_sampler_accept(s2, want);
                        }
                        rg_llm_sampler_free(s1);
                        rg_llm_sampler_free(s2);
                    }
    /* the fast path must actually settle most draws, not always give up */
    CHECKF(same > gave_up, "settled %d, gave up %d", same, gave_up);
    fprintf(stderr, "  settled %d draws, gave up on %d\n", same, gave_up);
}
