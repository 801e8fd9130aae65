/* cmd_perplexity.c - `ragd perplexity`: the quality of a model on a text,
 * as llama.cpp's perplexity tool measures it (windows of -c tokens from an
 * empty cache, the first token replaced by BOS, the second half of each
 * window scored), and the KL divergence of a model's next-token
 * distribution from a base model's (--kl-base, or log-probs saved earlier
 * with --save-logits and read back with --kl-logits).  The arithmetic is
 * plan/quality.c; this file runs the models. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/limits.h"
#include "plan/plan.h"
#include "tok/tok.h"

static void help(void) {
    printf("usage: ragd perplexity -m MODEL.gguf -f TEXT [-c CTX] [--stride S] [--chunks N]\n"
           "                       [--kl-base BASE.gguf | --kl-logits FILE] [--save-logits FILE]\n"
           "                       [-t THREADS] [-b BATCH] [--kv f16|f32|q8_0] [--json]\n\n"
           "Perplexity of MODEL on the text in TEXT, as llama.cpp's perplexity tool: the text\n"
           "is split into windows of CTX tokens (default: the model's context, at most 512),\n"
           "each run from an empty cache with its first token replaced by BOS, and the\n"
           "second half of each window is scored.  PPL = exp(mean -log p(next token)).\n\n"
           "  -f, --file TEXT        UTF-8 text (at least 2 x CTX tokens with the default)\n"
           "  -c, --ctx-size CTX     window length in tokens\n"
           "  --stride S             overlapping windows every S tokens, scoring the last S\n"
           "                         predictions of each (llama.cpp --ppl-stride)\n"
           "  --chunks N             use only the first N windows\n"
           "  --kl-base BASE.gguf    also run BASE on the same windows and report KL(base||model),\n"
           "                         top-1 agreement and PPL(model)/PPL(base)\n"
           "  --save-logits FILE     write this model's log-probs at every scored position\n"
           "                         (to compare other models against later)\n"
           "  --kl-logits FILE       compare against log-probs saved with --save-logits\n"
           "  --json                 one JSON object on stdout\n"
           "%s",
           rg__cli_llm_help_model);
}

typedef struct {
    rg_llm_model *m;
    rg_llm_ctx *c;
} runner;

static int open_runner(const char *cmd, const char *path, const rg__cli_llm *o, int n_ctx,
                       int n_batch, runner *r) {
    rg_err err;
    rg_err_clear(&err);
    memset(r, 0, sizeof *r);
    if (rg_llm_model_open(path, &r->m, &err)) return rg_cli_fail(cmd, &err);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_outputs_max = n_batch;
    cp.n_threads = o->n_threads;
    cp.kv_type = o->kv_type;
    if (rg_llm_ctx_new(r->m, &cp, &r->c, &err)) {
        rg_llm_model_close(r->m);
        r->m = NULL;
        return rg_cli_fail(cmd, &err);
    }
    return 0;
}

static void close_runner(runner *r) {
    if (r->c) rg_llm_ctx_free(r->c);
    if (r->m) rg_llm_model_close(r->m);
}

/* Runs window tokens [b0, b1) of w (positions b0..), logits wanted for
 * positions in [first, last]. */
static rg_status run_part(runner *r, const int32_t *win, const int32_t *pos, const int8_t *want,
                          int b0, int b1, rg_err *err) {
    rg_llm_batch b = {b1 - b0, win + b0, pos + b0, NULL, want + b0};
    return rg_llm_decode(r->c, &b, err);
}

int rg_cmd_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    rg__cli_llm o;
    rg__cli_llm_init(&o);
    const char *text_path = NULL, *kl_base = NULL, *kl_logits = NULL, *save = NULL;
    long stride = 0, max_chunks = 0;
    int as_json = 0;
    for (int i = 1; i < argc;) {
        int r = rg__cli_llm_opt(cmd, &o, argc, argv, &i, false);
        if (r > 1) return r - 1;
        if (r == 1) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            as_json = 1;
            i++;
            continue;
        }
        if (!v) return rg_cli_usage(cmd, "unknown option '%s' (or it needs a value)", a);
        if (!strcmp(a, "-f") || !strcmp(a, "--file")) text_path = v;
        else if (!strcmp(a, "--kl-base")) kl_base = v;
        else if (!strcmp(a, "--kl-logits")) kl_logits = v;
        else if (!strcmp(a, "--save-logits")) save = v;
        else if (!strcmp(a, "--stride")) {
            if (rg_cli_int(v, 1, RG_MAX_CTX, &stride))
                return rg_cli_usage(cmd, "--stride: '%s' is not a positive integer", v);
        } else if (!strcmp(a, "--chunks")) {
            if (rg_cli_int(v, 1, RG_MAX_CTX, &max_chunks))
                return rg_cli_usage(cmd, "--chunks: '%s' is not a positive integer", v);
        } else return rg_cli_usage(cmd, "unknown option '%s'", a);
        i += 2;
    }
    if (!o.model) return rg_cli_usage(cmd, "-m MODEL.gguf is required");
    if (!text_path) return rg_cli_usage(cmd, "-f TEXT is required");
    if (kl_base && kl_logits) return rg_cli_usage(cmd, "give --kl-base or --kl-logits, not both");

    rg_err err;
    rg_err_clear(&err);
    char *text = NULL;
    size_t text_len;
    if (rg_file_read(text_path, RG_INGEST_MAX_TEXT, &text, &text_len, &err))
        return rg_cli_fail(cmd, &err);

    int rc = RG_EXIT_OK;
    runner mr = {0}, br = {0};
    rg__cli_text tx = {0};
    int32_t *toks = NULL, *win = NULL, *pos = NULL;
    int8_t *want = NULL;
    float *lp = NULL, *blp = NULL;
    rg_plan_ppl_window *ws = NULL;
    rg_plan_logits_file *in_f = NULL, *out_f = NULL;
    int n_tok = 0;

    /* The window length must be known before the context is sized: read
     * the model's training context first. */
    rg_llm_model *probe;
    if (rg_llm_model_open(o.model, &probe, &err)) {
        free(text);
        return rg_cli_fail(cmd, &err);
    }
    int n_ctx_train = rg_llm_model_hparams(probe)->n_ctx_train;
    rg_llm_model_close(probe);
    int n_ctx = o.n_ctx ? o.n_ctx : (n_ctx_train > 0 && n_ctx_train < 512 ? n_ctx_train : 512);
    int n_batch = o.n_batch ? o.n_batch : 512;
    if (n_batch > n_ctx) n_batch = n_ctx;
    if (stride && stride >= n_ctx - 1)
        return free(text), rg_cli_usage(cmd, "--stride %ld must be below ctx - 1 (%d)", stride,
                                        n_ctx - 1);

    if ((rc = open_runner(cmd, o.model, &o, n_ctx, n_batch, &mr))) goto out;
    if ((rc = rg__cli_text_open(cmd, mr.m, &tx))) goto out;
    if ((rc = rg__cli_text_encode(cmd, &tx, text, true, false, &toks, &n_tok))) goto out;
    const int n_vocab = rg_llm_model_hparams(mr.m)->n_vocab;
    int32_t bos = tx.tok ? rg_tok_bos(tx.tok) : -1;
    bool add_bos = tx.tok && rg_tok_add_bos(tx.tok) && bos >= 0;

    int n_win = rg_plan_ppl_windows(n_tok, n_ctx, (int)stride, NULL, 0);
    if (max_chunks && n_win > max_chunks) n_win = (int)max_chunks;
    if (n_win == 0) {
        fprintf(stderr, "ragd: %s: %s is %d tokens; need at least %d for one window of %d%s\n",
                cmd, text_path, n_tok, n_ctx, n_ctx,
                stride ? "" : " (the default scores the second half of each window)");
        rc = RG_EXIT_RUNTIME;
        goto out;
    }
    ws = malloc(sizeof *ws * (size_t)n_win);
    win = malloc(sizeof *win * (size_t)n_ctx);
    pos = malloc(sizeof *pos * (size_t)n_ctx);
    want = malloc((size_t)n_ctx);
    lp = malloc(sizeof *lp * (size_t)n_vocab);
    blp = malloc(sizeof *blp * (size_t)n_vocab);
    if (!ws || !win || !pos || !want || !lp || !blp) {
        fprintf(stderr, "ragd: %s: out of memory\n", cmd);
        rc = RG_EXIT_RUNTIME;
        goto out;
    }
    rg_plan_ppl_windows(n_tok, n_ctx, (int)stride, ws, n_win);
    uint32_t per_win = (uint32_t)(ws[0].last - ws[0].first + 1);
    rg_plan_logits_hdr hdr = {(uint32_t)n_vocab, (uint32_t)n_ctx, (uint32_t)stride, (uint32_t)n_tok,
                              per_win * (uint32_t)n_win};

    if (kl_base) {
        if ((rc = open_runner(cmd, kl_base, &o, n_ctx, n_batch, &br))) goto out;
        if (rg_llm_model_hparams(br.m)->n_vocab != n_vocab) {
            fprintf(stderr, "ragd: %s: %s has %d tokens in its vocabulary, %s has %d\n", cmd,
                    kl_base, rg_llm_model_hparams(br.m)->n_vocab, o.model, n_vocab);
            rc = RG_EXIT_RUNTIME;
            goto out;
        }
    }
    if (kl_logits) {
        if (rg_plan_logits_open(kl_logits, &in_f, &err)) {
            rc = rg_cli_fail(cmd, &err);
            goto out;
        }
        const rg_plan_logits_hdr *h = rg_plan_logits_header(in_f);
        if (h->n_vocab != hdr.n_vocab || h->n_ctx != hdr.n_ctx || h->stride != hdr.stride ||
            h->n_tokens != hdr.n_tokens || h->n_scored != hdr.n_scored ||
            memcmp(rg_plan_logits_tokens(in_f), toks, sizeof *toks * (size_t)n_tok)) {
            fprintf(stderr,
                    "ragd: %s: %s was saved for another run (vocab %u, ctx %u, stride %u, %u "
                    "tokens, %u scored); this one has vocab %u, ctx %u, stride %u, %u tokens, %u "
                    "scored%s\n",
                    cmd, kl_logits, h->n_vocab, h->n_ctx, h->stride, h->n_tokens, h->n_scored,
                    hdr.n_vocab, hdr.n_ctx, hdr.stride, hdr.n_tokens, hdr.n_scored,
                    h->n_tokens == hdr.n_tokens ? " (or other token ids)" : "");
            rc = RG_EXIT_RUNTIME;
            goto out;
        }
    }
    if (save && rg_plan_logits_create(save, &hdr, toks, &out_f, &err)) {
        rc = rg_cli_fail(cmd, &err);
        goto out;
    }

    if (!as_json)
        fprintf(stderr, "perplexity: %d tokens, %d window(s) of %d, %u scored each%s\n", n_tok,
                n_win, n_ctx, per_win, kl_base || kl_logits ? ", KL against the base" : "");
    rg_plan_ppl_stats st;
    memset(&st, 0, sizeof st);
    double t0 = rg_now_s();
    for (int w = 0; w < n_win && !rc; w++) {
        const rg_plan_ppl_window *W = &ws[w];
        memcpy(win, toks + W->start, sizeof *win * (size_t)n_ctx);
        if (add_bos) win[0] = bos;
        for (int p = 0; p < n_ctx; p++) {
            pos[p] = p;
            want[p] = p >= W->first && p <= W->last;
        }
        rg_llm_seq_rm(mr.c, 0, 0);
        if (br.c) rg_llm_seq_rm(br.c, 0, 0);
        for (int b0 = 0; b0 < n_ctx && !rc; b0 += n_batch) {
            int b1 = b0 + n_batch < n_ctx ? b0 + n_batch : n_ctx;
            if (run_part(&mr, win, pos, want, b0, b1, &err) ||
                (br.c && run_part(&br, win, pos, want, b0, b1, &err))) {
                rc = rg_cli_fail(cmd, &err);
                break;
            }
            int row = 0;
            for (int p = b0; p < b1 && !rc; p++) {
                if (!want[p]) continue;
                rg_plan_log_softmax(rg_llm_logits(mr.c, row), n_vocab, lp);
                const float *base = NULL;
                if (br.c) {
                    rg_plan_log_softmax(rg_llm_logits(br.c, row), n_vocab, blp);
                    base = blp;
                } else if (in_f) {
                    if (rg_plan_logits_read(in_f, blp, &err)) {
                        rc = rg_cli_fail(cmd, &err);
                        break;
                    }
                    base = blp;
                }
                row++;
                rg_plan_ppl_add(&st, lp, base, n_vocab, toks[W->start + p + 1]);
                if (out_f && rg_plan_logits_write(out_f, lp, &err)) rc = rg_cli_fail(cmd, &err);
            }
        }
        if (!as_json && !rc) {
            rg_plan_ppl_result pr;
            rg_plan_ppl_finish(&st, &pr);
            fprintf(stderr, "[%d]%.4f%s", w + 1, pr.ppl, w + 1 == n_win ? "\n" : ",");
        }
    }
    double secs = rg_now_s() - t0;
    if (rc) goto out;
    if (out_f) {
        rg_status s = rg_plan_logits_close(out_f, &err);
        out_f = NULL;
        if (s) {
            rc = rg_cli_fail(cmd, &err);
            goto out;
        }
    }
    rg_plan_ppl_result r;
    rg_plan_ppl_finish(&st, &r);
    int kl = kl_base || kl_logits;
    if (as_json) {
        json_t *j = json_object();
        json_object_set_new(j, "model", json_string(o.model));
        json_object_set_new(j, "text", json_string(text_path));
        json_object_set_new(j, "tokens", json_integer(n_tok));
        json_object_set_new(j, "n_ctx", json_integer(n_ctx));
        json_object_set_new(j, "stride", json_integer(stride));
        json_object_set_new(j, "windows", json_integer(n_win));
        json_object_set_new(j, "scored", json_integer(r.n));
        json_object_set_new(j, "ppl", json_real(r.ppl));
        json_object_set_new(j, "ppl_err", json_real(r.ppl_err));
        if (kl) {
            json_object_set_new(j, "base", json_string(kl_base ? kl_base : kl_logits));
            json_object_set_new(j, "base_ppl", json_real(r.base_ppl));
            json_object_set_new(j, "ppl_ratio", json_real(r.ppl_ratio));
            json_object_set_new(j, "ppl_ratio_err", json_real(r.ppl_ratio_err));
            json_object_set_new(j, "kl_mean", json_real(r.kl_mean));
            json_object_set_new(j, "kl_err", json_real(r.kl_err));
            json_object_set_new(j, "kl_max", json_real(r.kl_max));
            json_object_set_new(j, "top1_agree", json_real(r.top1_agree));
        }
        json_object_set_new(j, "seconds", json_real(secs));
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("Final estimate: PPL = %.4f +/- %.4f  (%ld tokens scored in %.1f s)\n", r.ppl,
               r.ppl_err, r.n, secs);
        if (kl) {
            printf("PPL(base)               = %.4f\n", r.base_ppl);
            printf("PPL(model) / PPL(base)  = %.5f +/- %.5f\n", r.ppl_ratio, r.ppl_ratio_err);
            printf("Mean KL(base || model)  = %.6f +/- %.6f  (max %.6f)\n", r.kl_mean, r.kl_err,
                   r.kl_max);
            printf("Same top-1 token        = %.2f%%\n", 100 * r.top1_agree);
        }
        if (save) printf("saved this model's log-probs to %s\n", save);
    }
out:
    if (out_f) rg_plan_logits_close(out_f, &err); /* incomplete: removed */
    if (in_f) rg_plan_logits_close(in_f, &err);
    close_runner(&br);
    rg__cli_text_close(&tx);
    close_runner(&mr);
    free(ws);
    free(win);
    free(pos);
    free(want);
    free(lp);
    free(blp);
    free(toks);
    free(text);
    return rc;
}
