/* ops_elementwise.c — add, mul, scale, silu, gelu, swiglu and sum: shape,
 * device and dtype checks, outputs, tape, and the one branch to the CPU or
 * CUDA kernel.
 *
 * The arithmetic is in kernels/cpu/elementwise.c and kernels/cuda/
 * elementwise.cu. Broadcasting is over leading dims only (b has a's
 * trailing shape or a's full shape). An output is made on the first input's
 * device with its dtype (f32 on the CPU; bf16 or f32 on CUDA, where b of
 * add/mul may be an f32 parameter next to a bf16 activation); sum's output
 * is an f32 scalar on either device. Not here: general broadcasting,
 * in-place ops.
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

/* check_broadcast: b's shape must be a trailing part of a's (possibly all). */
static void check_broadcast(const char *op, const lb_tensor *a, const lb_tensor *b)
{
    bool ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++) ok = b->shape[i] == a->shape[a->ndim - b->ndim + i];
    LB_CHECKF(ok, "%s: b %s is not a trailing shape of a %s", op, LB_SHAPE_STR(b), LB_SHAPE_STR(a));
}

/* check_binary: a and b on a's device with dtypes its kernels read, b
 * broadcastable to a. */
static void check_binary(const char *op, const lb_tensor *a, const lb_tensor *b)
{
    LB_CHECKF(a != NULL, "%s: a is NULL", op);
    lb_op_check_on(op, "a", a, a->device);
    lb_op_check_on(op, "b", b, a->device);
    check_broadcast(op, a, b);
}

/* new_like: a step tensor with t's device, dtype and shape. */
static lb_tensor *new_like(lb_ctx *ctx, const lb_tensor *t)
{
    return lb_tensor_new_dev(ctx, t->device, t->dtype, t->ndim, t->shape);
}

static void add_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    int64_t n = lb_tensor_numel(a), nb = lb_tensor_numel(b);
    if (nb == 0) return;
    void *dout = node->out->grad->data, *da = lb_op_grad_data(ctx, a), *db = lb_op_grad_data(ctx, b);
    if (a->device == LB_CUDA)
        lb_cuda_add_bwd(ctx, dout, da, db, n, nb, a->dtype, b->dtype);
    else
        lb_cpu_add_bwd(dout, da, db, n, nb);
}

lb_tensor *lb_add(lb_ctx *ctx, lb_tensor *a, lb_tensor *b)
{
    check_binary("lb_add", a, b);
    lb_tensor *out = new_like(ctx, a);
    int64_t n = lb_tensor_numel(a), nb = lb_tensor_numel(b);
    if (nb > 0 && a->device == LB_CUDA)
        lb_cuda_add_fwd(ctx, a->data, b->data, out->data, n, nb, a->dtype, b->dtype);
    else if (nb > 0)
        lb_cpu_add_fwd(a->data, b->data, out->data, n, nb);
    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "add", add_backward, out, ins, 2);
    return out;
}

static void mul_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    int64_t n = lb_tensor_numel(a), nb = lb_tensor_numel(b);
    if (nb == 0) return;
    void *dout = node->out->grad->data, *da = lb_op_grad_data(ctx, a), *db = lb_op_grad_data(ctx, b);
    if (a->device == LB_CUDA)
        lb_cuda_mul_bwd(ctx, a->data, b->data, dout, da, db, n, nb, a->dtype, b->dtype);
    else
        lb_cpu_mul_bwd(a->data, b->data, dout, da, db, n, nb);
}

lb_tensor *lb_mul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b)
{
    check_binary("lb_mul", a, b);
    lb_tensor *out = new_like(ctx, a);
    int64_t n = lb_tensor_numel(a), nb = lb_tensor_numel(b);
    if (nb > 0 && a->device == LB_CUDA)
        lb_cuda_mul_fwd(ctx, a->data, b->data, out->data, n, nb, a->dtype, b->dtype);
    else if (nb > 0)
        lb_cpu_mul_fwd(a->data, b->data, out->data, n, nb);
    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "mul", mul_backward, out, ins, 2);
    return out;
}

static void scale_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0];
    float s = *(const float *)node->saved;
    void *dout = node->out->grad->data, *da = lb_op_grad_data(ctx, a);
    if (a->device == LB_CUDA)
        lb_cuda_scale_bwd(ctx, dout, s, da, lb_tensor_numel(a), a->dtype);
    else
        lb_cpu_scale_bwd(dout, s, da, lb_tensor_numel(a));
}

lb_tensor *lb_scale(lb_ctx *ctx, lb_tensor *a, float s)
{
    LB_CHECKF(a != NULL, "lb_scale: a is NULL");
    lb_op_check_on("lb_scale", "a", a, a->device);
    lb_tensor *out = new_like(ctx, a);
    if (a->device == LB_CUDA)
        lb_cuda_scale_fwd(ctx, a->data, s, out->data, lb_tensor_numel(a), a->dtype);
    else
        lb_cpu_scale_fwd(a->data, s, out->data, lb_tensor_numel(a));
    if (lb_needs_grad(ctx, &a, 1)) {
        lb_node *node = lb_tape_record(ctx, "scale", scale_backward, out, &a, 1);
        float *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = s;
        node->saved = sv;
    }
    return out;
}

static void silu_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    void *dout = node->out->grad->data, *dx = lb_op_grad_data(ctx, x);
    if (x->device == LB_CUDA)
        lb_cuda_silu_bwd(ctx, x->data, dout, dx, lb_tensor_numel(x), x->dtype);
    else
        lb_cpu_silu_bwd(x->data, dout, dx, lb_tensor_numel(x));
}

lb_tensor *lb_silu(lb_ctx *ctx, lb_tensor *x)
{
    LB_CHECKF(x != NULL, "lb_silu: x is NULL");
    lb_op_check_on("lb_silu", "x", x, x->device);
    lb_tensor *out = new_like(ctx, x);
    if (x->device == LB_CUDA)
        lb_cuda_silu_fwd(ctx, x->data, out->data, lb_tensor_numel(x), x->dtype);
    else
        lb_cpu_silu_fwd(x->data, out->data, lb_tensor_numel(x));
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "silu", silu_backward, out, &x, 1);
    return out;
}

static void gelu_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    bool tanh_form = *(const lb_gelu_kind *)node->saved == LB_GELU_TANH;
    void *dout = node->out->grad->data, *dx = lb_op_grad_data(ctx, x);
    if (x->device == LB_CUDA)
        lb_cuda_gelu_bwd(ctx, x->data, dout, dx, lb_tensor_numel(x), tanh_form, x->dtype);
    else
        lb_cpu_gelu_bwd(x->data, dout, dx, lb_tensor_numel(x), tanh_form);
}

lb_tensor *lb_gelu(lb_ctx *ctx, lb_tensor *x, lb_gelu_kind kind)
{
    LB_CHECKF(x != NULL, "lb_gelu: x is NULL");
    lb_op_check_on("lb_gelu", "x", x, x->device);
    LB_CHECKF(kind == LB_GELU_EXACT || kind == LB_GELU_TANH, "lb_gelu: unknown kind %d", (int)kind);
    lb_tensor *out = new_like(ctx, x);
    bool tanh_form = kind == LB_GELU_TANH;
    if (x->device == LB_CUDA)
        lb_cuda_gelu_fwd(ctx, x->data, out->data, lb_tensor_numel(x), tanh_form, x->dtype);
    else
        lb_cpu_gelu_fwd(x->data, out->data, lb_tensor_numel(x), tanh_form);
    if (lb_needs_grad(ctx, &x, 1)) {
        lb_node *node = lb_tape_record(ctx, "gelu", gelu_backward, out, &x, 1);
        lb_gelu_kind *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = kind;
        node->saved = sv;
    }
    return out;
}

/* swiglu_cuda: new grads are written in the same pass (overwrite), not
 * zeroed and added to; when only one of two is new, or both are one buffer
 * (swiglu(x, x)), the new one is zeroed and both accumulate. */
static void swiglu_cuda(lb_ctx *ctx, lb_tensor *gate, lb_tensor *up, const void *dout)
{
    int64_t n = lb_tensor_numel(gate);
    bool fg = false, fu = false;
    lb_tensor *gg = lb_grad_fresh(ctx, gate, &fg);
    lb_tensor *gu = gate == up ? gg : lb_grad_fresh(ctx, up, &fu);
    bool overwrite = gate != up && (fg || !gg) && (fu || !gu);
    if (!overwrite) {
        if (fg) lb_cuda_memset_zero(ctx, gg->data, (size_t)n * lb_dtype_size(gg->dtype));
        if (fu) lb_cuda_memset_zero(ctx, gu->data, (size_t)n * lb_dtype_size(gu->dtype));
    }
    lb_cuda_swiglu_bwd(ctx, gate->data, up->data, dout, gg ? gg->data : NULL, gu ? gu->data : NULL,
                       n, overwrite, gate->dtype);
}

static void swiglu_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *gate = node->in[0], *up = node->in[1];
    void *dout = node->out->grad->data;
    if (gate->device == LB_CUDA) {
        swiglu_cuda(ctx, gate, up, dout);
        return;
    }
    void *dgate = lb_op_grad_data(ctx, gate), *dup = lb_op_grad_data(ctx, up);
    lb_cpu_swiglu_bwd(gate->data, up->data, dout, dgate, dup, lb_tensor_numel(gate));
}

lb_tensor *lb_swiglu(lb_ctx *ctx, lb_tensor *gate, lb_tensor *up)
{
    LB_CHECKF(gate != NULL, "lb_swiglu: gate is NULL");
    lb_op_check_on("lb_swiglu", "gate", gate, gate->device);
    lb_op_check_on("lb_swiglu", "up", up, gate->device);
    LB_CHECKF(lb_tensor_same_shape(gate, up), "lb_swiglu: gate %s and up %s differ",
              LB_SHAPE_STR(gate), LB_SHAPE_STR(up));
    LB_CHECKF(gate->dtype == up->dtype, "lb_swiglu: gate is %s but up is %s",
              lb_dtype_name(gate->dtype), lb_dtype_name(up->dtype));
    lb_tensor *out = new_like(ctx, gate);
    if (gate->device == LB_CUDA)
        lb_cuda_swiglu_fwd(ctx, gate->data, up->data, out->data, lb_tensor_numel(gate),
                           gate->dtype);
    else
        lb_cpu_swiglu_fwd(gate->data, up->data, out->data, lb_tensor_numel(gate));
    lb_tensor *ins[2] = {gate, up};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "swiglu", swiglu_backward, out, ins, 2);
    return out;
}

static void sum_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    const float *dout = node->out->grad->data;   /* one f32, on x's device */
    void *dx = lb_op_grad_data(ctx, x);
    if (x->device == LB_CUDA)
        lb_cuda_sum_bwd(ctx, dout, dx, lb_tensor_numel(x), x->dtype);
    else
        lb_cpu_sum_bwd(dout[0], dx, lb_tensor_numel(x));
}

lb_tensor *lb_sum(lb_ctx *ctx, lb_tensor *x)
{
    LB_CHECKF(x != NULL, "lb_sum: x is NULL");
    lb_op_check_on("lb_sum", "x", x, x->device);
    lb_tensor *out = lb_tensor_new_dev(ctx, x->device, LB_F32, 0, NULL);   // scalar
    if (x->device == LB_CUDA)
        lb_cuda_sum_fwd(ctx, x->data, out->data, lb_tensor_numel(x), x->dtype);
    else
        ((float *)out->data)[0] = lb_cpu_sum_fwd(x->data, lb_tensor_numel(x));
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "sum", sum_backward, out, &x, 1);
    return out;
}
