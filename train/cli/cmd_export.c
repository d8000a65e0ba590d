/* cmd_export.c — `lowbit export`: a model as true low-bit files.
 *
 *   lowbit export --model RUN_DIR|HF_DIR --format gguf --type TYPE --out FILE.gguf [--name NAME] [--json]
 *   lowbit export --model RUN_DIR|HF_DIR --format gptq|hf --out DIR [--gptq-format v1|v2] [--wq SPEC]
 *                 [--dtype f16|bf16|f32] [--json]      (directories: export_dir.c)
 *
 * Loads the model on the CPU (a run dir with its quantizers attached, so a
 * QAT/PTQ run exports exactly the codes it trained with), then hands it to
 * the format's exporter in quant/ (quant/export.h): one function per
 * format (gptq and hf through export_dir.c). Prints the file's size on
 * disk and bits per weight once the exporter has read it back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/export.h"
#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/cli/export_dir.h"
#include "train/run_quant.h"

typedef struct export_opts {
    const char *model, *format, *type, *out, *name, *tokenizer, *keep_type;
    const char *wq, *gptq_format, *dtype;   /* gptq / hf (export_dir.c) */
    bool json, quiet;
} export_opts;

typedef enum export_format { EXPORT_GGUF, EXPORT_GPTQ, EXPORT_HF } export_format;

static lb_status parse_format(const char *f, export_format *out)
{
    if (f && !strcmp(f, "gguf")) *out = EXPORT_GGUF;
    else if (f && !strcmp(f, "gptq")) *out = EXPORT_GPTQ;
    else if (f && !strcmp(f, "hf")) *out = EXPORT_HF;
    else return lb_errorf(LB_ERR_ARG, "export: --format must be gguf, gptq or hf, got '%s'", f ? f : "(none)");
    return lb_ok();
}

static lb_status export_run(const export_opts *o, lb_export_report *r)
{
    export_format fmt = EXPORT_GGUF;
    LB_TRY(parse_format(o->format, &fmt));
    if (!o->model) return lb_errorf(LB_ERR_ARG, "export: --model is required (a run dir or an HF dir)");
    if (!o->out) return lb_errorf(LB_ERR_ARG, "export: --out is required");
    if (fmt == EXPORT_GPTQ || fmt == EXPORT_HF) { /* directories: export_dir.c */
        lb_cli_dir_export d = {o->model, o->out, o->wq, o->gptq_format, o->dtype, fmt == EXPORT_HF, o->quiet};
        return lb_cli_export_dir(&d, r);
    }
    lb_model m;
    LB_TRY(lb_run_model_load(&m, o->model)); /* a run dir comes with its quantizers */
    lb_tokenizer *tok = NULL;
    lb_status st = lb_cli_load_tokenizer(o->model, o->tokenizer, &tok);
    if (!lb_failed(&st)) {
        lb_gguf_export_opts g = {o->out, o->type, o->keep_type, o->name, o->model, o->quiet};
        st = lb_export_gguf(&m, tok, &g, r);
    }
    lb_tokenizer_free(tok);
    lb_model_free(&m);
    return st;
}

int lb_cmd_export(int argc, char **argv)
{
    export_opts o = {0};
    const lb_flag flags[] = {
        {"model", LB_FLAG_STR, &o.model, "run directory (QAT/PTQ: lossless for its grid) or HF model directory"},
        {"format", LB_FLAG_STR, &o.format, "gguf | gptq (AutoGPTQ safetensors dir) | hf (dequantized HF dir)"},
        {"gptq-format", LB_FLAG_STR, &o.gptq_format, "gptq: v1 (checkpoint_format gptq, default) or v2 (gptq_v2: holds zero 0)"},
        {"wq", LB_FLAG_STR, &o.wq, "gptq/hf: quantize the master weights by RTN on this spec (e.g. int4:g128) instead of using the run's quantizers"},
        {"dtype", LB_FLAG_STR, &o.dtype, "hf: f16 (default), bf16 or f32"},
        {"type", LB_FLAG_STR, &o.type, "gguf: q4_0|q4_1|q5_0|q5_1|q8_0|q4_k|q6_k|f16|bf16|f32"},
        {"out", LB_FLAG_STR, &o.out, "file to write (gguf: FILE.gguf)"},
        {"keep-type", LB_FLAG_STR, &o.keep_type,
         "gguf, from a quantized run: type of the weights it kept in full precision: f32 (default: the file computes "
         "what the run did), f16, bf16, or type (= --type)"},
        {"name", LB_FLAG_STR, &o.name, "model name written into the file (default: the model dir's name)"},
        {"tokenizer", LB_FLAG_STR, &o.tokenizer, "tokenizer.json or its dir (default: the model's)"},
        {"quiet", LB_FLAG_BOOL, &o.quiet, "no per-tensor notes"},
        {"json", LB_FLAG_BOOL, &o.json, "print the result as one JSON object"},
    };
    lb_flag_store store = {0};
    const lb_cli_cmd cmd = {"export", "Export a model as true low-bit files (GGUF for llama.cpp).",
                            "lowbit export --model RUN_DIR|HF_DIR --format gguf --type TYPE --out FILE.gguf [flags]\n"
                            "       lowbit export --model RUN_DIR|HF_DIR --format gptq|hf --out DIR [flags]",
                            flags, (int)(sizeof flags / sizeof flags[0]), &store};
    bool help;
    lb_status st = lb_flags_parse(&cmd, argc, argv, &help);
    int rc = 0;
    lb_export_report r = {0};
    if (!help && !lb_failed(&st)) st = export_run(&o, &r);
    if (help) lb_flags_help(&cmd, stdout);
    else if (lb_failed(&st)) rc = lb_cli_error(&st);
    else if (o.json)
        printf("{\"out\": \"%s\", \"format\": \"%s\", \"type\": \"%s\", \"bytes\": %zu, \"bits_per_weight\": %.4f, "
               "\"quantized_bits_per_weight\": %.4f, \"tensors\": %d, \"lossless\": %d, \"fallback\": %d}\n",
               o.out, o.format, o.type ? o.type : "", r.file_bytes, r.bits_per_weight,
               r.n_weights ? r.weight_bits / (double)r.n_weights : 0.0, r.n_tensors, r.n_lossless, r.n_fallback);
    else
        printf("export %s: wrote %s (%.2f MiB on disk, %.3f bits per weight overall, %.3f per quantized weight; %d "
               "tensors, %d written losslessly from the run's codes, %d fell back)\n",
               o.format, o.out, (double)r.file_bytes / (1024.0 * 1024.0), r.bits_per_weight,
               r.n_weights ? r.weight_bits / (double)r.n_weights : 0.0, r.n_tensors, r.n_lossless, r.n_fallback);
    lb_flag_store_free(&store);
    return rc;
}
