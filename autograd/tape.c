/* tape.c — recording nodes and running them backwards. */
#include "autograd/tape.h"

#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* prof_mark: closes the profiler's current segment, charged to
 * "<dir> <op> <first input's shape> -> <output's shape>". */
static void prof_mark(lb_ctx *ctx, const char *dir, const char *op, const lb_tensor *in,
                      const lb_tensor *out)
{
    char label[LB_PROF_LABEL], a[48] = "", b[48];
    if (in) lb_tensor_shape_str(in, a, sizeof a);   /* NULL: an op without inputs */
    lb_tensor_shape_str(out, b, sizeof b);
    if (snprintf(label, sizeof label, "%s %s %s -> %s", dir, op, a, b) >= (int)sizeof label)
        label[sizeof label - 1] = '\0';   /* a cut label still names the op */
    lb_cuda_prof_mark(ctx, label);
}

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
    if (ctx->profile && ctx->cuda) prof_mark(ctx, "fwd", op, n_in ? in[0] : NULL, out);
    return n;
}

lb_tensor *lb_grad_of(lb_ctx *ctx, lb_tensor *t)
{
    if (t->grad) {
        t->grad->flags &= ~LB_TENSOR_GRAD_ZEROS;   /* the caller adds to the zeros */
        return t->grad;
    }
    LB_CHECKF(lb_dtype_is_float(t->dtype), "the gradient of %s, a %s tensor",
              t->name ? t->name : "a tensor", lb_dtype_name(t->dtype));
    /* CPU grads are f32; CUDA grads have their tensor's dtype (tensor.h)
     * unless it stands for an f32 parameter (LB_TENSOR_GRAD_F32) */
    lb_dtype dt = t->device == LB_CUDA && !(t->flags & LB_TENSOR_GRAD_F32) ? t->dtype : LB_F32;
    if (t->flags & LB_TENSOR_PERSISTENT) {
        t->grad = lb_tensor_alloc_dev(t->device, dt, t->ndim, t->shape);
        LB_CHECKF(t->grad != NULL, "out of memory allocating the gradient of %s",
                  t->name ? t->name : "a parameter");
    } else {
        t->grad = lb_tensor_zeros_dev(ctx, t->device, dt, t->ndim, t->shape);
    }
    return t->grad;
}

/* is_step_cuda: a CUDA step tensor (or a view of one) with no other flag:
 * its grad is a step tensor of its own dtype (lb_grad_of) */
static bool is_step_cuda(const lb_tensor *t)
{
    return t->device == LB_CUDA && !(t->flags & ~(unsigned)LB_TENSOR_VIEW);
}

bool lb_grad_take(lb_ctx *ctx, lb_tensor *t, lb_tensor *from)
{
    lb_tensor *g = from->grad;
    if (!ctx->release_grads || !t->requires_grad || t->grad || !g || !is_step_cuda(t) ||
        !is_step_cuda(from) || t->dtype != from->dtype || g->dtype != t->dtype ||
        lb_tensor_numel(t) != lb_tensor_numel(from) || lb_tensor_numel(from) <= 1)
        return false;
    t->grad = lb_tensor_view_of(ctx, g, t->ndim, t->shape);
    from->grad = NULL;
    return true;
}

lb_tensor *lb_grad_fresh(lb_ctx *ctx, lb_tensor *t, bool *fresh)
{
    *fresh = false;
    if (!t || !t->requires_grad) return NULL;
    /* a step tensor that stands for an f32 parameter (a fake-quant w^) has
     * an f32 grad of its own: new on each step like any step grad */
    bool f32_grad = (t->flags & LB_TENSOR_GRAD_F32) != 0;
    bool step = t->device == LB_CUDA &&
                !(t->flags & ~(unsigned)(LB_TENSOR_VIEW | LB_TENSOR_GRAD_F32));
    if (t->grad || !step || !lb_dtype_is_float(t->dtype)) return lb_grad_of(ctx, t);
    t->grad = lb_tensor_new_dev(ctx, LB_CUDA, f32_grad ? LB_F32 : t->dtype, t->ndim, t->shape);
    *fresh = true;
    return t->grad;
}

void lb_grad_mark_zero(lb_tensor *t)
{
    if (t && t->grad) t->grad->flags |= LB_TENSOR_GRAD_ZEROS;
}

lb_tensor *lb_grad_dst(lb_ctx *ctx, lb_tensor *t, bool *overwrite)
{
    *overwrite = false;
    if (!t || !t->requires_grad) return NULL;
    if (t->grad && (t->grad->flags & LB_TENSOR_GRAD_ZEROS)) {
        t->grad->flags &= ~LB_TENSOR_GRAD_ZEROS;
        *overwrite = true;
        return t->grad;
    }
    return lb_grad_fresh(ctx, t, overwrite);
}

lb_tensor *lb_grad_dst_alias(lb_ctx *ctx, const lb_node *consumer, lb_tensor *t, bool *overwrite)
{
    lb_node *n = t ? t->node : NULL;
    lb_tensor *a = n ? n->grad_alias : NULL;
    lb_tensor *g = a ? a->grad : NULL;
    if (!g || consumer->prev != n || n->out != t || t->grad || !t->requires_grad ||
        !(g->flags & LB_TENSOR_GRAD_ZEROS) || g->dtype != LB_F32 || g->device != t->device ||
        lb_tensor_numel(g) != lb_tensor_numel(t) ||
        (t->device == LB_CUDA && !(t->flags & LB_TENSOR_GRAD_F32)))
        return lb_grad_dst(ctx, t, overwrite);
    g->flags &= ~LB_TENSOR_GRAD_ZEROS;
    t->grad = lb_tensor_view_of(ctx, g, t->ndim, t->shape);
    n->grad_aliased = true;
    *overwrite = true;
    return t->grad;
}

bool lb_step_release(lb_ctx *ctx, lb_tensor *t)
{
    if (!t || t->device != LB_CUDA || t->flags != 0 || !t->data) return false;
    lb_cuda_step_release(ctx, t->data);
    t->data = NULL;
    return true;
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
    lb_tape_backward(ctx, ctx->tape, loss);
}

void lb_tape_backward(lb_ctx *ctx, lb_node *head, const lb_tensor *keep)
{
    bool prof = ctx->profile && ctx->cuda;
    for (lb_node *n = head; n; n = n->prev) {
        lb_tensor *out = n->out;
        if (!out->grad && !n->multi_out) continue;
        if (prof) lb_cuda_prof_mark(ctx, NULL);
        n->backward(ctx, n);
        if (prof) prof_mark(ctx, "bwd", n->op, n->n_in ? n->in[0] : NULL, out);
        /* out's grad is complete and now consumed: no older node reads it
         * (NULL: the node handed the buffer on, lb_grad_take) */
        if (ctx->release_grads && out != keep && out->grad && out->device == LB_CUDA &&
            !(out->flags & LB_TENSOR_PERSISTENT) && !n->grad_aliased) {
            lb_cuda_step_release(ctx, out->grad->data);
            out->grad = NULL;
        }
    }
}
