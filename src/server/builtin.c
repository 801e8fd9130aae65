/* builtin.c - tools the server itself runs for a model ("tool_execution":
 * "server"): search_collection (retrieval over the key's collections,
 * cited chunks), sql_query (read-only SQL over the databases attached with
 * --sql-db NAME=PATH, src/tools/sql.c) and calculator (src/tools/calc.c).
 *
 * Invariant: a tool runs only when the request's API key lists it in its
 * allowlist (docs/tools.md); on an open server only --open-tools does.
 * Every attempt is counted in ragd_tool_calls_total{tool,result}. */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/utf8.h"
#include "server/server_int.h"
#include "tools/tools.h"

static const char *const names[RG__BT_COUNT] = {"search_collection", "sql_query", "calculator"};

const char *rg__builtin_name(int i) { return i >= 0 && i < RG__BT_COUNT ? names[i] : "?"; }

int rg__builtin_find(const char *name) {
    for (int i = 0; i < RG__BT_COUNT; i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

rg_status rg__builtin_parse_list(const char *list, unsigned *mask, rg_err *err) {
    *mask = 0;
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < RG__BT_COUNT; i++)
            if (strlen(names[i]) == n && !strncmp(p, names[i], n)) found = i;
        if (n == 3 && !strncmp(p, "all", 3)) {
            *mask = (1u << RG__BT_COUNT) - 1;
        } else if (n && found < 0) {
            return rg_failf(err, RG_INVALID,
                            "unknown tool '%.*s' (search_collection, sql_query, calculator, all)", (int)n, p);
        } else if (n) {
            *mask |= 1u << found;
        }
        p = e ? e + 1 : NULL;
    }
    return RG_OK;
}

/* ---- attached SQL databases ---- */

rg_status rg__sqldbs_open(rg_server *s, const char *const *specs, int n, rg_err *err) {
    if (n <= 0) return RG_OK;
    s->sqldbs = calloc((size_t)n, sizeof *s->sqldbs);
    if (!s->sqldbs) return rg_failf(err, RG_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *spec = specs[i];
        const char *eq = strchr(spec, '=');
        char name[64];
        if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof name || !eq[1])
            return rg_failf(err, RG_INVALID, "--sql-db '%s': expected NAME=PATH", spec);
        snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
        if (!rg__valid_name(name))
            return rg_failf(err, RG_INVALID, "--sql-db '%s': NAME must be 1-63 of [A-Za-z0-9_.-]", spec);
        for (int j = 0; j < i; j++)
            if (!strcmp(rg_sqltool_name(s->sqldbs[j].tool), name))
                return rg_failf(err, RG_INVALID, "--sql-db: database '%s' given twice", name);
        rg_status rc = rg_sqltool_open(name, eq + 1, &s->sqldbs[i].tool, err);
        if (rc) return rg_err_prefix(err, "--sql-db %s", spec);
        pthread_mutex_init(&s->sqldbs[i].mu, NULL);
        s->n_sqldbs = i + 1;
    }
    return RG_OK;
}

void rg__sqldbs_close(rg_server *s) {
    for (int i = 0; i < s->n_sqldbs; i++) {
        rg_sqltool_close(s->sqldbs[i].tool);
        pthread_mutex_destroy(&s->sqldbs[i].mu);
    }
    free(s->sqldbs);
    s->sqldbs = NULL;
    s->n_sqldbs = 0;
}

/* ---- definitions given to the model ---- */

/* The tenant's collection names (client names, prefix removed). */
static json_t *tenant_collections(rg_server *s, const char *tenant) {
    json_t *names = json_array();
    rg_store_collection *cs = NULL;
    size_t n = 0, tl = strlen(tenant);
    rg_err err;
    if (rg_store_collection_list(rg__be_store(s), &cs, &n, &err) != RG_OK) return names;
    for (size_t i = 0; i < n && json_array_size(names) < 256; i++) {
        const char *name = cs[i].name;
        if (tl) {
            if (strncmp(name, tenant, tl) || strncmp(name + tl, "__", 2)) continue;
            name += tl + 2;
        } else if (strstr(name, "__")) {
            continue;
        }
        json_array_append_new(names, json_string(name));
    }
    rg_store_collections_free(cs, n);
    return names;
}

json_t *rg__builtin_def(rg_server *s, int which, const char *tenant) {
    json_t *params = NULL;
    char desc[4096];
    switch (which) {
    case RG__BT_SEARCH:
        snprintf(desc, sizeof desc, "Searches a document collection and returns the best matching chunks, "
                                    "numbered for citation as [n].");
    {
        /* the key's collections as an enum: a constrained call always names one */
        json_t *colls = tenant_collections(s, tenant);
        json_t *cp = json_array_size(colls) ? json_pack("{s:o}", "enum", colls)
                                            : (json_decref(colls), json_pack("{s:s, s:i}", "type", "string", "maxLength", 64));
        params = json_pack("{s:s, s:{s:o, s:{s:s, s:i}, s:{s:s, s:i, s:i}}, s:[s, s]}", "type",
                           "object", "properties", "collection", cp, "query",
                           "type", "string", "maxLength", 300, "k", "type", "integer", "minimum", 1,
                           "maximum", 10, "required", "collection", "query");
    }
        break;
    case RG__BT_SQL: {
        rg_buf b;
        rg_buf_init(&b, sizeof desc - 1);
        rg_buf_puts(&b, "Runs one read-only SQL (SQLite) query and returns the rows as JSON. Databases:");
        json_t *dbs = json_array();
        for (int i = 0; i < s->n_sqldbs; i++) {
            const char *n = rg_sqltool_name(s->sqldbs[i].tool);
            json_array_append_new(dbs, json_string(n));
            rg_buf_printf(&b, "\n%s:\n", n);
            rg_err err;
            pthread_mutex_lock(&s->sqldbs[i].mu);
            rg_sqltool_schema(s->sqldbs[i].tool, &b, &err);
            pthread_mutex_unlock(&s->sqldbs[i].mu);
        }
        snprintf(desc, sizeof desc, "%.*s", (int)b.len, b.data ? b.data : "");
        rg_buf_free(&b);
        if (json_array_size(dbs) == 0) json_array_append_new(dbs, json_string("none"));
        params = json_pack("{s:s, s:{s:{s:o}, s:{s:s, s:i}}, s:[s, s]}", "type", "object", "properties",
                           "database", "enum", dbs, "query", "type", "string", "maxLength", 500, "required",
                           "database", "query");
        break;
    }
    default:
        snprintf(desc, sizeof desc, "Evaluates an arithmetic expression: numbers, + - * / %% ^, parentheses, "
                                    "sqrt abs ln log10 log2 exp sin cos tan floor ceil round min max pow, pi, e.");
        params = json_pack("{s:s, s:{s:{s:s, s:i}}, s:[s]}", "type", "object", "properties", "expression", "type",
                           "string", "maxLength", 200, "required", "expression");
        break;
    }
    return json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name", names[which],
                     "description", desc, "parameters", params);
}

/* ---- running one call ---- */

static json_t *err_result(const char *msg) { return json_pack("{s:s}", "error", msg); }

static json_t *run_calc(json_t *args) {
    const char *e = json_string_value(json_object_get(args, "expression"));
    if (!e) return err_result("'expression' (a string) is required");
    double v;
    rg_err err;
    if (rg_calc_eval(e, strlen(e), &v, &err) != RG_OK) return err_result(rg_err_text(&err));
    return json_pack("{s:f}", "result", v);
}

static json_t *run_sql(rg_server *s, json_t *args) {
    const char *db = json_string_value(json_object_get(args, "database"));
    const char *q = json_string_value(json_object_get(args, "query"));
    if (!q) return err_result("'query' (a string) is required");
    for (int i = 0; i < s->n_sqldbs; i++) {
        if (db && strcmp(db, rg_sqltool_name(s->sqldbs[i].tool))) continue;
        rg_buf out;
        rg_buf_init(&out, RG_MAX_TOOL_RESULT_BYTES);
        rg_err err;
        pthread_mutex_lock(&s->sqldbs[i].mu);
        rg_status rc = rg_sqltool_query(s->sqldbs[i].tool, q, s->cfg.sql_max_rows, s->cfg.sql_timeout_ms, &out, &err);
        pthread_mutex_unlock(&s->sqldbs[i].mu);
        json_t *r = rc == RG_OK ? json_loadb(out.data ? out.data : "", out.len, 0, NULL) : err_result(rg_err_text(&err));
        rg_buf_free(&out);
        return r ? r : err_result("sql: result too large");
    }
    return err_result(s->n_sqldbs ? "no such database" : "no database is attached (ragd serve --sql-db NAME=PATH)");
}

json_t *rg__builtin_run(rg__job *job, int which, json_t *args, json_t *citations) {
    rg_server *s = job->srv;
    switch (which) {
    case RG__BT_CALC: return run_calc(args);
    case RG__BT_SQL: return run_sql(s, args);
    default: break;
    }
    /* search_collection: the key's own collections only (tenant prefix) */
    const char *coll = json_string_value(json_object_get(args, "collection"));
    const char *q = json_string_value(json_object_get(args, "query"));
    json_int_t k = json_integer_value(json_object_get(args, "k"));
    if (k < 1 || k > 10) k = 4;
    if (!coll || !rg__valid_name(coll) || !q) return err_result("'collection' and 'query' are required");
    char full[200];
    if (job->tenant[0]) snprintf(full, sizeof full, "%s__%s", job->tenant, coll);
    else snprintf(full, sizeof full, "%s", coll);
    int64_t id, gen;
    rg_err err;
    if (rg__be_coll_lookup(s, full, &id, &gen, &err) != RG_OK) return err_result("no such collection");
    rg__rag_ref ref;
    rg_rag_results res;
    memset(&res, 0, sizeof res);
    if (rg__be_rag_get(s, id, full, gen, &ref, &err) != RG_OK) return err_result(rg_err_text(&err));
    char qb[RG_MAX_QUERY_BYTES];
    snprintf(qb, sizeof qb, "%s", q);
    rg_status rc = rg__be_search(s, ref.rag, qb, (int)k, -1, NULL, &res, &err);
    rg__be_rag_put(s, &ref);
    if (rc != RG_OK) return err_result(rg_err_text(&err));
    json_t *hits = json_array();
    for (size_t i = 0; i < res.n; i++) {
        const rg_rag_hit *h = &res.hits[i];
        int n = (int)json_array_size(citations) + 1;
        const char *txt = h->text ? h->text : "", *src = h->source ? h->source : "";
        size_t len = h->text ? h->text_len : 0;
        size_t tl = rg_utf8_floor(txt, len < 1500 ? len : 1500), sl = rg_utf8_floor(txt, len < 200 ? len : 200);
        json_array_append_new(hits, json_pack("{s:i, s:s, s:s, s:s%}", "index", n, "source", src, "heading",
                                              h->heading ? h->heading : "", "text", txt, tl));
        json_t *c = json_pack("{s:i, s:I, s:I, s:s, s:f, s:s%}", "index", n, "document_id", (json_int_t)h->doc_id,
                              "chunk_id", (json_int_t)h->chunk_id, "source", src, "score", h->score,
                              "snippet", txt, sl);
        if (c) json_array_append_new(citations, c);
    }
    rg_rag_results_clear(&res);
    return json_pack("{s:o}", "results", hits);
}
