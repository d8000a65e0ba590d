/* gemm_k.h — the CUDA kernels of one family (GEMMs), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_GEMM_K_H
#define LB_CUDA_GEMM_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- gemm.cu: GEMMs through cuBLASLt (lb_matmul, lb_linear) ------------------
 * Operands a, b, x, w, dc, dy are bf16 (a weight is read through its bf16
 * copy, tensor.h's `lowp`), row-major and contiguous; every product
 * accumulates in fp32 (CUBLAS_COMPUTE_32F, no TF32). Problems cuBLASLt
 * refuses run on a plain tiled kernel (same results within rounding).
 * A plan per problem shape is cached in the context's CUDA state. */
#ifdef LB_HAVE_CUDA

/* lb_cuda_gemm_fwd: c[z] (M, N) = op(a[z]) @ op(b[z]) for z < batch, op =
 * transpose when ta / tb; a[z] is (M, K) [(K, M) with ta], b[z] (K, N)
 * [(N, K) with tb]; shared_b: one b for every z. c of dtype c_type (bf16
 * for activations, or f32). OVERWRITES c. */
void lb_cuda_gemm_fwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                      int64_t M, int64_t N, int64_t K, const void *a, const void *b, void *c,
                      lb_dtype c_type);

/* lb_cuda_gemm_bwd: given dc (bf16, c's shape), ACCUMULATES da += the grad
 * of a (a's stored layout, dtype da_type: bf16 or f32) and db += the grad of
 * b (db_type; with shared_b summed over the batch, in batch order). Either
 * may be NULL. */
void lb_cuda_gemm_bwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                      int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                      const void *dc, void *da, lb_dtype da_type, void *db, lb_dtype db_type);

/* lb_cuda_linear_fwd: y (M, N) = x (M, K) @ w (N, K)^T + bias (N, f32;
 * fused as cuBLASLt's bias epilogue, which reads it in y's dtype: a bf16 y
 * adds the bias rounded to bf16), bias may be NULL; y of dtype y_type (bf16
 * for activations, or f32). OVERWRITES y. */
void lb_cuda_linear_fwd(lb_ctx *ctx, const void *x, const void *w, const float *bias, void *y,
                        lb_dtype y_type, int64_t M, int64_t N, int64_t K);

/* lb_cuda_linear_bwd: each grad accumulates, or overwrites when the grad is
 * marked zero or new (its *_overwrite flag: beta 0 / not read, it need not
 * be initialised): dx (M, K, dtype dx_type) += dy @ w; dw (N, K, dtype
 * dw_type: f32 for a parameter's master grad, written by cuBLASLt
 * directly) += dy^T @ x; dbias (N, f32) += the column sums of dy (a
 * fixed-order reduction kernel; overwriting gives the bits of adding to 0).
 * Runs dx, then dw, then dbias. Any grad may be NULL. */
void lb_cuda_linear_bwd(lb_ctx *ctx, const void *x, const void *w, const void *dy, void *dx,
                        lb_dtype dx_type, bool dx_overwrite, void *dw, lb_dtype dw_type,
                        bool dw_overwrite, float *dbias, bool db_overwrite, int64_t M, int64_t N,
                        int64_t K);

/* lb_cuda_gemm_force_fallback: tests only: every GEMM of ctx runs on the
 * plain kernel while on. */
void lb_cuda_gemm_force_fallback(lb_ctx *ctx, bool on);

/* lb_cuda_gemm_stats: plans built so far, how many of them cuBLASLt
 * refused (those run on the plain kernel) and how many split the reduction
 * (split-K, reduced in fp32 in the workspace). */
void lb_cuda_gemm_stats(lb_ctx *ctx, int64_t *n_plans, int64_t *n_fallback, int64_t *n_split_k);

/* lb_cuda_gemm_cache_free: frees a plan cache (lb_cuda_state.gemm_cache;
 * lb_cuda_free calls it). NULL is allowed. */
void lb_cuda_gemm_cache_free(void *cache);

#else
static inline void lb_cuda_gemm_fwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                                    int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                                    void *c, lb_dtype c_type)
{
    lb_cuda_absent("lb_cuda_gemm_fwd");
}
static inline void lb_cuda_gemm_bwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                                    int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                                    const void *dc, void *da, lb_dtype da_type, void *db,
                                    lb_dtype db_type)
{
    lb_cuda_absent("lb_cuda_gemm_bwd");
}
static inline void lb_cuda_linear_fwd(lb_ctx *ctx, const void *x, const void *w, const float *bias,
                                      void *y, lb_dtype y_type, int64_t M, int64_t N, int64_t K)
{
    lb_cuda_absent("lb_cuda_linear_fwd");
}
static inline void lb_cuda_linear_bwd(lb_ctx *ctx, const void *x, const void *w, const void *dy,
                                      void *dx, lb_dtype dx_type, bool dx_overwrite, void *dw,
                                      lb_dtype dw_type, bool dw_overwrite, float *dbias,
                                      bool db_overwrite, int64_t M, int64_t N, int64_t K)
{
    lb_cuda_absent("lb_cuda_linear_bwd");
}
static inline void lb_cuda_gemm_force_fallback(lb_ctx *ctx, bool on) {}
static inline void lb_cuda_gemm_stats(lb_ctx *ctx, int64_t *n_plans, int64_t *n_fallback,
                                      int64_t *n_split_k)
{
    *n_plans = *n_fallback = *n_split_k = 0;
}
static inline void lb_cuda_gemm_cache_free(void *cache) {}
#endif /* LB_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif
