/* ops_quant.c — the fake-quant ops of quant/fakequant.h: checks, outputs,
 * tape.
 *
 * The numbers come from lb_quantizer_run (the same call the export uses)
 * and the loops in kernels/cpu/quant.c; the gradients are written down in
 * quant/fakequant.h. This op file includes quant/ headers because quant/
 * owns the op's interface (the quantizer struct); nothing else in
 * autograd/ does. CPU only: the CUDA fused pass comes with the GPU work.
 */
#include <math.h>
#include <string.h>

#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "quant/fakequant.h"

typedef struct fq_saved {
    lb_quantizer *q;
    float *s, *z;     /* the scales and zeros the forward used, (out, G) */
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
    const float *dout = node->out->grad->data;
    float *dw = lb_op_grad_data(ctx, w);
    if (q->spec.format != LB_QF_INT) {   /* value grids and ggml presets never mask */
        if (dw) lb_cpu_acc(dw, dout, lb_tensor_numel(w));
        return;
    }
    float *ds = node->n_in > 1 ? lb_op_grad_data(ctx, node->in[1]) : NULL;
    float *dz = node->n_in > 2 ? lb_op_grad_data(ctx, node->in[2]) : NULL;
    lb_cpu_fake_quant_int_bwd(w->data, sv->s, sv->z, dout, layout_of(q), q->spec.bits,
                              lsq_grad_scale(q), dw, ds, dz);
}

lb_tensor *lb_fake_quant_weight(lb_ctx *ctx, lb_tensor *w, lb_quantizer *q)
{
    lb_op_check_input("lb_fake_quant_weight", "w", w, LB_F32);
    LB_CHECKF(q && q->spec.role == LB_QROLE_WEIGHT && q->scales,
              "lb_fake_quant_weight: %s has no initialised weight quantizer", w->name ? w->name : "w");
    LB_CHECKF(w->ndim == 2 && w->shape[0] == q->rows && w->shape[1] == q->cols,
              "lb_fake_quant_weight: layer %s: weight %s, quantizer made for (%lld, %lld)", q->name,
              LB_SHAPE_STR(w), (long long)q->rows, (long long)q->cols);
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
        node->saved = sv;
    }
    return out;
}

/* ---- activations ----------------------------------------------------------- */

static void fq_act_ste_backward(lb_ctx *ctx, lb_node *node)
{
    float *dx = lb_op_grad_data(ctx, node->in[0]);
    if (dx) lb_cpu_acc(dx, node->out->grad->data, lb_tensor_numel(node->in[0]));
}

static void fq_act_static_backward(lb_ctx *ctx, lb_node *node)
{
    float *dx = lb_op_grad_data(ctx, node->in[0]);
    if (dx)
        lb_cpu_fake_quant_act_static_bwd(node->in[0]->data, node->out->grad->data, dx,
                                         lb_tensor_numel(node->in[0]), *(const float *)node->saved);
}

static void fq_act_pact_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *alpha = node->in[1];
    float *dx = lb_op_grad_data(ctx, x), *da = lb_op_grad_data(ctx, alpha);
    double g = lb_cpu_fake_quant_act_pact_bwd(x->data, node->out->grad->data, dx,
                                              lb_tensor_numel(x), *(const float *)node->saved);
    if (da) da[0] += (float)g;
}

lb_tensor *lb_fake_quant_act(lb_ctx *ctx, lb_tensor *x, const lb_quantizer *aq)
{
    LB_CHECKF(aq && aq->spec.role == LB_QROLE_ACT, "lb_fake_quant_act: not an activation quantizer");
    if (aq->spec.format == LB_QF_NONE) return x;
    lb_op_check_input("lb_fake_quant_act", "x", x, LB_F32);
    int64_t n = lb_tensor_numel(x);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);
    if (aq->spec.mode == LB_QM_DYN) {
        lb_cpu_fake_quant_act_token_fwd(x->data, out->data, lb_op_rows(x),
                                        x->ndim ? x->shape[x->ndim - 1] : 1);
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
        lb_cpu_fake_quant_act_static_fwd(x->data, out->data, n, *sv);
        if (lb_needs_grad(ctx, &x, 1)) {
            lb_node *node = lb_tape_record(ctx, "fake_quant_act_static", fq_act_static_backward, out, &x, 1);
            node->saved = sv;
        }
        return out;
    }
    *sv = ((const float *)aq->alpha->data)[0];
    LB_CHECKF(*sv > 0.0f && isfinite(*sv), "lb_fake_quant_act: site %s: PACT clip alpha is %g",
              aq->name, (double)*sv);
    lb_cpu_fake_quant_act_pact_fwd(x->data, out->data, n, *sv);
    lb_tensor *ins[2] = {x, aq->alpha};
    if (lb_needs_grad(ctx, ins, 2)) {
        lb_node *node = lb_tape_record(ctx, "fake_quant_act_pact", fq_act_pact_backward, out, ins, 2);
        node->saved = sv;
    }
    return out;
}
