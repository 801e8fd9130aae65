/* test_server.c - the HTTP server's parts (request JSON, response cache,
 * metrics text) and the whole server in-process on 127.0.0.1: a raw
 * socket client sends 10,000 malformed requests (truncated JSON, wrong
 * types, huge numbers, invalid UTF-8, broken HTTP) and every answer must
 * be a 4xx while the server keeps serving. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "server/server_int.h"
#include "test.h"

/* ---- request JSON ---- */

RG_TEST(server_parse_chat_ok) {
    const char *b = "{\"model\":\"rag:docs\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":"
                    "\"text\",\"text\":\"b\"}]}],\"temperature\":0,\"max_tokens\":7,\"stop\":[\"x\","
                    "\"yz\"],\"seed\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    rg__gen_req g;
    rg_err err;
    REQUIRE(rg__parse_gen(b, strlen(b), 1, &g, &err) == RG_OK);
    CHECK_EQ_INT(g.n_msgs, 2);
    CHECK_STREQ(g.msgs[1].content, "a\nb");
    CHECK_STREQ(g.collection, "docs"); /* from model rag:docs */
    CHECK(g.has_temperature && g.temperature == 0.0);
    CHECK_EQ_INT(g.max_tokens, 7);
    CHECK_EQ_INT(g.n_stop, 2);
    CHECK_STREQ(g.stop[1], "yz");
    CHECK(g.stream && g.include_usage && g.has_seed && g.seed == 3);
    rg__gen_req_free(&g);
}

RG_TEST(server_parse_errors_name_the_field) {
    struct {
        const char *body;
        const char *want; /* substring of the error */
    } cases[] = {
        {"", "empty"},
        {"{", "malformed JSON"},
        {"[]", "JSON object"},
        {"{\"messages\":[]}", "'messages'"},
        {"{\"messages\":[{\"role\":\"user\"}]}", "content"},
        {"{\"messages\":[{\"role\":\"x\",\"content\":\"a\"}]}", "role"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":9}", "temperature"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":1.5}", "max_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[1]}", "stop"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2}", "'n'"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"collection\":\"a/b\"}", "collection"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "malformed JSON"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"seed\":1e999}", "malformed JSON"},
        {"{\"a\":1,\"a\":2}", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg__gen_req g;
        rg_err err;
        rg_err_clear(&err);
        rg_status rc = rg__parse_gen(cases[i].body, strlen(cases[i].body), 1, &g, &err);
        CHECKF(rc != RG_OK, "case %zu accepted", i);
        CHECKF(strstr(rg_err_text(&err), cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i,
               rg_err_text(&err), cases[i].want);
    }
    rg__search_req s;
    rg_err err;
    {
        static const char nul[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]\0}";
        rg__gen_req g;
        CHECK(rg__parse_gen(nul, sizeof nul - 1, 1, &g, &err) != RG_OK); /* jansson alone accepts it */
        CHECK(strstr(rg_err_text(&err), "NUL byte") != NULL);
    }
    CHECK(rg__parse_search("{\"query\":\"a\",\"k\":0}", 19, &s, &err) != RG_OK);
    CHECK(rg__parse_search("{\"query\":\"a\",\"mode\":\"x\"}", 24, &s, &err) != RG_OK);
    CHECK(rg__parse_search("{\"query\":\"a\",\"filter\":{\"x\":[1]}}", 32, &s, &err) != RG_OK);
    {
        const char *q = "{\"query\":\"a\",\"k\":3,\"filter\":{\"x\":1}}";
        REQUIRE(rg__parse_search(q, strlen(q), &s, &err) == RG_OK);
    }
    CHECK_EQ_INT(s.k, 3);
    CHECK_STREQ(s.mode, ""); /* the collection's default */
    rg__search_req_free(&s);
    {
        const char *q = "{\"query\":\"a\",\"mode\":\"vector\"}";
        REQUIRE(rg__parse_search(q, strlen(q), &s, &err) == RG_OK);
        CHECK_STREQ(s.mode, "vector");
        rg__search_req_free(&s);
    }
    char *set = NULL;
    {
        const char *c = "{\"name\":\"a\",\"redact\":true}";
        REQUIRE(rg__parse_collection_settings(c, strlen(c), &set, &err) == RG_OK);
        CHECK_STREQ(set, "{\"redact\":true}");
        free(set);
        c = "{\"name\":\"a\"}";
        REQUIRE(rg__parse_collection_settings(c, strlen(c), &set, &err) == RG_OK);
        CHECK(set == NULL);
        c = "{\"name\":\"a\",\"redact_policy\":{\"types\":{\"email\":{\"op\":\"hash\"}}}}";
        REQUIRE(rg__parse_collection_settings(c, strlen(c), &set, &err) == RG_OK);
        CHECK(set && strstr(set, "\"redact\":true") && strstr(set, "\"op\":\"hash\""));
        free(set);
        c = "{\"name\":\"a\",\"redact_policy\":{\"types\":{\"emial\":{}}}}";
        CHECK(rg__parse_collection_settings(c, strlen(c), &set, &err) != RG_OK);
        CHECK(strstr(rg_err_text(&err), "emial") != NULL);
        c = "{\"name\":\"a\",\"redact\":1}";
        CHECK(rg__parse_collection_settings(c, strlen(c), &set, &err) != RG_OK);
        c = "{\"name\":\"a\",\"redact\":false,\"redact_policy\":{}}";
        CHECK(rg__parse_collection_settings(c, strlen(c), &set, &err) != RG_OK);
    }
    char name[128];
    CHECK(rg__parse_collection("{\"name\":\"a__b\"}", 15, name, sizeof name, &err) != RG_OK);
    CHECK(rg__parse_collection("{\"name\":\".x\"}", 13, name, sizeof name, &err) != RG_OK);
    CHECK(rg__parse_collection("{\"name\":\"ok-1.x\"}", 17, name, sizeof name, &err) == RG_OK);
}

/* ---- cache ---- */

RG_TEST(server_cache_lru_and_ttl) {
    rg__cache *c = rg__cache_new(2, 1);
    REQUIRE(c);
    uint8_t k1[32] = {1}, k2[32] = {2}, k3[32] = {3};
    rg__cache_put(c, k1, "one");
    rg__cache_put(c, k2, "two");
    char *v = rg__cache_get(c, k1); /* k1 now most recent */
    CHECK_STREQ(v, "one");
    free(v);
    rg__cache_put(c, k3, "three"); /* evicts k2 (least recent) */
    v = rg__cache_get(c, k2);
    CHECK(v == NULL);
    free(v);
    v = rg__cache_get(c, k3);
    CHECK_STREQ(v, "three");
    free(v);
    rg__cache_put(c, k3, "THREE");
    v = rg__cache_get(c, k3);
    CHECK_STREQ(v, "THREE");
    free(v);
    usleep(1100 * 1000); /* ttl 1 s */
    v = rg__cache_get(c, k1);
    CHECK(v == NULL);
    free(v);
    rg__cache_free(c);
}

RG_TEST(server_metrics_text) {
    static rg__metrics m;
    rg__metrics_request(&m, RG__R_SEARCH, 200, 0.003);
    rg__metrics_request(&m, RG__R_SEARCH, 200, 0.2);
    rg__metrics_request(&m, RG__R_SEARCH, 418, 0.001);
    rg_buf b;
    rg_buf_init(&b, 0);
    rg__metrics_render(&m, &b);
    CHECK(strstr(b.data, "ragd_requests_total{route=\"/v1/collections/{c}/search\",status=\"200\"} 2"));
    CHECK(strstr(b.data, "ragd_requests_total{route=\"/v1/collections/{c}/search\",status=\"400\"} 1"));
    CHECK(strstr(b.data, "ragd_request_duration_seconds_bucket{route=\"/v1/collections/{c}/search\",le=\"0.005\"} 2"));
    CHECK(strstr(b.data, "ragd_request_duration_seconds_bucket{route=\"/v1/collections/{c}/search\",le=\"+Inf\"} 3"));
    CHECK(strstr(b.data, "ragd_request_duration_seconds_count{route=\"/v1/collections/{c}/search\"} 3"));
    rg_buf_free(&b);
}

/* ---- the server in-process ---- */

static int http_raw(int port, const char *req, size_t len, char *resp, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) break; /* the server may answer (and close) early */
        off += (size_t)n;
    }
    size_t got = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) break;
        ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        if (got == cap - 1) break;
    }
    resp[got] = 0;
    close(fd);
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return 0;
    return status;
}

static int http_json(int port, const char *method, const char *path, const char *body,
                     size_t blen, char *resp, size_t cap) {
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, blen);
    char *req = malloc((size_t)hl + blen);
    memcpy(req, head, (size_t)hl);
    if (blen) memcpy(req + hl, body, blen);
    int st = http_raw(port, req, (size_t)hl + blen, resp, cap);
    free(req);
    return st;
}

static rg_server *start(void) {
    signal(SIGPIPE, SIG_IGN);
    rg_server_config c;
    rg_server_config_default(&c);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data", rg_test_tmpdir());
    c.data_dir = dir;
    c.port = 0;
    c.max_body = 64 << 10;
    rg_server *s;
    rg_err err;
    rg_status rc = rg_server_start(&c, &s, &err);
    if (rc != RG_OK) fprintf(stderr, "  %s\n", rg_err_text(&err));
    REQUIRE(rc == RG_OK);
    return s;
}

RG_TEST(server_malformed_requests_get_4xx) {
    rg_server *s = start();
    int port = rg_server_port(s);
    static char resp[1 << 16];
    const char *doc = "{\"text\":\"Paris is the capital of France. Bananas are yellow.\","
                      "\"source\":\"facts.txt\"}";
    REQUIRE(http_json(port, "POST", "/v1/collections", "{\"name\":\"docs\"}", 15, resp,
                      sizeof resp) == 201);
    REQUIRE(http_json(port, "POST", "/v1/collections/docs/documents", doc, strlen(doc), resp,
                      sizeof resp) == 201);

    /* Valid bodies per route, to be truncated and mutated. */
    static const struct {
        const char *path, *body;
    } seeds[] = {
        {"/v1/chat/completions",
         "{\"collection\":\"docs\",\"messages\":[{\"role\":\"user\",\"content\":\"capital?\"}],"
         "\"temperature\":0.5,\"max_tokens\":16,\"stop\":[\"x\"],\"stream\":false}"},
        {"/v1/completions", "{\"model\":\"rag:docs\",\"prompt\":\"capital\",\"max_tokens\":4}"},
        {"/v1/collections/docs/search", "{\"query\":\"capital\",\"k\":3,\"mode\":\"bm25\"}"},
        {"/v1/collections/docs/documents", "{\"text\":\"hello there\",\"source\":\"x.txt\"}"},
        {"/v1/collections", "{\"name\":\"zz\"}"},
        {"/v1/embeddings", "{\"input\":[\"a\",\"b\"]}"},
    };
    static const char *bad_values[] = {
        "-1", "1e999", "123456789012345678901234567890", "[]", "{}", "null",
        "true", "\"\xff\xfe\"", "\"\xc0\xaf\"", "[[[[[[[[[[]]]]]]]]]]", "\"\\ud800\"",
    };
    static const char *keys[] = {"messages", "temperature", "max_tokens", "stop", "query", "k",
                                 "mode", "text", "name", "input", "prompt", "collection",
                                 "filter", "top_p", "seed", "metadata"};
    unsigned long long rs = 12345;
    int n_req = 10000, n_4xx = 0, n_other = 0;
    uint64_t t0 = rg_now_ns();
    char body[4096];
    if (getenv("RAGD_MALFORMED_N")) n_req = atoi(getenv("RAGD_MALFORMED_N"));
    for (int i = 0; i < n_req; i++) {
        int si = (int)(rg_test_rand(&rs) % (sizeof seeds / sizeof seeds[0]));
        const char *path = seeds[si].path;
        const char *seed = seeds[si].body;
        size_t L = strlen(seed);
        size_t bl = 0;
        int kind = (int)(rg_test_rand(&rs) % 6);
        if (kind == 0) { /* truncated */
            bl = rg_test_rand(&rs) % (L - 1);
            memcpy(body, seed, bl);
        } else if (kind == 1) { /* a field of the wrong type / huge number / bad UTF-8 */
            const char *k = keys[rg_test_rand(&rs) % (sizeof keys / sizeof keys[0])];
            const char *v = bad_values[rg_test_rand(&rs) % (sizeof bad_values / sizeof bad_values[0])];
            bl = (size_t)snprintf(body, sizeof body, "{\"%s\":%s}", k, v);
        } else if (kind == 2) { /* seed with one byte made invalid (0xFF, NUL, 0xC0) */
            memcpy(body, seed, L);
            bl = L;
            size_t at = rg_test_rand(&rs) % L;
            static const char junk[] = "\xff\x00\xc0";
            body[at] = junk[rg_test_rand(&rs) % 3];
        } else if (kind == 3) { /* random bytes */
            bl = 1 + rg_test_rand(&rs) % 200;
            for (size_t j = 0; j < bl; j++) body[j] = (char)(rg_test_rand(&rs) & 0xff);
            body[0] = '{';
            body[bl - 1] = '\x01';
        } else if (kind == 4) { /* valid shape, invalid values inside */
            bl = (size_t)snprintf(body, sizeof body,
                                  "{\"messages\":[{\"role\":\"user\",\"content\":%s}],"
                                  "\"query\":%s,\"name\":%s,\"text\":%s,\"input\":%s,\"prompt\":%s}",
                                  bad_values[rg_test_rand(&rs) % 8], bad_values[rg_test_rand(&rs) % 8],
                                  bad_values[rg_test_rand(&rs) % 8], bad_values[rg_test_rand(&rs) % 8],
                                  bad_values[rg_test_rand(&rs) % 8], bad_values[rg_test_rand(&rs) % 8]);
        } else { /* broken HTTP */
            static const char *raw[] = {
                "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nBad Header Line\r\n\r\n",
                "POST /v1/collections HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -5\r\n\r\n{}",
                "POST /v1/collections HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
                "POST /v1/collections/%00/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
                "GET /v1/collections/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "GET /v1/collections/a%2Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "POST /v1/collections/docs/documents HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                "multipart/form-data; boundary=XX\r\nContent-Length: 16\r\n\r\n--XX\r\nbroken\r\n\r\n",
            };
            const char *rq = raw[rg_test_rand(&rs) % (sizeof raw / sizeof raw[0])];
            int st = http_raw(port, rq, strlen(rq), resp, sizeof resp);
            if (st >= 400 && st < 500) n_4xx++;
            else {
                if (n_other < 10) fprintf(stderr, "  raw request got %d: %.60s\n", st, rq);
                n_other++;
            }
            continue;
        }
        uint64_t tq = rg_now_ns();
        int st = http_json(port, "POST", path, body, bl, resp, sizeof resp);
        if (getenv("RAGD_MALFORMED_N") && rg_now_ns() - tq > 500000000ull)
            fprintf(stderr, "  slow (%.1f s): %s %.*s -> %d\n", (double)(rg_now_ns() - tq) / 1e9, path,
                    (int)(bl > 100 ? 100 : bl), body, st);
        if (st >= 400 && st < 500) {
            n_4xx++;
            if (!strstr(resp, "\"error\":{\"message\":")) {
                if (n_other < 10) fprintf(stderr, "  %d without an OpenAI error body\n", st);
                n_other++;
            }
        } else {
            if (n_other < 10)
                fprintf(stderr, "  %s with %.*s -> %d\n", path, (int)(bl > 120 ? 120 : bl), body, st);
            n_other++;
        }
    }
    double secs = (double)(rg_now_ns() - t0) / 1e9;
    fprintf(stderr, "  %d malformed requests in %.1f s: %d got 4xx, %d other\n", n_req, secs,
            n_4xx, n_other);
    CHECK_EQ_INT(n_other, 0);
    CHECK_EQ_INT(n_4xx, n_req);
    /* still serving, and the collection is intact */
    CHECK_EQ_INT(http_json(port, "GET", "/health", "", 0, resp, sizeof resp), 200);
    const char *q = "{\"query\":\"capital of France\"}";
    CHECK_EQ_INT(http_json(port, "POST", "/v1/collections/docs/search", q, strlen(q), resp,
                           sizeof resp),
                 200);
    CHECK(strstr(resp, "facts.txt") != NULL);
    rg_server_free(s);
}

RG_TEST(server_client_disconnect_mid_stream) {
    /* A streaming request whose client hangs up at once: the server
     * must notice, count it, and keep serving. */
    rg_server *s = start();
    int port = rg_server_port(s);
    static char resp[1 << 16];
    const char *doc = "{\"text\":\"Paris is the capital of France.\",\"source\":\"f.txt\"}";
    REQUIRE(http_json(port, "POST", "/v1/collections", "{\"name\":\"d\"}", 12, resp, sizeof resp) == 201);
    REQUIRE(http_json(port, "POST", "/v1/collections/d/documents", doc, strlen(doc), resp,
                      sizeof resp) == 201);
    for (int i = 0; i < 50; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
        const char *b = "{\"collection\":\"d\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                        "\"content\":\"capital of France\"}]}";
        char req[1024];
        int n = snprintf(req, sizeof req,
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(b), b);
        CHECK(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
        close(fd);
    }
    /* every abandoned job ends (cancelled or done) and frees its slot; on a
     * loaded machine that can take a while, so wait (not a timing check) */
    /* (zero for a whole second: connections still in the listen queue
     * have not been counted yet when the first zero is seen) */
    for (int i = 0, quiet = 0; i < 1200 && quiet < 20; i++) {
        if (!atomic_load(&s->metrics.jobs_running) && !atomic_load(&s->metrics.queue_depth) &&
            !atomic_load(&s->metrics.inflight))
            quiet++;
        else
            quiet = 0;
        usleep(50 * 1000);
    }
    CHECK_EQ_INT(http_json(port, "GET", "/health", "", 0, resp, sizeof resp), 200);
    CHECK_EQ_INT(atomic_load(&s->metrics.inflight), 0);
    CHECK_EQ_INT(atomic_load(&s->metrics.jobs_running), 0);
    CHECK_EQ_INT(atomic_load(&s->metrics.queue_depth), 0);
    rg_server_free(s);
}
