/* cmd_eval.c — `lowbit eval` (placeholder until its implementation lands). */
#include "train/cli/commands.h"

int lb_cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    lb_status st = lb_errorf(LB_ERR_UNSUPPORTED, "'eval' is not built yet");
    return lb_cli_error(&st);
}
