/* export_dir.h — the directory exports of `lowbit export` (cmd_export.c):
 * --format gptq (quant/gptq.h) and --format hf (quant/export_hf.h). */
#ifndef LB_CLI_EXPORT_DIR_H
#define LB_CLI_EXPORT_DIR_H

#include <stdbool.h>

#include "quant/export.h"

typedef struct lb_cli_dir_export {
    const char *model;        /* run dir or HF dir */
    const char *out;          /* directory to write */
    const char *wq;           /* RTN spec for the export, or NULL: the run's own quantizers */
    const char *gptq_format;  /* "v1" (default) or "v2" */
    const char *dtype;        /* hf: f16 (default), bf16, f32 */
    bool hf;                  /* --format hf, else gptq */
    bool quiet;
} lb_cli_dir_export;

/* lb_cli_export_dir: loads o->model on the CPU (a run dir with its
 * quantizers; with o->wq the master weights re-quantized by RTN on that
 * grid instead) and writes it as o->format into o->out, copying the
 * model's tokenizer files. Fills r for the summary line; the GPTQ settings
 * go to stderr unless quiet. Errors name the flag to pass. */
lb_status lb_cli_export_dir(const lb_cli_dir_export *o, lb_export_report *r);

#endif
