/* quant_mask.cu — the clip mask of a weight fake-quant (int grids): the
 * backward that only zeroes the clipped elements of a master grad into
 * which the linear's dW GEMM wrote dW^ directly (autograd/ops_quant.c,
 * lb_grad_dst_alias). The mask itself is written by the forward
 * (quant.cu: lb_cuda_fake_quant_weight_fwd_mask).
 *
 * Not here: the forward (quant.cu) and the full masked-STE backward (quant_bwd.cu).
 */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/quant_team.cuh"

/* mask_apply_kernel: one thread per mask word; a word with bits set
 * writes +0 into those elements, every other element is left alone. */
__global__ void mask_apply_kernel(const uint32_t *mask, float *dw, int64_t n, int64_t words)
{
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < words;
         k += (int64_t)gridDim.x * blockDim.x) {
        uint32_t m = mask[k];
        while (m) {
            int b = __ffs((int)m) - 1;
            int64_t i = k * 32 + b;
            if (i < n) dw[i] = 0.0f;
            m &= m - 1u;
        }
    }
}

void lb_cuda_fake_quant_mask_apply(lb_ctx *ctx, const uint32_t *mask, float *dw, int64_t n)
{
    if (n <= 0 || !dw || !mask) return;
    int64_t words = lb_clip_mask_words(n);
    unsigned grid = lb_cuda_grid(ctx, words, QTHREADS);
    mask_apply_kernel<<<grid, QTHREADS, 0, lb_cuda_stream(ctx)>>>(mask, dw, n, words);
    LB_CUDA_LAUNCH_CHECK(ctx);
}
