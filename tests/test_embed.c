/* test_embed.c - the BERT encoder against llama.cpp's pooled, normalised
 * embeddings of the fixture sentences (fixtures/models/refs). */
#include <math.h>
#include <string.h>

#include "core/file.h"
#include "embed/embed.h"
#include "test.h"

#define MAXS 16
#define MAXT 128

static int read_tokens(const char *path, int32_t ids[MAXS][MAXT], int *n) {
    char *d;
    size_t len;
    rg_err e;
    if (rg_file_read(path, 1 << 20, &d, &len, &e)) return -1;
    int s = 0;
    char *line = d, *save;
    for (char *l = strtok_r(line, "\n", &save); l && s < MAXS; l = strtok_r(NULL, "\n", &save)) {
        n[s] = 0;
        char *tok, *s2;
        for (tok = strtok_r(l, " ", &s2); tok && n[s] < MAXT; tok = strtok_r(NULL, " ", &s2))
            ids[s][n[s]++] = atoi(tok);
        s++;
    }
    free(d);
    return s;
}

static void check_model(const char *name, double min_cos, double max_rel) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096], tpath[4096], rpath[4096];
    snprintf(path, sizeof path, "%s/models/%s.gguf", fx, name);
    snprintf(tpath, sizeof tpath, "%s/models/refs/%s.tokens.txt", fx, name);
    snprintf(rpath, sizeof rpath, "%s/models/refs/%s.embeddings.bin", fx, name);
    static int32_t ids[MAXS][MAXT];
    int nid[MAXS];
    int ns = read_tokens(tpath, ids, nid);
    REQUIRE(ns == 8);
    char *ref;
    size_t rlen;
    rg_err e;
    REQUIRE(rg_file_read(rpath, 1 << 20, &ref, &rlen, &e) == RG_OK);
    rg_embedder *em;
    rg_status rc = rg_embed_open(path, 2, &em, &e);
    if (rc) fprintf(stderr, "  %s\n", e.msg);
    REQUIRE(rc == RG_OK);
    int d = rg_embed_dim(em);
    REQUIRE(rlen == (size_t)ns * d * 4);
    const int32_t *ptrs[MAXS];
    for (int i = 0; i < ns; i++) ptrs[i] = ids[i];
    float *out = malloc(sizeof(float) * ns * d);
    /* all eight sentences as one packed batch */
    REQUIRE(rg_embed_tokens(em, ptrs, nid, ns, 1, out, &e) == RG_OK);
    const float *r = (const float *)ref;
    double maxabs_ref = 0;
    for (int i = 0; i < ns * d; i++) maxabs_ref = fmax(maxabs_ref, fabs(r[i]));
    for (int s = 0; s < ns; s++) {
        double dot = 0, na = 0, nb = 0, maxd = 0;
        for (int j = 0; j < d; j++) {
            double a = out[s * d + j], b = r[s * d + j];
            dot += a * b, na += a * a, nb += b * b;
            maxd = fmax(maxd, fabs(a - b));
        }
        double cos = dot / sqrt(na * nb);
        CHECKF(cos >= min_cos, "%s sentence %d: cosine %.9f < %.9f", name, s, cos, min_cos);
        CHECKF(maxd / maxabs_ref <= max_rel, "%s sentence %d: rel max diff %.3g > %.3g", name, s,
               maxd / maxabs_ref, max_rel);
    }
    /* one at a time gives the same vectors as the packed batch */
    float *one = malloc(sizeof(float) * d);
    for (int s = 0; s < ns; s++) {
        REQUIRE(rg_embed_tokens(em, &ptrs[s], &nid[s], 1, 1, one, &e) == RG_OK);
        double maxd = 0;
        for (int j = 0; j < d; j++) maxd = fmax(maxd, fabs(one[j] - out[s * d + j]));
        CHECKF(maxd < 1e-5, "sentence %d alone differs from batch by %g", s, maxd);
    }
    free(one);
    free(out);
    free(ref);
    rg_embed_close(em);
}

RG_TEST(embed_bert_f32_matches_llamacpp) { check_model("tiny-bert-f32", 0.999999, 5e-4); }
RG_TEST(embed_bert_f16_matches_llamacpp) { check_model("tiny-bert-f16", 0.99999, 2e-3); }

RG_TEST(embed_rejects_non_bert) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", fx);
    rg_embedder *em;
    rg_err e;
    CHECK_EQ_INT(rg_embed_open(path, 1, &em, &e), RG_UNSUPPORTED);
    CHECK(strstr(e.msg, "expected 'bert'") != NULL);
}

/* Text path: the WordPiece tokenizer gives llama.cpp's ids for the
 * fixture sentences, and embedding the texts equals embedding those ids. */
RG_TEST(embed_texts_tokenize_like_llamacpp) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[4096], spath[4096], tpath[4096];
    snprintf(path, sizeof path, "%s/models/tiny-bert-f32.gguf", fx);
    snprintf(spath, sizeof spath, "%s/models/prompts/tiny-bert.sentences.txt", fx);
    snprintf(tpath, sizeof tpath, "%s/models/refs/tiny-bert-f32.tokens.txt", fx);
    static int32_t ids[MAXS][MAXT];
    int nid[MAXS];
    REQUIRE(read_tokens(tpath, ids, nid) == 8);
    char *text;
    size_t tlen;
    rg_err e;
    REQUIRE(rg_file_read(spath, 1 << 20, &text, &tlen, &e) == RG_OK);
    const char *lines[MAXS];
    int n = 0;
    char *save;
    for (char *l = strtok_r(text, "\n", &save); l && n < MAXS; l = strtok_r(NULL, "\n", &save)) lines[n++] = l;
    REQUIRE(n == 8);
    rg_embedder *em;
    REQUIRE(rg_embed_open(path, 1, &em, &e) == RG_OK);
    int d = rg_embed_dim(em);
    float *a = malloc(sizeof(float) * 8 * d), *b = malloc(sizeof(float) * 8 * d);
    REQUIRE(rg_embed_texts(em, lines, NULL, 8, 1, a, &e) == RG_OK);
    const int32_t *ptrs[MAXS];
    for (int i = 0; i < 8; i++) ptrs[i] = ids[i];
    REQUIRE(rg_embed_tokens(em, ptrs, nid, 8, 1, b, &e) == RG_OK);
    double maxd = 0;
    for (int i = 0; i < 8 * d; i++) maxd = fmax(maxd, fabs(a[i] - b[i]));
    CHECKF(maxd == 0, "text and token paths differ by %g (tokenizer mismatch)", maxd);
    free(a);
    free(b);
    free(text);
    rg_embed_close(em);
}
