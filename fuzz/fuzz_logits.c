/* fuzz_logits.c - the saved base-logits reader (plan/quality.c).
 * Invariants: no crash/leak; every rejection says why; an accepted file
 * yields exactly n_scored rows of log-probs, then refuses another. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp) return 0;
    rg_plan_logits_file *f;
    rg_err err;
    rg_err_clear(&err);
    if (rg_plan_logits_from_stream(fp, size, "fuzz", &f, &err) != RG_OK) {
        if (!rg_err_text(&err)[0]) abort();
        fclose(fp);
        return 0;
    }
    const rg_plan_logits_hdr *h = rg_plan_logits_header(f);
    float *row = malloc(sizeof(float) * h->n_vocab);
    if (row) {
        uint32_t ok = 0;
        for (uint32_t i = 0; i < h->n_scored; i++)
            if (rg_plan_logits_read(f, row, &err) == RG_OK) ok++;
            else break;
        if (ok == h->n_scored && rg_plan_logits_read(f, row, &err) == RG_OK) abort();
        free(row);
    }
    rg_plan_logits_close(f, &err);
    fclose(fp);
    return 0;
}
