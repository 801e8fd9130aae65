/* cmd_embed.c - `ragd embed`: one text per stdin line -> embeddings. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/limits.h"
#include "embed/embed.h"

static void help(void) {
    printf("usage: ragd embed -m MODEL.gguf [-o OUT.bin] [--json] [-t THREADS] [--batch N] [--raw]\n\n"
           "Reads one text per line from stdin and embeds it with a BERT-family GGUF\n"
           "model (mean or CLS pooling as the model says, L2-normalised unless --raw).\n"
           "Writes float32 rows (n x dim, little endian) to OUT.bin, or JSON lines\n"
           "{\"index\": i, \"embedding\": [...]} to stdout with --json (the default\n"
           "when -o is not given).  --batch texts run as one packed batch (64).\n");
}

static int flush(rg_embedder *em, char **lines, int n, int as_json, FILE *out, int normalize,
                 long *index, float *buf) {
    rg_err err;
    if (rg_embed_texts(em, (const char *const *)lines, NULL, n, normalize, buf, &err))
        return rg_cli_fail("embed", &err);
    int d = rg_embed_dim(em);
    for (int i = 0; i < n; i++) {
        if (as_json) {
            fprintf(out, "{\"index\": %ld, \"embedding\": [", *index);
            for (int j = 0; j < d; j++) fprintf(out, j ? ", %.8g" : "%.8g", buf[i * d + j]);
            fprintf(out, "]}\n");
        } else if (fwrite(buf + (size_t)i * d, sizeof(float), (size_t)d, out) != (size_t)d) {
            fprintf(stderr, "ragd: embed: write failed\n");
            return RG_EXIT_RUNTIME;
        }
        (*index)++;
    }
    for (int i = 0; i < n; i++) free(lines[i]);
    return 0;
}

int rg_cmd_embed(int argc, char **argv) {
    const char *model = NULL, *outpath = NULL;
    long threads = 0, batch = 64;
    int as_json = 0, normalize = 1, c;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"output", required_argument, 0, 'o'},
        {"json", no_argument, 0, 'j'},        {"threads", required_argument, 0, 't'},
        {"batch", required_argument, 0, 'b'}, {"raw", no_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:jt:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': outpath = optarg; break;
        case 'j': as_json = 1; break;
        case 'r': normalize = 0; break;
        case 't':
            if (rg_cli_int(optarg, 1, RG_MAX_THREADS, &threads))
                return rg_cli_usage("embed", "-t expects 1..%d, got '%s'", RG_MAX_THREADS, optarg);
            break;
        case 'b':
            if (rg_cli_int(optarg, 1, 4096, &batch))
                return rg_cli_usage("embed", "--batch expects 1..4096, got '%s'", optarg);
            break;
        case 'h': help(); return RG_EXIT_OK;
        default: return rg_cli_usage("embed", "unknown option");
        }
    }
    if (!model) return rg_cli_usage("embed", "-m MODEL.gguf is required");
    if (!outpath) as_json = 1;
    rg_err err;
    rg_embedder *em;
    if (rg_embed_open(model, (int)threads, &em, &err)) return rg_cli_fail("embed", &err);
    FILE *out = stdout;
    if (outpath && !(out = fopen(outpath, "wb"))) {
        fprintf(stderr, "ragd: embed: %s: cannot create\n", outpath);
        rg_embed_close(em);
        return RG_EXIT_RUNTIME;
    }
    char **lines = calloc((size_t)batch, sizeof *lines);
    float *buf = malloc(sizeof(float) * (size_t)batch * (size_t)rg_embed_dim(em));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0, rc = 0;
    long index = 0, lineno = 0;
    double t0 = rg_now_s();
    while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > (ssize_t)RG_MAX_LINE_BYTES) {
            fprintf(stderr, "ragd: embed: stdin line %ld: %zd bytes is over the limit of %u\n",
                    lineno, len, RG_MAX_LINE_BYTES);
            rc = RG_EXIT_RUNTIME;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        lines[n++] = strdup(line);
        if (n == batch) {
            rc = flush(em, lines, n, as_json, out, normalize, &index, buf);
            n = 0;
        }
    }
    if (!rc && n) rc = flush(em, lines, n, as_json, out, normalize, &index, buf);
    double dt = rg_now_s() - t0;
    if (!rc && outpath)
        fprintf(stderr, "embed: %ld texts, dim %d, %.1f texts/s -> %s\n", index, rg_embed_dim(em),
                index / (dt > 0 ? dt : 1e-9), outpath);
    free(line);
    free(lines);
    free(buf);
    if (out != stdout) fclose(out);
    rg_embed_close(em);
    return rc;
}
