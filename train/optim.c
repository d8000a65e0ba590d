/* optim.c — AdamW (see optim.h): the fp32 CPU update, which is the
 * specification, and the CUDA dispatch (one multi-tensor launch). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

lb_adamw_cfg lb_adamw_defaults(void)
{
    lb_adamw_cfg c = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f, .decay_1d = false};
    return c;
}

static bool decays(const lb_adamw *opt, const lb_tensor *p)
{
    return opt->cfg.weight_decay != 0.0f && (opt->cfg.decay_1d || p->ndim >= 2);
}

lb_status lb_adamw_init(lb_adamw *opt, lb_tensor *const *params, int n, float *state,
                        const lb_adamw_cfg *cfg)
{
    memset(opt, 0, sizeof *opt);
    if (n <= 0) return lb_errorf(LB_ERR_ARG, "AdamW: no parameters to optimize");
    opt->cfg = cfg ? *cfg : lb_adamw_defaults();
    if (!(opt->cfg.beta1 >= 0 && opt->cfg.beta1 < 1) || !(opt->cfg.beta2 >= 0 && opt->cfg.beta2 < 1))
        return lb_errorf(LB_ERR_ARG, "AdamW: betas must lie in [0, 1), got (%g, %g)", (double)opt->cfg.beta1,
                         (double)opt->cfg.beta2);
    if (!(opt->cfg.eps > 0) || !(opt->cfg.weight_decay >= 0))
        return lb_errorf(LB_ERR_ARG, "AdamW: eps must be > 0 and weight_decay >= 0, got %g and %g",
                         (double)opt->cfg.eps, (double)opt->cfg.weight_decay);
    opt->device = params[0]->device;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        LB_CHECKF(params[i]->dtype == LB_F32 && params[i]->device == opt->device,
                  "AdamW: parameter %d (%s) must be f32 on the same device as the first", i,
                  params[i]->name ? params[i]->name : "?");
        total += lb_plan_pad(lb_tensor_numel(params[i]));
    }
    if (!state && opt->device == LB_CUDA) {   /* e.g. learned quantizer scales: their own allocation */
        opt->owned_dev = lb_cuda_malloc((size_t)(2 * total) * sizeof(float));   /* zeroed */
        state = opt->owned_dev;
    } else if (!state) {
        opt->owned = calloc((size_t)(2 * total), sizeof(float));
        if (!opt->owned)
            return lb_errorf(LB_ERR_OOM, "out of memory allocating AdamW state (%.1f MiB)",
                             (double)total * 8 / (1 << 20));
        state = opt->owned;
    }
    opt->n = n;
    opt->params = malloc((size_t)n * sizeof *opt->params);
    opt->m = malloc((size_t)n * sizeof *opt->m);
    opt->v = malloc((size_t)n * sizeof *opt->v);
    if (!opt->params || !opt->m || !opt->v) {
        lb_adamw_free(opt);
        return lb_errorf(LB_ERR_OOM, "out of memory setting up AdamW");
    }
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        opt->params[i] = params[i];
        opt->m[i] = state + off;
        opt->v[i] = state + total + off;
        off += lb_plan_pad(lb_tensor_numel(params[i]));
    }
    return lb_ok();
}

lb_status lb_adamw_init_model(lb_adamw *opt, const lb_model *m, const lb_adamw_cfg *cfg)
{
    return lb_adamw_init(opt, m->params, m->n_params, m->opt_state, cfg);
}

/* build_table: the CUDA chunk table (one row per LB_ADAMW_CHUNK elements of
 * each tensor), uploaded once: the pointers of a planned model never move. */
static void build_table(lb_ctx *ctx, lb_adamw *opt)
{
    int64_t rows = 0;
    for (int i = 0; i < opt->n; i++) rows += (lb_tensor_numel(opt->params[i]) + LB_ADAMW_CHUNK - 1) / LB_ADAMW_CHUNK;
    lb_adamw_chunk *tab = malloc((size_t)rows * sizeof *tab);
    LB_CHECKF(tab != NULL, "out of memory building the AdamW table (%lld rows)", (long long)rows);
    int64_t r = 0;
    for (int i = 0; i < opt->n; i++) {
        lb_tensor *p = opt->params[i];
        LB_CHECKF(p->grad != NULL && p->grad->dtype == LB_F32, "AdamW on CUDA: parameter %s has no f32 grad",
                  p->name ? p->name : "?");
        LB_CHECKF(!p->lowp || p->lowp->dtype == LB_BF16, "AdamW on CUDA: lowp of %s is not bf16",
                  p->name ? p->name : "?");
        int64_t n = lb_tensor_numel(p);
        float wd = decays(opt, p) ? opt->cfg.weight_decay : 0.0f;
        for (int64_t o = 0; o < n; o += LB_ADAMW_CHUNK, r++) {
            tab[r].p = (float *)p->data + o;
            tab[r].g = (const float *)p->grad->data + o;
            tab[r].m = opt->m[i] + o;
            tab[r].v = opt->v[i] + o;
            /* a quantized weight's lowp holds w^, which the next forward rewrites */
            tab[r].lowp = p->lowp && !(p->flags & LB_TENSOR_LOWP_FQ) ? (uint16_t *)p->lowp->data + o : NULL;
            tab[r].n = n - o < LB_ADAMW_CHUNK ? n - o : LB_ADAMW_CHUNK;
            tab[r].wd = wd;
        }
    }
    opt->chunks = lb_cuda_malloc((size_t)rows * sizeof *tab);
    lb_cuda_memcpy_h2d(ctx, opt->chunks, tab, (size_t)rows * sizeof *tab);
    opt->n_chunks = rows;
    free(tab);
}

/* adamw_cpu: the specification; the CUDA kernel repeats these expressions
 * in this order. Overwrites p, m, v. */
static void adamw_cpu(float *p, const float *g, float *m, float *v, int64_t n, float lr, float wd,
                      float b1, float b2, float eps, float step_size, float sqrt_bc2, float gs)
{
    const float decay = 1.0f - lr * wd;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
#pragma omp parallel for schedule(static) if (n >= ((int64_t)1 << 20))
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * gs;
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * (gi * gi);
        float denom = sqrtf(vi) / sqrt_bc2 + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * (mi / denom);
    }
}

void lb_adamw_step(lb_ctx *ctx, lb_adamw *opt, float lr, float grad_scale)
{
    opt->t++;
    const lb_adamw_cfg *c = &opt->cfg;
    /* bias corrections in double, rounded once to fp32 */
    double bc1 = 1.0 - pow((double)c->beta1, (double)opt->t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)opt->t);
    float step_size = (float)((double)lr / bc1);
    float sqrt_bc2 = (float)sqrt(bc2);
    if (opt->device == LB_CUDA) {
        if (!opt->chunks) build_table(ctx, opt);
        lb_cuda_adamw_step(ctx, opt->chunks, opt->n_chunks, lr, c->beta1, c->beta2, c->eps, step_size, sqrt_bc2,
                           grad_scale);
        return;
    }
    for (int i = 0; i < opt->n; i++) {
        lb_tensor *p = opt->params[i];
        if (!p->grad) continue;
        adamw_cpu(p->data, p->grad->data, opt->m[i], opt->v[i], lb_tensor_numel(p), lr,
                  decays(opt, p) ? c->weight_decay : 0.0f, c->beta1, c->beta2, c->eps, step_size, sqrt_bc2,
                  grad_scale);
    }
}

void lb_adamw_free(lb_adamw *opt)
{
    if (!opt) return;
    lb_cuda_free_ptr(opt->chunks);
    lb_cuda_free_ptr(opt->owned_dev);
    free(opt->owned);
    free(opt->params);
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}
