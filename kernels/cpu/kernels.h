/* kernels.h — the CPU kernels: the fp32 specification of every op.
 *
 * Plain functions on raw float pointers and sizes, grouped by op family, one
 * file per family (gemm, elementwise, norm, softmax, embedding, rope,
 * attention, loss, view); kernels/cuda mirrors the same names. Each kernel
 * says whether it OVERWRITES its output or ACCUMULATES (+=) into it: forward
 * kernels overwrite, backward kernels accumulate into the input grads (the
 * tape's contract), unless said otherwise.
 *
 * All arrays are row-major and contiguous unless a leading dimension is
 * given. Loops run with OpenMP and every reduction written here has a fixed
 * order, so their results do not depend on the number of threads. GEMMs
 * (gemm.c, attention.c) go through OpenBLAS (cblas_sgemm), which uses its
 * own threads: they are never called from inside an OpenMP region, and a
 * kernel that calls them has no OpenMP region between the calls (two thread
 * pools alternating quickly fight over the cores).
 *
 * This file is not the op layer: no shapes are checked here, no memory is
 * allocated, no tape is touched (see autograd/ops.h).
 */
#ifndef LB_KERNELS_CPU_H
#define LB_KERNELS_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LB_CPU_PAR_MIN: the work (elements touched) below which a kernel's loop
 * stays on the calling thread. Such a loop takes a fraction of a
 * millisecond, about what entering an OpenMP region costs while OpenBLAS's
 * threads still spin after the previous GEMM: on 2 cores a 6-layer Llama
 * forward at T=512, C=384 ran ~1.5x slower with these loops in parallel. */
#define LB_CPU_PAR_MIN ((int64_t)1 << 20)

/* ---- gemm.c ---------------------------------------------------------------- */

/* lb_cpu_gemm_fwd: c (M, N) = op(a) @ op(b) + beta * c, op = transpose when
 * the flag is set: a is (M, K) or (K, M) with ta, b is (K, N) or (N, K)
 * with tb. beta 0 OVERWRITES c (c may hold garbage), beta 1 ACCUMULATES. */
void lb_cpu_gemm_fwd(bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                     const float *a, const float *b, float beta, float *c);

/* lb_cpu_gemm_bwd: given dc (M, N) of c = op(a) @ op(b), ACCUMULATES
 * da += d/da (a's stored layout) and db += d/db; da or db may be NULL. */
void lb_cpu_gemm_bwd(bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                     const float *a, const float *b, const float *dc,
                     float *da, float *db);

/* lb_cpu_linear_fwd: y (M, N) = x (M, K) @ w (N, K)^T + bias (N); bias may
 * be NULL. OVERWRITES y. */
void lb_cpu_linear_fwd(const float *x, const float *w, const float *bias, float *y,
                       int64_t M, int64_t N, int64_t K);

/* lb_cpu_linear_bwd: ACCUMULATES dx (M, K) += dy @ w; dw (N, K) += dy^T @ x
 * and dbias (N) += column sums of dy each accumulate, or overwrite when the
 * grad is marked zero (dw_overwrite, db_overwrite: what was there is not
 * read; the sums are the same as added to zeros, bit for bit). Each of dx,
 * dw, dbias may be NULL. */
void lb_cpu_linear_bwd(const float *x, const float *w, const float *dy,
                       float *dx, float *dw, bool dw_overwrite, float *dbias, bool db_overwrite,
                       int64_t M, int64_t N, int64_t K);

/* ---- elementwise.c ---------------------------------------------------------
 * Broadcasting: a has n elements, b has nb elements with n % nb == 0, and
 * b[i % nb] pairs with a[i] (b has a's trailing shape, or a's full shape). */

/* lb_cpu_add_fwd: out = a + b (broadcast). OVERWRITES out. */
void lb_cpu_add_fwd(const float *a, const float *b, float *out, int64_t n, int64_t nb);

/* lb_cpu_add_bwd: ACCUMULATES da += dout, db += dout summed over the
 * broadcast rows; da or db may be NULL. */
void lb_cpu_add_bwd(const float *dout, float *da, float *db, int64_t n, int64_t nb);

/* lb_cpu_mul_fwd: out = a * b (broadcast). OVERWRITES out. */
void lb_cpu_mul_fwd(const float *a, const float *b, float *out, int64_t n, int64_t nb);

/* lb_cpu_mul_bwd: ACCUMULATES da += dout * b, db += sum over broadcast rows
 * of dout * a; da or db may be NULL. */
void lb_cpu_mul_bwd(const float *a, const float *b, const float *dout,
                    float *da, float *db, int64_t n, int64_t nb);

/* lb_cpu_scale_fwd: out = s * a. OVERWRITES out. */
void lb_cpu_scale_fwd(const float *a, float s, float *out, int64_t n);

/* lb_cpu_scale_bwd: ACCUMULATES da += s * dout. */
void lb_cpu_scale_bwd(const float *dout, float s, float *da, int64_t n);

/* lb_cpu_acc: ACCUMULATES dst += src (n elements). */
void lb_cpu_acc(float *dst, const float *src, int64_t n);

/* lb_cpu_colsum_acc: ACCUMULATES out (cols) += sum over rows of x (rows, cols).
 * Summation order is row order for every column, whatever the threads. */
void lb_cpu_colsum_acc(const float *x, float *out, int64_t rows, int64_t cols);

/* lb_cpu_silu_fwd: out = x * sigmoid(x). OVERWRITES out. */
void lb_cpu_silu_fwd(const float *x, float *out, int64_t n);

/* lb_cpu_silu_bwd: ACCUMULATES dx += dout * silu'(x). */
void lb_cpu_silu_bwd(const float *x, const float *dout, float *dx, int64_t n);

/* lb_cpu_gelu_fwd: out = gelu(x), exact (erf) or tanh form. OVERWRITES out. */
void lb_cpu_gelu_fwd(const float *x, float *out, int64_t n, bool tanh_form);

/* lb_cpu_gelu_bwd: ACCUMULATES dx += dout * gelu'(x). */
void lb_cpu_gelu_bwd(const float *x, const float *dout, float *dx, int64_t n, bool tanh_form);

/* lb_cpu_swiglu_fwd: out = silu(gate) * up. OVERWRITES out. */
void lb_cpu_swiglu_fwd(const float *gate, const float *up, float *out, int64_t n);

/* lb_cpu_swiglu_bwd: ACCUMULATES dgate += dout * up * silu'(gate),
 * dup += dout * silu(gate); either may be NULL. */
void lb_cpu_swiglu_bwd(const float *gate, const float *up, const float *dout,
                       float *dgate, float *dup, int64_t n);

/* lb_cpu_sum_fwd: the sum of x (n elements), accumulated in double in index
 * order and rounded once. Returns it (no output array). */
float lb_cpu_sum_fwd(const float *x, int64_t n);

/* lb_cpu_sum_bwd: ACCUMULATES dx += dout (a scalar) into every element. */
void lb_cpu_sum_bwd(float dout, float *dx, int64_t n);

/* ---- norm.c ------------------------------------------------------------------ */

/* lb_cpu_rmsnorm_fwd: per row of x (rows, C): out = x * rstd * w with
 * rstd = 1 / sqrt(mean(x^2) + eps). OVERWRITES out and rstd (rows); rstd may
 * be NULL. */
void lb_cpu_rmsnorm_fwd(const float *x, const float *w, float *out, float *rstd,
                        int64_t rows, int64_t C, float eps);

/* lb_cpu_rmsnorm_bwd: with rstd from the forward, ACCUMULATES dx (rows, C);
 * dw (C) accumulates, or overwrites when the grad is marked zero
 * (dw_overwrite: cleared, then the same sums: the bits of adding to zeros).
 * dx or dw may be NULL. */
void lb_cpu_rmsnorm_bwd(const float *x, const float *w, const float *rstd,
                        const float *dout, float *dx, float *dw, bool dw_overwrite,
                        int64_t rows, int64_t C);

/* lb_cpu_layernorm_fwd: per row: out = (x - mean) * rstd * w + b with the
 * biased variance, rstd = 1 / sqrt(var + eps); b may be NULL. OVERWRITES out,
 * mean and rstd (rows); mean and rstd may be NULL. */
void lb_cpu_layernorm_fwd(const float *x, const float *w, const float *b, float *out,
                          float *mean, float *rstd, int64_t rows, int64_t C, float eps);

/* lb_cpu_layernorm_bwd: ACCUMULATES dx (rows, C); dw (C) and db (C) each
 * accumulate, or overwrite when the grad is marked zero (dw_overwrite,
 * db_overwrite: cleared, then the same sums). Each may be NULL. */
void lb_cpu_layernorm_bwd(const float *x, const float *w, const float *mean,
                          const float *rstd, const float *dout, float *dx, float *dw,
                          bool dw_overwrite, float *db, bool db_overwrite, int64_t rows, int64_t C);

/* ---- softmax.c ------------------------------------------------------------- */

/* lb_cpu_softmax_fwd: stable softmax of each row of x (rows, C). OVERWRITES
 * out (which may alias x). */
void lb_cpu_softmax_fwd(const float *x, float *out, int64_t rows, int64_t C);

/* lb_cpu_softmax_bwd: from the forward's output y, ACCUMULATES
 * dx += y * (dy - sum(dy * y)) per row. */
void lb_cpu_softmax_bwd(const float *y, const float *dy, float *dx, int64_t rows, int64_t C);

/* ---- embedding.c ----------------------------------------------------------- */

/* lb_cpu_embedding_fwd: out (n, C) [i] = table (V, C) [ids[i]]. OVERWRITES
 * out. ids must be in range (the op checks). */
void lb_cpu_embedding_fwd(const float *table, const int32_t *ids, float *out,
                          int64_t n, int64_t C);

/* lb_cpu_embedding_bwd: ACCUMULATES dtable[ids[i]] += dout[i] for every i,
 * repeated ids summed in index order; also into a grad marked zero (a
 * scatter never overwrites: the rows it is not given keep their zeros). */
void lb_cpu_embedding_bwd(const int32_t *ids, const float *dout, float *dtable,
                          int64_t n, int64_t C);

/* ---- rope.c ---------------------------------------------------------------- */

/* lb_cpu_rope_fwd: x (B, T, H, hd), rotate-half layout: for j < hd/2 the
 * pair (x[j], x[j + hd/2]) at position p = pos0 + t is rotated by
 * theta = (float)p * inv_freq[j] (fp32 product, cosf/sinf). OVERWRITES out. */
void lb_cpu_rope_fwd(const float *x, float *out, const float *inv_freq,
                     int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0);

/* lb_cpu_rope_bwd: ACCUMULATES dx += the inverse rotation of dout (rotation
 * by -theta, the transpose of the forward's). */
void lb_cpu_rope_bwd(const float *dout, float *dx, const float *inv_freq,
                     int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0);

/* ---- attention.c ----------------------------------------------------------- */

/* lb_cpu_attention_fwd: causal grouped-query attention. q (B, T, nh, hd),
 * k and v (B, S, nkv, hd); query t at position q_pos0 + t sees keys
 * 0 .. q_pos0 + t; query head h reads kv head h / (nh / nkv); scale
 * 1/sqrt(hd). OVERWRITES out (B, T, nh, hd). When probs is non-NULL it
 * receives the softmax probabilities (B, nh, T, S), zero past the causal
 * limit (OVERWRITES); when NULL, scratch must hold
 * lb_cpu_attention_scratch_floats(S) floats. */
void lb_cpu_attention_fwd(const float *q, const float *k, const float *v, float *out,
                          float *probs, float *scratch,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0);

/* lb_cpu_attention_scratch_floats: the scratch the forward without probs
 * and the backward need: one block of query rows by S keys. */
int64_t lb_cpu_attention_scratch_floats(int64_t S);

/* lb_cpu_attention_bwd: from probs of the forward and dout (B, T, nh, hd),
 * ACCUMULATES dq, dk, dv (each may be NULL). scratch holds
 * lb_cpu_attention_scratch_floats(S) floats (its contents are clobbered). */
void lb_cpu_attention_bwd(const float *q, const float *k, const float *v,
                          const float *probs, const float *dout, float *scratch,
                          float *dq, float *dk, float *dv,
                          int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv,
                          int64_t hd, int64_t q_pos0);

/* ---- loss.c ---------------------------------------------------------------- */

/* lb_cpu_cross_entropy_fwd: per row i of logits (N, V) with target
 * t[i] >= 0: rowmax[i] = max of the row, logsum[i] = log sum exp(row -
 * rowmax) (sum in double) and nll[i] = (rowmax[i] - logits[i, t[i]]) +
 * logsum[i], which keeps its precision when the logits are large. Ignored
 * rows (t[i] < 0) get 0 in all three. OVERWRITES rowmax, logsum, nll (N).
 * Targets must be < V (the op checks). */
void lb_cpu_cross_entropy_fwd(const float *logits, const int32_t *targets,
                              float *rowmax, float *logsum, float *nll, int64_t N, int64_t V);

/* lb_cpu_cross_entropy_bwd: ACCUMULATES dlogits[i] += g * (softmax(logits[i])
 * - onehot(t[i])) for rows with t[i] >= 0, the softmax taken as
 * exp((logits - rowmax) - logsum); ignored rows get nothing. g is
 * d(loss)/d(mean nll) / count, supplied by the caller. */
void lb_cpu_cross_entropy_bwd(const float *logits, const int32_t *targets,
                              const float *rowmax, const float *logsum, float g,
                              float *dlogits, int64_t N, int64_t V);

/* ---- view.c -----------------------------------------------------------------
 * Shapes are padded to 4 dims with leading 1s by the op before the call. */

/* lb_cpu_transpose_fwd: out = x (shape[4]) with dims d0 and d1 swapped.
 * OVERWRITES out. */
void lb_cpu_transpose_fwd(const float *x, float *out, const int64_t shape[4], int d0, int d1);

/* lb_cpu_transpose_bwd: dout has x's shape with d0 and d1 swapped;
 * ACCUMULATES dx (shape[4]) += its transpose back. */
void lb_cpu_transpose_bwd(const float *dout, float *dx, const int64_t shape[4], int d0, int d1);

/* lb_cpu_slice_fwd: x viewed as (outer, D, inner); out (outer, len, inner) =
 * x[:, start : start + len, :]. OVERWRITES out. */
void lb_cpu_slice_fwd(const float *x, float *out, int64_t outer, int64_t D, int64_t inner,
                      int64_t start, int64_t len);

/* lb_cpu_slice_bwd: ACCUMULATES dx[:, start : start + len, :] += dout. */
void lb_cpu_slice_bwd(const float *dout, float *dx, int64_t outer, int64_t D, int64_t inner,
                      int64_t start, int64_t len);

/* lb_cpu_concat_fwd: a (outer, Da, inner) and b (outer, Db, inner) joined
 * into out (outer, Da + Db, inner). OVERWRITES out. */
void lb_cpu_concat_fwd(const float *a, const float *b, float *out, int64_t outer,
                       int64_t Da, int64_t Db, int64_t inner);

/* lb_cpu_concat_bwd: ACCUMULATES da += dout[:, :Da], db += dout[:, Da:];
 * either may be NULL. */
void lb_cpu_concat_bwd(const float *dout, float *da, float *db, int64_t outer,
                       int64_t Da, int64_t Db, int64_t inner);

/* ---- quant.c ----------------------------------------------------------------
 * Fake-quant loops (QAT): the row-parallel, table-driven twin of the scalar
 * reference in quant/grid.c, which is the specification of every grid (the
 * formulas are written down in quant/grid.h). A weight (rows, cols) is cut
 * into groups of `group` consecutive columns of one row, or is one group
 * (`tensor`); scale/zero arrays are (rows, cols / group) or one element.
 * round() is nearest-even; nothing here depends on the thread count. */

typedef struct lb_cpu_qlayout {
    int64_t rows, cols;
    int64_t group;      /* columns per scale (cols for per-channel) */
    bool tensor;        /* one scale for the whole weight */
} lb_cpu_qlayout;

typedef enum lb_cpu_qgrid { LB_CPU_QGRID_NF4 = 0, LB_CPU_QGRID_FP4, LB_CPU_QGRID_FP8 } lb_cpu_qgrid;

typedef enum lb_cpu_ggml {
    LB_CPU_GGML_Q4_0 = 0, LB_CPU_GGML_Q4_1, LB_CPU_GGML_Q5_0, LB_CPU_GGML_Q5_1, LB_CPU_GGML_Q8_0,
    LB_CPU_GGML_Q4_K, LB_CPU_GGML_Q6_K   /* quant_k.c */
} lb_cpu_ggml;

/* lb_cpu_quant_int_params: int<bits> min-max (mse: the 81-ratio clip
 * search) scale and zero of every group, rounded to fp16 when f16.
 * OVERWRITES s and z. */
void lb_cpu_quant_int_params(const float *w, lb_cpu_qlayout L, int bits, bool sym, bool f16,
                             bool mse, float *s, float *z);

/* lb_cpu_quant_absmax_params: s = max|x| / vmax per group (1 for an
 * all-zero group), rounded to fp16 when f16. OVERWRITES s. */
void lb_cpu_quant_absmax_params(const float *w, lb_cpu_qlayout L, float vmax, bool f16, float *s);

/* lb_cpu_fake_quant_int_fwd: q = clamp(round(w/s) + z, 0, 2^bits - 1),
 * out = s * (q - z). OVERWRITES out and codes; either may be NULL. */
void lb_cpu_fake_quant_int_fwd(const float *w, const float *s, const float *z, lb_cpu_qlayout L,
                               int bits, float *out, uint8_t *codes);

/* lb_cpu_fake_quant_int_bwd: with r = round(w/s) + z: dw += dout where
 * 0 <= r <= maxq: dw accumulates, or overwrites when the grad is marked
 * zero (dw_overwrite: not read; dout inside, 0 outside, the bits of adding
 * to zeros); ds[group] += g * sum dout * (q - z - (inside ? w/s : 0)) (LSQ)
 * and dz[group] += g * sum dout * (inside ? 0 : -s) (LSQ+) ACCUMULATE. dw,
 * ds, dz may each be NULL. */
void lb_cpu_fake_quant_int_bwd(const float *w, const float *s, const float *z, const float *dout,
                               lb_cpu_qlayout L, int bits, float g, float *dw, bool dw_overwrite, float *ds,
                               float *dz);

/* lb_cpu_fake_quant_int_clipmask: OVERWRITES the clip mask ((n + 31) / 32
 * u32 words, n = rows * cols; bit i % 32 of word i / 32 is element i): set
 * where r = round(w/s) + z lies outside [0, 2^bits - 1], the elements
 * lb_cpu_fake_quant_int_bwd gives no grad. */
void lb_cpu_fake_quant_int_clipmask(const float *w, const float *s, const float *z, lb_cpu_qlayout L,
                                    int bits, uint32_t *mask);

/* lb_cpu_fake_quant_mask_apply: in place over n elements: dw = +0 where
 * the mask's bit is set, else 0 + dw (the bits lb_cpu_fake_quant_int_bwd
 * writes when overwriting with dout = dw; mask NULL: nothing clipped). */
void lb_cpu_fake_quant_mask_apply(const uint32_t *mask, float *dw, int64_t n);

/* lb_cpu_fake_quant_lut_fwd: nf4 / fp4 / fp8 (e4m3fn) codes of w/s and
 * out = s * value(code). OVERWRITES out and codes; either may be NULL. */
void lb_cpu_fake_quant_lut_fwd(lb_cpu_qgrid grid, const float *w, const float *s,
                               lb_cpu_qlayout L, float *out, uint8_t *codes);

/* lb_cpu_fake_quant_ggml_fwd: ggml's reference quantizer per block of 32
 * along each row (cols % 32 == 0), dequantized with the fp16 scale.
 * OVERWRITES out, codes, s (fp16-rounded d) and z (8/16/128, or the fp16
 * min of q4_1/q5_1), each (rows, cols/32) or (rows, cols); any may be NULL. */
void lb_cpu_fake_quant_ggml_fwd(lb_cpu_ggml type, const float *w, int64_t rows, int64_t cols,
                                float *out, uint8_t *codes, float *s, float *z);

/* lb_cpu_fake_quant_kquant_fwd (quant_k.c): the K-quant reference of
 * quant/grid_k.h per super-block of 256 along each row (cols % 256 == 0),
 * type LB_CPU_GGML_Q4_K or _Q6_K. OVERWRITES out and codes (rows, cols),
 * s (sub-block scales d*sc) and z (q4_k: mins dmin*mn; q6_k: 32), each
 * (rows, cols/32) for q4_k, (rows, cols/16) for q6_k; any may be NULL. */
void lb_cpu_fake_quant_kquant_fwd(lb_cpu_ggml type, const float *w, int64_t rows, int64_t cols,
                                  float *out, uint8_t *codes, float *s, float *z);

/* lb_cpu_fake_quant_act_token_fwd: per row s = max|x| / 127 (1 when 0),
 * out = s * clamp(round(x/s), -127, 127). OVERWRITES out. */
void lb_cpu_fake_quant_act_token_fwd(const float *x, float *out, int64_t rows, int64_t cols);

/* lb_cpu_fake_quant_act_static_fwd: out = s * clamp(round(x/s), -128, 127).
 * OVERWRITES out. */
void lb_cpu_fake_quant_act_static_fwd(const float *x, float *out, int64_t n, float s);

/* lb_cpu_fake_quant_act_static_bwd: ACCUMULATES dx += dout where
 * -128 <= round(x/s) <= 127. */
void lb_cpu_fake_quant_act_static_bwd(const float *x, const float *dout, float *dx, int64_t n,
                                      float s);

/* lb_cpu_fake_quant_act_pact_fwd: s = alpha / 127,
 * out = s * round(clamp(x, -alpha, alpha) / s). OVERWRITES out. */
void lb_cpu_fake_quant_act_pact_fwd(const float *x, float *out, int64_t n, float alpha);

/* lb_cpu_fake_quant_act_pact_bwd: ACCUMULATES dx += dout where |x| < alpha
 * (dx may be NULL) and returns sum of dout * sign(x) where |x| >= alpha
 * (the alpha grad), summed in double in a fixed order. */
double lb_cpu_fake_quant_act_pact_bwd(const float *x, const float *dout, float *dx, int64_t n,
                                      float alpha);

#endif
