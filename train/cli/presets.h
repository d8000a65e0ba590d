/* presets.h — the named model configs of the CLI (`lowbit init --config
 * NAME`, `lowbit bench --config NAME`): one table, shared. */
#ifndef LB_CLI_PRESETS_H
#define LB_CLI_PRESETS_H

#include <stdio.h>

#include "layers/config.h"

/* lb_cli_model_config: *c from `spec`, a preset name or an HF config.json
 * path; an unknown name is an error naming `cmd` and listing the presets. */
lb_status lb_cli_model_config(const char *cmd, const char *spec, lb_model_config *c);

/* lb_cli_presets_print: one line per preset (name, what it is for, shape). */
void lb_cli_presets_print(FILE *f);

#endif
