/* ops_softmax.c — lb_softmax over the last dim: checks, output, tape.
 *
 * The arithmetic is in kernels/cpu/softmax.c; the backward reads the
 * forward's output, so nothing else is saved. Not here: attention's softmax
 * (ops_attention.c) and the loss's log-softmax (ops_loss.c).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

static void softmax_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *y = node->out;
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1;
    lb_cpu_softmax_bwd(y->data, y->grad->data, lb_op_grad_data(ctx, x), lb_op_rows(x), C);
}

lb_tensor *lb_softmax(lb_ctx *ctx, lb_tensor *x)
{
    lb_op_check_input("lb_softmax", "x", x, LB_F32);
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1;
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);
    lb_cpu_softmax_fwd(x->data, out->data, lb_op_rows(x), C);
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "softmax", softmax_backward, out, &x, 1);
    return out;
}
