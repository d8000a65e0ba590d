/* main.c — `lowbit <command> [flags]`: dispatch and `lowbit help`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/cli/commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command k_commands[] = {
    {"init", lb_cmd_init, "write a randomly initialised HF checkpoint from a named or JSON config"},
    {"data", lb_cmd_data, "tokenize .txt/.jsonl files into HDF5 train and validation splits"},
    {"eval", lb_cmd_eval, "perplexity of a model on .h5, .jsonl or .txt data"},
    {"generate", lb_cmd_generate, "generate text with a KV cache"},
    {"info", lb_cmd_info, "describe a safetensors, HDF5 or model directory"},
    {"train", lb_cmd_train, "fine-tune or quantization-aware-train a model into a run directory"},
    {"ptq", lb_cmd_ptq, "post-training quantization (rtn) into a run directory"},
    {"export", lb_cmd_export, "export a model as true low-bit files (GGUF)"},
    {"bench", lb_cmd_bench, "time training steps (forward, backward, AdamW) of a model shape"},
};
static const int k_n_commands = (int)(sizeof k_commands / sizeof k_commands[0]);

static void usage(FILE *f)
{
    fprintf(f, "usage: lowbit <command> [flags]\n\ncommands:\n");
    for (int i = 0; i < k_n_commands; i++)
        fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "lowbit help <command> prints a command's flags");
}

static const command *find(const char *name)
{
    for (int i = 0; i < k_n_commands; i++)
        if (!strcmp(k_commands[i].name, name)) return &k_commands[i];
    return NULL;
}

/* OpenMP loops (ours) and OpenBLAS's own thread pool take turns on the same
 * cores. With libgomp's default wait policy its idle threads spin after every
 * parallel region and starve the GEMM threads: measured 5x slower eval on 2
 * cores. libgomp reads OMP_WAIT_POLICY once, when it is loaded, so the only
 * way to default it to PASSIVE is to set it and re-execute ourselves. A value
 * the user set is left alone. */
static void default_passive_wait(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("LB_NO_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("LB_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the default policy */
}

int main(int argc, char **argv)
{
    default_passive_wait(argv);
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc >= 3) {
            const command *c = find(argv[2]);
            if (!c) {
                fprintf(stderr, "lowbit: error: unknown command '%s'\n", argv[2]);
                usage(stderr);
                return 1;
            }
            char *help_argv[] = {"--help", NULL};
            return c->run(1, help_argv);
        }
        usage(stdout);
        return 0;
    }
    const command *c = find(name);
    if (!c) {
        fprintf(stderr, "lowbit: error: unknown command '%s'\n", name);
        usage(stderr);
        return 1;
    }
    return c->run(argc - 2, argv + 2);
}
