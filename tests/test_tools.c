/* test_tools.c - the read-only SQL tool refuses every write and escape,
 * answers reads; the calculator. */
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/tools.h"
#include "test.h"

static void make_db(const char *path) {
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, amount REAL);"
                         "INSERT INTO orders VALUES(1,'张三',120.5),(2,'Alice',80),(3,'Bob',300);",
                         NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static long long count_rows(const char *path) {
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM orders", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

RG_TEST(tools_sql_refuses_writes_and_escapes) {
    char path[4096], other[4096], into[4096];
    snprintf(path, sizeof path, "%s/shop.db", rg_test_tmpdir());
    snprintf(other, sizeof other, "%s/other.db", rg_test_tmpdir());
    snprintf(into, sizeof into, "%s/copy.db", rg_test_tmpdir());
    make_db(path);
    rg_sqltool *t;
    rg_err e;
    REQUIRE(rg_sqltool_open("shop", path, &t, &e) == RG_OK);
    char attach[8300], vacuum[8300];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS x", other);
    snprintf(vacuum, sizeof vacuum, "VACUUM INTO '%s'", into);
    const char *bad[] = {
        "INSERT INTO orders VALUES(4,'x',1)",
        "UPDATE orders SET amount=0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE t(x)",
        attach,
        "PRAGMA journal_mode=DELETE",
        "PRAGMA user_version=5",
        vacuum,
        "VACUUM",
        "SELECT 1; DELETE FROM orders",
        "SELECT 1; SELECT 2",
        "SELECT load_extension('/tmp/evil.so')",
        "REPLACE INTO orders VALUES(1,'x',1)",
        "WITH x AS (SELECT 1) INSERT INTO orders SELECT 9,'y',2 FROM x",
        "BEGIN IMMEDIATE",
        "CREATE TEMP TABLE t(x)",
        "ANALYZE",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_buf out;
        rg_buf_init(&out, 1 << 20);
        rg_status rc = rg_sqltool_query(t, bad[i], 100, 1000, &out, &e);
        CHECKF(rc != RG_OK, "accepted: %s", bad[i]);
        rg_buf_free(&out);
    }
    struct stat st;
    CHECK(stat(into, &st) != 0);  /* VACUUM INTO wrote nothing */
    CHECK(stat(other, &st) != 0); /* ATTACH created nothing */
    CHECK_EQ_INT(count_rows(path), 3);
    /* reads */
    rg_buf out;
    rg_buf_init(&out, 1 << 20);
    REQUIRE(rg_sqltool_query(t, "SELECT customer, amount FROM orders WHERE amount > 100 ORDER BY id;",
                             100, 1000, &out, &e) == RG_OK);
    CHECK_STREQ(out.data, "{\"columns\":[\"customer\",\"amount\"],\"rows\":[[\"张三\",120.5],"
                          "[\"Bob\",300.0]],\"truncated\":false}");
    rg_buf_reset(&out);
    REQUIRE(rg_sqltool_query(t, "SELECT id FROM orders -- trailing comment", 2, 1000, &out, &e) == RG_OK);
    CHECK(strstr(out.data, "\"truncated\":true") != NULL);
    rg_buf_reset(&out);
    CHECK(rg_sqltool_query(t, "PRAGMA journal_mode=WAL", 100, 1000, &out, &e) == RG_DENIED);
    REQUIRE(rg_sqltool_query(t, "PRAGMA table_info(orders)", 100, 1000, &out, &e) == RG_OK);
    CHECK(strstr(out.data, "customer") != NULL);
    rg_buf_reset(&out);
    /* a runaway query is stopped by the time limit */
    CHECK_EQ_INT(rg_sqltool_query(t,
                                  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                                  "SELECT count(*) FROM c",
                                  10, 200, &out, &e),
                 RG_TIMEOUT);
    rg_buf_reset(&out);
    REQUIRE(rg_sqltool_schema(t, &out, &e) == RG_OK);
    CHECK(strstr(out.data, "CREATE TABLE orders") != NULL);
    rg_buf_free(&out);
    rg_sqltool_close(t);
    CHECK_EQ_INT(rg_sqltool_open("x", "/nonexistent/db.sqlite", &t, &e), RG_DB);
}

RG_TEST(tools_calculator) {
    struct {
        const char *e;
        double v;
    } ok[] = {{"1+2*3", 7},       {"(1+2)*3", 9},     {"2^3^2", 512},   {"-2^2", 4},
              {"10 % 4", 2},      {"sqrt(16)+abs(-2)", 6}, {"max(3, 7) - min(1, 2)", 6},
              {"1e3/8", 125},     {"0x10", 16},       {"round(2.5)", 3}, {"pow(2,10)", 1024},
              {"ln(e)", 1},       {"1.5e-1*10", 1.5}};
    rg_err e;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = 0;
        rg_status rc = rg_calc_eval(ok[i].e, strlen(ok[i].e), &v, &e);
        CHECKF(rc == RG_OK && fabs(v - ok[i].v) < 1e-9, "%s = %g (rc %d %s)", ok[i].e, v, rc, e.msg);
    }
    const char *bad[] = {"", "1+", "(1", "foo(2)", "1/0", "2 3", "sqrt(-1)", "system(1)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        CHECKF(rg_calc_eval(bad[i], strlen(bad[i]), &v, &e) != RG_OK, "accepted '%s'", bad[i]);
    }
    char deep[300];
    memset(deep, '(', sizeof deep);
    double v;
    CHECK_EQ_INT(rg_calc_eval(deep, sizeof deep, &v, &e), RG_FORMAT);
    CHECK(strstr(e.msg, "offset") != NULL);
}
