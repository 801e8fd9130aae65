/* reqjson.c - parsing and validation of request bodies (chat, completions,
 * embeddings, search, documents, collections).
 *
 * Input is hostile: any bytes.  jansson rejects invalid UTF-8, too-deep
 * nesting and integers that do not fit; on top of that every field is
 * checked for type and range here, every string for length, and counts
 * (messages, inputs, stop strings) against fixed caps before anything is
 * allocated from them.  Errors name the field, OpenAI-style. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "server/server_int.h"

#define MAX_MESSAGES 1024
#define MAX_INPUTS 2048
#define MAX_STOP_BYTES 256
#define MAX_TOKENS_CAP 1000000

static json_t *load(const char *body, size_t len, rg_err *err) {
    if (len == 0) {
        rg_failf(err, RG_FORMAT, "request body is empty: expected a JSON object");
        return NULL;
    }
    /* jansson stops at a NUL byte outside strings as if the text ended
     * there; JSON text never contains one, so refuse it up front. */
    if (memchr(body, 0, len)) {
        rg_failf(err, RG_FORMAT, "malformed JSON: NUL byte at offset %zu",
                 (size_t)((const char *)memchr(body, 0, len) - body));
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        rg_failf(err, RG_FORMAT, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        rg_failf(err, RG_FORMAT, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Optional string field: copies into out[cap] (RG_INVALID when too long or
 * not a string).  Absent or null leaves out unchanged. */
static rg_status get_str(json_t *o, const char *key, char *out, size_t cap, rg_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_string(v)) return rg_failf(err, RG_INVALID, "'%s' must be a string", key);
    size_t n = json_string_length(v);
    if (n >= cap) return rg_failf(err, RG_INVALID, "'%s' is too long (max %zu bytes)", key, cap - 1);
    if (memchr(json_string_value(v), 0, n))
        return rg_failf(err, RG_INVALID, "'%s' contains a NUL character", key);
    memcpy(out, json_string_value(v), n + 1);
    return RG_OK;
}

static char *dup_str(json_t *v, size_t cap, const char *what, rg_err *err) {
    size_t n = json_string_length(v);
    if (n > cap) {
        rg_failf(err, RG_LIMIT, "'%s' is too long (%zu bytes, max %zu)", what, n, cap);
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        rg_failf(err, RG_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, json_string_value(v), n);
    s[n] = 0;
    return s;
}

static rg_status get_num(json_t *o, const char *key, double lo, double hi, double *out, int *has,
                         rg_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_number(v)) return rg_failf(err, RG_INVALID, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return rg_failf(err, RG_INVALID, "'%s' must be between %g and %g", key, lo, hi);
    *out = d;
    if (has) *has = 1;
    return RG_OK;
}

static rg_status get_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
                         int *has, rg_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_integer(v)) return rg_failf(err, RG_INVALID, "'%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return rg_failf(err, RG_INVALID, "'%s' must be between %lld and %lld", key, lo, hi);
    *out = x;
    if (has) *has = 1;
    return RG_OK;
}

static rg_status get_bool(json_t *o, const char *key, int *out, rg_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return RG_OK;
    if (!json_is_boolean(v)) return rg_failf(err, RG_INVALID, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return RG_OK;
}

int rg__valid_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok) return 0;
    }
    return strstr(s, "__") == NULL;
}

/* Message content: a string, or an array of parts of which the "text"
 * ones are joined (images and audio are refused). */
static char *content_text(json_t *c, int idx, rg_err *err) {
    char what[48];
    snprintf(what, sizeof what, "messages[%d].content", idx);
    if (json_is_string(c)) return dup_str(c, RG_MAX_JSON_BYTES, what, err);
    if (json_is_null(c)) return strdup("");
    if (!json_is_array(c)) {
        rg_failf(err, RG_INVALID, "'%s' must be a string or an array of text parts", what);
        return NULL;
    }
    rg_buf b;
    rg_buf_init(&b, RG_MAX_JSON_BYTES);
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        if (!json_is_object(part) || !type || strcmp(type, "text") != 0 || !json_is_string(t)) {
            rg_buf_free(&b);
            rg_failf(err, RG_INVALID, "'%s[%zu]' must be {\"type\":\"text\",\"text\":\"...\"}", what,
                     i);
            return NULL;
        }
        if ((b.len && rg_buf_putc(&b, '\n') != RG_OK) ||
            rg_buf_append(&b, json_string_value(t), json_string_length(t)) != RG_OK) {
            rg_buf_free(&b);
            rg_failf(err, RG_LIMIT, "'%s' is too long", what);
            return NULL;
        }
    }
    size_t n;
    return rg_buf_detach(&b, &n);
}

/* A function name: [A-Za-z0-9_-]{1,64} (OpenAI's rule). */
static int valid_fn_name(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* An assistant message's tool_calls: [{"id","type":"function","function":{"name","arguments"}}]. */
static rg_status check_tool_calls(json_t *tc, size_t mi, rg_err *err) {
    if (!json_is_array(tc) || json_array_size(tc) > RG_MAX_TOOL_CALLS)
        return rg_failf(err, RG_INVALID, "'messages[%zu].tool_calls' must be an array of at most %d calls",
                        mi, RG_MAX_TOOL_CALLS);
    size_t i;
    json_t *c;
    json_array_foreach(tc, i, c) {
        json_t *f = json_object_get(c, "function");
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *args = json_object_get(f, "arguments");
        if (!json_is_object(c) || !json_is_object(f) || !valid_fn_name(name) ||
            (args && !json_is_string(args) && !json_is_object(args)) || (id && strlen(id) > 64))
            return rg_failf(err, RG_INVALID,
                            "'messages[%zu].tool_calls[%zu]' must be {\"id\",\"type\":\"function\","
                            "\"function\":{\"name\",\"arguments\"}}",
                            mi, i);
    }
    return RG_OK;
}

/* response_format, tools, tool_choice, parallel_tool_calls, tool_execution. */
static rg_status parse_structured(json_t *root, rg__gen_req *g, rg_err *err) {
    json_t *rf = json_object_get(root, "response_format");
    if (rf && !json_is_null(rf)) {
        const char *t = json_string_value(json_object_get(rf, "type"));
        if (!json_is_object(rf) || !t ||
            (strcmp(t, "text") && strcmp(t, "json_object") && strcmp(t, "json_schema")))
            return rg_failf(err, RG_INVALID,
                            "'response_format.type' must be text, json_object or json_schema");
        if (!strcmp(t, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            json_t *sc = json_object_get(js, "schema");
            if (!json_is_object(js) || (sc && !json_is_object(sc) && !json_is_boolean(sc)))
                return rg_failf(err, RG_INVALID,
                                "'response_format.json_schema' must be an object with a 'schema' object");
        }
        if (strcmp(t, "text")) g->response_format = json_incref(rf);
    }
    json_t *tools = json_object_get(root, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools) || json_array_size(tools) > RG_MAX_TOOLS)
            return rg_failf(err, RG_INVALID, "'tools' must be an array of at most %d tools", RG_MAX_TOOLS);
        size_t i, j;
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *f = json_object_get(t, "function");
            const char *ty = json_string_value(json_object_get(t, "type"));
            const char *name = json_string_value(json_object_get(f, "name"));
            json_t *d = json_object_get(f, "description"), *p = json_object_get(f, "parameters");
            if (!json_is_object(t) || !ty || strcmp(ty, "function") || !json_is_object(f))
                return rg_failf(err, RG_INVALID,
                                "'tools[%zu]' must be {\"type\":\"function\",\"function\":{...}}", i);
            if (!valid_fn_name(name))
                return rg_failf(err, RG_INVALID, "'tools[%zu].function.name' must be 1-64 of [A-Za-z0-9_-]", i);
            if (d && !json_is_null(d) && !json_is_string(d))
                return rg_failf(err, RG_INVALID, "'tools[%zu].function.description' must be a string", i);
            if (p && !json_is_null(p) && !json_is_object(p))
                return rg_failf(err, RG_INVALID, "'tools[%zu].function.parameters' must be a JSON Schema object", i);
            for (j = 0; j < i; j++)
                if (!strcmp(name, json_string_value(json_object_get(
                                      json_object_get(json_array_get(tools, j), "function"), "name"))))
                    return rg_failf(err, RG_INVALID, "'tools[%zu]': function '%s' defined twice", i, name);
        }
        if (json_array_size(tools)) g->tools = json_incref(tools);
    }
    json_t *tc = json_object_get(root, "tool_choice");
    if (tc && !json_is_null(tc)) {
        const char *s = json_string_value(tc);
        if (s) {
            if (strcmp(s, "auto") && strcmp(s, "none") && strcmp(s, "required"))
                return rg_failf(err, RG_INVALID, "'tool_choice' must be auto, none, required or "
                                                 "{\"type\":\"function\",\"function\":{\"name\":...}}");
        } else {
            const char *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
            if (!json_is_object(tc) || !name)
                return rg_failf(err, RG_INVALID, "'tool_choice' must be auto, none, required or "
                                                 "{\"type\":\"function\",\"function\":{\"name\":...}}");
            int found = 0;
            size_t i;
            json_t *t;
            json_array_foreach(g->tools, i, t)
                if (!strcmp(name, json_string_value(json_object_get(json_object_get(t, "function"), "name")) ?: ""))
                    found = 1;
            if (!found)
                return rg_failf(err, RG_INVALID, "'tool_choice' names function '%s', which is not in 'tools'",
                                name);
        }
        g->tool_choice = json_incref(tc);
    }
    g->parallel_tool_calls = 1;
    rg_status rc = get_bool(root, "parallel_tool_calls", &g->parallel_tool_calls, err);
    if (rc) return rc;
    char te[16] = "";
    if ((rc = get_str(root, "tool_execution", te, sizeof te, err))) return rc;
    if (te[0] && strcmp(te, "server") && strcmp(te, "client"))
        return rg_failf(err, RG_INVALID, "'tool_execution' must be client or server");
    g->server_tools = !strcmp(te, "server");
    /* with server execution the key's built-in tools are added later */
    const char *s = json_string_value(g->tool_choice);
    if (g->tool_choice && (!s || !strcmp(s, "required")) && !g->tools && !g->server_tools)
        return rg_failf(err, RG_INVALID, "'tool_choice' %s needs 'tools'", s ? s : "(a function)");
    return RG_OK;
}

void rg__gen_req_free(rg__gen_req *g) {
    for (int i = 0; i < g->n_msgs; i++) {
        free(g->msgs[i].content);
        json_decref(g->msgs[i].tool_calls);
    }
    free(g->msgs);
    json_decref(g->response_format);
    json_decref(g->tools);
    json_decref(g->tool_choice);
    free(g->prompt);
    for (int i = 0; i < g->n_stop; i++) free(g->stop[i]);
    memset(g, 0, sizeof *g);
}

rg_status rg__parse_gen(const char *body, size_t len, int chat, rg__gen_req *g, rg_err *err) {
    memset(g, 0, sizeof *g);
    g->temperature = 1.0;
    g->top_p = 1.0;
    json_t *root = load(body, len, err);
    if (!root) return RG_FORMAT;
    rg_status rc = RG_OK;
    long long v;
    int has;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != RG_OK) goto fail;                                                        \
    } while (0)
    TRY(get_str(root, "model", g->model, sizeof g->model, err));
    TRY(get_num(root, "temperature", 0, 2, &g->temperature, &g->has_temperature, err));
    TRY(get_num(root, "top_p", 0, 1, &g->top_p, NULL, err));
    v = 0;
    TRY(get_int(root, "max_tokens", 1, MAX_TOKENS_CAP, &v, NULL, err));
    if (!v) TRY(get_int(root, "max_completion_tokens", 1, MAX_TOKENS_CAP, &v, NULL, err));
    g->max_tokens = (int)v;
    has = 0;
    v = 0;
    TRY(get_int(root, "seed", -(1ll << 62), (1ll << 62), &v, &has, err));
    g->seed = (uint64_t)v;
    g->has_seed = has;
    TRY(get_bool(root, "stream", &g->stream, err));
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            rc = rg_failf(err, RG_INVALID, "'stream_options' must be an object");
            goto fail;
        }
        TRY(get_bool(so, "include_usage", &g->include_usage, err));
    }
    json_t *n = json_object_get(root, "n");
    if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) != 1)) {
        rc = rg_failf(err, RG_INVALID, "'n' must be 1 (one choice per request)");
        goto fail;
    }
    json_t *stop = json_object_get(root, "stop");
    if (stop && !json_is_null(stop)) {
        if (json_is_string(stop)) {
            if (json_string_length(stop) == 0 || json_string_length(stop) > MAX_STOP_BYTES) {
                rc = rg_failf(err, RG_INVALID, "'stop' must be 1-%d bytes", MAX_STOP_BYTES);
                goto fail;
            }
            if (!(g->stop[0] = dup_str(stop, MAX_STOP_BYTES, "stop", err))) {
                rc = RG_NOMEM;
                goto fail;
            }
            g->n_stop = 1;
        } else if (json_is_array(stop)) {
            if (json_array_size(stop) > 4) {
                rc = rg_failf(err, RG_INVALID, "'stop' has at most 4 strings");
                goto fail;
            }
            size_t i;
            json_t *s;
            json_array_foreach(stop, i, s) {
                if (!json_is_string(s) || json_string_length(s) == 0 ||
                    json_string_length(s) > MAX_STOP_BYTES) {
                    rc = rg_failf(err, RG_INVALID, "'stop[%zu]' must be a string of 1-%d bytes", i,
                                  MAX_STOP_BYTES);
                    goto fail;
                }
                if (!(g->stop[g->n_stop] = dup_str(s, MAX_STOP_BYTES, "stop", err))) {
                    rc = RG_NOMEM;
                    goto fail;
                }
                g->n_stop++;
            }
        } else {
            rc = rg_failf(err, RG_INVALID, "'stop' must be a string or an array of strings");
            goto fail;
        }
    }
    TRY(get_str(root, "collection", g->collection, sizeof g->collection, err));
    if (!g->collection[0] && !strncmp(g->model, "rag:", 4))
        snprintf(g->collection, sizeof g->collection, "%s", g->model + 4);
    if (g->collection[0] && !rg__valid_name(g->collection)) {
        rc = rg_failf(err, RG_INVALID,
                      "collection name '%s' is invalid: use 1-64 of [A-Za-z0-9_.-], not starting "
                      "with '.' or '-', no '__'",
                      g->collection);
        goto fail;
    }
    v = 5;
    TRY(get_int(root, "k", 1, 50, &v, NULL, err));
    g->k = (int)v;
    TRY(parse_structured(root, g, err));

    if (chat) {
        json_t *msgs = json_object_get(root, "messages");
        if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
            rc = rg_failf(err, RG_INVALID, "'messages' must be a non-empty array");
            goto fail;
        }
        size_t cnt = json_array_size(msgs);
        if (cnt > MAX_MESSAGES) {
            rc = rg_failf(err, RG_LIMIT, "'messages' has %zu entries (max %d)", cnt, MAX_MESSAGES);
            goto fail;
        }
        g->msgs = calloc(cnt, sizeof *g->msgs);
        if (!g->msgs) {
            rc = rg_failf(err, RG_NOMEM, "out of memory");
            goto fail;
        }
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m) {
            if (!json_is_object(m)) {
                rc = rg_failf(err, RG_INVALID, "'messages[%zu]' must be an object", i);
                goto fail;
            }
            json_t *role = json_object_get(m, "role");
            const char *r = json_string_value(role);
            if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
                       strcmp(r, "developer") && strcmp(r, "tool"))) {
                rc = rg_failf(err, RG_INVALID,
                              "'messages[%zu].role' must be system, developer, user, assistant "
                              "or tool",
                              i);
                goto fail;
            }
            snprintf(g->msgs[i].role, sizeof g->msgs[i].role, "%s",
                     !strcmp(r, "developer") ? "system" : r);
            json_t *c = json_object_get(m, "content");
            json_t *tc = json_object_get(m, "tool_calls");
            if (tc && !json_is_null(tc)) {
                if (strcmp(r, "assistant")) {
                    rc = rg_failf(err, RG_INVALID, "'messages[%zu].tool_calls' is only for assistant messages", i);
                    goto fail;
                }
                TRY(check_tool_calls(tc, i, err));
                g->msgs[i].tool_calls = json_incref(tc);
            }
            if (!strcmp(r, "tool")) {
                TRY(get_str(m, "tool_call_id", g->msgs[i].tool_call_id, sizeof g->msgs[i].tool_call_id, err));
                TRY(get_str(m, "name", g->msgs[i].name, sizeof g->msgs[i].name, err));
            }
            if (!c) {
                if (!g->msgs[i].tool_calls) {
                    rc = rg_failf(err, RG_INVALID, "'messages[%zu].content' is missing", i);
                    goto fail;
                }
                c = json_null();
            }
            g->msgs[i].content = content_text(c, (int)i, err);
            g->n_msgs = (int)i + 1;
            if (!g->msgs[i].content) {
                rc = err ? err->code : RG_INVALID;
                if (rc == RG_OK) rc = RG_INVALID;
                goto fail;
            }
        }
    } else {
        json_t *p = json_object_get(root, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            rc = rg_failf(err, RG_INVALID, "'prompt' must be a string");
            goto fail;
        }
        if (!(g->prompt = dup_str(p, RG_MAX_JSON_BYTES, "prompt", err))) {
            rc = RG_LIMIT;
            goto fail;
        }
    }
    json_decref(root);
    return RG_OK;
fail:
    json_decref(root);
    rg__gen_req_free(g);
    return rc;
#undef TRY
}

void rg__search_req_free(rg__search_req *s) {
    free(s->query);
    json_decref(s->filter);
    memset(s, 0, sizeof *s);
}

rg_status rg__parse_search(const char *body, size_t len, rg__search_req *s, rg_err *err) {
    memset(s, 0, sizeof *s);
    s->k = 5;
    json_t *root = load(body, len, err); /* mode "" = the collection's default */
    if (!root) return RG_FORMAT;
    rg_status rc = RG_OK;
    json_t *q = json_object_get(root, "query");
    if (!json_is_string(q) || json_string_length(q) == 0) {
        rc = rg_failf(err, RG_INVALID, "'query' must be a non-empty string");
        goto fail;
    }
    if (json_string_length(q) > RG_MAX_QUERY_BYTES) {
        rc = rg_failf(err, RG_LIMIT, "'query' is too long (max %u bytes)", RG_MAX_QUERY_BYTES);
        goto fail;
    }
    if (!(s->query = dup_str(q, RG_MAX_QUERY_BYTES, "query", err))) {
        rc = RG_NOMEM;
        goto fail;
    }
    long long k = 5;
    if ((rc = get_int(root, "k", 1, RG_MAX_TOP_K, &k, NULL, err)) != RG_OK) goto fail;
    if (json_object_get(root, "top_k") && !json_object_get(root, "k"))
        if ((rc = get_int(root, "top_k", 1, RG_MAX_TOP_K, &k, NULL, err)) != RG_OK) goto fail;
    s->k = (int)k;
    if ((rc = get_str(root, "mode", s->mode, sizeof s->mode, err)) != RG_OK) goto fail;
    if (s->mode[0] && strcmp(s->mode, "bm25") && strcmp(s->mode, "vector") &&
        strcmp(s->mode, "hybrid")) {
        rc = rg_failf(err, RG_INVALID, "'mode' must be bm25, vector or hybrid");
        goto fail;
    }
    json_t *f = json_object_get(root, "filter");
    if (f && !json_is_null(f)) {
        if (!json_is_object(f)) {
            rc = rg_failf(err, RG_INVALID, "'filter' must be an object");
            goto fail;
        }
        const char *key;
        json_t *val;
        json_object_foreach(f, key, val) {
            if (!json_is_string(val) && !json_is_number(val) && !json_is_boolean(val)) {
                rc = rg_failf(err, RG_INVALID,
                              "'filter.%.64s' must be a string, number or boolean (equality)", key);
                goto fail;
            }
        }
        s->filter = json_incref(f);
    }
    json_decref(root);
    return RG_OK;
fail:
    json_decref(root);
    rg__search_req_free(s);
    return rc;
}

void rg__doc_req_free(rg__doc_req *d) {
    free(d->text);
    json_decref(d->metadata);
    memset(d, 0, sizeof *d);
}

rg_status rg__parse_doc(const char *body, size_t len, rg__doc_req *d, rg_err *err) {
    memset(d, 0, sizeof *d);
    json_t *root = load(body, len, err);
    if (!root) return RG_FORMAT;
    rg_status rc = RG_OK;
    json_t *t = json_object_get(root, "text");
    if (!json_is_string(t) || json_string_length(t) == 0) {
        rc = rg_failf(err, RG_INVALID, "'text' must be a non-empty string");
        goto fail;
    }
    if (!(d->text = dup_str(t, RG_MAX_JSON_BYTES, "text", err))) {
        rc = RG_NOMEM;
        goto fail;
    }
    d->text_len = json_string_length(t);
    if ((rc = get_str(root, "source", d->source, sizeof d->source, err)) != RG_OK) goto fail;
    json_t *m = json_object_get(root, "metadata");
    if (m && !json_is_null(m)) {
        if (!json_is_object(m)) {
            rc = rg_failf(err, RG_INVALID, "'metadata' must be an object");
            goto fail;
        }
        d->metadata = json_incref(m);
    }
    json_decref(root);
    return RG_OK;
fail:
    json_decref(root);
    rg__doc_req_free(d);
    return rc;
}

void rg__embed_req_free(rg__embed_req *e) {
    for (int i = 0; i < e->n_inputs; i++) free(e->inputs[i]);
    free(e->inputs);
    memset(e, 0, sizeof *e);
}

rg_status rg__parse_embed(const char *body, size_t len, rg__embed_req *e, rg_err *err) {
    memset(e, 0, sizeof *e);
    json_t *root = load(body, len, err);
    if (!root) return RG_FORMAT;
    rg_status rc = RG_OK;
    if ((rc = get_str(root, "model", e->model, sizeof e->model, err)) != RG_OK) goto fail;
    const char *enc = json_string_value(json_object_get(root, "encoding_format"));
    if (json_object_get(root, "encoding_format") &&
        !json_is_null(json_object_get(root, "encoding_format")) &&
        (!enc || (strcmp(enc, "float") && strcmp(enc, "base64")))) {
        rc = rg_failf(err, RG_INVALID, "'encoding_format' must be float or base64");
        goto fail;
    }
    e->base64 = enc && !strcmp(enc, "base64");
    json_t *in = json_object_get(root, "input");
    size_t cnt = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (cnt == 0) {
        rc = rg_failf(err, RG_INVALID, "'input' must be a string or a non-empty array of strings");
        goto fail;
    }
    if (cnt > MAX_INPUTS) {
        rc = rg_failf(err, RG_LIMIT, "'input' has %zu entries (max %d)", cnt, MAX_INPUTS);
        goto fail;
    }
    e->inputs = calloc(cnt, sizeof *e->inputs);
    if (!e->inputs) {
        rc = rg_failf(err, RG_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(s) || json_string_length(s) == 0) {
            rc = rg_failf(err, RG_INVALID, "'input[%zu]' must be a non-empty string", i);
            goto fail;
        }
        if (!(e->inputs[i] = dup_str(s, RG_MAX_CHUNK_BYTES * 4, "input", err))) {
            rc = RG_LIMIT;
            goto fail;
        }
        e->n_inputs = (int)i + 1;
    }
    json_decref(root);
    return RG_OK;
fail:
    json_decref(root);
    rg__embed_req_free(e);
    return rc;
}

rg_status rg__parse_collection(const char *body, size_t len, char *name, size_t cap, rg_err *err) {
    json_t *root = load(body, len, err);
    if (!root) return RG_FORMAT;
    name[0] = 0;
    rg_status rc = get_str(root, "name", name, cap, err);
    if (rc == RG_OK && !name[0]) rc = rg_failf(err, RG_INVALID, "'name' must be a non-empty string");
    if (rc == RG_OK && !rg__valid_name(name))
        rc = rg_failf(err, RG_INVALID,
                      "'name' is invalid: use 1-64 of [A-Za-z0-9_.-], not starting with '.' or "
                      "'-', no '__'");
    json_decref(root);
    return rc;
}

/* The settings a collection is created with: {"redact": true} and an
 * optional "redact_policy" object (a guard policy, validated by opening
 * it).  *settings: malloc'd JSON text, NULL when none were asked for. */
rg_status rg__parse_collection_settings(const char *body, size_t len, char **settings,
                                        rg_err *err) {
    *settings = NULL;
    json_t *root = load(body, len, err);
    if (!root) return RG_FORMAT;
    rg_status rc = RG_OK;
    json_t *red = json_object_get(root, "redact");
    json_t *pol = json_object_get(root, "redact_policy");
    if (red && !json_is_boolean(red) && !json_is_null(red))
        rc = rg_failf(err, RG_INVALID, "'redact' must be true or false");
    else if (pol && !json_is_object(pol) && !json_is_null(pol))
        rc = rg_failf(err, RG_INVALID, "'redact_policy' must be an object (a guard policy)");
    int on = json_is_true(red) || json_is_object(pol);
    if (rc == RG_OK && json_is_false(red) && json_is_object(pol))
        rc = rg_failf(err, RG_INVALID, "'redact_policy' given with 'redact': false");
    if (rc == RG_OK && on) {
        json_t *set = json_pack("{s:b}", "redact", 1);
        if (json_is_object(pol)) {
            char *pt = json_dumps(pol, JSON_COMPACT);
            rg_guard *g = NULL;
            rc = pt ? rg_guard_open(&g, pt, strlen(pt), err) : rg_failf(err, RG_NOMEM, "out of memory");
            if (rc != RG_OK && pt) rg_err_prefix(err, "'redact_policy'");
            if (rc != RG_OK) rc = RG_INVALID;
            rg_guard_free(g);
            free(pt);
            json_object_set(set, "redact_policy", pol);
        }
        if (rc == RG_OK) {
            *settings = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
            if (!*settings) rc = rg_failf(err, RG_NOMEM, "out of memory");
        }
        json_decref(set);
    }
    json_decref(root);
    return rc;
}
