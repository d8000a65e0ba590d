/* common.cuh — device-side helpers shared by the kernel files (.cu only).
 *
 * Loads and stores that widen to / round from fp32 (every kernel computes in
 * fp32 registers), 8-element packs moved with 16-byte accesses, the
 * alignment test that decides whether a kernel may use them, a block-wide
 * sum, and the dtype switch that instantiates a kernel template for the
 * dtypes a CUDA op accepts (f32 and bf16).
 *
 * Not here: anything host-only (cuda_state.h), anything op-specific.
 */
#ifndef LB_KERNELS_CUDA_COMMON_CUH
#define LB_KERNELS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "kernels/cuda/cuda_state.h"

typedef __nv_bfloat16 bf16;

/* Threads per block of the pointwise kernels: 256 is a good default on
 * Hopper for memory-bound grid-stride loops (8 warps, full occupancy with
 * few registers). */
#define LB_CUDA_THREADS 256

/* Elements per 16-byte pack of bf16 (and per two 16-byte loads of f32). */
#define LB_PACK 8

__device__ __forceinline__ float lb_ld(const float *p) { return *p; }
__device__ __forceinline__ float lb_ld(const bf16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float lb_ld(const __half *p) { return __half2float(*p); }

/* Stores round to nearest even. */
__device__ __forceinline__ void lb_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void lb_st(bf16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void lb_st(__half *p, float v) { *p = __float2half_rn(v); }

/* lb_ld8 / lb_st8: 8 consecutive elements starting at a 16-byte-aligned
 * address (one 16-byte access for 2-byte types, two for f32). */
__device__ __forceinline__ void lb_ld8(const float *p, float v[LB_PACK])
{
    float4 a = reinterpret_cast<const float4 *>(p)[0];
    float4 b = reinterpret_cast<const float4 *>(p)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

template <typename T>
__device__ __forceinline__ void lb_ld8(const T *p, float v[LB_PACK])
{
    uint4 u = *reinterpret_cast<const uint4 *>(p);
    const T *h = reinterpret_cast<const T *>(&u);
#pragma unroll
    for (int k = 0; k < LB_PACK; k++) v[k] = lb_ld(h + k);
}

__device__ __forceinline__ void lb_st8(float *p, const float v[LB_PACK])
{
    reinterpret_cast<float4 *>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4 *>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

template <typename T>
__device__ __forceinline__ void lb_st8(T *p, const float v[LB_PACK])
{
    uint4 u;
    T *h = reinterpret_cast<T *>(&u);
#pragma unroll
    for (int k = 0; k < LB_PACK; k++) lb_st(h + k, v[k]);
    *reinterpret_cast<uint4 *>(p) = u;
}

/* lb_aligned16: p is NULL or 16-byte aligned (NULL: an absent operand). */
static inline bool lb_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* lb_warp_sum: the sum of v over the warp (all 32 lanes active), returned
 * to every lane; butterfly order 16, 8, 4, 2, 1: deterministic. */
__device__ __forceinline__ float lb_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* lb_block_sum: the sum of v over the block (blockDim.x a multiple of 32,
 * at most 1024), returned to every thread. Fixed order: deterministic.
 * Uses 33 floats of shared memory; callable repeatedly. */
__device__ __forceinline__ float lb_block_sum(float v)
{
    __shared__ float warp_sums[33];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = lb_warp_sum(v);
    __syncthreads();   /* a previous call may still be reading warp_sums */
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lb_warp_sum(lane < nwarps ? warp_sums[lane] : 0.0f);
        if (lane == 0) warp_sums[32] = w;
    }
    __syncthreads();
    return warp_sums[32];
}

/* LB_DISPATCH_FLOAT(dt, T, ...): runs the statement list with T = float or
 * bf16 according to lb_dtype dt; any other dtype aborts with the caller's
 * location. Nest it for two dtypes. */
#define LB_DISPATCH_FLOAT(dt, T, ...)                                                        \
    do {                                                                                     \
        switch (dt) {                                                                        \
        case LB_F32: { typedef float T; __VA_ARGS__; } break;                                \
        case LB_BF16: { typedef bf16 T; __VA_ARGS__; } break;                                \
        default:                                                                             \
            lb_fatal(__FILE__, __LINE__, "CUDA kernel: dtype %s not supported (f32, bf16)",  \
                     lb_dtype_name(dt));                                                     \
        }                                                                                    \
    } while (0)

/* LB_DISPATCH_FLOAT3: as LB_DISPATCH_FLOAT with f16 too (casts). */
#define LB_DISPATCH_FLOAT3(dt, T, ...)                                                       \
    do {                                                                                     \
        switch (dt) {                                                                        \
        case LB_F32: { typedef float T; __VA_ARGS__; } break;                                \
        case LB_BF16: { typedef bf16 T; __VA_ARGS__; } break;                                \
        case LB_F16: { typedef __half T; __VA_ARGS__; } break;                               \
        default:                                                                             \
            lb_fatal(__FILE__, __LINE__, "CUDA kernel: dtype %s not supported (f32, bf16, f16)", \
                     lb_dtype_name(dt));                                                     \
        }                                                                                    \
    } while (0)

#endif
