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
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->pr = malloc((size_t)n_vocab * sizeof *s->pr);
    s->hist = malloc((size_t)(s->p.penalty_last_n > 0 ? s->p.penalty_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->count || !s->pr || !s->hist) {
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

/* Penalises each distinct token of the window once, on the candidates
 * while they are still in id order (c[t].id == t). */
static void apply_penalties(rg_llm_sampler *s, cand *c) {
    if (!count_history(s)) return;
    for (int i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue;
        c[t].logit = penalize(&s->p, c[t].logit, s->count[t]);
        s->count[t] = 0; /* once per distinct token; also resets the scratch */
    }
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

/* Moves the k best candidates (by logit, then lower id) to the front,
 * sorted; the rest stay behind them in some order.  Small k: one pass
 * against a heap of the best k (most candidates lose to its root with one
 * comparison); large k: quickselect.  Then a sort of the k. */
static void partial_sort(cand *c, int n, int k) {
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cand_desc);
        return;
    }
    if (k <= n / 8) {
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
        for (int i = k; i < n; i++)
            if (cand_before(&c[i], &c[0])) {
                cand t = c[0];
                c[0] = c[i];
                c[i] = t;
                sift_down(c, k, 0);
            }
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

/* Candidates in id order with the penalties applied. */
static cand *load(rg_llm_sampler *s, const float *logits) {
    cand *c = s->c;
    for (int i = 0; i < s->n_vocab; i++) c[i] = (cand){logits[i], i};
    apply_penalties(s, c);
    return c;
}

int32_t rg_llm_sample(rg_llm_sampler *s, float *logits) {
    const rg_llm_sampler_params *p = &s->p;
    const int n = s->n_vocab;
    cand *c = load(s, logits);
    if (p->temp <= 0.0f) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return best;
    }
    int k = n;
    if (p->top_k > 0 && p->top_k < n) k = p->top_k;
    partial_sort(c, n, k);
    return draw(s, c, k);
}

int32_t rg_llm_sample_allowed(rg_llm_sampler *s, const float *logits, int (*allow)(void *ud, int32_t id),
                              void *ud, int max_checks) {
    const rg_llm_sampler_params *p = &s->p;
    const int n = s->n_vocab;
    cand *c = load(s, logits);
    int k = n;
    if (p->top_k > 0 && p->top_k < n) k = p->top_k;
    if (p->temp <= 0.0f) k = 1; /* greedy: the best allowed one */
    /* With top-p off, min-p alone decides how far down the list the chain
     * can reach: once a candidate falls below min_p of the best allowed,
     * so does every later one, allowed or not. */
    int minp_stop = p->temp > 0.0f && p->top_p >= 1.0f && p->min_p > 0.0f;
    int sorted = 0, found = 0, checks = 0, i;
    int kq = k < max_checks / 4 ? k : max_checks / 4; /* the rate give-up below wants at least this many */
    double l0 = 0;
    for (i = 0; i < n && found < k; i++) {
        if (i == sorted) { /* sort the next stretch, each twice the last */
            int more = sorted < 64 ? 64 : sorted;
            if (more > n - sorted) more = n - sorted;
            partial_sort(c + sorted, n - sorted, more);
            sorted += more;
        }
        if (minp_stop && found && !((float)exp((double)c[i].logit - l0) >= p->min_p)) break;
        if (checks++ == max_checks) return -1;
        /* give up early when the rate of allowed ones so far would not
         * reach k within max_checks (a tight grammar state: the caller's
         * mask is the cheaper way there) */
        if (checks > 32 && (int64_t)(found + 1) * max_checks < (int64_t)kq * checks) return -1;
        if (!allow(ud, c[i].id)) continue;
        cand t = c[i]; /* the allowed ones gather at the front, in order */
        c[i] = c[found];
        c[found] = t;
        if (!found) l0 = (double)t.logit;
        found++;
    }
    if (!found) return -1;
    if (p->temp <= 0.0f) return c[0].id;
    return draw(s, c, found);
}
