/* quant_act.cu — the int8 activation fake-quantizers on the GPU (per-token
 * dynamic, per-tensor static, PACT with its learned clip), forward and
 * backward, and the plain straight-through accumulate used by the value
 * grids. bf16 or f32 activations; arithmetic in fp32 registers; the PACT
 * clip gradient is a deterministic double sum. Bit-exact with
 * kernels/cpu/quant.c after the output's rounding.
 *
 * Not here: the weight quantizers (quant.cu), shape checks (autograd/ops_quant.c).
 */
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/quant_team.cuh"

/* ---- straight-through accumulate -------------------------------------------- */

template <typename TS, typename TD>
__global__ void ste_kernel(const TS *dout, TD *dx, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        lb_st(dx + i, __fadd_rn(lb_ld(dx + i), lb_ld(dout + i)));
}

void lb_cuda_fake_quant_ste_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t n, lb_dtype tdout,
                                lb_dtype tdx)
{
    if (n <= 0 || !dx) return;
    unsigned grid = lb_cuda_grid(ctx, n, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(tdout, TS, LB_DISPATCH_FLOAT(tdx, TD,
        ste_kernel<TS, TD><<<grid, QTHREADS, 0, st>>>((const TS *)dout, (TD *)dx, n)));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- int8 activations --------------------------------------------------------- */

/* act_token_kernel: one block per row: absmax, then the row again. */
template <typename T>
__global__ void act_token_kernel(const T *x, T *out, int64_t rows, int64_t cols)
{
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * cols;
        float a = 0.0f;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) a = fmaxf(a, fabsf(lb_ld(xr + c)));
        a = team_max(a, 32);
        __syncthreads();
        if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = a;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int k = 1; k < (int)(blockDim.x >> 5); k++) a = fmaxf(a, sh[k]);
            sh[32] = a;
        }
        __syncthreads();
        a = sh[32];
        float s = a == 0.0f ? 1.0f : __fdiv_rn(a, 127.0f);
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
            lb_st(out + r * cols + c,
                  __fmul_rn(s, clampf(rintf(__fdiv_rn(lb_ld(xr + c), s)), -127.0f, 127.0f)));
    }
}

template <typename T>
__global__ void act_static_fwd_kernel(const T *x, T *out, int64_t n, float s)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        lb_st(out + i, __fmul_rn(s, clampf(rintf(__fdiv_rn(lb_ld(x + i), s)), -128.0f, 127.0f)));
}

template <typename T>
__global__ void act_static_bwd_kernel(const T *x, const T *dout, T *dx, int64_t n, float s)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float r = rintf(__fdiv_rn(lb_ld(x + i), s));
        if (r >= -128.0f && r <= 127.0f) lb_st(dx + i, __fadd_rn(lb_ld(dx + i), lb_ld(dout + i)));
    }
}

template <typename T>
__global__ void act_pact_fwd_kernel(const T *x, T *out, int64_t n, const float *alpha)
{
    float al = alpha[0], s = __fdiv_rn(al, 127.0f);
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        lb_st(out + i, __fmul_rn(s, rintf(__fdiv_rn(clampf(lb_ld(x + i), -al, al), s))));
}

/* act_pact_bwd_kernel: dx where inside; the alpha sum per block (double,
 * fixed tree) into part[blockIdx.x]. */
template <typename T>
__global__ void act_pact_bwd_kernel(const T *x, const T *dout, T *dx, int64_t n,
                                    const float *alpha, double *part)
{
    __shared__ double sh[32];
    float al = alpha[0];
    double acc = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float xv = lb_ld(x + i), g = lb_ld(dout + i);
        if (fabsf(xv) < al) {
            if (dx) lb_st(dx + i, __fadd_rn(lb_ld(dx + i), g));
        } else {
            acc = __dadd_rn(acc, xv > 0.0f ? (double)g : -(double)g);
        }
    }
    if (!part) return;
    acc = team_sum(acc, 32);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) acc = __dadd_rn(acc, sh[k]);
        part[blockIdx.x] = acc;
    }
}

__global__ void pact_alpha_kernel(const double *part, int nb, float *dalpha)
{
    double a = 0.0;
    for (int k = 0; k < nb; k++) a = __dadd_rn(a, part[k]);
    dalpha[0] = __fadd_rn(dalpha[0], (float)a);
}

void lb_cuda_fake_quant_act_token_fwd(lb_ctx *ctx, const void *x, void *out, int64_t rows,
                                      int64_t cols, lb_dtype dt)
{
    if (rows <= 0 || cols <= 0) return;
    int64_t maxb = (int64_t)lb_cuda_state_of(ctx)->sm_count * 16;
    unsigned grid = (unsigned)(rows < maxb ? rows : maxb);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        act_token_kernel<T><<<grid, QTHREADS, 0, st>>>((const T *)x, (T *)out, rows, cols));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_fake_quant_act_static_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, float s,
                                       lb_dtype dt)
{
    if (n <= 0) return;
    unsigned grid = lb_cuda_grid(ctx, n, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        act_static_fwd_kernel<T><<<grid, QTHREADS, 0, st>>>((const T *)x, (T *)out, n, s));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_fake_quant_act_static_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                       int64_t n, float s, lb_dtype dt)
{
    if (n <= 0 || !dx) return;
    unsigned grid = lb_cuda_grid(ctx, n, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        act_static_bwd_kernel<T><<<grid, QTHREADS, 0, st>>>((const T *)x, (const T *)dout,
                                                           (T *)dx, n, s));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_fake_quant_act_pact_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n,
                                     const float *alpha, lb_dtype dt)
{
    if (n <= 0) return;
    unsigned grid = lb_cuda_grid(ctx, n, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        act_pact_fwd_kernel<T><<<grid, QTHREADS, 0, st>>>((const T *)x, (T *)out, n, alpha));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_fake_quant_act_pact_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                     int64_t n, const float *alpha, float *dalpha, lb_dtype dt)
{
    if (n <= 0 || (!dx && !dalpha)) return;
    unsigned grid = lb_cuda_grid(ctx, n, QTHREADS);
    cudaStream_t st = lb_cuda_stream(ctx);
    double *part = dalpha ? (double *)lb_cuda_tmp_alloc(ctx, (size_t)grid * sizeof(double)) : NULL;
    LB_DISPATCH_FLOAT(dt, T,
        act_pact_bwd_kernel<T><<<grid, QTHREADS, 0, st>>>((const T *)x, (const T *)dout, (T *)dx,
                                                         n, alpha, part));
    LB_CUDA_LAUNCH_CHECK(ctx);
    if (part) {
        pact_alpha_kernel<<<1, 1, 0, st>>>(part, (int)grid, dalpha);
        LB_CUDA_LAUNCH_CHECK(ctx);
        lb_cuda_tmp_free(ctx, part);
    }
}
