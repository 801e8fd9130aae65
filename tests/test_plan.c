/* test_plan.c - cost arithmetic on hand-worked examples, model sizes from
 * GGUF, the roofline and the load simulation. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "plan/plan.h"
#include "test.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol) * fmax(1.0, fabs((double)(b))))

RG_TEST(plan_cost_hand_worked) {
    rg_plan_cost_input in = {0};
    in.hw_price_per_hour = 0.10;
    in.utilization = 0.5;
    in.gen_tokens_per_s = 50;
    in.prompt_tokens_per_s = 500;
    in.tokens_in = 1000;
    in.tokens_out = 100;
    in.requests_per_day = 1000;
    in.n_api = 1;
    in.api[0].in_per_1k = 0.001;
    in.api[0].out_per_1k = 0.002;
    rg_plan_cost_result r;
    rg_err e;
    REQUIRE(rg_plan_cost(&in, &r, &e) == RG_OK);
    /* 1000/500 + 100/50 = 4 s per request; 86400*0.5/4 = 10800 req/day */
    CHECK(NEAR(r.seconds_per_request, 4.0, 1e-12));
    CHECK(NEAR(r.capacity_requests_per_day, 10800, 1e-12));
    CHECK_EQ_INT(r.machines, 1);
    /* 0.10 * 720 h = 72 per month; 30,000 requests -> 2.4 per 1k */
    CHECK(NEAR(r.self_per_month, 72, 1e-12));
    CHECK(NEAR(r.self_per_1k_requests, 2.4, 1e-12));
    /* API: 1*0.001 + 0.1*0.002 = 0.0012 per request -> 1.2 per 1k, 36/month */
    CHECK(NEAR(r.api[0].per_1k_requests, 1.2, 1e-12));
    CHECK(NEAR(r.api[0].per_month, 36, 1e-12));
    /* break-even: 72 / (0.0012*30) = 2000 req/day (within one machine) */
    CHECK(NEAR(r.api[0].breakeven_requests_per_day, 2000, 1e-9));
    in.requests_per_day = 25000; /* needs 3 machines */
    REQUIRE(rg_plan_cost(&in, &r, &e) == RG_OK);
    CHECK_EQ_INT(r.machines, 3);
    in.api[0].in_per_1k = 0.00001; /* API cheaper than a full machine: never */
    in.api[0].out_per_1k = 0.00001;
    REQUIRE(rg_plan_cost(&in, &r, &e) == RG_OK);
    CHECK(r.api[0].breakeven_requests_per_day < 0);
    in.gen_tokens_per_s = 0;
    CHECK_EQ_INT(rg_plan_cost(&in, &r, &e), RG_INVALID);
}

RG_TEST(plan_model_sizes_match_gguf) {
    const char *fx = rg_test_fixtures_or_skip();
    static const char *files[] = {"tiny-llama-f16", "tiny-llama-q8_0", "tiny-llama-q4_k",
                                  "tiny-qwen2-f16", "tiny-qwen2-q4_k"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s.gguf", fx, files[f]);
        rg_plan_model m;
        rg_err e;
        REQUIRE(rg_plan_model_from_gguf(path, &m, &e) == RG_OK);
        rg_gguf *g;
        REQUIRE(rg_gguf_open(path, &g, &e) == RG_OK);
        /* every 2-D tensor but an untied token_embd is read per token */
        uint64_t expect = 0;
        int tied = rg_gguf_find_tensor(g, "output.weight") == NULL;
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
            if (t->n_dims < 2) continue;
            if (!strcmp(t->name, "token_embd.weight") && !tied) continue;
            expect += t->nbytes;
        }
        CHECKF(m.weight_bytes_per_token == expect, "%s: %llu vs %llu", files[f],
               (unsigned long long)m.weight_bytes_per_token, (unsigned long long)expect);
        CHECK_EQ_INT(m.file_bytes, rg_gguf_file_size(g));
        CHECK_EQ_INT(m.n_layer, 2);
        CHECK_EQ_INT(m.n_embd, 256);
        rg_gguf_close(g);
    }
}

static rg_plan_profile test_profile(void) {
    rg_plan_profile p;
    memset(&p, 0, sizeof p);
    p.threads = 1;
    p.bandwidth_gbs = 20;
    p.attn_gflops = 50;
    p.rate[RG_DTYPE_Q8_0].decode_gbs = 16;
    p.rate[RG_DTYPE_Q8_0].prefill_gflops = 400;
    return p;
}

RG_TEST(plan_roofline_and_simulation) {
    rg_plan_profile p = test_profile();
    rg_plan_model m;
    rg_err e;
    REQUIRE(rg_plan_model_from_params(1e9, RG_DTYPE_Q8_0, &m, &e) == RG_OK);
    /* 1e9 params of q8_0 = 1.0625e9 bytes; at 16 GB/s one step ~ 66 ms */
    double t1 = rg_plan_step_seconds(&p, &m, 1, 0, 0);
    CHECK(NEAR(t1, 1.0625e9 / 16e9, 1e-3));
    rg_plan_request r = {512, 128, 2};
    rg_plan_prediction pr;
    rg_plan_predict(&p, &m, &r, &pr);
    /* prefill: 2 flops/param/token at 400 GFLOP/s -> 200 tokens/s before attention */
    CHECK(pr.pp_tokens_per_s < 200.0 && pr.pp_tokens_per_s > 160.0);
    CHECK(pr.tg_tokens_per_s < 16e9 / 1.0625e9 && pr.tg_tokens_per_s > 13.0);
    CHECK(pr.memory_bytes > m.file_bytes);
    /* batching: 8 sequences per step cost far less than 8 steps */
    CHECK(rg_plan_step_seconds(&p, &m, 8, 0, 0) < 2 * t1);
    rg_plan_load_result lo, hi;
    rg_plan_simulate(&p, &m, &r, 0.001, 8, 300, 1, &lo);
    CHECK_EQ_INT(lo.completed, 300);
    /* at a trickle, latency = one request alone */
    CHECK(NEAR(lo.p50_ms, pr.total_ms, 0.1));
    rg_plan_simulate(&p, &m, &r, 0.2, 8, 300, 1, &hi);
    CHECK(hi.p99_ms > lo.p99_ms);
    CHECK(hi.mean_batch > lo.mean_batch);
    double q = rg_plan_max_qps(&p, &m, &r, 8, 2 * pr.total_ms);
    CHECK(q > 0);
    rg_plan_simulate(&p, &m, &r, q, 8, 1000, 42, &hi);
    CHECK(hi.p99_ms <= 2 * pr.total_ms);
}

RG_TEST(plan_profile_roundtrip) {
    rg_plan_profile p[2] = {test_profile(), test_profile()};
    p[1].threads = 2;
    p[1].bandwidth_gbs = 30;
    char path[4096];
    snprintf(path, sizeof path, "%s/profile.json", rg_test_tmpdir());
    rg_err e;
    REQUIRE(rg_plan_profile_save(path, p, 2, &e) == RG_OK);
    rg_plan_profile q = {0};
    REQUIRE(rg_plan_profile_load(path, 2, &q, &e) == RG_OK);
    CHECK_EQ_INT(q.threads, 2);
    CHECK(NEAR(q.bandwidth_gbs, 30, 1e-9));
    CHECK(NEAR(q.rate[RG_DTYPE_Q8_0].decode_gbs, 16, 1e-9));
    REQUIRE(rg_plan_profile_load(path, 1, &q, &e) == RG_OK);
    CHECK_EQ_INT(q.threads, 1);
    REQUIRE(rg_plan_profile_load(path, 8, &q, &e) == RG_OK);
    CHECK_EQ_INT(q.threads, 2);
}

/* ---- perplexity / KL arithmetic ---- */

RG_TEST(plan_ppl_windows) {
    rg_plan_ppl_window w[16];
    /* llama.cpp default: 1000 tokens, ctx 256 -> 3 chunks scoring 128..254 */
    CHECK_EQ_INT(rg_plan_ppl_windows(1000, 256, 0, w, 16), 3);
    CHECK_EQ_INT(w[2].start, 512);
    CHECK_EQ_INT(w[0].first, 128);
    CHECK_EQ_INT(w[0].last, 254);
    /* stride 64 over 512 tokens, ctx 256: starts 0,64,..,256 -> 5 windows,
     * each scoring its last 64 predictions (positions 191..254) */
    CHECK_EQ_INT(rg_plan_ppl_windows(512, 256, 64, w, 16), 5);
    CHECK_EQ_INT(w[4].start, 256);
    CHECK_EQ_INT(w[1].first, 191);
    CHECK_EQ_INT(w[1].last - w[1].first + 1, 64);
    CHECK_EQ_INT(rg_plan_ppl_windows(255, 256, 0, w, 16), 0);  /* too short */
    CHECK_EQ_INT(rg_plan_ppl_windows(999, 256, 255, w, 16), 0); /* stride >= ctx-1 */
    CHECK_EQ_INT(rg_plan_ppl_windows(100000, 256, 0, NULL, 0), 390); /* count only */
}

RG_TEST(plan_ppl_kl_hand_worked) {
    /* base p = (1/2, 1/4, 1/4), model q = (1/4, 1/2, 1/4):
     * KL(p||q) = 1/2 ln 2 + 1/4 ln(1/2) = 1/4 ln 2 */
    float bl[3] = {logf(2), 0, 0}, ml[3] = {0, logf(2), 0}, blp[3], mlp[3];
    rg_plan_log_softmax(bl, 3, blp);
    rg_plan_log_softmax(ml, 3, mlp);
    CHECK(NEAR(expf(blp[0]), 0.5, 1e-6));
    CHECK(NEAR(expf(mlp[1]), 0.5, 1e-6));
    rg_plan_ppl_stats s;
    memset(&s, 0, sizeof s);
    rg_plan_ppl_add(&s, mlp, blp, 3, 0); /* target 0: model p 1/4, base 1/2 */
    rg_plan_ppl_add(&s, mlp, blp, 3, 1); /* target 1: model 1/2, base 1/4 */
    rg_plan_ppl_result r;
    rg_plan_ppl_finish(&s, &r);
    CHECK_EQ_INT((int)r.n, 2);
    /* model nll: ln4 + ln2 -> mean 1.5 ln2 -> PPL 2^1.5 */
    CHECK(NEAR(r.ppl, pow(2, 1.5), 1e-5));
    CHECK(NEAR(r.base_ppl, pow(2, 1.5), 1e-5));
    CHECK(NEAR(r.ppl_ratio, 1.0, 1e-6));
    CHECK(NEAR(r.kl_mean, 0.25 * log(2), 1e-6));
    CHECK(NEAR(r.kl_max, 0.25 * log(2), 1e-6));
    CHECK(NEAR(r.top1_agree, 0.0, 1e-12)); /* argmax 0 vs 1 */
    /* identical distributions: KL 0, agreement 1 */
    memset(&s, 0, sizeof s);
    rg_plan_ppl_add(&s, blp, blp, 3, 2);
    rg_plan_ppl_finish(&s, &r);
    CHECK(r.kl_mean == 0);
    CHECK(r.top1_agree == 1);
    CHECK(NEAR(r.ppl, 4, 1e-5));
    /* a huge logit range stays finite */
    float big[2] = {1000, -1000}, lb[2];
    rg_plan_log_softmax(big, 2, lb);
    CHECK(lb[0] == 0 && isfinite(lb[1]));
}

RG_TEST(plan_logits_file_roundtrip) {
    char path[4096];
    snprintf(path, sizeof path, "%s/base.lp", rg_test_tmpdir());
    int32_t toks[5] = {1, 2, 3, 0, 3};
    rg_plan_logits_hdr h = {4, 8, 0, 5, 2};
    rg_plan_logits_file *f;
    rg_err e;
    REQUIRE(rg_plan_logits_create(path, &h, toks, &f, &e) == RG_OK);
    float r0[4] = {-1, -2, -3, -0.5f}, r1[4] = {-0.1f, -INFINITY, -2, -9}, got[4];
    REQUIRE(rg_plan_logits_write(f, r0, &e) == RG_OK);
    /* closing after one of two rows fails and leaves no file */
    rg_plan_logits_file *f2;
    char p2[4200];
    snprintf(p2, sizeof p2, "%s.partial", path);
    REQUIRE(rg_plan_logits_create(p2, &h, toks, &f2, &e) == RG_OK);
    CHECK(rg_plan_logits_close(f2, &e) != RG_OK);
    CHECK(access(p2, F_OK) != 0);
    REQUIRE(rg_plan_logits_write(f, r1, &e) == RG_OK);
    CHECK(rg_plan_logits_write(f, r1, &e) != RG_OK); /* a third row is refused */
    REQUIRE(rg_plan_logits_close(f, &e) == RG_OK);
    REQUIRE(rg_plan_logits_open(path, &f, &e) == RG_OK);
    CHECK_EQ_INT((int)rg_plan_logits_header(f)->n_scored, 2);
    CHECK_EQ_INT(rg_plan_logits_tokens(f)[2], 3);
    REQUIRE(rg_plan_logits_read(f, got, &e) == RG_OK);
    CHECK(memcmp(got, r0, sizeof got) == 0);
    REQUIRE(rg_plan_logits_read(f, got, &e) == RG_OK);
    CHECK(got[1] == -INFINITY && got[3] == -9);
    CHECK_EQ_INT(rg_plan_logits_read(f, got, &e), RG_FORMAT);
    rg_plan_logits_close(f, &e);
    /* one byte short: refused, naming the sizes */
    CHECK(truncate(path, 8 + 20 + 20 + 32 - 1) == 0);
    CHECK_EQ_INT(rg_plan_logits_open(path, &f, &e), RG_FORMAT);
    CHECK(strstr(rg_err_text(&e), "bytes") != NULL);
}

/* What a prompt step runs for its last token only, matmul rows and calls,
 * by hand for tiny-llama (d 256, ff 768, 2 layers, 2 KV heads of 32,
 * vocab 512, untied, F16). */
RG_TEST(plan_model_rows_and_last_only) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/tiny-llama-f16.gguf", fx);
    rg_plan_model m;
    rg_err e;
    REQUIRE(rg_plan_model_from_gguf(path, &m, &e) == RG_OK);
    CHECK_EQ_INT(m.n_matmul, 7 * 2 + 1);
    /* rows: per layer q 256 + k 64 + v 64 + o 256 + gate 768 + up 768 + down 256; output 512 */
    CHECK_EQ_INT((int)m.rows_by_type[RG_DTYPE_F16], 2 * 2432 + 512);
    /* output 256x512 + last layer's attn_output 256x256 and FFN 3 x 256x768, 2 bytes each */
    CHECK_EQ_INT((int)m.last_only_by_type[RG_DTYPE_F16], 2 * (256 * 512 + 256 * 256 + 3 * 256 * 768));
    /* a prompt step charges those bytes' math once, the rest per token */
    rg_plan_profile p;
    memset(&p, 0, sizeof p);
    p.threads = 1;
    p.bandwidth_gbs = 1e6; /* memory free: compute-bound */
    p.attn_gflops = 1e9;
    p.rate[RG_DTYPE_F16].decode_gbs = 1e6;
    p.rate[RG_DTYPE_F16].prefill_gflops = 1; /* 1e9 flop/s */
    double all = (double)m.bytes_by_type[RG_DTYPE_F16] / 2, last = (double)m.last_only_by_type[RG_DTYPE_F16] / 2;
    double want = 2.0 * ((all - last) * 100 + last) / 1e9;
    double got = rg_plan_step_seconds(&p, &m, 0, 100, 0);
    CHECK(NEAR(got, want, 1e-3));
}
