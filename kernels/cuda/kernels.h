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

/* lb_cuda_linear_fwd: y (M, N) = x (M, K) @ w (N, K)^T + bias (N, f32;
 * fused as cuBLASLt's bias epilogue, which reads it in y's dtype: a bf16 y
 * adds the bias rounded to bf16), bias may be NULL; y of dtype y_type (bf16
 * for activations, or f32). OVERWRITES y. */
void lb_cuda_linear_fwd(lb_ctx *ctx, const void *x, const void *w, const float *bias, void *y,
                        lb_dtype y_type, int64_t M, int64_t N, int64_t K);

/* lb_cuda_linear_bwd: ACCUMULATES dx (M, K, dtype dx_type) += dy @ w
 * (OVERWRITES dx = dy @ w when dx_overwrite: beta 0, dx need not be
 * initialised), dw (N, K, dtype dw_type: f32 for a parameter's master grad,
 * written by cuBLASLt directly) += dy^T @ x, dbias (N, f32) += the column
 * sums of dy (a fixed-order reduction kernel). Any grad may be NULL. */
void lb_cuda_linear_bwd(lb_ctx *ctx, const void *x, const void *w, const void *dy, void *dx,
                        lb_dtype dx_type, bool dx_overwrite, void *dw, lb_dtype dw_type,
                        float *dbias, int64_t M, int64_t N, int64_t K);

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
                                      lb_dtype dw_type, float *dbias, int64_t M, int64_t N,
                                      int64_t K)
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
 * order on return). */
void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k, const void *v,
                                 const void *out, const float *lse, const void *dout, void *dq,
                                 void *dk, void *dv, int64_t B, int64_t T, int64_t nh,
                                 int64_t nkv, int64_t hd);

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
                                               int64_t B, int64_t T, int64_t nh, int64_t nkv,
                                               int64_t hd)
{
    lb_cuda_absent("lb_cuda_attention_cudnn_bwd");
}

#endif /* LB_HAVE_CUDA */

/* ---- norm.cu, softmax.cu, rope.cu, embedding.cu, loss.cu, view.cu ---------------
 * Activations (x, out, h, dout, dx, logits, ...) have dtype dt, f32 or bf16;
 * parameters (norm w and b, the embedding table and their grads) and the
 * saved statistics (mean, rstd, rowmax, logsum, nll) are f32. */

#ifdef LB_HAVE_CUDA

/* lb_cuda_rmsnorm_fwd: per row of x (rows, C): out = (x * rstd) * w,
 * rstd = 1 / sqrt(mean(x^2) + eps). OVERWRITES out and rstd (rows; may be
 * NULL). */
void lb_cuda_rmsnorm_fwd(lb_ctx *ctx, const void *x, const float *w, void *out, float *rstd,
                         int64_t rows, int64_t C, float eps, lb_dtype dt);

/* lb_cuda_add_rmsnorm_fwd: h = x + r (rounded to dt), out = rmsnorm(h) as
 * above, in one pass. OVERWRITES h, out and rstd (may be NULL). */
void lb_cuda_add_rmsnorm_fwd(lb_ctx *ctx, const void *x, const void *r, const float *w, void *h,
                             void *out, float *rstd, int64_t rows, int64_t C, float eps,
                             lb_dtype dt);

/* lb_cuda_rmsnorm_bwd: ACCUMULATES dx (rows, C) and dw (C, f32; summed over
 * rows in two fixed-order passes, no atomics); either may be NULL. */
void lb_cuda_rmsnorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *rstd,
                         const void *dout, void *dx, float *dw, int64_t rows, int64_t C,
                         lb_dtype dt);

/* lb_cuda_residual_bwd: ACCUMULATES dx += dh and dr += dh (n elements), the
 * backward of the fused residual add; either may be NULL. */
void lb_cuda_residual_bwd(lb_ctx *ctx, const void *dh, void *dx, void *dr, int64_t n, lb_dtype dt);

/* lb_cuda_layernorm_fwd: out = ((x - mean) * rstd) * w + b (b may be NULL),
 * biased variance. OVERWRITES out, mean and rstd (rows; may be NULL). */
void lb_cuda_layernorm_fwd(lb_ctx *ctx, const void *x, const float *w, const float *b, void *out,
                           float *mean, float *rstd, int64_t rows, int64_t C, float eps,
                           lb_dtype dt);

/* lb_cuda_layernorm_bwd: ACCUMULATES dx, dw, db (f32, two fixed-order
 * passes); each may be NULL. */
void lb_cuda_layernorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *mean,
                           const float *rstd, const void *dout, void *dx, float *dw, float *db,
                           int64_t rows, int64_t C, lb_dtype dt);

/* lb_cuda_softmax_fwd: softmax of each row of x (rows, C). OVERWRITES y. */
void lb_cuda_softmax_fwd(lb_ctx *ctx, const void *x, void *y, int64_t rows, int64_t C, lb_dtype dt);

/* lb_cuda_softmax_bwd: from the forward's y, ACCUMULATES
 * dx += y * (dy - sum(dy * y)) per row. */
void lb_cuda_softmax_bwd(lb_ctx *ctx, const void *y, const void *dy, void *dx, int64_t rows,
                         int64_t C, lb_dtype dt);

/* lb_cuda_rope_fwd: x (B, T, H, hd), rotate-half; inv_freq (hd/2) f32 on
 * the device; theta = (float)(pos0 + t) * inv_freq[j], cosf/sinf.
 * OVERWRITES out. */
void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *inv_freq, int64_t B,
                      int64_t T, int64_t H, int64_t hd, int64_t pos0, lb_dtype dt);

/* lb_cuda_rope_bwd: ACCUMULATES dx += dout rotated by -theta. */
void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, const float *inv_freq, int64_t B,
                      int64_t T, int64_t H, int64_t hd, int64_t pos0, lb_dtype dt);

/* lb_cuda_embedding_fwd: out (n, C) [i] = table (V, C, f32) [ids[i]], ids
 * i32 on the device and in range. OVERWRITES out. */
void lb_cuda_embedding_fwd(lb_ctx *ctx, const float *table, const int32_t *ids, void *out,
                           int64_t n, int64_t C, lb_dtype dt);

/* lb_cuda_embedding_bwd: ACCUMULATES dtable[ids[i]] += dout[i] (f32),
 * deterministic: each element summed by one thread in token order, the
 * CPU's order (bit-identical to the CPU kernel on the same dout). */
void lb_cuda_embedding_bwd(lb_ctx *ctx, const int32_t *ids, const void *dout, float *dtable,
                           int64_t n, int64_t C, lb_dtype dt);

/* lb_cuda_embedding_bwd_atomic: as lb_cuda_embedding_bwd with float
 * atomics: NOT deterministic (summation order varies); for measuring the
 * deterministic version's cost only, no op calls it. ACCUMULATES. */
void lb_cuda_embedding_bwd_atomic(lb_ctx *ctx, const int32_t *ids, const void *dout,
                                  float *dtable, int64_t n, int64_t C, lb_dtype dt);

/* lb_cuda_cross_entropy_fwd: per counted row (target >= 0) of logits
 * (N, V): rowmax, logsum = log sum exp(row - rowmax), nll = (rowmax -
 * logits[t]) + logsum; ignored rows get 0. The vocabulary is read in
 * chunks (no (N, V) f32 buffer). Then loss[0] (f32, device) = sum(nll) /
 * count (0 when count is 0) and *nll_sum (double, device; may be NULL) =
 * sum(nll), summed in a fixed order. targets (N) i32 on the device, < V;
 * count = rows with target >= 0 (the op counts). OVERWRITES rowmax, logsum,
 * nll (N), loss[0] and *nll_sum. */
void lb_cuda_cross_entropy_fwd(lb_ctx *ctx, const void *logits, const int32_t *targets,
                               float *rowmax, float *logsum, float *nll, int64_t count,
                               float *loss, double *nll_sum, int64_t N, int64_t V, lb_dtype dt);

/* lb_cuda_cross_entropy_bwd: dlogits[i] = g * (softmax(logits[i]) -
 * onehot(t[i])) with g = dloss[0] / count (dloss on the device) for
 * counted rows; ignored rows (and every row when count is 0) get 0.
 * accumulate false OVERWRITES dlogits (every element written), true
 * ACCUMULATES (ignored rows untouched). */
void lb_cuda_cross_entropy_bwd(lb_ctx *ctx, const void *logits, const int32_t *targets,
                               const float *rowmax, const float *logsum, const float *dloss,
                               int64_t count, void *dlogits, int64_t N, int64_t V, bool accumulate,
                               lb_dtype dt);

/* View kernels: shapes are padded to 4 dims by the op, as on the CPU. */

/* lb_cuda_transpose_fwd: out = x (shape[4]) with dims d0 and d1 swapped.
 * OVERWRITES out. */
void lb_cuda_transpose_fwd(lb_ctx *ctx, const void *x, void *out, const int64_t shape[4], int d0,
                           int d1, lb_dtype dt);

/* lb_cuda_transpose_bwd: ACCUMULATES dx (shape[4]) += dout transposed
 * back (dout has shape with d0 and d1 swapped). */
void lb_cuda_transpose_bwd(lb_ctx *ctx, const void *dout, void *dx, const int64_t shape[4], int d0,
                           int d1, lb_dtype dt);

/* lb_cuda_slice_fwd: x as (outer, D, inner); out (outer, len, inner) =
 * x[:, start : start + len, :]. OVERWRITES out. */
void lb_cuda_slice_fwd(lb_ctx *ctx, const void *x, void *out, int64_t outer, int64_t D,
                       int64_t inner, int64_t start, int64_t len, lb_dtype dt);

/* lb_cuda_slice_bwd: ACCUMULATES dx[:, start : start + len, :] += dout. */
void lb_cuda_slice_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t outer, int64_t D,
                       int64_t inner, int64_t start, int64_t len, lb_dtype dt);

/* lb_cuda_concat_fwd: a (outer, Da, inner), b (outer, Db, inner) joined
 * into out (outer, Da + Db, inner). OVERWRITES out. */
void lb_cuda_concat_fwd(lb_ctx *ctx, const void *a, const void *b, void *out, int64_t outer,
                        int64_t Da, int64_t Db, int64_t inner, lb_dtype dt);

/* lb_cuda_concat_bwd: ACCUMULATES da += dout[:, :Da], db += dout[:, Da:];
 * either may be NULL. */
void lb_cuda_concat_bwd(lb_ctx *ctx, const void *dout, void *da, void *db, int64_t outer,
                        int64_t Da, int64_t Db, int64_t inner, lb_dtype dt);

/* lb_cuda_reshape_bwd: ACCUMULATES dx += dout (n elements). */
void lb_cuda_reshape_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t n, lb_dtype dt);

#else /* !LB_HAVE_CUDA */

static inline void lb_cuda_rmsnorm_fwd(lb_ctx *ctx, const void *x, const float *w, void *out,
                                       float *rstd, int64_t rows, int64_t C, float eps, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rmsnorm_fwd");
}
static inline void lb_cuda_add_rmsnorm_fwd(lb_ctx *ctx, const void *x, const void *r,
                                           const float *w, void *h, void *out, float *rstd,
                                           int64_t rows, int64_t C, float eps, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_add_rmsnorm_fwd");
}
static inline void lb_cuda_rmsnorm_bwd(lb_ctx *ctx, const void *x, const float *w,
                                       const float *rstd, const void *dout, void *dx, float *dw,
                                       int64_t rows, int64_t C, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rmsnorm_bwd");
}
static inline void lb_cuda_residual_bwd(lb_ctx *ctx, const void *dh, void *dx, void *dr, int64_t n,
                                        lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_residual_bwd");
}
static inline void lb_cuda_layernorm_fwd(lb_ctx *ctx, const void *x, const float *w, const float *b,
                                         void *out, float *mean, float *rstd, int64_t rows,
                                         int64_t C, float eps, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_layernorm_fwd");
}
static inline void lb_cuda_layernorm_bwd(lb_ctx *ctx, const void *x, const float *w,
                                         const float *mean, const float *rstd, const void *dout,
                                         void *dx, float *dw, float *db, int64_t rows, int64_t C,
                                         lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_layernorm_bwd");
}
static inline void lb_cuda_softmax_fwd(lb_ctx *ctx, const void *x, void *y, int64_t rows, int64_t C,
                                       lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_softmax_fwd");
}
static inline void lb_cuda_softmax_bwd(lb_ctx *ctx, const void *y, const void *dy, void *dx,
                                       int64_t rows, int64_t C, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_softmax_bwd");
}
static inline void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *inv_freq,
                                    int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0,
                                    lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rope_fwd");
}
static inline void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, const float *inv_freq,
                                    int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0,
                                    lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rope_bwd");
}
static inline void lb_cuda_embedding_fwd(lb_ctx *ctx, const float *table, const int32_t *ids,
                                         void *out, int64_t n, int64_t C, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_embedding_fwd");
}
static inline void lb_cuda_embedding_bwd(lb_ctx *ctx, const int32_t *ids, const void *dout,
                                         float *dtable, int64_t n, int64_t C, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_embedding_bwd");
}
static inline void lb_cuda_embedding_bwd_atomic(lb_ctx *ctx, const int32_t *ids, const void *dout,
                                                float *dtable, int64_t n, int64_t C, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_embedding_bwd_atomic");
}
static inline void lb_cuda_cross_entropy_fwd(lb_ctx *ctx, const void *logits,
                                             const int32_t *targets, float *rowmax, float *logsum,
                                             float *nll, int64_t count, float *loss,
                                             double *nll_sum, int64_t N, int64_t V, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_cross_entropy_fwd");
}
static inline void lb_cuda_cross_entropy_bwd(lb_ctx *ctx, const void *logits,
                                             const int32_t *targets, const float *rowmax,
                                             const float *logsum, const float *dloss, int64_t count,
                                             void *dlogits, int64_t N, int64_t V, bool accumulate,
                                             lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_cross_entropy_bwd");
}
static inline void lb_cuda_transpose_fwd(lb_ctx *ctx, const void *x, void *out,
                                         const int64_t shape[4], int d0, int d1, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_transpose_fwd");
}
static inline void lb_cuda_transpose_bwd(lb_ctx *ctx, const void *dout, void *dx,
                                         const int64_t shape[4], int d0, int d1, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_transpose_bwd");
}
static inline void lb_cuda_slice_fwd(lb_ctx *ctx, const void *x, void *out, int64_t outer,
                                     int64_t D, int64_t inner, int64_t start, int64_t len,
                                     lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_slice_fwd");
}
static inline void lb_cuda_slice_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t outer,
                                     int64_t D, int64_t inner, int64_t start, int64_t len,
                                     lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_slice_bwd");
}
static inline void lb_cuda_concat_fwd(lb_ctx *ctx, const void *a, const void *b, void *out,
                                      int64_t outer, int64_t Da, int64_t Db, int64_t inner,
                                      lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_concat_fwd");
}
static inline void lb_cuda_concat_bwd(lb_ctx *ctx, const void *dout, void *da, void *db,
                                      int64_t outer, int64_t Da, int64_t Db, int64_t inner,
                                      lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_concat_bwd");
}
static inline void lb_cuda_reshape_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t n,
                                       lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_reshape_bwd");
}

#endif /* LB_HAVE_CUDA */


/* ---- quant.cu: fake quantization (QAT) -------------------------------------
 * The CUDA twin of kernels/cpu/quant.c: the same numbers bit for bit (codes,
 * scales, zeros and the fp32 w^ before its bf16 rounding), checked by
 * tests/test_gpu_quant.c. Every a*b+c of the specification is written with
 * __fmul_rn/__fadd_rn (never contracted into an FMA), divisions are IEEE
 * (__fdiv_rn), round() is rintf (nearest even), fp16 scales go through
 * __float2half_rn with quant/grid.c's clamps. A weight (rows, cols) is cut
 * into groups of `group` consecutive columns of one row, or is one group
 * (`tensor`); scale/zero arrays are (rows, cols / group) or one element.
 * Reductions inside a group are order-independent (min, max, absmax, the
 * first largest |x| of ggml by index), so the codes do not depend on how a
 * group is split across lanes; the mse search sums each candidate's error
 * serially in element order, as the CPU does. Gradient sums (LSQ, PACT) are
 * double, per group by one team of lanes, in a fixed order (deterministic,
 * within rounding of the CPU's order). */

typedef enum lb_cuda_qgrid {
    LB_CUDA_QGRID_INT = 0, LB_CUDA_QGRID_NF4, LB_CUDA_QGRID_FP4, LB_CUDA_QGRID_FP8,
    LB_CUDA_QGRID_Q4_0, LB_CUDA_QGRID_Q4_1, LB_CUDA_QGRID_Q5_0, LB_CUDA_QGRID_Q5_1,
    LB_CUDA_QGRID_Q8_0
} lb_cuda_qgrid;

typedef enum lb_cuda_qmode {
    LB_CUDA_QMODE_MINMAX = 0,  /* int: min-max of the group, this pass */
    LB_CUDA_QMODE_MSE,         /* int: the 81-ratio clip search, this pass */
    LB_CUDA_QMODE_LSQ,         /* int: s (and z) from the learned ps (pz) */
    LB_CUDA_QMODE_LSQP,        /* int: as LSQ, z = round(pz) */
    LB_CUDA_QMODE_ABSMAX,      /* nf4 / fp4 / fp8 */
    LB_CUDA_QMODE_GGML,        /* q4_0 ... q8_0 (group 32) */
} lb_cuda_qmode;

/* lb_cuda_qweight: what a weight quantizer is, in kernel terms (the op
 * layer fills it from the lb_qspec). */
typedef struct lb_cuda_qweight {
    lb_cuda_qgrid grid;
    lb_cuda_qmode mode;
    int bits;           /* int: 2..8 */
    bool sym;           /* int: z = 2^(bits-1) */
    bool f16;           /* scales rounded to fp16 (else clamped fp32) */
    int64_t rows, cols;
    int64_t group;      /* columns per scale (cols per channel; ggml: 32) */
    bool tensor;        /* one scale for the whole weight */
} lb_cuda_qweight;

#ifdef LB_HAVE_CUDA

/* lb_cuda_fake_quant_weight_fwd: the fused forward: reads the f32 weight w
 * once, finds each group's scale and zero (or takes the learned ps / pz,
 * rounded as the forward uses them), and writes w^ as bf16 (out16) and/or
 * f32 (out32, for checks), the codes (export; quantizer.h's table) and the
 * scales/zeros it used (s, z: rows*G floats, or 1; z is 0 for the value
 * grids). OVERWRITES every non-NULL output; s and z are required. ps and pz
 * (the quantizer's scales and zeros, device f32) are read only for LSQ /
 * LSQ+, and both are needed then (LSQ keeps its initialised zeros). Per-tensor granularity takes two extra small launches (the
 * range, then the pass); everything else is one launch (mse: two). */
void lb_cuda_fake_quant_weight_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                   const float *ps, const float *pz, float *s, float *z,
                                   void *out16, float *out32, uint8_t *codes);

/* lb_cuda_fake_quant_weight_bwd: the fused backward of an int grid (the
 * value grids and ggml presets pass everything: dw += dout). With s, z the
 * forward's: ACCUMULATES dw[i] += dout[i] where 0 <= round(w/s) + z <=
 * maxq; ds[k] += g * sum dout * (q - z - (inside ? w/s : 0)) (LSQ);
 * dz[k] += g * sum dout * (inside ? 0 : -s) (LSQ+). dout has dtype tdout
 * (bf16: the grad of a bf16 w^; or f32); dw, ds, dz are f32 and may each
 * be NULL. */
void lb_cuda_fake_quant_weight_bwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                   const float *s, const float *z, const void *dout,
                                   lb_dtype tdout, float g, float *dw, float *ds, float *dz);

/* lb_cuda_fake_quant_ste_bwd: ACCUMULATES dx[i] += dout[i] (n elements,
 * dtypes tdout and tdx: f32 or bf16). */
void lb_cuda_fake_quant_ste_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t n, lb_dtype tdout,
                                lb_dtype tdx);

/* Activations: x, out, dout, dx of dtype dt (bf16 or f32); fp32 arithmetic
 * on the loaded values, one bf16 rounding of each output. */

/* lb_cuda_fake_quant_act_token_fwd: per row s = max|x| / 127 (1 when 0),
 * out = s * clamp(round(x/s), -127, 127). OVERWRITES out. */
void lb_cuda_fake_quant_act_token_fwd(lb_ctx *ctx, const void *x, void *out, int64_t rows,
                                      int64_t cols, lb_dtype dt);

/* lb_cuda_fake_quant_act_static_fwd: out = s * clamp(round(x/s), -128, 127).
 * OVERWRITES out. */
void lb_cuda_fake_quant_act_static_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, float s,
                                       lb_dtype dt);

/* lb_cuda_fake_quant_act_static_bwd: ACCUMULATES dx += dout where
 * -128 <= round(x/s) <= 127. */
void lb_cuda_fake_quant_act_static_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                       int64_t n, float s, lb_dtype dt);

/* lb_cuda_fake_quant_act_pact_fwd: alpha is one f32 on the device (the
 * learned clip, read there: no sync); s = alpha / 127,
 * out = s * round(clamp(x, -alpha, alpha) / s). OVERWRITES out. */
void lb_cuda_fake_quant_act_pact_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n,
                                     const float *alpha, lb_dtype dt);

/* lb_cuda_fake_quant_act_pact_bwd: ACCUMULATES dx += dout where |x| < alpha
 * (dx may be NULL) and dalpha[0] (one f32 on the device, may be NULL) +=
 * sum of dout * sign(x) where |x| >= alpha, summed in double: per block,
 * then the blocks in order. */
void lb_cuda_fake_quant_act_pact_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx,
                                     int64_t n, const float *alpha, float *dalpha, lb_dtype dt);

#else /* !LB_HAVE_CUDA */

static inline void lb_cuda_fake_quant_weight_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, const float *ps, const float *pz, float *s, float *z, void *out16, float *out32, uint8_t *codes)
{
    lb_cuda_absent("lb_cuda_fake_quant_weight_fwd");
}
static inline void lb_cuda_fake_quant_weight_bwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, const float *s, const float *z, const void *dout, lb_dtype tdout, float g, float *dw, float *ds, float *dz)
{
    lb_cuda_absent("lb_cuda_fake_quant_weight_bwd");
}
static inline void lb_cuda_fake_quant_ste_bwd(lb_ctx *ctx, const void *dout, void *dx, int64_t n, lb_dtype tdout, lb_dtype tdx)
{
    lb_cuda_absent("lb_cuda_fake_quant_ste_bwd");
}
static inline void lb_cuda_fake_quant_act_token_fwd(lb_ctx *ctx, const void *x, void *out, int64_t rows, int64_t cols, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_fake_quant_act_token_fwd");
}
static inline void lb_cuda_fake_quant_act_static_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, float s, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_fake_quant_act_static_fwd");
}
static inline void lb_cuda_fake_quant_act_static_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n, float s, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_fake_quant_act_static_bwd");
}
static inline void lb_cuda_fake_quant_act_pact_fwd(lb_ctx *ctx, const void *x, void *out, int64_t n, const float *alpha, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_fake_quant_act_pact_fwd");
}
static inline void lb_cuda_fake_quant_act_pact_bwd(lb_ctx *ctx, const void *x, const void *dout, void *dx, int64_t n, const float *alpha, float *dalpha, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_fake_quant_act_pact_bwd");
}

#endif /* LB_HAVE_CUDA */

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
