/* attention.cu — causal grouped-query attention on CUDA, plain kernels.
 *
 * The checking path and the fallback for what cuDNN's fused attention
 * refuses (decode and KV-cache continuation with q_pos0 > 0, head dims it
 * does not take): bf16 q, k, v, out in the (B, T, nh, hd) / (B, S, nkv, hd)
 * layouts of the CPU op, every product and sum in fp32 registers.
 *
 * Forward (flash-attention style): a block owns BQ queries of one head and
 * walks the key tiles the block can see, with an online softmax (running
 * max m and sum l per row), so nothing of size T x S is stored. It writes
 * out and, for the backward, the log-sum-exp lse = m + log(l) per row.
 * Backward (FlashAttention-2 style, without atomics so that reruns give
 * the same bits): D = rowsum(dO * O) first; then one kernel where a block
 * owns BK keys of one kv head and walks the query tiles that see them, for
 * every query head of the group, recomputing P = exp(scale q.k - lse) and
 * keeping dK and dV in registers; and one where a block owns BQ queries of
 * one head and walks their key tiles for dQ (it recomputes the scores a
 * second time: 7 tile products instead of 5, the price of determinism).
 *
 * Tiles live in shared memory as fp32 with rows padded by one word (bank
 * conflicts); 256 threads as a 16 x 16 grid each own a strided micro tile.
 * No tensor cores: this is the readable reference on the device, the fast
 * path is attention_cudnn.cu. Head dims up to 256 (padded to 64, 128 or
 * 256 inside; any hd works), any T, S.
 */
#include <math.h>
#include <stdint.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

#define ATTN_THREADS 256

typedef struct attn_shape {
    int B, T, S, nh, nkv, hd, q_pos0, group;
    float scale;
} attn_shape;

/* load_tile: rows r0 .. r0+R of a (rows, hd) head slice with row stride ld
 * into dst (R, HDP + 1) as fp32; rows >= rmax and columns >= hd become 0. */
template <int R, int HDP>
__device__ __forceinline__ void load_tile(float *dst, const bf16 *src, int64_t ld, int r0,
                                          int rmax, int hd)
{
    constexpr int LD = HDP + 1;
    for (int idx = threadIdx.x; idx < R * HDP; idx += ATTN_THREADS) {
        int r = idx / HDP, d = idx % HDP;
        float x = 0.0f;
        if (r0 + r < rmax && d < hd) x = __bfloat162float(src[(int64_t)(r0 + r) * ld + d]);
        dst[r * LD + d] = x;
    }
}

/* reduce over the 16 threads of a row group (tx = lane & 15: one half-warp) */
__device__ __forceinline__ float group16_max(float x)
{
    for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

__device__ __forceinline__ float group16_sum(float x)
{
    for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

template <int BQ, int BK, int HDP>
constexpr size_t fwd_smem_bytes()
{
    return sizeof(float) * ((size_t)BQ * (HDP + 1) + (size_t)BK * (HDP + 1) + (size_t)BQ * (BK + 1));
}

/* Forward: grid (ceil(T / BQ), nh, B). Thread (ty, tx) owns rows ty + 16 i
 * of the query tile, key columns tx + 16 j of the score tile and output
 * columns tx + 16 j. OVERWRITES out; lse (B, nh, T) when non-NULL. */
template <int BQ, int BK, int HDP>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_fwd_kernel(const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                const bf16 *__restrict__ v, bf16 *__restrict__ out, float *__restrict__ lse,
                attn_shape sh)
{
    constexpr int LD = HDP + 1, LP = BK + 1, RI = BQ / 16, CJ = BK / 16, DJ = HDP / 16;
    extern __shared__ float smem[];
    float *Qs = smem;              // (BQ, LD)
    float *KVs = Qs + BQ * LD;     // (BK, LD): the K tile, then the V tile
    float *Ps = KVs + BK * LD;     // (BQ, LP)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int t0 = blockIdx.x * BQ, h = blockIdx.y, b = blockIdx.z;
    const int64_t ldq = (int64_t)sh.nh * sh.hd, ldk = (int64_t)sh.nkv * sh.hd;
    const int64_t kvo = (int64_t)b * sh.S * ldk + (int64_t)(h / sh.group) * sh.hd;
    const bf16 *qb = q + (int64_t)b * sh.T * ldq + (int64_t)h * sh.hd;   // (T, hd), ld nh*hd
    const bf16 *kb = k + kvo, *vb = v + kvo;                            // (S, hd), ld nkv*hd

    load_tile<BQ, HDP>(Qs, qb, ldq, t0, sh.T, sh.hd);
    float acc[RI][DJ], m[RI], l[RI];
#pragma unroll
    for (int i = 0; i < RI; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < DJ; j++) acc[i][j] = 0.0f;
    }
    const int t_last = min(t0 + BQ, sh.T) - 1;
    const int n_keys = min(sh.S, sh.q_pos0 + t_last + 1);   // keys the tile's last query sees
    for (int s0 = 0; s0 < n_keys; s0 += BK) {
        __syncthreads();   // the previous tile's P @ V is done with KVs and Ps
        load_tile<BK, HDP>(KVs, kb, ldk, s0, n_keys, sh.hd);
        __syncthreads();
        float s[RI][CJ];
#pragma unroll
        for (int i = 0; i < RI; i++)
#pragma unroll
            for (int j = 0; j < CJ; j++) s[i][j] = 0.0f;
        for (int d = 0; d < HDP; d++) {
            float kd[CJ];
#pragma unroll
            for (int j = 0; j < CJ; j++) kd[j] = KVs[(tx + 16 * j) * LD + d];
#pragma unroll
            for (int i = 0; i < RI; i++) {
                float qd = Qs[(ty + 16 * i) * LD + d];
#pragma unroll
                for (int j = 0; j < CJ; j++) s[i][j] = fmaf(qd, kd[j], s[i][j]);
            }
        }
#pragma unroll
        for (int i = 0; i < RI; i++) {
            const int qpos = sh.q_pos0 + t0 + ty + 16 * i;
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < CJ; j++) {
                const int key = s0 + tx + 16 * j;
                s[i][j] = (key > qpos || key >= n_keys) ? -INFINITY : s[i][j] * sh.scale;
                mx = fmaxf(mx, s[i][j]);
            }
            mx = group16_max(mx);
            const float m_new = fmaxf(m[i], mx);   // finite: key 0 is in the first tile
            const float corr = expf(m[i] - m_new);
            float rs = 0.0f;
#pragma unroll
            for (int j = 0; j < CJ; j++) {
                const float p = expf(s[i][j] - m_new);
                rs += p;
                Ps[(ty + 16 * i) * LP + tx + 16 * j] = p;
            }
            l[i] = l[i] * corr + group16_sum(rs);
            m[i] = m_new;
#pragma unroll
            for (int j = 0; j < DJ; j++) acc[i][j] *= corr;
        }
        __syncthreads();   // everyone is done with the K tile
        load_tile<BK, HDP>(KVs, vb, ldk, s0, n_keys, sh.hd);
        __syncthreads();
        for (int kk = 0; kk < BK; kk++) {
            float vd[DJ];
#pragma unroll
            for (int j = 0; j < DJ; j++) vd[j] = KVs[kk * LD + tx + 16 * j];
#pragma unroll
            for (int i = 0; i < RI; i++) {
                const float p = Ps[(ty + 16 * i) * LP + kk];
#pragma unroll
                for (int j = 0; j < DJ; j++) acc[i][j] = fmaf(p, vd[j], acc[i][j]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < RI; i++) {
        const int t = t0 + ty + 16 * i;
        if (t >= sh.T) continue;
        const float inv = 1.0f / l[i];
        bf16 *o = out + (int64_t)b * sh.T * ldq + (int64_t)t * ldq + (int64_t)h * sh.hd;
#pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = tx + 16 * j;
            if (d < sh.hd) o[d] = __float2bfloat16(acc[i][j] * inv);
        }
        if (lse && tx == 0) lse[((int64_t)b * sh.nh + h) * sh.T + t] = m[i] + logf(l[i]);
    }
}

/* D[b, h, t] = sum_d dout * out over the row (B, nh, T); one warp per row. */
__global__ void attn_bwd_dot_kernel(const bf16 *__restrict__ out, const bf16 *__restrict__ dout,
                                    float *__restrict__ D, attn_shape sh)
{
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;   // (b, t, h)
    const int lane = threadIdx.x & 31;
    if (row >= (int64_t)sh.B * sh.T * sh.nh) return;
    const bf16 *o = out + row * sh.hd, *g = dout + row * sh.hd;
    float acc = 0.0f;
    for (int d = lane; d < sh.hd; d += 32) acc += __bfloat162float(o[d]) * __bfloat162float(g[d]);
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) {
        const int64_t h = row % sh.nh, t = (row / sh.nh) % sh.T, b = row / ((int64_t)sh.nh * sh.T);
        D[(b * sh.nh + h) * sh.T + t] = acc;
    }
}

template <int BQ, int BK, int HDP>
constexpr size_t bwd_smem_bytes()
{
    return sizeof(float) * (2 * (size_t)BK * (HDP + 1) + 2 * (size_t)BQ * (HDP + 1) +
                            2 * (size_t)BQ * (BK + 1) + 2 * (size_t)BQ);
}

/* Backward: grid (ceil(S / BK), nkv, B). Per query head h of the group and
 * per query tile that sees the block's keys:
 *   P = exp(scale q.k - lse) (0 where masked), dP = dO . v,
 *   dS = scale * P * (dP - D),
 *   dV += P^T dO, dK += dS^T Q (registers).
 * ACCUMULATES dk, dv (bf16, when non-NULL). */
template <int BQ, int BK, int HDP>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_bwd_dkdv_kernel(const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                const bf16 *__restrict__ v, const bf16 *__restrict__ dout,
                const float *__restrict__ lse, const float *__restrict__ D,
                bf16 *__restrict__ dk, bf16 *__restrict__ dv,
                attn_shape sh)
{
    constexpr int LD = HDP + 1, LP = BK + 1;
    constexpr int QI = BQ / 16, KJ = BK / 16, KI = BK / 16, DJ = HDP / 16;
    extern __shared__ float smem[];
    float *Ks = smem;               // (BK, LD)
    float *Vs = Ks + BK * LD;       // (BK, LD)
    float *Qs = Vs + BK * LD;       // (BQ, LD)
    float *dOs = Qs + BQ * LD;      // (BQ, LD)
    float *Ps = dOs + BQ * LD;      // (BQ, LP)
    float *dSs = Ps + BQ * LP;      // (BQ, LP)
    float *lse_s = dSs + BQ * LP;   // (BQ)
    float *D_s = lse_s + BQ;        // (BQ)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int s0 = blockIdx.x * BK, kvh = blockIdx.y, b = blockIdx.z;
    const int64_t ldq = (int64_t)sh.nh * sh.hd, ldk = (int64_t)sh.nkv * sh.hd;
    const int64_t kvo = (int64_t)b * sh.S * ldk + (int64_t)kvh * sh.hd;

    load_tile<BK, HDP>(Ks, k + kvo, ldk, s0, sh.S, sh.hd);
    load_tile<BK, HDP>(Vs, v + kvo, ldk, s0, sh.S, sh.hd);
    float dK[KI][DJ], dV[KI][DJ];
#pragma unroll
    for (int i = 0; i < KI; i++)
#pragma unroll
        for (int j = 0; j < DJ; j++) dK[i][j] = dV[i][j] = 0.0f;

    /* the first query that sees key s0 sits at t = s0 - q_pos0 */
    const int t_begin = max(0, s0 - sh.q_pos0) / BQ * BQ;
    for (int hg = 0; hg < sh.group; hg++) {
        const int h = kvh * sh.group + hg;
        const int64_t qo = (int64_t)b * sh.T * ldq + (int64_t)h * sh.hd;
        const float *lse_h = lse + ((int64_t)b * sh.nh + h) * sh.T;
        const float *D_h = D + ((int64_t)b * sh.nh + h) * sh.T;
        for (int t0 = t_begin; t0 < sh.T; t0 += BQ) {
            __syncthreads();   // the previous tile is done with Qs, dOs, Ps, dSs
            load_tile<BQ, HDP>(Qs, q + qo, ldq, t0, sh.T, sh.hd);
            load_tile<BQ, HDP>(dOs, dout + qo, ldq, t0, sh.T, sh.hd);
            for (int r = threadIdx.x; r < BQ; r += ATTN_THREADS) {
                lse_s[r] = t0 + r < sh.T ? lse_h[t0 + r] : 0.0f;
                D_s[r] = t0 + r < sh.T ? D_h[t0 + r] : 0.0f;
            }
            __syncthreads();
            float s[QI][KJ], dp[QI][KJ];
#pragma unroll
            for (int i = 0; i < QI; i++)
#pragma unroll
                for (int j = 0; j < KJ; j++) s[i][j] = dp[i][j] = 0.0f;
            for (int d = 0; d < HDP; d++) {
                float kd[KJ], vd[KJ];
#pragma unroll
                for (int j = 0; j < KJ; j++) {
                    kd[j] = Ks[(tx + 16 * j) * LD + d];
                    vd[j] = Vs[(tx + 16 * j) * LD + d];
                }
#pragma unroll
                for (int i = 0; i < QI; i++) {
                    const float qd = Qs[(ty + 16 * i) * LD + d], gd = dOs[(ty + 16 * i) * LD + d];
#pragma unroll
                    for (int j = 0; j < KJ; j++) {
                        s[i][j] = fmaf(qd, kd[j], s[i][j]);
                        dp[i][j] = fmaf(gd, vd[j], dp[i][j]);
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < QI; i++) {
                const int r = ty + 16 * i, t = t0 + r, qpos = sh.q_pos0 + t;
#pragma unroll
                for (int j = 0; j < KJ; j++) {
                    const int c = tx + 16 * j, key = s0 + c;
                    const bool seen = t < sh.T && key < sh.S && key <= qpos;
                    const float p = seen ? expf(s[i][j] * sh.scale - lse_s[r]) : 0.0f;
                    Ps[r * LP + c] = p;
                    dSs[r * LP + c] = sh.scale * p * (dp[i][j] - D_s[r]);
                }
            }
            __syncthreads();
            /* dV, dK: rows = keys ty + 16 i, cols = d */
            for (int r = 0; r < BQ; r++) {
                float gd[DJ], qd[DJ];
#pragma unroll
                for (int j = 0; j < DJ; j++) {
                    gd[j] = dOs[r * LD + tx + 16 * j];
                    qd[j] = Qs[r * LD + tx + 16 * j];
                }
#pragma unroll
                for (int i = 0; i < KI; i++) {
                    const float p = Ps[r * LP + ty + 16 * i], ds = dSs[r * LP + ty + 16 * i];
#pragma unroll
                    for (int j = 0; j < DJ; j++) {
                        dV[i][j] = fmaf(p, gd[j], dV[i][j]);
                        dK[i][j] = fmaf(ds, qd[j], dK[i][j]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < KI; i++) {
        const int key = s0 + ty + 16 * i;
        if (key >= sh.S) continue;
        const int64_t o = kvo + (int64_t)key * ldk;
#pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = tx + 16 * j;
            if (d >= sh.hd) continue;
            if (dk) dk[o + d] = __float2bfloat16(__bfloat162float(dk[o + d]) + dK[i][j]);
            if (dv) dv[o + d] = __float2bfloat16(__bfloat162float(dv[o + d]) + dV[i][j]);
        }
    }
}

/* dQ: grid (ceil(T / BQ), nh, B). Per key tile the block sees, the same
 * P, dP, dS as above (rows = queries ty + 16 i), then dQ += dS K in
 * registers. ACCUMULATES dq (bf16). */
template <int BQ, int BK, int HDP>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_bwd_dq_kernel(const bf16 *__restrict__ q, const bf16 *__restrict__ k,
                   const bf16 *__restrict__ v, const bf16 *__restrict__ dout,
                   const float *__restrict__ lse, const float *__restrict__ D,
                   bf16 *__restrict__ dq, attn_shape sh)
{
    constexpr int LD = HDP + 1, LP = BK + 1, QI = BQ / 16, KJ = BK / 16, DJ = HDP / 16;
    extern __shared__ float smem[];
    float *Ks = smem;               // (BK, LD)
    float *Vs = Ks + BK * LD;       // (BK, LD)
    float *Qs = Vs + BK * LD;       // (BQ, LD)
    float *dOs = Qs + BQ * LD;      // (BQ, LD)
    float *dSs = dOs + BQ * LD;     // (BQ, LP)
    float *lse_s = dSs + BQ * LP;   // (BQ)
    float *D_s = lse_s + BQ;        // (BQ)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int t0 = blockIdx.x * BQ, h = blockIdx.y, b = blockIdx.z;
    const int64_t ldq = (int64_t)sh.nh * sh.hd, ldk = (int64_t)sh.nkv * sh.hd;
    const int64_t qo = (int64_t)b * sh.T * ldq + (int64_t)h * sh.hd;
    const int64_t kvo = (int64_t)b * sh.S * ldk + (int64_t)(h / sh.group) * sh.hd;

    load_tile<BQ, HDP>(Qs, q + qo, ldq, t0, sh.T, sh.hd);
    load_tile<BQ, HDP>(dOs, dout + qo, ldq, t0, sh.T, sh.hd);
    const float *lse_h = lse + ((int64_t)b * sh.nh + h) * sh.T;
    const float *D_h = D + ((int64_t)b * sh.nh + h) * sh.T;
    for (int r = threadIdx.x; r < BQ; r += ATTN_THREADS) {
        lse_s[r] = t0 + r < sh.T ? lse_h[t0 + r] : 0.0f;
        D_s[r] = t0 + r < sh.T ? D_h[t0 + r] : 0.0f;
    }
    float dqr[QI][DJ];
#pragma unroll
    for (int i = 0; i < QI; i++)
#pragma unroll
        for (int j = 0; j < DJ; j++) dqr[i][j] = 0.0f;
    const int t_last = min(t0 + BQ, sh.T) - 1;
    const int n_keys = min(sh.S, sh.q_pos0 + t_last + 1);
    for (int s0 = 0; s0 < n_keys; s0 += BK) {
        __syncthreads();   // the previous tile is done with Ks, Vs, dSs
        load_tile<BK, HDP>(Ks, k + kvo, ldk, s0, n_keys, sh.hd);
        load_tile<BK, HDP>(Vs, v + kvo, ldk, s0, n_keys, sh.hd);
        __syncthreads();
        float s[QI][KJ], dp[QI][KJ];
#pragma unroll
        for (int i = 0; i < QI; i++)
#pragma unroll
            for (int j = 0; j < KJ; j++) s[i][j] = dp[i][j] = 0.0f;
        for (int d = 0; d < HDP; d++) {
            float kd[KJ], vd[KJ];
#pragma unroll
            for (int j = 0; j < KJ; j++) {
                kd[j] = Ks[(tx + 16 * j) * LD + d];
                vd[j] = Vs[(tx + 16 * j) * LD + d];
            }
#pragma unroll
            for (int i = 0; i < QI; i++) {
                const float qd = Qs[(ty + 16 * i) * LD + d], gd = dOs[(ty + 16 * i) * LD + d];
#pragma unroll
                for (int j = 0; j < KJ; j++) {
                    s[i][j] = fmaf(qd, kd[j], s[i][j]);
                    dp[i][j] = fmaf(gd, vd[j], dp[i][j]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < QI; i++) {
            const int r = ty + 16 * i, t = t0 + r, qpos = sh.q_pos0 + t;
#pragma unroll
            for (int j = 0; j < KJ; j++) {
                const int c = tx + 16 * j, key = s0 + c;
                const bool seen = t < sh.T && key < n_keys && key <= qpos;
                const float p = seen ? expf(s[i][j] * sh.scale - lse_s[r]) : 0.0f;
                dSs[r * LP + c] = sh.scale * p * (dp[i][j] - D_s[r]);
            }
        }
        __syncthreads();
        for (int c = 0; c < BK; c++) {
            float kd[DJ];
#pragma unroll
            for (int j = 0; j < DJ; j++) kd[j] = Ks[c * LD + tx + 16 * j];
#pragma unroll
            for (int i = 0; i < QI; i++) {
                const float ds = dSs[(ty + 16 * i) * LP + c];
#pragma unroll
                for (int j = 0; j < DJ; j++) dqr[i][j] = fmaf(ds, kd[j], dqr[i][j]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < QI; i++) {
        const int t = t0 + ty + 16 * i;
        if (t >= sh.T) continue;
        bf16 *dst = dq + qo + (int64_t)t * ldq;
#pragma unroll
        for (int j = 0; j < DJ; j++) {
            const int d = tx + 16 * j;
            if (d < sh.hd) dst[d] = __float2bfloat16(__bfloat162float(dst[d]) + dqr[i][j]);
        }
    }
}

/* ---- launchers --------------------------------------------------------------- */

template <int BQ, int BK, int HDP>
static void launch_fwd(lb_ctx *ctx, cudaStream_t st, const bf16 *q, const bf16 *k, const bf16 *v, bf16 *out,
                       float *lse, const attn_shape &sh)
{
    constexpr size_t smem = fwd_smem_bytes<BQ, BK, HDP>();
    LB_CUDA_CHECK(cudaFuncSetAttribute(attn_fwd_kernel<BQ, BK, HDP>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((sh.T + BQ - 1) / BQ), (unsigned)sh.nh, (unsigned)sh.B);
    attn_fwd_kernel<BQ, BK, HDP><<<grid, ATTN_THREADS, smem, st>>>(q, k, v, out, lse, sh);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

template <int BQ, int BK, int HDP>
static void launch_bwd(lb_ctx *ctx, cudaStream_t st, const bf16 *q, const bf16 *k, const bf16 *v,
                       const bf16 *dout, const float *lse, const float *D, bf16 *dq, bf16 *dk,
                       bf16 *dv, const attn_shape &sh)
{
    constexpr size_t smem = bwd_smem_bytes<BQ, BK, HDP>();
    if (dk || dv) {
        LB_CUDA_CHECK(cudaFuncSetAttribute(attn_bwd_dkdv_kernel<BQ, BK, HDP>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        dim3 grid((unsigned)((sh.S + BK - 1) / BK), (unsigned)sh.nkv, (unsigned)sh.B);
        attn_bwd_dkdv_kernel<BQ, BK, HDP><<<grid, ATTN_THREADS, smem, st>>>(q, k, v, dout, lse, D,
                                                                            dk, dv, sh);
        LB_CUDA_LAUNCH_CHECK(ctx);
    }
    if (dq) {
        LB_CUDA_CHECK(cudaFuncSetAttribute(attn_bwd_dq_kernel<BQ, BK, HDP>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        dim3 grid((unsigned)((sh.T + BQ - 1) / BQ), (unsigned)sh.nh, (unsigned)sh.B);
        attn_bwd_dq_kernel<BQ, BK, HDP><<<grid, ATTN_THREADS, smem, st>>>(q, k, v, dout, lse, D, dq,
                                                                          sh);
        LB_CUDA_LAUNCH_CHECK(ctx);
    }
}

static attn_shape make_shape(int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv, int64_t hd,
                             int64_t q_pos0)
{
    attn_shape sh;
    sh.B = (int)B;
    sh.T = (int)T;
    sh.S = (int)S;
    sh.nh = (int)nh;
    sh.nkv = (int)nkv;
    sh.hd = (int)hd;
    sh.q_pos0 = (int)q_pos0;
    sh.group = (int)(nh / nkv);
    sh.scale = 1.0f / sqrtf((float)hd);
    return sh;
}

extern "C" void lb_cuda_attention_fwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                      void *out, float *lse, int64_t B, int64_t T, int64_t S,
                                      int64_t nh, int64_t nkv, int64_t hd, int64_t q_pos0)
{
    LB_CHECKF(hd >= 1 && hd <= LB_CUDA_ATTENTION_MAX_HD,
              "lb_cuda_attention_fwd: head dim %lld is over %d", (long long)hd,
              LB_CUDA_ATTENTION_MAX_HD);
    if (B == 0 || T == 0 || nh == 0) return;
    cudaStream_t st = lb_cuda_stream(ctx);
    attn_shape sh = make_shape(B, T, S, nh, nkv, hd, q_pos0);
    const bf16 *qp = (const bf16 *)q, *kp = (const bf16 *)k, *vp = (const bf16 *)v;
    bf16 *op = (bf16 *)out;
    if (hd <= 64)
        launch_fwd<64, 64, 64>(ctx, st, qp, kp, vp, op, lse, sh);
    else if (hd <= 128)
        launch_fwd<64, 64, 128>(ctx, st, qp, kp, vp, op, lse, sh);
    else
        launch_fwd<32, 32, 256>(ctx, st, qp, kp, vp, op, lse, sh);
}

extern "C" void lb_cuda_attention_bwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                      const void *out, const float *lse, const void *dout,
                                      void *dq, void *dk, void *dv, int64_t B, int64_t T,
                                      int64_t S, int64_t nh, int64_t nkv, int64_t hd,
                                      int64_t q_pos0)
{
    LB_CHECKF(hd >= 1 && hd <= LB_CUDA_ATTENTION_MAX_HD,
              "lb_cuda_attention_bwd: head dim %lld is over %d", (long long)hd,
              LB_CUDA_ATTENTION_MAX_HD);
    if (B == 0 || T == 0 || nh == 0 || S == 0) return;
    cudaStream_t st = lb_cuda_stream(ctx);
    attn_shape sh = make_shape(B, T, S, nh, nkv, hd, q_pos0);
    const int64_t nrows = B * T * nh;
    float *D = (float *)lb_cuda_step_alloc(ctx, (size_t)nrows * sizeof(float));   // (B, nh, T)
    attn_bwd_dot_kernel<<<(unsigned)((nrows + 7) / 8), 256, 0, st>>>(
        (const bf16 *)out, (const bf16 *)dout, D, sh);
    LB_CUDA_LAUNCH_CHECK(ctx);
    const bf16 *qp = (const bf16 *)q, *kp = (const bf16 *)k, *vp = (const bf16 *)v;
    const bf16 *gp = (const bf16 *)dout;
    bf16 *dqp = (bf16 *)dq, *dkp = (bf16 *)dk, *dvp = (bf16 *)dv;
    if (hd <= 64)
        launch_bwd<64, 64, 64>(ctx, st, qp, kp, vp, gp, lse, D, dqp, dkp, dvp, sh);
    else if (hd <= 128)
        launch_bwd<64, 64, 128>(ctx, st, qp, kp, vp, gp, lse, D, dqp, dkp, dvp, sh);
    else
        launch_bwd<32, 32, 256>(ctx, st, qp, kp, vp, gp, lse, D, dqp, dkp, dvp, sh);
}
