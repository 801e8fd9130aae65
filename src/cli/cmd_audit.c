/* cmd_audit.c - `ragd audit verify FILE`: checks the hash chain of an
 * audit log and names the first bad line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "guard/guard.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd audit verify FILE\n"
            "\n"
            "Checks a tamper-evident audit log (JSON lines, each carrying the hash\n"
            "of the previous one): prints 'FILE: ok, N lines' and exits 0, or names\n"
            "the first bad line ('FILE:LINE: reason') and exits 1.\n"
            "The key of a keyed (HMAC) log is read from $RAGD_AUDIT_KEY.\n");
}

int rg_cmd_audit(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], "verify") != 0)
        return rg_cli_usage("audit", "expected 'verify FILE'");
    const char *key = getenv("RAGD_AUDIT_KEY");
    size_t keylen = key ? strlen(key) : 0;
    if (keylen > 64) return rg_cli_usage("audit", "$RAGD_AUDIT_KEY longer than 64 bytes");
    size_t n, bad;
    rg_err err = {0};
    rg_status st = rg_audit_verify(argv[2], key, keylen, &n, &bad, &err);
    if (st) return rg_cli_fail("audit", &err);
    printf("%s: ok, %zu lines\n", argv[2], n);
    return RG_EXIT_OK;
}
