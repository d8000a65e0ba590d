/* tape.c — recording nodes and running them backwards. */
#include "autograd/tape.h"

#include <string.h>

#include "kernels/cuda/kernels.h"

bool lb_needs_grad(const lb_ctx *ctx, lb_tensor *const *ts, int n)
{
    if (!ctx->grad_enabled) return false;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->requires_grad) return true;
    return false;
}

lb_node *lb_tape_record(lb_ctx *ctx, const char *op, lb_backward_fn bw,
                        lb_tensor *out, lb_tensor *const *in, int n_in)
{
    LB_CHECK(n_in >= 0 && n_in <= LB_NODE_MAX_IN);
    lb_node *n = lb_arena_alloc(ctx, sizeof *n);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = bw;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    n->prev = ctx->tape;
    ctx->tape = n;
    ctx->tape_len++;
    out->node = n;
    out->requires_grad = true;
    return n;
}

lb_tensor *lb_grad_of(lb_ctx *ctx, lb_tensor *t)
{
    if (t->grad) return t->grad;
    LB_CHECKF(lb_dtype_is_float(t->dtype), "the gradient of %s, a %s tensor",
              t->name ? t->name : "a tensor", lb_dtype_name(t->dtype));
    /* CPU grads are f32; CUDA grads have their tensor's dtype (tensor.h) */
    lb_dtype dt = t->device == LB_CUDA ? t->dtype : LB_F32;
    if (t->flags & LB_TENSOR_PERSISTENT) {
        t->grad = lb_tensor_alloc_dev(t->device, dt, t->ndim, t->shape);
        LB_CHECKF(t->grad != NULL, "out of memory allocating the gradient of %s",
                  t->name ? t->name : "a parameter");
    } else {
        t->grad = lb_tensor_zeros_dev(ctx, t->device, dt, t->ndim, t->shape);
    }
    return t->grad;
}

void lb_backward(lb_ctx *ctx, lb_tensor *loss)
{
    LB_CHECKF(lb_tensor_numel(loss) == 1, "backward needs a scalar loss");
    LB_CHECKF(loss->requires_grad, "backward on a tensor that does not require grad");
    lb_tensor *g = lb_grad_of(ctx, loss);
    if (g->device == LB_CUDA)
        lb_cuda_add_scalar(ctx, g->data, 1.0f, 1, g->dtype);
    else
        ((float *)g->data)[0] += 1.0f;
    for (lb_node *n = ctx->tape; n; n = n->prev) {
        lb_tensor *out = n->out;
        if (!out->grad) continue;
        n->backward(ctx, n);
        /* out's grad is complete and now consumed: no older node reads it */
        if (ctx->release_grads && out != loss && out->device == LB_CUDA &&
            !(out->flags & LB_TENSOR_PERSISTENT)) {
            lb_cuda_step_release(ctx, out->grad->data);
            out->grad = NULL;
        }
    }
}
