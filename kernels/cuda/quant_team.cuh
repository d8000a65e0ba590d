/* quant_team.cuh — the clamp and warp "team" reductions shared by the fake-quant kernels
 * (quant.cu: weights; quant_act.cu: activations and the STE pass): xor
 * shuffles inside aligned groups of `team` lanes of one warp, combined in a
 * fixed order (deterministic; sums in double with __dadd_rn). */
#ifndef LB_CUDA_QUANT_TEAM_CUH
#define LB_CUDA_QUANT_TEAM_CUH

#define QTHREADS 256   /* threads per fake-quant block */

/* clampf: v clamped to [lo, hi] (the CPU's order of fmaxf then fminf). */
__device__ __forceinline__ float clampf(float v, float lo, float hi)
{
    return fminf(fmaxf(v, lo), hi);   /* NaN -> lo */
}



__device__ __forceinline__ float team_min(float v, int team)
{
    for (int o = team >> 1; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u < v ? u : v;
    }
    return v;
}

__device__ __forceinline__ float team_max(float v, int team)
{
    for (int o = team >> 1; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}

__device__ __forceinline__ double team_sum(double v, int team)
{
    for (int o = team >> 1; o > 0; o >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* arg reductions with the first index winning ties: `better` is strict
 * greater (SIGN = 1) or strict less (SIGN = -1) in value. */
template <int SIGN>
__device__ __forceinline__ void team_arg(float *v, int *idx, float *keep, int team)
{
    for (int o = team >> 1; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, *v, o);
        int j = __shfl_xor_sync(0xffffffffu, *idx, o);
        float uk = __shfl_xor_sync(0xffffffffu, *keep, o);
        bool take = (SIGN > 0 ? u > *v : u < *v) || (u == *v && j < *idx);
        if (take) *v = u, *idx = j, *keep = uk;
    }
}

#endif
