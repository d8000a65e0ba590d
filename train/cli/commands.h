/* commands.h — the lowbit subcommands, one file each (train/cli/cmd_<name>.c).
 *
 * Each takes the arguments after its name and returns the process exit code:
 * 0 success, 1 user error (after printing "lowbit: error: ..."). Each defines
 * an lb_cli_cmd describing its flags so `lowbit help <cmd>` prints them. */
#ifndef LB_CLI_COMMANDS_H
#define LB_CLI_COMMANDS_H

#include "train/cli/flags.h"

int lb_cmd_init(int argc, char **argv);
int lb_cmd_data(int argc, char **argv);
int lb_cmd_eval(int argc, char **argv);
int lb_cmd_generate(int argc, char **argv);
int lb_cmd_info(int argc, char **argv);
int lb_cmd_train(int argc, char **argv);
int lb_cmd_ptq(int argc, char **argv);
int lb_cmd_bench(int argc, char **argv);
int lb_cmd_export(int argc, char **argv);

#endif
