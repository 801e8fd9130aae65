/* fuzz_llm.c - libFuzzer target for the model loader and the forward
 * pass: any GGUF the reader accepts must either be rejected by
 * rg_llm_model_from_gguf with a message, or load and run a few decode
 * steps (prefill of 3 tokens, 2 single-token steps) without touching
 * memory outside the file and the context. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "llm/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* tensors are read as floats: give the reader a 32-byte aligned copy */
    size_t cap = (size + 31) & ~(size_t)31;
    uint8_t *buf = aligned_alloc(32, cap ? cap : 32);
    if (!buf) return 0;
    memcpy(buf, data, size);
    rg_gguf *g = NULL;
    rg_err err;
    rg_err_clear(&err);
    if (rg_gguf_open_memory(buf, size, &g, &err) != RG_OK) {
        free(buf);
        return 0;
    }
    rg_llm_model *m = NULL;
    if (rg_llm_model_from_gguf(g, &m, &err) != RG_OK) {
        if (!rg_err_text(&err)[0]) abort(); /* every rejection says why */
        rg_gguf_close(g);
        free(buf);
        return 0;
    }
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = 64;
    cp.n_batch = 8;
    cp.n_threads = 1;
    cp.kv_type = size % 2 ? RG_DTYPE_F32 : RG_DTYPE_F16;
    rg_llm_ctx *c = NULL;
    if (rg_llm_ctx_new(m, &cp, &c, &err) == RG_OK) {
        int32_t toks[3] = {0, (int32_t)(size % (size_t)hp->n_vocab), hp->n_vocab - 1};
        if (rg_llm_eval(c, 0, toks, 3, &err) == RG_OK) {
            if (!rg_llm_logits(c, 0)) abort();
            for (int i = 0; i < 2; i++) {
                int32_t t = rg_llm_argmax(rg_llm_logits(c, 0), hp->n_vocab);
                if (t < 0 || t >= hp->n_vocab) abort();
                if (rg_llm_eval(c, 0, &t, 1, &err) != RG_OK) break;
            }
        }
        rg_llm_ctx_free(c);
    }
    rg_llm_model_close(m);
    rg_gguf_close(g);
    free(buf);
    return 0;
}
