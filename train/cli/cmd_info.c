/* cmd_info.c — `lowbit info` (placeholder until its implementation lands). */
#include "train/cli/commands.h"

int lb_cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    lb_status st = lb_errorf(LB_ERR_UNSUPPORTED, "'info' is not built yet");
    return lb_cli_error(&st);
}
