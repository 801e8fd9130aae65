/* cpu.c - see cpu.h.  Uses cpuid + xgetbv so that AVX-512 is only chosen
 * when the OS saves the ZMM state. */
#include "core/cpu.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static rg_cpu_features g_feat;
static rg_cpu_level g_level;
static int g_forced = -1;
static char g_desc[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        g_feat.sse3 = c & 1;
        g_feat.fma = (c >> 12) & 1;
        g_feat.f16c = (c >> 29) & 1;
        bool osxsave = (c >> 27) & 1;
        bool avx = (c >> 28) & 1;
        uint64_t xcr0 = 0;
        if (osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            xcr0 = ((uint64_t)hi << 32) | lo;
        }
        bool ymm_ok = (xcr0 & 6) == 6;
        bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
        g_feat.avx = avx && ymm_ok;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            g_feat.avx2 = g_feat.avx && ((b >> 5) & 1);
            if (zmm_ok) {
                g_feat.avx512f = (b >> 16) & 1;
                g_feat.avx512dq = (b >> 17) & 1;
                g_feat.avx512bw = (b >> 30) & 1;
                g_feat.avx512vl = (b >> 31) & 1;
                g_feat.avx512vnni = (c >> 11) & 1;
            }
        }
        if (zmm_ok && __get_cpuid_count(7, 1, &a, &b, &c, &d)) g_feat.avx512bf16 = (a >> 5) & 1;
    }
#endif
    g_level = RG_CPU_SCALAR;
    if (g_feat.avx2 && g_feat.fma && g_feat.f16c) g_level = RG_CPU_AVX2;
    if (g_level == RG_CPU_AVX2 && g_feat.avx512f && g_feat.avx512bw && g_feat.avx512vl &&
        g_feat.avx512dq)
        g_level = RG_CPU_AVX512;
    const char *env = getenv("RAGD_CPU");
    if (env) {
        rg_cpu_level cap = g_level;
        if (!strcmp(env, "scalar")) cap = RG_CPU_SCALAR;
        else if (!strcmp(env, "avx2")) cap = RG_CPU_AVX2;
        else if (!strcmp(env, "avx512")) cap = RG_CPU_AVX512;
        if (cap < g_level) g_level = cap;
    }
    snprintf(g_desc, sizeof g_desc, "%s%s%s%s%s%s%s%s%s", g_feat.avx2 ? "avx2 " : "",
             g_feat.fma ? "fma " : "", g_feat.f16c ? "f16c " : "",
             g_feat.avx512f ? "avx512f " : "", g_feat.avx512bw ? "avx512bw " : "",
             g_feat.avx512vl ? "avx512vl " : "", g_feat.avx512dq ? "avx512dq " : "",
             g_feat.avx512vnni ? "avx512vnni " : "", g_feat.avx512bf16 ? "avx512bf16" : "");
}

const rg_cpu_features *rg_cpu_get(void) {
    pthread_once(&g_once, detect);
    return &g_feat;
}

rg_cpu_level rg_cpu_level_get(void) {
    pthread_once(&g_once, detect);
    if (g_forced >= 0 && g_forced < (int)g_level) return (rg_cpu_level)g_forced;
    return g_level;
}

void rg_cpu_level_force(int level) { g_forced = level; }

const char *rg_cpu_level_name(rg_cpu_level l) {
    switch (l) {
    case RG_CPU_SCALAR: return "scalar";
    case RG_CPU_AVX2: return "avx2";
    case RG_CPU_AVX512: return "avx512";
    }
    return "?";
}

const char *rg_cpu_describe(void) {
    pthread_once(&g_once, detect);
    return g_desc;
}
