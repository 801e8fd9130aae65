/* cmd_quantize.c - `ragd quantize IN.gguf OUT.gguf TYPE [--pure] [-t N]`:
 * F32/F16/BF16 GGUF -> quantized GGUF, as llama-quantize (see quant/quant.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "quant/quant.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd quantize IN.gguf OUT.gguf TYPE [--pure] [-t THREADS]\n\n"
            "Quantizes the 2-D weights of a F32/F16/BF16 GGUF model, like llama-quantize;\n"
            "norms, biases and other 1-D tensors stay as they are (F32).\n"
            "  TYPE          Q8_0 Q4_0 Q5_0 Q4_K_M (= Q4_K) Q4_K_S Q5_K_M (= Q5_K) Q5_K_S Q6_K F16 BF16\n"
            "  --pure        every quantizable 2-D weight gets TYPE (no Q6_K output / mixture rules)\n"
            "  -t THREADS    threads (default: all CPUs)\n");
}

int rg_cmd_quantize(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    const char *pos[3] = {0};
    int np = 0;
    rg_quant_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pure")) o.pure = true;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            long t;
            if (rg_cli_int(argv[++i], 1, 256, &t))
                return rg_cli_usage("quantize", "-t expects 1..256, got '%s'", argv[i]);
            o.n_threads = (int)t;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return rg_cli_usage("quantize", "unknown option '%s'", argv[i]);
        } else if (np < 3) {
            pos[np++] = argv[i];
        } else {
            return rg_cli_usage("quantize", "unexpected argument '%s'", argv[i]);
        }
    }
    if (np != 3) return rg_cli_usage("quantize", "expected IN.gguf OUT.gguf TYPE (see --help)");
    if (!rg_quant_parse_type(pos[2], &o))
        return rg_cli_usage("quantize",
                            "unknown TYPE '%s' (expected Q8_0, Q4_0, Q5_0, Q4_K_M, Q4_K_S, Q5_K_M, "
                            "Q5_K_S, Q6_K, F16 or BF16)",
                            pos[2]);
    rg_err err;
    int nq = 0;
    double t0 = rg_now_s();
    if (rg_quant_model(pos[0], pos[1], &o, &nq, &err) != RG_OK) return rg_cli_fail("quantize", &err);
    fprintf(stderr, "ragd quantize: %s -> %s: %d tensors quantized in %.2f s\n", pos[0], pos[1], nq,
            rg_now_s() - t0);
    return RG_EXIT_OK;
}
