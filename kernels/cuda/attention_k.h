/* attention_k.h — the CUDA kernels of one family (attention), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_ATTENTION_K_H
#define LB_CUDA_ATTENTION_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- attention.cu (plain kernels), attention_cudnn.cu (cuDNN fused) --------
 * bf16 q, k, v, out, dout, dq, dk, dv in the CPU op's layouts; lse f32.
 * The plain backward uses no atomics (deterministic). The cuDNN backward
 * adds dQ tiles with float atomics (NOT bitwise deterministic) unless
 * LB_DETERMINISTIC=1 is set in the environment: then it runs a
 * deterministic cuDNN engine or, where none takes the shape, the plain
 * backward. */

/* Largest head dim the plain kernels take (tiles padded to 64, 128, 256). */
#define LB_CUDA_ATTENTION_MAX_HD 256

#ifdef LB_HAVE_CUDA

/* lb_cuda_attention_fwd: the plain kernel of lb_attention (ops.h): causal
 * grouped-query attention, q (B, T, nh, hd), k, v (B, S, nkv, hd), out
 * (B, T, nh, hd), all bf16 on the device; query t sits at q_pos0 + t and
 * sees keys 0 .. q_pos0 + t; scale 1/sqrt(hd); fp32 accumulation.
 * OVERWRITES out, and lse (B, nh, T) f32 (the log-sum-exp of each row's
 * scaled scores, for the backward) when lse is non-NULL. hd <= 256. */
void lb_cuda_attention_fwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                           void *out, float *lse, int64_t B, int64_t T, int64_t S,
                           int64_t nh, int64_t nkv, int64_t hd, int64_t q_pos0);

/* lb_cuda_attention_bwd: from the forward's out and lse and dout
 * (B, T, nh, hd) bf16, ACCUMULATES dq (B, T, nh, hd), dk, dv (B, S, nkv, hd)
 * (bf16; each may be NULL). Takes step memory for D = rowsum(dout * out). */
void lb_cuda_attention_bwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                           const void *out, const float *lse, const void *dout,
                           void *dq, void *dk, void *dv, int64_t B, int64_t T, int64_t S,
                           int64_t nh, int64_t nkv, int64_t hd, int64_t q_pos0);

/* lb_cuda_attention_cudnn_supported: true when cuDNN's fused attention
 * takes this call (q_pos0 0, S == T, hd a multiple of 8 up to 128, an
 * engine accepts the graph; builds and caches the plan) and
 * LOWBIT_ATTN_PLAIN=1 is not set in the environment. */
bool lb_cuda_attention_cudnn_supported(lb_ctx *ctx, int64_t B, int64_t T, int64_t S, int64_t nh,
                                       int64_t nkv, int64_t hd, int64_t q_pos0);

/* lb_cuda_attention_cudnn_fwd: lb_cuda_attention_fwd with q_pos0 0 and
 * S == T through cuDNN's fused attention (supported shapes only).
 * OVERWRITES out and lse (when non-NULL). */
void lb_cuda_attention_cudnn_fwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                 void *out, float *lse, int64_t B, int64_t T, int64_t nh,
                                 int64_t nkv, int64_t hd);

/* lb_cuda_attention_cudnn_bwd_supported: true when cuDNN's fused attention
 * backward takes this shape (as lb_cuda_attention_cudnn_supported, in the
 * current LB_DETERMINISTIC mode; builds and caches the plan). */
bool lb_cuda_attention_cudnn_bwd_supported(lb_ctx *ctx, int64_t B, int64_t T, int64_t nh,
                                           int64_t nkv, int64_t hd);

/* lb_cuda_attention_cudnn_bwd: the backward of lb_cuda_attention_cudnn_fwd
 * (any forward's lse: the plain kernel's is the same quantity) through
 * cuDNN's fused attention backward where it takes the shape, else the plain
 * backward kernel. ACCUMULATES dq, dk, dv (each may be NULL); takes
 * scratch for cuDNN's overwritten grads and its workspace (freed in stream
 * order on return). overwrite: dq, dk, dv are new grads (all three
 * non-NULL, need not be initialised), OVERWRITTEN: cuDNN writes them
 * directly, no scratch copies or adds. */
void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                 const void *out, const float *lse, const void *dout, void *dq,
                                 void *dk, void *dv, bool overwrite, int64_t B, int64_t T,
                                 int64_t nh, int64_t nkv, int64_t hd);

/* lb_cuda_attention_cache_free: frees the cuDNN attention plan cache
 * (lb_cuda_state.attn_cache; lb_cuda_free calls it before destroying the
 * cuDNN handle). NULL is allowed. */
void lb_cuda_attention_cache_free(void *cache);

#else /* !LB_HAVE_CUDA */

static inline void lb_cuda_attention_fwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                         void *out, float *lse, int64_t B, int64_t T, int64_t S,
                                         int64_t nh, int64_t nkv, int64_t hd, int64_t q_pos0)
{
    lb_cuda_absent("lb_cuda_attention_fwd");
}
static inline void lb_cuda_attention_bwd(lb_ctx *ctx, const void *q, const void *k,
                                         const void *v, const void *out, const float *lse,
                                         const void *dout, void *dq, void *dk, void *dv,
                                         int64_t B, int64_t T, int64_t S, int64_t nh,
                                         int64_t nkv, int64_t hd, int64_t q_pos0)
{
    lb_cuda_absent("lb_cuda_attention_bwd");
}
static inline bool lb_cuda_attention_cudnn_supported(lb_ctx *ctx, int64_t B, int64_t T,
                                                     int64_t S, int64_t nh, int64_t nkv,
                                                     int64_t hd, int64_t q_pos0)
{
    return false;
}
static inline void lb_cuda_attention_cudnn_fwd(lb_ctx *ctx, const void *q, const void *k,
                                               const void *v, void *out, float *lse, int64_t B,
                                               int64_t T, int64_t nh, int64_t nkv, int64_t hd)
{
    lb_cuda_absent("lb_cuda_attention_cudnn_fwd");
}
static inline bool lb_cuda_attention_cudnn_bwd_supported(lb_ctx *ctx, int64_t B, int64_t T,
                                                         int64_t nh, int64_t nkv, int64_t hd)
{
    return false;
}
static inline void lb_cuda_attention_cache_free(void *cache) {}
static inline void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k,
                                               const void *v, const void *out, const float *lse,
                                               const void *dout, void *dq, void *dk, void *dv,
                                               bool overwrite, int64_t B, int64_t T, int64_t nh,
                                               int64_t nkv, int64_t hd)
{
    lb_cuda_absent("lb_cuda_attention_cudnn_bwd");
}

#endif /* LB_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif
