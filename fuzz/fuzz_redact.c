/* fuzz_redact.c - the PII detector and redactor on hostile text: findings
 * must stay in bounds, sorted and non-overlapping; redaction with a vault
 * and the restore of its placeholders must never fail or read out of
 * bounds.  The first byte picks a policy so several operators run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"

static const char *const POLICIES[4] = {
    NULL,
    "{\"default\":{\"op\":\"pseudonym\"}}",
    "{\"hash_key\":\"fuzz\",\"default\":{\"op\":\"hash\"}}",
    "{\"default\":{\"op\":\"mask\",\"keep_first\":2,\"keep_last\":3}}"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *pol = POLICIES[data[0] & 3];
    rg_guard *g;
    rg_err err;
    if (rg_guard_open(&g, pol, pol ? strlen(pol) : 0, &err) != RG_OK) abort();
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    rg_guard_finding *f;
    size_t n;
    if (rg_guard_scan(g, text, len, &f, &n, &err) != RG_OK) abort();
    size_t prev = 0;
    for (size_t k = 0; k < n; k++) {
        if (f[k].start < prev || f[k].end <= f[k].start || f[k].end > len) abort();
        prev = f[k].end;
    }
    free(f);
    rg_guard_vault *v = rg_guard_vault_new();
    rg_buf out, back;
    rg_buf_init(&out, 0);
    rg_buf_init(&back, 0);
    if (rg_guard_redact_vault(g, v, text, len, &out, NULL) != RG_OK) abort();
    if (rg_guard_vault_restore(v, out.data ? out.data : "", out.len, &back) != RG_OK) abort();
    /* the fuzz text itself as a model "answer" */
    rg_buf_reset(&back);
    if (rg_guard_vault_restore(v, text, len, &back) != RG_OK) abort();
    char line[256];
    char *z = malloc(len + 1);
    memcpy(z, text, len);
    z[len] = 0;
    rg_guard_log_filter(z, line, sizeof line, g);
    if (strlen(line) >= sizeof line) abort();
    free(z);
    rg_buf_free(&out);
    rg_buf_free(&back);
    rg_guard_vault_free(v);
    rg_guard_free(g);
    return 0;
}
