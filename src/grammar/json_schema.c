/* json_schema.c - JSON Schema -> GBNF.
 *
 * Whitespace is limited to one optional space and numbers to 16 digits so
 * that a constrained model always has a short way to finish.  Objects
 * list required properties in schema order, then optional ones in order
 * (each may be skipped); additionalProperties defaults to false. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "grammar/grammar.h"

#define SCHEMA_MAX_DEPTH 32

typedef struct {
    rg_buf *out;
    json_t *root;
    const char *prefix; /* rule names start with it ("" for a whole grammar) */
    int n_rules;
    rg_err *err;
    rg_status rc;
} gen;

static const char *COMMON =
    "ws ::= \" \"?\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws ( string ws \":\" ws value ( ws \",\" ws string ws \":\" ws value )* )? ws \"}\"\n"
    "array ::= \"[\" ws ( value ( ws \",\" ws value )* )? ws \"]\"\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    /* \u escapes of UTF-16 surrogates are left out: a lone one is not
     * valid JSON text for strict parsers, and the raw character is
     * always available instead */
    "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )\n"
    "number ::= integer ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?\n"
    "integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n";

static int fail(gen *G, const char *fmt, const char *what) {
    if (!G->rc) G->rc = rg_failf(G->err, RG_UNSUPPORTED, fmt, what);
    return -1;
}

/* Appends s as a GBNF string literal. */
static void literal(rg_buf *b, const char *s, size_t n) {
    rg_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') rg_buf_printf(b, "\\%c", c);
        else if (c < 0x20) rg_buf_printf(b, "\\x%02x", c);
        else rg_buf_putc(b, (char)c);
    }
    rg_buf_putc(b, '"');
}

/* A JSON value as a literal (const / enum members). */
static int json_literal(gen *G, json_t *v, rg_buf *b) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return fail(G, "json schema: cannot encode %s", "const/enum value");
    literal(b, s, strlen(s));
    free(s);
    return 0;
}

static int new_rule(gen *G, char name[32]) {
    snprintf(name, 32, "%ss%d", G->prefix, G->n_rules++);
    return 0;
}

static int compile(gen *G, json_t *schema, char name[32], int depth);

static json_t *resolve_ref(gen *G, const char *ref) {
    const char *p = NULL;
    if (!strncmp(ref, "#/definitions/", 14)) p = "definitions", ref += 14;
    else if (!strncmp(ref, "#/$defs/", 8)) p = "$defs", ref += 8;
    if (!p) return NULL;
    return json_object_get(json_object_get(G->root, p), ref);
}

static int compile_object(gen *G, json_t *schema, rg_buf *b, int depth) {
    json_t *props = json_object_get(schema, "properties");
    json_t *req = json_object_get(schema, "required");
    json_t *addl = json_object_get(schema, "additionalProperties");
    if (!json_is_object(props) || json_object_size(props) == 0) {
        rg_buf_puts(b, "object");
        return 0;
    }
    if (addl && !json_is_false(addl))
        return fail(G, "json schema: %s with properties is not supported", "additionalProperties");
    size_t np = json_object_size(props);
    char (*kv)[32] = calloc(np, 32);
    int *is_req = calloc(np, sizeof(int));
    const char **keys = calloc(np, sizeof(char *));
    if (!kv || !is_req || !keys) {
        free(kv), free(is_req), free(keys);
        return fail(G, "json schema: %s", "out of memory");
    }
    const char *key;
    json_t *sub;
    size_t i = 0;
    int rc = 0;
    json_object_foreach(props, key, sub) {
        keys[i] = key;
        size_t j;
        json_t *r;
        json_array_foreach(req, j, r) if (json_is_string(r) && !strcmp(json_string_value(r), key)) is_req[i] = 1;
        char vname[32];
        if ((rc = compile(G, sub, vname, depth + 1))) break;
        new_rule(G, kv[i]);
        rg_buf vb;
        rg_buf_init(&vb, 0);
        rg_buf_printf(&vb, "%s ::= ", kv[i]);
        json_t *kj = json_string(key);
        char *ks = kj ? json_dumps(kj, JSON_ENCODE_ANY) : NULL;
        json_decref(kj);
        literal(&vb, ks ? ks : "\"\"", ks ? strlen(ks) : 2);
        free(ks);
        rg_buf_printf(&vb, " ws \":\" ws %s\n", vname);
        rg_buf_append(G->out, vb.data, vb.len);
        rg_buf_free(&vb);
        i++;
    }
    if (!rc) {
        /* required first (schema order), then optional ones, each skippable */
        int n_req = 0;
        for (size_t k = 0; k < np; k++) n_req += is_req[k];
        char tail[32] = "";
        /* T ::= ( "," ws kv_o )? T' for the optional list, built back to front */
        for (size_t k = np; k-- > 0;) {
            if (is_req[k]) continue;
            char t[32];
            new_rule(G, t);
            rg_buf_printf(G->out, "%s ::= ( ws \",\" ws %s )? %s\n", t, kv[k], tail);
            snprintf(tail, sizeof tail, "%s", t);
        }
        rg_buf_puts(b, "\"{\" ws ");
        if (n_req) {
            int first = 1;
            for (size_t k = 0; k < np; k++) {
                if (!is_req[k]) continue;
                rg_buf_printf(b, first ? "%s " : "ws \",\" ws %s ", kv[k]);
                first = 0;
            }
            rg_buf_printf(b, "%s ws \"}\"", tail);
        } else {
            /* S_i ::= kv_i T_(i+1) | S_(i+1): the first property present
             * carries no comma */
            char next[32] = "";
            for (size_t k = np; k-- > 0;) {
                char s[32], t[32] = "";
                /* tail of optionals after k */
                if (k + 1 < np) {
                    new_rule(G, t);
                    rg_buf_printf(G->out, "%s ::= ", t);
                    for (size_t m = k + 1; m < np; m++) rg_buf_printf(G->out, "( ws \",\" ws %s )? ", kv[m]);
                    rg_buf_puts(G->out, "\n");
                }
                new_rule(G, s);
                if (next[0]) rg_buf_printf(G->out, "%s ::= %s %s | %s\n", s, kv[k], t, next);
                else rg_buf_printf(G->out, "%s ::= ( %s %s )?\n", s, kv[k], t);
                snprintf(next, sizeof next, "%s", s);
            }
            rg_buf_printf(b, "%s ws \"}\"", next);
        }
    }
    free(kv);
    free(is_req);
    free(keys);
    return rc;
}

static int compile_array(gen *G, json_t *schema, rg_buf *b, int depth) {
    json_t *items = json_object_get(schema, "items");
    char item[32] = "value";
    if (items && compile(G, items, item, depth + 1)) return -1;
    json_int_t mn = json_integer_value(json_object_get(schema, "minItems"));
    json_t *mxv = json_object_get(schema, "maxItems");
    json_int_t mx = json_is_integer(mxv) ? json_integer_value(mxv) : -1;
    if (mn < 0 || mn > 1000 || mx > 1000 || (mx >= 0 && mx < mn))
        return fail(G, "json schema: %s out of range (0..1000)", "minItems/maxItems");
    if (mx == 0) {
        rg_buf_puts(b, "\"[\" ws \"]\"");
        return 0;
    }
    rg_buf_printf(b, "\"[\" ws %s%s ( ws \",\" ws %s )", mn == 0 ? "( " : "", item, item);
    if (mx < 0) rg_buf_printf(b, "{%lld,}", (long long)(mn > 0 ? mn - 1 : 0));
    else rg_buf_printf(b, "{%lld,%lld}", (long long)(mn > 0 ? mn - 1 : 0), (long long)(mx - 1));
    rg_buf_printf(b, "%s ws \"]\"", mn == 0 ? " )?" : "");
    return 0;
}

static int compile_type(gen *G, json_t *schema, const char *type, rg_buf *b, int depth) {
    if (!strcmp(type, "object")) return compile_object(G, schema, b, depth);
    if (!strcmp(type, "array")) return compile_array(G, schema, b, depth);
    if (!strcmp(type, "string")) {
        json_t *mnv = json_object_get(schema, "minLength"), *mxv = json_object_get(schema, "maxLength");
        if (!mnv && !mxv) {
            rg_buf_puts(b, "string");
            return 0;
        }
        json_int_t mn = json_integer_value(mnv), mx = json_is_integer(mxv) ? json_integer_value(mxv) : -1;
        if (mn < 0 || mn > 10000 || mx > 10000 || (mx >= 0 && mx < mn))
            return fail(G, "json schema: %s out of range (0..10000)", "minLength/maxLength");
        if (mx < 0) rg_buf_printf(b, "\"\\\"\" char{%lld,} \"\\\"\"", (long long)mn);
        else rg_buf_printf(b, "\"\\\"\" char{%lld,%lld} \"\\\"\"", (long long)mn, (long long)mx);
        return 0;
    }
    if (!strcmp(type, "number") || !strcmp(type, "integer") || !strcmp(type, "boolean") ||
        !strcmp(type, "null")) {
        rg_buf_puts(b, type);
        return 0;
    }
    return fail(G, "json schema: unknown type '%s'", type);
}

/* Compiles schema into a new rule; writes its name. */
static int compile(gen *G, json_t *schema, char name[32], int depth) {
    if (depth > SCHEMA_MAX_DEPTH) return fail(G, "json schema: nested deeper than %s", "32 levels");
    if (json_is_true(schema) || (json_is_object(schema) && json_object_size(schema) == 0)) {
        snprintf(name, 32, "value");
        return 0;
    }
    if (!json_is_object(schema)) return fail(G, "json schema: %s must be an object", "a schema");
    json_t *ref = json_object_get(schema, "$ref");
    if (ref) {
        json_t *target = json_is_string(ref) ? resolve_ref(G, json_string_value(ref)) : NULL;
        if (!target) return fail(G, "json schema: unresolvable $ref %s", json_is_string(ref) ? json_string_value(ref) : "?");
        return compile(G, target, name, depth + 1);
    }
    rg_buf b;
    rg_buf_init(&b, 0);
    int rc = 0;
    json_t *v;
    if ((v = json_object_get(schema, "const"))) {
        rc = json_literal(G, v, &b);
    } else if ((v = json_object_get(schema, "enum"))) {
        if (!json_is_array(v) || json_array_size(v) == 0) rc = fail(G, "json schema: %s must be a non-empty array", "enum");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (rc) break;
            if (i) rg_buf_puts(&b, " | ");
            rc = json_literal(G, e, &b);
        }
    } else if ((v = json_object_get(schema, "anyOf")) || (v = json_object_get(schema, "oneOf"))) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char sub[32];
            if ((rc = compile(G, e, sub, depth + 1))) break;
            rg_buf_printf(&b, "%s%s", i ? " | " : "", sub);
        }
    } else {
        json_t *t = json_object_get(schema, "type");
        if (json_is_string(t)) {
            rc = compile_type(G, schema, json_string_value(t), &b, depth);
        } else if (json_is_array(t)) {
            size_t i;
            json_t *e;
            json_array_foreach(t, i, e) {
                if (!json_is_string(e)) { rc = fail(G, "json schema: %s must hold strings", "type"); break; }
                rg_buf_puts(&b, i ? " | ( " : "( ");
                if ((rc = compile_type(G, schema, json_string_value(e), &b, depth))) break;
                rg_buf_puts(&b, " )");
            }
        } else if (json_object_get(schema, "properties")) {
            rc = compile_object(G, schema, &b, depth);
        } else if (json_object_get(schema, "items")) {
            rc = compile_array(G, schema, &b, depth);
        } else {
            rg_buf_puts(&b, "value");
        }
    }
    if (!rc) {
        new_rule(G, name);
        rg_buf_printf(G->out, "%s ::= %s\n", name, b.data ? b.data : "");
    }
    rg_buf_free(&b);
    return rc;
}

rg_status rg_json_schema_to_gbnf(const char *schema, size_t len, rg_buf *out, rg_err *err) {
    json_error_t je;
    json_t *root = json_loadb(schema, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rg_failf(err, RG_FORMAT, "json schema: line %d, column %d: %s", je.line, je.column, je.text);
    gen G = {out, root, "", 0, err, RG_OK};
    char top[32];
    rg_buf_puts(out, COMMON);
    if (compile(&G, root, top, 0) == 0) rg_buf_printf(out, "root ::= %s\n", top);
    json_decref(root);
    return G.rc;
}

void rg_json_schema_common_gbnf(rg_buf *out) { rg_buf_puts(out, COMMON); }

rg_status rg_json_schema_rules(const char *schema, size_t len, const char *prefix, rg_buf *out,
                               rg_err *err) {
    size_t pl = strlen(prefix);
    if (pl == 0 || pl > 16) return rg_failf(err, RG_INVALID, "json schema: rule prefix must be 1-16 bytes");
    for (size_t i = 0; i < pl; i++)
        if (!((prefix[i] >= 'a' && prefix[i] <= 'z') || (prefix[i] >= '0' && prefix[i] <= '9') || prefix[i] == '-'))
            return rg_failf(err, RG_INVALID, "json schema: rule prefix must be [a-z0-9-]");
    json_error_t je;
    json_t *root = json_loadb(schema, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rg_failf(err, RG_FORMAT, "json schema: line %d, column %d: %s", je.line, je.column, je.text);
    char pre[24];
    snprintf(pre, sizeof pre, "%s-", prefix);
    gen G = {out, root, pre, 0, err, RG_OK};
    char top[32];
    if (compile(&G, root, top, 0) == 0) rg_buf_printf(out, "%s ::= %s\n", prefix, top);
    json_decref(root);
    return G.rc;
}

rg_status rg_grammar_from_json_schema(const char *schema, size_t len, rg_grammar **out, rg_err *err) {
    rg_buf b;
    rg_buf_init(&b, 1 << 24);
    rg_status rc = rg_json_schema_to_gbnf(schema, len, &b, err);
    if (!rc) rc = rg_grammar_parse(b.data, b.len, "root", out, err);
    rg_buf_free(&b);
    return rc;
}

rg_status rg_grammar_json_object(rg_grammar **out, rg_err *err) {
    rg_buf b;
    rg_buf_init(&b, 0);
    rg_buf_puts(&b, COMMON);
    rg_buf_puts(&b, "root ::= object\n");
    rg_status rc = rg_grammar_parse(b.data, b.len, "root", out, err);
    rg_buf_free(&b);
    return rc;
}
