/* packed_ggml.h — decoding LB_PACKED_GGML weights (quant/packed.h) on the
 * CPU, the specification the CUDA decoder (kernels/cuda/packed_ggml.cu)
 * matches bit for bit: F32 as is, F16 and BF16 widened exactly, the block
 * types through ggml's dequantize_row_* (lb_ggml_dequantize_row). Not here:
 * the dispatch by kind and step memory (quant/packed.c). */
#ifndef LB_QUANT_PACKED_GGML_H
#define LB_QUANT_PACKED_GGML_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "quant/packed.h"
#include "quant/spec.h"

/* lb_ggml_type_decodable: lowbit can decode ggml type id `type` (F32 F16
 * BF16 and the block types of quant/ggml_pack.h); *fmt gets the block
 * type's lb_qformat (LB_QF_NONE for the float types). */
bool lb_ggml_type_decodable(int type, lb_qformat *fmt);

/* lb_packed_ggml_decode: OVERWRITES out (n, cols) f32 with rows r0 .. r0+n-1
 * of p (idx NULL), or with rows idx[0..n) (idx non-NULL, host i32, each in
 * [0, rows)). p must be on the CPU. */
void lb_packed_ggml_decode(const lb_packed *p, int64_t r0, int64_t n, const int32_t *idx, float *out);

/* lb_packed_ggml_decode_cuda: the same on a CUDA p, writing out (device
 * memory) in dt (f32, or bf16 = the f32 value rounded once); idx NULL or
 * device i32. */
void lb_packed_ggml_decode_cuda(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, const int32_t *idx,
                                void *out, lb_dtype dt);

#endif
