/* ops_softmax.c — lb_softmax over the last dim: checks, output, tape, and
 * the branch to the CPU or CUDA kernel.
 *
 * The arithmetic is in kernels/cpu/softmax.c and kernels/cuda/softmax.cu;
 * the backward reads the forward's output, so nothing else is saved. Not
 * here: attention's softmax (ops_attention.c) and the loss's log-softmax
 * (ops_loss.c).
 */
#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

static void softmax_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0], *y = node->out;
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1;
    void *dx = lb_op_grad_data(ctx, x);
    if (x->device == LB_CUDA)
        lb_cuda_softmax_bwd(ctx, y->data, y->grad->data, dx, lb_op_rows(x), C, x->dtype);
    else
        lb_cpu_softmax_bwd(y->data, y->grad->data, dx, lb_op_rows(x), C);
}

lb_tensor *lb_softmax(lb_ctx *ctx, lb_tensor *x)
{
    LB_CHECKF(x != NULL, "lb_softmax: x is NULL");
    lb_op_check_on("lb_softmax", "x", x, x->device);
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1;
    lb_tensor *out = lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, x->shape);
    if (x->device == LB_CUDA)
        lb_cuda_softmax_fwd(ctx, x->data, out->data, lb_op_rows(x), C, x->dtype);
    else
        lb_cpu_softmax_fwd(x->data, out->data, lb_op_rows(x), C);
    if (lb_needs_grad(ctx, &x, 1)) lb_tape_record(ctx, "softmax", softmax_backward, out, &x, 1);
    return out;
}
