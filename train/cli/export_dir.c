/* export_dir.c — `lowbit export --format gptq|hf` (see export_dir.h).
 *
 * Which weights and which quantizers: without --wq the model is loaded as
 * eval loads it (a run dir comes with the quantizers it trained or was
 * quantized with, so the export holds exactly its codes); with --wq the
 * master weights (a run's model/, or an HF dir) get fresh quantizers of
 * that spec on every block linear, i.e. RTN on that grid — the way to
 * export a run whose grid GPTQ cannot hold (nf4, q4_0, ...) or a plain HF
 * model.
 */
#include "train/cli/export_dir.h"

#include <stdio.h>
#include <string.h>

#include "quant/export_hf.h"
#include "quant/gptq.h"
#include "train/run_quant.h"

static lb_status load(const lb_cli_dir_export *o, lb_model *m, char *model_dir, size_t n)
{
    bool run = lb_run_dir_detect(o->model, NULL);
    snprintf(model_dir, n, "%s%s", o->model, run ? "/model" : "");
    if (!o->wq || !*o->wq) return lb_run_model_load(m, o->model);
    LB_TRY(lb_model_load(m, model_dir));
    lb_status st = lb_run_quant_attach(NULL, m, o->wq, NULL, "all", false);
    if (lb_failed(&st)) lb_model_free(m);
    return st;
}

static lb_status parse_dtype(const char *s, lb_dtype *dt)
{
    if (!s || !strcmp(s, "f16")) *dt = LB_F16;
    else if (!strcmp(s, "bf16")) *dt = LB_BF16;
    else if (!strcmp(s, "f32")) *dt = LB_F32;
    else return lb_errorf(LB_ERR_ARG, "export: --dtype must be f16, bf16 or f32, got '%s'", s);
    return lb_ok();
}

lb_status lb_cli_export_dir(const lb_cli_dir_export *o, lb_export_report *r)
{
    lb_gptq_export_opts g = {0};
    lb_dtype dt = LB_F16;
    if (o->hf) LB_TRY(parse_dtype(o->dtype, &dt));
    else if (o->gptq_format && !strcmp(o->gptq_format, "v2")) g.v2 = true;
    else if (o->gptq_format && strcmp(o->gptq_format, "v1"))
        return lb_errorf(LB_ERR_ARG, "export: --gptq-format must be v1 (AutoGPTQ \"gptq\") or v2 (\"gptq_v2\"), got '%s'",
                         o->gptq_format);
    lb_model m;
    char model_dir[4096];
    LB_TRY(load(o, &m, model_dir, sizeof model_dir));
    g.tokenizer_dir = model_dir;
    lb_status st;
    if (o->hf) {
        st = lb_export_hf(&m, o->out, dt, model_dir, r);
    } else {
        lb_gptq_config c;
        st = lb_gptq_export(&m, &g, o->out, &c, r);
        if (!lb_failed(&st) && !o->quiet)
            fprintf(stderr, "gptq: bits %d, group_size %d, sym %s, checkpoint_format %s; the %d quantized linears take "
                            "%.3f bits per weight (qweight + qzeros + scales + g_idx)\n",
                    c.bits, c.group_size, c.sym ? "true" : "false", c.v2 ? "gptq_v2" : "gptq", r->n_lossless,
                    r->weight_bits / (double)r->n_weights);
    }
    lb_model_free(&m);
    return st;
}
