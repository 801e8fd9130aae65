/* cmd_ingest.c - `ragd ingest --data DIR -c COLLECTION [opts] PATH...`
 *
 * Walks the paths (directories recursively, sorted, hidden entries and
 * symlinked directories skipped), ingests each file in its own transaction
 * and prints "committed <doc-id> <path> <n> chunks" on stdout only after
 * that transaction committed (the kill -9 test relies on this ordering),
 * or "unchanged <doc-id> <path>".  A bad file is reported on stderr and
 * skipped.  Exit status: 0 when every file was ingested or unchanged, 1
 * when any file failed (the others are still committed), 2 usage. */
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/limits.h"
#include "guard/guard.h"
#include "embed/embed.h"
#include "ingest/ingest.h"
#include "rag/rag.h"
#include "store/store.h"

static void help(void) {
    printf("usage: ragd ingest --data DIR -c COLLECTION [options] PATH...\n"
           "\n"
           "Ingests files (directories are walked recursively) into COLLECTION of the\n"
           "store DIR/ragd.db, creating both when absent.  Types by extension, else by\n"
           "content: .txt .md .html/.htm .pdf .csv .tsv.  An unchanged file (same\n"
           "sha256) is skipped; a changed one replaces its chunks atomically.\n"
           "\n"
           "options:\n"
           "  --data DIR          data directory (default $RAGD_DATA, else ./ragd-data)\n"
           "  -c, --collection C  collection name (default 'default')\n"
           "  --chunk-size N      target chunk size in bytes (default %d, %d..%u)\n"
           "  --overlap N         overlap between chunks in bytes (default %d; < size/2)\n"
           "  --type T            parse every file as T (txt|md|html|pdf|csv|tsv)\n"
           "  --batch-ms MS       group commit: one transaction (one fsync) per MS\n"
           "                      milliseconds of work, at most 1000 documents (default\n"
           "                      500; 0 = one transaction per document)\n"
           "  --embed-model F     embed every chunk with the BERT-family GGUF F (stored in\n"
           "                      DIR/index; F is recorded in the collection's settings so\n"
           "                      search/ask default to hybrid retrieval)\n"
           "  --prune             delete documents whose source lies under a walked\n"
           "                      directory but no longer exists there\n"
           "  --no-fsync          synchronous=NORMAL: survives kill -9, not power loss\n"
           "  -q, --quiet         no per-document lines, only the summary\n"
           "  --redact            redact personal data (IDs, phones, cards, email,\n"
           "                      names...) in chunk text, headings and titles before\n"
           "                      they are stored; remembered by the collection, so\n"
           "                      later ingests into it are redacted too\n"
           "  --redact-policy F   guard policy JSON for that (implies --redact; stored\n"
           "                      in the collection's settings; see docs/guard.md)\n"
           "\n"
           "stdout: 'committed <doc-id> <path> <n> chunks' once its transaction committed,\n"
           "        'unchanged <doc-id> <path>', then a summary.\n"
           "stderr: one line per failed file (path: reason); a progress bar when a tty.\n"
           "exit:   0 all ok, 1 some file failed (the rest is committed), 2 usage.\n",
           RG_CHUNK_SIZE_DEFAULT, RG_CHUNK_SIZE_MIN, (unsigned)RG_MAX_CHUNK_BYTES,
           RG_CHUNK_OVERLAP_DEFAULT);
}

typedef struct {
    char **v;
    size_t n, cap;
    int explicit_n; /* paths named on the command line are never "skipped" */
} pathlist;

static int push_path(pathlist *l, const char *p) {
    if (l->n >= RG_INGEST_MAX_FILES) return -1;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n] = strdup(p);
    if (!l->v[l->n]) return -1;
    l->n++;
    return 0;
}

/* "./a//b/" -> "a/b" */
static void clean_path(char *p) {
    char *w = p;
    const char *r = p;
    while (r[0] == '.' && r[1] == '/') {
        r += 2;
        while (*r == '/') r++;
    }
    for (; *r; r++) {
        if (*r == '/' && w > p && w[-1] == '/') continue;
        *w++ = *r;
    }
    while (w > p + 1 && w[-1] == '/') w--;
    *w = 0;
    if (!*p) strcpy(p, "."); /* "./" */
}

typedef struct {
    char *path, *reason;
} failure;

typedef struct {
    failure *v;
    size_t n, cap;
} failures;

static void add_failure(failures *f, const char *path, const char *reason) {
    fprintf(stderr, "ragd: ingest: %s\n", reason);
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        failure *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv) return;
        f->v = nv;
        f->cap = nc;
    }
    f->v[f->n].path = strdup(path);
    f->v[f->n].reason = strdup(reason);
    f->n++;
}

static int walk(const char *dir, int depth, pathlist *out, failures *fails, size_t *skipped) {
    if (depth > RG_INGEST_MAX_WALK_DEPTH) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: directory nesting deeper than %d, not walked", dir,
                 RG_INGEST_MAX_WALK_DEPTH);
        add_failure(fails, dir, msg);
        return 0;
    }
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: cannot read directory: %s", dir, strerror(errno));
        add_failure(fails, dir, msg);
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (name[0] == '.' || rc) {
            free(ents[i]);
            continue;
        }
        size_t pl = strlen(dir) + strlen(name) + 2;
        char *p = malloc(pl);
        if (!p) {
            rc = -1;
            free(ents[i]);
            continue;
        }
        if (!strcmp(dir, "."))
            snprintf(p, pl, "%s", name);
        else
            snprintf(p, pl, "%s/%s", dir, name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = walk(p, depth + 1, out, fails, skipped);
        } else if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = push_path(out, p);
        } else if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) {
            (*skipped)++; /* symlinked dir or dangling link: not followed */
        }
        free(p);
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static void progress(size_t i, size_t n, size_t chunks, double t0) {
    double dt = rg_now_s() - t0;
    int width = 30, fill = n ? (int)((double)i * width / (double)n) : width;
    char bar[32];
    for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %zu/%zu files  %zu chunks  %.0f chunks/s ", bar, i, n, chunks,
            dt > 0 ? (double)chunks / dt : 0.0);
    fflush(stderr);
}

typedef struct {
    int64_t doc_id;
    size_t n_chunks, bytes;
    char *path;
} pend_doc;

typedef struct {
    pend_doc *v;
    size_t n, cap, bytes;
} pending;

static int pend_add(pending *pd, const rg_ingest_result *r, const char *path) {
    if (pd->n == pd->cap) {
        size_t nc = pd->cap ? pd->cap * 2 : 64;
        pend_doc *nv = realloc(pd->v, nc * sizeof *nv);
        if (!nv) return -1;
        pd->v = nv;
        pd->cap = nc;
    }
    pd->v[pd->n] = (pend_doc){r->doc_id, r->n_chunks, r->bytes, strdup(path)};
    if (!pd->v[pd->n].path) return -1;
    pd->bytes += r->bytes;
    pd->n++;
    return 0;
}

static void pend_clear(pending *pd) {
    for (size_t k = 0; k < pd->n; k++) free(pd->v[k].path);
    pd->n = 0;
    pd->bytes = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    const pathlist *dirs;
    char **files; /* sorted */
    size_t n_files;
    pend_doc *v; /* documents to delete (doc_id, path) */
    size_t n, cap;
    int oom;
} prune_ctx;

static int prune_collect(void *ud, const rg_store_doc *d) {
    prune_ctx *pc = ud;
    int under = 0;
    for (size_t k = 0; k < pc->dirs->n && !under; k++) {
        const char *dir = pc->dirs->v[k];
        size_t dl = strlen(dir);
        if (!strcmp(dir, ".")) under = d->source[0] != '/';
        else under = !strncmp(d->source, dir, dl) && d->source[dl] == '/';
    }
    const char *key = d->source;
    if (!under || bsearch(&key, pc->files, pc->n_files, sizeof *pc->files, cmp_str)) return 0;
    if (pc->n == pc->cap) {
        size_t nc = pc->cap ? pc->cap * 2 : 16;
        pend_doc *nv = realloc(pc->v, nc * sizeof *nv);
        if (!nv) {
            pc->oom = 1;
            return 1;
        }
        pc->v = nv;
        pc->cap = nc;
    }
    pc->v[pc->n] = (pend_doc){d->id, 0, 0, strdup(d->source)};
    if (!pc->v[pc->n].path) {
        pc->oom = 1;
        return 1;
    }
    pc->n++;
    return 0;
}

/* ---- ingest-time redaction (guard/) ---- */

typedef struct redact_ctx {
    rg_guard *g;
    rg_guard_stats total;
} redact_ctx;

static rg_status redact_chunk(void *ud, const char *text, size_t len, rg_buf *out, rg_err *err) {
    redact_ctx *c = ud;
    rg_guard_stats st;
    rg_status s = rg_guard_redact(c->g, text, len, out, &st);
    if (s) return rg_failf(err, s, "redaction: %s", rg_status_message(s));
    for (int t = 0; t < RG_PII__COUNT; t++) c->total.count[t] += st.count[t];
    c->total.total += st.total;
    return RG_OK;
}

/* Redaction is a property of the collection: settings {"redact":true,
 * "redact_policy":{...}}.  --redact / --redact-policy turn it on (and store
 * it); a collection that already holds unredacted documents is refused,
 * since unchanged files would never be rewritten. */
static rg_status setup_redaction(rg_store *s, const char *coll, int64_t cid, int want,
                                 const char *policy_path, redact_ctx *ctx, rg_err *err) {
    rg_store_collection c;
    rg_status st = rg_store_collection_get_id(s, cid, &c, err);
    if (st) return st;
    json_error_t je;
    json_t *set = json_loads(c.settings_json ? c.settings_json : "{}", 0, &je);
    if (!json_is_object(set)) {
        json_decref(set);
        set = json_object();
    }
    int on = json_is_true(json_object_get(set, "redact"));
    json_t *pol = json_object_get(set, "redact_policy");
    char *pol_text = NULL;
    size_t pol_len = 0;
    int changed = 0;
    if (policy_path) {
        st = rg_file_read(policy_path, 1u << 20, &pol_text, &pol_len, err);
        if (st) goto out;
        json_t *pj = json_loadb(pol_text, pol_len, 0, &je);
        if (!json_is_object(pj)) {
            json_decref(pj);
            st = rg_failf(err, RG_FORMAT, "%s: line %d column %d: %s", policy_path, je.line,
                          je.column, pj ? "expected a JSON object" : je.text);
            goto out;
        }
        json_object_set_new(set, "redact_policy", pj);
        changed = 1;
    } else if (json_is_object(pol)) {
        pol_text = json_dumps(pol, JSON_COMPACT);
        pol_len = pol_text ? strlen(pol_text) : 0;
    }
    if (want && !on) {
        if (c.n_documents > 0) {
            st = rg_failf(err, RG_INVALID,
                          "collection '%s' already holds %lld documents stored without "
                          "redaction; ingest into a new collection to redact",
                          coll, (long long)c.n_documents);
            goto out;
        }
        json_object_set_new(set, "redact", json_true());
        on = 1;
        changed = 1;
    }
    if (!on) goto out;
    st = rg_guard_open(&ctx->g, pol_text, pol_len, err);
    if (st) {
        rg_err_prefix(err, "%s", policy_path ? policy_path : "collection redact_policy");
        goto out;
    }
    if (changed) {
        char *js = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
        st = js ? rg_store_collection_set_settings(s, cid, js, err)
                : rg_failf(err, RG_NOMEM, "out of memory");
        free(js);
        if (st) {
            rg_guard_free(ctx->g);
            ctx->g = NULL;
        }
    }
out:
    free(pol_text);
    json_decref(set);
    rg_store_collection_clear(&c);
    return st;
}

int rg_cmd_ingest(int argc, char **argv) {
    const char *cmd = "ingest";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    const char *data = getenv("RAGD_DATA");
    const char *coll = "default";
    rg_ingest_opts io = {0};
    io.chunk.size = RG_CHUNK_SIZE_DEFAULT;
    io.chunk.overlap = RG_CHUNK_OVERLAP_DEFAULT;
    int quiet = 0, no_fsync = 0, redact = 0;
    const char *redact_policy = NULL;
    long batch_ms = 500;
    int prune = 0;
    const char *embed_model = NULL;
    pathlist paths = {0};
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--")) {
            first_path = i + 1;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            if (first_path == argc) first_path = i;
            continue;
        }
        if (first_path != argc) {
            /* options after paths are allowed: collect later */
        }
        if (!strcmp(a, "--data") || !strcmp(a, "-c") || !strcmp(a, "--collection") ||
            !strcmp(a, "--chunk-size") || !strcmp(a, "--overlap") || !strcmp(a, "--type") ||
            !strcmp(a, "--batch-ms") || !strcmp(a, "--redact-policy") ||
            !strcmp(a, "--embed-model")) {
            if (i + 1 >= argc) return rg_cli_usage(cmd, "%s needs a value", a);
            const char *val = argv[++i];
            if (!strcmp(a, "--data")) data = val;
            else if (!strcmp(a, "--redact-policy")) redact_policy = val, redact = 1;
            else if (!strcmp(a, "-c") || !strcmp(a, "--collection")) coll = val;
            else if (!strcmp(a, "--embed-model")) embed_model = val;
            else if (!strcmp(a, "--batch-ms")) {
                if (rg_cli_int(val, 0, 60000, &batch_ms))
                    return rg_cli_usage(cmd, "--batch-ms '%s': expected milliseconds in [0, 60000]",
                                        val);
            } else if (!strcmp(a, "--chunk-size")) {
                if (rg_cli_int(val, RG_CHUNK_SIZE_MIN, RG_MAX_CHUNK_BYTES, &v))
                    return rg_cli_usage(cmd, "--chunk-size '%s': expected an integer in [%d, %u]",
                                        val, RG_CHUNK_SIZE_MIN, (unsigned)RG_MAX_CHUNK_BYTES);
                io.chunk.size = (size_t)v;
            } else if (!strcmp(a, "--overlap")) {
                if (rg_cli_int(val, 0, RG_MAX_CHUNK_BYTES, &v))
                    return rg_cli_usage(cmd, "--overlap '%s': expected a non-negative integer", val);
                io.chunk.overlap = (size_t)v;
            } else {
                static const char *names[] = {"txt", "md", "html", "pdf", "csv", "tsv"};
                static const rg_doc_type types[] = {RG_DOC_TXT, RG_DOC_MD,  RG_DOC_HTML,
                                                    RG_DOC_PDF, RG_DOC_CSV, RG_DOC_TSV};
                io.force_type = RG_DOC_UNKNOWN;
                for (int k = 0; k < 6; k++)
                    if (!strcmp(val, names[k])) io.force_type = types[k];
                if (io.force_type == RG_DOC_UNKNOWN)
                    return rg_cli_usage(cmd, "--type '%s': expected txt, md, html, pdf, csv or tsv",
                                        val);
            }
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--no-fsync")) {
            no_fsync = 1;
        } else if (!strcmp(a, "--prune")) {
            prune = 1;
        } else if (!strcmp(a, "--redact")) {
            redact = 1;
        } else {
            return rg_cli_usage(cmd, "unknown option '%s'", a);
        }
    }
    if (io.chunk.overlap >= io.chunk.size / 2)
        return rg_cli_usage(cmd, "--overlap %zu must be less than half of --chunk-size %zu",
                            io.chunk.overlap, io.chunk.size);
    if (!data || !*data) data = "ragd-data";

    /* collect paths (everything not an option or an option's value) */
    failures fails = {0};
    size_t skipped = 0;
    int named = 0;
    pathlist dirs = {0}; /* directories walked (for --prune) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int is_path = 0;
        if (i >= first_path && (first_path < argc && !strcmp(argv[first_path - 1], "--")))
            is_path = 1;
        else if (!strcmp(a, "--data") || !strcmp(a, "-c") || !strcmp(a, "--collection") ||
                 !strcmp(a, "--chunk-size") || !strcmp(a, "--overlap") || !strcmp(a, "--type") ||
                 !strcmp(a, "--batch-ms") || !strcmp(a, "--redact-policy") ||
            !strcmp(a, "--embed-model")) {
            i++;
            continue;
        } else if (!strcmp(a, "--")) {
            continue;
        } else if (a[0] != '-' || !a[1]) {
            is_path = 1;
        }
        if (!is_path) continue;
        named++;
        char *p = strdup(a);
        if (!p) return RG_EXIT_RUNTIME;
        clean_path(p);
        struct stat st;
        if (stat(p, &st) != 0) {
            char msg[4200];
            snprintf(msg, sizeof msg, "%s: %s", p, strerror(errno));
            add_failure(&fails, p, msg);
        } else if (S_ISDIR(st.st_mode)) {
            if (push_path(&dirs, p)) {
                free(p);
                return RG_EXIT_RUNTIME;
            }
            if (walk(p, 0, &paths, &fails, &skipped)) {
                free(p);
                fprintf(stderr, "ragd: ingest: too many files (max %u) or out of memory\n",
                        (unsigned)RG_INGEST_MAX_FILES);
                return RG_EXIT_RUNTIME;
            }
        } else {
            if (push_path(&paths, p)) {
                free(p);
                return RG_EXIT_RUNTIME;
            }
            paths.explicit_n++;
        }
        free(p);
    }
    if (!named) return rg_cli_usage(cmd, "no PATH given");

    rg_err err = {0};
    rg_store *s = NULL;
    rg_store_opts so = {.sync_normal = no_fsync};
    if (rg_store_open(data, &so, &s, &err)) return rg_cli_fail(cmd, &err);
    int64_t cid;
    if (rg_store_collection_ensure(s, coll, &cid, &err)) {
        rg_store_close(s);
        return rg_cli_fail(cmd, &err);
    }

    redact_ctx rc_ctx = {0};
    if (setup_redaction(s, coll, cid, redact, redact_policy, &rc_ctx, &err)) {
        rg_store_close(s);
        return rg_cli_fail(cmd, &err);
    }
    if (rc_ctx.g) {
        io.filter = redact_chunk;
        io.filter_ud = &rc_ctx;
    }

    int tty = isatty(2);
    double t0 = rg_now_s();
    size_t n_ok = 0, n_same = 0, chunks = 0, bytes = 0;
    /* group commit: documents are written inside a batch that commits every
     * batch_ms (or 1000 documents / 64 MB); their "committed" lines are
     * printed only after that commit returned. */
    pending pend = {0};
    int in_batch = 0;
    double batch_t0 = 0;
    for (size_t i = 0; i < paths.n; i++) {
        const char *p = paths.v[i];
        if (batch_ms > 0 && !in_batch) {
            if (rg_store_batch_begin(s, &err)) {
                add_failure(&fails, p, rg_err_text(&err));
                break;
            }
            in_batch = 1;
            batch_t0 = rg_now_s();
        }
        rg_ingest_result r;
        rg_err_clear(&err);
        rg_status st = rg_ingest_file(s, cid, p, &io, &r, &err);
        int stop = 0;
        if (st == RG_UNSUPPORTED && rg_ingest_type_from_name(p) == RG_DOC_UNKNOWN &&
            io.force_type == RG_DOC_UNKNOWN) {
            /* binary file with an unknown extension met in a directory walk */
            skipped++;
            if (!quiet && !tty) fprintf(stderr, "ragd: ingest: skipped %s: not a supported type\n", p);
        } else if (st) {
            char msg[RG_ERR_MSG_MAX + 64];
            const char *t = rg_err_text(&err);
            /* store/parse errors already start with the path */
            if (!strncmp(t, p, strlen(p))) snprintf(msg, sizeof msg, "%s", t);
            else snprintf(msg, sizeof msg, "%s: %s", p, t);
            if (tty) fputc('\n', stderr);
            add_failure(&fails, p, msg);
            /* the store itself is in trouble: going on would fail every file */
            if (st == RG_BUSY || st == RG_DB || (st == RG_IO && strstr(t, "store:"))) stop = 1;
        } else if (r.changed) {
            if (pend_add(&pend, &r, p)) {
                fprintf(stderr, "ragd: ingest: out of memory\n");
                stop = 1;
            }
        } else {
            n_same++;
            if (!quiet) {
                printf("unchanged %lld %s\n", (long long)r.doc_id, p);
                fflush(stdout);
            }
        }
        int last = stop || i + 1 == paths.n;
        if (!in_batch || last || pend.n >= 1000 || pend.bytes >= (64u << 20) ||
            (rg_now_s() - batch_t0) * 1000 >= (double)batch_ms) {
            if (in_batch) {
                in_batch = 0;
                if (rg_store_batch_commit(s, &err)) {
                    /* nothing of this batch is durable: every pending document failed */
                    for (size_t k = 0; k < pend.n; k++) {
                        char msg[RG_ERR_MSG_MAX + 64];
                        snprintf(msg, sizeof msg, "%s: commit failed: %s", pend.v[k].path,
                                 rg_err_text(&err));
                        add_failure(&fails, pend.v[k].path, msg);
                    }
                    pend_clear(&pend);
                    stop = 1;
                }
            }
            for (size_t k = 0; k < pend.n; k++) {
                n_ok++;
                chunks += pend.v[k].n_chunks;
                bytes += pend.v[k].bytes;
                if (!quiet)
                    printf("committed %lld %s %zu chunks\n", (long long)pend.v[k].doc_id,
                           pend.v[k].path, pend.v[k].n_chunks);
            }
            fflush(stdout);
            pend_clear(&pend);
        }
        if (tty) progress(i + 1, paths.n, chunks, t0);
        if (stop) break;
    }
    if (in_batch) rg_store_batch_rollback(s); /* only after a stop: nothing pending */
    free(pend.v);
    size_t n_deleted = 0;
    if (prune && dirs.n) {
        prune_ctx pc = {&dirs, paths.v, paths.n, NULL, 0, 0, 0};
        qsort(paths.v, paths.n, sizeof *paths.v, cmp_str);
        if (rg_store_docs_foreach(s, cid, prune_collect, &pc, &err) || pc.oom) {
            add_failure(&fails, "--prune", pc.oom ? "--prune: out of memory" : rg_err_text(&err));
        } else {
            for (size_t k = 0; k < pc.n; k++) {
                if (rg_store_doc_delete(s, pc.v[k].doc_id, &err)) {
                    char msg[RG_ERR_MSG_MAX + 64];
                    snprintf(msg, sizeof msg, "%s: cannot delete: %s", pc.v[k].path, rg_err_text(&err));
                    add_failure(&fails, pc.v[k].path, msg);
                    continue;
                }
                n_deleted++;
                if (!quiet) printf("deleted %lld %s\n", (long long)pc.v[k].doc_id, pc.v[k].path);
            }
        }
        for (size_t k = 0; k < pc.n; k++) free(pc.v[k].path);
        free(pc.v);
    }
    for (size_t k = 0; k < dirs.n; k++) free(dirs.v[k]);
    free(dirs.v);
    size_t n_embedded = 0;
    double t_emb = 0;
    if (embed_model) {
        /* embeddings are derived from the committed chunks: a failure here
         * leaves the documents stored and is retried by the next sync */
        double te0 = rg_now_s();
        char absm[4096];
        rg_embedder *e = NULL;
        rg_rag_vectors v;
        if (!realpath(embed_model, absm)) snprintf(absm, sizeof absm, "%s", embed_model);
        rg_err_clear(&err);
        if (rg_embed_open(absm, 0, &e, &err) != RG_OK ||
            rg_rag_set_embed_model(s, cid, absm, rg_embed_dim(e), &err) != RG_OK ||
            rg_rag_vectors_sync(s, data, cid, e, absm, &v, &n_embedded, &err) != RG_OK) {
            char msg[RG_ERR_MSG_MAX + 64];
            snprintf(msg, sizeof msg, "--embed-model %s: %s", embed_model, rg_err_text(&err));
            add_failure(&fails, embed_model, msg);
        } else {
            printf("embedded %zu chunks (dim %d, %zu vectors stored) with %s\n", n_embedded,
                   v.dim, v.n, absm);
            /* large collections: build (or validate) the HNSW graph now so
             * the first search does not pay for it */
            if (v.n >= RG_RAG_HNSW_MIN) {
                rg_index *vix = NULL;
                int how = 0;
                double tb = rg_now_s();
                /* the saved graph catches up with the vector log (inserts,
                 * tombstones) and is written back; built only when it cannot */
                if (rg_rag_vec_index_update(data, cid, &v, 0, 0, 0, &vix, NULL, &how, &err) == RG_OK) {
                    if (how == RG_RAG_VIX_BUILT)
                        printf("built the HNSW graph of %zu vectors in %.1f s\n", v.n, rg_now_s() - tb);
                    else if (how == RG_RAG_VIX_APPENDED)
                        printf("updated the HNSW graph (%zu vectors) in %.2f s\n", v.n, rg_now_s() - tb);
                } else {
                    fprintf(stderr, "ragd: ingest: warning: %s (the next search rebuilds it)\n",
                            rg_err_text(&err));
                }
                rg_index_free(vix);
            }
            rg_rag_vectors_clear(&v);
        }
        rg_embed_close(e);
        t_emb = rg_now_s() - te0;
        printf("embedding took %.2f s\n", t_emb);
    }
    double dt = rg_now_s() - t0;
    if (tty) fputc('\n', stderr);
    printf("ingested %zu files (%zu chunks, %.2f MB) into '%s' in %.2f s: %.2f MB/s, %.0f "
           "chunks/s; %zu unchanged, %zu skipped, %zu deleted, %zu failed\n",
           n_ok, chunks, (double)bytes / 1e6, coll, dt, dt > 0 ? (double)bytes / 1e6 / dt : 0.0,
           dt > 0 ? (double)chunks / dt : 0.0, n_same, skipped, n_deleted, fails.n);
    for (size_t i = 0; i < fails.n; i++) printf("failed: %s\n", fails.v[i].reason);
    if (rc_ctx.g) {
        rg_buf sj;
        rg_buf_init(&sj, 0);
        rg_guard_stats_json(&rc_ctx.total, &sj);
        printf("redacted %u values before storing: %s\n", rc_ctx.total.total, sj.data ? sj.data : "{}");
        rg_buf_free(&sj);
        rg_guard_free(rc_ctx.g);
    }
    int64_t nd = 0, nc = 0;
    if (rg_store_count(s, cid, &nd, &nc, &err) == RG_OK)
        printf("collection '%s': %lld documents, %lld chunks\n", coll, (long long)nd,
               (long long)nc);
    rg_store_close(s);
    int rc = fails.n ? RG_EXIT_RUNTIME : RG_EXIT_OK;
    for (size_t i = 0; i < fails.n; i++) {
        free(fails.v[i].path);
        free(fails.v[i].reason);
    }
    free(fails.v);
    for (size_t i = 0; i < paths.n; i++) free(paths.v[i]);
    free(paths.v);
    return rc;
}
