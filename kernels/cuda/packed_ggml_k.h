/* packed_ggml_k.h — the CUDA kernels of one family (decoding ggml-packed
 * weights: GGUF tensors), callable from C; included by kernels/cuda/kernels.h,
 * whose contract (dtypes, overwrite vs accumulate, determinism, stubs
 * without CUDA) holds for every function. */
#ifndef LB_CUDA_PACKED_GGML_K_H
#define LB_CUDA_PACKED_GGML_K_H

#include <stdint.h>

#include "autograd/ctx.h"
#include "kernels/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- packed_ggml.cu: ggml block dequantization (quant/packed.h, FORMATS §5.3) ----
 * The CUDA twin of quant/packed_ggml.c. `data` holds rows of row_bytes
 * bytes, each cols elements as ggml blocks of `type` (F32 0, F16 1, Q4_0 2,
 * Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q4_K 12, Q6_K 14, BF16 30). */
#ifdef LB_HAVE_CUDA
/* lb_cuda_packed_ggml_decode: OVERWRITES out (n, cols) in dtype dt (f32, or
 * bf16 = the f32 value rounded once) with rows r0 .. r0+n-1 (idx NULL) or
 * rows idx[0..n) (idx: device i32) of the matrix: each value is the f32 of
 * ggml's dequantize_row_* with the same operations in the same order
 * (__fmul_rn / __fadd_rn / __fsub_rn, no FMA), so it equals the CPU's. */
void lb_cuda_packed_ggml_decode(lb_ctx *ctx, int type, const void *data, int64_t row_bytes, int64_t cols,
                                int64_t r0, int64_t n, const int32_t *idx, void *out, lb_dtype dt);
#else
static inline void lb_cuda_packed_ggml_decode(lb_ctx *ctx, int type, const void *data, int64_t row_bytes,
                                              int64_t cols, int64_t r0, int64_t n, const int32_t *idx, void *out,
                                              lb_dtype dt)
{
    lb_cuda_absent("lb_cuda_packed_ggml_decode");
}
#endif

#ifdef __cplusplus
}
#endif

#endif
