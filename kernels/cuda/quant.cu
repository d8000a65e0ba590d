/* quant.cu — fake quantization on the GPU: the fused weight forward (group
 * statistics, scale/zero, codes and bf16 w^ in one pass over the fp32
 * master weight) and its launch. The per-tensor statistics and the mse
 * search are in quant_stats.cu, the fused backward (masked
 * straight-through into the f32 weight grad plus the LSQ/LSQ+ scale/zero
 * sums per group) in quant_bwd.cu; the int8 activation quantizers and the
 * plain STE pass are in quant_act.cu.
 *
 * Bit-exact with the CPU specification (quant/grid.h, kernels/cpu/quant.c):
 *   - every a*b+c of the formulas is __fmul_rn/__fadd_rn, so nvcc cannot
 *     contract it into an FMA (ggml's x*id + 8.5, d*q + m; the mse error
 *     s*(q-z) - x and its double square-sum); divisions are __fdiv_rn;
 *   - round() is rintf (nearest even, like the CPU's magic-number rne and
 *     nearbyintf); ggml's (int8_t) cast and roundf are written out as on
 *     the CPU; fp16 scales are __float2half_rn with grid.c's clamps;
 *   - group reductions are min / max / absmax, which do not depend on the
 *     order, and ggml's "first largest |x|" keeps the index to break ties;
 *   - nf4 / fp4 / fp8 use the CPU's midpoint tables and binary search (built
 *     on the host with the CPU's formulas, copied to shared memory).
 * Layout: a "team" of 1..32 lanes of one warp owns a group (team = the
 * power of two that covers the group with 4-float loads, at most 32); a
 * warp holds 32 / team groups; each lane keeps up to 8 chunks of its group
 * in registers (groups up to 1024 with 4-wide loads), and larger groups
 * (per-channel on wide weights) read the group twice (the second read hits
 * L1/L2). Per-tensor scales are found by a separate reduction first.
 *
 * Not here: shape checks and the tape (autograd/ops_quant.c), the CPU path.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/quant_stats.cuh"
#include "kernels/cuda/quant_team.cuh"
#include "kernels/cuda/quant_weight.cuh"

/* ---- scalar formulas (kernels/cpu/quant.c, line for line) ------------------- */

/* The value-grid tables of kernels/cpu/quant.c (lut), made on the host. */
typedef struct qlut {
    int n;
    int signed_mag;
    int sign_bit;
    float val[127];
    float mid[126];
    unsigned char tie_up[126];
} qlut;

static void lut_make(lb_cuda_qgrid grid, qlut *t)
{
    static const float nf4[16] = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    };
    memset(t, 0, sizeof *t);
    if (grid == LB_CUDA_QGRID_NF4) {
        t->n = 16;
        for (int i = 0; i < 16; i++) t->val[i] = nf4[i];
        for (int i = 0; i < 15; i++) t->mid[i] = (float)(((double)nf4[i] + nf4[i + 1]) / 2.0);
        return;   /* ties go down */
    }
    t->signed_mag = 1;
    if (grid == LB_CUDA_QGRID_FP4) {
        static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
        t->n = 8;
        t->sign_bit = 8;
        for (int i = 0; i < 8; i++) t->val[i] = mag[i];
    } else {
        t->n = 127;
        t->sign_bit = 0x80;
        for (int c = 0; c < 127; c++) {
            int e = c >> 3, m = c & 7;
            t->val[c] = e == 0 ? (float)m * 0x1p-9f : (1.0f + (float)m / 8.0f) * ldexpf(1.0f, e - 7);
        }
    }
    for (int i = 0; i + 1 < t->n; i++) {
        t->mid[i] = (t->val[i] + t->val[i + 1]) * 0.5f;
        t->tie_up[i] = ((i + 1) & 1) == 0;
    }
}

__device__ __forceinline__ int lut_index(const qlut *t, float a)
{
    int lo = 0, hi = t->n - 1;
    while (lo < hi) {
        int k = (lo + hi) / 2;
        bool pass = a > t->mid[k] || (a == t->mid[k] && t->tie_up[k]);
        if (pass) lo = k + 1;
        else hi = k;
    }
    return lo;
}

/* lut_quant: code and w^ of x on a value grid with scale sk. */
__device__ __forceinline__ float lut_quant(const qlut *t, float x, float sk, uint8_t *code)
{
    float y = __fdiv_rn(x, sk), v;
    if (t->signed_mag) {
        int k = lut_index(t, fabsf(y));
        bool neg = signbit(y);
        *code = (uint8_t)(k | (neg ? t->sign_bit : 0));
        v = neg ? -t->val[k] : t->val[k];
    } else {
        int k = lut_index(t, y);
        *code = (uint8_t)k;
        v = t->val[k];
    }
    return __fmul_rn(sk, v);
}

/* trunc_code: C's (int) cast of t as the CPU's ggml_block meets it. */
__device__ __forceinline__ int trunc_code(float t)
{
    return t > 0.0f && t < 64.0f ? (int)t : 0;
}

/* ---- the fused weight forward -------------------------------------------- */

/* clip_or: sets the clip bits `bits` (bit e: element i + e) in the mask;
 * i is a multiple of the chunk width (1 or 4), so they lie in one word.
 * Clipped codes are rare (edge codes after the scale's rounding): an
 * atomic per chunk that has one. */
__device__ __forceinline__ void clip_or(uint32_t *mask, int64_t i, unsigned bits)
{
    atomicOr(mask + (i >> 5), bits << (unsigned)(i & 31));
}

typedef struct fq_args {
    const float *w;
    const float *ps, *pz;     /* learned parameters (LSQ / LSQ+) */
    float *s, *z;             /* scales / zeros used: written */
    const float *sg, *zg;     /* GIVEN mode: precomputed (per-tensor, mse) */
    bf16 *out16;
    float *out32;
    uint8_t *codes;
    uint32_t *mask;           /* int grids: bit i set = element i clipped
                                 (OR-ed in: zeroed by the caller), or NULL */
    int64_t ngroups;          /* groups this pass walks */
    int64_t group;            /* elements per group of the pass */
    int team, nc;             /* lanes per group, chunks per lane */
    int bits;
    bool sym, f16, tensor;    /* tensor: every group uses scale 0 */
    qlut lut;
} fq_args;

enum { PM_COMPUTE = 0, PM_GIVEN, PM_LEARNED, PM_LEARNEDP };

/* ld_chunk: VEC consecutive floats of a group. */
template <int VEC>
__device__ __forceinline__ void ld_chunk(const float *p, float v[VEC])
{
    if (VEC == 4) {
        float4 f = *reinterpret_cast<const float4 *>(p);
        v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
        v[0] = *p;
    }
}

/* fq_group: one group `gi` of the pass, by the `team` lanes that own it:
 * statistics, scale and zero, then codes and w^. With NCR > 0 the lane's
 * NCR chunks arrive preloaded in r; with NCR == 0 the group is read from
 * memory twice (groups larger than the registers hold). */
template <int GRID, int PM, int VEC, int NCR>
__device__ __forceinline__ void fq_group(const fq_args &a, const qlut *lut, int64_t gi, bool active,
                                         int team, int tl, const float (&r)[NCR ? NCR : 1][VEC])
{
    constexpr bool VALUE = GRID == LB_CUDA_QGRID_NF4 || GRID == LB_CUDA_QGRID_FP4 ||
                           GRID == LB_CUDA_QGRID_FP8;
    const float maxq = (float)((1 << a.bits) - 1);
    const float *x = a.w + gi * a.group;
    const int nc = NCR ? (NCR < a.nc ? NCR : a.nc) : a.nc;

    /* statistics of the group: lo/hi from 0 (int), absmax, or ggml's */
    float lo = 0.0f, hi = 0.0f, am = 0.0f;
    float gmin = FLT_MAX, gmax = -FLT_MAX, smax = 0.0f;
    int imin = -1, imax = -1, iam = -1;
    bool need_stats = PM == PM_COMPUTE;
#pragma unroll
    for (int c = 0; c < (NCR ? NCR : nc); c++) {
        if (!need_stats || c >= nc) break;
        int64_t off = ((int64_t)c * team + tl) * VEC;
        if (!active || off >= a.group) continue;
        float v[VEC];
        if (NCR) {
#pragma unroll
            for (int e = 0; e < VEC; e++) v[e] = r[NCR ? c : 0][e];
        } else {
            ld_chunk<VEC>(x + off, v);
        }
#pragma unroll
        for (int e = 0; e < VEC; e++) {
            float xv = v[e];
            int idx = (int)off + e;
            if (GRID == LB_CUDA_QGRID_INT) {
                lo = xv < lo ? xv : lo;
                hi = xv > hi ? xv : hi;
            } else if (VALUE || GRID == LB_CUDA_QGRID_Q8_0) {
                am = fmaxf(am, fabsf(xv));
            } else if (GRID == LB_CUDA_QGRID_Q4_0 || GRID == LB_CUDA_QGRID_Q5_0) {
                if (am < fabsf(xv)) am = fabsf(xv), smax = xv, iam = idx;
            } else {   /* q4_1 / q5_1 */
                if (xv < gmin) gmin = xv, imin = idx;
                if (xv > gmax) gmax = xv, imax = idx;
            }
        }
    }

    float sk = 1.0f, zk = 0.0f;
    float id = 0.0f;   /* ggml: 1 / d */
    if (GRID == LB_CUDA_QGRID_INT) {
        if (PM == PM_COMPUTE) {
            lo = team_min(lo, team);
            hi = team_max(hi, team);
            if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
            int_from_range(a.bits, a.sym, a.f16, lo, hi, &sk, &zk);
        } else {
            int64_t k = a.tensor ? 0 : gi;
            if (PM == PM_GIVEN) {
                sk = active ? a.sg[k] : 1.0f;
                zk = active ? a.zg[k] : 0.0f;
            } else {
                sk = round_scale(active ? a.ps[k] : 1.0f, a.f16);
                float zz = active ? a.pz[k] : 0.0f;
                if (PM == PM_LEARNEDP) zz = rintf(zz);
                zk = zz < 0.0f ? 0.0f : zz > maxq ? maxq : zz;
            }
        }
    } else if (VALUE) {
        if (PM == PM_GIVEN) {
            sk = active ? a.sg[a.tensor ? 0 : gi] : 1.0f;
        } else {
            am = team_max(am, team);
            float vmax = GRID == LB_CUDA_QGRID_NF4 ? 1.0f : GRID == LB_CUDA_QGRID_FP4 ? 6.0f : 448.0f;
            sk = am == 0.0f ? 1.0f : round_scale(__fdiv_rn(am, vmax), a.f16);
        }
    } else if (GRID == LB_CUDA_QGRID_Q4_0 || GRID == LB_CUDA_QGRID_Q5_0) {
        team_arg<1>(&am, &iam, &smax, team);
        float half = GRID == LB_CUDA_QGRID_Q4_0 ? 8.0f : 16.0f;
        float d = __fdiv_rn(smax, -half);
        id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
        sk = __half2float(__float2half_rn(d));
        zk = half;
    } else if (GRID == LB_CUDA_QGRID_Q4_1 || GRID == LB_CUDA_QGRID_Q5_1) {
        team_arg<-1>(&gmin, &imin, &gmin, team);
        team_arg<1>(&gmax, &imax, &gmax, team);
        float top = GRID == LB_CUDA_QGRID_Q4_1 ? 15.0f : 31.0f;
        float d = __fdiv_rn(__fsub_rn(gmax, gmin), top);
        id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
        sk = __half2float(__float2half_rn(d));
        zk = __half2float(__float2half_rn(gmin));
    } else {   /* q8_0 */
        am = team_max(am, team);
        float d = __fdiv_rn(am, 127.0f);
        id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
        sk = __half2float(__float2half_rn(d));
        zk = 128.0f;
    }
    if (active && tl == 0 && (!a.tensor || gi == 0)) {
        int64_t k = a.tensor ? 0 : gi;
        if (a.s) a.s[k] = sk;
        if (a.z) a.z[k] = zk;
    }

    /* codes and w^ */
#pragma unroll
    for (int c = 0; c < (NCR ? NCR : nc); c++) {
        if (c >= nc) break;
        int64_t off = ((int64_t)c * team + tl) * VEC;
        if (!active || off >= a.group) continue;
        float v[VEC], o[VEC];
        uint8_t q8[VEC];
        unsigned clip = 0;
        if (NCR) {
#pragma unroll
            for (int e = 0; e < VEC; e++) v[e] = r[NCR ? c : 0][e];
        } else {
            ld_chunk<VEC>(x + off, v);
        }
#pragma unroll
        for (int e = 0; e < VEC; e++) {
            float xv = v[e];
            if (GRID == LB_CUDA_QGRID_INT) {
                float rq = __fadd_rn(rintf(__fdiv_rn(xv, sk)), zk), q = clampf(rq, 0.0f, maxq);
                o[e] = __fmul_rn(sk, __fsub_rn(q, zk));
                q8[e] = (uint8_t)q;
                if (!(rq >= 0.0f && rq <= maxq)) clip |= 1u << e;
            } else if (VALUE) {
                o[e] = lut_quant(lut, xv, sk, &q8[e]);
            } else if (GRID == LB_CUDA_QGRID_Q4_0 || GRID == LB_CUDA_QGRID_Q5_0) {
                int half = GRID == LB_CUDA_QGRID_Q4_0 ? 8 : 16;
                float t = __fadd_rn(__fmul_rn(xv, id), (float)half + 0.5f);
                int cq = trunc_code(t);
                cq = cq > 2 * half - 1 ? 2 * half - 1 : cq;
                q8[e] = (uint8_t)cq;
                o[e] = __fmul_rn(sk, __fsub_rn((float)cq, zk));
            } else if (GRID == LB_CUDA_QGRID_Q4_1 || GRID == LB_CUDA_QGRID_Q5_1) {
                int top = GRID == LB_CUDA_QGRID_Q4_1 ? 15 : 31;
                float t = __fadd_rn(__fmul_rn(__fsub_rn(xv, gmin), id), 0.5f);
                int cq = trunc_code(t);
                cq = cq > top ? top : cq;
                q8[e] = (uint8_t)cq;
                o[e] = __fadd_rn(__fmul_rn(sk, (float)cq), zk);
            } else {   /* q8_0: roundf, half away from zero */
                float u = __fmul_rn(xv, id), rr = truncf(u);
                if (fabsf(__fsub_rn(u, rr)) >= 0.5f) rr = __fadd_rn(rr, copysignf(1.0f, u));
                if (!(fabsf(rr) <= 127.0f)) rr = 0.0f;
                int cq = (int)rr + 128;
                q8[e] = (uint8_t)cq;
                o[e] = __fmul_rn(sk, __fsub_rn((float)cq, zk));
            }
        }
        int64_t i = gi * a.group + off;
        if (GRID == LB_CUDA_QGRID_INT && clip && a.mask) clip_or(a.mask, i, clip);
        if (VEC == 4) {
            if (a.out16) {
                __nv_bfloat162 p0 = __floats2bfloat162_rn(o[0], o[1]);
                __nv_bfloat162 p1 = __floats2bfloat162_rn(o[2], o[3]);
                uint2 u;
                u.x = *reinterpret_cast<unsigned *>(&p0);
                u.y = *reinterpret_cast<unsigned *>(&p1);
                *reinterpret_cast<uint2 *>(a.out16 + i) = u;
            }
            if (a.out32) *reinterpret_cast<float4 *>(a.out32 + i) = make_float4(o[0], o[1], o[2], o[3]);
            if (a.codes) *reinterpret_cast<uchar4 *>(a.codes + i) = make_uchar4(q8[0], q8[1], q8[2], q8[3]);
        } else {
            if (a.out16) a.out16[i] = __float2bfloat16_rn(o[0]);
            if (a.out32) a.out32[i] = o[0];
            if (a.codes) a.codes[i] = q8[0];
        }
    }
}

/* fq_weight_fwd_kernel: warps walk the groups, 32 / team groups per warp,
 * UNR rounds of them loaded before any is processed (loads in flight). */
template <int GRID, int PM, int VEC, int NCR, int UNR>
__global__ void __launch_bounds__(QTHREADS) fq_weight_fwd_kernel(const fq_args a)
{
    extern __shared__ unsigned char smem_raw[];
    qlut *lut = reinterpret_cast<qlut *>(smem_raw);
    constexpr bool VALUE = GRID == LB_CUDA_QGRID_NF4 || GRID == LB_CUDA_QGRID_FP4 ||
                           GRID == LB_CUDA_QGRID_FP8;
    if (VALUE) {
        const int *src = reinterpret_cast<const int *>(&a.lut);
        int *dst = reinterpret_cast<int *>(lut);
        for (int i = threadIdx.x; i < (int)(sizeof(qlut) / sizeof(int)); i += blockDim.x) dst[i] = src[i];
        __syncthreads();
    }
    const int lane = threadIdx.x & 31, team = a.team, tl = lane & (team - 1), tiw = lane / team;
    const int tpw = 32 / team;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const int nc = NCR ? (NCR < a.nc ? NCR : a.nc) : 0;

    for (int64_t g0 = warp * tpw * UNR; g0 < a.ngroups; g0 += nwarps * tpw * UNR) {
        float r[UNR][NCR ? NCR : 1][VEC];
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            int64_t gi = g0 + (int64_t)u * tpw + tiw;
#pragma unroll
            for (int c = 0; c < (NCR ? NCR : 1); c++) {
                int64_t off = ((int64_t)c * team + tl) * VEC;
                if (NCR && c < nc && gi < a.ngroups && off < a.group)
                    ld_chunk<VEC>(a.w + gi * a.group + off, r[u][c]);
            }
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            int64_t gi = g0 + (int64_t)u * tpw + tiw;
            if (g0 + (int64_t)u * tpw >= a.ngroups) break;   /* warp-uniform */
            fq_group<GRID, PM, VEC, NCR>(a, lut, gi, gi < a.ngroups, team, tl, r[u]);
        }
    }
}

/* fq_int_minmax_kernel: the hot case (int min-max, a group of at most
 * 128 = one chunk per lane) with UNR groups per lane in flight and their
 * team reductions interleaved, so that the shuffle latencies overlap.
 * Same arithmetic as fq_group, statement for statement. */
template <int VEC, int UNR>
__global__ void __launch_bounds__(QTHREADS) fq_int_minmax_kernel(const fq_args a)
{
    const int lane = threadIdx.x & 31, team = a.team, tl = lane & (team - 1), tiw = lane / team;
    const int tpw = 32 / team;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const float maxq = (float)((1 << a.bits) - 1);
    const int64_t off = (int64_t)tl * VEC;
    for (int64_t g0 = warp * tpw * UNR; g0 < a.ngroups; g0 += nwarps * tpw * UNR) {
        float r[UNR][VEC], lo[UNR], hi[UNR];
        bool act[UNR];
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            int64_t gi = g0 + (int64_t)u * tpw + tiw;
            act[u] = gi < a.ngroups && off < a.group;
            if (act[u]) ld_chunk<VEC>(a.w + gi * a.group + off, r[u]);
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            lo[u] = 0.0f, hi[u] = 0.0f;
#pragma unroll
            for (int e = 0; e < VEC; e++) {
                if (!act[u]) break;
                lo[u] = r[u][e] < lo[u] ? r[u][e] : lo[u];
                hi[u] = r[u][e] > hi[u] ? r[u][e] : hi[u];
            }
        }
        for (int o = team >> 1; o > 0; o >>= 1) {
#pragma unroll
            for (int u = 0; u < UNR; u++) {
                float a1 = __shfl_xor_sync(0xffffffffu, lo[u], o);
                float b1 = __shfl_xor_sync(0xffffffffu, hi[u], o);
                lo[u] = a1 < lo[u] ? a1 : lo[u];
                hi[u] = b1 > hi[u] ? b1 : hi[u];
            }
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            int64_t gi = g0 + (int64_t)u * tpw + tiw;
            if (gi >= a.ngroups) continue;
            float l = lo[u], h = hi[u], sk, zk;
            if (l == 0.0f && h == 0.0f) l = -1.0f, h = 1.0f;
            int_from_range(a.bits, a.sym, a.f16, l, h, &sk, &zk);
            if (tl == 0) {
                if (a.s) a.s[gi] = sk;
                if (a.z) a.z[gi] = zk;
            }
            if (!act[u]) continue;
            float o4[VEC];
            uint8_t q8[VEC];
            unsigned clip = 0;
#pragma unroll
            for (int e = 0; e < VEC; e++) {
                float rq = __fadd_rn(rintf(__fdiv_rn(r[u][e], sk)), zk), q = clampf(rq, 0.0f, maxq);
                o4[e] = __fmul_rn(sk, __fsub_rn(q, zk));
                q8[e] = (uint8_t)q;
                if (!(rq >= 0.0f && rq <= maxq)) clip |= 1u << e;
            }
            int64_t i = gi * a.group + off;
            if (clip && a.mask) clip_or(a.mask, i, clip);
            if (VEC == 4) {
                if (a.out16) {
                    __nv_bfloat162 p0 = __floats2bfloat162_rn(o4[0], o4[1]);
                    __nv_bfloat162 p1 = __floats2bfloat162_rn(o4[2], o4[3]);
                    uint2 w2;
                    w2.x = *reinterpret_cast<unsigned *>(&p0);
                    w2.y = *reinterpret_cast<unsigned *>(&p1);
                    *reinterpret_cast<uint2 *>(a.out16 + i) = w2;
                }
                if (a.out32) *reinterpret_cast<float4 *>(a.out32 + i) = make_float4(o4[0], o4[1], o4[2], o4[3]);
                if (a.codes) *reinterpret_cast<uchar4 *>(a.codes + i) = make_uchar4(q8[0], q8[1], q8[2], q8[3]);
            } else {
                if (a.out16) a.out16[i] = __float2bfloat16_rn(o4[0]);
                if (a.out32) a.out32[i] = o4[0];
                if (a.codes) a.codes[i] = q8[0];
            }
        }
    }
}

/* ---- launch (the plan: quant_weight.cuh) ------------------------------- */

template <int GRID, int PM>
static void launch_fwd_grid(lb_ctx *ctx, const fq_args &a0, bool aligned)
{
    fq_args a = a0;
    fq_plan p = plan_for(a.group, aligned);
    a.team = p.team;
    a.nc = p.nc;
    int64_t warps = (a.ngroups + (32 / p.team) - 1) / (32 / p.team);
    constexpr bool VALUE = GRID == LB_CUDA_QGRID_NF4 || GRID == LB_CUDA_QGRID_FP4 ||
                           GRID == LB_CUDA_QGRID_FP8;
    size_t shm = VALUE ? sizeof(qlut) : 0;
    cudaStream_t st = lb_cuda_stream(ctx);
    /* one chunk per lane (g <= 128): 4 rounds of groups in flight */
    if (p.nc == 1 && GRID == LB_CUDA_QGRID_INT && PM == PM_COMPUTE) {
        unsigned grid = lb_cuda_grid(ctx, (warps + 3) / 4 * 32, QTHREADS);
        if (p.vec == 4) fq_int_minmax_kernel<4, 4><<<grid, QTHREADS, 0, st>>>(a);
        else fq_int_minmax_kernel<1, 4><<<grid, QTHREADS, 0, st>>>(a);
    } else if (p.nc == 1) {
        unsigned grid = lb_cuda_grid(ctx, (warps + 3) / 4 * 32, QTHREADS);
        if (p.vec == 4) fq_weight_fwd_kernel<GRID, PM, 4, 1, 4><<<grid, QTHREADS, shm, st>>>(a);
        else fq_weight_fwd_kernel<GRID, PM, 1, 1, 4><<<grid, QTHREADS, shm, st>>>(a);
    } else {
        unsigned grid = lb_cuda_grid(ctx, warps * 32, QTHREADS);
        if (p.vec == 4 && p.reg) fq_weight_fwd_kernel<GRID, PM, 4, MAXC, 1><<<grid, QTHREADS, shm, st>>>(a);
        else if (p.vec == 4) fq_weight_fwd_kernel<GRID, PM, 4, 0, 1><<<grid, QTHREADS, shm, st>>>(a);
        else if (p.reg) fq_weight_fwd_kernel<GRID, PM, 1, MAXC, 1><<<grid, QTHREADS, shm, st>>>(a);
        else fq_weight_fwd_kernel<GRID, PM, 1, 0, 1><<<grid, QTHREADS, shm, st>>>(a);
    }
    LB_CUDA_LAUNCH_CHECK(ctx);
}

template <int PM>
static void launch_fwd(lb_ctx *ctx, lb_cuda_qgrid grid, const fq_args &a, bool aligned)
{
    if (grid == LB_CUDA_QGRID_INT) {
        launch_fwd_grid<LB_CUDA_QGRID_INT, PM>(ctx, a, aligned);
        return;
    }
    if constexpr (PM == PM_COMPUTE || PM == PM_GIVEN) {   /* value grids learn nothing */
        switch (grid) {
        case LB_CUDA_QGRID_NF4: launch_fwd_grid<LB_CUDA_QGRID_NF4, PM>(ctx, a, aligned); return;
        case LB_CUDA_QGRID_FP4: launch_fwd_grid<LB_CUDA_QGRID_FP4, PM>(ctx, a, aligned); return;
        case LB_CUDA_QGRID_FP8: launch_fwd_grid<LB_CUDA_QGRID_FP8, PM>(ctx, a, aligned); return;
        default: break;
        }
    }
    lb_fatal(__FILE__, __LINE__, "fake quant: grid %d has no mode %d", (int)grid, PM);
}

static void launch_ggml(lb_ctx *ctx, lb_cuda_qgrid grid, const fq_args &a, bool aligned)
{
    switch (grid) {
    case LB_CUDA_QGRID_Q4_0: launch_fwd_grid<LB_CUDA_QGRID_Q4_0, PM_COMPUTE>(ctx, a, aligned); break;
    case LB_CUDA_QGRID_Q4_1: launch_fwd_grid<LB_CUDA_QGRID_Q4_1, PM_COMPUTE>(ctx, a, aligned); break;
    case LB_CUDA_QGRID_Q5_0: launch_fwd_grid<LB_CUDA_QGRID_Q5_0, PM_COMPUTE>(ctx, a, aligned); break;
    case LB_CUDA_QGRID_Q5_1: launch_fwd_grid<LB_CUDA_QGRID_Q5_1, PM_COMPUTE>(ctx, a, aligned); break;
    default: launch_fwd_grid<LB_CUDA_QGRID_Q8_0, PM_COMPUTE>(ctx, a, aligned); break;
    }
}

static bool is_value_grid(lb_cuda_qgrid g)
{
    return g == LB_CUDA_QGRID_NF4 || g == LB_CUDA_QGRID_FP4 || g == LB_CUDA_QGRID_FP8;
}

void lb_cuda_fake_quant_weight_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                   const float *ps, const float *pz, float *s, float *z,
                                   void *out16, float *out32, uint8_t *codes)
{
    lb_cuda_fake_quant_weight_fwd_mask(ctx, Q, w, ps, pz, s, z, out16, out32, codes, NULL);
}

void lb_cuda_fake_quant_weight_fwd_mask(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                        const float *ps, const float *pz, float *s, float *z,
                                        void *out16, float *out32, uint8_t *codes, uint32_t *mask)
{
    int64_t n = Q->rows * Q->cols;
    if (n <= 0) return;
    if (mask) lb_cuda_memset_zero(ctx, mask, (size_t)lb_clip_mask_words(n) * sizeof *mask);
    bool aligned = lb_aligned16(w) && lb_aligned16(out32) && ((uintptr_t)out16 & 7u) == 0 &&
                   ((uintptr_t)codes & 3u) == 0;
    fq_args a;
    memset(&a, 0, sizeof a);
    a.w = w, a.ps = ps, a.pz = pz, a.s = s, a.z = z;
    a.out16 = (bf16 *)out16, a.out32 = out32, a.codes = codes;
    a.mask = Q->grid == LB_CUDA_QGRID_INT ? mask : NULL;   /* the other grids clip nothing */
    a.bits = Q->bits, a.sym = Q->sym, a.f16 = Q->f16, a.tensor = Q->tensor;
    if (is_value_grid(Q->grid)) lut_make(Q->grid, &a.lut);
    cudaStream_t st = lb_cuda_stream(ctx);

    if (Q->grid == LB_CUDA_QGRID_Q4_K || Q->grid == LB_CUDA_QGRID_Q6_K) {   /* quant_k.cu */
        lb_cuda_fake_quant_kquant_fwd(ctx, Q, w, s, z, out16, out32, codes);
        return;
    }
    if (Q->mode == LB_CUDA_QMODE_GGML) {
        a.group = 32;
        a.ngroups = n / 32;
        launch_ggml(ctx, Q->grid, a, aligned);
        return;
    }
    if (Q->tensor) {
        a.group = tensor_pass_group(Q);
        a.ngroups = n / a.group;
        bool learned = Q->mode == LB_CUDA_QMODE_LSQ || Q->mode == LB_CUDA_QMODE_LSQP;
        if (!learned) {
            int nb = (int)lb_cuda_grid(ctx, n, QTHREADS);
            float *part = (float *)lb_cuda_tmp_alloc(ctx, (size_t)nb * 3 * sizeof(float));
            range_partial_kernel<<<nb, QTHREADS, 0, st>>>(w, n, part);
            LB_CUDA_LAUNCH_CHECK(ctx);
            bool mse = Q->mode == LB_CUDA_QMODE_MSE;
            tensor_params_kernel<<<1, 1, 0, st>>>(part, nb, Q->grid, Q->bits, Q->sym, Q->f16, mse, s, z);
            LB_CUDA_LAUNCH_CHECK(ctx);
            lb_cuda_tmp_free(ctx, part);
            if (mse) {
                mse_kernel<<<1, 32, 0, st>>>(w, 1, n, Q->bits, Q->sym, Q->f16, true, s, z);
                LB_CUDA_LAUNCH_CHECK(ctx);
            }
            a.sg = s, a.zg = z;
            a.s = a.z = NULL;   /* already written */
            launch_fwd<PM_GIVEN>(ctx, Q->grid, a, aligned);
            return;
        }
    } else {
        a.group = Q->group;
        a.ngroups = n / Q->group;
    }
    switch (Q->mode) {
    case LB_CUDA_QMODE_MSE: {
        unsigned grid = lb_cuda_grid(ctx, a.ngroups * 32, QTHREADS);
        mse_kernel<<<grid, QTHREADS, 0, st>>>(w, a.ngroups, a.group, Q->bits, Q->sym, Q->f16, false, s, z);
        LB_CUDA_LAUNCH_CHECK(ctx);
        a.sg = s, a.zg = z;
        a.s = a.z = NULL;
        launch_fwd<PM_GIVEN>(ctx, Q->grid, a, aligned);
        break;
    }
    case LB_CUDA_QMODE_LSQ: launch_fwd<PM_LEARNED>(ctx, Q->grid, a, aligned); break;
    case LB_CUDA_QMODE_LSQP: launch_fwd<PM_LEARNEDP>(ctx, Q->grid, a, aligned); break;
    default: launch_fwd<PM_COMPUTE>(ctx, Q->grid, a, aligned); break;
    }
}
