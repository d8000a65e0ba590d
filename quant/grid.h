/* grid.h — the scalar reference of every quantizer grid, one group at a time.
 *
 * These functions ARE the specification of each format (like ggml's
 * quantize_row_*_ref): plain loops, fp32 arithmetic in a fixed order, no
 * fast-math. The row-parallel kernels (kernels/cpu/quant.c), the CUDA pass
 * and the exporters must agree with them bit for bit; tests/test_quant_grid.c
 * checks that.
 *
 * int<b> (asym / sym), min-max (GPTQ find_params, torchao):
 *   xmin = min(min x, 0), xmax = max(max x, 0); if xmin == xmax == 0 (an
 *   all-zero group) use xmin = -1, xmax = +1 (AutoGPTQ's convention).
 *   asym: s_raw = (xmax - xmin) / maxq
 *   sym:  a = max(-xmin, xmax), s_raw = (a + a) / maxq
 *   s = the storage rounding of s_raw: f16 -> nearest-even fp16 value,
 *       clamped to [2^-24, 65504] (the smallest subnormal and largest finite
 *       fp16: a group of tiny values gets the smallest scale and all-zero
 *       codes around z, a group beyond 65504 * maxq saturates instead of
 *       making inf); f32 -> s_raw clamped to [2^-149, FLT_MAX].
 *   asym: z = clamp(round(-xmin / s), 0, maxq) computed with the rounded s
 *   sym:  z = 2^(b-1)   (DESIGN §4: s = 2 max|x| / maxq even when no value is
 *         negative; AutoGPTQ would use max/maxq there.)
 *   q = clamp(round(x / s) + z, 0, maxq), x^ = s * (q - z); round = nearest,
 *   ties to even (nearbyintf, default rounding mode).
 * int<b> mse: the same formulas on a shrunk range. For i = 0..80 (81
 *   candidates) p_i = (float)(1 - i/100) computed in double, i.e. 1.00 down to
 *   0.20; the candidate range is (p_i * xmin, p_i * xmax) in fp32 (sym:
 *   p_i * a); its error is sum over the group of (x^ - x)^2 accumulated in
 *   double in element order; the first candidate with the smallest error
 *   wins (strict <). This is GPTQ's mse=True search (grid 100) with norm 2
 *   instead of 2.4 and the range extended from 0.21 down to 0.20.
 *
 * nf4 / fp4 / fp8 (absmax): a = max |x| of the group; s_raw = a / V where V
 *   is the largest grid value (nf4 1, fp4 6, fp8 448); a == 0 gives s = 1;
 *   s = storage rounding as above. y = x / s, then:
 *   nf4: code = the number of midpoints m_k below y (y > m_k, k = 0..14),
 *        m_k = (float)((nf4[k] + nf4[k+1]) / 2 in double): nearest value,
 *        ties to the lower code (bitsandbytes compares with '>').
 *   fp4: IEEE-style e2m1 rounding of y, nearest, ties to even code, values
 *        beyond 6 saturate to 6; code = sign << 3 | magnitude index, the sign
 *        taken from y (so -0 is code 8).
 *   fp8: e4m3fn rounding of y, nearest even, saturating at 448 (0x7e), sign
 *        bit 0x80 from y; subnormals (2^-9 steps below 2^-6) are kept.
 *   x^ = s * value(code).
 *
 * ggml presets, one block of 32 (FORMATS §5.3, ggml quantize_row_*_ref):
 *   codes come from the fp32 scale, the stored fp16 scale dequantizes:
 *   q4_0/q5_0: m = the signed value of largest |x| (first wins; m starts at +0
 *     and is replaced only when |x| > amax, so a block of zeros stores d = -0
 *     as ggml's C does; gguf-py stores +0 when x[0] is -0), d = m / -8
 *     (-16), id = d ? 1/d : 0, code = min(15 (31), (int8)(x*id + 8.5 (16.5)));
 *   q4_1/q5_1: d = (max - min) / 15 (31), code = min(15 (31), (int8)((x -
 *     min)*id + 0.5)), stored min m = fp16(min);
 *   q8_0: d = max|x| / 127, code = roundf(x * id) + 128 (half away from 0);
 *   s = fp16(d) (IEEE round to nearest even, overflow to inf, as ggml), and
 *   x^ = s * (code - z) with z = 8, 16, 128, or x^ = s * code + m (q*_1).
 */
#ifndef LB_QUANT_GRID_H
#define LB_QUANT_GRID_H

#include <stdint.h>

#include "quant/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LB_QGRID_MSE_STEPS 81       /* p = 1.00, 0.99, ..., 0.20 */
#define LB_GGML_BLOCK 32

/* The NormalFloat-4 values of bitsandbytes (code index order). */
extern const float lb_nf4_values[16];

/* lb_grid_round_scale: s_raw rounded to the storage dtype and clamped
 * (see above): f16 or f32. */
float lb_grid_round_scale(float s_raw, bool f16);

/* lb_grid_params: scale and zero of one group x[0..n) under spec (int
 * minmax / mse, nf4, fp4, fp8; not the ggml presets). *z is 0 for the
 * value grids. For lsq / lsq+ this is the MSE initialisation. */
void lb_grid_params(const lb_qspec *spec, const float *x, int64_t n, float *s, float *z);

/* lb_grid_int_params_range: int scale and zero from a range (xmin <= 0 <=
 * xmax, the all-zero convention already applied). */
void lb_grid_int_params_range(int bits, bool sym, bool f16, float xmin, float xmax, float *s,
                              float *z);

/* lb_grid_quantize: codes of x[0..n) with the given s, z (int and value
 * grids). */
void lb_grid_quantize(const lb_qspec *spec, const float *x, int64_t n, float s, float z,
                      uint8_t *codes);

/* lb_grid_dequantize: x^[0..n) from codes and s, z (any format; for q4_1
 * and q5_1, z is the stored min m). */
void lb_grid_dequantize(const lb_qspec *spec, const uint8_t *codes, int64_t n, float s, float z,
                        float *out);

/* lb_grid_ggml_block: the ggml reference quantizer on one block of 32
 * (q4_0 q4_1 q5_0 q5_1 q8_0; the K-quants are in grid_k.h): codes, the
 * fp16-rounded scale *s and *z (8/16/128, or the fp16 min m for q4_1/q5_1). */
void lb_grid_ggml_block(lb_qformat fmt, const float *x, uint8_t *codes, float *s, float *z);

/* lb_grid_value: the grid value of a code (nf4, fp4, fp8), unscaled. */
float lb_grid_value(lb_qformat fmt, uint8_t code);

#ifdef __cplusplus
}
#endif

#endif
