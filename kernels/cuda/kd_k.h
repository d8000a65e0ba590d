/* kd_k.h — the CUDA kernels of one family (KD loss and grad-norm sum of squares), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_KD_K_H
#define LB_CUDA_KD_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- kd.cu: the KD loss (train/kd.h) and the grad norm's sum of squares --------
 * Logits (N, V) row-major, student dtype ts and teacher dtype tt (bf16 or
 * f32); lse_s, lse_t, kl_row: N floats of device scratch. */
#ifdef LB_HAVE_CUDA
/* lb_cuda_kd_fwd: OVERWRITES lse_s, lse_t (log-sum-exp of each row / tau),
 * kl_row (each row's KL(teacher || student)) and out[0] = tau^2 * sum / N
 * (summed in row order in double: deterministic). */
void lb_cuda_kd_fwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt, int64_t N, int64_t V,
                    float tau, float *lse_s, float *lse_t, float *kl_row, float *out);
/* lb_cuda_kd_bwd: ACCUMULATES ds (dtype ts) += dout[0] * tau / N * (p_s - p_t)
 * with the forward's lse_s, lse_t; dout is one device f32. */
void lb_cuda_kd_bwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt, void *ds, int64_t N,
                    int64_t V, float tau, const float *lse_s, const float *lse_t, const float *dout);
/* lb_cuda_sumsq_acc: ACCUMULATES *acc (one device double) += sum of x[i]^2
 * over n f32 elements, in a fixed order (deterministic). */
void lb_cuda_sumsq_acc(lb_ctx *ctx, const float *x, int64_t n, double *acc);
#else
static inline void lb_cuda_kd_fwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt,
                                  int64_t N, int64_t V, float tau, float *lse_s, float *lse_t, float *kl_row,
                                  float *out)
{
    lb_cuda_absent("lb_cuda_kd_fwd");
}
static inline void lb_cuda_kd_bwd(lb_ctx *ctx, const void *zs, lb_dtype ts, const void *zt, lb_dtype tt,
                                  void *ds, int64_t N, int64_t V, float tau, const float *lse_s,
                                  const float *lse_t, const float *dout)
{
    lb_cuda_absent("lb_cuda_kd_bwd");
}
static inline void lb_cuda_sumsq_acc(lb_ctx *ctx, const float *x, int64_t n, double *acc)
{
    lb_cuda_absent("lb_cuda_sumsq_acc");
}
#endif

#ifdef __cplusplus
}
#endif

#endif
