/* ops_quant.h — what autograd/ops_quant.c exposes beyond quant/fakequant.h's
 * ops: the clip mask a weight fake-quant saved for its backward (for checks:
 * tests compare the CUDA mask with the CPU's). */
#ifndef LB_OPS_QUANT_H
#define LB_OPS_QUANT_H

#include <stdint.h>

#include "autograd/ctx.h"

/* lb_fake_quant_weight_clip_mask: for w^ = lb_fake_quant_weight(...) recorded
 * on the tape, the clip mask its forward saved: (rows*cols + 31) / 32 u32
 * words, bit i % 32 of word i / 32 set where element i's pre-clamp code lies
 * outside [0, 2^bits - 1]; host memory for a CPU weight, device memory for a
 * CUDA one (step lifetime). NULL when w^ has no such node, or its quantizer
 * keeps no mask (lsq / lsq+, value grids and ggml presets: nothing clips). */
const uint32_t *lb_fake_quant_weight_clip_mask(const lb_tensor *what);

#endif
