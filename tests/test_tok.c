/* test_tok.c - tokenizers against llama.cpp's test vectors
 * (../shared/fixtures/vocab/X.gguf.inp / .out, made with no BOS and no
 * special-token parsing), round trips, special tokens and BOS/EOS flags. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/log.h"
#include "gguf/gguf.h"
#include "test.h"
#include "tok/tok.h"

#define SEP "\n__ggml_vocab_test__\n"

static rg_tok *load(const char *path) {
    rg_gguf *g;
    rg_err err;
    if (rg_gguf_open(path, &g, &err) != RG_OK) {
        fprintf(stderr, "  %s\n", rg_err_text(&err));
        return NULL;
    }
    rg_tok *t;
    rg_status s = rg_tok_from_gguf(g, &t, &err);
    rg_gguf_close(g);
    if (s) {
        fprintf(stderr, "  %s\n", rg_err_text(&err));
        return NULL;
    }
    return t;
}

/* Runs one vocabulary's vectors; returns the number of failing texts.
 * lossless: also check decode(encode(text)) == text. */
static int run_vocab(const char *name, bool lossless) {
    const char *fx = rg_test_fixtures_or_skip();
    char p[3000], pin[3100], pout[3100];
    snprintf(p, sizeof p, "%s/vocab/ggml-vocab-%s.gguf", fx, name);
    snprintf(pin, sizeof pin, "%s.inp", p);
    snprintf(pout, sizeof pout, "%s.out", p);
    rg_tok *t = load(p);
    REQUIRE(t);
    char *inp, *outp;
    size_t inl, outl;
    rg_err err;
    REQUIRE(rg_file_read(pin, 1 << 20, &inp, &inl, &err) == RG_OK);
    REQUIRE(rg_file_read(pout, 1 << 20, &outp, &outl, &err) == RG_OK);
    int fails = 0, ntexts = 0;
    char *ip = inp, *op = outp;
    for (;;) {
        char *sep = strstr(ip, SEP);
        if (!sep) break;
        char *eol = strchr(op, '\n');
        REQUIRE(eol);
        *eol = 0;
        /* expected ids */
        int32_t want[4096];
        size_t nw = 0;
        for (char *q = op; *q;) {
            while (*q == ' ') q++;
            if (!*q) break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        int32_t *ids;
        size_t n;
        size_t tl = (size_t)(sep - ip);
        rg_status s = rg_tok_encode_ex(t, ip, tl, 0, &ids, &n, &err);
        bool ok = s == RG_OK && n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        if (!ok) {
            fails++;
            fprintf(stderr, "  %s text %d '%.*s'\n    want:", name, ntexts, (int)(tl > 60 ? 60 : tl), ip);
            for (size_t k = 0; k < nw; k++) fprintf(stderr, " %d", want[k]);
            fprintf(stderr, "\n    got: ");
            for (size_t k = 0; s == RG_OK && k < n; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        if (s == RG_OK && lossless) {
            rg_buf b;
            rg_buf_init(&b, 0);
            CHECK_EQ_INT(rg_tok_decode(t, ids, n, &b), RG_OK);
            bool same = b.len == tl && (tl == 0 || memcmp(b.data, ip, tl) == 0);
            CHECKF(same, "%s text %d: decode gives '%s'", name, ntexts, b.data ? b.data : "");
            rg_buf_free(&b);
        }
        if (s == RG_OK) free(ids);
        ntexts++;
        ip = sep + strlen(SEP);
        op = eol + 1;
    }
    CHECK_EQ_INT(ntexts, 46);
    CHECK_EQ_INT(fails, 0);
    if (fails) fprintf(stderr, "  %s: %d of %d texts differ\n", name, fails, ntexts);
    free(inp);
    free(outp);
    rg_tok_free(t);
    return fails;
}

RG_TEST(tok_vocab_llama_spm) { run_vocab("llama-spm", true); }
RG_TEST(tok_vocab_phi_3) { run_vocab("phi-3", true); }
RG_TEST(tok_vocab_tok512_stories) { run_vocab("tok512-stories", true); }
RG_TEST(tok_vocab_gpt_2) { run_vocab("gpt-2", true); }
RG_TEST(tok_vocab_deepseek_coder) { run_vocab("deepseek-coder", true); }
RG_TEST(tok_vocab_bert_bge) { run_vocab("bert-bge", false); }

#include "../fuzz/tok_synth.h"

static size_t enc(const rg_tok *t, const char *s, unsigned flags, int32_t *out, size_t cap) {
    int32_t *ids;
    size_t n;
    rg_err err;
    if (rg_tok_encode_ex(t, s, strlen(s), flags, &ids, &n, &err) != RG_OK) {
        fprintf(stderr, "  encode: %s\n", rg_err_text(&err));
        return (size_t)-1;
    }
    for (size_t i = 0; i < n && i < cap; i++) out[i] = ids[i];
    free(ids);
    return n;
}

static rg_tok *fixture_vocab(const char *name) {
    const char *fx = rg_test_fixtures_or_skip();
    char p[4096];
    snprintf(p, sizeof p, "%s/vocab/ggml-vocab-%s.gguf", fx, name);
    return load(p);
}

RG_TEST(tok_special_tokens_and_flags) {
    int32_t v[64];
    rg_tok *spm = fixture_vocab("llama-spm");
    REQUIRE(spm);
    CHECK_STREQ(rg_tok_kind_name(spm), "spm");
    CHECK_EQ_INT(rg_tok_bos(spm), 1);
    CHECK_EQ_INT(rg_tok_eos(spm), 2);
    CHECK(rg_tok_add_bos(spm) && !rg_tok_add_eos(spm));
    CHECK_EQ_INT(enc(spm, "Hello world", RG_TOK_ADD_SPECIAL, v, 64), 3);
    CHECK_EQ_INT(v[0], 1);
    CHECK_EQ_INT(v[1], 15043);
    CHECK_EQ_INT(v[2], 3186);
    /* "<s>" is one token only when special tokens are parsed */
    CHECK_EQ_INT(enc(spm, "<s>", RG_TOK_PARSE_SPECIAL, v, 64), 1);
    CHECK_EQ_INT(v[0], 1);
    CHECK(enc(spm, "<s>", 0, v, 64) > 1);
    CHECK(rg_tok_is_eog(spm, 2) && !rg_tok_is_eog(spm, 1) && rg_tok_is_control(spm, 1));
    /* byte fallback renders raw bytes; decode skips control tokens */
    size_t n = enc(spm, "\xf0\x9f\xa6\x99", RG_TOK_ADD_SPECIAL, v, 64);
    CHECK(n >= 2);
    rg_buf b;
    rg_buf_init(&b, 0);
    CHECK_EQ_INT(rg_tok_decode(spm, v, n, &b), RG_OK);
    CHECK_STREQ(b.data, "\xf0\x9f\xa6\x99");
    rg_buf_free(&b);
    size_t pl;
    CHECK(rg_tok_piece(spm, 3186, &pl) && pl == 6 && !memcmp(rg_tok_piece(spm, 3186, NULL), " world", 6));
    CHECK(rg_tok_piece(spm, -1, &pl) == NULL && rg_tok_piece(spm, 32000, &pl) == NULL);
    int32_t bad = 40000;
    rg_buf_init(&b, 0);
    CHECK_EQ_INT(rg_tok_decode(spm, &bad, 1, &b), RG_INVALID);
    rg_buf_free(&b);
    rg_tok_free(spm);

    rg_tok *bert = fixture_vocab("bert-bge");
    REQUIRE(bert);
    CHECK_EQ_INT(enc(bert, "Hello world", RG_TOK_ADD_SPECIAL, v, 64), 4);
    CHECK_EQ_INT(v[0], 101);
    CHECK_EQ_INT(v[3], 102);
    CHECK_EQ_INT(enc(bert, "Hello world", 0, v, 64), 2);
    rg_tok_free(bert);

    rg_tok *gpt2 = fixture_vocab("gpt-2");
    REQUIRE(gpt2);
    CHECK(!rg_tok_add_bos(gpt2));
    CHECK_EQ_INT(enc(gpt2, "Hello world<|endoftext|>", RG_TOK_ADD_SPECIAL | RG_TOK_PARSE_SPECIAL, v, 64), 3);
    CHECK_EQ_INT(v[0], 15496);
    CHECK_EQ_INT(v[2], 50256);
    CHECK(rg_tok_is_eog(gpt2, 50256));
    CHECK(enc(gpt2, "<|endoftext|>", 0, v, 64) > 1);
    rg_tok_free(gpt2);

    rg_tok *dsc = fixture_vocab("deepseek-coder");
    REQUIRE(dsc);
    CHECK_EQ_INT(enc(dsc, "Hello world", RG_TOK_ADD_SPECIAL, v, 64), 3);
    CHECK_EQ_INT(v[0], 32013);
    rg_tok_free(dsc);

    /* phi-3: <|end|> ends generation; rstrip eats the newline after <|user|> */
    rg_tok *phi = fixture_vocab("phi-3");
    REQUIRE(phi);
    CHECK(rg_tok_is_eog(phi, 32007) && rg_tok_is_eog(phi, 32000));
    CHECK_EQ_INT(enc(phi, "<|user|>\nhi<|end|>", RG_TOK_PARSE_SPECIAL, v, 64), 3);
    CHECK_EQ_INT(v[0], 32010);
    CHECK_EQ_INT(v[1], 7251);
    CHECK_EQ_INT(v[2], 32007);
    rg_tok_free(phi);
}

typedef struct {
    const rg_tok *t;
    const char *text;
    const int32_t *want;
    size_t nwant;
    int bad;
} thr_arg;

static void *thr_run(void *p) {
    thr_arg *a = p;
    for (int it = 0; it < 30; it++) {
        int32_t *ids;
        size_t n;
        rg_err err;
        if (rg_tok_encode_ex(a->t, a->text, strlen(a->text), 0, &ids, &n, &err) != RG_OK) {
            a->bad++;
            continue;
        }
        if (n != a->nwant || memcmp(ids, a->want, n * sizeof *ids)) a->bad++;
        free(ids);
    }
    return NULL;
}

RG_TEST(tok_concurrent_encode) {
    rg_tok *toks[3] = {synth_tok("gpt2", "llama-bpe"), synth_tok("llama", NULL), synth_tok("bert", NULL)};
    const char *text = "hello world, the 12345 worlds and 'll THE ing \xe4\xbd\xa0\xe5\xa5\xbd\n\n  hello\t"
                       "\xf0\x9f\xa6\x99 <|endoftext|> is at the end";
    for (int k = 0; k < 3; k++) {
        REQUIRE(toks[k]);
        int32_t *want;
        size_t nw;
        rg_err err;
        REQUIRE(rg_tok_encode_ex(toks[k], text, strlen(text), 0, &want, &nw, &err) == RG_OK);
        CHECK(nw > 10);
        pthread_t th[4];
        thr_arg a[4];
        for (int i = 0; i < 4; i++) {
            a[i] = (thr_arg){toks[k], text, want, nw, 0};
            pthread_create(&th[i], NULL, thr_run, &a[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ_INT(a[i].bad, 0);
        }
        free(want);
        rg_tok_free(toks[k]);
    }
}

RG_TEST(tok_synthetic_vocabularies) {
    int32_t v[64];
    rg_tok *spm = synth_tok("llama", NULL);
    REQUIRE(spm);
    CHECK_EQ_INT(enc(spm, "hello world", RG_TOK_ADD_SPECIAL, v, 64), 3);
    CHECK_EQ_INT(v[0], 1);
    CHECK_STREQ(rg_tok_text(spm, v[1]), "\xe2\x96\x81hello");
    CHECK_STREQ(rg_tok_text(spm, v[2]), "\xe2\x96\x81world");
    /* user-defined tokens match even without special parsing */
    CHECK_EQ_INT(enc(spm, "<|user|>", 0, v, 64), 1);
    CHECK_STREQ(rg_tok_text(spm, v[0]), "<|user|>");
    rg_tok_free(spm);

    rg_tok *bpe = synth_tok("gpt2", "gpt-2");
    REQUIRE(bpe);
    CHECK_EQ_INT(enc(bpe, "hello world", 0, v, 64), 2);
    CHECK_STREQ(rg_tok_text(bpe, v[0]), "hello");
    CHECK_STREQ(rg_tok_text(bpe, v[1]), "\xc4\xa0world");
    rg_buf b;
    rg_buf_init(&b, 0);
    CHECK_EQ_INT(rg_tok_decode(bpe, v, 2, &b), RG_OK);
    CHECK_STREQ(b.data, "hello world");
    rg_buf_free(&b);
    rg_tok_free(bpe);

    rg_tok *wpm = synth_tok("bert", NULL);
    REQUIRE(wpm);
    CHECK_EQ_INT(enc(wpm, "Hello, WORLD!", RG_TOK_ADD_SPECIAL, v, 64), 6);
    CHECK_EQ_INT(v[0], 2);
    CHECK_STREQ(rg_tok_text(wpm, v[1]), "\xe2\x96\x81hello");
    CHECK_STREQ(rg_tok_text(wpm, v[2]), "\xe2\x96\x81,");
    CHECK_STREQ(rg_tok_text(wpm, v[3]), "\xe2\x96\x81world");
    CHECK_EQ_INT(v[5], 3);
    /* a word with no pieces is [UNK] */
    CHECK_EQ_INT(enc(wpm, "\xce\xb1\xce\xb2", 0, v, 64), 1);
    CHECK_EQ_INT(v[0], 1);
    rg_tok_free(wpm);
}

static rg_status tok_from_writer(rg_gguf_writer *w, rg_err *err) {
    rg_buf b;
    rg_buf_init(&b, 0);
    rg_status s = rg_gguf_writer_write_buf(w, &b, err);
    rg_gguf_writer_free(w);
    if (s) return s;
    rg_gguf *g;
    s = rg_gguf_open_memory(b.data, b.len, &g, err);
    if (!s) {
        rg_tok *t;
        s = rg_tok_from_gguf(g, &t, err);
        if (!s) rg_tok_free(t);
        rg_gguf_close(g);
    }
    rg_buf_free(&b);
    return s;
}

RG_TEST(tok_bad_metadata_rejected) {
    rg_log_set_level(RG_LOG_ERROR); /* the out-of-range ids below are logged */
    const char *toks[] = {"a", "b", "ab"};
    float sc[] = {0, 0};
    rg_err err;
    rg_gguf_writer *w = rg_gguf_writer_new();
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_FORMAT);
    CHECK(strstr(err.msg, "tokenizer.ggml.model") != NULL);

    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "t5");
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_FORMAT);
    CHECK(strstr(err.msg, "'t5'") != NULL);

    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", sc, 2);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_FORMAT);
    CHECK(strstr(err.msg, "tokenizer.ggml.scores") != NULL);

    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_FORMAT);
    CHECK(strstr(err.msg, "tokenizer.ggml.merges") != NULL);

    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 0);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_FORMAT);

    /* out-of-range special ids are ignored, not trusted */
    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    rg_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 999);
    rg_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 4000000000u);
    CHECK_EQ_INT(tok_from_writer(w, &err), RG_OK);
}

RG_TEST(tok_fixture_models_roundtrip) {
    const char *fx = rg_test_fixtures_or_skip();
    const char *models[] = {"stories260K.gguf", "tiny-llama-q8_0.gguf", "tiny-qwen2-q4_k.gguf", "tiny-bert-f16.gguf"};
    const char *text = "Once upon a time, there was a little dog named Max. 3.14 \xe4\xb8\xad\xe6\x96\x87!";
    for (int i = 0; i < 4; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/models/%s", fx, models[i]);
        rg_tok *t = load(p);
        CHECKF(t != NULL, "%s", p);
        if (!t) continue;
        int32_t *ids;
        size_t n;
        rg_err err;
        REQUIRE(rg_tok_encode(t, text, strlen(text), true, &ids, &n, &err) == RG_OK);
        CHECK(n > 5);
        for (size_t k = 0; k < n; k++) CHECK(ids[k] >= 0 && ids[k] < rg_tok_n_vocab(t));
        if (rg_tok_kind_of(t) != RG_TOK_WPM) {
            rg_buf b;
            rg_buf_init(&b, 0);
            CHECK_EQ_INT(rg_tok_decode(t, ids, n, &b), RG_OK);
            CHECKF(b.data && !strcmp(b.data, text), "%s: '%s'", models[i], b.data ? b.data : "");
            rg_buf_free(&b);
        }
        free(ids);
        rg_tok_free(t);
    }
}
