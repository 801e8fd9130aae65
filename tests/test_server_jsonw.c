/* test_server_jsonw.c - the direct JSON writer of the search route gives
 * the same bytes as jansson's json_dumps(JSON_COMPACT) for the same
 * values (strings with every escape class, random UTF-8, reals of every
 * magnitude), and valid JSON with U+FFFD for invalid UTF-8. */
#include <math.h>

#include "core/utf8.h"
#include "server/server_int.h"
#include "test.h"

static char *dump_str(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (!j) return NULL;
    char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return d;
}

static int same_as_jansson(const char *s, size_t n) {
    char *want = dump_str(s, n);
    if (!want) return 0;
    rg_buf b;
    rg_buf_init(&b, 0);
    int ok = rg__jw_str(&b, s, n) == RG_OK && b.len == strlen(want) && !memcmp(b.data, want, b.len);
    if (!ok) fprintf(stderr, "jansson %s\nours    %s\n", want, b.data ? b.data : "(null)");
    free(want);
    rg_buf_free(&b);
    return ok;
}

RG_TEST(server_jsonw_strings_match_jansson) {
    CHECK(same_as_jansson("", 0));
    CHECK(same_as_jansson("plain ascii / slash", 19));
    const char esc[] = "q\" b\\ \b\f\n\r\t \x01\x1f\x7f end";
    CHECK(same_as_jansson(esc, sizeof esc - 1));
    const char nul[] = "a\0b";
    CHECK(same_as_jansson(nul, 3));
    CHECK(same_as_jansson("年假有多少天？ ü € \xf0\x9f\x98\x80 \xef\xbf\xbd", 37));
    unsigned long long st = 7;
    for (int it = 0; it < 2000; it++) { /* random valid UTF-8 mixing every class */
        char s[600];
        size_t n = 0;
        int len = (int)(rg_test_rand(&st) % 100);
        for (int i = 0; i < len; i++) {
            unsigned long long r = rg_test_rand(&st);
            uint32_t cp;
            switch (r % 5) {
            case 0: cp = (uint32_t)(r >> 8) % 0x80; break;
            case 1: cp = 0x80 + (uint32_t)(r >> 8) % 0x780; break;
            case 2: cp = 0x800 + (uint32_t)(r >> 8) % 0xF800; break;
            case 3: cp = 0x10000 + (uint32_t)(r >> 8) % 0x100000; break;
            default: cp = (uint32_t)(r >> 8) % 0x20; break;
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
            n += (size_t)rg_utf8_encode(cp, s + n);
        }
        if (!same_as_jansson(s, n)) {
            CHECKF(0, "random string %d differs", it);
            break;
        }
    }
}

RG_TEST(server_jsonw_invalid_utf8_is_replaced) {
    const char bad[] = "a\xff" "b\xc3" "c\xe4\xb8" "d\xed\xa0\x80" "e";
    rg_buf b;
    rg_buf_init(&b, 0);
    REQUIRE(rg__jw_str(&b, bad, sizeof bad - 1) == RG_OK);
    json_error_t je;
    json_t *j = json_loads(b.data, JSON_DECODE_ANY, &je);
    CHECKF(j != NULL, "not valid JSON: %s (%s)", b.data, je.text);
    if (j) {
        CHECK(json_is_string(j));
        CHECK(strstr(json_string_value(j), "\xef\xbf\xbd") != NULL);
        CHECK(json_string_value(j)[0] == 'a');
        json_decref(j);
    }
    rg_buf_free(&b);
}

RG_TEST(server_jsonw_reals_and_ints_match_jansson) {
    double vals[] = {0.0, 1.0, -2.0, 0.5, 7.123456789, 1e-5, 1.5e-7, 3e20, 1e300, -4.25e-300,
                     12345678901234567.0, (double)0.1f, (double)7.7234f};
    unsigned long long st = 3;
    for (int i = 0; i < 2000 + (int)(sizeof vals / sizeof vals[0]); i++) {
        double v = i < (int)(sizeof vals / sizeof vals[0])
                       ? vals[i]
                       : (double)(float)(rg_test_randn(&st) * pow(10, (int)(rg_test_rand(&st) % 40) - 20));
        json_t *j = json_real(v);
        REQUIRE(j);
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        rg_buf b;
        rg_buf_init(&b, 0);
        REQUIRE(rg__jw_real(&b, v) == RG_OK);
        CHECKF(!strcmp(b.data, want), "real %.17g: jansson %s ours %s", v, want, b.data);
        free(want);
        rg_buf_free(&b);
    }
    rg_buf b;
    rg_buf_init(&b, 0);
    long long ints[] = {0, 7, -7, 42, 1000000007, -9223372036854775807LL - 1, 9223372036854775807LL};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        REQUIRE(rg__jw_int(&b, ints[i]) == RG_OK);
        REQUIRE(rg_buf_putc(&b, ',') == RG_OK);
    }
    CHECK_STREQ(b.data, "0,7,-7,42,1000000007,-9223372036854775808,9223372036854775807,");
    rg_buf_free(&b);
}
