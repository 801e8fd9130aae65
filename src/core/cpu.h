/* cpu.h - run-time CPU feature detection for kernel dispatch.
 *
 * Kernels ask rg_cpu_level() once and pick scalar, AVX2 or AVX-512 code.
 * RAGD_CPU=scalar|avx2|avx512 in the environment caps the level (to test
 * every path on one machine). */
#ifndef RG_CORE_CPU_H
#define RG_CORE_CPU_H

#include <stdbool.h>

typedef struct rg_cpu_features {
    bool sse3, avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} rg_cpu_features;

typedef enum rg_cpu_level {
    RG_CPU_SCALAR = 0,
    RG_CPU_AVX2 = 1,   /* AVX2 + FMA + F16C */
    RG_CPU_AVX512 = 2  /* F + BW + VL + DQ (+ VNNI when has_vnni) */
} rg_cpu_level;

/* Detected once; static storage. */
const rg_cpu_features *rg_cpu_get(void);
/* Highest usable level, capped by RAGD_CPU. */
rg_cpu_level rg_cpu_level_get(void);
/* Overrides the level for this process (tests); -1 restores detection. */
void rg_cpu_level_force(int level);
const char *rg_cpu_level_name(rg_cpu_level l);
/* "avx2 fma f16c avx512f ..." for --version and logs. */
const char *rg_cpu_describe(void);

#endif
