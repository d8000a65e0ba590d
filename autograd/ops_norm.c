/* ops_norm.c — lb_rmsnorm and lb_layernorm: shape checks, outputs, tape.
 *
 * The arithmetic is in kernels/cpu/norm.c. The forward saves
 * the per-row statistics (rstd, mean) for the backward. Not here: the norm
 * modules (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

typedef struct norm_saved {
    float *mean;   // (rows), LayerNorm only
    float *rstd;   // (rows)
} norm_saved;

static void check_norm_args(const char *op, const lb_tensor *x, const lb_tensor *w, const lb_tensor *b)
{
    lb_op_check_input(op, "x", x, LB_F32);
    lb_op_check_input(op, "w", w, LB_F32);
    if (b) lb_op_check_input(op, "b", b, LB_F32);
    LB_CHECKF(x->ndim >= 1 && w->ndim == 1 && w->shape[0] == x->shape[x->ndim - 1],
              "%s: w %s does not match the last dim of x %s", op, LB_SHAPE_STR(w), LB_SHAPE_STR(x));
    LB_CHECKF(!b || lb_tensor_same_shape(b, w), "%s: b %s does not match w %s", op,
              LB_SHAPE_STR(b), LB_SHAPE_STR(w));
}

static void rmsnorm_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1];
    const norm_saved *sv = node->saved;
    lb_cpu_rmsnorm_bwd(x->data, w->data, sv->rstd, node->out->grad->data,
                       lb_op_grad_data(ctx, x), lb_op_grad_data(ctx, w),
                       lb_op_rows(x), w->shape[0]);
}

lb_tensor *lb_rmsnorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, float eps)
{
    check_norm_args("lb_rmsnorm", x, w, NULL);
    int64_t rows = lb_op_rows(x), C = w->shape[0];
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);   // (..., C)
    lb_tensor *ins[2] = {x, w};
    bool grad = lb_needs_grad(ctx, ins, 2);
    float *rstd = grad ? lb_arena_alloc(ctx, (size_t)rows * sizeof(float)) : NULL;   // (rows)
    lb_cpu_rmsnorm_fwd(x->data, w->data, out->data, rstd, rows, C, eps);
    if (grad) {
        lb_node *node = lb_tape_record(ctx, "rmsnorm", rmsnorm_backward, out, ins, 2);
        norm_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (norm_saved){.mean = NULL, .rstd = rstd};
        node->saved = sv;
    }
    return out;
}

static void layernorm_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2];
    const norm_saved *sv = node->saved;
    lb_cpu_layernorm_bwd(x->data, w->data, sv->mean, sv->rstd, node->out->grad->data,
                         lb_op_grad_data(ctx, x), lb_op_grad_data(ctx, w),
                         lb_op_grad_data(ctx, b), lb_op_rows(x), w->shape[0]);
}

lb_tensor *lb_layernorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *b, float eps)
{
    check_norm_args("lb_layernorm", x, w, b);
    int64_t rows = lb_op_rows(x), C = w->shape[0];
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);   // (..., C)
    lb_tensor *ins[3] = {x, w, b};
    bool grad = lb_needs_grad(ctx, ins, 3);
    float *mean = NULL, *rstd = NULL;
    if (grad) {
        mean = lb_arena_alloc(ctx, (size_t)rows * sizeof(float));   // (rows)
        rstd = lb_arena_alloc(ctx, (size_t)rows * sizeof(float));   // (rows)
    }
    lb_cpu_layernorm_fwd(x->data, w->data, b ? b->data : NULL, out->data, mean, rstd, rows, C, eps);
    if (grad) {
        lb_node *node = lb_tape_record(ctx, "layernorm", layernorm_backward, out, ins, 3);
        norm_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (norm_saved){.mean = mean, .rstd = rstd};
        node->saved = sv;
    }
    return out;
}
