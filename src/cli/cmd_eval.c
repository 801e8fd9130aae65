/* cmd_eval.c - `ragd eval --beir DIR`: retrieval quality on a BEIR-layout
 * collection (corpus.jsonl, queries.jsonl, qrels/test.tsv).
 *
 * The corpus goes through the real path: a temporary data directory, the
 * SQLite store (one document per corpus entry, title as the chunk's
 * heading), the BM25 index built from the store.  Metrics follow
 * trec_eval: nDCG@10 (ndcg_cut.10, graded gains, log2(rank+1) discount,
 * ideal from all judged documents), MAP@100 (map_cut.100) and R@100
 * (recall.100), relevance = judged score >= 1, averaged over the queries
 * that have relevance judgments. Queries are searched as plain text
 * (quote and +/- syntax characters are neutralised).
 *
 * --mode vector|hybrid embeds every chunk with --embed-model (title line +
 * text, as ingest does) and ranks through the same rg_rag_retrieve_mode
 * the search command uses (hybrid: weighted RRF of the BM25 and vector top
 * 100). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_rag.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/utf8.h"
#include "rag/rag.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd eval --beir DIR [--json] [-k1 K1] [-b B] [--no-headings]\n"
            "                 [--heading-weight N] [--prox W] [--keep DIR]\n"
            "                 [--mode bm25|vector|hybrid --embed-model F [-t N]\n"
            "                  [--rrf-k K] [--bm25-weight W] [--vector-weight W]]\n\n"
            "Ingests a BEIR-layout collection (DIR/corpus.jsonl, DIR/queries.jsonl,\n"
            "DIR/qrels/test.tsv) into a temporary data directory through the store,\n"
            "builds the BM25 index, runs every judged query and prints nDCG@10,\n"
            "MAP@100, R@100 (trec_eval definitions; graded gains for nDCG) and the\n"
            "mean query latency.\n\n"
            "  --beir DIR      the collection\n"
            "  --json          one JSON object instead of the table\n"
            "  -k1 K1, -b B    BM25 parameters (default 2.0, 0.75)\n"
            "  --no-headings   do not index titles (chunk headings)\n"
            "  --heading-weight N  times a title is indexed (default 3)\n"
            "  --prox W        proximity bonus weight for adjacent query words (default 0)\n"
            "  --keep DIR      use DIR as the data directory and keep it\n"
            "  --mode M        bm25 (default), vector or hybrid; vector and hybrid embed\n"
            "                  every chunk with --embed-model F (a BERT GGUF) first\n"
            "  -t N            embedding threads (default: all CPUs)\n"
            "  --rrf-k K, --bm25-weight W, --vector-weight W   hybrid fusion (60, 1, 1)\n");
}

typedef struct qrel {
    char *qid, *did;
    int rel;
} qrel;

typedef struct doc_map {
    int64_t doc_id;
    size_t idx;
} doc_map;

typedef struct chunk_map {
    int64_t chunk_id, doc_id;
} chunk_map;

typedef struct ctx {
    char **ids; /* corpus _id by index */
    size_t nids, cap_ids;
    doc_map *dm;
    size_t ndm;
    chunk_map *cm;
    size_t ncm, cap_cm;
} ctx;

static int cmp_dm(const void *a, const void *b) {
    int64_t x = ((const doc_map *)a)->doc_id, y = ((const doc_map *)b)->doc_id;
    return x < y ? -1 : x > y;
}

static const char *corpus_id_of_chunk(const ctx *c, int64_t chunk_id) {
    size_t lo = 0, hi = c->ncm;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (c->cm[m].chunk_id < chunk_id) lo = m + 1;
        else hi = m;
    }
    if (lo >= c->ncm || c->cm[lo].chunk_id != chunk_id) return NULL;
    doc_map key = {c->cm[lo].doc_id, 0};
    doc_map *d = bsearch(&key, c->dm, c->ndm, sizeof *c->dm, cmp_dm);
    return d ? c->ids[d->idx] : NULL;
}

static int on_chunk(void *ud, const rg_store_chunk *ch) {
    ctx *c = ud;
    if (c->ncm == c->cap_cm) {
        size_t nc = c->cap_cm ? c->cap_cm * 2 : 4096;
        chunk_map *n = realloc(c->cm, nc * sizeof *n);
        if (!n) return 1;
        c->cm = n;
        c->cap_cm = nc;
    }
    c->cm[c->ncm++] = (chunk_map){ch->id, ch->doc_id};
    return 0;
}

static json_t *read_jsonl_line(const char *line, size_t n, const char *path, long lineno) {
    json_error_t je;
    json_t *j = json_loadb(line, n, 0, &je);
    if (!j || !json_is_object(j)) {
        fprintf(stderr, "ragd: eval: %s:%ld: expected a JSON object (%s)\n", path, lineno,
                j ? "not an object" : je.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "_id" may be a string or a number in the wild. */
static char *jid(json_t *o) {
    json_t *v = json_object_get(o, "_id");
    char buf[64];
    if (json_is_string(v)) return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    }
    return NULL;
}


static int cmp_qrel(const void *a, const void *b) {
    const qrel *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->did, y->did);
}

static void rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_rf(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Plain-text query: quotes and leading +/- would be syntax. */
static void plain_query(char *q) {
    for (char *p = q; *p; p++) {
        if (*p == '"') *p = ' ';
        if ((*p == '+' || *p == '-') && (p == q || p[-1] == ' ' || p[-1] == '\t')) *p = ' ';
    }
}

int rg_cmd_eval(int argc, char **argv) {
    const char *beir = NULL, *keep = NULL;
    int json = 0, no_headings = 0;
    double k1 = RG_TEXT_DEFAULT_K1, b = RG_TEXT_DEFAULT_B, prox = 0;
    long hw = RG_RAG_HEADING_WEIGHT;
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    rg__cli_vec vo = {0};
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int vr = rg__cli_vec_arg("eval", &vo, argc, argv, &i);
        if (vr < 0) return RG_EXIT_USAGE;
        if (vr > 0) continue;
        if (!strcmp(a, "--beir") && i + 1 < argc) beir = argv[++i];
        else if (!strcmp(a, "-t") && i + 1 < argc) {
            if (rg_cli_int(argv[++i], 1, RG_MAX_THREADS, &threads))
                return rg_cli_usage("eval", "-t wants an integer in [1, %d], got '%s'", RG_MAX_THREADS, argv[i]);
        }
        else if (!strcmp(a, "--keep") && i + 1 < argc) keep = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-headings")) no_headings = 1;
        else if (!strcmp(a, "--heading-weight") && i + 1 < argc) {
            if (rg_cli_int(argv[++i], 1, 20, &hw))
                return rg_cli_usage("eval", "--heading-weight wants an integer in [1, 20], got '%s'", argv[i]);
        } else if (!strcmp(a, "--prox") && i + 1 < argc) {
            if (rg_cli_double(argv[++i], &prox) || prox < 0 || prox > 10)
                return rg_cli_usage("eval", "--prox wants a number in [0, 10], got '%s'", argv[i]);
        }
        else if ((!strcmp(a, "-k1") || !strcmp(a, "--k1")) && i + 1 < argc) {
            if (rg_cli_double(argv[++i], &k1) || k1 <= 0 || k1 > 100)
                return rg_cli_usage("eval", "-k1 wants a number in (0, 100], got '%s'", argv[i]);
        } else if ((!strcmp(a, "-b") || !strcmp(a, "--b")) && i + 1 < argc) {
            if (rg_cli_double(argv[++i], &b) || b < 0 || b > 1)
                return rg_cli_usage("eval", "-b wants a number in [0, 1], got '%s'", argv[i]);
        } else
            return rg_cli_usage("eval", "unexpected argument '%s'", a);
    }
    if (!beir) return rg_cli_usage("eval", "--beir DIR is required");
    rg_rag_mode mode = !vo.mode || !strcmp(vo.mode, "bm25") ? RG_RAG_BM25
                       : !strcmp(vo.mode, "vector")        ? RG_RAG_VECTOR
                                                            : RG_RAG_HYBRID;
    if (mode != RG_RAG_BM25 && !vo.embed_model)
        return rg_cli_usage("eval", "--mode %s needs --embed-model F", vo.mode);
    static const char *mode_names[] = {"bm25", "vector", "hybrid"};

    char path[4096];
    rg_err err;
    rg_err_clear(&err);
    int rc = RG_EXIT_RUNTIME;
    ctx c = {0};
    qrel *qr = NULL;
    size_t nqr = 0, capqr = 0;
    char **qids = NULL, **qtext = NULL;
    size_t nq = 0, capq = 0;
    rg_store *st = NULL;
    rg_rag *rag = NULL;
    char tmpdir[4096] = "";
    char *line = NULL;
    size_t lcap = 0;
    FILE *f = NULL;
    double t_ingest = 0, t_index = 0, t_embed = 0;
    rg_embedder *emb = NULL;

    /* data dir */
    if (keep) {
        snprintf(tmpdir, sizeof tmpdir, "%s", keep);
    } else {
        const char *td = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/ragd-eval.XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "ragd: eval: cannot create a temporary directory %s\n", tmpdir);
            return RG_EXIT_RUNTIME;
        }
    }
    rg_store_opts so = {0};
    so.sync_normal = 1;
    if (rg_store_open(tmpdir, &so, &st, &err) != RG_OK) goto fail;
    int64_t cid;
    if (rg_store_collection_ensure(st, "beir", &cid, &err) != RG_OK) goto fail;

    /* corpus */
    snprintf(path, sizeof path, "%s/corpus.jsonl", beir);
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ragd: eval: cannot open %s\n", path);
        goto out;
    }
    double t0 = rg_now_s();
    long lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        if ((size_t)len > RG_MAX_JSON_BYTES) {
            fprintf(stderr, "ragd: eval: %s:%ld: line longer than %u bytes\n", path, lineno,
                    (unsigned)RG_MAX_JSON_BYTES);
            goto out;
        }
        if (len <= 1) continue;
        json_t *j = read_jsonl_line(line, (size_t)len, path, lineno);
        if (!j) goto out;
        char *id = jid(j);
        const char *text = jstr(j, "text"), *title = jstr(j, "title");
        if (!id || !text) {
            fprintf(stderr, "ragd: eval: %s:%ld: expected \"_id\" and \"text\"\n", path, lineno);
            free(id);
            json_decref(j);
            goto out;
        }
        size_t tl = strlen(text);
        /* split over-long texts into chunks at code point boundaries */
        size_t nch = 0;
        rg_store_chunk_in chs[64];
        for (size_t o = 0; o < tl && nch < 64;) {
            size_t n = tl - o;
            if (n > RG_MAX_CHUNK_BYTES) n = rg_utf8_floor(text + o, RG_MAX_CHUNK_BYTES);
            if (n == 0) break;
            chs[nch++] = (rg_store_chunk_in){text + o, n, (int64_t)o, (int64_t)(o + n),
                                             title && *title ? title : NULL, 0};
            o += n;
        }
        if (nch == 0) chs[nch++] = (rg_store_chunk_in){"", 0, 0, 0, title, 0};
        char sha[65];
        rg_sha256_hex(text, tl, sha);
        rg_store_doc_in di = {id, sha, "text/plain", NULL, (int64_t)tl};
        int64_t doc_id;
        rg_status s2 = rg_store_doc_put(st, cid, &di, chs, nch, &doc_id, NULL, &err);
        json_decref(j);
        if (s2 != RG_OK) {
            free(id);
            goto fail;
        }
        if (c.nids == c.cap_ids) {
            c.cap_ids = c.cap_ids ? c.cap_ids * 2 : 1024;
            c.ids = realloc(c.ids, c.cap_ids * sizeof *c.ids);
            c.dm = realloc(c.dm, c.cap_ids * sizeof *c.dm);
            if (!c.ids || !c.dm) {
                free(id);
                fprintf(stderr, "ragd: eval: out of memory\n");
                goto out;
            }
        }
        c.dm[c.ndm++] = (doc_map){doc_id, c.nids};
        c.ids[c.nids++] = id;
    }
    fclose(f);
    f = NULL;
    qsort(c.dm, c.ndm, sizeof *c.dm, cmp_dm);
    t_ingest = rg_now_s() - t0;
    if (rg_store_chunks_foreach(st, cid, 0, on_chunk, &c, &err) != RG_OK) goto fail;

    /* index */
    t0 = rg_now_s();
    rg_rag_opts ro = {0};
    ro.bm25.k1 = (float)k1;
    ro.bm25.b = (float)b;
    ro.bm25.b_set = 1;
    ro.bm25.prox = (float)prox;
    ro.bm25.prox_set = 1;
    ro.heading_weight = (int)hw;
    ro.no_headings = no_headings;
    ro.no_persist = keep ? 0 : 1;
    if (rg_rag_open(st, tmpdir, "beir", &ro, &rag, NULL, &err) != RG_OK) goto fail;
    t_index = rg_now_s() - t0;
    if (mode != RG_RAG_BM25) {
        t0 = rg_now_s();
        rg_rag_mode_opts mo = {mode, vo.rrf_k, vo.bm25_weight, vo.vector_weight};
        size_t n_emb = 0;
        if (rg_embed_open(vo.embed_model, (int)threads, &emb, &err) != RG_OK ||
            rg_rag_use_vectors(rag, emb, vo.embed_model, &mo, &n_emb, &err) != RG_OK)
            goto fail;
        t_embed = rg_now_s() - t0;
        if (!json)
            fprintf(stderr, "embedded %zu chunks with %s in %.1f s\n", n_emb, vo.embed_model, t_embed);
    }

    /* qrels */
    snprintf(path, sizeof path, "%s/qrels/test.tsv", beir);
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ragd: eval: cannot open %s\n", path);
        goto out;
    }
    lineno = 0;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2) {
            if (lineno == 1 || len == 0) continue;
            fprintf(stderr, "ragd: eval: %s:%ld: expected query-id<TAB>corpus-id<TAB>score\n", path,
                    lineno);
            goto out;
        }
        *t1 = *t2 = 0;
        long rel;
        if (rg_cli_int(t2 + 1, -1000, 1000, &rel)) {
            if (lineno == 1) continue; /* header */
            fprintf(stderr, "ragd: eval: %s:%ld: score '%s' is not an integer\n", path, lineno, t2 + 1);
            goto out;
        }
        if (nqr == capqr) {
            capqr = capqr ? capqr * 2 : 1024;
            qr = realloc(qr, capqr * sizeof *qr);
            if (!qr) goto out;
        }
        qr[nqr++] = (qrel){strdup(line), strdup(t1 + 1), (int)rel};
    }
    fclose(f);
    f = NULL;
    qsort(qr, nqr, sizeof *qr, cmp_qrel);

    /* queries */
    snprintf(path, sizeof path, "%s/queries.jsonl", beir);
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ragd: eval: cannot open %s\n", path);
        goto out;
    }
    lineno = 0;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        if (len <= 1) continue;
        json_t *j = read_jsonl_line(line, (size_t)len, path, lineno);
        if (!j) goto out;
        char *id = jid(j);
        const char *text = jstr(j, "text");
        if (!id || !text) {
            fprintf(stderr, "ragd: eval: %s:%ld: expected \"_id\" and \"text\"\n", path, lineno);
            free(id);
            json_decref(j);
            goto out;
        }
        if (nq == capq) {
            capq = capq ? capq * 2 : 1024;
            qids = realloc(qids, capq * sizeof *qids);
            qtext = realloc(qtext, capq * sizeof *qtext);
            if (!qids || !qtext) goto out;
        }
        qids[nq] = id;
        qtext[nq] = strdup(text);
        nq++;
        json_decref(j);
    }
    fclose(f);
    f = NULL;

    /* run */
    double sum_ndcg = 0, sum_map = 0, sum_rec = 0, sum_lat = 0;
    size_t nevald = 0;
    const size_t K = 100;
    char **seen = malloc(K * sizeof *seen);
    for (size_t qi = 0; qi < nq; qi++) {
        /* judgments of this query */
        qrel key = {qids[qi], "", 0};
        size_t lo = 0, hi = nqr;
        while (lo < hi) {
            size_t m = (lo + hi) / 2;
            if (cmp_qrel(&qr[m], &key) < 0) lo = m + 1;
            else hi = m;
        }
        size_t a0 = lo, a1 = lo;
        while (a1 < nqr && !strcmp(qr[a1].qid, qids[qi])) a1++;
        size_t nrel = 0;
        for (size_t i = a0; i < a1; i++) nrel += qr[i].rel >= 1;
        if (nrel == 0) continue;
        plain_query(qtext[qi]);
        rg_rag_results res;
        double tq = rg_now_s();
        if (rg_rag_retrieve_mode(rag, qtext[qi], K, 0, mode, &res, &err) != RG_OK) {
            free(seen);
            goto fail;
        }
        sum_lat += rg_now_s() - tq;
        /* chunks -> corpus documents, first (best) chunk wins */
        size_t nseen = 0;
        double dcg = 0, ap = 0;
        size_t hits = 0;
        for (size_t i = 0; i < res.n && nseen < K; i++) {
            const char *did = corpus_id_of_chunk(&c, res.hits[i].chunk_id);
            if (!did) continue;
            int dup = 0;
            for (size_t j = 0; j < nseen && !dup; j++) dup = !strcmp(seen[j], did);
            if (dup) continue;
            seen[nseen++] = (char *)did;
            qrel k2 = {qids[qi], (char *)did, 0};
            qrel *q = bsearch(&k2, qr + a0, a1 - a0, sizeof *qr, cmp_qrel);
            int rel = q ? q->rel : 0;
            size_t rank = nseen;
            if (rank <= 10 && rel > 0) dcg += rel / log2((double)rank + 1);
            if (rel >= 1) {
                hits++;
                ap += (double)hits / rank;
            }
        }
        rg_rag_results_clear(&res);
        /* ideal DCG from the judged gains */
        int gains[1024];
        size_t ng = 0;
        for (size_t i = a0; i < a1 && ng < 1024; i++)
            if (qr[i].rel > 0) gains[ng++] = qr[i].rel;
        for (size_t i = 0; i < ng; i++)
            for (size_t j = i + 1; j < ng; j++)
                if (gains[j] > gains[i]) {
                    int t = gains[i];
                    gains[i] = gains[j];
                    gains[j] = t;
                }
        double idcg = 0;
        for (size_t i = 0; i < ng && i < 10; i++) idcg += gains[i] / log2((double)i + 2);
        sum_ndcg += idcg > 0 ? dcg / idcg : 0;
        sum_map += ap / nrel;
        sum_rec += (double)hits / nrel;
        nevald++;
    }
    free(seen);
    double nd = nevald ? (double)nevald : 1;
    const char *name = strrchr(beir, '/');
    name = name && name[1] ? name + 1 : beir;
    if (json) {
        printf("{\"collection\":\"%s\",\"documents\":%zu,\"chunks\":%zu,\"queries\":%zu,"
               "\"ndcg@10\":%.4f,\"map@100\":%.4f,\"recall@100\":%.4f,\"mean_query_ms\":%.3f,"
               "\"ingest_s\":%.2f,\"index_s\":%.2f,\"k1\":%.3g,\"b\":%.3g,\"mode\":\"%s\","
               "\"embed_s\":%.2f}\n",
               name, c.nids, rg_rag_chunks(rag), nevald, sum_ndcg / nd, sum_map / nd, sum_rec / nd,
               sum_lat / nd * 1e3, t_ingest, t_index, k1, b, mode_names[mode], t_embed);
    } else {
        printf("collection   %s (%zu documents, %zu chunks, %zu judged queries)\n", name, c.nids,
               rg_rag_chunks(rag), nevald);
        printf("BM25         k1 %.3g, b %.3g, headings %s (weight %ld), proximity %.3g\n", k1, b,
               no_headings ? "off" : "on", hw, prox);
        printf("nDCG@10      %.4f\n", sum_ndcg / nd);
        printf("MAP@100      %.4f\n", sum_map / nd);
        printf("R@100        %.4f\n", sum_rec / nd);
        if (mode != RG_RAG_BM25)
            printf("mode         %s, embeddings %s (%.1f s)\n", mode_names[mode], vo.embed_model, t_embed);
        printf("query        %.3f ms mean (%s top-100%s)\n", sum_lat / nd * 1e3, mode_names[mode],
               mode == RG_RAG_BM25 ? ", 1 thread" : ", query embedding included");
        printf("ingest       %.2f s (store), index %.2f s\n", t_ingest, t_index);
    }
    rc = RG_EXIT_OK;
    goto out;
fail:
    rg_cli_fail("eval", &err);
out:
    if (f) fclose(f);
    free(line);
    rg_rag_close(rag);
    rg_embed_close(emb);
    rg_store_close(st);
    if (!keep && tmpdir[0]) rm_rf(tmpdir);
    for (size_t i = 0; i < c.nids; i++) free(c.ids[i]);
    free(c.ids);
    free(c.dm);
    free(c.cm);
    for (size_t i = 0; i < nqr; i++) {
        free(qr[i].qid);
        free(qr[i].did);
    }
    free(qr);
    for (size_t i = 0; i < nq; i++) {
        free(qids[i]);
        free(qtext[i]);
    }
    free(qids);
    free(qtext);
    return rc;
}
