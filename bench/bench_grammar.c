/* bench_grammar.c - constrained vs unconstrained generation speed through
 * the scheduler path the server uses (src/server/local.c): the same
 * prompt, sampling at temperature 1 (llama.cpp's default top-k 40 and
 * min-p 0.05), N tokens, three ways:
 *   none      no grammar
 *   checked   the default: the best candidates are checked one by one
 *             (rg_llm_sample_allowed); the full mask over the vocabulary
 *             only when that does not settle the draw
 *   full-mask the mask over the whole vocabulary at every step
 * The modes take turns run by run (none, checked, full-mask, none, ...)
 * so that a shared machine's load changes hit them alike.  Prints decode
 * tokens/s (first to last generated token), the ratio to unconstrained,
 * and how many full masks were computed per token.
 * usage: bench_grammar MODEL.gguf [TOKENS] [RUNS]
 * env BENCH_GRAMMAR_MODES: the modes to run, by digit ("01": no full-mask)
 *
 * bench_grammar --vocab N SHAPE.gguf VOCAB_DIR OUT.gguf [TOKENS] [RUNS]
 * measures a vocabulary of N tokens (151936: Qwen2's size) that no
 * fixture model has: a byte-level vocabulary made of the real BPE and
 * SentencePiece pieces of the tokenizer fixtures in VOCAB_DIR (gpt-2,
 * deepseek-coder, llama-spm, phi-3: ~80k distinct pieces), the 256
 * single bytes, then concatenations of random pairs of them (as BPE
 * merges make) up to N; and a random model of SHAPE.gguf's shape with
 * an N-row output layer, written to OUT.gguf.  The loop is the CLI's
 * (ragd run): the same sampler calls as the server, without the
 * scheduler thread. */
#include <stdio.h>
#include <time.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h> /* under callgrind: instructions per mode and run (no-ops otherwise) */
#endif
#endif
#ifndef CALLGRIND_ZERO_STATS
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "gguf/gguf.h"
#include "grammar/grammar.h"
#include "llm/llm.h"
#include "server/server_int.h"
#include "tok/tok.h"

/* a long document: a list of strings, so the budget rarely ends it early */
static const char k_schema[] = "{\"type\":\"object\",\"properties\":{\"notes\":{\"type\":\"array\",\"items\":"
                               "{\"type\":\"string\",\"maxLength\":40},\"minItems\":8,\"maxItems\":64}},"
                               "\"required\":[\"notes\"]}";

/* Decode speed only: from the first generated token to the last (the
 * prompt's evaluation is left out; runs end at different lengths). */
static uint64_t cpu_ns(void) { /* the whole process: engine thread and any pool workers */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* User-space instructions of this thread (perf_event_open), -1 when the
 * kernel refuses: a cost measure that other load does not move. */
static int instr_open(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t instr_read(int fd) {
    uint64_t v = 0;
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return 0;
    return v;
}

typedef struct {
    uint64_t cfirst, clast;
    uint64_t first, last;
    long n;
} span;

static int sink(void *ud, const char *s, size_t n) {
    span *sp = ud;
    (void)s, (void)n;
    uint64_t t = rg_now_ns();
    uint64_t c = cpu_ns();
    if (!sp->n++) sp->first = t, sp->cfirst = c;
    sp->last = t, sp->clast = c;
    return 0;
}

/* Per mode: totals, and each run's tok/s for the paired ratios (run r of
 * a mode against run r of none, the two taken back to back). */
#define MAX_RUNS 64
typedef struct {
    double secs[3], ssecs[3], csecs[3], instr[3], tps[3][MAX_RUNS];
    long ntok[3], nmask[3];
    int nrun[3];
} stats;

static void stats_add(stats *S, int mode, double secs, long ntok, long nmask, double ssecs, double csecs) {
    S->secs[mode] += secs, S->ntok[mode] += ntok, S->nmask[mode] += nmask, S->ssecs[mode] += ssecs;
    S->csecs[mode] += csecs;
    if (S->nrun[mode] < MAX_RUNS && secs > 0) S->tps[mode][S->nrun[mode]++] = (double)ntok / secs;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats_print(const stats *S, int sampling) {
    static const char *names[3] = {"none", "checked", "full-mask"};
    printf("%-10s %7s %9s %9s %13s %11s %9s %12s", "grammar", "tokens", "tok/s", "vs none", "median pair",
           "cpu tok/s", "vs none", "masks/token");
    printf(sampling ? " %15s\n" : "\n", "sampling us/tok");
    double base = S->secs[0] > 0 ? S->ntok[0] / S->secs[0] : 0;
    double cbase = S->csecs[0] > 0 ? S->ntok[0] / S->csecs[0] : 0;
    for (int mode = 0; mode < 3; mode++) {
        if (!S->ntok[mode]) continue;
        double tps = S->ntok[mode] / S->secs[mode], ratio[MAX_RUNS];
        double ctps = S->csecs[mode] > 0 ? S->ntok[mode] / S->csecs[mode] : 0;
        int n = S->nrun[mode] < S->nrun[0] ? S->nrun[mode] : S->nrun[0];
        for (int i = 0; i < n; i++) ratio[i] = S->tps[mode][i] / S->tps[0][i];
        qsort(ratio, (size_t)n, sizeof *ratio, cmp_d);
        double med = n ? (n % 2 ? ratio[n / 2] : (ratio[n / 2 - 1] + ratio[n / 2]) / 2) : 0;
        printf("%-10s %7ld %9.1f %8.0f%% %12.0f%% %11.1f %8.0f%% %12.3f", names[mode], S->ntok[mode], tps,
               base > 0 ? 100.0 * tps / base : 0, 100.0 * med, ctps, cbase > 0 ? 100.0 * ctps / cbase : 0,
               (double)S->nmask[mode] / (double)S->ntok[mode]);
        if (sampling) printf(" %15.0f", 1e6 * S->ssecs[mode] / (double)S->ntok[mode]);
        printf("\n");
    }
}

/* ---- --vocab: a Qwen-sized vocabulary ---- */

struct allow_ud {
    rg_grammar_state *st;
    const rg_grammar_vocab *v;
    int budget;
};

static int allow_cb(void *ud, int32_t id) {
    struct allow_ud *a = ud;
    return rg_grammar_allows_within(a->st, a->v, id, a->budget);
}

typedef struct {
    char **piece;
    size_t *len;
    int n, cap;
    uint64_t *slot; /* open addressing: id + 1, 0 empty */
    size_t nslot;
} pieceset;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Adds a piece unless present or the set is full; 1 when added. */
static int ps_add(pieceset *ps, const char *s, size_t n) {
    if (n == 0 || ps->n == ps->cap) return 0;
    size_t i = fnv(s, n) & (ps->nslot - 1);
    for (; ps->slot[i]; i = (i + 1) & (ps->nslot - 1)) {
        uint64_t id = ps->slot[i] - 1;
        if (ps->len[id] == n && !memcmp(ps->piece[id], s, n)) return 0;
    }
    char *c = malloc(n);
    if (!c) return 0;
    memcpy(c, s, n);
    ps->piece[ps->n] = c;
    ps->len[ps->n] = n;
    ps->slot[i] = (uint64_t)ps->n + 1;
    ps->n++;
    return 1;
}

static uint64_t rnd(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* The CLI's loop (ragd run) over model m with the grammar's vocabulary
 * gv: modes none / checked / full-mask in turn, run by run.  Stops at an
 * end-of-generation token (tok's, or id eog without tok). */
static int run_direct(rg_llm_model *m, const rg_grammar_vocab *gv, const rg_tok *tok, int32_t eog, int tokens,
                      int runs) {
    rg_err err;
    int nv = rg_llm_model_hparams(m)->n_vocab;
    int ifd = instr_open();
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = 1024;
    cp.n_threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 0;
    rg_llm_ctx *c;
    if (rg_llm_ctx_new(m, &cp, &c, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    rg_grammar *g;
    if (rg_grammar_from_json_schema(k_schema, strlen(k_schema), &g, &err) != RG_OK) return 1;
    uint8_t *mask = malloc((size_t)nv);
    int max_checks = getenv("BENCH_MAX_CHECKS") ? atoi(getenv("BENCH_MAX_CHECKS")) : RG_GRAMMAR_MAX_CHECKS;
    const char *only = getenv("BENCH_GRAMMAR_MODES");
    stats S;
    memset(&S, 0, sizeof S);
    for (int r = 0; r < runs + 1; r++)
        for (int mode = 0; mode < 3; mode++) {
            if (only && !strchr(only, '0' + mode)) continue;
            rg_llm_sampler_params sp;
            rg_llm_sampler_params_init(&sp);
            sp.temp = 1.0f, sp.top_p = 1.0f, sp.seed = (uint64_t)(1000 + r);
            rg_llm_sampler *smp = rg_llm_sampler_new(&sp, nv);
            rg_grammar_state *st = mode ? rg_grammar_state_new(g) : NULL;
            int32_t prompt[8] = {300, 301, 302, 303, 304, 305, 306, (int32_t)(307 + r * 3 + mode)};
            rg_llm_seq_rm(c, 0, 0);
            if (!smp || (mode && !st) || rg_llm_eval(c, 0, prompt, 8, &err) != RG_OK) return 1;
            CALLGRIND_ZERO_STATS;
            uint64_t t0 = rg_now_ns(), c0 = cpu_ns(), i0 = instr_read(ifd);
            int n = 0;
            long masks = 0;
            uint64_t ts = 0;
            for (; n < tokens; n++) {
                float *lg = rg_llm_logits(c, 0);
                int32_t t = -1;
                uint64_t t1 = rg_now_ns();
                if (mode == 1 && rg_grammar_worth_checking(st, gv)) {
                    struct allow_ud au = {st, gv, tokens - n};
                    t = rg_llm_sample_allowed(smp, lg, allow_cb, &au, max_checks);
                }
                if (t < 0) {
                    if (mode) {
                        masks++;
                        if (rg_grammar_constrain(st, gv, lg, tokens - n, mask) == 0) break;
                    }
                    t = rg_llm_sample(smp, lg);
                }
                rg_llm_sampler_accept(smp, t);
                int is_eog = tok ? rg_tok_is_eog(tok, t) : t == eog;
                int stop = is_eog || (mode && (!rg_grammar_accept_token(st, gv, t) || rg_grammar_finished(st)));
                ts += rg_now_ns() - t1;
                if (stop) {
                    n++;
                    break;
                }
                if (rg_llm_eval(c, 0, &t, 1, &err) != RG_OK) return 1;
            }
            double dt = (double)(rg_now_ns() - t0) / 1e9;
            char tag[64];
            snprintf(tag, sizeof tag, "mode %d run %d tokens %d", mode, r, n);
            CALLGRIND_DUMP_STATS_AT(tag);
            rg_grammar_state_free(st);
            rg_llm_sampler_free(smp);
            if (r == 0) continue;
            stats_add(&S, mode, dt, n, masks, (double)ts / 1e9, (double)(cpu_ns() - c0) / 1e9);
            S.instr[mode] += (double)(instr_read(ifd) - i0);
        }
    stats_print(&S, 1);
    if (ifd >= 0 && S.instr[0] > 0)
        for (int mode = 1; mode < 3; mode++)
            if (S.ntok[mode])
                printf("%s: %.2f M instructions per token vs %.2f M without a grammar: %.0f%% of the speed by "
                       "instruction count\n", mode == 1 ? "checked" : "full-mask", S.instr[mode] / S.ntok[mode] / 1e6,
                       S.instr[0] / S.ntok[0] / 1e6, 100.0 * (S.instr[0] / S.ntok[0]) / (S.instr[mode] / S.ntok[mode]));
    if (ifd >= 0) close(ifd);
    /* the two costs apart, inside a JSON string */
    rg_grammar_state *st = rg_grammar_state_new(g);
    const char *pre = "{\"notes\": [\"ab";
    if (st && rg_grammar_accept(st, pre, strlen(pre))) {
        uint64_t t0 = rg_now_ns();
        int allowed = 0;
        for (int i = 0; i < 5; i++) {
            rg_grammar_state *fresh = rg_grammar_state_clone(st); /* no memo carried over */
            allowed = rg_grammar_mask(fresh, gv, mask);
            rg_grammar_state_free(fresh);
        }
        double mask_us = (double)(rg_now_ns() - t0) / 1e3 / 5;
        int checks = 20000, ok = 0;
        t0 = rg_now_ns();
        for (int i = 0; i < checks; i++) ok += rg_grammar_allows(st, gv, (int32_t)((i * 7919) % nv));
        double check_us = (double)(rg_now_ns() - t0) / 1e3 / checks;
        printf("vocab %d: one full mask %.0f us (%d tokens allowed), one token check %.2f us\n", nv, mask_us,
               allowed, check_us);
        (void)ok;
    }
    rg_grammar_state_free(st);
    free(mask);
    rg_grammar_free(g);
    rg_llm_ctx_free(c);
    return 0;
}

static int vocab_mode(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_grammar --vocab N SHAPE.gguf VOCAB_DIR OUT.gguf [TOKENS] [RUNS]\n");
        return 2;
    }
    int nv = atoi(argv[2]), tokens = argc > 6 ? atoi(argv[6]) : 128, runs = argc > 7 ? atoi(argv[7]) : 3;
    if (nv < 1024 || nv > 1 << 20) return 2;
    rg_err err;
    pieceset ps = {calloc((size_t)nv, sizeof(char *)), calloc((size_t)nv, sizeof(size_t)), 0, nv - 1,
                   NULL, 1u << 21};
    ps.slot = calloc(ps.nslot, sizeof *ps.slot);
    if (!ps.piece || !ps.len || !ps.slot) return 1;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        ps_add(&ps, &c, 1);
    }
    const char *files[] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-llama-spm.gguf",
                           "ggml-vocab-phi-3.gguf"};
    for (int f = 0; f < 4; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[4], files[f]);
        rg_gguf *gg;
        rg_tok *t;
        if (rg_gguf_open(path, &gg, &err) != RG_OK) {
            fprintf(stderr, "bench_grammar: %s\n", err.msg);
            return 1;
        }
        if (rg_tok_from_gguf(gg, &t, &err) != RG_OK) {
            fprintf(stderr, "bench_grammar: %s\n", err.msg);
            return 1;
        }
        for (int32_t i = 0; i < rg_tok_n_vocab(t); i++) {
            rg_tok_type ty = rg_tok_type_of(t, i);
            if (ty == RG_TOKTYPE_CONTROL || ty == RG_TOKTYPE_UNKNOWN) continue;
            size_t l;
            const char *pc = rg_tok_piece(t, i, &l);
            if (pc) ps_add(&ps, pc, l);
        }
        rg_tok_free(t);
        rg_gguf_close(gg);
    }
    int real = ps.n;
    uint64_t x = 88172645463325252ull;
    while (ps.n < ps.cap) { /* merges: two pieces end to end */
        int a = (int)(rnd(&x) % (uint64_t)real), b = (int)(rnd(&x) % (uint64_t)real);
        size_t la = ps.len[a], lb = ps.len[b];
        if (la + lb > 24) continue;
        char buf[24];
        memcpy(buf, ps.piece[a], la);
        memcpy(buf + la, ps.piece[b], lb);
        ps_add(&ps, buf, la + lb);
    }
    int32_t eog = nv - 1; /* the last id ends generation */
    rg_grammar_vocab *gv = rg_grammar_vocab_new((const char *const *)ps.piece, ps.len, nv, &eog, 1);
    /* the model: the shape of SHAPE.gguf with nv rows */
    rg_llm_model *shape;
    if (!gv || rg_llm_model_open(argv[3], &shape, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", gv ? err.msg : "out of memory");
        return 1;
    }
    const rg_llm_hparams hps = *rg_llm_model_hparams(shape), *hp = &hps;
    rg_llm_mk_params mk = {hp->arch, nv, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff, 4096,
                           hp->rope_base, RG_DTYPE_F16, true, hp->tied_output, 7};
    rg_llm_model_close(shape);
    rg_llm_model *m = NULL;
    if (rg_llm_model_open(argv[5], &m, &err) == RG_OK && rg_llm_model_hparams(m)->n_vocab != nv) {
        rg_llm_model_close(m); /* made for another size */
        m = NULL;
    }
    if (!m && (rg_llm_make_random(argv[5], &mk, &err) != RG_OK || rg_llm_model_open(argv[5], &m, &err) != RG_OK)) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    printf("vocab %d: %d pieces from the fixtures' tokenizers, %d merged pairs; model %d layers x %d wide\n",
           nv, real, ps.n - real, hp->n_layer, hp->n_embd);
    int rc = run_direct(m, gv, NULL, eog, tokens, runs);

    for (int i = 0; i < ps.n; i++) free(ps.piece[i]);
    free(ps.piece), free(ps.len), free(ps.slot);
    rg_grammar_vocab_free(gv);
    rg_llm_model_close(m);
    return rc;
}

/* --direct MODEL.gguf: the model's own vocabulary, the CLI's loop. */
static int direct_mode(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_grammar --direct MODEL.gguf [TOKENS] [RUNS]\n");
        return 2;
    }
    int tokens = argc > 3 ? atoi(argv[3]) : 128, runs = argc > 4 ? atoi(argv[4]) : 3;
    rg_err err;
    rg_llm_model *m;
    rg_tok *tok;
    if (rg_llm_model_open(argv[2], &m, &err) != RG_OK || rg_tok_from_gguf(rg_llm_model_gguf(m), &tok, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    rg_grammar_vocab *gv = rg_grammar_vocab_from_tok(tok);
    if (!gv) return 1;
    printf("vocab %d (the model's), the CLI's loop\n", rg_tok_n_vocab(tok));
    int rc = run_direct(m, gv, tok, -1, tokens, runs);
    rg_grammar_vocab_free(gv);
    rg_tok_free(tok);
    rg_llm_model_close(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--vocab")) return vocab_mode(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--direct")) return direct_mode(argc, argv);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_grammar MODEL.gguf [TOKENS] [RUNS]\n");
        return 2;
    }
    int tokens = argc > 2 ? atoi(argv[2]) : 128, runs = argc > 3 ? atoi(argv[3]) : 3;
    rg_err err;
    rg__local *L;
    int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 0;
    if (rg__local_open(argv[1], 0, 1, 0, threads, NULL, &L, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    rg_grammar *g;
    if (rg_grammar_from_json_schema(k_schema, strlen(k_schema), &g, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    const char *only = getenv("BENCH_GRAMMAR_MODES");
    stats S;
    memset(&S, 0, sizeof S);
    for (int r = 0; r < runs + 1; r++) { /* run 0 warms up (vocabulary trie, caches) */
        for (int mode = 0; mode < 3; mode++) {
            if (only && !strchr(only, '0' + mode)) continue;
            uint64_t m = 0;
            rg__local_params p = {1.0, 1.0, tokens, (uint64_t)(1000 + r), 1, mode ? g : NULL, mode == 2, &m};
            int n_in, n_out;
            char fin[16];
            char prompt[64];
            snprintf(prompt, sizeof prompt, "Write notes, mode %d run %d:", mode, r); /* no prefix-cache reuse */
            span sp = {0, 0, 0, 0, 0};
            if (rg__local_generate(L, prompt, &p, sink, &sp, &n_in, &n_out, fin, &err) != RG_OK) {
                fprintf(stderr, "bench_grammar: %s\n", err.msg);
                return 1;
            }
            if (r == 0 || sp.n < 2) continue;
            stats_add(&S, mode, (double)(sp.last - sp.first) / 1e9, sp.n - 1, (long)m, 0,
                      (double)(sp.clast - sp.cfirst) / 1e9);
        }
    }
    stats_print(&S, 0);
    /* the two costs apart, single-threaded: one full mask over the
     * vocabulary vs one check of a sampled token, inside a JSON string */
    rg_llm_model *m;
    rg_tok *tok;
    if (rg_llm_model_open(argv[1], &m, &err) == RG_OK) {
        if (rg_tok_from_gguf(rg_llm_model_gguf(m), &tok, &err) == RG_OK) {
            rg_grammar_vocab *v = rg_grammar_vocab_from_tok(tok);
            rg_grammar_state *st = rg_grammar_state_new(g);
            const char *pre = "{\"notes\": [\"ab";
            int nv = rg_tok_n_vocab(tok);
            uint8_t *mask = malloc((size_t)nv);
            if (v && st && mask && rg_grammar_accept(st, pre, strlen(pre))) {
                int reps = 20;
                uint64_t t0 = rg_now_ns();
                int allowed = 0;
                for (int i = 0; i < reps; i++) allowed = rg_grammar_mask(st, v, mask);
                double mask_us = (double)(rg_now_ns() - t0) / 1e3 / reps;
                int checks = 2000, ok = 0;
                t0 = rg_now_ns();
                for (int i = 0; i < checks; i++) ok += rg_grammar_allows(st, v, (int32_t)((i * 7919) % nv));
                double check_us = (double)(rg_now_ns() - t0) / 1e3 / checks;
                printf("vocab %d: one full mask %.0f us (%d tokens allowed), one sampled-token check %.2f us "
                       "(%.0fx cheaper)\n", nv, mask_us, allowed, check_us, mask_us / check_us);
                (void)ok;
            }
            free(mask);
            rg_grammar_state_free(st);
            rg_grammar_vocab_free(v);
            rg_tok_free(tok);
        }
        rg_llm_model_close(m);
    }
    rg_grammar_free(g);
    rg__local_close(L);
    return 0;
}
