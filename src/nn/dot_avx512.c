/* dot_avx512.c - AVX-512 (F/BW/VL/DQ, VNNI when present) kernels (entered
 * only after run-time dispatch, see dot.c). */
#include <immintrin.h>

#include "nn/nn_int.h"

void rg__kernels_avx512(rg__kernels *k) {
    (void)k;
}
