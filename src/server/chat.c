/* chat.c - generation routes: /v1/chat/completions, /v1/completions,
 * /v1/embeddings.  Each validated request becomes a job on a worker
 * thread: (RAG) retrieve -> build the prompt with numbered sources ->
 * generate with the local model, the upstream, or extractively -> answer
 * (JSON or SSE) with a top-level `citations` array whose `index` matches
 * the [n] markers.
 *
 * Invariants: text sent to the client is always whole UTF-8 code points
 * (token pieces may split one); a stop string is never sent, not even its
 * first bytes (held back until it cannot be a stop any more); an SSE
 * stream always ends with `data: [DONE]`, errors included. */
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/utf8.h"
#include "embed/embed.h"
#include "grammar/grammar.h"
#include "server/server_int.h"

json_t *rg__hit_json(const rg_rag_hit *h); /* routes.c */

#define DEFAULT_MAX_TOKENS 256

/* ------------------------------------------------------------------ */
/* the generation context (owned by the job) */

typedef struct gen {
    rg__gen_req req;
    int chat;
    char id[48];
    int64_t created;
    char model_out[160];
    int64_t coll_id, coll_gen; /* RAG when coll_id > 0 */
    char coll_full[200];       /* the store's name of the collection */
    uint8_t cache_key[32];
    int cacheable;
    /* output state */
    rg__job *job;
    rg_buf text;       /* everything generated so far */
    size_t sent;       /* bytes of text already given to the client */
    int stopped;       /* a stop string matched */
    char finish[16];
    int tokens_in, tokens_out;
    uint64_t t_first, t_last;
    json_t *citations; /* array, owned */
    char *sources;     /* numbered sources block for prompts, owned */
    rg_rag_results res; /* retrieved chunks (LLM / upstream paths) */
    /* guard: model output goes out_piece -> vault restore -> output filter
     * -> gen_piece (stop strings, SSE) */
    rg_guard_vault *vault; /* upstream prompt placeholders (NULL: none) */
    rg_buf vpend;          /* output held back: may end in a partial placeholder */
    rg_filter *filter;     /* --filter / --redact-output (NULL: none) */
    rg_buf fout;
    int blocked, out_done;
    rg_grammar *grammar; /* response_format / forced tool call constraint (local model), owned */
    /* tools (local model): the model's calls are parsed from its text */
    int tools_on, tool_fmt, forced;
    size_t call_at;     /* where the first call's marker starts in text (SIZE_MAX: none yet);
                           text from there on is never streamed as content */
    json_t *tool_calls; /* parsed calls (owned) */
    json_t *server_calls; /* tool_execution server: calls run, with results (owned) */
} gen;

static void gen_free(void *p) {
    gen *g = p;
    if (!g) return;
    rg__gen_req_free(&g->req);
    rg_buf_free(&g->text);
    json_decref(g->citations);
    free(g->sources);
    rg_rag_results_clear(&g->res);
    rg_guard_vault_free(g->vault);
    if (g->vpend.data) memset(g->vpend.data, 0, g->vpend.len);
    rg_buf_free(&g->vpend);
    rg_filter_free(g->filter);
    rg_buf_free(&g->fout);
    rg_grammar_free(g->grammar);
    json_decref(g->tool_calls);
    json_decref(g->server_calls);
    free(g);
}

static int est_tokens(const char *s, size_t n) {
    (void)s;
    return (int)((n + 3) / 4);
}

/* ------------------------------------------------------------------ */
/* SSE output */

static void sse_send(gen *g, json_t *obj) {
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s) return;
    size_t n = strlen(s);
    char *buf = malloc(n + 9);
    if (buf) {
        memcpy(buf, "data: ", 6);
        memcpy(buf + 6, s, n);
        memcpy(buf + 6 + n, "\n\n", 2);
        rg__job_emit(g->job, buf, n + 8);
        free(buf);
    }
    free(s);
}

static json_t *chunk_obj(gen *g, json_t *choice) {
    json_t *choices = json_array();
    if (choice) json_array_append_new(choices, choice);
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", g->id, "object",
                     g->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)g->created, "model", g->model_out, "choices", choices);
}

static void sse_delta(gen *g, const char *s, size_t n, int first) {
    json_t *choice;
    if (g->chat) {
        json_t *delta = json_object();
        if (first) json_object_set_new(delta, "role", json_string("assistant"));
        json_object_set_new(delta, "content", json_stringn(s, n));
        choice = json_pack("{s:i, s:o, s:n, s:n}", "index", 0, "delta", delta, "finish_reason",
                           "logprobs");
    } else {
        choice = json_pack("{s:i, s:s%, s:n, s:n}", "index", 0, "text", s, n, "finish_reason",
                           "logprobs");
    }
    json_t *o = chunk_obj(g, choice);
    if (first && g->citations) json_object_set(o, "citations", g->citations);
    sse_send(g, o);
}

/* Sends text[sent..safe) where safe keeps back whole code points only and
 * any tail that could still grow into a stop string. */
static void flush_text(gen *g, int final) {
    size_t end = g->text.len;
    if (!final && g->req.n_stop) {
        size_t hold = 0;
        for (int i = 0; i < g->req.n_stop; i++) {
            size_t sl = strlen(g->req.stop[i]);
            for (size_t k = sl - 1; k > 0; k--) /* longest tail that is a stop prefix */
                if (k <= end && !memcmp(g->text.data + end - k, g->req.stop[i], k)) {
                    if (k > hold) hold = k;
                    break;
                }
        }
        end -= hold;
    }
    if (g->tools_on) {
        if (g->call_at != SIZE_MAX) {
            if (end > g->call_at) end = g->call_at;
        } else if (!final) { /* a tail that may still grow into the call marker */
            const char *mk = rg__tool_marker(g->tool_fmt);
            size_t ml = strlen(mk);
            for (size_t k = ml - 1; k > 0; k--)
                if (k <= end && !memcmp(g->text.data + end - k, mk, k)) {
                    end -= k;
                    break;
                }
        }
    }
    if (end <= g->sent) return;
    size_t n = rg_utf8_floor(g->text.data + g->sent, end - g->sent);
    if (final) n = end - g->sent;
    if (!n) return;
    if (g->req.stream) {
        /* invalid bytes (final flush of a broken tail) become U+FFFD */
        if (rg_utf8_valid(g->text.data + g->sent, n)) {
            sse_delta(g, g->text.data + g->sent, n, 0);
        } else {
            sse_delta(g, "\xEF\xBF\xBD", 3, 0);
        }
    }
    g->sent += n;
}

/* Appends a generated piece; returns 1 when generation must stop. */
static int gen_piece(gen *g, const char *s, size_t n) {
    uint64_t now = rg_now_ns();
    rg__metrics *m = &g->job->srv->metrics;
    if (!g->t_first) {
        g->t_first = now;
        rg__hist_observe(&m->ttft, (double)(now - g->job->t0) / 1e9);
    } else {
        rg__hist_observe(&m->itl, (double)(now - g->t_last) / 1e9);
    }
    g->t_last = now;
    size_t before = g->text.len;
    if (rg_buf_append(&g->text, s, n) != RG_OK) {
        snprintf(g->finish, sizeof g->finish, "length");
        return 1;
    }
    for (int i = 0; i < g->req.n_stop; i++) {
        size_t sl = strlen(g->req.stop[i]);
        size_t from = before >= sl ? before - sl + 1 : 0;
        if (g->text.len < sl) continue;
        const char *hit = memmem(g->text.data + from, g->text.len - from, g->req.stop[i], sl);
        if (hit) {
            g->text.len = (size_t)(hit - g->text.data);
            g->text.data[g->text.len] = 0;
            g->stopped = 1;
            snprintf(g->finish, sizeof g->finish, "stop");
            flush_text(g, 1);
            return 1;
        }
    }
    if (g->tools_on && g->call_at == SIZE_MAX) {
        const char *mk = rg__tool_marker(g->tool_fmt);
        size_t ml = strlen(mk), from = before >= ml ? before - ml + 1 : 0;
        const char *hit = g->text.len >= ml ? memmem(g->text.data + from, g->text.len - from, mk, ml) : NULL;
        if (hit) g->call_at = (size_t)(hit - g->text.data);
    }
    flush_text(g, 0);
    return rg__job_should_stop(g->job);
}

/* ---- the guard's output stage ---- */

/* After the vault: the output filter (block / mask / flag, PII with
 * --redact-output), then the client.  A block ends the answer with
 * finish_reason "content_filter"; the text before the match is sent. */
static int out_filtered(gen *g, const char *s, size_t n) {
    if (g->blocked) return 1;
    if (!g->filter) return gen_piece(g, s, n);
    rg_buf_reset(&g->fout);
    rg_status st = rg_filter_feed(g->filter, s, n, &g->fout);
    int stop = g->fout.len ? gen_piece(g, g->fout.data, g->fout.len) : rg__job_should_stop(g->job);
    if (st == RG_DENIED) {
        g->blocked = 1;
        snprintf(g->finish, sizeof g->finish, "content_filter");
        return 1;
    }
    return stop;
}

/* Bytes at the end of s[0..n) that may be the start of a vault
 * placeholder ("[CN_MOBILE_1]") still being streamed. */
static size_t placeholder_tail(const char *s, size_t n) {
    size_t lim = n > 48 ? n - 48 : 0;
    for (size_t i = n; i > lim; i--) {
        char c = s[i - 1];
        if (c == '[') return n - (i - 1);
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 0;
}

/* Releases vpend[0..rel) restored (placeholders -> the request's raw
 * values) to the filter stage. */
static int vault_release(gen *g, size_t rel) {
    if (!rel) return 0;
    rg_buf r;
    rg_buf_init(&r, 0);
    rg_guard_vault_restore(g->vault, g->vpend.data, rel, &r);
    int stop = r.len ? out_filtered(g, r.data, r.len) : 0;
    if (r.data) memset(r.data, 0, r.len);
    rg_buf_free(&r);
    memmove(g->vpend.data, g->vpend.data + rel, g->vpend.len - rel);
    g->vpend.len -= rel;
    return stop;
}

/* Model output enters here (every generator).  With an upstream vault a
 * placeholder split across pieces is held back until it is whole. */
static int out_piece(gen *g, const char *s, size_t n) {
    if (!g->vault) return out_filtered(g, s, n);
    if (rg_buf_append(&g->vpend, s, n) != RG_OK) return 1;
    return vault_release(g, g->vpend.len - placeholder_tail(g->vpend.data, g->vpend.len));
}

/* End of output: releases what the vault and the filter held back. */
static void out_flush(gen *g) {
    if (g->out_done) return;
    g->out_done = 1;
    if (g->vault && g->vpend.len) vault_release(g, g->vpend.len);
    if (g->filter && !g->blocked) {
        rg_buf_reset(&g->fout);
        rg_filter_finish(g->filter, &g->fout);
        if (g->fout.len) gen_piece(g, g->fout.data, g->fout.len);
    }
    if (g->filter) {
        uint32_t c[3];
        rg_filter_counts(g->filter, c);
        rg__metrics_filter(&g->job->srv->metrics, c);
        if (c[0] + c[1] + c[2])
            rg_info("server: output filter: %u flagged, %u masked, %u blocked", c[RG_FILTER_FLAG],
                    c[RG_FILTER_MASK], c[RG_FILTER_BLOCK]);
    }
}

/* At the end of a tools request: the calls in the text (if any) become
 * tool_calls, the text before them the content. */
static void parse_calls(gen *g) {
    if (!g->tools_on || g->tool_calls) return;
    size_t cend;
    json_t *calls = rg__tools_parse(g->tool_fmt, g->req.tools, g->text.data ? g->text.data : "",
                                    g->text.len, &cend);
    if (!calls) {
        g->call_at = SIZE_MAX; /* no valid call: all of it is content */
        return;
    }
    g->tool_calls = calls;
    g->text.len = cend;
    if (g->text.data) g->text.data[cend] = 0;
    if (g->sent > cend) g->sent = cend;
    g->call_at = cend;
    snprintf(g->finish, sizeof g->finish, "tool_calls");
}

/* Streams the parsed calls as OpenAI does: per call one delta with id,
 * type and name, then one with the arguments. */
static void sse_tool_calls(gen *g) {
    size_t i;
    json_t *c;
    json_array_foreach(g->tool_calls, i, c) {
        json_t *f = json_object_get(c, "function");
        json_t *d1 = json_pack("{s:[{s:i, s:O, s:s, s:{s:O, s:s}}]}", "tool_calls", "index", (int)i, "id",
                               json_object_get(c, "id"), "type", "function", "function", "name",
                               json_object_get(f, "name"), "arguments", "");
        json_t *d2 = json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", (int)i, "function", "arguments",
                               json_object_get(f, "arguments"));
        sse_send(g, chunk_obj(g, json_pack("{s:i, s:o, s:n, s:n}", "index", 0, "delta", d1, "finish_reason",
                                           "logprobs")));
        sse_send(g, chunk_obj(g, json_pack("{s:i, s:o, s:n, s:n}", "index", 0, "delta", d2, "finish_reason",
                                           "logprobs")));
    }
}

static json_t *usage_obj(gen *g) {
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", g->tokens_in, "completion_tokens",
                     g->tokens_out, "total_tokens", g->tokens_in + g->tokens_out);
}

/* Makes the text valid UTF-8 for JSON (a model may end mid code point). */
static void sanitize_text(gen *g) {
    if (rg_utf8_valid(g->text.data ? g->text.data : "", g->text.len)) return;
    rg_buf clean;
    rg_buf_init(&clean, 0);
    for (size_t i = 0; i < g->text.len;) {
        uint32_t cp;
        int l = rg_utf8_decode(g->text.data + i, g->text.len - i, &cp);
        if (cp == 0xFFFD && l == 1)
            rg_buf_append(&clean, "\xEF\xBF\xBD", 3);
        else
            rg_buf_append(&clean, g->text.data + i, (size_t)l);
        i += (size_t)l;
    }
    rg_buf_free(&g->text);
    g->text = clean;
}

static json_t *final_obj(gen *g) {
    sanitize_text(g);
    json_t *choice;
    const char *txt = g->text.data ? g->text.data : "";
    if (g->chat && g->tool_calls)
        choice = json_pack("{s:i, s:{s:s, s:o, s:O}, s:s, s:n}", "index", 0, "message", "role",
                           "assistant", "content", *txt ? json_string(txt) : json_null(), "tool_calls",
                           g->tool_calls, "finish_reason", g->finish, "logprobs");
    else if (g->chat)
        choice = json_pack("{s:i, s:{s:s, s:s}, s:s, s:n}", "index", 0, "message", "role",
                           "assistant", "content", txt, "finish_reason", g->finish, "logprobs");
    else
        choice = json_pack("{s:i, s:s, s:s, s:n}", "index", 0, "text", txt, "finish_reason",
                           g->finish, "logprobs");
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g->id, "object",
                          g->chat ? "chat.completion" : "text_completion", "created",
                          (json_int_t)g->created, "model", g->model_out, "choices", choice,
                          "usage", usage_obj(g));
    if (o && g->citations) json_object_set(o, "citations", g->citations);
    if (o && g->server_calls) json_object_set(o, "server_tool_calls", g->server_calls);
    return o;
}

/* Ends the request: JSON body, or the closing SSE events and [DONE]. */
static void gen_finish(gen *g) {
    rg__metrics *m = &g->job->srv->metrics;
    atomic_fetch_add(&m->tokens_in, (uint64_t)g->tokens_in);
    atomic_fetch_add(&m->tokens_out, (uint64_t)g->tokens_out);
    out_flush(g);
    if (!g->finish[0]) snprintf(g->finish, sizeof g->finish, "stop");
    parse_calls(g);
    if (g->cacheable && !atomic_load(&g->job->cancelled)) {
        sanitize_text(g);
        json_t *v = json_pack("{s:s, s:s, s:i, s:i, s:O?}", "content",
                              g->text.data ? g->text.data : "", "finish_reason", g->finish,
                              "prompt_tokens", g->tokens_in, "completion_tokens", g->tokens_out,
                              "citations", g->citations);
        char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        if (s) rg__cache_put(g->job->srv->cache, g->cache_key, s);
        free(s);
    }
    if (!g->req.stream) {
        rg__job_finish_json(g->job, 200, final_obj(g));
        return;
    }
    flush_text(g, 1);
    if (g->tool_calls) sse_tool_calls(g);
    json_t *choice = g->chat ? json_pack("{s:i, s:{}, s:s, s:n}", "index", 0, "delta",
                                         "finish_reason", g->finish, "logprobs")
                             : json_pack("{s:i, s:s, s:s, s:n}", "index", 0, "text", "",
                                         "finish_reason", g->finish, "logprobs");
    json_t *last = chunk_obj(g, choice);
    if (last && g->server_calls) json_object_set(last, "server_tool_calls", g->server_calls);
    if (last && g->server_calls && g->citations) json_object_set(last, "citations", g->citations);
    sse_send(g, last);
    if (g->req.include_usage) {
        json_t *o = chunk_obj(g, NULL);
        json_object_set_new(o, "usage", usage_obj(g));
        sse_send(g, o);
    }
    rg__job_emit(g->job, "data: [DONE]\n\n", 14);
}

/* An error after a stream started: an error event, then [DONE]. */
static void gen_fail(gen *g, int status, const char *code, const char *msg) {
    if (!g->req.stream) {
        rg__job_finish_error(g->job, status, code, "%s", msg);
        return;
    }
    char *s = NULL;
    json_t *e = rg__error_json(code, msg, rg__error_type(status));
    s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (s) {
        rg__job_emit(g->job, "data: ", 6);
        rg__job_emit(g->job, s, strlen(s));
        rg__job_emit(g->job, "\n\n", 2);
        free(s);
    }
    rg__job_emit(g->job, "data: [DONE]\n\n", 14);
}

/* ------------------------------------------------------------------ */
/* RAG: retrieval, sources block, citations */

static const char *last_user(const gen *g) {
    if (!g->chat) return g->req.prompt;
    for (int i = g->req.n_msgs - 1; i >= 0; i--)
        if (!strcmp(g->req.msgs[i].role, "user")) return g->req.msgs[i].content;
    return g->req.msgs[g->req.n_msgs - 1].content;
}

static rg_status rag_retrieve(gen *g, rg_err *err) {
    const char *q = last_user(g);
    char qbuf[8192];
    snprintf(qbuf, sizeof qbuf, "%s", q ? q : "");
    uint64_t t0 = rg_now_ns();
    rg__rag_ref ref;
    rg_status rc = rg__be_rag_get(g->job->srv, g->coll_id, g->coll_full, g->coll_gen, &ref, err);
    if (rc == RG_OK) {
        rc = rg__be_search(g->job->srv, ref.rag, qbuf, g->req.k, -1, NULL, &g->res, err);
        rg__be_rag_put(g->job->srv, &ref);
    }
    rg__hist_observe(&g->job->srv->metrics.retrieval, (double)(rg_now_ns() - t0) / 1e9);
    if (rc != RG_OK) return rc;
    /* prompt-injection check: flagged chunks are marked in the citations,
     * or with --drop-injected left out of the prompt (and the citations) */
    rg_server *s = g->job->srv;
    float thr = (float)s->cfg.injection_threshold;
    size_t kept = 0, dropped = 0;
    float *iscore = calloc(g->res.n ? g->res.n : 1, sizeof *iscore);
    const char **irule = calloc(g->res.n ? g->res.n : 1, sizeof *irule);
    if (!iscore || !irule) {
        free(iscore);
        free(irule);
        return rg_failf(err, RG_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->res.n; i++) {
        rg_rag_hit *h = &g->res.hits[i];
        rg_injection_result ir;
        rg_guard_injection_check(h->text, h->text_len, thr, &ir);
        if (ir.flagged && s->cfg.drop_injected) {
            free(h->source);
            free(h->heading);
            free(h->text);
            dropped++;
            continue;
        }
        iscore[kept] = ir.flagged ? ir.score : -1;
        irule[kept] = ir.first;
        g->res.hits[kept++] = *h;
    }
    g->res.n = kept;
    rg__metrics_injection(&s->metrics, 1, dropped);
    for (size_t i = 0; i < kept; i++)
        if (iscore[i] >= 0) rg__metrics_injection(&s->metrics, 0, 1);
    if (dropped)
        rg_info("server: %zu retrieved chunk(s) flagged as prompt injection left out of the prompt",
                dropped);
    g->citations = json_array();
    rg_buf b;
    rg_buf_init(&b, 0);
    for (size_t i = 0; i < g->res.n; i++) {
        const rg_rag_hit *h = &g->res.hits[i];
        json_t *c = rg__hit_json(h);
        json_object_del(c, "text");
        json_object_set_new(c, "index", json_integer((json_int_t)i + 1));
        if (iscore[i] >= 0)
            json_object_set_new(c, "injection", json_pack("{s:b, s:f, s:s}", "flagged", 1, "score",
                                                          (double)iscore[i], "rule",
                                                          irule[i] ? irule[i] : "unknown"));
        rg__job_cite(g->job, h->doc_id);
        /* a short quote so a client can show what was cited */
        size_t ql = rg_utf8_floor(h->text, h->text_len < 200 ? h->text_len : 200);
        json_object_set_new(c, "snippet", json_stringn(h->text, ql));
        json_array_append_new(g->citations, c);
        rg_buf_printf(&b, "[%zu] (source: %s%s%s)\n%.*s\n\n", i + 1, h->source,
                      *h->heading ? ", section: " : "", h->heading, (int)h->text_len, h->text);
    }
    free(iscore);
    free(irule);
    size_t n;
    g->sources = rg_buf_detach(&b, &n);
    return RG_OK;
}

static const char rag_instructions[] =
    "Answer the question using only the numbered sources below. After each sentence that uses "
    "a source, cite it with its number in square brackets, like [1] or [2][3]. If the sources "
    "do not contain the answer, say that you do not know.\n\nSources:\n\n";

/* ------------------------------------------------------------------ */
/* extractive answer (no model): the best sentences of the retrieved
 * chunks, each followed by its source's [n]. */

/* The citations array of an extractive answer (numbered as in its text). */
static json_t *answer_citations(const rg_rag_answer *a) {
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nsources; i++) {
        const rg_rag_source *src = &a->sources[i];
        json_t *c = json_pack("{s:i, s:I, s:I, s:s, s:f}", "index", src->n, "document_id",
                              (json_int_t)src->doc_id, "chunk_id", (json_int_t)src->chunk_id,
                              "source", src->source ? src->source : "", "score", src->score);
        json_object_set_new(c, "page", src->page > 0 ? json_integer(src->page) : json_null());
        json_object_set_new(c, "heading", src->heading && *src->heading
                                              ? json_string(src->heading)
                                              : json_null());
        json_array_append_new(arr, c);
    }
    return arr;
}

/* --drop-injected for the extractive answer: chunks that read like prompt
 * injection give no sentence (ud: the threshold). */
static int keep_not_injected(const rg_rag_hit *h, void *ud) {
    rg_injection_result ir;
    rg_guard_injection_check(h->text, h->text_len, *(const float *)ud, &ir);
    return !ir.flagged;
}

/* Extractive answer: retrieval and answer in one step (rag/); the
 * citations go in the first SSE event, so they are known before it. */
static int gen_extractive(gen *g, rg_err *err) {
    const char *q = last_user(g);
    uint64_t t0 = rg_now_ns();
    rg__rag_ref ref;
    rg_status rc = rg__be_rag_get(g->job->srv, g->coll_id, g->coll_full, g->coll_gen, &ref, err);
    rg_rag_answer ans;
    memset(&ans, 0, sizeof ans);
    if (rc == RG_OK) {
        rg_rag_answer_opts o = {0};
        o.k_chunks = (size_t)g->req.k;
        float thr = (float)g->job->srv->cfg.injection_threshold;
        if (g->job->srv->cfg.drop_injected) {
            o.keep = keep_not_injected;
            o.keep_ud = &thr;
        }
        rc = rg_rag_answer_extractive(ref.rag, q ? q : "", &o, &ans, err);
        rg__be_rag_put(g->job->srv, &ref);
    }
    rg__hist_observe(&g->job->srv->metrics.retrieval, (double)(rg_now_ns() - t0) / 1e9);
    if (rc != RG_OK) return -1;
    rg_server *s = g->job->srv;
    if (ans.n_left_out) {
        rg__metrics_injection(&s->metrics, 1, ans.n_left_out);
        rg_info("server: %zu retrieved chunk(s) flagged as prompt injection left out of the answer",
                ans.n_left_out);
    }
    g->citations = answer_citations(&ans);
    /* flag cited chunks that read like prompt injection (with
     * --drop-injected there are none left) */
    for (size_t i = 0; i < ans.nsources; i++) {
        rg__job_cite(g->job, ans.sources[i].doc_id);
        rg_store_chunk ch;
        rg_err e2;
        if (rg_store_chunk_get(rg__be_store(s), ans.sources[i].chunk_id, &ch, &e2) != RG_OK) continue;
        rg_injection_result ir;
        rg_guard_injection_check(ch.text, ch.text_len, (float)s->cfg.injection_threshold, &ir);
        rg_store_chunk_clear(&ch);
        if (ir.flagged) rg__metrics_injection(&s->metrics, 0, 1);
        if (ir.flagged)
            json_object_set_new(json_array_get(g->citations, i), "injection",
                                json_pack("{s:b, s:f, s:s}", "flagged", 1, "score", (double)ir.score,
                                          "rule", ir.first ? ir.first : "unknown"));
    }
    if (g->req.stream) sse_delta(g, "", 0, 1);
    const char *a = ans.text ? ans.text : "";
    size_t n = strlen(a);
    /* Emit word by word so a streaming client sees a stream. */
    size_t i = 0;
    int words = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && a[j] != ' ') j++;
        while (j < n && a[j] == ' ') j++;
        words++;
        if (out_piece(g, a + i, j - i)) break;
        if (words >= g->req.max_tokens) {
            snprintf(g->finish, sizeof g->finish, "length");
            break;
        }
        i = j;
    }
    g->tokens_out = est_tokens(g->text.data, g->text.len);
    g->tokens_in = est_tokens(q, strlen(q));
    rg_rag_answer_clear(&ans);
    return 0;
}

/* ------------------------------------------------------------------ */
/* upstream (OpenAI-compatible, libcurl) */

typedef struct up_ctx {
    gen *g;
    rg_buf line; /* partial SSE line */
    rg_buf body; /* non-streaming body */
    int streaming;
    int stop;
    int got_usage;
} up_ctx;

static void up_event(up_ctx *u, const char *data, size_t n) {
    if (n == 6 && !memcmp(data, "[DONE]", 6)) return;
    json_t *o = json_loadb(data, n, 0, NULL);
    if (!o) return;
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
    const char *piece = NULL;
    if (ch) {
        json_t *d = json_object_get(ch, "delta");
        piece = json_string_value(json_object_get(d ? d : ch, d ? "content" : "text"));
        const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
        if (fr && !u->stop) snprintf(u->g->finish, sizeof u->g->finish, "%s", fr);
    }
    /* tool_calls deltas (or a whole message's calls): merged by index */
    json_t *tcs = ch ? json_object_get(json_object_get(ch, json_object_get(ch, "delta") ? "delta" : "message"),
                                       "tool_calls")
                     : NULL;
    size_t ti;
    json_t *td;
    json_array_foreach(tcs, ti, td) {
        json_t *ix = json_object_get(td, "index");
        size_t k = json_is_integer(ix) ? (size_t)json_integer_value(ix) : ti;
        if (k >= RG_MAX_TOOL_CALLS) continue;
        if (!u->g->tool_calls) u->g->tool_calls = json_array();
        while (json_array_size(u->g->tool_calls) <= k)
            json_array_append_new(u->g->tool_calls,
                                  json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "", "type", "function", "function",
                                            "name", "", "arguments", ""));
        json_t *c = json_array_get(u->g->tool_calls, k), *cf = json_object_get(c, "function");
        json_t *f = json_object_get(td, "function");
        const char *id = json_string_value(json_object_get(td, "id"));
        if (id) json_object_set_new(c, "id", json_string(id));
        const char *parts[2] = {"name", "arguments"};
        for (int pi = 0; pi < 2; pi++) {
            const char *add = json_string_value(json_object_get(f, parts[pi]));
            if (!add) continue;
            size_t ol = json_string_length(json_object_get(cf, parts[pi])), al = strlen(add);
            if (ol + al > RG_MAX_JSON_BYTES) continue;
            char *cat = malloc(ol + al + 1);
            if (!cat) continue;
            memcpy(cat, json_string_value(json_object_get(cf, parts[pi])), ol);
            memcpy(cat + ol, add, al + 1);
            json_object_set_new(cf, parts[pi], json_stringn(cat, ol + al));
            free(cat);
        }
    }
    json_t *usage = json_object_get(o, "usage");
    if (json_is_object(usage)) {
        u->g->tokens_in = (int)json_integer_value(json_object_get(usage, "prompt_tokens"));
        u->g->tokens_out = (int)json_integer_value(json_object_get(usage, "completion_tokens"));
        u->got_usage = 1;
    }
    if (piece && *piece && !u->stop) {
        if (out_piece(u->g, piece, strlen(piece))) u->stop = 1;
        if (!u->got_usage) u->g->tokens_out++;
    }
    json_decref(o);
}

static size_t up_write(char *p, size_t sz, size_t nm, void *ud) {
    up_ctx *u = ud;
    size_t n = sz * nm;
    if (!u->streaming) {
        if (rg_buf_append(&u->body, p, n) != RG_OK) return 0;
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            const char *l = u->line.data ? u->line.data : "";
            size_t ll = u->line.len;
            if (ll && l[ll - 1] == '\r') ll--;
            if (ll > 5 && !strncmp(l, "data:", 5)) {
                size_t off = 5;
                while (off < ll && l[off] == ' ') off++;
                up_event(u, l + off, ll - off);
            }
            rg_buf_reset(&u->line);
        } else if (rg_buf_putc(&u->line, p[i]) != RG_OK) {
            return 0;
        }
    }
    return u->stop ? 0 : n;
}

static int up_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    up_ctx *u = ud;
    return rg__job_should_stop(u->g->job) ? 1 : 0;
}

/* Text for the upstream: with --upstream-redact (the default) PII becomes
 * placeholders recorded in the request's vault, restored in the answer.
 * Returns a JSON string (new reference) or NULL on failure. */
static json_t *up_string(gen *g, const char *text, rg_guard_stats *total) {
    rg_server *s = g->job->srv;
    if (!g->vault) return json_string(text);
    rg_buf b;
    rg_buf_init(&b, 0);
    rg_guard_stats st;
    json_t *j = NULL;
    if (rg_guard_redact_vault(s->up_guard, g->vault, text, strlen(text), &b, &st) == RG_OK) {
        rg__metrics_pii(&s->metrics, RG__PII_UPSTREAM, &st);
        j = json_stringn(b.data ? b.data : "", b.len);
        for (int k = 0; k < RG_PII__COUNT; k++) total->count[k] += st.count[k];
        total->total += st.total;
    }
    rg_buf_free(&b);
    return j;
}

/* The arguments of earlier tool calls are user data too: a copy of calls
 * with every function.arguments string passed through up_string. */
static json_t *up_tool_calls(gen *g, json_t *calls, rg_guard_stats *total) {
    json_t *out = json_deep_copy(calls);
    if (!g->vault || !out) return out;
    size_t i;
    json_t *c;
    json_array_foreach(out, i, c) {
        json_t *fn = json_object_get(c, "function");
        json_t *args = json_object_get(fn, "arguments");
        if (!json_is_string(args)) continue;
        json_t *r = up_string(g, json_string_value(args), total);
        if (!r) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(fn, "arguments", r);
    }
    return out;
}

static void gen_upstream(gen *g) {
    rg_server *s = g->job->srv;
    json_t *msgs = json_array();
    rg_guard_stats red;
    memset(&red, 0, sizeof red);
    if (s->up_guard && !g->vault) {
        g->vault = rg_guard_vault_new();
        rg_buf_init(&g->vpend, 0);
        if (!g->vault) {
            json_decref(msgs);
            gen_fail(g, 503, "overloaded", "out of memory");
            return;
        }
    }
    int bad = 0;
    if (g->chat) {
        if (g->sources) {
            rg_buf sys;
            rg_buf_init(&sys, 0);
            rg_buf_puts(&sys, rag_instructions);
            rg_buf_puts(&sys, g->sources);
            json_t *c = up_string(g, sys.data ? sys.data : "", &red);
            bad |= !c;
            json_array_append_new(msgs, json_pack("{s:s, s:o*}", "role", "system", "content", c));
            rg_buf_free(&sys);
        }
        for (int i = 0; i < g->req.n_msgs; i++) {
            const rg__msg *m = &g->req.msgs[i];
            json_t *c = up_string(g, m->content, &red);
            bad |= !c;
            json_t *o = json_pack("{s:s, s:o*}", "role", m->role, "content", c);
            if (o && m->tool_calls) {
                json_t *tc = up_tool_calls(g, m->tool_calls, &red);
                bad |= !tc;
                if (tc) json_object_set_new(o, "tool_calls", tc);
            }
            if (o && m->tool_call_id[0]) json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id));
            if (o && m->name[0]) json_object_set_new(o, "name", json_string(m->name));
            json_array_append_new(msgs, o);
        }
    }
    if (g->vault) {
        rg__job_set_findings(g->job, &red);
        if (red.total)
            rg_debug("server: %u value(s) replaced by placeholders in the upstream prompt", red.total);
    }
    const char *model = s->cfg.upstream_model ? s->cfg.upstream_model
                        : (g->req.model[0] && strncmp(g->req.model, "rag:", 4)) ? g->req.model
                                                                               : "default";
    json_t *rq = json_pack("{s:s, s:b}", "model", model, "stream", 1);
    if (g->chat)
        json_object_set_new(rq, "messages", msgs);
    else {
        json_decref(msgs);
        json_t *p = up_string(g, g->req.prompt, &red);
        bad |= !p;
        json_object_set_new(rq, "prompt", p ? p : json_string(""));
        if (g->vault) rg__job_set_findings(g->job, &red);
    }
    if (bad) {
        json_decref(rq);
        gen_fail(g, 500, "internal_error", "redaction of the upstream prompt failed");
        return;
    }
    if (g->req.has_temperature) json_object_set_new(rq, "temperature", json_real(g->req.temperature));
    if (g->req.top_p < 1) json_object_set_new(rq, "top_p", json_real(g->req.top_p));
    if (g->req.max_tokens) json_object_set_new(rq, "max_tokens", json_integer(g->req.max_tokens));
    if (g->req.has_seed) json_object_set_new(rq, "seed", json_integer((json_int_t)g->req.seed));
    if (g->req.n_stop) {
        json_t *st = json_array();
        for (int i = 0; i < g->req.n_stop; i++) json_array_append_new(st, json_string(g->req.stop[i]));
        json_object_set_new(rq, "stop", st);
    }
    json_object_set_new(rq, "stream_options", json_pack("{s:b}", "include_usage", 1));
    if (g->req.response_format) json_object_set(rq, "response_format", g->req.response_format);
    if (g->req.tools) {
        json_object_set(rq, "tools", g->req.tools);
        if (g->req.tool_choice) json_object_set(rq, "tool_choice", g->req.tool_choice);
        if (!g->req.parallel_tool_calls) json_object_set_new(rq, "parallel_tool_calls", json_false());
    }
    char *body = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);

    char url[1024];
    size_t ul = strlen(s->cfg.upstream_url);
    while (ul && s->cfg.upstream_url[ul - 1] == '/') ul--;
    snprintf(url, sizeof url, "%.*s/%s", (int)ul, s->cfg.upstream_url,
             g->chat ? "chat/completions" : "completions");
    up_ctx u = {.g = g, .streaming = 1};
    rg_buf_init(&u.line, 1 << 20);
    rg_buf_init(&u.body, 1 << 20);
    CURL *c = curl_easy_init();
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: text/event-stream");
    if (s->cfg.upstream_key) {
        char auth[600];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->cfg.upstream_key);
        hd = curl_slist_append(hd, auth);
    }
    long code = 0;
    CURLcode cc = CURLE_FAILED_INIT;
    if (c && body) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, up_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &u);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, up_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &u);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s->cfg.request_timeout_s);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    if (!u.got_usage) {
        int in = 0;
        if (g->sources) in += est_tokens(g->sources, strlen(g->sources));
        if (g->chat)
            for (int i = 0; i < g->req.n_msgs; i++)
                in += est_tokens(g->req.msgs[i].content, strlen(g->req.msgs[i].content)) + 4;
        else
            in = est_tokens(g->req.prompt, strlen(g->req.prompt));
        g->tokens_in = in;
    }
    int stopped_by_us = u.stop || atomic_load(&g->job->cancelled);
    if (!stopped_by_us && (cc != CURLE_OK || code != 200)) {
        char msg[1200];
        if (cc != CURLE_OK)
            snprintf(msg, sizeof msg, "upstream %s: %s", url, curl_easy_strerror(cc));
        else
            snprintf(msg, sizeof msg, "upstream %s answered HTTP %ld", url, code);
        gen_fail(g, 502, "upstream_error", msg);
    } else {
        gen_finish(g);
    }
    if (hd) curl_slist_free_all(hd);
    if (c) curl_easy_cleanup(c);
    free(body);
    rg_buf_free(&u.line);
    rg_buf_free(&u.body);
}

/* ------------------------------------------------------------------ */
/* local model (-m) */

static int local_piece(void *ud, const char *p, size_t n) { return out_piece(ud, p, n); }

static int has_tool_history(const gen *g) {
    for (int i = 0; i < g->req.n_msgs; i++)
        if (g->req.msgs[i].tool_calls || !strcmp(g->req.msgs[i].role, "tool")) return 1;
    return 0;
}

/* One model turn: renders the conversation (with tools, calls and tool
 * results when there are any) and generates into g->text. */
static rg_status local_turn(gen *g, rg_err *err) {
    rg_server *s = g->job->srv;
    rg_buf prompt, sys;
    rg_buf_init(&prompt, 0);
    rg_buf_init(&sys, 0);
    rg_status rc = RG_OK;
    if (g->sources) {
        rg_buf_puts(&sys, rag_instructions);
        rg_buf_puts(&sys, g->sources);
    }
    if (g->chat && (g->tools_on || has_tool_history(g))) {
        /* tools described in the system message (after any of the
         * client's own system text), calls and results written out */
        rg__msg *hist = NULL;
        int fmt = rg__tool_fmt_of(rg__local_family(s->local));
        rc = rg__tools_history(fmt, g->req.msgs, g->req.n_msgs, &hist, err);
        if (rc == RG_OK) {
            int skip = 0;
            if (!strcmp(hist[0].role, "system")) {
                rg_buf t;
                rg_buf_init(&t, 0);
                rg_buf_puts(&t, hist[0].content);
                if (sys.len) rg_buf_puts(&t, "\n\n");
                rg_buf_append(&t, sys.data ? sys.data : "", sys.len);
                rg_buf_free(&sys);
                sys = t;
                skip = 1;
            }
            if (g->tools_on) {
                if (sys.len) rg_buf_puts(&sys, "\n\n");
                rg__tools_system(fmt, g->req.tools, &sys);
            }
            rc = rg__local_render(s->local, hist + skip, g->req.n_msgs - skip, sys.len ? sys.data : NULL,
                                  &prompt, err);
            rg__tools_history_free(hist, g->req.n_msgs);
        }
    } else if (g->chat) {
        rc = rg__local_render(s->local, g->req.msgs, g->req.n_msgs, g->sources ? sys.data : NULL,
                              &prompt, err);
    } else {
        if (g->sources) {
            rg_buf_puts(&prompt, sys.data);
            rg_buf_printf(&prompt, "Question: %s\nAnswer:", g->req.prompt);
        } else {
            rg_buf_puts(&prompt, g->req.prompt);
        }
    }
    if (rc == RG_OK) {
        rg__local_params lp = {g->req.temperature, g->req.top_p, g->req.max_tokens, g->req.seed,
                               g->req.has_seed, g->grammar, 0, NULL};
        char finish[16];
        int n_in = 0, n_out = 0;
        rc = rg__local_generate(s->local, prompt.data ? prompt.data : "", &lp, local_piece, g, &n_in,
                                &n_out, finish, err);
        g->tokens_in += n_in;
        g->tokens_out += n_out;
        if (!g->finish[0]) snprintf(g->finish, sizeof g->finish, "%s", finish);
    }
    rg_buf_free(&prompt);
    rg_buf_free(&sys);
    return rc;
}

/* "tool_execution": "server": runs the built-in calls of the last turn,
 * records them, and appends the assistant turn and the results to the
 * conversation.  Returns 0 when the loop goes on, 1 when a call is for
 * the client (or not allowed), so the calls go back to the client. */
static int run_server_calls(gen *g) {
    rg__job *job = g->job;
    size_t i;
    json_t *c;
    json_array_foreach(g->tool_calls, i, c) {
        const char *name = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
        int which = rg__builtin_find(name);
        if (which < 0) return 1; /* the client's own function */
        if (!(job->tools & (1u << which))) {
            atomic_fetch_add(&job->srv->metrics.tool_calls[which][1], 1);
            return 1; /* never run: not in the key's allowlist */
        }
    }
    size_t nc = json_array_size(g->tool_calls);
    rg__msg *m = realloc(g->req.msgs, sizeof *m * ((size_t)g->req.n_msgs + 1 + nc));
    if (!m) return 1;
    g->req.msgs = m;
    rg__msg *a = &m[g->req.n_msgs++];
    memset(a, 0, sizeof *a);
    snprintf(a->role, sizeof a->role, "assistant");
    a->content = strdup(g->text.data ? g->text.data : "");
    a->tool_calls = json_incref(g->tool_calls);
    if (!g->citations) g->citations = json_array();
    if (!g->server_calls) g->server_calls = json_array();
    json_array_foreach(g->tool_calls, i, c) {
        json_t *f = json_object_get(c, "function");
        int which = rg__builtin_find(json_string_value(json_object_get(f, "name")));
        json_t *args = json_loads(json_string_value(json_object_get(f, "arguments")) ?: "{}", 0, NULL);
        json_t *res = rg__builtin_run(job, which, args ? args : json_object(), g->citations);
        json_decref(args);
        atomic_fetch_add(&job->srv->metrics.tool_calls[which][0], 1);
        char *txt = json_dumps(res, JSON_COMPACT);
        if (txt && strlen(txt) > RG_MAX_TOOL_RESULT_BYTES) {
            free(txt);
            txt = strdup("{\"error\":\"result too large\"}");
        }
        rg__msg *t = &m[g->req.n_msgs++];
        memset(t, 0, sizeof *t);
        snprintf(t->role, sizeof t->role, "tool");
        t->content = txt ? txt : strdup("{}");
        snprintf(t->tool_call_id, sizeof t->tool_call_id, "%s", json_string_value(json_object_get(c, "id")) ?: "");
        snprintf(t->name, sizeof t->name, "%s", rg__builtin_name(which));
        json_t *rec = json_deep_copy(c);
        json_object_set_new(rec, "result", res);
        json_array_append_new(g->server_calls, rec);
    }
    if (json_array_size(g->citations) == 0) {
        json_decref(g->citations);
        g->citations = NULL;
    }
    return 0;
}

static void gen_local(gen *g) {
    rg_err err;
    rg_err_clear(&err);
    rg_status rc = RG_OK;
    int rounds = g->job->srv->cfg.tool_rounds;
    for (int round = 0;; round++) {
        rc = local_turn(g, &err);
        if (rc != RG_OK || !g->req.server_tools || !g->tools_on || atomic_load(&g->job->cancelled)) break;
        parse_calls(g);
        if (!g->tool_calls || run_server_calls(g)) break;
        /* next turn: the model sees the results; tools stay offered (auto)
         * until the last round, then it must answer */
        json_decref(g->tool_calls);
        g->tool_calls = NULL;
        rg_buf_reset(&g->text);
        g->sent = 0;
        g->finish[0] = 0;
        g->call_at = SIZE_MAX;
        g->forced = 0;
        rg_grammar_free(g->grammar);
        g->grammar = NULL;
        if (round + 1 >= rounds) g->tools_on = 0;
    }
    if (rc == RG_LIMIT) {
        gen_fail(g, 400, "context_length_exceeded", rg_err_text(&err));
        return;
    }
    if (rc != RG_OK) {
        gen_fail(g, 500, "generation_failed", rg_err_text(&err));
        return;
    }
    if (atomic_load(&g->job->cancelled)) return;
    gen_finish(g);
}

/* ------------------------------------------------------------------ */
/* the job */

static void gen_run(rg__job *job) {
    gen *g = job->ctx;
    g->job = job;
    rg_err err;
    rg_err_clear(&err);
    rg_server *s = job->srv;
    rg_filter_list *fl = rg__filter_list(s);
    if (fl || s->out_guard) {
        g->filter = rg_filter_new(fl, s->out_guard);
        rg_buf_init(&g->fout, 0);
        if (!g->filter) {
            gen_fail(g, 503, "overloaded", "out of memory");
            return;
        }
    }
    if (s->audit && !(s->up_guard && !s->local)) {
        /* the audit record counts the PII in the request's prompt (types
         * and counts only); an upstream request counts what it redacted */
        rg_guard_stats total, st;
        memset(&total, 0, sizeof total);
        for (int i = 0; g->chat && i < g->req.n_msgs; i++) {
            rg_buf b;
            rg_buf_init(&b, 0);
            if (rg_guard_redact(s->pii_guard, g->req.msgs[i].content,
                                strlen(g->req.msgs[i].content), &b, &st) == RG_OK) {
                for (int k = 0; k < RG_PII__COUNT; k++) total.count[k] += st.count[k];
                total.total += st.total;
            }
            rg_buf_free(&b);
        }
        if (!g->chat && g->req.prompt) {
            rg_buf b;
            rg_buf_init(&b, 0);
            if (rg_guard_redact(s->pii_guard, g->req.prompt, strlen(g->req.prompt), &b, &st) == RG_OK)
                total = st;
            rg_buf_free(&b);
        }
        rg__job_set_findings(job, &total);
    }
    if (!s->local && !s->cfg.upstream_url) {
        if (gen_extractive(g, &err) != 0) {
            gen_fail(g, 500, "retrieval_failed", rg_err_text(&err));
            return;
        }
        if (!atomic_load(&job->cancelled)) gen_finish(g);
        return;
    }
    if (g->coll_id > 0 && rag_retrieve(g, &err) != RG_OK) {
        gen_fail(g, 500, "retrieval_failed", rg_err_text(&err));
        return;
    }
    /* the first event: the role and, for RAG, the citations */
    if (g->req.stream) sse_delta(g, "", 0, 1);
    if (s->local)
        gen_local(g);
    else
        gen_upstream(g);
}

static void cache_key(rg__req *r, gen *g) {
    /* everything that shapes the answer, in a fixed order */
    rg_buf b;
    rg_buf_init(&b, 0);
    rg_buf_printf(&b, "%s\n%llu\n%llu\n%d\n%s\n%s\n%d\n%d\n%d\n%llu\n%d\n%lld\n", rg__tenant(r),
                  (unsigned long long)atomic_load(&r->srv->write_epoch),
                  (unsigned long long)atomic_load(&r->srv->filter_gen), g->chat, g->model_out,
                  g->req.collection, g->req.k, g->req.max_tokens, (int)(g->req.top_p * 1000),
                  (unsigned long long)g->req.seed, g->req.n_stop, (long long)g->coll_gen);
    for (int i = 0; i < g->req.n_stop; i++) {
        rg_buf_puts(&b, g->req.stop[i]);
        rg_buf_putc(&b, 0);
    }
    json_t *shape[3] = {g->req.response_format, g->req.tools, g->req.tool_choice};
    for (int i = 0; i < 3; i++) {
        char *t = shape[i] ? json_dumps(shape[i], JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        rg_buf_printf(&b, "%s\n", t ? t : "-");
        free(t);
    }
    if (g->chat) {
        for (int i = 0; i < g->req.n_msgs; i++) {
            rg_buf_printf(&b, "%s:%zu:", g->req.msgs[i].role, strlen(g->req.msgs[i].content));
            rg_buf_puts(&b, g->req.msgs[i].content);
        }
    } else {
        rg_buf_puts(&b, g->req.prompt);
    }
    rg_sha256(b.data, b.len, g->cache_key);
    rg_buf_free(&b);
}

/* Answers a cached entry at once (JSON or a complete SSE stream). */
static void respond_cached(rg__req *r, gen *g, const char *cached) {
    json_t *v = json_loads(cached, 0, NULL);
    if (!v) return;
    rg_buf_reset(&g->text);
    const char *content = json_string_value(json_object_get(v, "content"));
    rg_buf_puts(&g->text, content ? content : "");
    snprintf(g->finish, sizeof g->finish, "%s",
             json_string_value(json_object_get(v, "finish_reason")) ?: "stop");
    g->tokens_in = (int)json_integer_value(json_object_get(v, "prompt_tokens"));
    g->tokens_out = (int)json_integer_value(json_object_get(v, "completion_tokens"));
    json_t *cit = json_object_get(v, "citations");
    if (cit) g->citations = json_incref(cit);
    json_decref(v);
    if (!g->req.stream) {
        json_t *o = final_obj(g);
        if (o) json_object_set_new(o, "cached", json_true());
        rg__respond_json(r, 200, o);
        return;
    }
    /* Build the whole stream in memory: same events as a live one. */
    rg_buf out;
    rg_buf_init(&out, 0);
    json_t *events[4];
    int ne = 0;
    if (g->chat) {
        json_t *first = chunk_obj(g, json_pack("{s:i, s:{s:s, s:s}, s:n, s:n}", "index", 0,
                                               "delta", "role", "assistant", "content",
                                               g->text.data ? g->text.data : "", "finish_reason",
                                               "logprobs"));
        if (g->citations) json_object_set(first, "citations", g->citations);
        events[ne++] = first;
        events[ne++] = chunk_obj(g, json_pack("{s:i, s:{}, s:s, s:n}", "index", 0, "delta",
                                              "finish_reason", g->finish, "logprobs"));
    } else {
        json_t *first = chunk_obj(g, json_pack("{s:i, s:s, s:n, s:n}", "index", 0, "text",
                                               g->text.data ? g->text.data : "", "finish_reason",
                                               "logprobs"));
        if (g->citations) json_object_set(first, "citations", g->citations);
        events[ne++] = first;
        events[ne++] = chunk_obj(g, json_pack("{s:i, s:s, s:s, s:n}", "index", 0, "text", "",
                                              "finish_reason", g->finish, "logprobs"));
    }
    if (g->req.include_usage) {
        json_t *o = chunk_obj(g, NULL);
        json_object_set_new(o, "usage", usage_obj(g));
        events[ne++] = o;
    }
    for (int i = 0; i < ne; i++) {
        char *s = json_dumps(events[i], JSON_COMPACT);
        if (s) rg_buf_printf(&out, "data: %s\n\n", s);
        free(s);
        json_decref(events[i]);
    }
    rg_buf_puts(&out, "data: [DONE]\n\n");
    rg__respond_text(r, 200, "text/event-stream", out.data, out.len);
    rg_buf_free(&out);
}

/* The client's name of a store collection name (tenant prefix removed). */
static const char *g_collection_name(const rg__req *r, const char *full) {
    size_t tl = strlen(rg__tenant(r));
    return tl ? full + tl + 2 : full;
}

/* response_format -> a grammar for the local model: json_object -> any
 * JSON object; json_schema -> the schema compiled to GBNF (no schema:
 * any object). */
static rg_status compile_response_format(gen *g, rg_err *err) {
    json_t *rf = g->req.response_format;
    json_t *sc = json_object_get(json_object_get(rf, "json_schema"), "schema");
    if (!strcmp(json_string_value(json_object_get(rf, "type")), "json_object") || !sc)
        return rg_grammar_json_object(&g->grammar, err);
    char *txt = json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!txt) return rg_failf(err, RG_NOMEM, "out of memory");
    rg_status rc = rg_grammar_from_json_schema(txt, strlen(txt), &g->grammar, err);
    free(txt);
    return rc;
}

/* "tool_execution": "server": the tools the model is offered are the
 * client's own functions plus every built-in tool the key may run (with
 * the server's definitions).  A built-in the client names but the key may
 * not run is refused (403, counted as denied): it is never offered, so
 * never run.  Returns -1 (*denied = the tool) or 0. */
static int server_tool_list(rg__req *r, gen *g, int *denied) {
    unsigned allow = r->key ? r->key->tools : r->srv->open_tools;
    json_t *list = json_array();
    size_t i;
    json_t *t;
    unsigned named = 0;
    json_array_foreach(g->req.tools, i, t) {
        int which = rg__builtin_find(json_string_value(json_object_get(json_object_get(t, "function"), "name")));
        if (which >= 0 && !(allow & (1u << which))) {
            atomic_fetch_add(&r->srv->metrics.tool_calls[which][1], 1);
            *denied = which;
            json_decref(list);
            return -1;
        }
        if (which >= 0) named |= 1u << which;
        json_array_append_new(list, which >= 0 ? rg__builtin_def(r->srv, which, rg__tenant(r)) : json_incref(t));
    }
    for (int b = 0; b < RG__BT_COUNT; b++)
        if ((allow & (1u << b)) && !(named & (1u << b))) json_array_append_new(list, rg__builtin_def(r->srv, b, rg__tenant(r)));
    json_decref(g->req.tools);
    g->req.tools = NULL;
    if (json_array_size(list)) g->req.tools = list;
    else json_decref(list);
    return 0;
}

static void gen_route(rg__req *r, int chat) {
    rg_server *s = r->srv;
    gen *g = calloc(1, sizeof *g);
    if (!g) {
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return;
    }
    g->chat = chat;
    rg_buf_init(&g->text, 16u << 20);
    rg_err err;
    if (rg__parse_gen(r->body.data, r->body.len, chat, &g->req, &err) != RG_OK) {
        gen_free(g);
        rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
        return;
    }
    if (g->req.response_format) {
        if (!s->local && !s->cfg.upstream_url) {
            gen_free(g);
            rg__respond_error(r, 400, "model_not_available",
                              "'response_format' needs a language model (ragd serve -m or --upstream)");
            return;
        }
        if (s->local && compile_response_format(g, &err) != RG_OK) {
            gen_free(g);
            rg__respond_error(r, 400, "invalid_schema", "response_format: %s", rg_err_text(&err));
            return;
        }
    }
    g->call_at = SIZE_MAX;
    if (g->req.server_tools) {
        if (!s->local || !chat) {
            gen_free(g);
            rg__respond_error(r, 400, "invalid_request",
                              "\"tool_execution\": \"server\" needs the local model (ragd serve -m) and "
                              "/v1/chat/completions");
            return;
        }
        int denied = -1;
        if (server_tool_list(r, g, &denied) != 0) {
            gen_free(g);
            if (denied >= 0)
                rg__respond_error(r, 403, "tool_not_allowed",
                                  "tool '%s' is not in this API key's allowlist of server tools",
                                  rg__builtin_name(denied));
            else
                rg__respond_error(r, 503, "overloaded", "out of memory");
            return;
        }
    }
    const char *tc = json_string_value(g->req.tool_choice);
    if (!g->req.tools && g->req.tool_choice && !(tc && !strcmp(tc, "none")) && !(tc && !strcmp(tc, "auto"))) {
        rg__respond_error(r, 400, "invalid_request", "'tool_choice' %s: no tools are available to this key",
                          tc ? tc : "(a function)");
        gen_free(g);
        return;
    }
    if (g->req.tools && !(tc && !strcmp(tc, "none"))) {
        if (!s->local && !s->cfg.upstream_url) {
            gen_free(g);
            rg__respond_error(r, 400, "model_not_available",
                              "'tools' need a language model (ragd serve -m or --upstream)");
            return;
        }
        if (!chat) {
            gen_free(g);
            rg__respond_error(r, 400, "invalid_request", "'tools' are for /v1/chat/completions");
            return;
        }
        if (s->local) {
            g->tools_on = 1;
            g->tool_fmt = rg__tool_fmt_of(rg__local_family(s->local));
            const char *only = json_string_value(json_object_get(json_object_get(g->req.tool_choice, "function"), "name"));
            g->forced = only || (tc && !strcmp(tc, "required"));
            if (g->forced) {
                /* the grammar makes the output exactly a call (it wins over response_format) */
                rg_grammar_free(g->grammar);
                g->grammar = NULL;
                if (rg__tools_grammar(g->tool_fmt, g->req.tools, only, g->req.parallel_tool_calls, &g->grammar,
                                      &err) != RG_OK) {
                    gen_free(g);
                    rg__respond_error(r, 400, "invalid_schema", "%s", rg_err_text(&err));
                    return;
                }
                g->call_at = 0;
            }
        }
    }
    if (g->req.collection[0]) {
        char full[200];
        rg__coll_fullname(r, g->req.collection, full, sizeof full);
        rg_status rc = rg__be_coll_lookup(s, full, &g->coll_id, &g->coll_gen, &err);
        if (rc != RG_OK) {
            gen_free(g);
            if (rc == RG_NOTFOUND)
                rg__respond_error(r, 404, "collection_not_found", "collection '%s' does not exist",
                                  g_collection_name(r, full));
            else
                rg__respond_error(r, 500, "internal_error", "%s", rg_err_text(&err));
            return;
        }
        snprintf(g->coll_full, sizeof g->coll_full, "%s", full);
        snprintf(r->coll, sizeof r->coll, "%s", g->req.collection); /* the audit record's */
    } else if (!s->cfg.upstream_url && !s->local) {
        gen_free(g);
        rg__respond_error(r, 400, "model_not_available",
                          "no language model is loaded: start 'ragd serve' with -m MODEL.gguf or "
                          "--upstream URL, or ask a collection (\"collection\": \"name\" or model "
                          "\"rag:name\") for an extractive answer");
        return;
    }
    if (!chat && g->coll_id > 0 && !s->cfg.upstream_url) {
        /* extractive completions: the prompt is the question */
    }
    uint8_t rnd[32];
    char hex[33];
    uint64_t t = rg_now_ns() ^ (uint64_t)(uintptr_t)g;
    rg_sha256(&t, sizeof t, rnd);
    rg_hex(rnd, 12, hex);
    snprintf(g->id, sizeof g->id, "%s-%s", chat ? "chatcmpl" : "cmpl", hex);
    g->created = rg_unix_time();
    const char *gname = s->local ? (strrchr(s->cfg.model_path, '/') ? strrchr(s->cfg.model_path, '/') + 1
                                                                     : s->cfg.model_path)
                        : s->cfg.upstream_url ? (s->cfg.upstream_model ? s->cfg.upstream_model : "upstream")
                                              : "extractive";
    if (g->req.model[0])
        snprintf(g->model_out, sizeof g->model_out, "%s", g->req.model);
    else
        snprintf(g->model_out, sizeof g->model_out, "%s", gname);
    if (!g->req.max_tokens) g->req.max_tokens = DEFAULT_MAX_TOKENS;

    rg__filter_list(s); /* a changed --filter file takes effect (and changes the cache key) */
    g->cacheable = s->cache && g->req.has_temperature && g->req.temperature == 0.0 && !g->req.tools;
    if (g->cacheable) {
        cache_key(r, g);
        char *hit = rg__cache_get(s->cache, g->cache_key);
        if (hit) {
            atomic_fetch_add(&s->metrics.cache_hits, 1);
            respond_cached(r, g, hit);
            free(hit);
            gen_free(g);
            if (!r->responded) rg__respond_error(r, 500, "internal_error", "bad cache entry");
            return;
        }
        atomic_fetch_add(&s->metrics.cache_misses, 1);
    }
    rg__job_start(r, gen_run, g, gen_free, g->req.stream);
}

void rg__chat_route(rg__req *r) { gen_route(r, 1); }
void rg__completions_route(rg__req *r) { gen_route(r, 0); }

typedef struct emb_job {
    rg__embed_req req;
    int base64;
} emb_job;

static void emb_free(void *p) {
    emb_job *e = p;
    if (!e) return;
    rg__embed_req_free(&e->req);
    free(e);
}

static char *b64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        o[j++] = tab[(v >> 18) & 63];
        o[j++] = tab[(v >> 12) & 63];
        o[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < n ? tab[v & 63] : '=';
    }
    o[j] = 0;
    return o;
}

static void emb_run(rg__job *job) {
    emb_job *e = job->ctx;
    rg_server *s = job->srv;
    int dim = rg_embed_dim(s->embedder);
    size_t *lens = calloc((size_t)e->req.n_inputs, sizeof *lens);
    float *out = calloc((size_t)e->req.n_inputs * (size_t)dim, sizeof *out);
    if (!lens || !out) {
        free(lens);
        free(out);
        rg__job_finish_error(job, 503, "overloaded", "out of memory");
        return;
    }
    int toks = 0;
    for (int i = 0; i < e->req.n_inputs; i++) {
        lens[i] = strlen(e->req.inputs[i]);
        toks += est_tokens(e->req.inputs[i], lens[i]);
    }
    rg_err err;
    pthread_mutex_lock(&s->embed_mu);
    rg_status rc = rg_embed_texts(s->embedder, (const char *const *)e->req.inputs, lens,
                                  e->req.n_inputs, 1, out, &err);
    pthread_mutex_unlock(&s->embed_mu);
    if (rc != RG_OK) {
        free(lens);
        free(out);
        rg__job_finish_error(job, 500, "embedding_failed", "%s", rg_err_text(&err));
        return;
    }
    json_t *data = json_array();
    for (int i = 0; i < e->req.n_inputs; i++) {
        json_t *v;
        if (e->base64) {
            char *t = b64((const unsigned char *)(out + (size_t)i * (size_t)dim),
                          (size_t)dim * sizeof(float));
            v = json_string(t ? t : "");
            free(t);
        } else {
            v = json_array();
            for (int d = 0; d < dim; d++)
                json_array_append_new(v, json_real(out[(size_t)i * (size_t)dim + (size_t)d]));
        }
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i,
                                              "embedding", v));
    }
    free(lens);
    free(out);
    atomic_fetch_add(&s->metrics.tokens_in, (uint64_t)toks);
    const char *base = strrchr(s->cfg.embed_model_path, '/');
    rg__job_finish_json(job, 200,
                        json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data,
                                  "model", e->req.model[0] ? e->req.model
                                                           : base ? base + 1
                                                                  : s->cfg.embed_model_path,
                                  "usage", "prompt_tokens", toks, "total_tokens", toks));
}

void rg__embeddings_route(rg__req *r) {
    emb_job *e = calloc(1, sizeof *e);
    rg_err err;
    if (!e) {
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return;
    }
    if (rg__parse_embed(r->body.data, r->body.len, &e->req, &err) != RG_OK) {
        free(e);
        rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
        return;
    }
    if (!r->srv->embedder) {
        emb_free(e);
        rg__respond_error(r, 501, "embeddings_unavailable",
                          "no embedding model is loaded: start 'ragd serve' with --embed-model "
                          "E.gguf");
        return;
    }
    e->base64 = e->req.base64;
    rg__job_start(r, emb_run, e, emb_free, 0);
}

void rg__models_extra(rg_server *s, json_t *data) {
    const char *name = s->cfg.model_path ? s->cfg.model_path
                       : s->cfg.upstream_url ? (s->cfg.upstream_model ? s->cfg.upstream_model
                                                                      : "upstream")
                                             : "extractive";
    const char *base = strrchr(name, '/');
    json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", base ? base + 1 : name,
                                          "object", "model", "created", (json_int_t)s->started,
                                          "owned_by", "ragd"));
}
