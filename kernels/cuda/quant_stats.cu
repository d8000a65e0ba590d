/* quant_stats.cu — the per-tensor statistics and the mse clip search of the
 * weight fake-quant on the GPU: per-block range partials (lo, hi, absmax),
 * the per-tensor scale/zero from them, and the mse search over 81 clip
 * ratios (one warp per group, or one warp for the whole tensor). Launched
 * by lb_cuda_fake_quant_weight_fwd_mask (quant.cu) before the fused
 * forward, which then reads the scales in its GIVEN mode. Bit-exact with
 * kernels/cpu/quant.c (see quant.cu's header for the rules).
 *
 * Not here: the fused forward and its launch (quant.cu), the backward
 * (quant_bwd.cu), shape checks (autograd/ops_quant.c).
 */
#include <math.h>
#include <math_constants.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/quant_stats.cuh"
#include "kernels/cuda/quant_team.cuh"

#define MSE_STEPS 81

/* ---- per-tensor statistics and the mse search ----------------------------- */

/* range_partial_kernel: per block lo (<= 0), hi (>= 0) and absmax of x. */
__global__ void range_partial_kernel(const float *x, int64_t n, float *part)
{
    __shared__ float sh[3][32];
    float lo = 0.0f, hi = 0.0f, am = 0.0f;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        am = fmaxf(am, fabsf(v));
    }
    lo = team_min(lo, 32);
    hi = team_max(hi, 32);
    am = team_max(am, 32);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) sh[0][wid] = lo, sh[1][wid] = hi, sh[2][wid] = am;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) {
            lo = sh[0][k] < lo ? sh[0][k] : lo;
            hi = sh[1][k] > hi ? sh[1][k] : hi;
            am = fmaxf(am, sh[2][k]);
        }
        part[3 * blockIdx.x] = lo;
        part[3 * blockIdx.x + 1] = hi;
        part[3 * blockIdx.x + 2] = am;
    }
}

/* tensor_params_kernel: one thread: the per-tensor s, z from the partials
 * (int min-max, or absmax for the value grids; mse leaves the range in
 * s[0], z[0] as lo, hi for the search). */
__global__ void tensor_params_kernel(const float *part, int nblocks, int grid, int bits, bool sym,
                                     bool f16, bool range_only, float *s, float *z)
{
    float lo = 0.0f, hi = 0.0f, am = 0.0f;
    for (int k = 0; k < nblocks; k++) {
        lo = part[3 * k] < lo ? part[3 * k] : lo;
        hi = part[3 * k + 1] > hi ? part[3 * k + 1] : hi;
        am = fmaxf(am, part[3 * k + 2]);
    }
    if (grid == LB_CUDA_QGRID_INT) {
        if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
        if (range_only) {
            s[0] = lo;
            z[0] = hi;
        } else {
            int_from_range(bits, sym, f16, lo, hi, s, z);
        }
    } else {
        float vmax = grid == LB_CUDA_QGRID_NF4 ? 1.0f : grid == LB_CUDA_QGRID_FP4 ? 6.0f : 448.0f;
        s[0] = am == 0.0f ? 1.0f : round_scale(__fdiv_rn(am, vmax), f16);
        z[0] = 0.0f;
    }
}

/* mse_kernel: one warp per group of `len` elements (stride `len`; one
 * group of n for per-tensor, whose range comes in s[0], z[0]); lane l
 * tries candidates l, l+32, l+64 and sums each error serially in element
 * order in double (the CPU's order); the first smallest error wins. */
__global__ void mse_kernel(const float *w, int64_t ngroups, int64_t len, int bits, bool sym,
                           bool f16, bool tensor, float *s, float *z)
{
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const float maxq = (float)((1 << bits) - 1);
    for (int64_t gi = warp; gi < ngroups; gi += nwarps) {
        const float *x = w + gi * len;
        float lo = 0.0f, hi = 0.0f;
        if (tensor) {
            lo = s[0], hi = z[0];
        } else {
            for (int64_t j = lane; j < len; j += 32) {
                lo = x[j] < lo ? x[j] : lo;
                hi = x[j] > hi ? x[j] : hi;
            }
            lo = team_min(lo, 32);
            hi = team_max(hi, 32);
            if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
        }
        double best = CUDART_INF;
        int bi = 1 << 30;
        float bs = 0.0f, bz = 0.0f;
        for (int i = lane; i < MSE_STEPS; i += 32) {
            float p = (float)(1.0 - i / 100.0), cs, cz;
            int_from_range(bits, sym, f16, __fmul_rn(p, lo), __fmul_rn(p, hi), &cs, &cz);
            double err = 0.0;
            for (int64_t j = 0; j < len; j++) {
                float q = clampf(__fadd_rn(rintf(__fdiv_rn(x[j], cs)), cz), 0.0f, maxq);
                float dd = __fsub_rn(__fmul_rn(cs, __fsub_rn(q, cz)), x[j]);
                err = __dadd_rn(err, __dmul_rn((double)dd, (double)dd));
            }
            if (err < best) best = err, bi = i, bs = cs, bz = cz;
        }
        for (int o = 16; o > 0; o >>= 1) {
            double ub = __shfl_xor_sync(0xffffffffu, best, o);
            int ui = __shfl_xor_sync(0xffffffffu, bi, o);
            float us = __shfl_xor_sync(0xffffffffu, bs, o), uz = __shfl_xor_sync(0xffffffffu, bz, o);
            if (ub < best || (ub == best && ui < bi)) best = ub, bi = ui, bs = us, bz = uz;
        }
        if (lane == 0) {
            s[tensor ? 0 : gi] = bs;
            z[tensor ? 0 : gi] = bz;
        }
    }
}
