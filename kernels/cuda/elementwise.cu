/* elementwise.cu — pointwise ops, broadcasting over leading dims, and sums,
 * on the GPU: the CUDA side of kernels/cpu/elementwise.c.
 *
 * One grid-stride kernel template (pointwise_kernel) runs every pointwise
 * forward and backward; each op is a small functor giving the fp32 formula.
 * Loads and stores move 8 elements with 16-byte accesses when every pointer
 * is 16-byte aligned and b is not broadcast or its period nb is a multiple
 * of 8 (so a pack of a never straddles a wrap of b); otherwise, and for the tail, one
 * element at a time. Broadcast grads (db of add and mul) are column sums in
 * two passes with fp32 partials and no atomics, so results are
 * deterministic. Not here: row-wise reductions (norm.cu, softmax.cu).
 */
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

/* ---- the pointwise engine ------------------------------------------------------
 * For i in [0, n): reads x0[i], x1[i] (dtype TA) and y[i % nb] (dtype TB),
 * calls f(x0, x1, y, r0, r1) in fp32, and writes r0 to o0[i] (TA) and r1 to
 * o1[i] (TB; only with nb == n). ACC: add to the outputs instead of
 * overwriting them. Absent operands are NULL and read as 0. */
template <typename TA, typename TB, bool ACC, class F>
__global__ void pointwise_kernel(F f, const TA *x0, const TA *x1, const TB *y, TA *o0, TB *o1,
                                 int64_t n, int64_t nb, bool vec)
{
    int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t npack = vec ? n / LB_PACK : 0;
    for (int64_t p = tid; p < npack; p += stride) {
        int64_t i = p * LB_PACK;
        float a[LB_PACK] = {0}, b[LB_PACK] = {0}, c[LB_PACK] = {0}, r0[LB_PACK], r1[LB_PACK];
        if (x0) lb_ld8(x0 + i, a);
        if (x1) lb_ld8(x1 + i, b);
        if (y) lb_ld8(y + (nb == n ? i : i % nb), c);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) f(a[k], b[k], c[k], r0[k], r1[k]);
        if (o0) {
            if (ACC) {
                float old[LB_PACK];
                lb_ld8(o0 + i, old);
#pragma unroll
                for (int k = 0; k < LB_PACK; k++) r0[k] += old[k];
            }
            lb_st8(o0 + i, r0);
        }
        if (o1) {
            if (ACC) {
                float old[LB_PACK];
                lb_ld8(o1 + i, old);
#pragma unroll
                for (int k = 0; k < LB_PACK; k++) r1[k] += old[k];
            }
            lb_st8(o1 + i, r1);
        }
    }
    for (int64_t i = npack * LB_PACK + tid; i < n; i += stride) {
        float a = x0 ? lb_ld(x0 + i) : 0.0f, b = x1 ? lb_ld(x1 + i) : 0.0f;
        float c = y ? lb_ld(y + (nb == n ? i : i % nb)) : 0.0f, r0, r1;
        f(a, b, c, r0, r1);
        if (o0) lb_st(o0 + i, ACC ? lb_ld(o0 + i) + r0 : r0);
        if (o1) lb_st(o1 + i, ACC ? lb_ld(o1 + i) + r1 : r1);
    }
}

template <bool ACC, class F>
static void pointwise2(lb_ctx *ctx, F f, const void *x0, const void *x1, const void *y, void *o0,
                       void *o1, int64_t n, int64_t nb, lb_dtype ta, lb_dtype tb)
{
    if (n <= 0) return;
    bool vec = lb_aligned16(x0) && lb_aligned16(x1) && lb_aligned16(y) && lb_aligned16(o0) &&
               lb_aligned16(o1) && (!y || nb == n || nb % LB_PACK == 0);
    unsigned grid = lb_cuda_grid(ctx, vec ? (n + LB_PACK - 1) / LB_PACK : n, LB_CUDA_THREADS);
    cudaStream_t stream = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(ta, TA, LB_DISPATCH_FLOAT(tb, TB,
        pointwise_kernel<TA, TB, ACC><<<grid, LB_CUDA_THREADS, 0, stream>>>(
            f, (const TA *)x0, (const TA *)x1, (const TB *)y, (TA *)o0, (TB *)o1, n, nb, vec)));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* pointwise1: every operand of dtype dt, no broadcast (y and o1 unused). */
template <bool ACC, class F>
static void pointwise1(lb_ctx *ctx, F f, const void *x0, const void *x1, void *o0, int64_t n,
                       lb_dtype dt)
{
    if (n <= 0) return;
    bool vec = lb_aligned16(x0) && lb_aligned16(x1) && lb_aligned16(o0);
    unsigned grid = lb_cuda_grid(ctx, vec ? (n + LB_PACK - 1) / LB_PACK : n, LB_CUDA_THREADS);
    cudaStream_t stream = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        pointwise_kernel<T, T, ACC><<<grid, LB_CUDA_THREADS, 0, stream>>>(
            f, (const T *)x0, (const T *)x1, (const T *)NULL, (T *)o0, (T *)NULL, n, n, vec));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- broadcast column sums --------------------------------------------------------
 * db (nb, dtype TB) += sum over rows r of dout[r, j] * (a ? a[r, j] : 1),
 * dout and a (rows, nb) of dtype TA. Pass 1: blocks of 32 columns x 8 row
 * lanes each sum one chunk of rows into fp32 partials (chunks, nb). Pass 2:
 * each column adds its chunks' partials in chunk order, then adds to db
 * (one rounding to TB). */
#define COLSUM_COLS 32
#define COLSUM_LANES 8

template <typename TA>
__global__ void colsum_partial_kernel(const TA *dout, const TA *a, float *partial, int64_t rows,
                                      int64_t nb, int64_t rows_per_chunk)
{
    __shared__ float sh[COLSUM_LANES][COLSUM_COLS + 1];
    int64_t j = (int64_t)blockIdx.x * COLSUM_COLS + threadIdx.x;
    int64_t r0 = (int64_t)blockIdx.y * rows_per_chunk;
    int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    float acc = 0.0f;
    if (j < nb)
        for (int64_t r = r0 + threadIdx.y; r < r1; r += COLSUM_LANES) {
            float g = lb_ld(dout + r * nb + j);
            if (a) g *= lb_ld(a + r * nb + j);
            acc += g;
        }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < nb) {
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < COLSUM_LANES; k++) s += sh[k][threadIdx.x];
        partial[(int64_t)blockIdx.y * nb + j] = s;
    }
}

template <typename TB>
__global__ void colsum_finish_kernel(const float *partial, TB *db, int64_t chunks, int64_t nb)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < nb; j += stride) {
        float s = 0.0f;
        for (int64_t c = 0; c < chunks; c++) s += partial[c * nb + j];
        lb_st(db + j, lb_ld(db + j) + s);
    }
}

static void colsum_acc(lb_ctx *ctx, const void *dout, const void *a, void *db, int64_t rows,
                       int64_t nb, lb_dtype ta, lb_dtype tb)
{
    if (rows <= 0 || nb <= 0) return;
    int64_t col_blocks = (nb + COLSUM_COLS - 1) / COLSUM_COLS;
    /* about 4 blocks per multiprocessor in all, each chunk at least
     * COLSUM_LANES rows, at most 65535 chunks (the grid's y limit) */
    int64_t target = 4 * (int64_t)lb_cuda_state_of(ctx)->sm_count;
    int64_t chunks = (target + col_blocks - 1) / col_blocks;
    int64_t max_chunks = (rows + COLSUM_LANES - 1) / COLSUM_LANES;
    if (chunks > max_chunks) chunks = max_chunks;
    if (chunks > 65535) chunks = 65535;
    if (chunks < 1) chunks = 1;
    int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;

    float *partial = (float *)lb_cuda_tmp_alloc(ctx, (size_t)(chunks * nb) * sizeof(float));
    cudaStream_t stream = lb_cuda_stream(ctx);
    dim3 grid1((unsigned)col_blocks, (unsigned)chunks), block1(COLSUM_COLS, COLSUM_LANES);
    LB_DISPATCH_FLOAT(ta, TA,
        colsum_partial_kernel<TA><<<grid1, block1, 0, stream>>>(
            (const TA *)dout, (const TA *)a, partial, rows, nb, rows_per_chunk));
    LB_CUDA_LAUNCH_CHECK(ctx);
    unsigned grid2 = lb_cuda_grid(ctx, nb, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(tb, TB,
        colsum_finish_kernel<TB><<<grid2, LB_CUDA_THREADS, 0, stream>>>(partial, (TB *)db, chunks,
                                                                        nb));
    LB_CUDA_LAUNCH_CHECK(ctx);
    lb_cuda_tmp_free(ctx, partial);
}

/* ---- the formulas (same as kernels/cpu/elementwise.c) ------------------------------ */

static __device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

/* silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x) */
static __device__ __forceinline__ float silu_grad(float x)
{
    float s = sigmoidf_(x);
    return s * (1.0f + x * (1.0f - s));
}

#define LB_SQRT_2_OVER_PI 0.7978845608028654f
#define LB_INV_SQRT_2 0.7071067811865476f
#define LB_INV_SQRT_2PI 0.3989422804014327f
#define LB_GELU_KAPPA 0.044715f

struct AddF {
    __device__ void operator()(float a, float, float b, float &r0, float &r1) const
    {
        r0 = a + b;
        r1 = 0.0f;
    }
};
struct MulF {
    __device__ void operator()(float a, float, float b, float &r0, float &r1) const
    {
        r0 = a * b;
        r1 = 0.0f;
    }
};
/* mul backward, a pointwise pass: r0 = dout * b (-> da), r1 = dout * a
 * (-> db when b has a's full shape); x0 = dout, x1 = a, y = b. */
struct MulBwdF {
    __device__ void operator()(float dout, float a, float b, float &r0, float &r1) const
    {
        r0 = dout * b;
        r1 = dout * a;
    }
};
/* r0 = s * x0 (scale forward and backward, and the plain copy-add with s = 1) */
struct ScaleF {
    float s;
    __device__ void operator()(float x, float, float, float &r0, float &r1) const
    {
        r0 = s * x;
        r1 = 0.0f;
    }
};
/* r0 = r1 = x0 (add backward: dout to da and to a full-shape db) */
struct CopyBothF {
    __device__ void operator()(float x, float, float, float &r0, float &r1) const
    {
        r0 = x;
        r1 = x;
    }
};
struct SiluF {
    __device__ void operator()(float x, float, float, float &r0, float &r1) const
    {
        r0 = x * sigmoidf_(x);
        r1 = 0.0f;
    }
};
struct SiluBwdF {   /* x0 = x, x1 = dout */
    __device__ void operator()(float x, float dout, float, float &r0, float &r1) const
    {
        r0 = dout * silu_grad(x);
        r1 = 0.0f;
    }
};
struct GeluF {
    bool tanh_form;
    __device__ void operator()(float v, float, float, float &r0, float &r1) const
    {
        if (tanh_form) {
            float inner = LB_SQRT_2_OVER_PI * (v + LB_GELU_KAPPA * v * v * v);
            r0 = 0.5f * v * (1.0f + tanhf(inner));
        } else {
            r0 = 0.5f * v * (1.0f + erff(v * LB_INV_SQRT_2));
        }
        r1 = 0.0f;
    }
};
struct GeluBwdF {   /* x0 = x, x1 = dout */
    bool tanh_form;
    __device__ void operator()(float v, float dout, float, float &r0, float &r1) const
    {
        float g;
        if (tanh_form) {
            float inner = LB_SQRT_2_OVER_PI * (v + LB_GELU_KAPPA * v * v * v);
            float t = tanhf(inner);
            float dinner = LB_SQRT_2_OVER_PI * (1.0f + 3.0f * LB_GELU_KAPPA * v * v);
            g = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner;
        } else {
            g = 0.5f * (1.0f + erff(v * LB_INV_SQRT_2)) + v * LB_INV_SQRT_2PI * expf(-0.5f * v * v);
        }
        r0 = dout * g;
        r1 = 0.0f;
    }
};
struct SwigluF {    /* x0 = gate, x1 = up */
    __device__ void operator()(float gate, float up, float, float &r0, float &r1) const
    {
        r0 = gate * sigmoidf_(gate) * up;
        r1 = 0.0f;
    }
};
/* swiglu backward: x0 = gate, x1 = up, y = dout (same dtype, nb = n):
 * r0 -> dgate, r1 -> dup */
struct SwigluBwdF {
    __device__ void operator()(float gate, float up, float dout, float &r0, float &r1) const
    {
        r0 = dout * up * silu_grad(gate);
        r1 = dout * gate * sigmoidf_(gate);
    }
};
/* r0 = *v (a device scalar, read once per element from cache) */
struct DevScalarF {
    const float *v;
    __device__ void operator()(float, float, float, float &r0, float &r1) const
    {
        r0 = *v;
        r1 = 0.0f;
    }
};
struct ConstF {
    float v;
    __device__ void operator()(float, float, float, float &r0, float &r1) const
    {
        r0 = v;
        r1 = 0.0f;
    }
};

/* ---- the entry points ---------------------------------------------------------------- */

void lb_cuda_add_fwd(lb_ctx *ctx, const void *a, const void *b, void *out, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb)
{
    pointwise2<false>(ctx, AddF{}, a, NULL, b, out, NULL, n, nb, ta, tb);
}

void lb_cuda_add_bwd(lb_ctx *ctx, const void *dout, void *da, void *db, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb)
{
    bool full = nb == n;
    if (da || (db && full))
        pointwise2<true>(ctx, CopyBothF{}, dout, NULL, NULL, da, full ? db : NULL, n, nb, ta, tb);
    if (db && !full) colsum_acc(ctx, dout, NULL, db, n / nb, nb, ta, tb);
}

void lb_cuda_mul_fwd(lb_ctx *ctx, const void *a, const void *b, void *out, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb)
{
    pointwise2<false>(ctx, MulF{}, a, NULL, b, out, NULL, n, nb, ta, tb);
}

void lb_cuda_mul_bwd(lb_ctx *ctx, const void *a, const void *b, const void *dout, void *da,
                     void *db, int64_t n, int64_t nb, lb_dtype ta, lb_dtype tb)
{
    bool full = nb == n;
    if (da || (db && full))
        pointwise2<true>(ctx, MulBwdF{}, dout, a, b, da, full ? db : NULL, n, nb, ta, tb);
    if (db && !full) colsum_acc(ctx, dout, a, db, n / nb, nb, ta, tb);
}

void lb_cuda_scale_fwd(lb_ctx *ctx, const void *a, float s, void *out, int64_t n, lb_dtype dt)
{
    pointwise1<false>(ctx, ScaleF{s}, a, NULL, out, n, dt);
}

void lb_cuda_scale_bwd(lb_ctx *ctx, const void *dout, float s, void *da, int64_t n, lb_dtype dt)
{
    pointwise1<true>(ctx, ScaleF{s}, dout, NULL, da, n, dt);
}

void lb_cuda_silu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, lb_dtype dt)
{
    pointwise1<false>(ctx, SiluF{}, x, NULL, out, n, dt);
}

void lb_cuda_silu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n,
                      lb_dtype dt)
{
    pointwise1<true>(ctx, SiluBwdF{}, x, dout, dx, n, dt);
}

void lb_cuda_gelu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, bool tanh_form,
                      lb_dtype dt)
{
    pointwise1<false>(ctx, GeluF{tanh_form}, x, NULL, out, n, dt);
}

void lb_cuda_gelu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n,
                      bool tanh_form, lb_dtype dt)
{
    pointwise1<true>(ctx, GeluBwdF{tanh_form}, x, dout, dx, n, dt);
}

void lb_cuda_swiglu_fwd(lb_ctx *ctx, const void *gate, const void *up, void *out, int64_t n,
                        lb_dtype dt)
{
    pointwise1<false>(ctx, SwigluF{}, gate, up, out, n, dt);
}

void lb_cuda_swiglu_bwd(lb_ctx *ctx, const void *gate, const void *up, const void *dout,
                        void *dgate, void *dup, int64_t n, bool overwrite, lb_dtype dt)
{
    if (!dgate && !dup) return;
    if (overwrite)
        pointwise2<false>(ctx, SwigluBwdF{}, gate, up, dout, dgate, dup, n, n, dt, dt);
    else
        pointwise2<true>(ctx, SwigluBwdF{}, gate, up, dout, dgate, dup, n, n, dt, dt);
}

/* ---- the scalar sum ------------------------------------------------------------------ */

#define SUM_MAX_BLOCKS 1024

template <typename T>
__global__ void sum_partial_kernel(const T *x, float *partial, int64_t n, bool vec)
{
    int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t npack = vec ? n / LB_PACK : 0;
    float acc = 0.0f;
    for (int64_t p = tid; p < npack; p += stride) {
        float v[LB_PACK];
        lb_ld8(x + p * LB_PACK, v);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) acc += v[k];
    }
    for (int64_t i = npack * LB_PACK + tid; i < n; i += stride) acc += lb_ld(x + i);
    float s = lb_block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_finish_kernel(const float *partial, float *out, int nblocks)
{
    float acc = 0.0f;
    for (int i = threadIdx.x; i < nblocks; i += blockDim.x) acc += partial[i];
    float s = lb_block_sum(acc);
    if (threadIdx.x == 0) out[0] = s;
}

void lb_cuda_sum_fwd(lb_ctx *ctx, const void *x, float *out, int64_t n, lb_dtype dt)
{
    cudaStream_t stream = lb_cuda_stream(ctx);
    bool vec = lb_aligned16(x);
    unsigned grid = lb_cuda_grid(ctx, vec ? (n + LB_PACK - 1) / LB_PACK : n, LB_CUDA_THREADS);
    if (grid > SUM_MAX_BLOCKS) grid = SUM_MAX_BLOCKS;
    float *partial = (float *)lb_cuda_tmp_alloc(ctx, grid * sizeof(float));
    LB_DISPATCH_FLOAT(dt, T,
        sum_partial_kernel<T><<<grid, LB_CUDA_THREADS, 0, stream>>>((const T *)x, partial, n, vec));
    LB_CUDA_LAUNCH_CHECK(ctx);
    sum_finish_kernel<<<1, LB_CUDA_THREADS, 0, stream>>>(partial, out, (int)grid);
    LB_CUDA_LAUNCH_CHECK(ctx);
    lb_cuda_tmp_free(ctx, partial);
}

void lb_cuda_sum_bwd(lb_ctx *ctx, const float *dout, void *dx, int64_t n, lb_dtype dt)
{
    pointwise1<true>(ctx, DevScalarF{dout}, NULL, NULL, dx, n, dt);
}

void lb_cuda_add_scalar(lb_ctx *ctx, void *x, float v, int64_t n, lb_dtype dt)
{
    pointwise1<true>(ctx, ConstF{v}, NULL, NULL, x, n, dt);
}
