/* cmd_ptq.c — `lowbit ptq`: post-training quantization into a run directory.
 *
 *   lowbit ptq --method rtn --wq SPEC --model HF_DIR --out RUN_DIR
 *              [--quantize-layers all|attn|mlp|...] [--quantize-embeddings] [--json]
 *              [--aq SPEC [--data FILE.h5 --calib-batches N --batch B --ctx T --seed S]]
 *
 * RTN puts every selected weight on the grid of the spec with the spec's own
 * scales (min-max or the MSE search; lsq/lsq+ start from the MSE search), by
 * rounding to nearest: no data needed. The run directory has the layout of
 * a QAT run (config.json, model/, quant_state.safetensors: train/run_quant.h),
 * so `lowbit eval --model RUN_DIR` and comparisons treat both alike.
 * --aq adds activation quantizers to the same linears; a static one
 * (int8:tensor:static) is calibrated on the CPU over --calib-batches
 * batches of --data by the trainer's own pass (train/calib.h). GPTQ
 * and AWQ (--method gptq|awq, with a calibration --data) are a later issue.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/fileio.h"
#include "layers/model.h"
#include "train/calib.h"
#include "train/cli/commands.h"
#include "train/run_quant.h"

typedef struct ptq_opts {
    const char *method, *wq, *aq, *model, *out, *layers, *data;
    int64_t calib_batches, batch, ctx_len, seed;
    bool embeddings, json;
} ptq_opts;

/* calibrate: the static activation sites of m over batches of o->data (CPU). */
static lb_status calibrate(const ptq_opts *o, lb_model *m)
{
    int sites = lb_run_calib_sites(m);
    if (!sites) return lb_ok();
    if (!o->data)
        return lb_errorf(LB_ERR_ARG, "ptq: --aq %s has %d static sites to calibrate: give --data (an .h5 from lowbit data)",
                         o->aq, sites);
    if (o->batch < 1 || o->ctx_len < 2)
        return lb_errorf(LB_ERR_ARG, "ptq: --batch must be >= 1 and --ctx >= 2, got %lld and %lld", (long long)o->batch,
                         (long long)o->ctx_len);
    lb_ctx ctx;
    LB_TRY(lb_ctx_init(&ctx, LB_CPU));
    lb_status st = lb_run_calibrate(&ctx, m, o->data, o->ctx_len, o->batch, o->batch, o->calib_batches,
                                    (uint64_t)o->seed);   /* whole batches, as the trainer's default micro-batch */
    lb_ctx_free(&ctx);
    return lb_status_prefix(st, "ptq");
}

static lb_status write_text(FILE *fp, void *ud)
{
    return fputs(ud, fp) < 0 ? lb_errorf(LB_ERR_IO, "write failed") : lb_ok();
}

static lb_status run(const ptq_opts *o, int *n_quant)
{
    if (!o->method) return lb_errorf(LB_ERR_ARG, "ptq: --method is required (rtn; gptq and awq come later)");
    if (!strcmp(o->method, "gptq") || !strcmp(o->method, "awq"))
        return lb_errorf(LB_ERR_UNSUPPORTED, "ptq: --method %s is not implemented yet (a later issue); use rtn",
                         o->method);
    if (strcmp(o->method, "rtn")) return lb_errorf(LB_ERR_ARG, "ptq: --method must be rtn, gptq or awq, got '%s'", o->method);
    if (!o->wq || !*o->wq) return lb_errorf(LB_ERR_ARG, "ptq: --wq is required (a weight spec, e.g. int4:g32)");
    if (!o->model) return lb_errorf(LB_ERR_ARG, "ptq: --model is required (an HF model directory)");
    if (!o->out) return lb_errorf(LB_ERR_ARG, "ptq: --out is required (the run directory to write)");
    char *cfg_path = lb_path_join(o->out, "config.json");
    struct stat sb;
    bool taken = stat(cfg_path, &sb) == 0;
    if (taken) {
        free(cfg_path);
        return lb_errorf(LB_ERR_ARG, "ptq: %s already holds a run (config.json); choose a new --out", o->out);
    }
    lb_model m;
    LB_TRY(lb_model_load(&m, o->model));
    lb_status st = lb_run_quant_attach(NULL, &m, o->wq, o->aq, o->layers, o->embeddings);
    if (!lb_failed(&st)) st = calibrate(o, &m);
    if (!lb_failed(&st) && mkdir(o->out, 0777) != 0 && errno != EEXIST)
        st = lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", o->out, strerror(errno));
    char *dir = lb_path_join(o->out, "model");
    if (!lb_failed(&st)) st = lb_model_save(&m, dir, LB_F32);
    if (!lb_failed(&st)) st = lb_run_copy_tokenizer(o->model, dir);
    free(dir);
    char *qs = lb_path_join(o->out, "quant_state.safetensors");
    if (!lb_failed(&st)) st = lb_run_quant_save(&m, qs);
    free(qs);
    if (!lb_failed(&st)) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "command", "ptq");
        cJSON_AddStringToObject(c, "method", o->method);
        cJSON_AddStringToObject(c, "model", o->model);
        cJSON_AddStringToObject(c, "wq", o->wq);
        if (o->aq) cJSON_AddStringToObject(c, "aq", o->aq);
        if (lb_run_calib_sites(&m)) {
            cJSON_AddStringToObject(c, "data", o->data);
            cJSON_AddNumberToObject(c, "calib_batches", (double)o->calib_batches);
            cJSON_AddNumberToObject(c, "batch", (double)o->batch);
            cJSON_AddNumberToObject(c, "ctx", (double)o->ctx_len);
            cJSON_AddNumberToObject(c, "seed", (double)o->seed);
        }
        cJSON_AddStringToObject(c, "quantize_layers", o->layers ? o->layers : "all");
        cJSON_AddBoolToObject(c, "quantize_embeddings", o->embeddings);
        char *text = cJSON_Print(c);
        cJSON_Delete(c);
        size_t n = strlen(text);
        char *t2 = malloc(n + 2);
        LB_CHECK(t2 != NULL);
        memcpy(t2, text, n);
        t2[n] = '\n';
        t2[n + 1] = '\0';
        free(text);
        st = lb_atomic_write(cfg_path, write_text, t2); /* last: a run dir with config.json is complete */
        free(t2);
    }
    free(cfg_path);
    *n_quant = lb_run_quant_count(&m);
    lb_model_free(&m);
    return st;
}

int lb_cmd_ptq(int argc, char **argv)
{
    ptq_opts o = {.calib_batches = 8, .batch = 8, .ctx_len = 256, .seed = 1};
    const lb_flag flags[] = {
        {"method", LB_FLAG_STR, &o.method, "rtn (gptq, awq: a later issue)"},
        {"wq", LB_FLAG_STR, &o.wq, "weight quantizer spec, e.g. int4:g32:asym"},
        {"model", LB_FLAG_STR, &o.model, "HF model directory"},
        {"out", LB_FLAG_STR, &o.out, "run directory to write"},
        {"data", LB_FLAG_STR, &o.data, "calibration data (.h5): static activation scales (--aq), GPTQ/AWQ"},
        {"aq", LB_FLAG_STR, &o.aq, "activation quantizer spec, e.g. int8:token or int8:tensor:static (calibrated)"},
        {"calib-batches", LB_FLAG_INT, &o.calib_batches, "batches of --data observed for static scales (default 8)"},
        {"batch", LB_FLAG_INT, &o.batch, "windows per calibration batch (default 8)"},
        {"ctx", LB_FLAG_INT, &o.ctx_len, "tokens per calibration window (default 256)"},
        {"seed", LB_FLAG_INT, &o.seed, "calibration window order seed (default 1, as lowbit train)"},
        {"quantize-layers", LB_FLAG_STR, &o.layers, "all|attn|mlp or a comma list of q,k,v,o,qkv,gate,up,down"},
        {"quantize-embeddings", LB_FLAG_BOOL, &o.embeddings, "quantize the token embedding too"},
        {"json", LB_FLAG_BOOL, &o.json, "print the result as one JSON object"},
    };
    lb_flag_store store = {0};
    const lb_cli_cmd cmd = {"ptq", "Post-training quantization (round-to-nearest) into a run directory.",
                            "lowbit ptq --method rtn --wq SPEC --model HF_DIR --out RUN_DIR [flags]", flags,
                            (int)(sizeof flags / sizeof flags[0]), &store};
    bool help;
    lb_status st = lb_flags_parse(&cmd, argc, argv, &help);
    int rc = 0, n = 0;
    if (help) lb_flags_help(&cmd, stdout);
    else if (lb_failed(&st)) rc = lb_cli_error(&st);
    else {
        st = run(&o, &n);
        if (lb_failed(&st)) rc = lb_cli_error(&st);
        else if (o.json) printf("{\"run_dir\": \"%s\", \"method\": \"%s\", \"wq\": \"%s\", \"quantizers\": %d}\n", o.out,
                                o.method, o.wq, n);
        else printf("ptq %s: %d quantizers (%s%s%s) into %s\n", o.method, n, o.wq, o.aq ? ", activations " : "",
                    o.aq ? o.aq : "", o.out);
    }
    lb_flag_store_free(&store);
    return rc;
}
