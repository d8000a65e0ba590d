/* model_device.c — a model on the GPU: the memory plan, moving a loaded
 * model there, random init directly there, zeroing grads.
 *
 * On CUDA everything long-lived is ONE allocation, sized first and then
 * pointed into (llm.c's habit):
 *
 *   [ f32 params | f32 grads | AdamW m | AdamW v | bf16 copies (lowp) ]
 *
 * each tensor in a slot of lb_plan_pad(numel) elements, in the model's
 * parameter order. Grads and optimizer state are there only when asked
 * (training); the bf16 copies only for the weights a GEMM reads. Tensor
 * structs are the model's own (so every slot and the tied head stay valid);
 * their data, grad and lowp are views of the plan (LB_TENSOR_VIEW), freed
 * as one by lb_model_free.
 *
 * A device model moves back to the host (to save it) tensor by tensor,
 * into memory each tensor owns; the plan is freed.
 *
 * This file does not run the model (llama.c, gpt2.c: the ops dispatch on the
 * tensors' device).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "layers/model_internal.h"

typedef struct plan {
    int64_t params;       /* f32 elements (padded) */
    int64_t lowp;         /* bf16 elements (padded) */
    unsigned what;
    size_t off_grads, off_opt, off_lowp, bytes;
} plan;

/* needs_lowp: t is a weight some lb_linear reads (the GEMMs take its bf16
 * copy): every 2-D parameter but an untied token embedding and GPT-2's
 * position table, which only embedding lookups read (in f32). */
static bool needs_lowp(const lb_model *m, const lb_tensor *t)
{
    if (t->ndim != 2 || t == m->pos_emb) return false;
    return t != m->tok_emb || t == m->lm_head;
}

static plan make_plan(const lb_model *m, lb_tensor *const *ts, int n, unsigned what)
{
    plan p = {0, 0, what, 0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int64_t k = lb_plan_pad(lb_tensor_numel(ts[i]));
        p.params += k;
        if (needs_lowp(m, ts[i])) p.lowp += k;
    }
    size_t f = (size_t)p.params * sizeof(float);
    p.off_grads = f;
    p.off_opt = p.off_grads + ((what & LB_PLAN_GRADS) ? f : 0);
    p.off_lowp = p.off_opt + ((what & LB_PLAN_OPTIM) ? 2 * f : 0);
    p.bytes = p.off_lowp + (size_t)p.lowp * 2;
    return p;
}

static void print_plan(const plan *p, int n_tensors, lb_device dev)
{
    const double mib = 1024.0 * 1024.0;
    double f = (double)p->params * 4 / mib;
    fprintf(stderr,
            "memory plan (%s, one allocation of %.1f MiB for %d tensors): params f32 %.1f MiB, grads f32 %.1f MiB, "
            "AdamW m+v %.1f MiB, bf16 copies %.1f MiB\n",
            lb_device_name(dev), (double)p->bytes / mib, n_tensors, f, (p->what & LB_PLAN_GRADS) ? f : 0.0,
            (p->what & LB_PLAN_OPTIM) ? 2 * f : 0.0, (double)p->lowp * 2 / mib);
}

/* view: a persistent tensor struct of t's shape whose data is borrowed. */
static lb_tensor *view(const lb_tensor *t, lb_device dev, lb_dtype dt, void *data)
{
    lb_tensor *v = calloc(1, sizeof *v);
    LB_CHECKF(v != NULL, "out of memory allocating a tensor header");
    v->dtype = dt;
    v->device = dev;
    v->ndim = t->ndim;
    memcpy(v->shape, t->shape, sizeof v->shape);
    v->data = data;
    v->flags = LB_TENSOR_PERSISTENT | LB_TENSOR_VIEW;
    return v;
}

/* place: points every tensor of ts into the plan at base (data, grad, lowp).
 * Host data still held by a tensor is copied in first and freed, unless
 * `host` is false (nothing to copy: the caller fills the plan). */
static void place(lb_ctx *ctx, lb_model *m, lb_tensor *const *ts, int n, const plan *p, unsigned char *base,
                  bool host)
{
    int64_t off = 0, loff = 0;
    for (int i = 0; i < n; i++) {
        lb_tensor *t = ts[i];
        int64_t numel = lb_tensor_numel(t);
        float *d = (float *)base + off;
        if (host) {
            lb_cuda_memcpy_h2d(ctx, d, t->data, (size_t)numel * sizeof(float));
            if (!(t->flags & LB_TENSOR_VIEW)) free(t->data);
        }
        if (t->grad) lb_tensor_free(t->grad);
        t->grad = NULL;
        t->data = d;
        t->device = LB_CUDA;
        t->flags |= LB_TENSOR_PERSISTENT | LB_TENSOR_VIEW;
        if (p->what & LB_PLAN_GRADS) t->grad = view(t, LB_CUDA, LB_F32, (float *)(base + p->off_grads) + off);
        if (needs_lowp(m, t)) {
            t->lowp = view(t, LB_CUDA, LB_BF16, (uint16_t *)(base + p->off_lowp) + loff);
            loff += lb_plan_pad(numel);
        }
        off += lb_plan_pad(numel);
    }
    m->device = LB_CUDA;
    m->plan = base;
    m->plan_bytes = p->bytes;
    if (p->what & LB_PLAN_GRADS) {
        m->grad_base = (float *)(base + p->off_grads);
        m->grad_floats = p->params;
    }
    if (p->what & LB_PLAN_OPTIM) m->opt_state = (float *)(base + p->off_opt);
}

/* refresh_lowp: the first bf16 copies, once the f32 weights are in place. */
static void refresh_lowp(lb_ctx *ctx, lb_model *m)
{
    for (int i = 0; i < m->n_params; i++) {
        lb_tensor *t = m->params[i];
        if (t->lowp) lb_cuda_cast(ctx, t->data, t->lowp->data, lb_tensor_numel(t), LB_F32, LB_BF16);
    }
}

/* to_host: every parameter's values into host memory it owns; the plan,
 * grads and bf16 copies are released. */
static lb_status to_host(lb_ctx *ctx, lb_model *m)
{
    for (int i = 0; i < m->n_params; i++) {
        lb_tensor *t = m->params[i];
        size_t bytes = lb_tensor_nbytes(t);
        float *h = malloc(bytes ? bytes : 1);
        if (!h) return lb_errorf(LB_ERR_OOM, "out of host memory copying %s back from the GPU", t->name);
        lb_cuda_memcpy_d2h(ctx, h, t->data, bytes);
        t->data = h;
        t->device = LB_CPU;
        t->flags &= ~(LB_TENSOR_VIEW | LB_TENSOR_LOWP_FQ);
        lb_tensor_free(t->grad);   /* views of the plan: the headers only */
        lb_tensor_free(t->lowp);
        t->grad = t->lowp = NULL;
    }
    lb_cuda_free_ptr(m->plan);
    m->plan = NULL;
    m->plan_bytes = 0;
    m->grad_base = NULL;
    m->grad_floats = 0;
    m->opt_state = NULL;
    m->device = LB_CPU;
    return lb_ok();
}

lb_status lb_model_to_plan(lb_ctx *ctx, lb_model *m, lb_device dev, unsigned what, bool quiet)
{
    if (dev == m->device) return lb_ok();
    if (dev == LB_CPU) {
        LB_TRY(to_host(ctx, m));
    } else {
        if (ctx->device != LB_CUDA || !ctx->cuda)
            return lb_errorf(LB_ERR_ARG, "lb_model_to(cuda) needs a CUDA context");
        plan p = make_plan(m, m->params, m->n_params, what);
        if (!quiet) print_plan(&p, m->n_params, dev);
        unsigned char *base = lb_cuda_malloc(p.bytes); /* zeroed: grads and moments start at 0 */
        place(ctx, m, m->params, m->n_params, &p, base, true);
        refresh_lowp(ctx, m);
        lb_cuda_sync(ctx);
    }
    return m->quant_to ? m->quant_to(ctx, m, dev) : lb_ok();
}

lb_status lb_model_to(lb_ctx *ctx, lb_model *m, lb_device dev)
{
    return lb_model_to_plan(ctx, m, dev, LB_PLAN_TRAIN, false);
}

lb_status lb_model_init_random_dev(lb_ctx *ctx, lb_model *m, const lb_model_config *cfg, uint64_t seed,
                                   lb_device dev, unsigned what, bool quiet)
{
    if (dev == LB_CPU) return lb_model_init_random(m, cfg, seed);
    if (ctx->device != LB_CUDA || !ctx->cuda)
        return lb_errorf(LB_ERR_ARG, "a model on CUDA needs a CUDA context");
    int n = 0;
    lb_param_spec *specs = NULL;
    LB_TRY(lb_model_start(m, cfg, &specs, &n));
    /* headers first (shapes only), so the plan can be sized */
    lb_tensor **ts = calloc((size_t)n, sizeof *ts);
    LB_CHECKF(ts != NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        lb_tensor *t = calloc(1, sizeof *t);
        LB_CHECKF(t != NULL, "out of memory");
        t->dtype = LB_F32;
        t->ndim = specs[i].ndim;
        t->shape[0] = specs[i].shape[0];
        t->shape[1] = specs[i].shape[1];
        t->flags = LB_TENSOR_PERSISTENT | LB_TENSOR_VIEW;
        *specs[i].slot = ts[i] = t;
    }
    lb_status st = lb_model_finish(m, specs, n);
    if (lb_failed(&st)) {
        lb_model_free_partial(m, specs, n);
        free(specs);
        free(ts);
        return st;
    }
    plan p = make_plan(m, ts, n, what);
    if (!quiet) print_plan(&p, n, dev);
    unsigned char *base = lb_cuda_malloc(p.bytes);
    place(ctx, m, ts, n, &p, base, false);
    for (int i = 0; i < n; i++) {
        int64_t numel = lb_tensor_numel(ts[i]);
        if (specs[i].init == LB_INIT_NORMAL)
            lb_cuda_init_normal(ctx, ts[i]->data, numel, lb_init_stream_state(seed, specs[i].name), specs[i].std);
        else if (specs[i].init == LB_INIT_ONES)
            lb_cuda_fill(ctx, ts[i]->data, numel, 1.0f);
        /* LB_INIT_ZEROS: the plan is zeroed */
    }
    refresh_lowp(ctx, m);
    lb_cuda_sync(ctx);
    free(specs);
    free(ts);
    return lb_ok();
}

/* The memset stays although every grad is also marked as holding zeros
 * (lb_grad_mark_zero; its first writer overwrites it): a parameter no op
 * writes in a step (frozen by the graph, an unused table row), or a writer
 * that does not take the mark (tape.h), then still reads zeros, and the
 * optimizer and the grad norm need no "marked" case. Only grads that were
 * just cleared are marked: a grad outside the plan (a CUDA model without
 * planned grads, whose backward allocated them) is cleared on its own. */
void lb_model_zero_grad(lb_ctx *ctx, lb_model *m)
{
    bool planned = m->device == LB_CUDA && m->grad_base;
    if (planned) lb_cuda_memset_zero(ctx, m->grad_base, (size_t)m->grad_floats * sizeof(float));
    for (int i = 0; i < m->n_params; i++) {
        lb_tensor *g = m->params[i]->grad;
        if (!g) continue;
        const float *d = g->data;
        bool cleared = planned && d >= m->grad_base && d < m->grad_base + m->grad_floats;
        if (!cleared && g->device == LB_CUDA) lb_cuda_memset_zero(ctx, g->data, lb_tensor_nbytes(g));
        else if (!cleared) memset(g->data, 0, lb_tensor_nbytes(g));
        lb_grad_mark_zero(m->params[i]);
    }
}
