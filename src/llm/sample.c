/* sample.c - token sampling: penalties, top-k, top-p, min-p, temperature,
 * then a draw from the distribution with a seeded generator.
 *
 * The chain follows llama.cpp's default order (penalties -> top-k ->
 * top-p -> min-p -> temperature -> draw), so the same settings mean the
 * same thing.  The generator is xoshiro256** seeded by splitmix64: the
 * same seed, logits and history give the same token on every machine.
 * All scratch is allocated in rg_llm_sampler_new. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm.h"

typedef struct {
    float logit;
    int32_t id;
} cand;

struct rg_llm_sampler {
    rg_llm_sampler_params p;
    int n_vocab;
    cand *c;          /* (n_vocab,) */
    int32_t *hist;    /* ring of the last penalty_last_n tokens */
    int hist_n, hist_pos;
    int32_t *count;   /* (n_vocab,) occurrences in the window (scratch) */
    uint64_t s[4];
};

void rg_llm_sampler_params_init(rg_llm_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->penalty_last_n = 64;
    p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(rg_llm_sampler *s) {
    uint64_t *q = s->s;
    uint64_t r = rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
    q[2] ^= q[0];
    q[3] ^= q[1];
    q[1] ^= q[2];
    q[0] ^= q[3];
    q[2] ^= t;
    q[3] = rotl(q[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double next_f64(rg_llm_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

void rg_llm_sampler_reset(rg_llm_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->s[i] = splitmix64(&x);
    s->hist_n = s->hist_pos = 0;
}

rg_llm_sampler *rg_llm_sampler_new(const rg_llm_sampler_params *p, int n_vocab) {
    if (n_vocab < 1) return NULL;
    rg_llm_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (p) s->p = *p;
    else rg_llm_sampler_params_init(&s->p);
    if (s->p.penalty_last_n < 0) s->p.penalty_last_n = 0;
    if (s->p.penalty_last_n > 1 << 20) s->p.penalty_last_n = 1 << 20;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->hist = malloc((size_t)(s->p.penalty_last_n > 0 ? s->p.penalty_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->count || !s->hist) {
        rg_llm_sampler_free(s);
        return NULL;
    }
    rg_llm_sampler_reset(s);
    return s;
}

void rg_llm_sampler_free(rg_llm_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->count);
    free(s->hist);
    free(s);
}

void rg_llm_sampler_accept(rg_llm_sampler *s, int32_t token) {
    if (s->p.penalty_last_n <= 0) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    if (s->hist_n < s->p.penalty_last_n) s->hist_n++;
}

int32_t rg_llm_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void apply_penalties(rg_llm_sampler *s, float *logits) {
    const rg_llm_sampler_params *p = &s->p;
    if (s->hist_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    for (int i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t >= 0 && t < s->n_vocab) s->count[t]++;
    }
    for (int i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue;
        float l = logits[t];
        if (p->repeat_penalty != 1.0f) l = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
        l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        logits[t] = l;
        s->count[t] = 0; /* once per distinct token; also resets the scratch */
    }
}

static int cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the k best candidates (by logit, then lower id) to the front,
 * sorted; quickselect then sort of the k. */
static void partial_sort(cand *c, int n, int k) {
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cand_desc);
        return;
    }
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        cand piv = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cand_desc(&c[i], &piv) < 0) i++;
            while (cand_desc(&c[j], &piv) > 0) j--;
            if (i <= j) {
                cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    qsort(c, (size_t)k, sizeof *c, cand_desc);
}

int32_t rg_llm_sample(rg_llm_sampler *s, float *logits) {
    const rg_llm_sampler_params *p = &s->p;
    const int n = s->n_vocab;
    apply_penalties(s, logits);
    if (p->temp <= 0.0f) return rg_llm_argmax(logits, n);

    cand *c = s->c;
    for (int i = 0; i < n; i++) c[i] = (cand){logits[i], i};
    int k = n;
    if (p->top_k > 0 && p->top_k < n) k = p->top_k;
    partial_sort(c, n, k);
    int m = k;
    /* softmax over the kept candidates (sorted, c[0] is the max) */
    double sum = 0.0;
    float *pr = logits; /* reuse the caller's logits buffer for probabilities (documented) */
    for (int i = 0; i < m; i++) {
        pr[i] = (float)exp((double)c[i].logit - (double)c[0].logit);
        sum += pr[i];
    }
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        int keep = m;
        for (int i = 0; i < m; i++) {
            cum += pr[i] / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
    }
    if (p->min_p > 0.0f) {
        /* keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p) */
        int keep = 1;
        while (keep < m && pr[keep] >= p->min_p) keep++;
        m = keep;
    }
    /* temperature over the survivors, then draw */
    sum = 0.0;
    for (int i = 0; i < m; i++) {
        pr[i] = (float)exp(((double)c[i].logit - (double)c[0].logit) / (double)p->temp);
        sum += pr[i];
    }
    double r = next_f64(s) * sum, acc = 0.0;
    for (int i = 0; i < m; i++) {
        acc += pr[i];
        if (r < acc) return c[i].id;
    }
    return c[m - 1].id;
}
