/* cast.cu — dtype conversion between f32, bf16 and f16 on the GPU.
 *
 * Round to nearest even (the CPU's lb_f32_to_bf16 / lb_f32_to_f16 give the
 * same bits, NaN payloads aside). 8 elements per thread with 16-byte
 * accesses when both pointers are 16-byte aligned, a scalar tail otherwise.
 * Not here: fake quantization (quant/), transposes.
 */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

template <typename TS, typename TD>
__global__ void cast_kernel(const TS *src, TD *dst, int64_t n, bool vec)
{
    int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t npack = vec ? n / LB_PACK : 0;
    for (int64_t p = tid; p < npack; p += stride) {
        float v[LB_PACK];
        lb_ld8(src + p * LB_PACK, v);
        lb_st8(dst + p * LB_PACK, v);
    }
    for (int64_t i = npack * LB_PACK + tid; i < n; i += stride) lb_st(dst + i, lb_ld(src + i));
}

void lb_cuda_cast(lb_ctx *ctx, const void *src, void *dst, int64_t n, lb_dtype st, lb_dtype dt)
{
    if (n <= 0) return;
    if (st == dt) {
        lb_cuda_memcpy_d2d(ctx, dst, src, (size_t)n * lb_dtype_size(st));
        return;
    }
    bool vec = lb_aligned16(src) && lb_aligned16(dst);
    unsigned grid = lb_cuda_grid(ctx, vec ? (n + LB_PACK - 1) / LB_PACK : n, LB_CUDA_THREADS);
    cudaStream_t stream = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT3(st, TS, LB_DISPATCH_FLOAT3(dt, TD,
        cast_kernel<TS, TD><<<grid, LB_CUDA_THREADS, 0, stream>>>((const TS *)src, (TD *)dst, n,
                                                                   vec)));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
