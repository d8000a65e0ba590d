/* rowops.cuh — device helpers of the row-wise kernels of the norm, softmax
 * and loss families (kernels/cuda/{norm,softmax,loss}.cu), on top of
 * common.cuh: accumulate-store, block max, the launch shape of a
 * one-block-per-row kernel and the fixed-order column sum that finishes a
 * two-pass (deterministic) weight-grad reduction.
 *
 * Not here: the general loads, stores and block sum (common.cuh).
 */
#ifndef LB_KERNELS_CUDA_ROWOPS_CUH
#define LB_KERNELS_CUDA_ROWOPS_CUH

#include <math.h>

#include "kernels/cuda/common.cuh"

/* lb_acc: ACCUMULATES *p += v in fp32, then rounds to p's dtype. */
template <typename T>
__device__ __forceinline__ void lb_acc(T *p, float v)
{
    lb_st(p, lb_ld(p) + v);
}

__device__ __forceinline__ float lb_warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* lb_block_max: the max of v over the block (blockDim.x a multiple of 32,
 * at most 1024), returned to every thread; callable repeatedly. */
__device__ __forceinline__ float lb_block_max(float v)
{
    __shared__ float warp_max[33];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = lb_warp_max(v);
    __syncthreads();
    if (lane == 0) warp_max[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lb_warp_max(lane < nwarps ? warp_max[lane] : -INFINITY);
        if (lane == 0) warp_max[32] = w;
    }
    __syncthreads();
    return warp_max[32];
}

/* lb_row_threads: threads of a one-block-per-row kernel over rows of C
 * elements: about 4 elements per thread, whole warps, 64 to 512. */
static inline int lb_row_threads(int64_t C)
{
    int64_t t = ((C + 3) / 4 + 31) / 32 * 32;
    return (int)(t < 64 ? 64 : t > 512 ? 512 : t);
}

/* lb_colsum_acc_kernel: dst[c] += sum over k < nparts of part[k * C + c],
 * summed in k order: the second pass of a deterministic column reduction.
 * dst (f32) accumulates, or overwrites when the grad is marked zero
 * (overwrite: not read; the bits of adding to 0). One thread per column. */
static __global__ void lb_colsum_acc_kernel(const float *part, float *dst, int nparts, int64_t C,
                                            bool overwrite)
{
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < nparts; k++) s += part[(int64_t)k * C + c];
    dst[c] = (overwrite ? 0.0f : dst[c]) + s;
}

#endif
