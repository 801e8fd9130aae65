/* toolcall.c - OpenAI function calling with the local model: tools
 * rendered into the prompt in the chat family's format, the conversation's
 * tool calls and tool results rendered back, the model's output parsed
 * into `tool_calls`, and a grammar that forces a valid call
 * (tool_choice "required" or a named function).
 *
 * Formats (what the model is told to write, and what is parsed):
 *   hermes  (ChatML: Qwen2.5, Hermes; also the generic format for the
 *           families without one: llama2, phi3, gemma)
 *           <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>
 *   llama3  {"name": "f", "parameters": {...}}  (Llama 3.1 JSON calling)
 *   mistral [TOOL_CALLS] [{"name": "f", "arguments": {...}}]
 * Model output is hostile text: a call is taken only when it parses as
 * JSON, names a function of the request's `tools` and its arguments are
 * an object (or a string holding one); anything else stays content. */
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/limits.h"
#include "grammar/grammar.h"
#include "llm/llm.h"
#include "server/server_int.h"

int rg__tool_fmt_of(int chat_family) {
    switch (chat_family) {
    case RG_LLM_CHAT_LLAMA3: return RG__TF_LLAMA3;
    case RG_LLM_CHAT_MISTRAL: return RG__TF_MISTRAL;
    default: return RG__TF_HERMES;
    }
}

const char *rg__tool_marker(int fmt) {
    switch (fmt) {
    case RG__TF_LLAMA3: return "{\"name\"";
    case RG__TF_MISTRAL: return "[TOOL_CALLS]";
    default: return "<tool_call>";
    }
}

static const char *fn_name(json_t *tool) {
    return json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
}

static json_t *find_tool(json_t *tools, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) if (name && !strcmp(fn_name(t), name)) return t;
    return NULL;
}

/* ---------------------------------------------------------------- */
/* prompt */

/* Each tool as compact JSON followed by sep. */
static void put_each(rg_buf *o, json_t *tools, const char *sep) {
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        char *s = json_dumps(t, JSON_COMPACT);
        if (s) rg_buf_printf(o, "%s%s", s, sep);
        free(s);
    }
}

rg_status rg__tools_system(int fmt, json_t *tools, rg_buf *o) {
    rg_status rc = RG_OK;
    switch (fmt) {
    case RG__TF_LLAMA3:
        rg_buf_puts(o, "You have access to the following functions. To call a function, respond "
                       "with only a JSON object in the format {\"name\": function name, "
                       "\"parameters\": dictionary of argument name and its value}. Do not use "
                       "variables.\n\n");
        put_each(o, tools, "\n\n");
        break;
    case RG__TF_MISTRAL:
        rc = rg_buf_puts(o, "[AVAILABLE_TOOLS] ");
        {
            char *s = json_dumps(tools, JSON_COMPACT);
            if (s) rg_buf_puts(o, s);
            free(s);
        }
        rg_buf_puts(o, "[/AVAILABLE_TOOLS]\nTo call functions, reply with [TOOL_CALLS] followed by "
                       "a JSON array of {\"name\": ..., \"arguments\": {...}} objects.");
        break;
    default:
        rg_buf_puts(o, "# Tools\n\nYou may call one or more functions to assist with the user "
                       "query.\n\nYou are provided with function signatures within <tools></tools> "
                       "XML tags:\n<tools>\n");
        put_each(o, tools, "\n");
        rc = rg_buf_puts(o, "</tools>\n\nFor each function call, return a json object with function "
                            "name and arguments within <tool_call></tool_call> XML tags:\n"
                            "<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                            "<args-json-object>}\n</tool_call>");
        break;
    }
    return rc;
}

/* The arguments of a call as the model wrote them: OpenAI keeps them as
 * a JSON string, the prompt formats as an object. */
static json_t *call_args(json_t *call) {
    json_t *a = json_object_get(json_object_get(call, "function"), "arguments");
    if (json_is_string(a)) {
        json_t *o = json_loads(json_string_value(a), JSON_DECODE_ANY, NULL);
        if (o) return o;
        return json_incref(a);
    }
    return a ? json_incref(a) : json_object();
}

rg_status rg__tools_history(int fmt, const rg__msg *in, int n, rg__msg **out, rg_err *err) {
    *out = calloc((size_t)n + 1, sizeof **out);
    if (!*out) return rg_failf(err, RG_NOMEM, "out of memory");
    rg__msg *m = *out;
    for (int i = 0; i < n; i++) {
        rg_buf b;
        rg_buf_init(&b, RG_MAX_JSON_BYTES);
        snprintf(m[i].role, sizeof m[i].role, "%s", in[i].role);
        if (in[i].tool_calls) {
            if (in[i].content && *in[i].content) rg_buf_printf(&b, "%s%s", in[i].content, fmt == RG__TF_HERMES ? "\n" : "");
            if (fmt == RG__TF_MISTRAL) rg_buf_puts(&b, "[TOOL_CALLS] [");
            size_t k;
            json_t *c;
            json_array_foreach(in[i].tool_calls, k, c) {
                json_t *args = call_args(c);
                char *as = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
                json_decref(args);
                const char *name = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
                if (fmt == RG__TF_LLAMA3)
                    rg_buf_printf(&b, "%s{\"name\": \"%s\", \"parameters\": %s}", k ? "\n" : "", name, as ? as : "{}");
                else if (fmt == RG__TF_MISTRAL)
                    rg_buf_printf(&b, "%s{\"name\": \"%s\", \"arguments\": %s}", k ? ", " : "", name, as ? as : "{}");
                else
                    rg_buf_printf(&b, "%s<tool_call>\n{\"name\": \"%s\", \"arguments\": %s}\n</tool_call>",
                                  k ? "\n" : "", name, as ? as : "{}");
                free(as);
            }
            if (fmt == RG__TF_MISTRAL) rg_buf_puts(&b, "]");
        } else if (!strcmp(in[i].role, "tool")) {
            if (fmt == RG__TF_LLAMA3) {
                snprintf(m[i].role, sizeof m[i].role, "ipython");
                rg_buf_puts(&b, in[i].content);
            } else if (fmt == RG__TF_MISTRAL) {
                snprintf(m[i].role, sizeof m[i].role, "user");
                json_t *o = json_pack("{s:s, s:s}", "content", in[i].content, "call_id", in[i].tool_call_id);
                char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                json_decref(o);
                rg_buf_printf(&b, "[TOOL_RESULTS] %s[/TOOL_RESULTS]", s ? s : "{}");
                free(s);
            } else {
                snprintf(m[i].role, sizeof m[i].role, "user");
                rg_buf_printf(&b, "<tool_response>\n%s\n</tool_response>", in[i].content);
            }
        } else {
            rg_buf_puts(&b, in[i].content);
        }
        size_t len;
        m[i].content = b.data ? rg_buf_detach(&b, &len) : strdup("");
        if (!m[i].content) {
            rg__tools_history_free(m, n);
            *out = NULL;
            return rg_failf(err, RG_NOMEM, "out of memory");
        }
    }
    return RG_OK;
}

void rg__tools_history_free(rg__msg *m, int n) {
    if (!m) return;
    for (int i = 0; i < n; i++) free(m[i].content);
    free(m);
}

/* ---------------------------------------------------------------- */
/* forcing a call */

rg_status rg__tools_grammar(int fmt, json_t *tools, const char *only, int parallel, rg_grammar **out,
                            rg_err *err) {
    rg_buf g;
    rg_buf_init(&g, 1u << 24);
    rg_json_schema_common_gbnf(&g);
    rg_buf_puts(&g, "call ::= ");
    size_t i;
    json_t *t;
    int k = 0;
    json_array_foreach(tools, i, t) {
        const char *name = fn_name(t);
        if (only && strcmp(name, only)) continue;
        rg_buf_printf(&g, "%s\"{\\\"name\\\": \\\"%s\\\", \\\"%s\\\": \" f%zu \"}\"", k++ ? " | " : "", name,
                      fmt == RG__TF_LLAMA3 ? "parameters" : "arguments", i);
    }
    rg_buf_puts(&g, "\n");
    if (!k) {
        rg_buf_free(&g);
        return rg_failf(err, RG_INVALID, "tool_choice: no such function");
    }
    json_array_foreach(tools, i, t) {
        const char *name = fn_name(t);
        if (only && strcmp(name, only)) continue;
        char pre[24];
        snprintf(pre, sizeof pre, "f%u", (unsigned)i); /* i < RG_MAX_TOOLS */
        json_t *p = json_object_get(json_object_get(t, "function"), "parameters");
        rg_status rc;
        if (!json_is_object(p) || json_object_size(p) == 0) {
            rc = rg_buf_printf(&g, "%s ::= object\n", pre);
        } else {
            char *s = json_dumps(p, JSON_COMPACT);
            rc = s ? rg_json_schema_rules(s, strlen(s), pre, &g, err) : rg_failf(err, RG_NOMEM, "out of memory");
            free(s);
            if (rc) rg_err_prefix(err, "tools[%zu] (%s) parameters", i, name);
        }
        if (rc) {
            rg_buf_free(&g);
            return rc;
        }
    }
    const char *more = parallel ? "{0,3}" : "{0,0}";
    switch (fmt) {
    case RG__TF_LLAMA3:
        rg_buf_puts(&g, "root ::= call\n");
        break;
    case RG__TF_MISTRAL:
        rg_buf_printf(&g, "root ::= \"[TOOL_CALLS] [\" call ( \", \" call )%s \"]\"\n", more);
        break;
    default:
        rg_buf_printf(&g, "block ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n"
                          "root ::= block ( \"\\n\" block )%s\n", more);
        break;
    }
    rg_status rc = rg_grammar_parse(g.data, g.len, "root", out, err);
    rg_buf_free(&g);
    return rc;
}

/* ---------------------------------------------------------------- */
/* parsing the model's output */

static void skip_ws(const char *s, size_t n, size_t *i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\n' || s[*i] == '\t' || s[*i] == '\r')) (*i)++;
}

/* One JSON value at s[*i..n); advances *i past it.  NULL when none. */
static json_t *json_at(const char *s, size_t n, size_t *i) {
    json_error_t je;
    json_t *v = json_loadb(s + *i, n - *i, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
    if (v) *i += je.position;
    return v;
}

/* {"name", "arguments"|"parameters"} -> an OpenAI tool call, or NULL. */
static json_t *to_call(json_t *tools, json_t *o) {
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!json_is_object(o) || !find_tool(tools, name)) return NULL;
    json_t *a = json_object_get(o, "arguments");
    if (!a) a = json_object_get(o, "parameters");
    json_t *args = NULL;
    if (!a) args = json_object();
    else if (json_is_object(a)) args = json_incref(a);
    else if (json_is_string(a)) {
        args = json_loads(json_string_value(a), 0, NULL);
        if (args && !json_is_object(args)) json_decref(args), args = NULL;
    }
    if (!args) return NULL;
    char *as = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    if (!as) return NULL;
    uint8_t h[32];
    char hex[25];
    static _Atomic uint64_t counter;
    uint64_t seed[3] = {(uint64_t)(uintptr_t)o, rg_now_ns(), atomic_fetch_add(&counter, 1)};
    rg_sha256(seed, sizeof seed, h);
    rg_hex(h, 12, hex);
    char id[40];
    snprintf(id, sizeof id, "call_%s", hex);
    json_t *c = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function", "name",
                          name, "arguments", as);
    free(as);
    return c;
}

json_t *rg__tools_parse(int fmt, json_t *tools, const char *s, size_t n, size_t *content_end) {
    const char *mk = rg__tool_marker(fmt);
    const char *at = memmem(s, n, mk, strlen(mk));
    *content_end = n;
    if (!at) return NULL;
    json_t *calls = json_array();
    size_t i = (size_t)(at - s);
    size_t start = i;
    if (fmt == RG__TF_MISTRAL) {
        i += strlen(mk);
        skip_ws(s, n, &i);
        json_t *arr = json_at(s, n, &i);
        size_t k;
        json_t *o;
        if (json_is_array(arr))
            json_array_foreach(arr, k, o) {
                json_t *c = to_call(tools, o);
                if (c && json_array_size(calls) < RG_MAX_TOOL_CALLS) json_array_append_new(calls, c);
                else json_decref(c);
            }
        json_decref(arr);
    } else {
        for (;;) {
            if (fmt == RG__TF_HERMES) i += strlen(mk);
            skip_ws(s, n, &i);
            json_t *o = json_at(s, n, &i);
            json_t *c = o ? to_call(tools, o) : NULL;
            json_decref(o);
            if (!c) break;
            if (json_array_size(calls) >= RG_MAX_TOOL_CALLS) {
                json_decref(c);
                break;
            }
            json_array_append_new(calls, c);
            skip_ws(s, n, &i);
            if (fmt == RG__TF_HERMES) {
                if (n - i >= 12 && !memcmp(s + i, "</tool_call>", 12)) i += 12;
                skip_ws(s, n, &i);
                if (n - i < strlen(mk) || memcmp(s + i, mk, strlen(mk))) break;
            } else {
                if (i < n && s[i] == ';') i++; /* llama3: calls separated by ';' */
                skip_ws(s, n, &i);
                if (n - i < strlen(mk) || memcmp(s + i, mk, strlen(mk))) break;
            }
        }
    }
    if (json_array_size(calls) == 0) {
        json_decref(calls);
        return NULL;
    }
    while (start > 0 && (s[start - 1] == ' ' || s[start - 1] == '\n')) start--;
    *content_end = start;
    return calls;
}
