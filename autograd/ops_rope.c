/* ops_rope.c — lb_rope: checks, output, tape, and the branch to the CPU or
 * CUDA kernel.
 *
 * The rotation is in kernels/cpu/rope.c and kernels/cuda/rope.cu. The
 * angles come from an lb_rope_table: inv_freq (host memory) copied into
 * step memory (so the caller's array need not outlive the call and the
 * backward finds it) and, on CUDA, turned once into a cos/sin table of the
 * positions (the same fp32 angles) through one stream-ordered copy. A model
 * makes one table per forward and shares it between q and k of every layer
 * (and their backward); lb_rope makes its own. Not here: computing inv_freq
 * and its scaling variants (layers/).
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

lb_rope_table *lb_rope_table_make(lb_ctx *ctx, const float *inv_freq, int64_t T, int64_t hd, int64_t pos0,
                                  lb_device dev)
{
    LB_CHECKF(inv_freq != NULL && pos0 >= 0 && T >= 0 && hd > 0 && hd % 2 == 0,
              "lb_rope_table_make: needs inv_freq, pos0 >= 0 (got %lld) and an even hd (got %lld)",
              (long long)pos0, (long long)hd);
    size_t fbytes = (size_t)(hd / 2) * sizeof(float);
    lb_rope_table *tab = lb_arena_alloc(ctx, sizeof *tab);
    *tab = (lb_rope_table){.device = dev, .T = T, .hd = hd, .pos0 = pos0};
    if (dev == LB_CUDA) {
        float *dfreq = lb_cuda_step_alloc(ctx, fbytes);
        lb_cuda_memcpy_h2d(ctx, dfreq, inv_freq, fbytes);
        tab->cs = lb_cuda_step_alloc(ctx, (size_t)(2 * T * (hd / 2)) * sizeof(float));
        lb_cuda_rope_table(ctx, dfreq, tab->cs, T, hd, pos0);
        lb_cuda_step_release(ctx, dfreq);
    } else {
        tab->inv_freq = lb_arena_alloc(ctx, fbytes);
        memcpy(tab->inv_freq, inv_freq, fbytes);
    }
    return tab;
}

lb_tensor *lb_rope_with(lb_ctx *ctx, lb_tensor *x, const lb_rope_table *tab)
{
    LB_CHECKF(x != NULL && tab != NULL, "lb_rope_with: x or the table is NULL");
    lb_op_check_on("lb_rope", "x", x, x->device);
    LB_CHECKF(x->ndim == 4 && x->shape[3] % 2 == 0,
              "lb_rope: x %s must be (B, T, H, hd) with hd even", LB_SHAPE_STR(x));
    int64_t B = x->shape[0], T = x->shape[1], H = x->shape[2], hd = x->shape[3];
    LB_CHECKF(tab->device == x->device && tab->T == T && tab->hd == hd,
              "lb_rope_with: x %s does not fit the table (T %lld, hd %lld, on the %s)", LB_SHAPE_STR(x),
              (long long)tab->T, (long long)tab->hd, tab->device == LB_CUDA ? "GPU" : "CPU");
    lb_tensor *out = lb_tensor_new_dev(ctx, x->device, x->dtype, x->ndim, x->shape);   // (B, T, H, hd)
    if (x->device == LB_CUDA) lb_cuda_rope_fwd(ctx, x->data, out->data, tab->cs, B, T, H, hd, x->dtype);
    else lb_cpu_rope_fwd(x->data, out->data, tab->inv_freq, B, T, H, hd, tab->pos0);
    if (lb_needs_grad(ctx, &x, 1)) {
        lb_node *node = lb_tape_record(ctx, "rope", rope_backward, out, &x, 1);
        rope_saved *sv = lb_arena_alloc(ctx, sizeof *sv);
        *sv = (rope_saved){.inv_freq = x->device == LB_CUDA ? tab->cs : tab->inv_freq, .pos0 = tab->pos0};
        node->saved = sv;
    }
    return out;
}

lb_tensor *lb_rope(lb_ctx *ctx, lb_tensor *x, const float *inv_freq, int64_t pos0)
{
    LB_CHECKF(x != NULL, "lb_rope: x is NULL");
    lb_op_check_on("lb_rope", "x", x, x->device);
    LB_CHECKF(x->ndim == 4 && x->shape[3] % 2 == 0,
              "lb_rope: x %s must be (B, T, H, hd) with hd even", LB_SHAPE_STR(x));
    LB_CHECKF(inv_freq != NULL && pos0 >= 0, "lb_rope: needs inv_freq and pos0 >= 0 (got %lld)",
              (long long)pos0);
    return lb_rope_with(ctx, x, lb_rope_table_make(ctx, inv_freq, x->shape[1], x->shape[3], pos0, x->device));
}
