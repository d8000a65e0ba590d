/* ops_norm.c — lb_rmsnorm, lb_layernorm and the fused lb_add_rmsnorm:
 * shape, device and dtype checks, outputs, tape, and the branch to the CPU
 * or CUDA kernel.
 *
 * The arithmetic is in kernels/cpu/norm.c and kernels/cuda/norm.cu. The
 * forward saves the per-row statistics (rstd, mean; f32, on x's device) for
 * the backward. x and the output have the activation dtype (f32 on the CPU,
 * bf16 or f32 on CUDA); w and b are f32 parameters on x's device. Not here:
 * the norm modules (layers/).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct norm_saved {
    float *mean;   // (rows), LayerNorm only
    float *rstd;   // (rows)
} norm_saved;

static void check_param(const char *op, const char *arg, const lb_tensor *p, const lb_tensor *x)
{
    lb_op_check_on(op, arg, p, x->device);
    LB_CHECKF(p->dtype == LB_F32, "%s: %s %s is %s; norm parameters are f32", op, arg,
              LB_SHAPE_STR(p), lb_dtype_name(p->dtype));
}

static void check_norm_args(const char *op, const lb_tensor *x, const lb_tensor *w, const lb_tensor *b)
{
    LB_CHECKF(x != NULL, "%s: x is NULL", op);
    lb_op_check_on(op, "x", x, x->device);
    check_param(op, "w", w, x);
    if (b) check_param(op, "b", b, x);
    LB_CHECKF(x->ndim >= 1 && w->ndim == 1 && w->shape[0] == x->shape[x->ndim - 1],
              "%s: w %s does not match the last dim of x %s", op, LB_SHAPE_STR(w), LB_SHAPE_STR(x));
    LB_CHECKF(!b || lb_tensor_same_shape(b, w), "%s: b %s does not match w %s", op,
              LB_SHAPE_STR(b), LB_SHAPE_STR(w));
}

/* new_like: a step tensor with t's device, dtype and shape. */
static lb_tensor *new_like(lb_ctx *ctx, const lb_tensor *t)
{
    return lb_tensor_new_dev(ctx, t->device, t->dtype, t->ndim, t->shape);
}

/* stats_alloc: n floats of step memory on x's device. */
static float *stats_alloc(lb_ctx *ctx, const lb_tensor *x, int64_t n)
{
    size_t bytes = (size_t)n * sizeof(float);
    return x->device == LB_CUDA ? lb_cuda_step_alloc(ctx, bytes) : lb_arena_alloc(ctx, bytes);
}

static void save_stats(lb_ctx *ctx, lb_node *node, float *mean, float *rstd)
{
    norm_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
    *sv = (norm_saved){.mean = mean, .rstd = rstd};
    node->saved = sv;
}

static void rmsnorm_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1];
    const norm_saved *sv = node->saved;
    void *dout = node->out->grad->data;
    /* dw is overwritten when marked zero (its first writer after zero_grad) */
    bool wo = false;
    lb_tensor *gw = w != x ? lb_grad_dst(ctx, w, &wo) : NULL;
    float *dw = gw ? gw->data : lb_op_grad_data(ctx, w);
    if (x->device == LB_CUDA) {
        bool fresh = false;   /* a new dx is written, not zeroed and added to */
        lb_tensor *gx = x == w ? NULL : lb_grad_fresh(ctx, x, &fresh);
        void *dx = gx ? gx->data : lb_op_grad_data(ctx, x);
        lb_cuda_rmsnorm_bwd(ctx, x->data, w->data, sv->rstd, dout, dx, fresh, dw, wo, lb_op_rows(x),
                            w->shape[0], x->dtype);
        return;
    }
    void *dx = lb_op_grad_data(ctx, x);
    lb_cpu_rmsnorm_bwd(x->data, w->data, sv->rstd, dout, dx, dw, wo, lb_op_rows(x), w->shape[0]);
}

lb_tensor *lb_rmsnorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, float eps)
{
    check_norm_args("lb_rmsnorm", x, w, NULL);
    int64_t rows = lb_op_rows(x), C = w->shape[0];
    lb_tensor *out = new_like(ctx, x);   // (..., C)
    lb_tensor *ins[2] = {x, w};
    bool grad = lb_needs_grad(ctx, ins, 2);
    float *rstd = grad ? stats_alloc(ctx, x, rows) : NULL;   // (rows)
    if (x->device == LB_CUDA)
        lb_cuda_rmsnorm_fwd(ctx, x->data, w->data, out->data, rstd, rows, C, eps, x->dtype);
    else
        lb_cpu_rmsnorm_fwd(x->data, w->data, out->data, rstd, rows, C, eps);
    if (grad) save_stats(ctx, lb_tape_record(ctx, "rmsnorm", rmsnorm_backward, out, ins, 2), NULL, rstd);
    return out;
}

/* residual_cuda: dr gets dh (a copy when r has no grad yet, else +=);
 * then x takes dh's buffer itself when it has no grad yet (lb_grad_take),
 * else dx += dh. Exact either way: adding to a zero grad is a copy. */
static void residual_cuda(lb_ctx *ctx, lb_tensor *x, lb_tensor *r, lb_tensor *h)
{
    const void *dh = h->grad->data;
    int64_t n = lb_tensor_numel(h);
    bool fresh;
    lb_tensor *gr = lb_grad_fresh(ctx, r, &fresh);
    void *dr = gr && !fresh ? gr->data : NULL;
    if (fresh) lb_cuda_memcpy_d2d(ctx, gr->data, dh, (size_t)n * lb_dtype_size(h->dtype));
    void *dx = NULL;
    if (x->requires_grad && !lb_grad_take(ctx, x, h)) dx = lb_op_grad_data(ctx, x);
    lb_cuda_residual_bwd(ctx, dh, dx, dr, n, h->dtype);
}

/* The residual add's backward: dx += dh, dr += dh. */
static void residual_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *r = node->in[1], *h = node->out;
    if (h->device == LB_CUDA) {
        residual_cuda(ctx, x, r, h);
        return;
    }
    void *dx = lb_op_grad_data(ctx, x), *dr = lb_op_grad_data(ctx, r);
    int64_t n = lb_tensor_numel(h);
    if (dx) lb_cpu_acc(dx, h->grad->data, n);
    if (dr) lb_cpu_acc(dr, h->grad->data, n);
}

/* Two tape nodes, the add (h from x, r) then the norm (y from h, w), so a
 * grad that reaches h from elsewhere (the residual stream) is summed with
 * the norm's before flowing to x and r; only the forward is fused. */
lb_tensor *lb_add_rmsnorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *r, lb_tensor *w, float eps,
                          lb_tensor **h_out)
{
    check_norm_args("lb_add_rmsnorm", x, w, NULL);
    lb_op_check_on("lb_add_rmsnorm", "r", r, x->device);
    LB_CHECKF(lb_tensor_same_shape(x, r) && r->dtype == x->dtype,
              "lb_add_rmsnorm: r %s (%s) must have the shape and dtype of x %s (%s)",
              LB_SHAPE_STR(r), lb_dtype_name(r->dtype), LB_SHAPE_STR(x), lb_dtype_name(x->dtype));
    LB_CHECKF(h_out != NULL, "lb_add_rmsnorm: h_out is NULL");
    int64_t rows = lb_op_rows(x), C = w->shape[0], n = lb_tensor_numel(x);
    lb_tensor *h = new_like(ctx, x);     // (..., C)
    lb_tensor *out = new_like(ctx, x);   // (..., C)
    lb_tensor *ins_add[2] = {x, r};
    bool grad_h = lb_needs_grad(ctx, ins_add, 2);
    bool grad = grad_h || lb_needs_grad(ctx, &w, 1);
    float *rstd = grad ? stats_alloc(ctx, x, rows) : NULL;   // (rows)
    if (x->device == LB_CUDA) {
        lb_cuda_add_rmsnorm_fwd(ctx, x->data, r->data, w->data, h->data, out->data, rstd, rows, C,
                                eps, x->dtype);
    } else {
        lb_cpu_add_fwd(x->data, r->data, h->data, n, n);
        lb_cpu_rmsnorm_fwd(h->data, w->data, out->data, rstd, rows, C, eps);
    }
    if (grad_h) lb_tape_record(ctx, "add_rmsnorm.add", residual_backward, h, ins_add, 2);
    if (grad) {
        lb_tensor *ins[2] = {h, w};
        save_stats(ctx, lb_tape_record(ctx, "add_rmsnorm.norm", rmsnorm_backward, out, ins, 2),
                   NULL, rstd);
    }
    *h_out = h;
    return out;
}

static void layernorm_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2];
    const norm_saved *sv = node->saved;
    void *dout = node->out->grad->data, *dx = lb_op_grad_data(ctx, x);
    /* dw, db are overwritten when marked zero; x first, one tensor in two
     * roles is taken once (tape.h) */
    bool wo = false, bo = false;
    lb_tensor *gw = w != x ? lb_grad_dst(ctx, w, &wo) : NULL;
    float *dw = gw ? gw->data : lb_op_grad_data(ctx, w);
    lb_tensor *gb = b != x && b != w ? lb_grad_dst(ctx, b, &bo) : NULL;
    float *db = gb ? gb->data : lb_op_grad_data(ctx, b);
    if (x->device == LB_CUDA)
        lb_cuda_layernorm_bwd(ctx, x->data, w->data, sv->mean, sv->rstd, dout, dx, dw, wo, db, bo,
                              lb_op_rows(x), w->shape[0], x->dtype);
    else
        lb_cpu_layernorm_bwd(x->data, w->data, sv->mean, sv->rstd, dout, dx, dw, wo, db, bo,
                             lb_op_rows(x), w->shape[0]);
}

lb_tensor *lb_layernorm(lb_ctx *ctx, lb_tensor *x, lb_tensor *w, lb_tensor *b, float eps)
{
    check_norm_args("lb_layernorm", x, w, b);
    int64_t rows = lb_op_rows(x), C = w->shape[0];
    lb_tensor *out = new_like(ctx, x);   // (..., C)
    lb_tensor *ins[3] = {x, w, b};
    bool grad = lb_needs_grad(ctx, ins, 3);
    float *mean = NULL, *rstd = NULL;
    if (grad) {
        mean = stats_alloc(ctx, x, rows);   // (rows)
        rstd = stats_alloc(ctx, x, rows);   // (rows)
    }
    const float *bd = b ? b->data : NULL;
    if (x->device == LB_CUDA)
        lb_cuda_layernorm_fwd(ctx, x->data, w->data, bd, out->data, mean, rstd, rows, C, eps,
                              x->dtype);
    else
        lb_cpu_layernorm_fwd(x->data, w->data, bd, out->data, mean, rstd, rows, C, eps);
    if (grad)
        save_stats(ctx, lb_tape_record(ctx, "layernorm", layernorm_backward, out, ins, 3), mean, rstd);
    return out;
}
