/* fuzz_guard_policy.c - the guard's policy JSON parser on hostile input:
 * either a clean error or a guard that can redact. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_guard *g = NULL;
    rg_err err;
    rg_status st = rg_guard_open(&g, (const char *)data, size, &err);
    if (st != RG_OK) {
        if (g) abort();
        return 0;
    }
    static const char text[] = "张先生 13800138000 a@example.com 11010519491231002X";
    rg_buf out;
    rg_buf_init(&out, 0);
    rg_guard_vault *v = rg_guard_vault_new();
    if (rg_guard_redact_vault(g, v, text, sizeof text - 1, &out, NULL) != RG_OK) abort();
    rg_guard_vault_free(v);
    rg_buf_free(&out);
    rg_guard_free(g);
    return 0;
}
