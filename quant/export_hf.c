/* export_hf.c — lb_export_hf (see export_hf.h) and the helpers the
 * directory exports share (tokenizer copy, size on disk).
 *
 * The checkpoint is written by lb_model_save from a shadow of the model
 * whose parameter list points at w^ where a quantizer is attached, so the
 * names, layouts (GPT-2's Conv1D transpose), sharding and config are the
 * ones every other lowbit checkpoint has.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/tensor.h"
#include "layers/fileio.h"
#include "quant/export_hf.h"
#include "quant/quantizer.h"

lb_status lb_export_copy_tokenizer(const char *src, const char *dst)
{
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                  "vocab.json",     "merges.txt",            "tokenizer.model",
                                  "generation_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char from[4096], to[4096];
        struct stat sb;
        snprintf(from, sizeof from, "%s/%s", src, names[i]);
        if (stat(from, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        snprintf(to, sizeof to, "%s/%s", dst, names[i]);
        LB_TRY(lb_copy_file(from, to));
    }
    return lb_ok();
}

size_t lb_export_dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) total += (size_t)sb.st_size;
    }
    closedir(d);
    return total;
}

/* verify: every parameter of the written checkpoint equals what was meant
 * (the shadow's f32 values rounded to dtype). */
static lb_status verify(const lb_model *shadow, const char *dir, lb_dtype dtype)
{
    lb_model back;
    LB_TRY(lb_model_load(&back, dir));
    lb_status st = lb_ok();
    if (back.n_params != shadow->n_params)
        st = lb_errorf(LB_ERR_FORMAT, "%s: read back %d tensors, wrote %d", dir, back.n_params, shadow->n_params);
    for (int i = 0; i < shadow->n_params && !lb_failed(&st); i++) {
        const lb_tensor *t = shadow->params[i];
        int64_t n = lb_tensor_numel(t);
        const float *want = lb_tensor_f32(t), *got = lb_tensor_f32(back.params[i]);
        for (int64_t j = 0; j < n; j++) {
            uint32_t r;   /* want rounded to dtype and back, compared as f32 */
            float w;
            lb_convert_from_f32(&r, &want[j], dtype, 1);
            lb_convert_to_f32(&w, &r, dtype, 1);
            if (memcmp(&w, &got[j], sizeof w)) {
                st = lb_errorf(LB_ERR_FORMAT, "%s: tensor %s element %lld reads back as %g, expected %g", dir,
                               shadow->param_names[i], (long long)j, (double)got[j], (double)w);
                break;
            }
        }
    }
    lb_model_free(&back);
    return st;
}

lb_status lb_export_hf(const lb_model *m, const char *dir, lb_dtype dtype, const char *tokenizer_dir,
                       lb_export_report *r)
{
    LB_CHECKF(m->device == LB_CPU, "lb_export_hf: the model must be on the CPU");
    lb_model shadow = *m;
    lb_tensor **params = calloc((size_t)m->n_params, sizeof *params);
    if (!params) return lb_errorf(LB_ERR_OOM, "out of memory");
    shadow.params = params;
    int n_deq = 0;
    bool act = false;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) act = act || m->blocks[i].aquant[id];
    if (act)
        fprintf(stderr, "lowbit: warning: the run also quantizes activations, which a plain HF checkpoint cannot "
                        "express; the export holds the quantized weights and full-precision activations\n");
    lb_status st = lb_ok();
    for (int i = 0; i < m->n_params && !lb_failed(&st); i++) {
        const lb_quantizer *q = lb_model_weight_quantizer(m, m->params[i]);
        if (!q) {
            params[i] = m->params[i];
            continue;
        }
        /* w^: the forward's own function, with scratch for its scales */
        const lb_tensor *w = m->params[i];
        int64_t ns = q->spec.gran == LB_QG_TENSOR ? 1 : q->rows * q->n_groups;
        float *s = malloc((size_t)ns * sizeof *s), *z = malloc((size_t)ns * sizeof *z);
        params[i] = lb_tensor_alloc(LB_F32, w->ndim, w->shape);
        if (!s || !z || !params[i]) st = lb_errorf(LB_ERR_OOM, "tensor %s: out of memory", m->param_names[i]);
        else {
            lb_quantizer_run(q, lb_tensor_f32(w), s, z, lb_tensor_f32(params[i]), NULL);
            n_deq++;
        }
        free(s);
        free(z);
    }
    if (!lb_failed(&st)) st = lb_model_save(&shadow, dir, dtype);
    if (!lb_failed(&st) && tokenizer_dir) st = lb_export_copy_tokenizer(tokenizer_dir, dir);
    if (!lb_failed(&st)) st = verify(&shadow, dir, dtype);
    if (!lb_failed(&st) && r) {
        memset(r, 0, sizeof *r);
        r->file_bytes = lb_export_dir_bytes(dir);
        for (int i = 0; i < m->n_params; i++) r->n_params += lb_tensor_numel(m->params[i]);
        r->n_tensors = m->n_params;
        r->bits_per_weight = 8.0 * (double)r->file_bytes / (double)r->n_params;
        r->n_lossless = n_deq;
    }
    for (int i = 0; i < m->n_params; i++)
        if (params[i] && params[i] != m->params[i]) lb_tensor_free(params[i]);
    free(params);
    return st;
}
