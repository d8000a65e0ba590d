/* softmax.cu — softmax over the last dim on CUDA, forward and backward.
 *
 * x, y, dy, dx have the activation dtype dt (rows, C); one block per row,
 * fp32 arithmetic, fixed-order block reductions (deterministic). The
 * forward reads the row three times (max, sum of exponentials, output; the
 * re-reads hit L1/L2). Not here: attention's softmax (attention.cu), the
 * loss's log-softmax (loss.cu), the CPU specification
 * (kernels/cpu/softmax.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

template <typename T>
__global__ void softmax_fwd_kernel(const T *x, T *y, int64_t C)
{
    const T *xr = x + (int64_t)blockIdx.x * C;
    T *yr = y + (int64_t)blockIdx.x * C;
    float mx = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) mx = fmaxf(mx, lb_ld(xr + c));
    mx = lb_block_max(mx);
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += expf(lb_ld(xr + c) - mx);
    float inv = 1.0f / lb_block_sum(s);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) lb_st(yr + c, expf(lb_ld(xr + c) - mx) * inv);
}

/* dx += y * (dy - sum(dy * y)) per row. */
template <typename T>
__global__ void softmax_bwd_kernel(const T *y, const T *dy, T *dx, int64_t C)
{
    int64_t off = (int64_t)blockIdx.x * C;
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += lb_ld(y + off + c) * lb_ld(dy + off + c);
    dot = lb_block_sum(dot);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        lb_acc(dx + off + c, lb_ld(y + off + c) * (lb_ld(dy + off + c) - dot));
}

void lb_cuda_softmax_fwd(lb_ctx *ctx, const void *x, void *y, int64_t rows, int64_t C, lb_dtype dt)
{
    if (rows == 0 || C == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        softmax_fwd_kernel<T><<<(unsigned)rows, lb_row_threads(C), 0, s>>>((const T *)x, (T *)y, C));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_softmax_bwd(lb_ctx *ctx, const void *y, const void *dy, void *dx, int64_t rows,
                         int64_t C, lb_dtype dt)
{
    if (rows == 0 || C == 0 || !dx) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        softmax_bwd_kernel<T><<<(unsigned)rows, lb_row_threads(C), 0, s>>>(
            (const T *)y, (const T *)dy, (T *)dx, C));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
