/* fakequant.h — the differentiable fake-quant ops (QAT forward/backward).
 *
 * Declared here so that quant/ owns them; defined in autograd/ops_quant.c
 * with the loops in kernels/cpu/quant.c (CPU f32, the specification) and
 * kernels/cuda/quant.cu (a CUDA f32 master weight gives a bf16 w^ in one
 * fused pass, bit-identical with bf16 of the CPU's w^; the quantizer's
 * tensors must then be on the device too: see ops_quant.c).
 *
 * Weights. w^ = dequant(quant(w)) on the quantizer's grid (quantizer.h),
 * same shape as w. Backward (ACCUMULATES, like every op):
 *   dW += dW^ where the code was not clipped: the pre-clamp code
 *         r = round(w/s) + z lies in [0, 2^b - 1], else nothing (int grids:
 *         torchao's masked straight-through estimator). The value grids
 *         nf4/fp4/fp8 and the ggml presets pass every element (their absmax
 *         or min-max scale covers the block). The scale's own dependence on
 *         w (minmax, mse, absmax) is not differentiated.
 *   lsq:  ds += g * sum_group dW^ * (q - z - w/s)   inside,
 *                             dW^ * (0 - z) or (2^b-1 - z) when clipped low/high
 *         (Esser et al. 2020), g = 1 / sqrt(N_group * Qp), N_group = elements
 *         per scale, Qp = 2^(b-1) - 1 (sym) or 2^b - 1 (asym). The fp16
 *         rounding of s and its clamp are passed straight through.
 *   lsq+: as lsq, plus the zero z (a real number in code units, used
 *         rounded): w^ = s * (clamp(round(w/s) + round(z)) - round(z)), so
 *         dz += g * sum_group dW^ * (-s) where clipped, 0 inside. This is
 *         LSQ+'s offset beta = -s*z (Bhalgat et al. 2020): dw^/dbeta = 1
 *         outside the range, 0 inside.
 *
 * Activations (x of any shape, last dim = features):
 *   int8:token:dyn   per row s = max|x_row| / 127 (all-zero row: s = 1),
 *                    x^ = s * clamp(round(x/s), -127, 127); dx += dx^ (STE).
 *   int8:tensor:static  s = the calibrated scale; codes clamp to [-128, 127];
 *                    dx += dx^ where not clipped.
 *   int8:tensor:pact x^ = s * round(clamp(x, -a, a) / s), s = a / 127;
 *                    dx += dx^ where |x| < a; da += sum dx^ * sign(x) where
 *                    |x| >= a (Choi et al. 2018: the STE makes the inside
 *                    term 0).
 *   none             returns x itself (no node).
 * round() is round-half-to-even everywhere except inside the ggml presets,
 * which follow ggml's own rounding.
 */
#ifndef LB_QUANT_FAKEQUANT_H
#define LB_QUANT_FAKEQUANT_H

#include "autograd/ctx.h"
#include "quant/quantizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lb_fake_quant_weight: w^ for w (out, in) matching q's shape (checked:
 * LB_CHECK names the layer). Non-learned quantizers write the scales/zeros
 * the forward used into q->scales / q->zeros. */
lb_tensor *lb_fake_quant_weight(lb_ctx *ctx, lb_tensor *w, lb_quantizer *q);

/* lb_fake_quant_act: x^ for x. A static quantizer that was never observed
 * aborts with a message naming the site (calibrate first). */
lb_tensor *lb_fake_quant_act(lb_ctx *ctx, lb_tensor *x, const lb_quantizer *aq);

#ifdef __cplusplus
}
#endif

#endif
