/* kernels.h — the CUDA kernels, callable from C: one section per op family,
 * mirroring kernels/cpu/kernels.h (same family files, same names with
 * lb_cuda_ for lb_cpu_ and the context first).
 *
 * Contract of every function here (write it again for each new kernel):
 *   - arguments are raw device pointers and sizes, then the dtypes of the
 *     pointers; a kernel supports f32 and bf16 unless it says otherwise, and
 *     computes in fp32 registers (bf16 loads/stores, fp32 accumulation);
 *   - work is queued on the context's stream; nothing here synchronizes or
 *     allocates memory that outlives the call (scratch is stream-ordered);
 *   - each says whether it OVERWRITES its output or ACCUMULATES (+=) into
 *     it: forward kernels overwrite, backward kernels accumulate into the
 *     input grads (the tape's contract); a NULL grad pointer is skipped;
 *   - results are deterministic: reductions have a fixed order (no float
 *     atomics), so a rerun on the same GPU gives the same bits.
 * The op layer (autograd/ops_*.c) checks shapes, devices and dtypes before
 * calling; nothing is checked here beyond the dtype switch.
 *
 * Without LB_HAVE_CUDA each function is a stub that aborts: ops only call
 * them for CUDA tensors, which such a build cannot make.
 */
#ifndef LB_KERNELS_CUDA_KERNELS_H
#define LB_KERNELS_CUDA_KERNELS_H

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

/* lb_cuda_swiglu_bwd: ACCUMULATES dgate += dout * up * silu'(gate),
 * dup += dout * silu(gate); either may be NULL. */
void lb_cuda_swiglu_bwd(lb_ctx *ctx, const void *gate, const void *up, const void *dout,
                        void *dgate, void *dup, int64_t n, lb_dtype dt);

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
                                      lb_dtype dt)
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

/* lb_cuda_linear_fwd: y (M, N) = x (M, K) @ w (N, K)^T + bias (N, f32,
 * fused as cuBLASLt's bias epilogue), bias may be NULL; y of dtype y_type
 * (bf16 for activations, or f32). OVERWRITES y. */
void lb_cuda_linear_fwd(lb_ctx *ctx, const void *x, const void *w, const float *bias, void *y,
                        lb_dtype y_type, int64_t M, int64_t N, int64_t K);

/* lb_cuda_linear_bwd: ACCUMULATES dx (M, K, dtype dx_type) += dy @ w,
 * dw (N, K, dtype dw_type: f32 for a parameter's master grad, written by
 * cuBLASLt directly) += dy^T @ x, dbias (N, f32) += the column sums of dy
 * (a fixed-order reduction kernel). Any grad may be NULL. */
void lb_cuda_linear_bwd(lb_ctx *ctx, const void *x, const void *w, const void *dy, void *dx,
                        lb_dtype dx_type, void *dw, lb_dtype dw_type, float *dbias, int64_t M,
                        int64_t N, int64_t K);

/* lb_cuda_gemm_force_fallback: tests only: every GEMM of ctx runs on the
 * plain kernel while on. */
void lb_cuda_gemm_force_fallback(lb_ctx *ctx, bool on);

/* lb_cuda_gemm_stats: plans built so far and how many of them cuBLASLt
 * refused (those run on the plain kernel). */
void lb_cuda_gemm_stats(lb_ctx *ctx, int64_t *n_plans, int64_t *n_fallback);

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
                                      void *dx, lb_dtype dx_type, void *dw, lb_dtype dw_type,
                                      float *dbias, int64_t M, int64_t N, int64_t K)
{
    lb_cuda_absent("lb_cuda_linear_bwd");
}
static inline void lb_cuda_gemm_force_fallback(lb_ctx *ctx, bool on) {}
static inline void lb_cuda_gemm_stats(lb_ctx *ctx, int64_t *n_plans, int64_t *n_fallback)
{
    *n_plans = *n_fallback = 0;
}
static inline void lb_cuda_gemm_cache_free(void *cache) {}
#endif /* LB_HAVE_CUDA */

/* ---- adamw.cu: optimizer and model-level device helpers (train/optim.c,
 * layers/model_device.c, train/cli/cmd_bench.c); stubs without CUDA ---------- */

/* Elements per AdamW chunk: one block of the launch per chunk. */
#define LB_ADAMW_CHUNK ((int64_t)1 << 16)

/* One row of the AdamW table: a slice of one parameter tensor. */
typedef struct lb_adamw_chunk {
    float *p;                 /* f32 master weights */
    const float *g;           /* f32 grads */
    float *m, *v;             /* f32 moments */
    void *lowp;               /* bf16 copy of p to rewrite, or NULL */
    int64_t n;                /* elements, <= LB_ADAMW_CHUNK */
    float wd;                 /* weight decay of this tensor (0: none) */
} lb_adamw_chunk;

#ifdef LB_HAVE_CUDA
/* lb_cuda_adamw_step: AdamW (train/optim.h's formula) over every chunk of
 * `table` (device memory, n_chunks rows) in one launch; OVERWRITES p, m, v
 * and lowp. step_size = lr / (1 - beta1^t), sqrt_bc2 = sqrt(1 - beta2^t). */
void lb_cuda_adamw_step(lb_ctx *ctx, const lb_adamw_chunk *table, int64_t n_chunks, float lr, float beta1,
                        float beta2, float eps, float step_size, float sqrt_bc2, float grad_scale);
/* lb_cuda_init_normal: OVERWRITES x[0..n) with model_init.c's N(0, std^2)
 * stream whose splitmix64 state after seeding is state0. */
void lb_cuda_init_normal(lb_ctx *ctx, float *x, int64_t n, uint64_t state0, float std);
/* lb_cuda_fill: OVERWRITES x[0..n) with v. */
void lb_cuda_fill(lb_ctx *ctx, float *x, int64_t n, float v);
/* Events on ctx's stream (for per-phase timing): record makes and records
 * one; ms waits for `end` and returns the time between them. */
void *lb_cuda_event_record(lb_ctx *ctx);
float lb_cuda_event_ms(void *start, void *end);
void lb_cuda_event_free(void *e);
/* lb_cuda_mem_info: cudaMemGetInfo. */
void lb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
#else
static inline void lb_cuda_adamw_step(lb_ctx *ctx, const lb_adamw_chunk *table, int64_t n_chunks, float lr,
                                      float beta1, float beta2, float eps, float step_size, float sqrt_bc2,
                                      float grad_scale)
{
    lb_cuda_absent("lb_cuda_adamw_step");
}
static inline void lb_cuda_init_normal(lb_ctx *ctx, float *x, int64_t n, uint64_t state0, float std)
{
    lb_cuda_absent("lb_cuda_init_normal");
}
static inline void lb_cuda_fill(lb_ctx *ctx, float *x, int64_t n, float v)
{
    lb_cuda_absent("lb_cuda_fill");
}
static inline void *lb_cuda_event_record(lb_ctx *ctx) { return NULL; }
static inline float lb_cuda_event_ms(void *start, void *end) { return 0.0f; }
static inline void lb_cuda_event_free(void *e) {}
static inline void lb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes) { *free_bytes = *total_bytes = 0; }
#endif

/* ---- attention.cu (plain kernels), attention_cudnn.cu (cuDNN fused) --------
 * bf16 q, k, v, out, dout, dq, dk, dv in the CPU op's layouts; lse f32.
 * The plain backward uses no atomics (deterministic). */

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

/* lb_cuda_attention_cudnn_bwd: the backward of lb_cuda_attention_cudnn_fwd
 * (for now the plain backward kernel fed cuDNN's lse). ACCUMULATES dq, dk,
 * dv. */
void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                 const void *out, const float *lse, const void *dout, void *dq,
                                 void *dk, void *dv, int64_t B, int64_t T, int64_t nh,
                                 int64_t nkv, int64_t hd);

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
static inline void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k,
                                               const void *v, const void *out, const float *lse,
                                               const void *dout, void *dq, void *dk, void *dv,
                                               int64_t B, int64_t T, int64_t nh, int64_t nkv,
                                               int64_t hd)
{
    lb_cuda_absent("lb_cuda_attention_cudnn_bwd");
}

#endif /* LB_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif
