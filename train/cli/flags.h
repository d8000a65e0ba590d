/* flags.h — the one flag parser every lowbit subcommand uses.
 *
 * A command describes its flags in a table of lb_flag (name without the
 * leading dashes, type, destination, help, default shown in help). The parser
 * accepts `--flag=value` and `--flag value`, `--bool-flag` (true) and
 * `--no-bool-flag`, repeated `--flag` for list flags, and `--config FILE.json`
 * whose keys are the same names (dashes or underscores) and are applied before
 * the command line, so the command line wins. An unknown flag, a missing
 * value or a value of the wrong type is an error naming the flag.
 */
#ifndef LB_CLI_FLAGS_H
#define LB_CLI_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/status.h"

typedef enum lb_flag_type {
    LB_FLAG_STR,    /* const char ** (points into argv or the config; not owned) */
    LB_FLAG_INT,    /* int64_t * */
    LB_FLAG_FLOAT,  /* double * */
    LB_FLAG_BOOL,   /* bool * */
    LB_FLAG_LIST,   /* lb_strlist * (repeatable) */
} lb_flag_type;

#define LB_STRLIST_MAX 256
typedef struct lb_strlist {
    const char *items[LB_STRLIST_MAX];
    int n;
} lb_strlist;

typedef struct lb_flag {
    const char *name;
    lb_flag_type type;
    void *dst;
    const char *help;
} lb_flag;

/* Strings taken from a --config file live here until lb_flag_store_free. */
typedef struct lb_flag_store {
    char **strings;
    int n, cap;
} lb_flag_store;

typedef struct lb_cli_cmd {
    const char *name;
    const char *summary;       /* one line */
    const char *usage;         /* e.g. "lowbit eval --model DIR --data FILE [flags]" */
    const lb_flag *flags;
    int n_flags;
    lb_flag_store *store;      /* owner of --config strings; NULL: they are never freed */
} lb_cli_cmd;

/* lb_flag_store_free: frees the strings a --config file gave (string flags
 * pointing at them are invalid afterwards). */
void lb_flag_store_free(lb_flag_store *store);

/* lb_flags_parse: parses argv[0..argc) (argv[0] is the first flag, not the
 * command name) into the destinations of cmd->flags. Returns an error naming
 * the flag on unknown flags, missing values, bad numbers or an unreadable
 * --config file. Positional arguments are errors. Sets *help when --help or
 * -h was given (the caller prints lb_flags_help and exits 0). */
lb_status lb_flags_parse(const lb_cli_cmd *cmd, int argc, char **argv, bool *help);

/* lb_flags_help: writes usage, summary and the flag table to f. */
void lb_flags_help(const lb_cli_cmd *cmd, FILE *f);

/* lb_cli_error: prints "lowbit: error: <msg>" to stderr and returns 1, the
 * exit code for user errors. */
int lb_cli_error(const lb_status *st);

#endif
