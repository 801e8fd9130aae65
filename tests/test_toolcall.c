/* test_toolcall.c - OpenAI tools with the local model (src/server/toolcall.c):
 * for each call format (hermes, llama3, mistral) the forcing grammar
 * accepts exactly well-formed calls to the request's functions with valid
 * arguments; what the grammar produces (random walks through the grammar
 * over a byte vocabulary) parses back into tool_calls whose arguments
 * validate; hostile model text never yields a call to an unknown function
 * or with non-object arguments; history rendering writes calls and results
 * in the family's format; request parsing validates tools/tool_choice. */
#include <string.h>

#include "grammar/grammar.h"
#include "jsonschema_check.h"
#include "server/server_int.h"
#include "test.h"

static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},\"unit\":{\"enum\":[\"c\",\"f\"]}},"
    "\"required\":[\"city\",\"unit\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}]";

static int accepts(rg_grammar *g, const char *text) {
    rg_grammar_state *s = rg_grammar_state_new(g);
    int ok = s && rg_grammar_accept(s, text, strlen(text)) && rg_grammar_done(s);
    rg_grammar_state_free(s);
    return ok;
}

RG_TEST(toolcall_grammar_accepts_exactly_valid_calls) {
    json_t *tools = json_loads(TOOLS, 0, NULL);
    REQUIRE(tools);
    rg_err err;
    struct {
        int fmt;
        const char *good, *bad[4];
    } cases[] = {
        {RG__TF_HERMES,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\",\"unit\":\"c\"}}\n</tool_call>",
         {"<tool_call>\n{\"name\": \"nope\", \"arguments\": {}}\n</tool_call>",
          "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>",
          "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\",\"unit\":\"k\"}}\n</tool_call>",
          "hello"}},
        {RG__TF_LLAMA3, "{\"name\": \"ping\", \"parameters\": {\"x\": [1, 2]}}",
         {"{\"name\": \"ping\", \"arguments\": {}}", "{\"name\": \"ping\", \"parameters\": 3}",
          "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Parisienne!\",\"unit\":\"c\"}}", "{}"}},
        {RG__TF_MISTRAL,
         "[TOOL_CALLS] [{\"name\": \"ping\", \"arguments\": {}}, {\"name\": \"get_weather\", \"arguments\": "
         "{\"city\":\"Oslo\",\"unit\":\"f\"}}]",
         {"[TOOL_CALLS] []", "[{\"name\": \"ping\", \"arguments\": {}}]",
          "[TOOL_CALLS] [{\"name\": \"ping\"}]", "[TOOL_CALLS] [{\"name\": \"pong\", \"arguments\": {}}]"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg_grammar *g = NULL;
        REQUIRE(rg__tools_grammar(cases[i].fmt, tools, NULL, 1, &g, &err) == RG_OK);
        CHECKF(accepts(g, cases[i].good), "fmt %d refused %s", cases[i].fmt, cases[i].good);
        for (int b = 0; b < 4; b++) CHECKF(!accepts(g, cases[i].bad[b]), "fmt %d accepted %s", cases[i].fmt, cases[i].bad[b]);
        rg_grammar_free(g);
    }
    /* a named function: only that one */
    rg_grammar *g = NULL;
    REQUIRE(rg__tools_grammar(RG__TF_LLAMA3, tools, "ping", 0, &g, &err) == RG_OK);
    CHECK(accepts(g, "{\"name\": \"ping\", \"parameters\": {}}"));
    CHECK(!accepts(g, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"a\",\"unit\":\"c\"}}"));
    rg_grammar_free(g);
    /* not parallel: one hermes call only */
    REQUIRE(rg__tools_grammar(RG__TF_HERMES, tools, NULL, 0, &g, &err) == RG_OK);
    CHECK(!accepts(g, "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": "
                      "\"ping\", \"arguments\": {}}\n</tool_call>"));
    rg_grammar_free(g);
    CHECK(rg__tools_grammar(RG__TF_HERMES, tools, "absent", 0, &g, &err) != RG_OK);
    json_decref(tools);
}

/* Random walks through the grammar over a vocabulary of single bytes and
 * a few multi-byte pieces: every completed walk parses into valid calls. */
RG_TEST(toolcall_random_forced_calls_parse_and_validate) {
    json_t *tools = json_loads(TOOLS, 0, NULL);
    REQUIRE(tools);
    static char bytes[256][2];
    const char *pieces[300];
    size_t lens[300];
    int nv = 0;
    for (int c = 1; c < 128; c++) {
        bytes[c][0] = (char)c;
        pieces[nv] = bytes[c];
        lens[nv++] = 1;
    }
    const char *multi[] = {"\"name\": \"", "get_weather", "ping", "\"arguments\": ", "<tool_call>", "é", "中"};
    for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++) {
        pieces[nv] = multi[i];
        lens[nv++] = strlen(multi[i]);
    }
    int32_t eog = nv;
    pieces[nv] = "";
    lens[nv++] = 0;
    rg_grammar_vocab *v = rg_grammar_vocab_new(pieces, lens, nv, &eog, 1);
    REQUIRE(v);
    uint8_t mask[300];
    rg_err err;
    int parsed = 0;
    unsigned long long rs = 12345;
    for (int fmt = 0; fmt < 3; fmt++) {
        rg_grammar *g = NULL;
        REQUIRE(rg__tools_grammar(fmt, tools, NULL, 1, &g, &err) == RG_OK);
        for (int run = 0; run < 30; run++) {
            rg_grammar_state *s = rg_grammar_state_new(g);
            char out[4096];
            size_t n = 0;
            int budget = 400;
            for (; budget > 0; budget--) {
                float logits[300];
                for (int i = 0; i < nv; i++) logits[i] = (float)rg_test_randf(&rs);
                if (rg_grammar_constrain(s, v, logits, budget, mask) == 0) break;
                int best = 0;
                for (int i = 1; i < nv; i++)
                    if (logits[i] > logits[best]) best = i;
                if (best == eog) break;
                REQUIRE(n + lens[best] < sizeof out);
                memcpy(out + n, pieces[best], lens[best]);
                n += lens[best];
                REQUIRE(rg_grammar_accept_token(s, v, best));
                if (rg_grammar_finished(s)) break;
            }
            CHECKF(rg_grammar_done(s), "fmt %d run %d: incomplete %.*s", fmt, run, (int)n, out);
            size_t cend;
            json_t *calls = rg__tools_parse(fmt, tools, out, n, &cend);
            CHECKF(calls != NULL, "fmt %d: no call parsed from %.*s", fmt, (int)n, out);
            size_t i;
            json_t *c;
            json_array_foreach(calls, i, c) {
                const char *name = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
                json_t *args = json_loads(json_string_value(json_object_get(json_object_get(c, "function"), "arguments")), 0, NULL);
                json_t *schema = NULL;
                size_t k;
                json_t *t;
                json_array_foreach(tools, k, t) if (!strcmp(name, json_string_value(json_object_get(json_object_get(t, "function"), "name")))) schema = json_object_get(json_object_get(t, "function"), "parameters");
                json_t *any = json_pack("{s:s}", "type", "object");
                CHECKF(args && rg_test_schema_validate(schema ? schema : any, args, schema ? schema : any),
                       "fmt %d: arguments do not validate: %.*s", fmt, (int)n, out);
                json_decref(any);
                json_decref(args);
                parsed++;
            }
            json_decref(calls);
            rg_grammar_state_free(s);
        }
        rg_grammar_free(g);
    }
    CHECK(parsed >= 90);
    rg_grammar_vocab_free(v);
    json_decref(tools);
}

RG_TEST(toolcall_parse_hostile_text) {
    json_t *tools = json_loads(TOOLS, 0, NULL);
    size_t cend;
    const char *txt = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"Oslo\\\"}\"}\n</tool_call>";
    json_t *calls = rg__tools_parse(RG__TF_HERMES, tools, txt, strlen(txt), &cend);
    REQUIRE(calls && json_array_size(calls) == 1);
    CHECK_EQ_INT((int)cend, 13); /* "Let me check." is the content */
    json_t *f = json_object_get(json_array_get(calls, 0), "function");
    CHECK_STREQ(json_string_value(json_object_get(f, "arguments")), "{\"city\":\"Oslo\"}");
    CHECK(!strncmp(json_string_value(json_object_get(json_array_get(calls, 0), "id")), "call_", 5));
    json_decref(calls);
    const char *bad[] = {
        "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>", /* not in tools */
        "<tool_call>\n{\"name\": \"ping\", \"arguments\": [1]}\n</tool_call>", /* not an object */
        "<tool_call>\n{\"name\": \"ping\", \"arguments\": \"nope\"}",           /* string, not JSON */
        "<tool_call>{\"name\": \"ping\"", "<tool_call>", "just text", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *c = rg__tools_parse(RG__TF_HERMES, tools, bad[i], strlen(bad[i]), &cend);
        CHECKF(c == NULL, "parsed a call from %s", bad[i]);
        CHECK_EQ_INT((int)cend, (int)strlen(bad[i]));
        json_decref(c);
    }
    txt = "{\"name\": \"ping\", \"parameters\": {}}; {\"name\": \"ping\", \"parameters\": {\"a\": 1}}";
    calls = rg__tools_parse(RG__TF_LLAMA3, tools, txt, strlen(txt), &cend);
    CHECK(calls && json_array_size(calls) == 2);
    json_decref(calls);
    txt = "[TOOL_CALLS] [{\"name\": \"ping\", \"arguments\": {}}, {\"name\": \"evil\", \"arguments\": {}}]";
    calls = rg__tools_parse(RG__TF_MISTRAL, tools, txt, strlen(txt), &cend);
    CHECK(calls && json_array_size(calls) == 1);
    json_decref(calls);
    /* fuzz-ish: random bytes around a marker never crash and yield only known names */
    unsigned long long rs = 99;
    for (int r = 0; r < 2000; r++) {
        char buf[96];
        size_t n = (size_t)(rg_test_rand(&rs) % sizeof buf);
        for (size_t i = 0; i < n; i++) buf[i] = "<tool_call>{}\"name:ping,arguments[]\n "[rg_test_rand(&rs) % 37];
        for (int fmt = 0; fmt < 3; fmt++) {
            json_t *c = rg__tools_parse(fmt, tools, buf, n, &cend);
            size_t i;
            json_t *x;
            json_array_foreach(c, i, x) CHECK(!strcmp(json_string_value(json_object_get(json_object_get(x, "function"), "name")), "ping"));
            CHECK(cend <= n);
            json_decref(c);
        }
    }
    json_decref(tools);
}

RG_TEST(toolcall_history_rendering) {
    rg__msg in[3];
    memset(in, 0, sizeof in);
    snprintf(in[0].role, sizeof in[0].role, "user");
    in[0].content = "weather?";
    snprintf(in[1].role, sizeof in[1].role, "assistant");
    in[1].content = "";
    in[1].tool_calls = json_loads("[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                                  "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]", 0, NULL);
    snprintf(in[2].role, sizeof in[2].role, "tool");
    in[2].content = "{\"temp\":3}";
    snprintf(in[2].tool_call_id, sizeof in[2].tool_call_id, "call_1");
    rg__msg *out;
    rg_err err;
    REQUIRE(rg__tools_history(RG__TF_HERMES, in, 3, &out, &err) == RG_OK);
    CHECK_STREQ(out[1].content, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}\n</tool_call>");
    CHECK_STREQ(out[2].role, "user");
    CHECK_STREQ(out[2].content, "<tool_response>\n{\"temp\":3}\n</tool_response>");
    rg__tools_history_free(out, 3);
    REQUIRE(rg__tools_history(RG__TF_LLAMA3, in, 3, &out, &err) == RG_OK);
    CHECK_STREQ(out[1].content, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Oslo\"}}");
    CHECK_STREQ(out[2].role, "ipython");
    rg__tools_history_free(out, 3);
    REQUIRE(rg__tools_history(RG__TF_MISTRAL, in, 3, &out, &err) == RG_OK);
    CHECK_STREQ(out[1].content, "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}]");
    CHECK_STREQ(out[2].content, "[TOOL_RESULTS] {\"content\":\"{\\\"temp\\\":3}\",\"call_id\":\"call_1\"}[/TOOL_RESULTS]");
    rg__tools_history_free(out, 3);
    json_decref(in[1].tool_calls);
}

RG_TEST(toolcall_request_validation) {
    struct {
        const char *body, *want;
    } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}", "tools[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}", "name"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}", "twice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", "needs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"sometimes\"}", "tool_choice"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}", "'b'"},
        {"{\"messages\":[{\"role\":\"user\",\"tool_calls\":[]}]}", "assistant"},
        {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"x y\"}}]}]}", "tool_calls[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"yaml\"}}", "response_format"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":3}}}", "json_schema"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_execution\":\"cloud\"}", "tool_execution"},
    };
    rg__gen_req g;
    rg_err err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(rg__parse_gen(bad[i].body, strlen(bad[i].body), 1, &g, &err) != RG_OK, "accepted %s", bad[i].body);
        CHECKF(strstr(err.msg, bad[i].want) != NULL, "%s: error '%s' lacks '%s'", bad[i].body, err.msg, bad[i].want);
    }
    const char *ok = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":null,"
                     "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"3\"}],"
                     "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\"}}}],"
                     "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"a\"}},\"parallel_tool_calls\":false,"
                     "\"tool_execution\":\"server\",\"response_format\":{\"type\":\"json_object\"}}";
    REQUIRE(rg__parse_gen(ok, strlen(ok), 1, &g, &err) == RG_OK);
    CHECK(g.tools && g.tool_choice && g.response_format && g.server_tools && !g.parallel_tool_calls);
    CHECK(g.msgs[1].tool_calls != NULL);
    CHECK_STREQ(g.msgs[2].tool_call_id, "call_1");
    rg__gen_req_free(&g);
}
