/* packed_gptq.cu — decoding GPTQ-packed weights on the GPU (see
 * packed_gptq_k.h; the specification is quant/packed_gptq.c).
 *
 * One thread per output element (r, k), consecutive threads along k: the
 * output writes coalesce, and the threads of a warp read the same few
 * qweight words (a row of the weight is a column of qweight). The value is
 * the f32 product scale * (q - z) with q - z an exact small integer, so it
 * equals the CPU's; bf16 output rounds that value once (__float2bfloat16_rn).
 * Not here: a fused low-bit GEMM (a later issue).
 */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/packed_gptq_k.h"
#include "quant/gptq_field.h"

template <typename T>
__global__ void gptq_decode_kernel(const int32_t *qweight, const int32_t *qzeros, const __half *scales,
                                   const int32_t *g_idx, int64_t N, int64_t K, int bits, int64_t gs,
                                   int zero_offset, int64_t r0, int64_t n, T *out)
{
    const int64_t total = n * K;
    const uint32_t mask = (1u << bits) - 1u;
    const int64_t zw = N * bits / 32;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = r0 + i / K, k = i % K;
        const int64_t g = g_idx ? g_idx[k] : k / gs;
        const int q = (int)lb_gptq_field(qweight + r, N, k, bits);
        const int z = (int)((lb_gptq_field(qzeros + g * zw, 1, r, bits) + (uint32_t)zero_offset) & mask);
        lb_st(out + i, __fmul_rn(__half2float(scales[g * N + r]), (float)(q - z)));
    }
}

void lb_cuda_packed_gptq_decode(lb_ctx *ctx, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                                const int32_t *g_idx, int64_t N, int64_t K, int bits, int group_size,
                                int zero_offset, int64_t r0, int64_t n, void *out, lb_dtype dt)
{
    if (n <= 0 || K <= 0) return;
    const int64_t gs = group_size > 0 ? group_size : K;
    unsigned grid = lb_cuda_grid(ctx, n * K, LB_CUDA_THREADS);
    cudaStream_t stream = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        gptq_decode_kernel<T><<<grid, LB_CUDA_THREADS, 0, stream>>>(qweight, qzeros, (const __half *)scales, g_idx,
                                                                    N, K, bits, gs, zero_offset, r0, n, (T *)out));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
