/* ops_rope.c — lb_rope: checks, output, tape, and the branch to the CPU or
 * CUDA kernel.
 *
 * The rotation is in kernels/cpu/rope.c and kernels/cuda/rope.cu. inv_freq
 * (host memory) is copied into step memory of x's device (the arena, or the
 * CUDA pool through one stream-ordered copy), so the caller's array need
 * not outlive the call and the backward finds it; on CUDA the forward turns
 * it into a cos/sin table of x's positions (the same fp32 angles), which
 * the backward reuses. Not here: computing inv_freq and its scaling
 * variants (layers/).
 */
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops_common.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/kernels.h"

typedef struct rope_saved {
    float *inv_freq;   // CPU: (hd/2); CUDA: the table cs (2, T, hd/2), on the device
    int64_t pos0;
} rope_saved;

static void rope_backward(lb_ctx *ctx, lb_node *node)
{
    lb_tensor *x = node->in[0];
    const rope_saved *sv = node->saved;
    void *dout = node->out->grad->data;
    if (x->device == LB_CUDA) {
        bool fresh = false;   /* a new dx is written, not zeroed and added to */
        lb_tensor *gx = lb_grad_fresh(ctx, x, &fresh);
        lb_cuda_rope_bwd(ctx, dout, gx ? gx->data : NULL, fresh, sv->inv_freq, x->shape[0],
                         x->shape[1], x->shape[2], x->shape[3], x->dtype);
        return;
    }
    lb_cpu_rope_bwd(dout, lb_op_grad_data(ctx, x), sv->inv_freq, x->shape[0], x->shape[1],
                    x->shape[2], x->shape[3], sv->pos0);
}

lb_tensor *lb_rope(lb_ctx *ctx, lb_tensor *x, const float *inv_freq, int64_t pos0)
{
    LB_CHECKF(x != NULL, "lb_rope: x is NULL");
    lb_op_check_on("lb_rope", "x", x, x->device);
    LB_CHECKF(x->ndim == 4 && x->shape[3] % 2 == 0,
              "lb_rope: x %s must be (B, T, H, hd) with hd even", LB_SHAPE_STR(x));
    LB_CHECKF(inv_freq != NULL && pos0 >= 0, "lb_rope: needs inv_freq and pos0 >= 0 (got %lld)",
              (long long)pos0);
    int64_t B = x->shape[0], T = x->shape[1], H = x->shape[2], hd = x->shape[3];
    size_t fbytes = (size_t)(hd / 2) * sizeof(float);
    lb_tensor *out = lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, x->shape);   // (B, T, H, hd)
    bool grad = lb_needs_grad(ctx, &x, 1);
    float *freq = NULL;   // CPU: (hd/2); CUDA: cs (2, T, hd/2); kept for the backward
    if (x->device == LB_CUDA) {
        float *dfreq = lb_cuda_step_alloc(ctx, fbytes);
        lb_cuda_memcpy_h2d(ctx, dfreq, inv_freq, fbytes);
        freq = lb_cuda_step_alloc(ctx, (size_t)(2 * T * (hd / 2)) * sizeof(float));
        lb_cuda_rope_table(ctx, dfreq, freq, T, hd, pos0);
        lb_cuda_step_release(ctx, dfreq);
        lb_cuda_rope_fwd(ctx, x->data, out->data, freq, B, T, H, hd, x->dtype);
    } else {
        lb_cpu_rope_fwd(x->data, out->data, inv_freq, B, T, H, hd, pos0);
        if (grad) {
            freq = lb_arena_alloc(ctx, fbytes);
            memcpy(freq, inv_freq, fbytes);
        }
    }
    if (grad) {
        lb_node *node = lb_tape_record(ctx, "rope", rope_backward, out, &x, 1);
        rope_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (rope_saved){.inv_freq = freq, .pos0 = pos0};
        node->saved = sv;
    }
    return out;
}
