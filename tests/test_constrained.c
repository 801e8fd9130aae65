/* test_constrained.c - JSON-Schema-constrained generation with real
 * models of random weights (the grammar alone makes the output valid):
 * 500 generations over 20 schemas must all parse and validate. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "grammar/grammar.h"
#include "grammar/grammar_int.h"
#include "jsonschema_check.h"
#include "llm/llm.h"
#include "test.h"
#include "tok/tok.h"

typedef struct {
    rg_grammar_state *st;
    const rg_grammar_vocab *gv;
    int budget;
} pred_ud;

static int pred(void *ud, int32_t id) {
    pred_ud *p = ud;
    return rg_grammar_allows_within(p->st, p->gv, id, p->budget);
}

/* fast: the server's path (llama.cpp's default sampler settings, the
 * best candidates checked one by one, the full mask only when that does
 * not settle the draw); else the full mask at every step, top-k off. */
static void run_model(const char *name, int per_schema, int budget, int fast) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s.gguf", fx, name);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = 256;
    cp.n_threads = 1;
    rg_llm_ctx *c;
    REQUIRE(rg_llm_ctx_new(m, &cp, &c, &e) == RG_OK);
    rg_tok *tok;
    REQUIRE(rg_tok_from_gguf(rg_llm_model_gguf(m), &tok, &e) == RG_OK);
    rg_grammar_vocab *gv = rg_grammar_vocab_from_tok(tok);
    REQUIRE(gv);
    int n_vocab = rg_llm_model_hparams(m)->n_vocab;
    uint8_t *mask = malloc((size_t)n_vocab);
    int32_t *prompt;
    size_t n_prompt;
    REQUIRE(rg_tok_encode(tok, "Once upon a time", 16, true, &prompt, &n_prompt, &e) == RG_OK);
    int total = 0, valid = 0, n_fast = 0, n_steps = 0;
    for (int s = 0; s < 20; s++) {
        rg_grammar *g;
        REQUIRE(rg_grammar_from_json_schema(rg_test_schemas[s], strlen(rg_test_schemas[s]), &g, &e) == RG_OK);
        json_t *schema = json_loads(rg_test_schemas[s], 0, NULL);
        for (int k = 0; k < per_schema; k++) {
            rg_llm_sampler_params sp;
            rg_llm_sampler_params_init(&sp);
            sp.temp = 1.0f;
            if (!fast) {
                sp.top_k = 0;
                sp.top_p = 1.0f;
                sp.min_p = 0;
            }
            sp.seed = (uint64_t)(s * 1000 + k + 1);
            rg_llm_sampler *smp = rg_llm_sampler_new(&sp, n_vocab);
            rg_grammar_state *st = rg_grammar_state_new(g);
            rg_buf out;
            rg_buf_init(&out, 1 << 20);
            rg_llm_seq_rm(c, 0, 0);
            REQUIRE(rg_llm_eval(c, 0, prompt, (int)n_prompt, &e) == RG_OK);
            int complete = 0;
            for (int step = 0; step < budget; step++) {
                float *lg = rg_llm_logits(c, 0);
                pred_ud pu = {st, gv, budget - step};
                int32_t t = fast && rg_grammar_worth_checking(st, gv) ? rg_llm_sample_allowed(smp, lg, pred, &pu, 256) : -1;
                if (t < 0) {
                    if (rg_grammar_constrain(st, gv, lg, budget - step, mask) == 0) break;
                    t = rg_llm_sample(smp, lg);
                } else {
                    n_fast++;
                }
                n_steps++;
                if (rg_tok_is_eog(tok, t)) {
                    complete = rg_grammar_done(st);
                    break;
                }
                REQUIRE(rg_grammar_accept_token(st, gv, t));
                size_t pl;
                const char *p = rg_tok_piece(tok, t, &pl);
                rg_buf_append(&out, p, pl);
                if (rg_grammar_finished(st)) {
                    complete = 1;
                    break;
                }
                REQUIRE(rg_llm_eval(c, 0, &t, 1, &e) == RG_OK);
            }
            if (!complete) complete = rg_grammar_done(st);
            json_error_t je;
            json_t *doc = out.data ? json_loads(out.data, JSON_DECODE_ANY, &je) : NULL;
            int ok = complete && doc && rg_test_schema_validate(schema, doc, schema);
            if (!ok) fprintf(stderr, "  %s schema %d seed %d: %s\n", name, s, k, out.data ? out.data : "");
            valid += ok;
            total++;
            json_decref(doc);
            rg_buf_free(&out);
            rg_grammar_state_free(st);
            rg_llm_sampler_free(smp);
        }
        json_decref(schema);
        rg_grammar_free(g);
    }
    CHECK_EQ_INT(total, 20 * per_schema);
    CHECK_EQ_INT(valid, total);
    if (fast) fprintf(stderr, "  %s: %d of %d steps settled without a full mask\n", name, n_fast, n_steps);
    if (fast) CHECK(n_fast > 0);
    free(prompt);
    free(mask);
    rg_grammar_vocab_free(gv);
    rg_tok_free(tok);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
}

/* 500 = 20 schemas x 25 seeds on the SentencePiece model (byte tokens,
 * partial UTF-8), both ways, plus a sample on the byte-level-BPE qwen2
 * model the fast way. */
RG_TEST(constrained_500_generations_tiny_llama) { run_model("tiny-llama-q8_0", 25, 120, 0); }
RG_TEST(constrained_500_generations_fast_path_tiny_llama) { run_model("tiny-llama-q8_0", 25, 120, 1); }
RG_TEST(constrained_generations_tiny_qwen2) { run_model("tiny-qwen2-q4_k", 2, 60, 1); }

/* The fast path's allowed set is the full mask's: on states reached by
 * random walks through several schemas (and the any-JSON grammar), with
 * no budget and with a tight one, rg_grammar_allows_within agrees with
 * rg_grammar_constrain on every token of the real vocabularies. */
static void check_sets(const char *name, int n_states) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s.gguf", fx, name);
    rg_llm_model *m;
    rg_err e;
    REQUIRE(rg_llm_model_open(path, &m, &e) == RG_OK);
    rg_tok *tok;
    REQUIRE(rg_tok_from_gguf(rg_llm_model_gguf(m), &tok, &e) == RG_OK);
    rg_grammar_vocab *gv = rg_grammar_vocab_from_tok(tok);
    REQUIRE(gv);
    int n = rg_tok_n_vocab(tok);
    uint8_t *mask = malloc((size_t)n);
    float *lg = malloc(sizeof(float) * (size_t)n);
    REQUIRE(mask && lg);
    unsigned long long rng = 4242;
    int states = 0, schema = 0, compared = 0;
    while (states < n_states) {
        rg_grammar *g;
        int k = schema++ % 21; /* 20 schemas, then any JSON object */
        if (k == 20) REQUIRE(rg_grammar_json_object(&g, &e) == RG_OK);
        else REQUIRE(rg_grammar_from_json_schema(rg_test_schemas[k], strlen(rg_test_schemas[k]), &g, &e) == RG_OK);
        rg_grammar_state *st = rg_grammar_state_new(g);
        for (int step = 0; step < 48 && states < n_states; step++, states++) {
            int budgets[2] = {0, 2 + (int)(rg_test_rand(&rng) % 24)};
            int pick = -1;
            for (int bi = 0; bi < 2; bi++) {
                for (int i = 0; i < n; i++) lg[i] = 0;
                int left = rg_grammar_constrain(st, gv, lg, budgets[bi], mask);
                int npred = 0, agree = 1;
                for (int i = 0; i < n; i++) {
                    int p = rg_grammar_allows_within(st, gv, i, budgets[bi]);
                    npred += p;
                    if (p != (lg[i] == 0)) agree = 0;
                }
                compared++;
                if (bi == 0) { /* the memoised transitions against direct steps */
                    int direct = rg__grammar_mask_direct(st, gv, mask), same = 1, dsame = 1;
                    uint8_t *m2 = malloc((size_t)n);
                    REQUIRE(m2);
                    int memo = rg_grammar_mask(st, gv, m2);
                    for (int i = 0; i < n; i++) {
                        if (mask[i] != m2[i]) same = 0;
                        if (rg__grammar_distance_after_direct(st, gv, i) != rg_grammar_distance_after(st, gv, i)) dsame = 0;
                    }
                    free(m2);
                    CHECKF(same && direct == memo, "%s schema %d step %d: memoised mask differs", name, k, step);
                    CHECKF(dsame, "%s schema %d step %d: memoised distances differ", name, k, step);
                }
                if (npred) CHECKF(agree && left == npred, "%s schema %d step %d budget %d: sets differ", name, k, step, budgets[bi]);
                else CHECKF(left <= 1, "%s schema %d step %d: nothing passes, mask kept %d", name, k, step, left);
                if (bi == 0 && left) { /* walk on with a random allowed token */
                    int r = (int)(rg_test_rand(&rng) % (unsigned long long)left);
                    for (int i = 0; i < n && pick < 0; i++)
                        if (lg[i] == 0 && r-- == 0) pick = i;
                }
            }
            if (pick < 0 || rg_grammar_finished(st) || !rg_grammar_accept_token(st, gv, pick) ||
                rg_grammar_finished(st) || rg_tok_is_eog(tok, pick))
                break;
        }
        rg_grammar_state_free(st);
        rg_grammar_free(g);
    }
    CHECK(compared >= n_states);
    free(mask);
    free(lg);
    rg_grammar_vocab_free(gv);
    rg_tok_free(tok);
    rg_llm_model_close(m);
}

RG_TEST(constrained_fast_check_matches_mask_tiny_llama) { check_sets("tiny-llama-q8_0", 400); }
RG_TEST(constrained_fast_check_matches_mask_tiny_qwen2) { check_sets("tiny-qwen2-q4_k", 40); }
