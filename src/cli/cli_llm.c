/* cli_llm.c - flag parsing and model opening shared by run, logits, chat
 * and bench (see cli_llm.h). */
#include "cli/cli_llm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/limits.h"
#include "tok/tok.h"

const char rg__cli_llm_help_model[] =
    "  -m, --model FILE     GGUF model (llama or qwen2 architecture)\n"
    "  -t, --threads N      threads (default: all CPUs)\n"
    "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
    "  -b, --batch-size N   tokens per forward step when reading the prompt (default 512)\n"
    "  --kv f16|f32|q8_0    KV cache type (default f16; q8_0 holds about twice the tokens)\n";
const char rg__cli_llm_help_sampling[] =
    "  --temp T             temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K            keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P            nucleus sampling (default 0.95; 1 = off)\n"
    "  --min-p P            drop tokens below P x the best one's probability (default 0.05)\n"
    "  --repeat-penalty R   penalise repeats of the last --repeat-last-n tokens (default 1 = off)\n"
    "  --repeat-last-n N    history the penalties look at (default 64)\n"
    "  --presence-penalty P subtract P from every token seen (default 0)\n"
    "  --frequency-penalty F subtract F x count (default 0)\n"
    "  -s, --seed S         random seed (default 0; the same seed gives the same text)\n";

int rg__cli_kv_type(const char *name, rg_dtype *out) {
    if (!strcmp(name, "f16")) *out = RG_DTYPE_F16;
    else if (!strcmp(name, "f32")) *out = RG_DTYPE_F32;
    else if (!strcmp(name, "q8_0")) *out = RG_DTYPE_Q8_0;
    else return -1;
    return 0;
}

void rg__cli_llm_init(rg__cli_llm *o) {
    memset(o, 0, sizeof *o);
    o->kv_type = RG_DTYPE_F16;
    rg_llm_sampler_params_init(&o->sp);
}

static int is(const char *a, const char *s, const char *l) {
    return (s && !strcmp(a, s)) || (l && !strcmp(a, l));
}

int rg__cli_llm_opt(const char *cmd, rg__cli_llm *o, int argc, char **argv, int *i,
                    bool sampling) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n;
    double d;
#define NEED()                                                                                    \
    do {                                                                                          \
        if (!v) return 1 + rg_cli_usage(cmd, "%s needs a value", a);                              \
    } while (0)
#define INT(lo, hi, dst)                                                                          \
    do {                                                                                          \
        NEED();                                                                                   \
        if (rg_cli_int(v, lo, hi, &n))                                                            \
            return 1 + rg_cli_usage(cmd, "%s: '%s' is not an integer in %ld..%ld", a, v,          \
                                    (long)(lo), (long)(hi));                                      \
        dst = (int)n;                                                                             \
        *i += 2;                                                                                  \
        return 1;                                                                                 \
    } while (0)
#define DBL(lo, hi, dst)                                                                          \
    do {                                                                                          \
        NEED();                                                                                   \
        if (rg_cli_double(v, &d) || d < (lo) || d > (hi))                                         \
            return 1 + rg_cli_usage(cmd, "%s: '%s' is not a number in %g..%g", a, v,              \
                                    (double)(lo), (double)(hi));                                  \
        dst = (float)d;                                                                           \
        *i += 2;                                                                                  \
        return 1;                                                                                 \
    } while (0)
    if (is(a, "-m", "--model")) {
        NEED();
        o->model = v;
        *i += 2;
        return 1;
    }
    if (is(a, "-t", "--threads")) INT(1, RG_MAX_THREADS, o->n_threads);
    if (is(a, "-c", "--ctx-size")) INT(1, RG_MAX_CTX, o->n_ctx);
    if (is(a, "-b", "--batch-size")) INT(1, RG_LLM_MAX_BATCH, o->n_batch);
    if (is(a, "--kv", "--cache-type")) {
        NEED();
        if (rg__cli_kv_type(v, &o->kv_type))
            return 1 + rg_cli_usage(cmd, "--kv: '%s' is not f16, f32 or q8_0", v);
        *i += 2;
        return 1;
    }
    if (!sampling) return 0;
    if (is(a, "--temp", NULL)) DBL(0, 100, o->sp.temp);
    if (is(a, "--top-k", NULL)) INT(0, RG_MAX_VOCAB, o->sp.top_k);
    if (is(a, "--top-p", NULL)) DBL(0, 1, o->sp.top_p);
    if (is(a, "--min-p", NULL)) DBL(0, 1, o->sp.min_p);
    if (is(a, "--repeat-penalty", NULL)) DBL(0.01, 100, o->sp.repeat_penalty);
    if (is(a, "--repeat-last-n", NULL)) INT(0, 1 << 20, o->sp.penalty_last_n);
    if (is(a, "--presence-penalty", NULL)) DBL(-100, 100, o->sp.presence_penalty);
    if (is(a, "--frequency-penalty", NULL)) DBL(-100, 100, o->sp.frequency_penalty);
    if (is(a, "-s", "--seed")) {
        NEED();
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || *end || !*v || *v == '-')
            return 1 + rg_cli_usage(cmd, "--seed: '%s' is not a non-negative integer", v);
        o->sp.seed = s;
        *i += 2;
        return 1;
    }
    return 0;
#undef NEED
#undef INT
#undef DBL
}

int rg__cli_parse_ids(const char *cmd, const char *s, int32_t **ids, int *n) {
    size_t cap = 16, len = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n' && *end != '\r')) {
            fprintf(stderr, "ragd: %s: token ids: '%.20s' at offset %zu is not a token id\n", cmd,
                    p, (size_t)(p - s));
            free(v);
            return -1;
        }
        if (len == cap) {
            if (cap > (size_t)RG_MAX_CTX) {
                fprintf(stderr, "ragd: %s: more than %u token ids\n", cmd, RG_MAX_CTX);
                free(v);
                return -1;
            }
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
            cap *= 2;
        }
        v[len++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = (int)len;
    return 0;
}

int rg__cli_llm_open(const char *cmd, const rg__cli_llm *o, int n_ctx_min, rg_llm_model **m,
                     rg_llm_ctx **c) {
    rg_err err;
    rg_err_clear(&err);
    *m = NULL;
    *c = NULL;
    if (rg_llm_model_open(o->model, m, &err)) return rg_cli_fail(cmd, &err);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = o->n_ctx;
    if (cp.n_ctx == 0) {
        const rg_llm_hparams *hp = rg_llm_model_hparams(*m);
        int def = hp->n_ctx_train < RG_LLM_DEFAULT_CTX ? hp->n_ctx_train : RG_LLM_DEFAULT_CTX;
        if (def < n_ctx_min) cp.n_ctx = n_ctx_min;
    }
    cp.n_batch = o->n_batch;
    cp.n_threads = o->n_threads;
    cp.kv_type = o->kv_type;
    if (rg_llm_ctx_new(*m, &cp, c, &err)) {
        rg_llm_model_close(*m);
        *m = NULL;
        return rg_cli_fail(cmd, &err);
    }
    return 0;
}

/* ---- text in and out ---- */

int rg__cli_text_open(const char *cmd, const rg_llm_model *m, rg__cli_text *tx) {
    memset(tx, 0, sizeof *tx);
    const rg_gguf *g = rg_llm_model_gguf(m);
    uint32_t v;
    tx->eos = rg_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &v) ? (int32_t)v : -1;
    tx->eot = rg_gguf_get_u32(g, "tokenizer.ggml.eot_token_id", &v) ? (int32_t)v : -1;
    if (rg_gguf_find_kv(g, "tokenizer.ggml.model") < 0) return 0; /* no tokenizer: ids only */
    rg_tok *t;
    rg_err err;
    rg_err_clear(&err);
    if (rg_tok_from_gguf(g, &t, &err)) {
        /* a broken tokenizer is worth saying, but ids still work */
        fprintf(stderr, "ragd: %s: warning: %s\n", cmd, rg_err_text(&err));
        return 0;
    }
    tx->tok = t;
    return 0;
}

void rg__cli_text_close(rg__cli_text *tx) {
    rg_tok_free(tx->tok);
    tx->tok = NULL;
}

int rg__cli_text_encode(const char *cmd, const rg__cli_text *tx, const char *text, bool add_bos,
                        bool special, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (!tx->tok) {
        fprintf(stderr, "ragd: %s: the model has no tokenizer; give --prompt-ids\n", cmd);
        return RG_EXIT_RUNTIME;
    }
    rg_err err;
    rg_err_clear(&err);
    size_t cnt;
    unsigned flags = (add_bos ? RG_TOK_ADD_SPECIAL : 0) | (special ? RG_TOK_PARSE_SPECIAL : 0);
    if (rg_tok_encode_ex(tx->tok, text, strlen(text), flags, ids, &cnt, &err))
        return rg_cli_fail(cmd, &err);
    if (cnt > (size_t)RG_MAX_CTX) {
        free(*ids);
        *ids = NULL;
        fprintf(stderr, "ragd: %s: the text is %zu tokens, above the limit %u\n", cmd, cnt,
                RG_MAX_CTX);
        return RG_EXIT_RUNTIME;
    }
    *n = (int)cnt;
    return 0;
}

bool rg__cli_text_is_eog(const rg__cli_text *tx, int32_t t) {
    if (tx->tok) return rg_tok_is_eog(tx->tok, t);
    return t >= 0 && (t == tx->eos || t == tx->eot);
}

int32_t rg__cli_text_find(const rg__cli_text *tx, const char *piece) {
    if (!tx->tok) return -1;
    int32_t n = rg_tok_n_vocab(tx->tok);
    for (int32_t i = 0; i < n; i++) {
        const char *s = rg_tok_text(tx->tok, i);
        if (s && !strcmp(s, piece)) return i;
    }
    return -1;
}

void rg__cli_detok_init(rg__cli_detok *d) {
    memset(d, 0, sizeof *d);
}

/* Length of the UTF-8 sequence a lead byte starts (1 for invalid bytes). */
static int utf8_len(unsigned char c) {
    if (c < 0xC0) return 1;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF8) return 4;
    return 1;
}

void rg__cli_detok_put(const rg__cli_text *tx, rg__cli_detok *d, int32_t t, FILE *f) {
    if (!tx->tok) {
        fprintf(f, "[%d]", t);
        return;
    }
    if (rg_tok_is_control(tx->tok, t)) return;
    size_t len;
    const char *p = rg_tok_piece(tx->tok, t, &len);
    if (!p) return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (d->n > 0 && (c & 0xC0) != 0x80) { /* a new lead byte: flush what is pending */
            fwrite(d->pend, 1, (size_t)d->n, f);
            d->n = 0;
        }
        d->pend[d->n++] = (char)c;
        if (d->n >= utf8_len((unsigned char)d->pend[0]) || d->n == (int)sizeof d->pend) {
            fwrite(d->pend, 1, (size_t)d->n, f);
            d->n = 0;
        }
    }
}

void rg__cli_detok_flush(rg__cli_detok *d, FILE *f) {
    if (d->n) fwrite(d->pend, 1, (size_t)d->n, f);
    d->n = 0;
}
