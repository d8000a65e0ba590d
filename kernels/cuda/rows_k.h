/* rows_k.h — the CUDA kernels of one family (norm, softmax, rope, embedding, loss and view), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_ROWS_K_H
#define LB_CUDA_ROWS_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* lb_cuda_rmsnorm_bwd: dx (rows, C) and dw (C, f32; summed over rows in two
 * fixed-order passes, no atomics) each accumulate, or overwrite when the
 * grad is new or marked zero (overwrite for dx, dw_overwrite for dw: not
 * read, need not be initialised); either may be NULL. */
void lb_cuda_rmsnorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *rstd,
                         const void *dout, void *dx, bool overwrite, float *dw, bool dw_overwrite,
                         int64_t rows, int64_t C, lb_dtype dt);

/* lb_cuda_residual_bwd: ACCUMULATES dx += dh and dr += dh (n elements), the
 * backward of the fused residual add; either may be NULL. */
void lb_cuda_residual_bwd(lb_ctx *ctx, const void *dh, void *dx, void *dr, int64_t n, lb_dtype dt);

/* lb_cuda_layernorm_fwd: out = ((x - mean) * rstd) * w + b (b may be NULL),
 * biased variance. OVERWRITES out, mean and rstd (rows; may be NULL). */
void lb_cuda_layernorm_fwd(lb_ctx *ctx, const void *x, const float *w, const float *b, void *out,
                           float *mean, float *rstd, int64_t rows, int64_t C, float eps,
                           lb_dtype dt);

/* lb_cuda_layernorm_bwd: ACCUMULATES dx; dw and db (f32, two fixed-order
 * passes) each accumulate, or overwrite when the grad is marked zero
 * (dw_overwrite, db_overwrite: not read). Each may be NULL. */
void lb_cuda_layernorm_bwd(lb_ctx *ctx, const void *x, const float *w, const float *mean,
                           const float *rstd, const void *dout, void *dx, float *dw,
                           bool dw_overwrite, float *db, bool db_overwrite, int64_t rows, int64_t C,
                           lb_dtype dt);

/* lb_cuda_softmax_fwd: softmax of each row of x (rows, C). OVERWRITES y. */
void lb_cuda_softmax_fwd(lb_ctx *ctx, const void *x, void *y, int64_t rows, int64_t C, lb_dtype dt);

/* lb_cuda_softmax_bwd: from the forward's y, ACCUMULATES
 * dx += y * (dy - sum(dy * y)) per row. */
void lb_cuda_softmax_bwd(lb_ctx *ctx, const void *y, const void *dy, void *dx, int64_t rows,
                         int64_t C, lb_dtype dt);

/* lb_cuda_rope_table: the angles of positions pos0 .. pos0 + T - 1:
 * cs (2, T, hd/2) f32 on the device, cs[0][t][j] = cosf(theta), cs[1][t][j]
 * = sinf(theta), theta = (float)(pos0 + t) * inv_freq[j] (inv_freq (hd/2)
 * f32 on the device). OVERWRITES cs. */
void lb_cuda_rope_table(lb_ctx *ctx, const float *inv_freq, float *cs, int64_t T, int64_t hd,
                        int64_t pos0);

/* lb_cuda_rope_fwd: x (B, T, H, hd), rotate-half by the angles of cs
 * (lb_cuda_rope_table for this T). OVERWRITES out. */
void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *cs, int64_t B,
                      int64_t T, int64_t H, int64_t hd, lb_dtype dt);

/* lb_cuda_rope_bwd: ACCUMULATES dx += dout rotated by -theta (OVERWRITES
 * dx when overwrite: a new grad). */
void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, bool overwrite, const float *cs,
                      int64_t B, int64_t T, int64_t H, int64_t hd, lb_dtype dt);

/* lb_cuda_embedding_fwd: out (n, C) [i] = table (V, C, table_dt: f32 or
 * bf16) [ids[i]], rounded to dt, ids i32 on the device and in range.
 * OVERWRITES out. */
void lb_cuda_embedding_fwd(lb_ctx *ctx, const void *table, lb_dtype table_dt, const int32_t *ids,
                           void *out, int64_t n, int64_t C, lb_dtype dt);

/* lb_cuda_embedding_bwd: ACCUMULATES dtable[ids[i]] += dout[i] (f32),
 * deterministic: each element summed by one thread in token order, the
 * CPU's order (bit-identical to the CPU kernel on the same dout). It
 * accumulates also when the grad is marked zero (the op takes the mark with
 * lb_grad_of): a scatter writes only the rows it is given, so overwriting
 * would mean clearing the table, the memset lb_model_zero_grad already did. */
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
                                       const float *rstd, const void *dout, void *dx,
                                       bool overwrite, float *dw, bool dw_overwrite, int64_t rows,
                                       int64_t C, lb_dtype dt)
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
                                         void *dx, float *dw, bool dw_overwrite, float *db,
                                         bool db_overwrite, int64_t rows, int64_t C, lb_dtype dt)
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
static inline void lb_cuda_rope_table(lb_ctx *ctx, const float *inv_freq, float *cs, int64_t T,
                                      int64_t hd, int64_t pos0)
{
    lb_cuda_absent("lb_cuda_rope_table");
}
static inline void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *cs,
                                    int64_t B, int64_t T, int64_t H, int64_t hd, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rope_fwd");
}
static inline void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, bool overwrite,
                                    const float *cs, int64_t B, int64_t T, int64_t H, int64_t hd,
                                    lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_rope_bwd");
}
static inline void lb_cuda_embedding_fwd(lb_ctx *ctx, const void *table, lb_dtype table_dt,
                                         const int32_t *ids, void *out, int64_t n, int64_t C,
                                         lb_dtype dt)
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

#ifdef __cplusplus
}
#endif

#endif
