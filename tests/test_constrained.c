/* test_constrained.c - JSON-Schema-constrained generation with real
 * models of random weights (the grammar alone makes the output valid):
 * 500 generations over 20 schemas must all parse and validate. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "grammar/grammar.h"
#include "jsonschema_check.h"
#include "llm/llm.h"
#include "test.h"
#include "tok/tok.h"

static void run_model(const char *name, int per_schema, int budget) {
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
    int total = 0, valid = 0;
    for (int s = 0; s < 20; s++) {
        rg_grammar *g;
        REQUIRE(rg_grammar_from_json_schema(rg_test_schemas[s], strlen(rg_test_schemas[s]), &g, &e) == RG_OK);
        json_t *schema = json_loads(rg_test_schemas[s], 0, NULL);
        for (int k = 0; k < per_schema; k++) {
            rg_llm_sampler_params sp;
            rg_llm_sampler_params_init(&sp);
            sp.temp = 1.0f;
            sp.top_k = 0;
            sp.top_p = 1.0f;
            sp.min_p = 0;
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
                if (rg_grammar_constrain(st, gv, lg, budget - step, mask) == 0) break;
                int32_t t = rg_llm_sample(smp, lg);
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
    free(prompt);
    free(mask);
    rg_grammar_vocab_free(gv);
    rg_tok_free(tok);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
}

/* 500 = 20 schemas x 25 seeds on the SentencePiece model (byte tokens,
 * partial UTF-8), plus a sample on the byte-level-BPE qwen2 model. */
RG_TEST(constrained_500_generations_tiny_llama) { run_model("tiny-llama-q8_0", 25, 120); }
RG_TEST(constrained_generations_tiny_qwen2) { run_model("tiny-qwen2-q4_k", 1, 60); }
