/* quant_k.cu — fake quantization of the K-quants q4_k and q6_k on the GPU:
 * the encoder of quant/grid_k.h (sub-block searches, super-block header,
 * codes) and w^ in one pass over the f32 master weight.
 *
 * Bit-exact with the CPU specification (quant/grid_k.c, kernels/cpu/quant_k.c)
 * by doing the same fp32 operations in the same order: every product and
 * sum is __fmul_rn / __fadd_rn / __fsub_rn (no FMA contraction), divisions
 * __fdiv_rn, the square root __fsqrt_rn, round() rintf with the CPU's
 * clamps (NaN -> low end, -0 -> +0), fp16 through __float2half_rn clamped
 * to +-65504. Each sum of the searches is serial in element order inside
 * one lane, as on the CPU.
 * Layout: one warp per group of super-blocks (grid-stride): 4 of q4_k (32
 * sub-blocks of 32) or 2 of q6_k (32 sub-blocks of 16), so that each lane
 * searches one sub-block, serially as the CPU does. The warp stages the
 * group in shared memory; after the searches every lane derives each
 * super-block's header from the shared sub-block results (the CPU's serial
 * order) and quantizes 8 of its elements.
 * The backward is the straight-through pass of quant_act.cu (the op calls
 * lb_cuda_fake_quant_weight_bwd, which passes non-int grids through).
 *
 * Not here: shape checks and the tape (autograd/ops_quant.c).
 */
#include <float.h>
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

#define KQ_WARPS 4                 /* warps per thread block */
#define KQ_F16_MAX 65504.0f
#define KQ_EPS 1e-15f

__device__ __forceinline__ float kq_code(float v, float lo, float hi)
{
    return __fadd_rn(fminf(fmaxf(rintf(v), lo), hi), 0.0f);   /* NaN -> lo, -0 -> +0 */
}

__device__ __forceinline__ float kq_f16(float v)
{
    return fminf(fmaxf(__half2float(__float2half_rn(v)), -KQ_F16_MAX), KQ_F16_MAX);
}

__device__ __forceinline__ float kq_pos(float v) { return v > 0.0f && v <= FLT_MAX ? v : 0.0f; }

/* ---- q4_k ------------------------------------------------------------------ */

/* q4k_err: sum w_i * ((sc*l_i + mn) - x_i)^2 for the codes l of a candidate. */
__device__ float q4k_err(const float *x, const float *w, const float *l, float sc, float mn)
{
    float e = 0.0f;
    for (int i = 0; i < 32; i++) {
        float d = __fsub_rn(__fadd_rn(__fmul_rn(sc, l[i]), mn), x[i]);
        e = __fadd_rn(e, __fmul_rn(w[i], __fmul_rn(d, d)));
    }
    return e;
}

__device__ void q4k_sub(const float *x, float *scale_out, float *min_out)
{
    float ss = 0.0f, w[32];
    for (int i = 0; i < 32; i++) ss = __fadd_rn(ss, __fmul_rn(x[i], x[i]));
    float av = __fsqrt_rn(__fdiv_rn(ss, 32.0f));
    for (int i = 0; i < 32; i++) w[i] = __fadd_rn(av, fabsf(x[i]));
    float lo = x[0], hi = x[0], sw = w[0], sx = __fmul_rn(w[0], x[0]);
    for (int i = 1; i < 32; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        sw = __fadd_rn(sw, w[i]);
        sx = __fadd_rn(sx, __fmul_rn(w[i], x[i]));
    }
    lo = lo > 0.0f ? 0.0f : lo;
    if (hi == lo) {
        *scale_out = 0.0f;
        *min_out = kq_pos(-lo);
        return;
    }
    float range = __fsub_rn(hi, lo), is0 = __fdiv_rn(15.0f, range), scale = __fdiv_rn(1.0f, is0);
    float mn = lo, l[32];
    for (int i = 0; i < 32; i++) l[i] = kq_code(__fmul_rn(is0, __fsub_rn(x[i], lo)), 0.0f, 15.0f);
    float best = q4k_err(x, w, l, scale, mn);
    for (int k = 0; k <= 20; k++) {
        float is = __fdiv_rn(__fadd_rn(__fadd_rn(-1.0f, __fmul_rn(0.1f, (float)k)), 15.0f), range);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < 32; i++) {
            l[i] = kq_code(__fmul_rn(is, __fsub_rn(x[i], lo)), 0.0f, 15.0f);
            float wl = __fmul_rn(w[i], l[i]);
            sl = __fadd_rn(sl, wl);
            sl2 = __fadd_rn(sl2, __fmul_rn(wl, l[i]));
            sxl = __fadd_rn(sxl, __fmul_rn(wl, x[i]));
        }
        float D = __fsub_rn(__fmul_rn(sw, sl2), __fmul_rn(sl, sl));
        if (D > 0.0f) {
            float s1 = __fdiv_rn(__fsub_rn(__fmul_rn(sw, sxl), __fmul_rn(sx, sl)), D);
            float m1 = __fdiv_rn(__fsub_rn(__fmul_rn(sl2, sx), __fmul_rn(sl, sxl)), D);
            if (m1 > 0.0f) m1 = 0.0f, s1 = __fdiv_rn(sxl, sl2);
            float e = q4k_err(x, w, l, s1, m1);
            if (e < best) best = e, scale = s1, mn = m1;
        }
    }
    *scale_out = kq_pos(scale);
    *min_out = kq_pos(-mn);
}

/* q4k_header: d and the 6-bit codes of v[8] (the canonical form). */
__device__ float q4k_header(const float *v, float *code)
{
    float top = 0.0f, any = 0.0f;
    for (int j = 0; j < 8; j++) top = v[j] > top ? v[j] : top;
    float inv = top > 0.0f ? __fdiv_rn(63.0f, top) : 0.0f, d = kq_f16(__fdiv_rn(top, 63.0f));
    for (int j = 0; j < 8; j++) {
        code[j] = kq_code(__fmul_rn(inv, v[j]), 0.0f, 63.0f);
        any = fmaxf(any, code[j]);
    }
    if (d != 0.0f && any != 0.0f) return d;
    for (int j = 0; j < 8; j++) code[j] = 0.0f;
    return 0.0f;
}

/* ---- q6_k ------------------------------------------------------------------ */

__device__ void q6k_sums(const float *x, float is, float *lx, float *l2)
{
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 16; i++) {
        float l = kq_code(__fmul_rn(is, x[i]), -32.0f, 31.0f), w = __fmul_rn(x[i], x[i]);
        a = __fadd_rn(a, __fmul_rn(__fmul_rn(w, x[i]), l));
        b = __fadd_rn(b, __fmul_rn(__fmul_rn(w, l), l));
    }
    *lx = a, *l2 = b;
}

__device__ float q6k_sub(const float *x)
{
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < 16; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a, mx = x[i];
    }
    if (amax < KQ_EPS) return 0.0f;
    float lx, l2;
    q6k_sums(x, __fdiv_rn(-32.0f, mx), &lx, &l2);
    float scale = l2 != 0.0f ? __fdiv_rn(lx, l2) : 0.0f, best = __fmul_rn(scale, lx);
    for (int k = -9; k <= 9; k++) {
        if (!k) continue;
        q6k_sums(x, __fdiv_rn(-__fadd_rn(32.0f, __fmul_rn(0.1f, (float)k)), mx), &lx, &l2);
        if (l2 > 0.0f && __fmul_rn(lx, lx) > __fmul_rn(best, l2)) {
            scale = __fdiv_rn(lx, l2);
            best = __fmul_rn(scale, lx);
        }
    }
    return fabsf(scale) <= FLT_MAX ? scale : 0.0f;
}

/* ---- the kernel ------------------------------------------------------------ */

template <bool Q6>
__global__ void __launch_bounds__(KQ_WARPS * 32)
    kquant_fwd_kernel(const float *w, int64_t nblocks, float *s, float *z, bf16 *out16,
                      float *out32, uint8_t *codes)
{
    constexpr int SPB = Q6 ? 16 : 8, SUB = 256 / SPB, SBW = 32 / SPB;   /* SBW super-blocks per warp */
    __shared__ float xs[KQ_WARPS][SBW * 256];
    __shared__ float sub[KQ_WARPS][2][32];   /* per sub-block of the warp: scale, min (q4_k) */
    const int lane = threadIdx.x & 31, wi = threadIdx.x >> 5;
    const int64_t ngroups = (nblocks + SBW - 1) / SBW;
    for (int64_t g = (int64_t)blockIdx.x * KQ_WARPS + wi; g < ngroups; g += (int64_t)gridDim.x * KQ_WARPS) {
        const int64_t b0 = g * SBW;
        const int nb = nblocks - b0 < SBW ? (int)(nblocks - b0) : SBW;
        for (int k = 0; k < 8 * SBW; k++) {
            int e = lane + 32 * k;
            if (e < nb * 256) xs[wi][e] = w[b0 * 256 + e];
        }
        __syncwarp();
        if (lane < nb * SPB) {   /* lane = super-block lane / SPB, sub-block lane % SPB */
            if (Q6) sub[wi][0][lane] = q6k_sub(xs[wi] + SUB * lane);
            else q4k_sub(xs[wi] + SUB * lane, &sub[wi][0][lane], &sub[wi][1][lane]);
        }
        __syncwarp();
        for (int t = 0; t < nb; t++) {
            const float *sc_t = sub[wi][0] + t * SPB, *mn_t = sub[wi][1] + t * SPB, *xt = xs[wi] + t * 256;
            const int64_t b = b0 + t;
            float sj[SPB], mj[SPB];
            if (Q6) {
                float top = 0.0f;
                for (int j = 0; j < 16; j++) top = fabsf(sc_t[j]) > fabsf(top) ? sc_t[j] : top;
                bool zero = fabsf(top) < KQ_EPS;
                float is = zero ? 0.0f : __fdiv_rn(-128.0f, top), d = zero ? 0.0f : kq_f16(__fdiv_rn(1.0f, is));
                for (int j = 0; j < 16; j++) {
                    sj[j] = d == 0.0f ? 0.0f : __fmul_rn(d, kq_code(__fmul_rn(is, sc_t[j]), -128.0f, 127.0f));
                    mj[j] = 32.0f;
                }
            } else {
                float sc[8], mn[8];
                float d = q4k_header(sc_t, sc), dmin = q4k_header(mn_t, mn);
                for (int j = 0; j < 8; j++) sj[j] = __fmul_rn(d, sc[j]), mj[j] = __fmul_rn(dmin, mn[j]);
            }
            for (int k = 0; k < 8; k++) {
                int e = lane + 32 * k, j = e / SUB;
                float xe = xt[e], q, o;
                if (Q6) {
                    q = sj[j] == 0.0f ? 32.0f : __fadd_rn(kq_code(__fdiv_rn(xe, sj[j]), -32.0f, 31.0f), 32.0f);
                    o = __fmul_rn(sj[j], __fsub_rn(q, 32.0f));
                } else {
                    q = sj[j] == 0.0f ? 0.0f : kq_code(__fdiv_rn(__fadd_rn(xe, mj[j]), sj[j]), 0.0f, 15.0f);
                    o = __fsub_rn(__fmul_rn(sj[j], q), mj[j]);
                }
                int64_t i = b * 256 + e;
                if (out16) lb_st(out16 + i, o);
                if (out32) out32[i] = o;
                if (codes) codes[i] = (uint8_t)q;
            }
            if (lane < SPB) {
                s[b * SPB + lane] = sj[lane];
                z[b * SPB + lane] = mj[lane];
            }
        }
        __syncwarp();   /* xs and sub are reused by the next group */
    }
}

void lb_cuda_fake_quant_kquant_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, float *s,
                                   float *z, void *out16, float *out32, uint8_t *codes)
{
    int64_t nblocks = Q->rows * (Q->cols / 256);
    if (nblocks <= 0) return;
    int64_t per_warp = Q->grid == LB_CUDA_QGRID_Q6_K ? 2 : 4;   /* the kernel's SBW */
    unsigned grid = lb_cuda_grid(ctx, (nblocks + per_warp - 1) / per_warp * 32, KQ_WARPS * 32);
    cudaStream_t st = lb_cuda_stream(ctx);
    if (Q->grid == LB_CUDA_QGRID_Q6_K)
        kquant_fwd_kernel<true><<<grid, KQ_WARPS * 32, 0, st>>>(w, nblocks, s, z, (bf16 *)out16, out32, codes);
    else
        kquant_fwd_kernel<false><<<grid, KQ_WARPS * 32, 0, st>>>(w, nblocks, s, z, (bf16 *)out16, out32, codes);
    LB_CUDA_LAUNCH_CHECK(ctx);
}
