/* quality.c - the quality cost of a model (or of quantizing it) as
 * numbers: perplexity over windows of a text and KL divergence against a
 * base model's distribution, as llama.cpp's perplexity tool computes them,
 * plus the saved base-logits file.
 *
 * Invariants: every scored position contributes once; log-softmax sums in
 * double so large vocabularies do not lose the tail; a logits file is
 * accepted only when its size is exactly what its header implies. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "plan/plan.h"

int rg_plan_ppl_windows(int n_tokens, int n_ctx, int stride, rg_plan_ppl_window *w, int max) {
    if (n_ctx < 4 || n_tokens < n_ctx || stride < 0 || stride >= n_ctx - 1) return 0;
    int n = 0;
    if (stride == 0) {
        for (int s = 0; s + n_ctx <= n_tokens; s += n_ctx, n++)
            if (w && n < max) w[n] = (rg_plan_ppl_window){s, n_ctx / 2, n_ctx - 2};
    } else {
        for (int s = 0; s + n_ctx <= n_tokens; s += stride, n++)
            if (w && n < max) w[n] = (rg_plan_ppl_window){s, n_ctx - stride - 1, n_ctx - 2};
    }
    return n;
}

void rg_plan_log_softmax(const float *logits, int n, float *out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < n; i++) out[i] = (float)((double)logits[i] - lse);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

void rg_plan_ppl_add(rg_plan_ppl_stats *s, const float *lp, const float *base_lp, int n_vocab,
                     int32_t target) {
    if (target < 0 || target >= n_vocab) return;
    double nll = -(double)lp[target];
    s->n++;
    s->nll += nll;
    s->nll2 += nll * nll;
    if (!base_lp) return;
    s->has_base = 1;
    double bnll = -(double)base_lp[target];
    s->base_nll += bnll;
    s->base_nll2 += bnll * bnll;
    s->dnll += nll - bnll;
    s->dnll2 += (nll - bnll) * (nll - bnll);
    /* KL(P_base || Q_model) = sum p (log p - log q) */
    double kl = 0;
    for (int i = 0; i < n_vocab; i++) {
        double p = exp((double)base_lp[i]);
        if (p > 0) kl += p * ((double)base_lp[i] - (double)lp[i]);
    }
    if (kl < 0) kl = 0; /* rounding on identical distributions */
    s->kl += kl;
    s->kl2 += kl * kl;
    if (kl > s->kl_max) s->kl_max = kl;
    s->same_top += argmax(lp, n_vocab) == argmax(base_lp, n_vocab);
}

/* standard error of the mean of n values with sum x and sum of squares x2 */
static double sem(double x, double x2, long n) {
    if (n < 2) return 0;
    double m = x / n, var = (x2 / n - m * m) * n / (n - 1);
    return var > 0 ? sqrt(var / n) : 0;
}

void rg_plan_ppl_finish(const rg_plan_ppl_stats *s, rg_plan_ppl_result *r) {
    memset(r, 0, sizeof *r);
    r->n = s->n;
    if (s->n == 0) return;
    double m = s->nll / s->n;
    r->ppl = exp(m);
    r->ppl_err = r->ppl * sem(s->nll, s->nll2, s->n); /* d exp(m) = exp(m) dm */
    if (!s->has_base) return;
    r->base_ppl = exp(s->base_nll / s->n);
    r->ppl_ratio = exp(s->dnll / s->n);
    r->ppl_ratio_err = r->ppl_ratio * sem(s->dnll, s->dnll2, s->n);
    r->kl_mean = s->kl / s->n;
    r->kl_err = sem(s->kl, s->kl2, s->n);
    r->kl_max = s->kl_max;
    r->top1_agree = (double)s->same_top / s->n;
}

/* ---- saved base log-probs ---- */

static const unsigned char MAGIC[8] = {'R', 'G', 'L', 'O', 'G', 'P', 0, 1};
#define HDR_BYTES (8 + 5 * 4)

struct rg_plan_logits_file {
    FILE *fp;
    int own_fp, writing;
    rg_plan_logits_hdr h;
    int32_t *tokens;
    uint32_t rows_done;
    char *path, *tmp;
};

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void lf_free(rg_plan_logits_file *f) {
    if (!f) return;
    if (f->fp && f->own_fp) fclose(f->fp);
    free(f->tokens);
    free(f->path);
    free(f->tmp);
    free(f);
}

static rg_status check_hdr(const rg_plan_logits_hdr *h, const char *name, rg_err *err) {
    if (h->n_vocab < 2 || h->n_vocab > RG_MAX_VOCAB)
        return rg_failf(err, RG_FORMAT, "%s: n_vocab %u is not in 2..%u", name, h->n_vocab,
                        RG_MAX_VOCAB);
    if (h->n_tokens > RG_MAX_CTX)
        return rg_failf(err, RG_FORMAT, "%s: n_tokens %u above the limit %u", name, h->n_tokens,
                        RG_MAX_CTX);
    if (h->n_scored > RG_PLAN_MAX_LOGIT_ROWS)
        return rg_failf(err, RG_FORMAT, "%s: n_scored %u above the limit %u", name, h->n_scored,
                        RG_PLAN_MAX_LOGIT_ROWS);
    if (h->n_ctx < 4 || h->n_ctx > RG_MAX_CTX || h->stride >= h->n_ctx)
        return rg_failf(err, RG_FORMAT, "%s: n_ctx %u / stride %u out of range", name, h->n_ctx,
                        h->stride);
    return RG_OK;
}

rg_status rg_plan_logits_create(const char *path, const rg_plan_logits_hdr *h,
                                const int32_t *tokens, rg_plan_logits_file **out, rg_err *err) {
    *out = NULL;
    rg_status rc = check_hdr(h, path, err);
    if (rc) return rc;
    rg_plan_logits_file *f = calloc(1, sizeof *f);
    size_t pl = strlen(path);
    if (!f || !(f->path = strdup(path)) || !(f->tmp = malloc(pl + 32))) {
        lf_free(f);
        return rg_failf(err, RG_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    f->h = *h;
    f->writing = 1;
    f->own_fp = 1;
    if (!(f->fp = fopen(f->tmp, "wb"))) {
        rc = rg_failf(err, RG_IO, "%s: cannot create: %s", f->tmp, strerror(errno));
        lf_free(f);
        return rc;
    }
    unsigned char hdr[HDR_BYTES];
    memcpy(hdr, MAGIC, 8);
    put_u32(hdr + 8, h->n_vocab);
    put_u32(hdr + 12, h->n_ctx);
    put_u32(hdr + 16, h->stride);
    put_u32(hdr + 20, h->n_tokens);
    put_u32(hdr + 24, h->n_scored);
    int ok = fwrite(hdr, 1, sizeof hdr, f->fp) == sizeof hdr;
    for (uint32_t i = 0; ok && i < h->n_tokens; i++) {
        unsigned char b[4];
        put_u32(b, (uint32_t)tokens[i]);
        ok = fwrite(b, 1, 4, f->fp) == 4;
    }
    if (!ok) {
        rc = rg_failf(err, RG_IO, "%s: write failed: %s", f->tmp, strerror(errno));
        unlink(f->tmp);
        lf_free(f);
        return rc;
    }
    *out = f;
    return RG_OK;
}

rg_status rg_plan_logits_write(rg_plan_logits_file *f, const float *logp, rg_err *err) {
    if (!f->writing || f->rows_done >= f->h.n_scored)
        return rg_failf(err, RG_INVALID, "%s: more rows than the %u announced", f->path,
                        f->h.n_scored);
    /* the file is little-endian f32, which is the host layout on every
     * platform ragd builds for (x86-64, aarch64) */
    if (fwrite(logp, sizeof(float), f->h.n_vocab, f->fp) != f->h.n_vocab)
        return rg_failf(err, RG_IO, "%s: write failed: %s", f->tmp, strerror(errno));
    f->rows_done++;
    return RG_OK;
}

rg_status rg_plan_logits_from_stream(FILE *fp, uint64_t size, const char *name,
                                     rg_plan_logits_file **out, rg_err *err) {
    *out = NULL;
    unsigned char hdr[HDR_BYTES];
    if (size < HDR_BYTES || fread(hdr, 1, sizeof hdr, fp) != sizeof hdr)
        return rg_failf(err, RG_FORMAT, "%s: %llu bytes, shorter than the %d-byte header", name,
                        (unsigned long long)size, HDR_BYTES);
    if (memcmp(hdr, MAGIC, 8))
        return rg_failf(err, RG_FORMAT, "%s: offset 0: not a ragd base-logits file (magic)", name);
    rg_plan_logits_hdr h = {get_u32(hdr + 8), get_u32(hdr + 12), get_u32(hdr + 16),
                            get_u32(hdr + 20), get_u32(hdr + 24)};
    rg_status rc = check_hdr(&h, name, err);
    if (rc) return rc;
    /* each factor is below 2^24, so the products fit in 64 bits */
    uint64_t want = HDR_BYTES + 4ull * h.n_tokens + 4ull * h.n_vocab * (uint64_t)h.n_scored;
    if (want != size)
        return rg_failf(err, RG_FORMAT,
                        "%s: header says %u tokens and %u rows of %u log-probs (%llu bytes), the "
                        "file has %llu bytes",
                        name, h.n_tokens, h.n_scored, h.n_vocab, (unsigned long long)want,
                        (unsigned long long)size);
    rg_plan_logits_file *f = calloc(1, sizeof *f);
    if (!f || !(f->tokens = malloc(4ull * (h.n_tokens ? h.n_tokens : 1)))) {
        lf_free(f);
        return rg_failf(err, RG_NOMEM, "%s: out of memory", name);
    }
    f->h = h;
    f->fp = fp;
    for (uint32_t i = 0; i < h.n_tokens; i++) {
        unsigned char b[4];
        if (fread(b, 1, 4, fp) != 4) {
            lf_free(f);
            return rg_failf(err, RG_FORMAT, "%s: short read in the token list", name);
        }
        uint32_t t = get_u32(b);
        if (t >= h.n_vocab) {
            lf_free(f);
            return rg_failf(err, RG_FORMAT, "%s: offset %u: token %u not below n_vocab %u", name,
                            HDR_BYTES + 4 * i, t, h.n_vocab);
        }
        f->tokens[i] = (int32_t)t;
    }
    *out = f;
    return RG_OK;
}

rg_status rg_plan_logits_open(const char *path, rg_plan_logits_file **out, rg_err *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return rg_failf(err, RG_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseeko(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return rg_failf(err, RG_IO, "%s: cannot seek", path);
    }
    off_t size = ftello(fp);
    rewind(fp);
    rg_status rc = rg_plan_logits_from_stream(fp, size < 0 ? 0 : (uint64_t)size, path, out, err);
    if (rc) {
        fclose(fp);
        return rc;
    }
    (*out)->own_fp = 1;
    return RG_OK;
}

const rg_plan_logits_hdr *rg_plan_logits_header(const rg_plan_logits_file *f) {
    return &f->h;
}

const int32_t *rg_plan_logits_tokens(const rg_plan_logits_file *f) {
    return f->tokens;
}

rg_status rg_plan_logits_read(rg_plan_logits_file *f, float *logp, rg_err *err) {
    if (f->writing || f->rows_done >= f->h.n_scored)
        return rg_failf(err, RG_FORMAT, "base logits: asked for row %u of %u", f->rows_done + 1,
                        f->h.n_scored);
    if (fread(logp, sizeof(float), f->h.n_vocab, f->fp) != f->h.n_vocab)
        return rg_failf(err, RG_FORMAT, "base logits: short read at row %u", f->rows_done);
    for (uint32_t i = 0; i < f->h.n_vocab; i++)
        if (!(logp[i] <= 0)) /* log-probs are <= 0 (NaN fails too); -inf is allowed */
            return rg_failf(err, RG_FORMAT, "base logits: row %u entry %u is %g, not a log-prob",
                            f->rows_done, i, (double)logp[i]);
    f->rows_done++;
    return RG_OK;
}

rg_status rg_plan_logits_close(rg_plan_logits_file *f, rg_err *err) {
    if (!f) return RG_OK;
    rg_status rc = RG_OK;
    if (f->writing) {
        int ok = f->rows_done == f->h.n_scored;
        ok = fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0 && ok;
        ok = fclose(f->fp) == 0 && ok;
        f->fp = NULL;
        if (ok && rename(f->tmp, f->path) == 0) {
            lf_free(f);
            return RG_OK;
        }
        unlink(f->tmp);
        rc = rg_failf(err, RG_IO, "%s: incomplete (%u of %u rows) or cannot be written", f->path,
                      f->rows_done, f->h.n_scored);
    }
    lf_free(f);
    return rc;
}
