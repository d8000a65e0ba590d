/* ops_quant.c — the fake-quant ops of quant/fakequant.h: checks, outputs,
 * tape.
 *
 * The numbers come from lb_quantizer_run (the same call the export uses)
 * and the loops in kernels/cpu/quant.c; the gradients are written down in
 * quant/fakequant.h. This op file includes quant/ headers because quant/
 * owns the op's interface (the quantizer struct); nothing else in
 * autograd/ does.
 *
 * CUDA (kernels/cuda/quant.cu): the weight is the f32 master parameter on
 * the device and the quantizer's tensors (scales, zeros, PACT alpha) must
 * be persistent f32 CUDA tensors too (moved with the model; a learned
 * scale is then a device parameter with a device grad). The forward is one
 * fused pass that writes w^ in bf16, the dtype lb_linear's GEMM reads: into
 * w->lowp when the weight has its bf16 copy (the output is a view of it, so
 * a quantized layer's lowp holds w^ from this forward on, and no step
 * memory is taken; the weight is flagged LB_TENSOR_LOWP_FQ when its
 * quantizer moves to the device, so the optimizer does not refresh that
 * copy), else into a new bf16 step tensor. w^ stands for the f32 weight:
 * it is marked LB_TENSOR_GRAD_F32, so its grad is f32 (the GEMM backward
 * writes dW^ unrounded, as it writes an unquantized weight's master grad)
 * and this backward reads it and accumulates into the f32 master grad (or
 * overwrites it when it is marked zero: the first writer after zero_grad,
 * lb_grad_dst) and the f32 scale/zero grads (these accumulate: the trainer
 * zeroes them without a mark) in one pass. Activations keep their dtype (bf16).
 *
 * Written in place (non-learned modes: minmax, mse, absmax grids, ggml
 * presets; both devices): the node names w as its grad_alias (tape.h), so
 * when the linear that reads w^ comes right after it on the tape and w's
 * grad is marked zero, the linear's dW GEMM writes dW^ straight into w's
 * master grad (beta 0) and this backward only applies the clip mask there:
 * the forward saved it (int grids: bit set = the pre-clamp code lies
 * outside [0, maxq]; the other grids clip nothing and have none). The CPU
 * applies dw = clipped ? +0 : 0 + dW^ to every element: the bits of the
 * overwrite above, by construction. CUDA writes +0 at the set bits only
 * (1/8 byte per element read) and leaves the GEMM's dW^ as it is: the same
 * value, and the same bits unless the GEMM wrote a -0 there (the old path's
 * 0 + -0 gave +0; a sum that starts from +0 never gives -0, but how
 * cuBLASLt starts is not checked: the GPU tests compare values, and -0 ==
 * 0). Learned
 * modes (lsq, lsq+) need dW^ itself for the scale grads and keep the path
 * above; so does any other case (w's grad not marked: a second
 * micro-batch, a weight read twice).
 */
#include <math.h>
#include <string.h>

#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"
#include "autograd/ops_quant.h"
#include "quant/fakequant.h"

typedef struct fq_saved {
    lb_quantizer *q;
    float *s, *z;     /* the scales and zeros the forward used, (out, G) */
    uint32_t *mask;   /* the clip mask (non-learned int grids), else NULL;
                         device memory on CUDA */
} fq_saved;

static lb_cpu_qlayout layout_of(const lb_quantizer *q)
{
    return (lb_cpu_qlayout){.rows = q->rows, .cols = q->cols, .group = q->group,
                            .tensor = q->spec.gran == LB_QG_TENSOR};
}

/* lsq_grad_scale: g = 1 / sqrt(N_group * Qp) (fakequant.h). */
static float lsq_grad_scale(const lb_quantizer *q)
{
    double n = q->spec.gran == LB_QG_TENSOR ? (double)q->rows * (double)q->cols : (double)q->group;
    double qp = q->spec.sym ? (double)((1 << (q->spec.bits - 1)) - 1) : (double)((1 << q->spec.bits) - 1);
    return (float)(1.0 / sqrt(n * qp));
}

static void fq_weight_backward(lb_ctx *ctx, lb_node *node)
{
    const fq_saved *sv = node->saved;
    const lb_quantizer *q = sv->q;
    lb_tensor *w = node->in[0];
    if (node->grad_aliased) {   /* out's grad is w's: dW^, written by the linear */
        lb_cpu_fake_quant_mask_apply(sv->mask, node->out->grad->data, lb_tensor_numel(w));
        node->out->grad = NULL;
        return;
    }
    const float *dout = node->out->grad->data;
    bool over = false;   /* w's grad marked zero: written, not read */
    lb_tensor *gw = lb_grad_dst(ctx, w, &over);
    float *dw = gw ? gw->data : NULL;
    if (q->spec.format != LB_QF_INT) {   /* value grids and ggml presets never mask */
        if (dw && over) memset(dw, 0, lb_tensor_nbytes(gw));   /* 0 + dout: the same bits */
        if (dw) lb_cpu_acc(dw, dout, lb_tensor_numel(w));
        return;
    }
    float *ds = node->n_in > 1 ? lb_op_grad_data(ctx, node->in[1]) : NULL;
    float *dz = node->n_in > 2 ? lb_op_grad_data(ctx, node->in[2]) : NULL;
    lb_cpu_fake_quant_int_bwd(w->data, sv->s, sv->z, dout, layout_of(q), q->spec.bits,
                              lsq_grad_scale(q), dw, over, ds, dz);
}

/* ---- weights on CUDA ------------------------------------------------------------ */

static lb_cuda_qweight cuda_desc(const lb_quantizer *q)
{
    const lb_qspec *sp = &q->spec;
    lb_cuda_qweight Q = {.bits = sp->bits, .sym = sp->sym, .f16 = sp->scale_f16, .rows = q->rows,
                         .cols = q->cols, .group = q->group, .tensor = sp->gran == LB_QG_TENSOR};
    switch (sp->format) {
    case LB_QF_NF4: Q.grid = LB_CUDA_QGRID_NF4; break;
    case LB_QF_FP4: Q.grid = LB_CUDA_QGRID_FP4; break;
    case LB_QF_FP8: Q.grid = LB_CUDA_QGRID_FP8; break;
    case LB_QF_Q4_0: Q.grid = LB_CUDA_QGRID_Q4_0; break;
    case LB_QF_Q4_1: Q.grid = LB_CUDA_QGRID_Q4_1; break;
    case LB_QF_Q5_0: Q.grid = LB_CUDA_QGRID_Q5_0; break;
    case LB_QF_Q5_1: Q.grid = LB_CUDA_QGRID_Q5_1; break;
    case LB_QF_Q8_0: Q.grid = LB_CUDA_QGRID_Q8_0; break;
    case LB_QF_Q4_K: Q.grid = LB_CUDA_QGRID_Q4_K; break;
    case LB_QF_Q6_K: Q.grid = LB_CUDA_QGRID_Q6_K; break;
    default: Q.grid = LB_CUDA_QGRID_INT; break;
    }
    if (lb_qspec_is_ggml(sp)) {
        Q.mode = LB_CUDA_QMODE_GGML;
        Q.group = sp->group;   /* 32; q4_k, q6_k: their sub-block */
        Q.tensor = false;
    } else if (sp->format != LB_QF_INT) {
        Q.mode = LB_CUDA_QMODE_ABSMAX;
    } else {
        Q.mode = sp->mode == LB_QM_MSE    ? LB_CUDA_QMODE_MSE
                 : sp->mode == LB_QM_LSQ  ? LB_CUDA_QMODE_LSQ
                 : sp->mode == LB_QM_LSQP ? LB_CUDA_QMODE_LSQP
                                          : LB_CUDA_QMODE_MINMAX;
    }
    return Q;
}

/* check_state_on_cuda: the quantizer tensor t (may be NULL) is a
 * persistent f32 CUDA tensor, as the CUDA path needs. */
static void check_state_on_cuda(const lb_quantizer *q, const char *what, const lb_tensor *t)
{
    if (!t) return;
    LB_CHECKF(t->device == LB_CUDA && t->dtype == LB_F32,
              "lb_fake_quant: layer %s: the quantizer's %s is a %s %s tensor, but the weight is on "
              "cuda; move the quantizer's state to the device with the model",
              q->name, what, lb_device_name(t->device), lb_dtype_name(t->dtype));
}

static void fq_weight_backward_cuda(lb_ctx *ctx, lb_node *node)
{
    const fq_saved *sv = node->saved;
    const lb_quantizer *q = sv->q;
    lb_tensor *w = node->in[0], *dout = node->out->grad;
    if (node->grad_aliased) {   /* dout is w's grad: dW^, written by the linear */
        lb_cuda_fake_quant_mask_apply(ctx, sv->mask, dout->data, lb_tensor_numel(w));
        node->out->grad = NULL;   /* a parameter's grad: never released */
        return;
    }
    bool over = false;   /* w's grad marked zero: written, not read (no read-modify-write) */
    lb_tensor *gw = lb_grad_dst(ctx, w, &over);
    float *dw = gw ? gw->data : NULL;
    float *ds = node->n_in > 1 ? lb_op_grad_data(ctx, node->in[1]) : NULL;
    float *dz = node->n_in > 2 ? lb_op_grad_data(ctx, node->in[2]) : NULL;
    lb_cuda_qweight Q = cuda_desc(q);
    lb_cuda_fake_quant_weight_bwd(ctx, &Q, w->data, sv->s, sv->z, dout->data, dout->dtype,
                                  lsq_grad_scale(q), dw, over, ds, dz);
}

static lb_tensor *fake_quant_weight_cuda(lb_ctx *ctx, lb_tensor *w, lb_quantizer *q)
{
    LB_CHECKF(w->dtype == LB_F32, "lb_fake_quant_weight: layer %s: the CUDA weight %s is %s; the "
              "fake-quant pass reads the f32 master weight", q->name, LB_SHAPE_STR(w),
              lb_dtype_name(w->dtype));
    check_state_on_cuda(q, "scales", q->scales);
    check_state_on_cuda(q, "zeros", q->zeros);
    int64_t ns = lb_tensor_numel(q->scales);
    float *s = lb_cuda_step_alloc(ctx, (size_t)ns * sizeof *s);
    float *z = lb_cuda_step_alloc(ctx, (size_t)ns * sizeof *z);
    lb_tensor *out;
    if (w->lowp && w->lowp->dtype == LB_BF16 && lb_tensor_numel(w->lowp) == lb_tensor_numel(w))
        out = lb_tensor_view_of(ctx, w->lowp, 2, w->shape);   // (out, in) bf16: w^
    else
        out = lb_tensor_new_dev(ctx, LB_CUDA, LB_BF16, 2, w->shape);
    bool learned = lb_qspec_learned(&q->spec);
    lb_cuda_qweight Q = cuda_desc(q);
    lb_tensor *ins[3] = {w, q->scales, q->zeros};
    int n_in = !learned ? 1 : q->spec.mode == LB_QM_LSQP ? 3 : 2;
    bool rec = lb_needs_grad(ctx, ins, n_in);
    uint32_t *mask = NULL;   /* (words) u32: the clip bits, for an in-place backward */
    if (rec && !learned && Q.grid == LB_CUDA_QGRID_INT)
        mask = lb_cuda_step_alloc(ctx, (size_t)lb_clip_mask_words(lb_tensor_numel(w)) * sizeof *mask);
    lb_cuda_fake_quant_weight_fwd_mask(ctx, &Q, w->data, learned ? q->scales->data : NULL,
                                       learned && q->zeros ? q->zeros->data : NULL, s, z, out->data,
                                       NULL, NULL, mask);
    if (!learned) {
        lb_cuda_memcpy_d2d(ctx, q->scales->data, s, (size_t)ns * sizeof *s);
        if (q->zeros) lb_cuda_memcpy_d2d(ctx, q->zeros->data, z, (size_t)ns * sizeof *z);
    }
    if (rec) {
        out->flags |= LB_TENSOR_GRAD_F32;
        lb_node *node = lb_tape_record(ctx, "fake_quant_weight", fq_weight_backward_cuda, out, ins, n_in);
        fq_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (fq_saved){.q = q, .s = s, .z = z, .mask = mask};
        node->saved = sv;
        if (!learned) node->grad_alias = w;
    }
    return out;
}

lb_tensor *lb_fake_quant_weight(lb_ctx *ctx, lb_tensor *w, lb_quantizer *q)
{
    LB_CHECKF(w != NULL, "lb_fake_quant_weight: w is NULL");
    if (w->device == LB_CUDA) lb_op_check_on("lb_fake_quant_weight", "w", w, LB_CUDA);
    else lb_op_check_input("lb_fake_quant_weight", "w", w, LB_F32);
    LB_CHECKF(q && q->spec.role == LB_QROLE_WEIGHT && q->scales,
              "lb_fake_quant_weight: %s has no initialised weight quantizer", w->name ? w->name : "w");
    LB_CHECKF(w->ndim == 2 && w->shape[0] == q->rows && w->shape[1] == q->cols,
              "lb_fake_quant_weight: layer %s: weight %s, quantizer made for (%lld, %lld)", q->name,
              LB_SHAPE_STR(w), (long long)q->rows, (long long)q->cols);
    if (w->device == LB_CUDA) return fake_quant_weight_cuda(ctx, w, q);
    int64_t ns = lb_tensor_numel(q->scales);
    float *s = lb_arena_alloc(ctx, (size_t)ns * sizeof *s);
    float *z = lb_arena_alloc(ctx, (size_t)ns * sizeof *z);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 2, w->shape);
    lb_quantizer_run(q, w->data, s, z, out->data, NULL);
    bool learned = lb_qspec_learned(&q->spec);
    if (!learned) {
        memcpy(q->scales->data, s, (size_t)ns * sizeof *s);
        if (q->zeros) memcpy(q->zeros->data, z, (size_t)ns * sizeof *z);
    }
    lb_tensor *ins[3] = {w, q->scales, q->zeros};
    int n_in = !learned ? 1 : q->spec.mode == LB_QM_LSQP ? 3 : 2;
    if (lb_needs_grad(ctx, ins, n_in)) {
        lb_node *node = lb_tape_record(ctx, "fake_quant_weight", fq_weight_backward, out, ins, n_in);
        fq_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (fq_saved){.q = q, .s = s, .z = z};
        if (!learned && q->spec.format == LB_QF_INT) {   /* (words) u32 */
            sv->mask = lb_arena_alloc(ctx, (size_t)lb_clip_mask_words(lb_tensor_numel(w)) * sizeof *sv->mask);
            lb_cpu_fake_quant_int_clipmask(w->data, s, z, layout_of(q), q->spec.bits, sv->mask);
        }
        node->saved = sv;
        if (!learned) node->grad_alias = w;
    }
    return out;
}

const uint32_t *lb_fake_quant_weight_clip_mask(const lb_tensor *what)
{
    const lb_node *n = what ? what->node : NULL;
    if (!n || (n->backward != fq_weight_backward && n->backward != fq_weight_backward_cuda)) return NULL;
    return ((const fq_saved *)n->saved)->mask;
}

/* ---- activations ----------------------------------------------------------- */

/* The activation backward nodes branch on the device of x: on CUDA the
 * grads have x's dtype (bf16) and the PACT clip's grad is f32 on the device. */

static void fq_act_ste_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *g = node->out->grad;
    void *dx = lb_op_grad_data(ctx, x);
    if (!dx) return;
    if (x->device == LB_CUDA)
        lb_cuda_fake_quant_ste_bwd(ctx, g->data, dx, lb_tensor_numel(x), g->dtype, x->dtype);
    else
        lb_cpu_acc(dx, g->data, lb_tensor_numel(x));
}

static void fq_act_static_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    void *dx = lb_op_grad_data(ctx, x);
    float s = *(const float *)node->saved;
    if (!dx) return;
    if (x->device == LB_CUDA)
        lb_cuda_fake_quant_act_static_bwd(ctx, x->data, node->out->grad->data, dx,
                                          lb_tensor_numel(x), s, x->dtype);
    else
        lb_cpu_fake_quant_act_static_bwd(x->data, node->out->grad->data, dx, lb_tensor_numel(x), s);
}

static void fq_act_pact_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *alpha = node->in[1];
    void *dx = lb_op_grad_data(ctx, x);
    float *da = lb_op_grad_data(ctx, alpha);
    if (x->device == LB_CUDA) {
        lb_cuda_fake_quant_act_pact_bwd(ctx, x->data, node->out->grad->data, dx, lb_tensor_numel(x),
                                        alpha->data, da, x->dtype);
        return;
    }
    double g = lb_cpu_fake_quant_act_pact_bwd(x->data, node->out->grad->data, dx,
                                              lb_tensor_numel(x), *(const float *)node->saved);
    if (da) da[0] += (float)g;
}

lb_tensor *lb_fake_quant_act(lb_ctx *ctx, lb_tensor *x, const lb_quantizer *aq)
{
    LB_CHECKF(aq && aq->spec.role == LB_QROLE_ACT, "lb_fake_quant_act: not an activation quantizer");
    if (aq->spec.format == LB_QF_NONE) return x;
    LB_CHECKF(x != NULL, "lb_fake_quant_act: x is NULL");
    bool cuda = x->device == LB_CUDA;
    if (cuda) lb_op_check_on("lb_fake_quant_act", "x", x, LB_CUDA);
    else lb_op_check_input("lb_fake_quant_act", "x", x, LB_F32);
    int64_t n = lb_tensor_numel(x);
    lb_tensor *out = lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, x->shape);
    if (aq->spec.mode == LB_QM_DYN) {
        int64_t cols = x->ndim ? x->shape[x->ndim - 1] : 1;
        if (cuda)
            lb_cuda_fake_quant_act_token_fwd(ctx, x->data, out->data, lb_op_rows(x), cols, x->dtype);
        else
            lb_cpu_fake_quant_act_token_fwd(x->data, out->data, lb_op_rows(x), cols);
        if (lb_needs_grad(ctx, &x, 1))
            lb_tape_record(ctx, "fake_quant_act_token", fq_act_ste_backward, out, &x, 1);
        return out;
    }
    float *sv = lb_arena_alloc(ctx, sizeof *sv);
    if (aq->spec.mode == LB_QM_STATIC) {
        LB_CHECKF(aq->act_observed > 0,
                  "lb_fake_quant_act: site %s (int8:tensor:static) has no scale: call "
                  "lb_quantizer_observe on calibration batches first",
                  aq->name);
        *sv = aq->act_scale;
        if (cuda) lb_cuda_fake_quant_act_static_fwd(ctx, x->data, out->data, n, *sv, x->dtype);
        else lb_cpu_fake_quant_act_static_fwd(x->data, out->data, n, *sv);
        if (lb_needs_grad(ctx, &x, 1)) {
            lb_node *node = lb_tape_record(ctx, "fake_quant_act_static", fq_act_static_backward, out, &x, 1);
            node->saved = sv;
        }
        return out;
    }
    if (cuda) {
        /* alpha stays on the device (no sync to check it: the CPU path does) */
        LB_CHECKF(aq->alpha->device == LB_CUDA && aq->alpha->dtype == LB_F32,
                  "lb_fake_quant_act: site %s: the PACT clip is a %s tensor but x is on cuda; "
                  "move the quantizer's state to the device with the model",
                  aq->name, lb_device_name(aq->alpha->device));
        lb_cuda_fake_quant_act_pact_fwd(ctx, x->data, out->data, n, aq->alpha->data, x->dtype);
    } else {
        *sv = ((const float *)aq->alpha->data)[0];
        LB_CHECKF(*sv > 0.0f && isfinite(*sv), "lb_fake_quant_act: site %s: PACT clip alpha is %g",
                  aq->name, (double)*sv);
        lb_cpu_fake_quant_act_pact_fwd(x->data, out->data, n, *sv);
    }
    lb_tensor *ins[2] = {x, aq->alpha};
    if (lb_needs_grad(ctx, ins, 2)) {
        lb_node *node = lb_tape_record(ctx, "fake_quant_act_pact", fq_act_pact_backward, out, ins, 2);
        node->saved = sv;
    }
    return out;
}
