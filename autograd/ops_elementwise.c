/* ops_elementwise.c — add, mul, scale, silu, gelu, swiglu and sum: shape
 * checks, outputs, tape.
 *
 * The arithmetic is in kernels/cpu/elementwise.c. Broadcasting is over
 * leading dims only (b has a's trailing shape or a's full shape). Not here:
 * general broadcasting, in-place ops.
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

/* check_broadcast: b's shape must be a trailing part of a's (possibly all). */
static void check_broadcast(const char *op, const lb_tensor *a, const lb_tensor *b)
{
    bool ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++) ok = b->shape[i] == a->shape[a->ndim - b->ndim + i];
    LB_CHECKF(ok, "%s: b %s is not a trailing shape of a %s", op, LB_SHAPE_STR(b), LB_SHAPE_STR(a));
}

static void add_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    if (lb_tensor_numel(b) == 0) return;
    lb_cpu_add_bwd(node->out->grad->data, lb_op_grad_data(ctx, a), lb_op_grad_data(ctx, b),
                   lb_tensor_numel(a), lb_tensor_numel(b));
}

lb_tensor *lb_add(lb_ctx *ctx, lb_tensor *a, lb_tensor *b)
{
    lb_op_check_input("lb_add", "a", a, LB_F32);
    lb_op_check_input("lb_add", "b", b, LB_F32);
    check_broadcast("lb_add", a, b);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, a->ndim, a->shape);
    if (lb_tensor_numel(b) > 0)
        lb_cpu_add_fwd(a->data, b->data, out->data, lb_tensor_numel(a), lb_tensor_numel(b));
    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "add", add_backward, out, ins, 2);
    return out;
}

static void mul_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0], *b = node->in[1];
    if (lb_tensor_numel(b) == 0) return;
    lb_cpu_mul_bwd(a->data, b->data, node->out->grad->data, lb_op_grad_data(ctx, a),
                   lb_op_grad_data(ctx, b), lb_tensor_numel(a), lb_tensor_numel(b));
}

lb_tensor *lb_mul(lb_ctx *ctx, lb_tensor *a, lb_tensor *b)
{
    lb_op_check_input("lb_mul", "a", a, LB_F32);
    lb_op_check_input("lb_mul", "b", b, LB_F32);
    check_broadcast("lb_mul", a, b);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, a->ndim, a->shape);
    if (lb_tensor_numel(b) > 0)
        lb_cpu_mul_fwd(a->data, b->data, out->data, lb_tensor_numel(a), lb_tensor_numel(b));
    lb_tensor *ins[2] = {a, b};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "mul", mul_backward, out, ins, 2);
    return out;
}

static void scale_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *a = node->in[0];
    lb_cpu_scale_bwd(node->out->grad->data, *(const float *)node->saved,
                     lb_op_grad_data(ctx, a), lb_tensor_numel(a));
}

lb_tensor *lb_scale(lb_ctx *ctx, lb_tensor *a, float s)
{
    lb_op_check_input("lb_scale", "a", a, LB_F32);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, a->ndim, a->shape);
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
    lb_cpu_silu_bwd(x->data, node->out->grad->data, lb_op_grad_data(ctx, x), lb_tensor_numel(x));
}

lb_tensor *lb_silu(lb_ctx *ctx, lb_tensor *x)
{
    lb_op_check_input("lb_silu", "x", x, LB_F32);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);
    lb_cpu_silu_fwd(x->data, out->data, lb_tensor_numel(x));
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "silu", silu_backward, out, &x, 1);
    return out;
}

static void gelu_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    bool tanh_form = *(const lb_gelu_kind *)node->saved == LB_GELU_TANH;
    lb_cpu_gelu_bwd(x->data, node->out->grad->data, lb_op_grad_data(ctx, x),
                    lb_tensor_numel(x), tanh_form);
}

lb_tensor *lb_gelu(lb_ctx *ctx, lb_tensor *x, lb_gelu_kind kind)
{
    lb_op_check_input("lb_gelu", "x", x, LB_F32);
    LB_CHECKF(kind == LB_GELU_EXACT || kind == LB_GELU_TANH, "lb_gelu: unknown kind %d", (int)kind);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);
    lb_cpu_gelu_fwd(x->data, out->data, lb_tensor_numel(x), kind == LB_GELU_TANH);
    if (lb_needs_grad(ctx, &x, 1)) {
        lb_node *node = lb_tape_record(ctx, "gelu", gelu_backward, out, &x, 1);
        lb_gelu_kind *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = kind;
        node->saved = sv;
    }
    return out;
}

static void swiglu_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *gate = node->in[0], *up = node->in[1];
    lb_cpu_swiglu_bwd(gate->data, up->data, node->out->grad->data, lb_op_grad_data(ctx, gate),
                      lb_op_grad_data(ctx, up), lb_tensor_numel(gate));
}

lb_tensor *lb_swiglu(lb_ctx *ctx, lb_tensor *gate, lb_tensor *up)
{
    lb_op_check_input("lb_swiglu", "gate", gate, LB_F32);
    lb_op_check_input("lb_swiglu", "up", up, LB_F32);
    LB_CHECKF(lb_tensor_same_shape(gate, up), "lb_swiglu: gate %s and up %s differ",
              LB_SHAPE_STR(gate), LB_SHAPE_STR(up));
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, gate->ndim, gate->shape);
    lb_cpu_swiglu_fwd(gate->data, up->data, out->data, lb_tensor_numel(gate));
    lb_tensor *ins[2] = {gate, up};
    if (lb_needs_grad(ctx, ins, 2)) lb_tape_record(ctx, "swiglu", swiglu_backward, out, ins, 2);
    return out;
}

static void sum_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    lb_cpu_sum_bwd(((const float *)node->out->grad->data)[0], lb_op_grad_data(ctx, x),
                   lb_tensor_numel(x));
}

lb_tensor *lb_sum(lb_ctx *ctx, lb_tensor *x)
{
    lb_op_check_input("lb_sum", "x", x, LB_F32);
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, 0, NULL);   // scalar
    ((float *)out->data)[0] = lb_cpu_sum_fwd(x->data, lb_tensor_numel(x));
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "sum", sum_backward, out, &x, 1);
    return out;
}
