/* cli.h - the ragd command line: one function per command, each in
 * src/cli/cmd_<name>.c, taking (argc, argv) with argv[0] = command name.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error. */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <stdio.h>

#include "core/status.h"

#define RG_EXIT_OK 0
#define RG_EXIT_RUNTIME 1
#define RG_EXIT_USAGE 2

typedef int (*rg_cli_fn)(int argc, char **argv);

/* Commands.  Declared weak so a command file that is not built yet leaves
 * the table entry empty instead of breaking the link; main() reports it. */
#define RG_CLI_COMMANDS(X)                                                              \
    X(ingest, "ingest files into a collection")                                         \
    X(search, "search a collection (BM25 / vector / hybrid)")                           \
    X(ask, "answer a question from a collection, with citations")                       \
    X(eval, "retrieval quality on a BEIR-layout collection")                            \
    X(serve, "HTTP server: OpenAI-compatible API, collections, metrics")                \
    X(inspect, "show a GGUF file's metadata and tensors")                               \
    X(tokenize, "tokenize stdin with a GGUF model's tokenizer")                         \
    X(run, "generate text with a GGUF language model")                                  \
    X(logits, "write last-position logits of a prompt")                                 \
    X(chat, "interactive chat with a GGUF language model")                              \
    X(bench, "prompt and generation speed of a model (like llama-bench)")               \
    X(embed, "embed lines of stdin with a GGUF BERT model")                             \
    X(index_bench, "build and query a vector index over .fvecs files")                  \
    X(redact, "detect and redact personal data in stdin")                               \
    X(audit, "verify a tamper-evident audit log")                                       \
    X(calibrate, "measure this machine for the latency predictor")                      \
    X(predict, "predict memory, TTFT and tokens/s for a model")                         \
    X(cost, "self-hosted vs API cost calculator")                                       \
    X(quantize, "quantize a GGUF model")                                                \
    X(perplexity, "perplexity of a model on a text file")

#define RG__CLI_DECL(name, summary) __attribute__((weak)) int rg_cmd_##name(int argc, char **argv);
RG_CLI_COMMANDS(RG__CLI_DECL)
#undef RG__CLI_DECL

/* Prints "ragd: <cmd>: <msg>" to stderr and returns RG_EXIT_USAGE. */
int rg_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ragd: <cmd>: <err text>" to stderr and returns RG_EXIT_RUNTIME. */
int rg_cli_fail(const char *cmd, const rg_err *err);
/* Parses a base-10 integer option in [lo, hi]; returns 0 on success. */
int rg_cli_int(const char *s, long lo, long hi, long *out);
/* Parses a finite double option. Returns 0 on success. */
int rg_cli_double(const char *s, double *out);
/* 1 when argv contains -h or --help (before a "--"). */
int rg_cli_wants_help(int argc, char **argv);

#endif
