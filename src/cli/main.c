/* main.c - ragd's entry point: dispatches to the command functions. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/cpu.h"
#include "core/log.h"
#include "guard/guard.h"
#include "ragd.h"

typedef struct {
    const char *name;
    rg_cli_fn fn;
    const char *summary;
} command;

#define RG__CLI_ENTRY(name, summary) {#name, rg_cmd_##name, summary},
static const command commands[] = {RG_CLI_COMMANDS(RG__CLI_ENTRY)};
#undef RG__CLI_ENTRY
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "ragd %s - private LLM application stack: documents, search, RAG, models\n\n"
            "usage: ragd [--log-level LEVEL] <command> [options]\n"
            "       ragd <command> --help\n"
            "       ragd --version\n\ncommands:\n",
            RAGD_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (!commands[i].fn) continue;
        char name[32];
        snprintf(name, sizeof name, "%s", commands[i].name);
        for (char *p = name; *p; p++)
            if (*p == '_') *p = '-';
        fprintf(f, "  %-12s %s\n", name, commands[i].summary);
    }
    fprintf(f, "\nexit status: 0 ok, 1 runtime error, 2 usage error\n");
}

int main(int argc, char **argv) {
    int i = 1;
    rg_log_set_level(RG_LOG_WARN);
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
            printf("ragd %s (cpu: %s; kernels: %s)\n", RAGD_VERSION, rg_cpu_describe(),
                   rg_cpu_level_name(rg_cpu_level_get()));
            return RG_EXIT_OK;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return RG_EXIT_OK;
        }
        if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
            int l = rg_log_parse_level(argv[i + 1]);
            if (l < 0) {
                fprintf(stderr, "ragd: unknown log level '%s' (debug|info|warn|error|off)\n",
                        argv[i + 1]);
                return RG_EXIT_USAGE;
            }
            rg_log_set_level((rg_log_level)l);
            i += 2;
            continue;
        }
        fprintf(stderr, "ragd: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    /* every log line passes the PII redactor (default policy); a command
     * may install its own guard (e.g. serve with a policy file) */
    static rg_guard *log_guard;
    if (rg_guard_open(&log_guard, NULL, 0, NULL) == RG_OK) rg_log_set_filter(rg_guard_log_filter, log_guard);
    char want[64];
    snprintf(want, sizeof want, "%s", argv[i]);
    for (char *p = want; *p; p++)
        if (*p == '-') *p = '_';
    for (size_t c = 0; c < NCOMMANDS; c++) {
        if (strcmp(commands[c].name, want) != 0) continue;
        if (!commands[c].fn) {
            fprintf(stderr, "ragd: command '%s' is not available in this build\n", argv[i]);
            return RG_EXIT_USAGE;
        }
        return commands[c].fn(argc - i, argv + i);
    }
    fprintf(stderr, "ragd: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return RG_EXIT_USAGE;
}
