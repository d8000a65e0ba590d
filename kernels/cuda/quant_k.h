/* quant_k.h — the CUDA kernels of one family (fake quantization), callable from C;
 * included by kernels/cuda/kernels.h, whose contract (dtypes, overwrite vs
 * accumulate, determinism, stubs without CUDA) holds for every function. */
#ifndef LB_CUDA_QUANT_K_H
#define LB_CUDA_QUANT_K_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    LB_CUDA_QGRID_Q8_0, LB_CUDA_QGRID_Q4_K, LB_CUDA_QGRID_Q6_K
} lb_cuda_qgrid;

typedef enum lb_cuda_qmode {
    LB_CUDA_QMODE_MINMAX = 0,  /* int: min-max of the group, this pass */
    LB_CUDA_QMODE_MSE,         /* int: the 81-ratio clip search, this pass */
    LB_CUDA_QMODE_LSQ,         /* int: s (and z) from the learned ps (pz) */
    LB_CUDA_QMODE_LSQP,        /* int: as LSQ, z = round(pz) */
    LB_CUDA_QMODE_ABSMAX,      /* nf4 / fp4 / fp8 */
    LB_CUDA_QMODE_GGML,        /* q4_0 ... q8_0 (group 32); q4_k, q6_k (group
                                  = their sub-block, 32 / 16) */
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
    int64_t group;      /* columns per scale (cols per channel; ggml: 32;
                           q4_k: 32, q6_k: 16) */
    bool tensor;        /* one scale for the whole weight */
} lb_cuda_qweight;

/* lb_clip_mask_words: the u32 words of a clip mask of n elements (bit i%32
 * of word i/32 is element i; the CPU's mask has the same layout). */
static inline int64_t lb_clip_mask_words(int64_t n)
{
    return (n + 31) / 32;
}

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

/* lb_cuda_fake_quant_weight_fwd_mask: lb_cuda_fake_quant_weight_fwd that
 * also OVERWRITES the clip mask (lb_clip_mask_words(rows*cols) u32 words,
 * device): bit i set where element i's pre-clamp code round(w/s) + z lies
 * outside [0, 2^bits - 1] (the masked STE blocks its grad). Int grids
 * only: for the value grids and ggml presets (nothing clips) the mask is
 * all zeros. mask may be NULL (then exactly lb_cuda_fake_quant_weight_fwd). */
void lb_cuda_fake_quant_weight_fwd_mask(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                        const float *ps, const float *pz, float *s, float *z,
                                        void *out16, float *out32, uint8_t *codes, uint32_t *mask);

/* lb_cuda_fake_quant_mask_apply (quant_mask.cu): dw[i] = +0 where bit i of
 * the clip mask is set; no other element is read or written (n elements,
 * f32). The backward of a fake-quant whose master grad already holds dW^
 * (the linear wrote it there, lb_grad_dst_alias). */
void lb_cuda_fake_quant_mask_apply(lb_ctx *ctx, const uint32_t *mask, float *dw, int64_t n);

/* lb_cuda_fake_quant_kquant_fwd (quant_k.cu): the K-quant encoder of
 * quant/grid_k.h for Q->grid LB_CUDA_QGRID_Q4_K / _Q6_K (cols % 256 == 0),
 * one lane per sub-block search, bit for bit with kernels/cpu/quant_k.c: codes,
 * w^ (bf16 out16 and/or f32 out32) and the sub-block scales s and zeros z
 * (q4_k: mins; q6_k: 32), rows * cols/32 (q4_k) or cols/16 (q6_k) floats.
 * OVERWRITES every non-NULL output; s and z are required.
 * lb_cuda_fake_quant_weight_fwd calls it for these grids. */
void lb_cuda_fake_quant_kquant_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, float *s,
                                   float *z, void *out16, float *out32, uint8_t *codes);

/* lb_cuda_fake_quant_weight_bwd: the fused backward of an int grid (the
 * value grids and ggml presets pass everything: dw += dout). With s, z the
 * forward's: dw[i] += dout[i] where 0 <= round(w/s) + z <= maxq: dw
 * accumulates, or overwrites when the grad is marked zero (dw_overwrite: dw
 * is not read, every element is written: dout inside, 0 outside, the bits
 * of adding to zeros); ds[k] += g * sum dout * (q - z - (inside ? w/s :
 * 0)) (LSQ) and dz[k] += g * sum dout * (inside ? 0 : -s) (LSQ+)
 * ACCUMULATE. dout has dtype tdout (bf16: the grad of a bf16 w^; or f32);
 * dw, ds, dz are f32 and may each be NULL. */
void lb_cuda_fake_quant_weight_bwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w,
                                   const float *s, const float *z, const void *dout,
                                   lb_dtype tdout, float g, float *dw, bool dw_overwrite, float *ds,
                                   float *dz);

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
static inline void lb_cuda_fake_quant_weight_fwd_mask(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, const float *ps, const float *pz, float *s, float *z, void *out16, float *out32, uint8_t *codes, uint32_t *mask)
{
    lb_cuda_absent("lb_cuda_fake_quant_weight_fwd_mask");
}
static inline void lb_cuda_fake_quant_mask_apply(lb_ctx *ctx, const uint32_t *mask, float *dw, int64_t n)
{
    lb_cuda_absent("lb_cuda_fake_quant_mask_apply");
}
static inline void lb_cuda_fake_quant_kquant_fwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, float *s, float *z, void *out16, float *out32, uint8_t *codes)
{
    lb_cuda_absent("lb_cuda_fake_quant_kquant_fwd");
}
static inline void lb_cuda_fake_quant_weight_bwd(lb_ctx *ctx, const lb_cuda_qweight *Q, const float *w, const float *s, const float *z, const void *dout, lb_dtype tdout, float g, float *dw, bool dw_overwrite, float *ds, float *dz)
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

#ifdef __cplusplus
}
#endif

#endif
