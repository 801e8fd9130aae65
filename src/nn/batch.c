/* batch.c - the small-batch matmul path of batched decode (2..~64
 * activation rows, one per running sequence): Q8_0 weights x Q8_0
 * activations with the activations packed eight columns to a register.
 *
 * Why: the row-tile kernels (dot_avx2.c) spend as many instructions per
 * multiply-add at batch 16 as at batch 1 (each (row, column) pair needs
 * its own sign/maddubs/madd and a float convert, scale and FMA per block),
 * so on a CPU where one stream's decode is already compute-bound batching
 * gave little.  Here a register holds 4 consecutive activation bytes of
 * each of 8 columns ("x8" layout); a weight row's 4 bytes are broadcast
 * against it, so the int32 lanes are 8 columns of one row: a block's
 * integer sum is accumulated over its 8 groups without any horizontal
 * work, and the float convert / scale / FMA is done once per block for 8
 * columns.  The weights stay as they are in the mmap (no repacking).
 *
 * x8 layout of a group of 8 activation rows (columns of the product),
 * per Q8_0 block b (RG_NN_X8_BLOCK bytes):
 *   qs[g][c][4]  g = 0..7: bytes 4g..4g+3 of column c's block b
 *   d[c]         column c's block scale as f32
 * Columns past the batch are zero (scale 0), so they add nothing.
 * Integer block sums are exact; y = sum_b (dw_b * dx_b) * isum_b, the
 * scalar reference's order per block (only the float sum order of the
 * SIMD kernel's lanes differs). */
#include <stdatomic.h>
#include <string.h>

#include "nn/nn_int.h"

/* Packs batch activation rows (Q8_0, k elements, arow bytes apart) into
 * ceil(batch / 8) x8 groups at dst (rg__x8_bytes(k, batch) bytes). */
size_t rg__x8_bytes(int64_t k, int64_t batch) {
    return (size_t)((batch + 7) / 8) * (size_t)(k / RG_QK) * RG_NN_X8_BLOCK;
}

void rg__x8_pack(const void *xa, size_t arow, int64_t k, int64_t batch, void *dst) {
    const int64_t nb = k / RG_QK, ng = (batch + 7) / 8;
    for (int64_t gi = 0; gi < ng; gi++) {
        uint8_t *o = (uint8_t *)dst + (size_t)gi * (size_t)nb * RG_NN_X8_BLOCK;
        for (int64_t b = 0; b < nb; b++, o += RG_NN_X8_BLOCK) {
            float d[8];
            for (int c = 0; c < 8; c++) {
                const int64_t col = gi * 8 + c;
                if (col >= batch) {
                    for (int g = 0; g < 8; g++) memset(o + 32 * g + 4 * c, 0, 4);
                    d[c] = 0.0f;
                    continue;
                }
                const rg_block_q8_0 *a = (const rg_block_q8_0 *)((const char *)xa + (size_t)col * arow) + b;
                for (int g = 0; g < 8; g++) memcpy(o + 32 * g + 4 * c, a->qs + 4 * g, 4);
                d[c] = rg_f16_to_f32(a->d);
            }
            memcpy(o + 256, d, sizeof d);
        }
    }
}

/* Scalar reference of the x8 kernel: nr weight rows x ng groups. */
void rg__x8_q8_0_scalar(int64_t k, const void *w, size_t ws, int nr, const void *xp, int ng, float *y,
                        size_t ys, int nc) {
    const int64_t nb = k / RG_QK;
    const size_t gs = (size_t)nb * RG_NN_X8_BLOCK;
    for (int r = 0; r < nr; r++) {
        const rg_block_q8_0 *wr = (const rg_block_q8_0 *)((const char *)w + (size_t)r * ws);
        for (int c = 0; c < nc && c < 8 * ng; c++) {
            const uint8_t *g0 = (const uint8_t *)xp + (size_t)(c / 8) * gs;
            float s = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *o = g0 + (size_t)b * RG_NN_X8_BLOCK;
                int sum = 0;
                for (int g = 0; g < 8; g++)
                    for (int e = 0; e < 4; e++) sum += wr[b].qs[4 * g + e] * (int8_t)o[32 * g + 4 * (c % 8) + e];
                float d;
                memcpy(&d, o + 256 + 4 * (c % 8), 4);
                s += (float)sum * (rg_f16_to_f32(wr[b].d) * d);
            }
            y[(size_t)c * ys + (size_t)r] = s;
        }
    }
}
