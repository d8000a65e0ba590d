/* packed_gptq_k.h — the CUDA kernels of one family (decoding GPTQ-packed
 * weights), callable from C; included by kernels/cuda/kernels.h, whose
 * contract (dtypes, overwrite vs accumulate, determinism, stubs without
 * CUDA) holds for every function. */
#ifndef LB_CUDA_PACKED_GPTQ_K_H
#define LB_CUDA_PACKED_GPTQ_K_H

#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- packed_gptq.cu: GPTQ dequantization (quant/packed.h, FORMATS §3.6) ----
 * The CUDA twin of quant/packed_gptq.c. A linear of N outputs (rows) and K
 * inputs (cols): qweight (K*bits/32, N) i32, qzeros (G, N*bits/32) i32,
 * scales (G, N) f16 (raw bits), g_idx (K) i32 or NULL (= k / group_size;
 * group_size -1 = one group). Value i of a packed sequence is at bit
 * i*bits of its words' bit stream (3-bit values cross words). */
#ifdef LB_HAVE_CUDA
/* lb_cuda_packed_gptq_decode: OVERWRITES out (n, K) in dtype dt (f32, or
 * bf16 = the f32 value rounded once) with rows [r0, r0 + n) of the weight
 * in nn.Linear layout: out[r - r0][k] = scale * (q - ((zfield + zero_offset)
 * & (2^bits - 1))), the f32 product of the fp16 scale and the exact integer
 * difference — the CPU decoder's value bit for bit. */
void lb_cuda_packed_gptq_decode(lb_ctx *ctx, const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                                const int32_t *g_idx, int64_t N, int64_t K, int bits, int group_size,
                                int zero_offset, int64_t r0, int64_t n, void *out, lb_dtype dt);
#else
static inline void lb_cuda_packed_gptq_decode(lb_ctx *ctx, const int32_t *qweight, const int32_t *qzeros,
                                              const uint16_t *scales, const int32_t *g_idx, int64_t N, int64_t K,
                                              int bits, int group_size, int zero_offset, int64_t r0, int64_t n,
                                              void *out, lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_packed_gptq_decode");
}
#endif

#ifdef __cplusplus
}
#endif

#endif
