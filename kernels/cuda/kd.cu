/* kd.cu — the knowledge-distillation loss (train/kd.h) and the sum of
 * squares the trainer's global grad norm reads, on CUDA.
 *
 * KD forward: one block per row of the (N, V) student and teacher logits
 * (bf16 or f32, each its own dtype): a max pass, a sum-of-exp pass and a KL
 * pass over the row at temperature tau, fp32 arithmetic; per row it writes
 * the two log-sum-exps (for the backward) and its KL term; one block then
 * sums the N terms in row order in double and writes the scalar loss
 * tau^2 * sum / N (OVERWRITES; no host round trip). Deterministic.
 * KD backward: ACCUMULATES ds[i, v] += (dout[0] * tau / N) * (p_s - p_t),
 * dout read on the device.
 *
 * Sum of squares: per block a fixed-order partial in double over a strided
 * range, then one block adds the partials in order and ACCUMULATES into a
 * device double (so several tensors add up in one number, read once per
 * step). Deterministic.
 *
 * Not here: the CPU specification (train/kd.c, in double), the tape.
 */
#include <math.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

#define LB_KD_THREADS 512

template <typename TS, typename TT>
__global__ void kd_fwd_kernel(const TS *zs, const TT *zt, int64_t V, float inv_tau, float *lse_s, float *lse_t,
                              float *kl_row)
{
    const int64_t row = blockIdx.x;
    const TS *s = zs + row * V;
    const TT *t = zt + row * V;
    float ms = -INFINITY, mt = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        ms = fmaxf(ms, lb_ld(s + v) * inv_tau);
        mt = fmaxf(mt, lb_ld(t + v) * inv_tau);
    }
    ms = lb_block_max(ms);
    mt = lb_block_max(mt);
    float ss = 0.0f, st = 0.0f;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        ss += expf(lb_ld(s + v) * inv_tau - ms);
        st += expf(lb_ld(t + v) * inv_tau - mt);
    }
    ss = lb_block_sum(ss);
    st = lb_block_sum(st);
    const float ls = ms + logf(ss), lt = mt + logf(st);
    float kl = 0.0f;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        float lpt = lb_ld(t + v) * inv_tau - lt, lps = lb_ld(s + v) * inv_tau - ls;
        kl += expf(lpt) * (lpt - lps);
    }
    kl = lb_block_sum(kl);
    if (threadIdx.x == 0) {
        lse_s[row] = ls;
        lse_t[row] = lt;
        kl_row[row] = kl;
    }
}

/* ordered_sum_kernel: one block; out = scale * sum of x[0..n) in double,
 * each thread a contiguous range, the ranges added in thread order. */
__global__ void ordered_sum_kernel(const float *x, int64_t n, double scale, float *out)
{
    __shared__ double part[LB_CUDA_THREADS];
    int64_t per = (n + blockDim.x - 1) / blockDim.x, lo = threadIdx.x * per, hi = lo + per < n ? lo + per : n;
    double a = 0;
    for (int64_t i = lo; i < hi; i++) a += (double)x[i];
    part[threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (unsigned k = 0; k < blockDim.x; k++) t += part[k];
        *out = (float)(t * scale);
    }
}

template <typename TS, typename TT>
__global__ void kd_bwd_kernel(const TS *zs, const TT *zt, TS *ds, int64_t V, float inv_tau, float tau_over_n,
                              const float *lse_s, const float *lse_t, const float *dout)
{
    const int64_t row = blockIdx.x;
    const float scale = dout[0] * tau_over_n, ls = lse_s[row], lt = lse_t[row];
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        float ps = expf(lb_ld(zs + row * V + v) * inv_tau - ls);
        float pt = expf(lb_ld(zt + row * V + v) * inv_tau - lt);
        lb_acc(ds + row * V + v, scale * (ps - pt));
    }
}

void lb_cuda_kd_fwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt, int64_t N, int64_t V,
                    float tau, float *lse_s, float *lse_t, float *kl_row, float *out)
{
    if (N == 0) return;
    LB_CHECK(N < ((int64_t)1 << 31));
    cudaStream_t st = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(ts, TS, LB_DISPATCH_FLOAT(tt, TT,
        kd_fwd_kernel<TS, TT><<<(unsigned)N, LB_KD_THREADS, 0, st>>>((const TS *)zs, (const TT *)zt, V, 1.0f / tau,
                                                                    lse_s, lse_t, kl_row)));
    LB_CUDA_LAUNCH_CHECK(ctx);
    ordered_sum_kernel<<<1, LB_CUDA_THREADS, 0, st>>>(kl_row, N, (double)tau * tau / (double)N, out);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_kd_bwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt, void *ds, int64_t N,
                    int64_t V, float tau, const float *lse_s, const float *lse_t, const float *dout)
{
    if (N == 0) return;
    LB_DISPATCH_FLOAT(ts, TS, LB_DISPATCH_FLOAT(tt, TT,
        kd_bwd_kernel<TS, TT><<<(unsigned)N, LB_KD_THREADS, 0, lb_cuda_stream(ctx)>>>(
            (const TS *)zs, (const TT *)zt, (TS *)ds, V, 1.0f / tau, tau / (float)N, lse_s, lse_t, dout)));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- sum of squares ------------------------------------------------------------------- */

#define LB_SUMSQ_BLOCKS 264   /* two waves of 132 SMs; fixed, so the order is too */

__global__ void sumsq_part_kernel(const float *x, int64_t n, double *part)
{
    __shared__ double sh[LB_CUDA_THREADS];
    double a = 0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        a += (double)x[i] * (double)x[i];
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

__global__ void sumsq_final_kernel(const double *part, int n, double *acc)
{
    double t = 0;
    for (int k = 0; k < n; k++) t += part[k];
    *acc += t;
}

void lb_cuda_sumsq_acc(lb_ctx *ctx, const float *x, int64_t n, double *acc)
{
    if (n == 0) return;
    double *part = (double *)lb_cuda_step_alloc(ctx, LB_SUMSQ_BLOCKS * sizeof(double));
    cudaStream_t st = lb_cuda_stream(ctx);
    sumsq_part_kernel<<<LB_SUMSQ_BLOCKS, LB_CUDA_THREADS, 0, st>>>(x, n, part);
    LB_CUDA_LAUNCH_CHECK(ctx);
    sumsq_final_kernel<<<1, 1, 0, st>>>(part, LB_SUMSQ_BLOCKS, acc);
    LB_CUDA_LAUNCH_CHECK(ctx);
}
