/* test_quant.c - rg_quant_model against llama-quantize: quantizing
 * tiny-llama-f32.gguf with --pure must give tensors byte-identical to the
 * fixtures llama-quantize --pure made; metadata and 1-D tensors copied. */
#include <string.h>

#include "gguf/gguf.h"
#include "quant/quant.h"
#include "test.h"

static void check_pure(const char *type, const char *fixture) {
    const char *fx = rg_test_fixtures_or_skip();
    char in[1024], ref[1024], out[1024];
    snprintf(in, sizeof in, "%s/models/tiny-llama-f32.gguf", fx);
    snprintf(ref, sizeof ref, "%s/models/%s", fx, fixture);
    snprintf(out, sizeof out, "%s/out.gguf", rg_test_tmpdir());
    rg_quant_opts o = {0};
    REQUIRE(rg_quant_parse_type(type, &o));
    o.pure = true;
    o.n_threads = 2;
    rg_err err;
    int nq = -1;
    rg_status st = rg_quant_model(in, out, &o, &nq, &err);
    CHECKF(st == RG_OK, "%s", err.msg);
    REQUIRE(st == RG_OK);
    CHECK_EQ_INT(nq, 16);
    rg_gguf *a, *b;
    REQUIRE(rg_gguf_open(out, &a, &err) == RG_OK);
    REQUIRE(rg_gguf_open(ref, &b, &err) == RG_OK);
    CHECK_EQ_INT(rg_gguf_n_tensors(a), rg_gguf_n_tensors(b));
    for (int64_t i = 0; i < rg_gguf_n_tensors(b); i++) {
        const rg_gguf_tensor *tb = rg_gguf_tensor_at(b, i);
        const rg_gguf_tensor *ta = rg_gguf_find_tensor(a, tb->name);
        REQUIRE(ta);
        CHECKF(ta->type == tb->type, "%s: %s vs %s", tb->name, rg_dtype_name(ta->type),
               rg_dtype_name(tb->type));
        CHECK(ta->nbytes == tb->nbytes && ta->n_dims == tb->n_dims);
        CHECKF(ta->nbytes == tb->nbytes && memcmp(ta->data, tb->data, tb->nbytes) == 0,
               "%s %s: bytes differ from llama-quantize", type, tb->name);
    }
    uint32_t ft_a = 0, ft_b = 0;
    CHECK(rg_gguf_get_u32(a, "general.file_type", &ft_a));
    CHECK(rg_gguf_get_u32(b, "general.file_type", &ft_b));
    CHECK_EQ_INT(ft_a, ft_b);
    CHECK_STREQ(rg_gguf_get_str(a, "general.architecture", NULL), "llama");
    uint64_t na = 0, nb = 0;
    CHECK(rg_gguf_get_arr(a, "tokenizer.ggml.tokens", NULL, &na));
    CHECK(rg_gguf_get_arr(b, "tokenizer.ggml.tokens", NULL, &nb));
    CHECK(na == nb && na > 0);
    CHECK(rg_gguf_file_size(a) == rg_gguf_file_size(b));
    rg_gguf_close(a);
    rg_gguf_close(b);
}

RG_TEST(quant_pure_q8_0) { check_pure("Q8_0", "tiny-llama-q8_0.gguf"); }
RG_TEST(quant_pure_q4_0) { check_pure("Q4_0", "tiny-llama-q4_0.gguf"); }
RG_TEST(quant_pure_q5_0) { check_pure("Q5_0", "tiny-llama-q5_0.gguf"); }
RG_TEST(quant_pure_q4_k) { check_pure("Q4_K_M", "tiny-llama-q4_k.gguf"); }
RG_TEST(quant_pure_q5_k) { check_pure("Q5_K_M", "tiny-llama-q5_k.gguf"); }
RG_TEST(quant_pure_q6_k) { check_pure("Q6_K", "tiny-llama-q6_k.gguf"); }
RG_TEST(quant_pure_f16) { check_pure("F16", "tiny-llama-f16.gguf"); }
RG_TEST(quant_pure_bf16) { check_pure("BF16", "tiny-llama-bf16.gguf"); }

/* Without --pure: output.weight goes to Q6_K, Q4_K_M raises attn_v and
 * ffn_down of the layers llama.cpp's use_more_bits picks; norms stay F32. */
RG_TEST(quant_mixture_rules) {
    const char *fx = rg_test_fixtures_or_skip();
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/models/tiny-llama-f32.gguf", fx);
    snprintf(out, sizeof out, "%s/m.gguf", rg_test_tmpdir());
    rg_quant_opts o = {0};
    REQUIRE(rg_quant_parse_type("q4_k_m", &o));
    rg_err err;
    REQUIRE(rg_quant_model(in, out, &o, NULL, &err) == RG_OK);
    rg_gguf *g;
    REQUIRE(rg_gguf_open(out, &g, &err) == RG_OK);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "output.weight")->type, RG_DTYPE_Q6_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "token_embd.weight")->type, RG_DTYPE_Q4_K);
    /* use_more_bits(i, 2): layer 1 (>= 7*2/8) yes, layer 0 no */
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.1.attn_v.weight")->type, RG_DTYPE_Q6_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.1.ffn_down.weight")->type, RG_DTYPE_Q6_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.0.attn_v.weight")->type, RG_DTYPE_Q4_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, RG_DTYPE_Q4_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, RG_DTYPE_Q4_K);
    CHECK_EQ_INT(rg_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type, RG_DTYPE_F32);
    uint32_t ft = 0;
    CHECK(rg_gguf_get_u32(g, "general.file_type", &ft) && ft == 15);
    rg_gguf_close(g);
}

RG_TEST(quant_errors) {
    rg_quant_opts o = {0};
    CHECK(!rg_quant_parse_type("q3_k", &o));
    CHECK(!rg_quant_parse_type("f32", &o));
    REQUIRE(rg_quant_parse_type("q8_0", &o));
    rg_err err;
    char out[1024];
    snprintf(out, sizeof out, "%s/x.gguf", rg_test_tmpdir());
    CHECK(rg_quant_model("/nonexistent/model.gguf", out, &o, NULL, &err) != RG_OK);
    CHECK(strstr(err.msg, "nonexistent") != NULL);
    const char *fx = rg_test_fixtures();
    if (fx) { /* already-quantized input is refused with the tensor named */
        char in[1024];
        snprintf(in, sizeof in, "%s/models/tiny-llama-q4_0.gguf", fx);
        CHECK(rg_quant_model(in, out, &o, NULL, &err) == RG_UNSUPPORTED);
        CHECK(strstr(err.msg, "q4_0") != NULL);
    }
}
