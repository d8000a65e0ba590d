/* elementwise_k.h — the CUDA kernels of one family (cast and elementwise), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_ELEMENTWISE_K_H
#define LB_CUDA_ELEMENTWISE_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef LB_HAVE_CUDA

/* ---- cast.cu -----------------------------------------------------------------
 * lb_cuda_cast: dst = src converted from dtype st to dt (f32, bf16, f16;
 * round to nearest even; same dtype copies). n elements. OVERWRITES dst. */
void lb_cuda_cast(lb_ctx *ctx, const void *src, void *dst, int64_t n, lb_dtype st, lb_dtype dt);

/* ---- elementwise.cu ----------------------------------------------------------
 * Broadcasting as on the CPU: a has n elements, b has nb with n % nb == 0,
 * b[i % nb] pairs with a[i]. out, dout and da have a's dtype ta; b and db
 * have b's dtype tb (so a bf16 activation can meet an f32 parameter). */

/* lb_cuda_add_fwd: out = a + b (broadcast). OVERWRITES out. */
void lb_cuda_add_fwd(lb_ctx *ctx, const void *a, const void *b, void *out, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb);

/* lb_cuda_add_bwd: ACCUMULATES da += dout, db += dout summed over the
 * broadcast rows (two passes: fp32 partial sums per chunk of rows, then a
 * fixed-order sum per column; no atomics); da or db may be NULL. */
void lb_cuda_add_bwd(lb_ctx *ctx, const void *dout, void *da, void *db, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb);

/* lb_cuda_mul_fwd: out = a * b (broadcast). OVERWRITES out. */
void lb_cuda_mul_fwd(lb_ctx *ctx, const void *a, const void *b, void *out, int64_t n, int64_t nb,
                     lb_dtype ta, lb_dtype tb);

/* lb_cuda_mul_bwd: ACCUMULATES da += dout * b, db += sum over broadcast
 * rows of dout * a (two passes, as add); da or db may be NULL. */
void lb_cuda_mul_bwd(lb_ctx *ctx, const void *a, const void *b, const void *dout, void *da,
                     void *db, int64_t n, int64_t nb, lb_dtype ta, lb_dtype tb);

/* lb_cuda_scale_fwd: out = s * a. OVERWRITES out. */
void lb_cuda_scale_fwd(lb_ctx *ctx, const void *a, float s, void *out, int64_t n, lb_dtype dt);

/* lb_cuda_scale_bwd: ACCUMULATES da += s * dout. */
void lb_cuda_scale_bwd(lb_ctx *ctx, const void *dout, float s, void *da, int64_t n, lb_dtype dt);

/* lb_cuda_silu_fwd: out = x * sigmoid(x). OVERWRITES out. */
void lb_cuda_silu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, lb_dtype dt);

/* lb_cuda_silu_bwd: ACCUMULATES dx += dout * silu'(x). */
void lb_cuda_silu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n,
                      lb_dtype dt);

/* lb_cuda_gelu_fwd: out = gelu(x), exact (erf) or tanh form. OVERWRITES out. */
void lb_cuda_gelu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, bool tanh_form,
                      lb_dtype dt);

/* lb_cuda_gelu_bwd: ACCUMULATES dx += dout * gelu'(x). */
void lb_cuda_gelu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n,
                      bool tanh_form, lb_dtype dt);

/* lb_cuda_swiglu_fwd: out = silu(gate) * up. OVERWRITES out. */
void lb_cuda_swiglu_fwd(lb_ctx *ctx, const void *gate, const void *up, void *out, int64_t n,
                        lb_dtype dt);

/* lb_cuda_swiglu_bwd: dgate = dout * up * silu'(gate), dup = dout *
 * silu(gate), one pass (16-byte accesses when aligned); either may be NULL.
 * OVERWRITES both when overwrite (fresh grads), else ACCUMULATES (+=). */
void lb_cuda_swiglu_bwd(lb_ctx *ctx, const void *gate, const void *up, const void *dout,
                        void *dgate, void *dup, int64_t n, bool overwrite, lb_dtype dt);

/* lb_cuda_sum_fwd: out[0] (one f32 on the device) = the sum of x's n
 * elements, in fp32: per-thread sums, block sums, then one block over the
 * block sums, in a fixed order. OVERWRITES out[0]. */
void lb_cuda_sum_fwd(lb_ctx *ctx, const void *x, float *out, int64_t n, lb_dtype dt);

/* lb_cuda_sum_bwd: ACCUMULATES dx += dout[0] (one f32 on the device) into
 * every element. */
void lb_cuda_sum_bwd(lb_ctx *ctx, const float *dout, void *dx, int64_t n, lb_dtype dt);

/* lb_cuda_add_scalar: ACCUMULATES x += v into n elements (seeds the loss
 * grad in lb_backward). */
void lb_cuda_add_scalar(lb_ctx *ctx, void *x, float v, int64_t n, lb_dtype dt);

#else /* !LB_HAVE_CUDA: stubs (lb_cuda_absent is in cuda.h) */

static inline void lb_cuda_cast(lb_ctx *ctx, const void *src, void *dst, int64_t n, lb_dtype st,
                                lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_cast");
}
static inline void lb_cuda_add_fwd(lb_ctx *ctx, const void *a, const void *b, void *out,
                                   int64_t n, int64_t nb, lb_dtype ta, lb_dtype tb)
{
    lb_cuda_absent("lb_cuda_add_fwd");
}
static inline void lb_cuda_add_bwd(lb_ctx *ctx, const void *dout, void *da, void *db, int64_t n,
                                   int64_t nb, lb_dtype ta, lb_dtype tb)
{
    lb_cuda_absent("lb_cuda_add_bwd");
}
static inline void lb_cuda_mul_fwd(lb_ctx *ctx, const void *a, const void *b, void *out,
                                   int64_t n, int64_t nb, lb_dtype ta, lb_dtype tb)
{
    lb_cuda_absent("lb_cuda_mul_fwd");
}
static inline void lb_cuda_mul_bwd(lb_ctx *ctx, const void *a, const void *b, const void *dout,
                                   void *da, void *db, int64_t n, int64_t nb, lb_dtype ta,
                                   lb_dtype tb)
{
    lb_cuda_absent("lb_cuda_mul_bwd");
}
static inline void lb_cuda_scale_fwd(lb_ctx *ctx, const void *a, float s, void *out, int64_t n,
                                     lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_scale_fwd");
}
static inline void lb_cuda_scale_bwd(lb_ctx *ctx, const void *dout, float s, void *da, int64_t n,
                                     lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_scale_bwd");
}
static inline void lb_cuda_silu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_silu_fwd");
}
static inline void lb_cuda_silu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                    int64_t n, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_silu_bwd");
}
static inline void lb_cuda_gelu_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n,
                                    bool tanh_form, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_gelu_fwd");
}
static inline void lb_cuda_gelu_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                    int64_t n, bool tanh_form, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_gelu_bwd");
}
static inline void lb_cuda_swiglu_fwd(lb_ctx *ctx, const void *gate, const void *up, void *out,
                                      int64_t n, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_swiglu_fwd");
}
static inline void lb_cuda_swiglu_bwd(lb_ctx *ctx, const void *gate, const void *up,
                                      const void *dout, void *dgate, void *dup, int64_t n,
                                      bool overwrite, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_swiglu_bwd");
}
static inline void lb_cuda_sum_fwd(lb_ctx *ctx, const void *x, float *out, int64_t n, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_sum_fwd");
}
static inline void lb_cuda_sum_bwd(lb_ctx *ctx, const float *dout, void *dx, int64_t n,
                                   lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_sum_bwd");
}
static inline void lb_cuda_add_scalar(lb_ctx *ctx, void *x, float v, int64_t n, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_add_scalar");
}

#endif /* LB_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif
