/* cmd_tokenize.c - `ragd tokenize -m FILE.gguf [--no-bos] [--ids]`: the
 * model's tokenizer over stdin (read whole, byte for byte; a trailing
 * newline is part of the text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/limits.h"
#include "gguf/gguf.h"
#include "tok/tok.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd tokenize -m FILE.gguf [--no-bos] [--ids] [--no-parse-special] < text\n\n"
            "Tokenizes UTF-8 text from stdin (all of it, including a final newline)\n"
            "with the model's tokenizer, exactly as llama.cpp does.\n"
            "  -m, --model FILE     GGUF file with tokenizer.ggml.* metadata\n"
            "  --no-bos             add no BOS/EOS (CLS/SEP for BERT) tokens\n"
            "  --ids                print only the ids, space-separated on one line\n"
            "  --no-parse-special   treat special-token text like <|im_start|> as plain text\n"
            "Default output: one token per line, 'id<TAB>piece' (\\n, \\t, \\r, \\\\ and\n"
            "non-printable bytes escaped).\n");
}

static void print_piece(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

int rg_cmd_tokenize(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    const char *model = NULL;
    bool no_bos = false, ids_only = false, parse_special = true;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--no-bos")) no_bos = true;
        else if (!strcmp(argv[i], "--ids")) ids_only = true;
        else if (!strcmp(argv[i], "--no-parse-special")) parse_special = false;
        else return rg_cli_usage("tokenize", "unexpected argument '%s'", argv[i]);
    }
    if (!model) return rg_cli_usage("tokenize", "missing -m FILE.gguf");
    rg_err err;
    rg_gguf *g;
    if (rg_gguf_open(model, &g, &err) != RG_OK) return rg_cli_fail("tokenize", &err);
    rg_tok *t;
    rg_status s = rg_tok_from_gguf(g, &t, &err);
    rg_gguf_close(g);
    if (s) {
        rg_err_prefix(&err, "%s", model);
        return rg_cli_fail("tokenize", &err);
    }
    rg_buf in;
    rg_buf_init(&in, RG_MAX_FILE_BYTES);
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (rg_buf_append(&in, chunk, r) != RG_OK) {
            rg_tok_free(t);
            rg_buf_free(&in);
            rg_failf(&err, RG_LIMIT, "stdin is larger than %llu bytes", (unsigned long long)RG_MAX_FILE_BYTES);
            return rg_cli_fail("tokenize", &err);
        }
    }
    int32_t *ids;
    size_t n;
    unsigned flags = (no_bos ? 0 : RG_TOK_ADD_SPECIAL) | (parse_special ? RG_TOK_PARSE_SPECIAL : 0);
    s = rg_tok_encode_ex(t, in.data ? in.data : "", in.len, flags, &ids, &n, &err);
    rg_buf_free(&in);
    if (s) {
        rg_tok_free(t);
        return rg_cli_fail("tokenize", &err);
    }
    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", ids[i]);
            continue;
        }
        size_t pl;
        const char *p = rg_tok_piece(t, ids[i], &pl);
        printf("%d\t", ids[i]);
        print_piece(p, pl);
        putchar('\n');
    }
    if (ids_only) putchar('\n');
    free(ids);
    rg_tok_free(t);
    return fflush(stdout) == 0 ? RG_EXIT_OK : RG_EXIT_RUNTIME;
}
