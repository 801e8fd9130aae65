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
    cand *f;          /* (n_vocab,) allowed candidates (rg_llm_sample_allowed) */
    int32_t *hist;    /* ring of the last penalty_last_n tokens */
    int hist_n, hist_pos;
    int32_t *count;   /* (n_vocab,) occurrences in the window (scratch) */
    float *pr;        /* (n_vocab,) probabilities of the kept candidates (scratch) */
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
    s->f = malloc((size_t)n_vocab * sizeof *s->f);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->pr = malloc((size_t)n_vocab * sizeof *s->pr);
    s->hist = malloc((size_t)(s->p.penalty_last_n > 0 ? s->p.penalty_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->f || !s->count || !s->pr || !s->hist) {
        rg_llm_sampler_free(s);
        return NULL;
    }
    rg_llm_sampler_reset(s);
    return s;
}

void rg_llm_sampler_free(rg_llm_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->f);
    free(s->count);
    free(s->pr);
    free(s->hist);
    free(s);
}

void rg_llm_sampler_accept(rg_llm_sampler *s, int32_t token) {
    if (s->p.penalty_last_n <= 0) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    if (s->hist_n < s->p.penalty_last_n) s->hist_n++;
}

/* The first index of the largest value (NaNs never win; x[0] NaN gives
 * 0, as a plain scan would).  Eight independent running maxima, then one
 * scan for the first index holding it: the batched decode step runs this
 * over the whole vocabulary for every sequence, and a single compare
 * chain was ~3% of the step. */
int32_t rg_llm_argmax(const float *x, int n) {
    if (n < 16 || x[0] != x[0]) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (x[i] > x[best]) best = i;
        return best;
    }
    float m[8];
    for (int j = 0; j < 8; j++) m[j] = x[0];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    float best = m[0];
    for (int j = 1; j < 8; j++) best = m[j] > best ? m[j] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    for (i = 0; i < n; i++)
        if (x[i] == best) break;
    return i;
}

/* Counts the penalty window's tokens into s->count; returns 0 when no
 * penalty applies (nothing to do). */
static int count_history(rg_llm_sampler *s) {
    const rg_llm_sampler_params *p = &s->p;
    if (s->hist_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return 0;
    for (int i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t >= 0 && t < s->n_vocab) s->count[t]++;
    }
    return 1;
}

static float penalize(const rg_llm_sampler_params *p, float l, int32_t count) {
    if (p->repeat_penalty != 1.0f) l = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
    return l - ((float)count * p->frequency_penalty + p->presence_penalty);
}

static int cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* a ranks before b: higher logit, then lower id (cand_desc's order) */
static inline int cand_before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Heap of the k best so far with the worst of them at the root. */
static void sift_down(cand *h, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && cand_before(&h[w], &h[l])) w = l;
        if (r < k && cand_before(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Heap with the best at the root. */
static void sift_best(cand *h, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && cand_before(&h[l], &h[w])) w = l;
        if (r < k && cand_before(&h[r], &h[w])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Moves the k best of c[0..n) to c[0..k) (0 < k < n), in heap order:
 * one pass against a heap of the best k so far, where most candidates
 * lose to its root (the worst of them) with one comparison. */
static void select_best(cand *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (cand_before(&c[i], &c[0])) {
            cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            sift_down(c, k, 0);
        }
}

/* Moves the k best candidates (by logit, then lower id) to the front,
 * sorted; the rest stay behind them in some order.  Small k: a heap
 * pass (select_best); large k: quickselect.  Then a sort of the k. */
static void partial_sort(cand *c, int n, int k) {
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cand_desc);
        return;
    }
    if (k <= n / 8) {
        select_best(c, n, k);
        qsort(c, (size_t)k, sizeof *c, cand_desc);
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

/* The chain after top-k on the m best candidates (sorted, c[0] the
 * best): softmax, top-p, min-p, temperature, one draw. */
static int32_t draw(rg_llm_sampler *s, const cand *c, int m) {
    const rg_llm_sampler_params *p = &s->p;
    float *pr = s->pr;
    /* softmax over the kept candidates (sorted, c[0] is the max) */
    double sum = 0.0;
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

/* The candidates, in id order, with the penalties applied; tokens whose
 * logit is -INFINITY (masked out) are left out: they can never be drawn,
 * and a masked vocabulary then costs only its allowed part downstream.
 * Returns their number (all of them when every logit is -INFINITY). */
static int load(rg_llm_sampler *s, const float *logits) {
    cand *c = s->c;
    int pen = count_history(s), m = 0;
    for (int i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (l == -INFINITY) continue;
        if (pen && s->count[i]) l = penalize(&s->p, l, s->count[i]);
        c[m++] = (cand){l, i};
    }
    if (pen) /* clear the scratch */
        for (int i = 0; i < s->hist_n; i++)
            if (s->hist[i] >= 0 && s->hist[i] < s->n_vocab) s->count[s->hist[i]] = 0;
    if (m == 0)
        for (int i = 0; i < s->n_vocab; i++) c[m++] = (cand){logits[i], i};
    return m;
}

int32_t rg_llm_sample(rg_llm_sampler *s, float *logits) {
    const rg_llm_sampler_params *p = &s->p;
    const int n = load(s, logits);
    cand *c = s->c;
    if (p->temp <= 0.0f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    int k = n;
    if (p->top_k > 0 && p->top_k < n) k = p->top_k;
    partial_sort(c, n, k);
    return draw(s, c, k);
}

int32_t rg_llm_sample_allowed(rg_llm_sampler *s, const float *logits, int (*allow)(void *ud, int32_t id),
                              void *ud, int max_checks) {
    const rg_llm_sampler_params *p = &s->p;
    const int n = load(s, logits);
    cand *c = s->c, *f = s->f; /* f: the allowed ones, in rank order */
    int k = n;
    if (p->top_k > 0 && p->top_k < n) k = p->top_k;
    if (p->temp <= 0.0f) k = 1; /* greedy: the best allowed one */
    /* With top-p off, min-p alone decides how far down the list the chain
     * can reach: once a candidate falls below min_p of the best allowed,
     * so does every later one, allowed or not. */
    int minp_stop = p->temp > 0.0f && p->top_p >= 1.0f && p->min_p > 0.0f;
    int kq = k < max_checks / 4 ? k : max_checks / 4; /* the rate give-up below wants at least this many */
    /* Candidates in rank order, from heaps taken one at a time (only
     * what is used gets ordered): the best 64, then, while those do not
     * settle it, the next best in stretches that double, up to
     * max_checks.  Most grammar states settle within the first. */
    int lim = max_checks < n ? max_checks : n, taken = 0, heap_n = 0, found = 0, checks = 0;
    cand *h = c;
    double l0 = 0;
    while (found < k) {
        if (heap_n == 0) { /* the next stretch */
            int rest = n - taken, want = taken ? taken : 64; /* 64, 64, 128, 256, ... */
            if (want > lim - taken) want = lim - taken;
            if (want <= 0 || rest <= 0) {
                if (taken < n) return -1; /* the rest unchecked */
                break;                    /* every candidate checked */
            }
            if (want > rest) want = rest;
            h = c + taken;
            if (want < rest) select_best(h, rest, want);
            for (int j = want / 2 - 1; j >= 0; j--) sift_best(h, want, j);
            heap_n = want;
            taken += want;
        }
        cand x = h[0];
        h[0] = h[--heap_n];
        sift_best(h, heap_n, 0);
        if (minp_stop && found && !((float)exp((double)x.logit - l0) >= p->min_p)) break;
        if (checks++ == max_checks) return -1;
        /* give up early when the rate of allowed ones so far would not
         * reach k within max_checks (a tight grammar state: the caller's
         * mask is the cheaper way there) */
        if (checks > 32 && (int64_t)(found + 1) * max_checks < (int64_t)kq * checks) return -1;
        if (!allow(ud, x.id)) continue;
        if (!found) l0 = (double)x.logit;
        f[found++] = x;
    }
    if (!found) return -1;
    if (p->temp <= 0.0f) return f[0].id;
    return draw(s, f, found);
}
