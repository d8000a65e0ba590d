/* ops_rope.c — lb_rope: checks, output, tape.
 *
 * The rotation is in kernels/cpu/rope.c. inv_freq is copied into the step
 * arena for the backward, so the caller's array need not outlive the call.
 * Not here: computing inv_freq and its scaling variants (layers/).
 */
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"

typedef struct rope_saved {
    float *inv_freq;   // (hd/2)
    int64_t pos0;
} rope_saved;

static void rope_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    const rope_saved *sv = node->saved;
    lb_cpu_rope_bwd(node->out->grad->data, lb_op_grad_data(ctx, x), sv->inv_freq,
                    x->shape[0], x->shape[1], x->shape[2], x->shape[3], sv->pos0);
}

lb_tensor *lb_rope(lb_ctx *ctx, lb_tensor *x, const float *inv_freq, int64_t pos0)
{
    lb_op_check_input("lb_rope", "x", x, LB_F32);
    LB_CHECKF(x->ndim == 4 && x->shape[3] % 2 == 0,
              "lb_rope: x %s must be (B, T, H, hd) with hd even", LB_SHAPE_STR(x));
    LB_CHECKF(inv_freq != NULL && pos0 >= 0, "lb_rope: needs inv_freq and pos0 >= 0 (got %lld)",
              (long long)pos0);
    int64_t B = x->shape[0], T = x->shape[1], H = x->shape[2], hd = x->shape[3];
    lb_tensor *out = lb_tensor_new(ctx, LB_F32, x->ndim, x->shape);   // (B, T, H, hd)
    lb_cpu_rope_fwd(x->data, out->data, inv_freq, B, T, H, hd, pos0);
    if (lb_needs_grad(ctx, &x, 1)) {
        lb_node *node = lb_tape_record(ctx, "rope", rope_backward, out, &x, 1);
        rope_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        sv->inv_freq = lb_arena_alloc(ctx, (size_t)(hd / 2) * sizeof(float));
        memcpy(sv->inv_freq, inv_freq, (size_t)(hd / 2) * sizeof(float));
        sv->pos0 = pos0;
        node->saved = sv;
    }
    return out;
}
