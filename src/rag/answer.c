/* answer.c - extractive answers: the sentences of the best chunks that
 * cover most of the question's (idf-weighted) terms, each cited [n].
 *
 * Nothing is generated: every sentence of the answer is a verbatim span
 * of a stored chunk, so the answer can only be as wrong as the retrieval.
 * When no sentence covers min_coverage of the question's weight the
 * answer says nothing relevant was found. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "rag/rag.h"
#include "rag/rag_int.h"

typedef struct qterms {
    char **t;
    size_t *len;
    double *w;
    size_t n, cap;
    int oom;
    /* per-sentence coverage */
    unsigned char *seen;
} qterms;

static int q_tok(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    (void)pos;
    (void)extra;
    qterms *q = ud;
    for (size_t i = 0; i < q->n; i++)
        if (q->len[i] == n && memcmp(q->t[i], t, n) == 0) return 0;
    if (q->n >= 512) return 1;
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 16;
        char **nt = realloc(q->t, nc * sizeof *nt);
        if (nt) q->t = nt;
        size_t *nl = realloc(q->len, nc * sizeof *nl);
        if (nl) q->len = nl;
        double *nw = realloc(q->w, nc * sizeof *nw);
        if (nw) q->w = nw;
        if (!nt || !nl || !nw) {
            q->oom = 1;
            return 1;
        }
        q->cap = nc;
    }
    char *c = malloc(n);
    if (!c) {
        q->oom = 1;
        return 1;
    }
    memcpy(c, t, n);
    q->t[q->n] = c;
    q->len[q->n] = n;
    q->w[q->n] = 0;
    q->n++;
    return 0;
}

static int s_tok(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    (void)pos;
    (void)extra;
    qterms *q = ud;
    for (size_t i = 0; i < q->n; i++)
        if (q->len[i] == n && memcmp(q->t[i], t, n) == 0) q->seen[i] = 1;
    return 0;
}

static void qterms_free(qterms *q) {
    for (size_t i = 0; i < q->n; i++) free(q->t[i]);
    free(q->t);
    free(q->len);
    free(q->w);
    free(q->seen);
}

typedef struct sent {
    size_t hit;         /* index into results */
    size_t off, len;    /* within the chunk text */
    double cover;
} sent;

/* Sentence ends: 。！？； and ! ? ; (always), '.' before space or end,
 * line breaks.  Calls back with [off, off+len) trimmed of whitespace. */
static size_t split_sentences(const char *t, size_t n, sent *out, size_t cap, size_t hit) {
    size_t ns = 0, start = 0, i = 0;
    while (i <= n && ns < cap) {
        int end = 0;
        size_t adv = 1;
        if (i == n) {
            end = 1;
        } else {
            unsigned char c = (unsigned char)t[i];
            if (c == '\n' || c == '!' || c == '?' || c == ';') end = 1;
            else if (c == '.' && (i + 1 == n || t[i + 1] == ' ' || t[i + 1] == '\n' || t[i + 1] == '\t'))
                end = 1;
            else if (c >= 0x80) {
                uint32_t cp;
                adv = (size_t)rg_utf8_decode(t + i, n - i, &cp);
                if (cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B) end = 1;
            }
        }
        if (end) {
            size_t e = i < n ? i + adv : n;
            size_t a = start, b = e;
            while (a < b && ((unsigned char)t[a] <= ' ')) a++;
            while (b > a && ((unsigned char)t[b - 1] <= ' ')) b--;
            if (b - a >= 2) out[ns++] = (sent){hit, a, b - a, 0};
            start = e;
        }
        i += adv;
    }
    return ns;
}

static int cmp_cover(const void *x, const void *y) {
    const sent *a = x, *b = y;
    if (a->cover != b->cover) return a->cover > b->cover ? -1 : 1;
    if (a->hit != b->hit) return a->hit < b->hit ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static int cmp_order(const void *x, const void *y) {
    const sent *a = x, *b = y;
    if (a->hit != b->hit) return a->hit < b->hit ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static int has_han(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0xE4 && *p <= 0xE9) return 1;
    return 0;
}

void rg_rag_answer_clear(rg_rag_answer *a) {
    for (size_t i = 0; i < a->nsources; i++) {
        free(a->sources[i].source);
        free(a->sources[i].heading);
    }
    free(a->sources);
    free(a->text);
    memset(a, 0, sizeof *a);
}

void rg_rag_source_format(const rg_rag_source *s, rg_buf *out) {
    rg_buf_printf(out, "%s", s->source ? s->source : "?");
    if (s->page > 0) rg_buf_printf(out, ", page %d", s->page);
    if (s->heading && s->heading[0]) rg_buf_printf(out, ", \"%s\"", s->heading);
    rg_buf_printf(out, ", bytes %lld-%lld", (long long)s->start, (long long)s->end);
}

#define MAX_SENTS 4096

/* Chinese question words say what is asked, not what to look for; their
 * bigrams (and the ones they form with neighbours) match noise.  They are
 * replaced by spaces in the question (never in documents). */
static const char *const k_zh_ask[] = {
    "为什么", "為什麼", "什么", "什麼", "甚么", "甚麼", "多少", "哪些", "哪个", "哪個", "哪里",
    "哪裡", "哪儿", "哪兒", "怎么样", "怎麼樣", "怎么", "怎麼", "怎样", "怎樣", "如何", "是否",
    "请问", "請問", "几", "幾", "吗", "嗎", "呢", "吧", "？", "?",
};

char *rg__rag_question_clean(const char *q) {
    size_t n = strlen(q);
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t i = 0, j = 0;
    while (i < n) {
        size_t hit = 0;
        if ((unsigned char)q[i] >= 0x80 || q[i] == '?') {
            for (size_t k = 0; k < sizeof k_zh_ask / sizeof k_zh_ask[0] && !hit; k++) {
                size_t l = strlen(k_zh_ask[k]);
                if (l <= n - i && !memcmp(q + i, k_zh_ask[k], l)) hit = l;
            }
        }
        if (hit) {
            o[j++] = ' ';
            i += hit;
        } else {
            o[j++] = q[i++];
        }
    }
    o[j] = 0;
    return o;
}

rg_status rg_rag_answer_extractive(rg_rag *r, const char *question_in, const rg_rag_answer_opts *opts,
                                   rg_rag_answer *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    char *question = rg__rag_question_clean(question_in);
    if (!question) return rg_failf(err, RG_NOMEM, "answer: out of memory");
    size_t kc = opts && opts->k_chunks ? opts->k_chunks : 5;
    size_t maxs = opts && opts->max_sentences ? opts->max_sentences : 3;
    double minc = opts && opts->min_coverage > 0 ? opts->min_coverage : 0.3;

    /* the question's distinct terms, weighted by idf */
    qterms q = {0};
    const rg_text_analyzer *a;
    const rg_text_index *ix = rg__rag_index_rdlock(r, &a);
    rg_status st = rg_text_analyze(a, question, strlen(question), q_tok, &q, NULL, err);
    double W = 0;
    /* when most of the question's terms never occur in the collection the
     * question is about something else: nothing relevant, whatever the
     * one or two common words it shares would select */
    size_t known = 0;
    for (size_t i = 0; st == RG_OK && i < q.n; i++) {
        q.w[i] = rg_text_index_idf(ix, q.t[i], q.len[i]);
        known += q.w[i] > 0;
        W += q.w[i];
    }
    if ((double)known < 0.5 * (double)q.n) W = 0;
    rg__rag_unlock(r);
    if (st == RG_OK && q.oom) st = rg_failf(err, RG_NOMEM, "answer: out of memory");
    if (st == RG_OK) {
        q.seen = calloc(q.n ? q.n : 1, 1);
        if (!q.seen) st = rg_failf(err, RG_NOMEM, "answer: out of memory");
    }
    rg_rag_results res = {0};
    if (st == RG_OK && W > 0) st = rg_rag_retrieve(r, question, kc, 1, &res, err);
    /* chunks the caller refuses (prompt injection) are read by no one */
    size_t left_out = 0;
    if (st == RG_OK && opts && opts->keep) {
        size_t w = 0;
        for (size_t h = 0; h < res.n; h++) {
            if (opts->keep(&res.hits[h], opts->keep_ud)) {
                res.hits[w++] = res.hits[h];
                continue;
            }
            free(res.hits[h].source);
            free(res.hits[h].heading);
            free(res.hits[h].text);
            left_out++;
        }
        res.n = w;
    }
    sent *ss = NULL;
    size_t ns = 0;
    if (st == RG_OK && res.n) {
        ss = malloc(MAX_SENTS * sizeof *ss);
        if (!ss) st = rg_failf(err, RG_NOMEM, "answer: out of memory");
    }
    for (size_t h = 0; st == RG_OK && h < res.n && ns < MAX_SENTS; h++)
        ns += split_sentences(res.hits[h].text, res.hits[h].text_len, ss + ns, MAX_SENTS - ns, h);
    ix = rg__rag_index_rdlock(r, &a);
    for (size_t i = 0; st == RG_OK && i < ns; i++) {
        memset(q.seen, 0, q.n);
        st = rg_text_analyze(a, res.hits[ss[i].hit].text + ss[i].off, ss[i].len, s_tok, &q, NULL, err);
        double c = 0;
        for (size_t j = 0; j < q.n; j++)
            if (q.seen[j]) c += q.w[j];
        ss[i].cover = W > 0 ? c / W : 0;
    }
    rg__rag_unlock(r);
    size_t pick = 0;
    if (st == RG_OK && ns) {
        qsort(ss, ns, sizeof *ss, cmp_cover);
        /* sentences much weaker than the best one are left out */
        double floor = ss[0].cover * 0.6 > minc ? ss[0].cover * 0.6 : minc;
        for (size_t i = 0; i < ns && pick < maxs; i++) {
            if (ss[i].cover < floor) break;
            int dup = 0;
            for (size_t j = 0; j < pick && !dup; j++)
                dup = ss[j].len == ss[i].len &&
                      !memcmp(res.hits[ss[j].hit].text + ss[j].off, res.hits[ss[i].hit].text + ss[i].off,
                              ss[i].len);
            if (!dup) ss[pick++] = ss[i];
        }
        qsort(ss, pick, sizeof *ss, cmp_order);
    }
    rg_buf b;
    rg_buf_init(&b, 0);
    if (st == RG_OK && pick == 0) {
        out->found = 0;
        rg_buf_puts(&b, has_han(question_in) ? "未在文档中找到与该问题相关的内容。"
                                           : "No relevant passage was found in the documents for this question.");
    } else if (st == RG_OK) {
        out->found = 1;
        out->sources = calloc(pick, sizeof *out->sources);
        int *num = calloc(res.n, sizeof *num);
        if (!out->sources || !num) {
            free(num);
            st = rg_failf(err, RG_NOMEM, "answer: out of memory");
        }
        for (size_t i = 0; st == RG_OK && i < pick; i++) {
            const rg_rag_hit *h = &res.hits[ss[i].hit];
            if (!num[ss[i].hit]) {
                rg_rag_source *s = &out->sources[out->nsources];
                num[ss[i].hit] = (int)++out->nsources;
                s->n = num[ss[i].hit];
                s->chunk_id = h->chunk_id;
                s->doc_id = h->doc_id;
                s->source = strdup(h->source ? h->source : "");
                s->heading = strdup(h->heading ? h->heading : "");
                s->page = h->page;
                s->start = h->start;
                s->end = h->end;
                s->score = h->score;
            }
            if (i) rg_buf_putc(&b, ' ');
            rg_buf_append(&b, h->text + ss[i].off, ss[i].len);
            rg_buf_printf(&b, " [%d]", num[ss[i].hit]);
        }
        free(num);
    }
    if (st == RG_OK) {
        out->text = rg_buf_detach(&b, NULL);
        out->n_left_out = left_out;
    } else {
        rg_buf_free(&b);
        rg_rag_answer_clear(out);
    }
    free(ss);
    rg_rag_results_clear(&res);
    qterms_free(&q);
    free(question);
    return st;
}
