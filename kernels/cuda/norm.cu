/* norm.cu — RMSNorm, LayerNorm and the fused residual-add + RMSNorm on
 * CUDA, forward and backward.
 *
 * Dtypes: x, r, h, out, dout, dx have the activation dtype dt (bf16 in
 * training; f32 works too); w and b are f32 master parameters (C); mean and
 * rstd f32 (rows); dw and db f32 (C). All arithmetic in fp32 registers; the
 * row statistics are fp32 block reductions (the CPU sums in double: the
 * difference is far under bf16 rounding).
 *
 * Forward: one block per row; the row is read twice (statistics, then the
 * output; the re-read hits L1/L2). Backward: a fixed grid of at most
 * LB_NORM_PARTS blocks, block k taking rows k, k + parts, ...; each block
 * ACCUMULATES dx for its rows and keeps its own partial dw (and db) in
 * shared memory (in the global partial buffer for rows wider than
 * LB_NORM_SMEM_COLS); lb_colsum_acc_kernel then adds the partials in block
 * order into dw. A deterministic two-pass reduction, no atomics: reruns are
 * bit-identical.
 *
 * RMSNorm in bf16 with C a multiple of 256 up to LB_NORM_WARP_MAXC (every
 * Llama width to 4096) and 16-byte aligned rows takes the warp path
 * instead: one warp per row, 16-byte loads and stores (lane l owns columns
 * 8 (32 p + l) .. + 7 of each 256-column pack p), warp-shuffle sums, no
 * block barriers. Its backward runs a fixed grid of warps, warp k taking
 * rows k, k + warps, ... and keeping its partial dw in registers; a block
 * sums its warps' partials in warp order in shared memory and the same
 * column sum over blocks finishes dw. It may OVERWRITE dx (a new grad)
 * instead of adding to it.
 *
 * Not here: the norm modules (layers/), the CPU specification
 * (kernels/cpu/norm.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

/* Row groups of the backward: each block walks its rows one after another
 * (two block reductions per row: latency-bound), so it takes enough
 * 512-thread blocks for several waves of 4 per multiprocessor on an H100
 * (132 SMs) while the partials stay small (parts x C floats: 8 MiB at
 * C = 2048). 256 ran the (8192, 2048) bf16 backward at 181 us (0.35 TB/s)
 * inside a training step. Fixed, so results do not depend on the GPU model. */
#define LB_NORM_PARTS 1024

/* Columns whose partial sums fit the default 48 KB of shared memory. */
#define LB_NORM_SMEM_COLS 12288

/* The warp path: rows up to 16 packs of 256 columns (a lane holds 8 floats
 * per pack in registers), 4 rows (warps) per block in the forward. The
 * backward runs at most LB_NORM_BWD_BLOCKS blocks of LB_NORM_BWD_WARPS
 * warps (2048 warps: ~16 per multiprocessor on an H100, rows of 2048 at
 * ~100 registers a thread), one partial dw row per block. Fixed, so results
 * do not depend on the GPU model. */
#define LB_NORM_WARP_MAXC 4096
#define LB_NORM_WARP_THREADS 128
#define LB_NORM_BWD_WARPS 8
#define LB_NORM_BWD_BLOCKS 256

/* r == NULL: out = rmsnorm(x). r != NULL: h = x + r (rounded to T, written)
 * and out = rmsnorm(h), the statistics taken on the rounded h, as the
 * unfused add then rmsnorm would. OVERWRITES out, h, rstd (may be NULL). */
template <typename T>
__global__ void rmsnorm_fwd_kernel(const T *x, const T *r, const float *w, T *h, T *out,
                                   float *rstd, int64_t C, float eps)
{
    int64_t row = blockIdx.x;
    const T *xr = x + row * C;
    float ss = 0.0f;
    if (r) {
        const T *rr = r + row * C;
        T *hr = h + row * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            lb_st(hr + c, lb_ld(xr + c) + lb_ld(rr + c));
            float v = lb_ld(hr + c);
            ss += v * v;
        }
        xr = hr;   /* each thread re-reads only elements it wrote itself */
    } else {
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            float v = lb_ld(xr + c);
            ss += v * v;
        }
    }
    ss = lb_block_sum(ss);
    float rs = 1.0f / sqrtf(ss / (float)C + eps);
    T *yr = out + row * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) lb_st(yr + c, (lb_ld(xr + c) * rs) * w[c]);
    if (rstd && threadIdx.x == 0) rstd[row] = rs;
}

/* With xh = x * rstd and g = dout * w:
 *   dx += rstd * (g - xh * mean(g * xh)),  dw part += dout * xh. */
template <typename T>
__global__ void rmsnorm_bwd_kernel(const T *x, const float *w, const float *rstd, const T *dout,
                                   T *dx, float *dwpart, int64_t rows, int64_t C, bool smem)
{
    extern __shared__ float sdw[];   // (C) when smem
    float *acc = dwpart ? (smem ? sdw : dwpart + (int64_t)blockIdx.x * C) : NULL;
    if (acc)
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) acc[c] = 0.0f;
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xr = x + row * C, *dy = dout + row * C;
        float rs = rstd[row];
        if (dx) {
            float dot = 0.0f;
            for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
                dot += (lb_ld(dy + c) * w[c]) * (lb_ld(xr + c) * rs);
            float m = lb_block_sum(dot) / (float)C;
            T *dxr = dx + row * C;
            for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
                lb_acc(dxr + c, rs * (lb_ld(dy + c) * w[c] - (lb_ld(xr + c) * rs) * m));
        }
        if (acc)
            for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
                acc[c] += lb_ld(dy + c) * (lb_ld(xr + c) * rs);
    }
    if (acc && smem)
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
            dwpart[(int64_t)blockIdx.x * C + c] = sdw[c];
}

template <typename T>
__global__ void layernorm_fwd_kernel(const T *x, const float *w, const float *b, T *out,
                                     float *mean, float *rstd, int64_t C, float eps)
{
    int64_t row = blockIdx.x;
    const T *xr = x + row * C;
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += lb_ld(xr + c);
    float m = lb_block_sum(s) / (float)C;
    float var = 0.0f;   /* two passes: no cancellation when |mean| >> std */
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        float d = lb_ld(xr + c) - m;
        var += d * d;
    }
    float rs = 1.0f / sqrtf(lb_block_sum(var) / (float)C + eps);
    T *yr = out + row * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        float v = ((lb_ld(xr + c) - m) * rs) * w[c];
        lb_st(yr + c, b ? v + b[c] : v);
    }
    if (threadIdx.x == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = rs;
    }
}

/* With xh = (x - mean) * rstd and g = dout * w:
 *   dx += rstd * (g - mean(g) - xh * mean(g * xh)),
 *   dw part += dout * xh,  db part += dout. */
template <typename T>
__global__ void layernorm_bwd_kernel(const T *x, const float *w, const float *mean,
                                     const float *rstd, const T *dout, T *dx, float *dwpart,
                                     float *dbpart, int64_t rows, int64_t C, bool smem)
{
    extern __shared__ float spart[];   // (2, C) when smem: dw, then db
    float *aw = NULL, *ab = NULL;
    if (dwpart) aw = smem ? spart : dwpart + (int64_t)blockIdx.x * C;
    if (dbpart) ab = smem ? spart + C : dbpart + (int64_t)blockIdx.x * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        if (aw) aw[c] = 0.0f;
        if (ab) ab[c] = 0.0f;
    }
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xr = x + row * C, *dy = dout + row * C;
        float m = mean[row], rs = rstd[row];
        if (dx) {
            float sg = 0.0f, sgx = 0.0f;
            for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
                float g = lb_ld(dy + c) * w[c];
                sg += g;
                sgx += g * ((lb_ld(xr + c) - m) * rs);
            }
            float mg = lb_block_sum(sg) / (float)C;
            float mgx = lb_block_sum(sgx) / (float)C;
            T *dxr = dx + row * C;
            for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
                lb_acc(dxr + c, rs * (lb_ld(dy + c) * w[c] - mg - ((lb_ld(xr + c) - m) * rs) * mgx));
        }
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            float d = lb_ld(dy + c);
            if (aw) aw[c] += d * ((lb_ld(xr + c) - m) * rs);
            if (ab) ab[c] += d;
        }
    }
    if (smem) {
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            if (dwpart) dwpart[(int64_t)blockIdx.x * C + c] = aw[c];
            if (dbpart) dbpart[(int64_t)blockIdx.x * C + c] = ab[c];
        }
    }
}

/* dx += dh and dr += dh: the residual add's backward in one pass. */
template <typename T>
__global__ void residual_bwd_kernel(const T *dh, T *dx, T *dr, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float g = lb_ld(dh + i);
        if (dx) lb_acc(dx + i, g);
        if (dr) lb_acc(dr + i, g);
    }
}

/* ---- the warp path (bf16, C % 256 == 0, C <= LB_NORM_WARP_MAXC) ---------------- */

/* bf16 round trip of v: what a bf16 store then load gives */
static __device__ __forceinline__ float round_bf16(float v)
{
    return __bfloat162float(__float2bfloat16_rn(v));
}

/* As rmsnorm_fwd_kernel, one warp per row: r == NULL: out = rmsnorm(x);
 * else h = x + r (rounded, written) and out = rmsnorm(h). MAXP: packs of
 * 256 columns held per lane (C / 256 <= MAXP). OVERWRITES h, out, rstd. */
template <int MAXP>
__global__ void __launch_bounds__(LB_NORM_WARP_THREADS)
rmsnorm_fwd_warp_kernel(const bf16 *x, const bf16 *r, const float *w, bf16 *h, bf16 *out,
                        float *rstd, int64_t rows, int C, float eps)
{
    int lane = threadIdx.x & 31;
    int64_t row = (int64_t)blockIdx.x * (LB_NORM_WARP_THREADS / 32) + (threadIdx.x >> 5);
    if (row >= rows) return;
    int np = C >> 8;
    uint4 hv[MAXP];   /* the row (after the add), as bf16 packs */
    float ss = 0.0f;
#pragma unroll
    for (int p = 0; p < MAXP; p++) {
        if (p >= np) break;
        int64_t off = row * C + (int64_t)(p * 32 + lane) * LB_PACK;
        float v[LB_PACK];
        lb_ld8(x + off, v);
        if (r) {
            float b[LB_PACK];
            lb_ld8(r + off, b);
#pragma unroll
            for (int k = 0; k < LB_PACK; k++) v[k] = round_bf16(v[k] + b[k]);
            lb_st8(h + off, v);
        }
        bf16 *hb = reinterpret_cast<bf16 *>(&hv[p]);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) {
            hb[k] = __float2bfloat16_rn(v[k]);
            ss += v[k] * v[k];
        }
    }
    ss = lb_warp_sum(ss);
    float rs = 1.0f / sqrtf(ss / (float)C + eps);
#pragma unroll
    for (int p = 0; p < MAXP; p++) {
        if (p >= np) break;
        int c0 = (p * 32 + lane) * LB_PACK;
        float v[LB_PACK], wv[LB_PACK];
        lb_ld8(reinterpret_cast<const bf16 *>(&hv[p]), v);
        lb_ld8(w + c0, wv);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) v[k] = (v[k] * rs) * wv[k];
        lb_st8(out + row * C + c0, v);
    }
    if (rstd && lane == 0) rstd[row] = rs;
}

/* As rmsnorm_bwd_kernel, one warp per row: block b's warp w is warp
 * k = b * LB_NORM_BWD_WARPS + w of nwarps = gridDim.x * LB_NORM_BWD_WARPS and
 * takes rows k, k + nwarps, ...: dx (+)= rstd * (g - xh * mean(g * xh))
 * (ACC: add), its partial dw (C) += dout * xh in registers; then the
 * block's warps add their partials into shared memory in warp order and
 * the block writes one partial row, dwpart[b]. The row is read once for the
 * sums and again (from L1/L2) for dx. Dynamic shared memory: C floats. */
template <int MAXP, bool ACC>
__global__ void __launch_bounds__(LB_NORM_BWD_WARPS * 32)
rmsnorm_bwd_warp_kernel(const bf16 *x, const float *w, const float *rstd, const bf16 *dout,
                        bf16 *dx, float *dwpart, int64_t rows, int C)
{
    extern __shared__ float sdw[];   // (C)
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    int64_t nwarps = (int64_t)gridDim.x * LB_NORM_BWD_WARPS;
    int np = C >> 8;
    float acc[MAXP][LB_PACK];
#pragma unroll
    for (int p = 0; p < MAXP; p++)
#pragma unroll
        for (int e = 0; e < LB_PACK; e++) acc[p][e] = 0.0f;
    for (int64_t row = (int64_t)blockIdx.x * LB_NORM_BWD_WARPS + wid; row < rows; row += nwarps) {
        const bf16 *xr = x + row * C, *dy = dout + row * C;
        float rs = rstd[row], dot = 0.0f;
#pragma unroll
        for (int p = 0; p < MAXP; p++) {
            if (p >= np) break;
            int c0 = (p * 32 + lane) * LB_PACK;
            float xv[LB_PACK], gv[LB_PACK], wv[LB_PACK];
            lb_ld8(xr + c0, xv);
            lb_ld8(dy + c0, gv);
            lb_ld8(w + c0, wv);
#pragma unroll
            for (int e = 0; e < LB_PACK; e++) {
                float xh = xv[e] * rs;
                dot += (gv[e] * wv[e]) * xh;
                acc[p][e] += gv[e] * xh;
            }
        }
        if (!dx) continue;
        float m = lb_warp_sum(dot) / (float)C;
#pragma unroll
        for (int p = 0; p < MAXP; p++) {
            if (p >= np) break;
            int c0 = (p * 32 + lane) * LB_PACK;
            float xv[LB_PACK], gv[LB_PACK], wv[LB_PACK], o[LB_PACK];
            lb_ld8(xr + c0, xv);
            lb_ld8(dy + c0, gv);
            lb_ld8(w + c0, wv);
            if (ACC) lb_ld8(dx + row * C + c0, o);
#pragma unroll
            for (int e = 0; e < LB_PACK; e++) {
                float d = rs * (gv[e] * wv[e] - (xv[e] * rs) * m);
                o[e] = ACC ? o[e] + d : d;
            }
            lb_st8(dx + row * C + c0, o);
        }
    }
    if (!dwpart) return;   /* uniform over the grid: no barrier is skipped by some threads only */
    for (int v = 0; v < LB_NORM_BWD_WARPS; v++) {   /* fixed warp order: deterministic */
        if (wid == v) {
#pragma unroll
            for (int p = 0; p < MAXP; p++) {
                if (p >= np) break;
                int c0 = (p * 32 + lane) * LB_PACK;
#pragma unroll
                for (int e = 0; e < LB_PACK; e++) sdw[c0 + e] = v ? sdw[c0 + e] + acc[p][e] : acc[p][e];
            }
        }
        __syncthreads();
    }
    for (int c = threadIdx.x; c < C; c += blockDim.x) dwpart[(int64_t)blockIdx.x * C + c] = sdw[c];
}

/* warp_ok: the warp path applies (see the top of the file) */
static bool warp_ok(lb_dtype dt, int64_t C, const void *a, const void *b, const void *c,
                    const void *d)
{
    return dt == LB_BF16 && C % 256 == 0 && C <= LB_NORM_WARP_MAXC && lb_aligned16(a) &&
           lb_aligned16(b) && lb_aligned16(c) && lb_aligned16(d);
}

static void rmsnorm_fwd_warp(lb_ctx *ctx, const void *x, const void *r, const float *w, void *h,
                             void *out, float *rstd, int64_t rows, int64_t C, float eps)
{
    int per = LB_NORM_WARP_THREADS / 32;
    unsigned grid = (unsigned)((rows + per - 1) / per);
    cudaStream_t s = lb_cuda_stream(ctx);
    if (C <= 2048)
        rmsnorm_fwd_warp_kernel<8><<<grid, LB_NORM_WARP_THREADS, 0, s>>>(
            (const bf16 *)x, (const bf16 *)r, w, (bf16 *)h, (bf16 *)out, rstd, rows, (int)C, eps);
    else
        rmsnorm_fwd_warp_kernel<16><<<grid, LB_NORM_WARP_THREADS, 0, s>>>(
            (const bf16 *)x, (const bf16 *)r, w, (bf16 *)h, (bf16 *)out, rstd, rows, (int)C, eps);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* rmsnorm_bwd_warp_launch: `blocks` blocks of LB_NORM_BWD_WARPS warps;
 * part (blocks, C) or NULL */
template <bool ACC>
static void rmsnorm_bwd_warp_launch(lb_ctx *ctx, const void *x, const float *w, const float *rstd,
                                    const void *dout, void *dx, float *part, int64_t rows,
                                    int64_t C, int blocks)
{
    cudaStream_t s = lb_cuda_stream(ctx);
    size_t sh = part ? (size_t)C * sizeof(float) : 0;
    if (C <= 2048)
        rmsnorm_bwd_warp_kernel<8, ACC><<<blocks, LB_NORM_BWD_WARPS * 32, sh, s>>>(
            (const bf16 *)x, w, rstd, (const bf16 *)dout, (bf16 *)dx, part, rows, (int)C);
    else
        rmsnorm_bwd_warp_kernel<16, ACC><<<blocks, LB_NORM_BWD_WARPS * 32, sh, s>>>(
            (const bf16 *)x, w, rstd, (const bf16 *)dout, (bf16 *)dx, part, rows, (int)C);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- launchers ---------------------------------------------------------------- */

static int norm_parts(int64_t rows) { return (int)(rows < LB_NORM_PARTS ? rows : LB_NORM_PARTS); }

/* finish_colsum: dst (C) += the column sums of part (nparts, C) (= when
 * overwrite: dst is marked zero), then frees part (stream-ordered). */
static void finish_colsum(lb_ctx *ctx, float *part, float *dst, int nparts, int64_t C, bool overwrite)
{
    lb_colsum_acc_kernel<<<(unsigned)((C + 255) / 256), 256, 0, lb_cuda_stream(ctx)>>>(
        part, dst, nparts, C, overwrite);
    LB_CUDA_LAUNCH_CHECK(ctx);
    lb_cuda_tmp_free(ctx, part);
}

void lb_cuda_rmsnorm_fwd(lb_ctx *ctx, const void *x, const float *w, void *out, float *rstd,
                         int64_t rows, int64_t C, float eps, lb_dtype dt)
{
    if (rows == 0 || C == 0) return;
    if (warp_ok(dt, C, x, w, out, NULL)) {
        rmsnorm_fwd_warp(ctx, x, NULL, w, NULL, out, rstd, rows, C, eps);
        return;
    }
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        rmsnorm_fwd_kernel<T><<<(unsigned)rows, lb_row_threads(C), 0, s>>>(
            (const T *)x, (const T *)NULL, w, (T *)NULL, (T *)out, rstd, C, eps));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_add_rmsnorm_fwd(lb_ctx *ctx, const void *x, const void *r, const float *w, void *h,
                             void *out, float *rstd, int64_t rows, int64_t C, float eps,
                             lb_dtype dt)
{
    if (rows == 0 || C == 0) return;
    if (warp_ok(dt, C, x, r, w, h) && lb_aligned16(out)) {
        rmsnorm_fwd_warp(ctx, x, r, w, h, out, rstd, rows, C, eps);
        return;
    }
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        rmsnorm_fwd_kernel<T><<<(unsigned)rows, lb_row_threads(C), 0, s>>>(
            (const T *)x, (const T *)r, w, (T *)h, (T *)out, rstd, C, eps));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_rmsnorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *rstd,
                         const void *dout, void *dx, bool overwrite, float *dw, bool dw_overwrite,
                         int64_t rows, int64_t C, lb_dtype dt)
{
    if (rows == 0 || C == 0 || (!dx && !dw)) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    int parts = norm_parts(rows);
    if (warp_ok(dt, C, x, w, dout, dx)) {
        int64_t need = (rows + LB_NORM_BWD_WARPS - 1) / LB_NORM_BWD_WARPS;
        int blocks = (int)(need < LB_NORM_BWD_BLOCKS ? need : LB_NORM_BWD_BLOCKS);
        float *wpart = dw ? (float *)lb_cuda_tmp_alloc(ctx, (size_t)blocks * C * sizeof(float)) : NULL;
        if (overwrite)
            rmsnorm_bwd_warp_launch<false>(ctx, x, w, rstd, dout, dx, wpart, rows, C, blocks);
        else
            rmsnorm_bwd_warp_launch<true>(ctx, x, w, rstd, dout, dx, wpart, rows, C, blocks);
        if (dw) finish_colsum(ctx, wpart, dw, blocks, C, dw_overwrite);
        return;
    }
    if (overwrite && dx) lb_cuda_memset_zero(ctx, dx, (size_t)(rows * C) * lb_dtype_size(dt));
    bool smem = C <= LB_NORM_SMEM_COLS;
    float *part = dw ? (float *)lb_cuda_tmp_alloc(ctx, (size_t)parts * C * sizeof(float)) : NULL;
    size_t shbytes = dw && smem ? (size_t)C * sizeof(float) : 0;
    LB_DISPATCH_FLOAT(dt, T,
        rmsnorm_bwd_kernel<T><<<parts, lb_row_threads(C), shbytes, s>>>(
            (const T *)x, w, rstd, (const T *)dout, (T *)dx, part, rows, C, smem));
    LB_CUDA_LAUNCH_CHECK(ctx);
    if (dw) finish_colsum(ctx, part, dw, parts, C, dw_overwrite);
}

void lb_cuda_layernorm_fwd(lb_ctx *ctx, const void *x, const float *w, const float *b, void *out,
                           float *mean, float *rstd, int64_t rows, int64_t C, float eps,
                           lb_dtype dt)
{
    if (rows == 0 || C == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        layernorm_fwd_kernel<T><<<(unsigned)rows, lb_row_threads(C), 0, s>>>(
            (const T *)x, w, b, (T *)out, mean, rstd, C, eps));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_layernorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *mean,
                           const float *rstd, const void *dout, void *dx, float *dw,
                           bool dw_overwrite, float *db, bool db_overwrite, int64_t rows, int64_t C,
                           lb_dtype dt)
{
    if (rows == 0 || C == 0 || (!dx && !dw && !db)) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    int parts = norm_parts(rows);
    bool smem = C <= LB_NORM_SMEM_COLS / 2;
    size_t pbytes = (size_t)parts * C * sizeof(float);
    float *pw = dw ? (float *)lb_cuda_tmp_alloc(ctx, pbytes) : NULL;
    float *pb = db ? (float *)lb_cuda_tmp_alloc(ctx, pbytes) : NULL;
    size_t shbytes = (dw || db) && smem ? 2 * (size_t)C * sizeof(float) : 0;
    LB_DISPATCH_FLOAT(dt, T,
        layernorm_bwd_kernel<T><<<parts, lb_row_threads(C), shbytes, s>>>(
            (const T *)x, w, mean, rstd, (const T *)dout, (T *)dx, pw, pb, rows, C, smem));
    LB_CUDA_LAUNCH_CHECK(ctx);
    if (dw) finish_colsum(ctx, pw, dw, parts, C, dw_overwrite);
    if (db) finish_colsum(ctx, pb, db, parts, C, db_overwrite);
}

void lb_cuda_residual_bwd(lb_ctx *ctx, const void *dh, void *dx, void *dr, int64_t n, lb_dtype dt)
{
    if (n == 0 || (!dx && !dr)) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, n, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(dt, T,
        residual_bwd_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)dh, (T *)dx, (T *)dr, n));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
