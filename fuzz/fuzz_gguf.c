/* fuzz_gguf.c - libFuzzer target for the GGUF reader: any input must be
 * rejected with an error or give a handle whose every value, string and
 * tensor byte can be read without leaving the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "gguf/gguf.h"
#include "tok/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_gguf *g = NULL;
    rg_err err;
    rg_err_clear(&err);
    if (rg_gguf_open_memory(data, size, &g, &err) != RG_OK) {
        if (!rg_err_text(&err)[0]) abort(); /* every rejection says why */
        return 0;
    }
    rg_buf b;
    rg_buf_init(&b, 1 << 20);
    for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
        const char *k = rg_gguf_kv_key(g, i);
        if (rg_gguf_find_kv(g, k) != i) abort();
        rg_buf_reset(&b);
        rg_gguf_kv_format(g, i, 8, &b);
        uint32_t u;
        int64_t v;
        float f;
        bool bo;
        size_t len;
        (void)rg_gguf_get_u32(g, k, &u);
        (void)rg_gguf_get_i64(g, k, &v);
        (void)rg_gguf_get_f32(g, k, &f);
        (void)rg_gguf_get_bool(g, k, &bo);
        const char *s = rg_gguf_get_str(g, k, &len);
        if (s && s[len] != '\0') abort();
        rg_gguf_type et;
        uint64_t n;
        if (rg_gguf_get_arr(g, k, &et, &n)) {
            for (uint64_t j = 0; j < n && j < 64; j++) {
                double d;
                const char *e = rg_gguf_arr_str(g, k, j, &len);
                if (e && e[len] != '\0') abort();
                (void)rg_gguf_arr_f64(g, k, j, &d);
                (void)rg_gguf_arr_i64(g, k, j, &v);
            }
            if (n > 0) {
                const char *e = rg_gguf_arr_str(g, k, n - 1, &len);
                if (e && e[len] != '\0') abort();
            }
        }
    }
    volatile unsigned sum = 0;
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
        if (rg_gguf_find_tensor(g, t->name) != t) abort();
        if (t->nbytes) {
            const uint8_t *p = t->data;
            sum += p[0] + p[t->nbytes - 1];
        }
    }
    rg_buf_free(&b);
    /* a file with tokenizer metadata must give a tokenizer or a clear error */
    rg_tok *t;
    if (rg_tok_from_gguf(g, &t, &err) == RG_OK) {
        int32_t *ids;
        size_t n;
        static const char text[] = "Hello world <s> 123 \xe4\xbd\xa0\xe5\xa5\xbd \xff";
        if (rg_tok_encode(t, text, sizeof text - 1, true, &ids, &n, &err) == RG_OK) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= rg_tok_n_vocab(t)) abort();
            free(ids);
        }
        rg_tok_free(t);
    } else if (!rg_err_text(&err)[0]) {
        abort();
    }
    rg_gguf_close(g);
    return 0;
}
