/* cmd_inspect.c - `ragd inspect FILE.gguf [--json]`: a GGUF file's
 * architecture, hyper-parameters, tokenizer, chat template, metadata and
 * tensor table.  The file is fully validated first (rg_gguf_open). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "gguf/gguf.h"

#define INSPECT_MAX_ELEMS 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd inspect FILE.gguf [--json] [--max-elems N]\n\n"
            "Validates a GGUF file and prints its architecture, hyper-parameters,\n"
            "tokenizer, chat template (present or not), every metadata key and the\n"
            "tensor table (name, type, shape, bytes, offset) with the total size.\n"
            "  --json          one JSON object on stdout\n"
            "  --max-elems N   array elements shown per key (default %d)\n",
            INSPECT_MAX_ELEMS);
}

static void json_str(rg_buf *b, const char *s) {
    rg_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') rg_buf_printf(b, "\\%c", c);
        else if (c < 0x20) rg_buf_printf(b, "\\u%04x", c);
        else rg_buf_putc(b, (char)c);
    }
    rg_buf_putc(b, '"');
}

static void shape(rg_buf *b, const rg_gguf_tensor *t) {
    rg_buf_putc(b, '[');
    for (int d = 0; d < t->n_dims; d++) rg_buf_printf(b, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    rg_buf_putc(b, ']');
}

int rg_cmd_inspect(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    const char *path = NULL;
    bool json = false;
    long max_elems = INSPECT_MAX_ELEMS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--max-elems") && i + 1 < argc) {
            if (rg_cli_int(argv[++i], 0, 1L << 30, &max_elems))
                return rg_cli_usage("inspect", "--max-elems expects an integer in 0..2^30, got '%s'", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) return rg_cli_usage("inspect", "unknown option '%s'", argv[i]);
        else if (path) return rg_cli_usage("inspect", "expected one file, got '%s' and '%s'", path, argv[i]);
        else path = argv[i];
    }
    if (!path) return rg_cli_usage("inspect", "missing FILE.gguf");
    rg_gguf *g;
    rg_err err;
    if (rg_gguf_open(path, &g, &err) != RG_OK) return rg_cli_fail("inspect", &err);

    const char *arch = rg_gguf_get_str(g, "general.architecture", NULL);
    const char *tmodel = rg_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    const char *tpre = rg_gguf_get_str(g, "tokenizer.ggml.pre", NULL);
    size_t tmpl_len = 0;
    const char *tmpl = rg_gguf_get_str(g, "tokenizer.chat_template", &tmpl_len);
    uint64_t n_tok = 0;
    rg_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n_tok);
    uint64_t total = 0;
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) total += rg_gguf_tensor_at(g, i)->nbytes;
    size_t archlen = arch ? strlen(arch) : 0;

    rg_buf b;
    rg_buf_init(&b, 0);
    if (json) {
        rg_buf_puts(&b, "{\"file\": ");
        json_str(&b, path);
        rg_buf_printf(&b, ", \"size\": %llu, \"version\": %u, \"alignment\": %u, \"data_offset\": %llu",
                      (unsigned long long)rg_gguf_file_size(g), rg_gguf_version(g), rg_gguf_alignment(g),
                      (unsigned long long)rg_gguf_data_offset(g));
        rg_buf_puts(&b, ", \"architecture\": ");
        if (arch) json_str(&b, arch); else rg_buf_puts(&b, "null");
        rg_buf_puts(&b, ", \"tokenizer\": {\"model\": ");
        if (tmodel) json_str(&b, tmodel); else rg_buf_puts(&b, "null");
        rg_buf_puts(&b, ", \"pre\": ");
        if (tpre) json_str(&b, tpre); else rg_buf_puts(&b, "null");
        rg_buf_printf(&b, ", \"n_tokens\": %llu}", (unsigned long long)n_tok);
        rg_buf_printf(&b, ", \"chat_template\": %s", tmpl ? "true" : "false");
        rg_buf_puts(&b, ", \"metadata\": {");
        for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
            if (i) rg_buf_puts(&b, ", ");
            json_str(&b, rg_gguf_kv_key(g, i));
            rg_buf_puts(&b, ": ");
            rg_gguf_kv_format(g, i, (size_t)max_elems, &b);
        }
        rg_buf_printf(&b, "}, \"n_tensors\": %lld, \"tensor_bytes\": %llu, \"tensors\": [",
                      (long long)rg_gguf_n_tensors(g), (unsigned long long)total);
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
            rg_buf_puts(&b, i ? ", {\"name\": " : "{\"name\": ");
            json_str(&b, t->name);
            rg_buf_printf(&b, ", \"type\": \"%s\", \"shape\": ", rg_dtype_name(t->type));
            shape(&b, t);
            rg_buf_printf(&b, ", \"bytes\": %llu, \"offset\": %llu}", (unsigned long long)t->nbytes,
                          (unsigned long long)t->offset);
        }
        rg_buf_puts(&b, "]}\n");
    } else {
        rg_buf_printf(&b, "file:          %s (%llu bytes, GGUF v%u, alignment %u, data at %llu)\n", path,
                      (unsigned long long)rg_gguf_file_size(g), rg_gguf_version(g), rg_gguf_alignment(g),
                      (unsigned long long)rg_gguf_data_offset(g));
        rg_buf_printf(&b, "architecture:  %s\n", arch ? arch : "(none)");
        const char *name = rg_gguf_get_str(g, "general.name", NULL);
        if (name) rg_buf_printf(&b, "name:          %s\n", name);
        if (arch) {
            rg_buf_puts(&b, "hyper-parameters:\n");
            for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
                const char *k = rg_gguf_kv_key(g, i);
                if (strncmp(k, arch, archlen) || k[archlen] != '.') continue;
                rg_buf_printf(&b, "  %-40s ", k + archlen + 1);
                rg_gguf_kv_format(g, i, (size_t)max_elems, &b);
                rg_buf_putc(&b, '\n');
            }
        }
        rg_buf_printf(&b, "tokenizer:     %s", tmodel ? tmodel : "(none)");
        if (tpre) rg_buf_printf(&b, " (pre: %s)", tpre);
        if (tmodel) rg_buf_printf(&b, ", %llu tokens", (unsigned long long)n_tok);
        rg_buf_putc(&b, '\n');
        if (tmpl) rg_buf_printf(&b, "chat template: yes (%zu bytes)\n", tmpl_len);
        else rg_buf_puts(&b, "chat template: no\n");
        rg_buf_printf(&b, "metadata:      %lld keys\n", (long long)rg_gguf_n_kv(g));
        for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
            rg_gguf_type et;
            uint64_t n;
            rg_buf_printf(&b, "  %-40s ", rg_gguf_kv_key(g, i));
            if (rg_gguf_kv_arr(g, i, &et, &n))
                rg_buf_printf(&b, "arr[%s,%llu] ", rg_gguf_type_name(et), (unsigned long long)n);
            else rg_buf_printf(&b, "%-4s ", rg_gguf_type_name(rg_gguf_kv_type(g, i)));
            if (!strcmp(rg_gguf_kv_key(g, i), "tokenizer.chat_template"))
                rg_buf_printf(&b, "(%zu bytes)", tmpl_len);
            else rg_gguf_kv_format(g, i, (size_t)max_elems, &b);
            rg_buf_putc(&b, '\n');
        }
        rg_buf_printf(&b, "tensors:       %lld, %llu bytes (%.2f MiB)\n", (long long)rg_gguf_n_tensors(g),
                      (unsigned long long)total, (double)total / 1048576.0);
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
            const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
            rg_buf sh;
            rg_buf_init(&sh, 0);
            shape(&sh, t);
            rg_buf_printf(&b, "  %-36s %-5s %-22s %12llu\n", t->name, rg_dtype_name(t->type), sh.data,
                          (unsigned long long)t->nbytes);
            rg_buf_free(&sh);
        }
    }
    fwrite(b.data, 1, b.len, stdout);
    rg_buf_free(&b);
    rg_gguf_close(g);
    return RG_EXIT_OK;
}
