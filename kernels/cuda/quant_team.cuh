/* quant_team.cuh — the device helpers shared by the fake-quant kernels
 * (quant.cu: weight forward; quant_bwd.cu: weight backward; quant_stats.cu:
 * per-tensor statistics and the mse search; quant_act.cu: activations and
 * the STE pass; quant_mask.cu): the clamp, the scale rounding and the int
 * grid's scale/zero of kernels/cpu/quant.c, and xor shuffles inside
 * aligned groups of `team` lanes of one warp, combined in a fixed order
 * (deterministic; sums in double with __dadd_rn).
 *
 * Not here: kernels, host launch code, the value-grid tables (quant.cu). */
#ifndef LB_CUDA_QUANT_TEAM_CUH
#define LB_CUDA_QUANT_TEAM_CUH

#include <float.h>

#define QTHREADS 256   /* threads per fake-quant block */

/* clampf: v clamped to [lo, hi] (the CPU's order of fmaxf then fminf). */
__device__ __forceinline__ float clampf(float v, float lo, float hi)
{
    return fminf(fmaxf(v, lo), hi);   /* NaN -> lo */
}

#define F16_MIN_SUB 5.9604644775390625e-08f   /* 2^-24 */
#define F16_MAX 65504.0f

/* ---- scalar formulas (kernels/cpu/quant.c, line for line) ------------------- */

__device__ __forceinline__ float round_scale(float s, bool f16)
{
    if (f16) s = __half2float(__float2half_rn(s));
    float lo = f16 ? F16_MIN_SUB : __int_as_float(1), hi = f16 ? F16_MAX : FLT_MAX;
    if (!(s >= lo)) s = lo;
    return s > hi ? hi : s;
}

__device__ __forceinline__ void int_from_range(int bits, bool sym, bool f16, float lo, float hi,
                                               float *s, float *z)
{
    float maxq = (float)((1 << bits) - 1);
    if (sym) {
        float a = fmaxf(-lo, hi);
        *s = round_scale(__fdiv_rn(__fadd_rn(a, a), maxq), f16);
        *z = (float)(1 << (bits - 1));
    } else {
        *s = round_scale(__fdiv_rn(__fsub_rn(hi, lo), maxq), f16);
        *z = __fadd_rn(clampf(rintf(__fdiv_rn(-lo, *s)), 0.0f, maxq), 0.0f);   /* never -0 */
    }
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
