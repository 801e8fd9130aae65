/* test_grammar.c - GBNF parsing and recognition, JSON Schema compilation,
 * and constrained generation: 500 random-walk generations over 20 schemas
 * (a random "model" choosing among the allowed tokens) must all parse as
 * JSON and validate against their schema. */
#include <jansson.h>
#include <string.h>

#include "core/utf8.h"
#include "grammar/grammar.h"
#include "test.h"

static int accepts(const rg_grammar *g, const char *s, int need_done) {
    rg_grammar_state *st = rg_grammar_state_new(g);
    int ok = rg_grammar_accept(st, s, strlen(s)) && (!need_done || rg_grammar_done(st));
    rg_grammar_state_free(st);
    return ok;
}

RG_TEST(grammar_gbnf_recognises) {
    const char *text =
        "# comment\n"
        "root ::= \"a\" [b-d]+ tail? num{2,3}\n"
        "tail ::= ( \"x\" | \"yz\" )\n"
        "num ::= [0-9]\n";
    rg_grammar *g;
    rg_err e;
    REQUIRE(rg_grammar_parse(text, strlen(text), NULL, &g, &e) == RG_OK);
    CHECK(accepts(g, "abx12", 1));
    CHECK(accepts(g, "acdyz123", 1));
    CHECK(accepts(g, "ab12", 1));
    CHECK(!accepts(g, "ab1", 1));      /* needs 2 digits */
    CHECK(accepts(g, "ab1", 0));       /* but is a valid prefix */
    CHECK(!accepts(g, "ab1234", 0));   /* at most 3 */
    CHECK(!accepts(g, "ae", 0));
    CHECK(!accepts(g, "x", 0));
    rg_grammar_free(g);
    /* unicode classes and escapes, negation, any */
    const char *t2 = "root ::= [^\"\\n] \"\\u4e2d\" . [\\x41-\\x43]\n";
    REQUIRE(rg_grammar_parse(t2, strlen(t2), NULL, &g, &e) == RG_OK);
    CHECK(accepts(g, "q中zB", 1));
    CHECK(accepts(g, "文中\xf0\x9f\x98\x80" "C", 1));
    CHECK(!accepts(g, "\"中zB", 0));
    CHECK(!accepts(g, "q中zD", 0));
    /* a code point split across calls */
    rg_grammar_state *st = rg_grammar_state_new(g);
    CHECK(rg_grammar_accept(st, "q\xe4", 2));
    CHECK(!rg_grammar_accept(st, "\xb9", 1)); /* 0xe4 0xb9 .. is not 中 (e4 b8 ad) */
    CHECK(rg_grammar_accept(st, "\xb8", 1));
    CHECK(rg_grammar_accept(st, "\xad", 1));
    CHECK(rg_grammar_distance(st) == 2);
    rg_grammar_state_free(st);
    rg_grammar_free(g);
}

RG_TEST(grammar_errors_are_clear) {
    struct {
        const char *text, *want;
    } bad[] = {{"root ::= \"a\n", "unterminated"},
               {"root ::= foo\n", "'foo' is used but not defined"},
               {"root ::= [z-a]\n", "upper bound"},
               {"root ::= root \"a\" | \"b\"\n", "left recursion"},
               {"root ::= \"a\"\nroot ::= \"b\"\n", "defined twice"},
               {"start ::= \"a\"\n", "no rule named 'root'"},
               {"root := \"a\"\n", "expected '::='"},
               {"root ::= *\n", "repetition without"},
               {"root ::= \"a\"{3,1}\n", "n < m"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_grammar *g = NULL;
        rg_err e;
        rg_err_clear(&e);
        rg_status rc = rg_grammar_parse(bad[i].text, strlen(bad[i].text), NULL, &g, &e);
        CHECKF(rc != RG_OK && strstr(e.msg, bad[i].want), "grammar %zu: rc %d msg '%s'", i, rc, e.msg);
        rg_grammar_free(g);
    }
}

/* ---- a small vocabulary with multi-byte and partial-UTF-8 tokens ---- */
#define EOG_ID 0
#define CTRL_ID 1
static const char *extra[] = {"{\"", "\":", "\": ", ", \"", "\"}", "\",", "true", "false", "null",
                              "name", "age", "id", "\"name\"", "12", "3.5", "e+1", "[{", "}]", "],",
                              "\\n", "\\u00e9", "  ", "中", "文", "\xe4", "\xb8\xad", "\xe4\xb8",
                              "\xad", " the", "ing", "},{", "-0", "\"\"", "[]", "{}", "0.", "\\\"",
                              "red", "green", "\"red\"", "\"blue\"", "tags", "\"tags\"", ", ", "01"};
typedef struct {
    const char **pieces;
    size_t *lens;
    int n;
} vocab_def;

static vocab_def make_vocab(void) {
    vocab_def v;
    int n = 2 + 95 + (int)(sizeof extra / sizeof extra[0]);
    v.pieces = calloc((size_t)n, sizeof *v.pieces);
    v.lens = calloc((size_t)n, sizeof *v.lens);
    static char ascii[95][2];
    int k = 2;
    for (int c = 0x20; c < 0x7f; c++) {
        ascii[c - 0x20][0] = (char)c;
        v.pieces[k] = ascii[c - 0x20];
        v.lens[k++] = 1;
    }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        v.pieces[k] = extra[i];
        v.lens[k++] = strlen(extra[i]);
    }
    v.n = k; /* ids 0 (eog) and 1 (control) have no piece */
    return v;
}

RG_TEST(grammar_mask_matches_direct_checks) {
    vocab_def vd = make_vocab();
    int32_t eog = EOG_ID;
    rg_grammar_vocab *v = rg_grammar_vocab_new(vd.pieces, vd.lens, vd.n, &eog, 1);
    REQUIRE(v);
    rg_grammar *g;
    rg_err e;
    REQUIRE(rg_grammar_json_object(&g, &e) == RG_OK);
    rg_grammar_state *st = rg_grammar_state_new(g);
    uint8_t *mask = malloc((size_t)vd.n);
    unsigned long long rng = 7;
    for (int step = 0; step < 60; step++) {
        int n = rg_grammar_mask(st, v, mask);
        REQUIRE(n > 0);
        for (int t = 0; t < vd.n; t++)
            CHECKF(mask[t] == rg_grammar_allows(st, v, t), "step %d token %d: mask %d direct %d", step, t,
                   mask[t], rg_grammar_allows(st, v, t));
        CHECK(!mask[CTRL_ID]);
        int pick;
        do pick = (int)(rg_test_rand(&rng) % (unsigned long long)vd.n);
        while (!mask[pick]);
        if (pick == EOG_ID) break;
        REQUIRE(rg_grammar_accept_token(st, v, pick));
    }
    free(mask);
    rg_grammar_state_free(st);
    rg_grammar_free(g);
    rg_grammar_vocab_free(v);
    free(vd.pieces);
    free(vd.lens);
}

#include "jsonschema_check.h"

/* One generation: a random "model" picks among allowed tokens; when the
 * budget runs short it takes the allowed token that most shortens the
 * way to a complete document (as the server's sampler does). */
static int generate(const rg_grammar *g, const rg_grammar_vocab *v, int n_vocab, const char **pieces,
                    const size_t *lens, unsigned long long *rng, int budget, char *out, size_t cap) {
    rg_grammar_state *st = rg_grammar_state_new(g);
    uint8_t *mask = malloc((size_t)n_vocab);
    size_t len = 0;
    int ok = 0;
    for (int step = 0; step < budget; step++) {
        if (rg_grammar_mask(st, v, mask) == 0) break;
        int pick = -1, remaining = budget - step;
        /* the random "model" proposes; a token after which the document
         * could not be finished within the budget is refused */
        for (int tries = 0; tries < 64 && pick < 0; tries++) {
            int t = (int)(rg_test_rand(rng) % (unsigned long long)n_vocab);
            if (!mask[t]) {
                tries--;
                continue;
            }
            int d = rg_grammar_distance_after(st, v, t);
            if (d >= 0 && d <= remaining - 1) pick = t;
        }
        if (pick < 0) { /* nothing proposed fits: the shortest way home */
            int best = 1 << 30;
            for (int t = 0; t < n_vocab; t++) {
                int d = mask[t] ? rg_grammar_distance_after(st, v, t) : -1;
                if (d >= 0 && d < best) best = d, pick = t;
            }
        }
        if (pick < 0) break;
        if (pick == EOG_ID) {
            ok = 1;
            break;
        }
        if (!rg_grammar_accept_token(st, v, pick) || len + lens[pick] >= cap) break;
        memcpy(out + len, pieces[pick], lens[pick]);
        len += lens[pick];
    }
    out[len] = '\0';
    if (!ok && rg_grammar_done(st)) ok = 1;
    free(mask);
    rg_grammar_state_free(st);
    return ok;
}

RG_TEST(grammar_json_schema_generations_validate) {
    vocab_def vd = make_vocab();
    int32_t eog = EOG_ID;
    rg_grammar_vocab *v = rg_grammar_vocab_new(vd.pieces, vd.lens, vd.n, &eog, 1);
    REQUIRE(v);
    unsigned long long rng = 12345;
    int total = 0, valid = 0;
    static char out[1 << 16];
    for (int s = 0; s < 20; s++) {
        rg_grammar *g;
        rg_err e;
        rg_status rc = rg_grammar_from_json_schema(rg_test_schemas[s], strlen(rg_test_schemas[s]), &g, &e);
        CHECKF(rc == RG_OK, "schema %d: %s", s, e.msg);
        if (rc) continue;
        json_t *schema = json_loads(rg_test_schemas[s], 0, NULL);
        for (int k = 0; k < 25; k++) {
            total++;
            int done = generate(g, v, vd.n, vd.pieces, vd.lens, &rng, 160, out, sizeof out);
            json_error_t je;
            json_t *doc = json_loads(out, JSON_DECODE_ANY, &je);
            int ok = done && doc && rg_test_schema_validate(schema, doc, schema);
            if (!ok) fprintf(stderr, "  schema %d generation %d invalid: %s (%s)\n", s, k, out, doc ? "schema" : je.text);
            valid += ok;
            json_decref(doc);
        }
        json_decref(schema);
        rg_grammar_free(g);
    }
    CHECK_EQ_INT(total, 500);
    CHECK_EQ_INT(valid, total);
    rg_grammar_vocab_free(v);
    free(vd.pieces);
    free(vd.lens);
}

RG_TEST(grammar_schema_errors) {
    const char *bad[] = {"{\"type\": \"strin\"}", "{\"$ref\": \"#/nowhere\"}", "[1,2", "{\"enum\": []}",
                         "{\"type\": \"array\", \"minItems\": 5, \"maxItems\": 2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_grammar *g = NULL;
        rg_err e;
        CHECKF(rg_grammar_from_json_schema(bad[i], strlen(bad[i]), &g, &e) != RG_OK, "accepted %s", bad[i]);
        rg_grammar_free(g);
    }
}
