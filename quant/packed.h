/* packed.h — low-bit weights kept packed in memory and dequantized when used.
 *
 * The start of lowbit's inference path (issue 5): a GGUF file or a GPTQ
 * directory is loaded into an lb_model whose quantized matrices are NOT
 * expanded to f32. Each such matrix is an lb_packed: the bytes exactly as
 * the file holds them (moved to the model's device), plus what is needed to
 * decode them. When a forward needs the weight, lb_packed_dequant writes the
 * (rows, cols) matrix into step memory (CPU: f32 from the step arena; CUDA:
 * bf16 from the stream pool), the linear runs, and the buffer is released
 * with the step. For inference (grad off) a linear's decoded matrix lives
 * only while its GEMM runs (layers/model.c packed_linear: the CPU decodes
 * into the model's one scratch, CUDA releases it in stream order), the
 * embedding decodes only the rows of its tokens, and the head is decoded
 * once per forward. No full-precision copy of the model ever exists; the
 * peak extra memory is the largest matrix plus the head.
 *
 * Orientation is always lowbit's / nn.Linear's: rows = out features, cols =
 * in features (an embedding table: rows = vocab, cols = hidden). GGUF stores
 * exactly these bytes with ne0 = cols (FORMATS §5.1); GPTQ packs along cols
 * (qweight is (cols*bits/32, rows), FORMATS §3.2) and the decoder transposes.
 *
 * Kinds (each decoder lives in its own file, CPU and CUDA):
 *   LB_PACKED_GGML  quant/packed_ggml.c, kernels/cuda/packed_ggml.cu:
 *                   ggml_type (FORMATS §5.2: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1
 *                   Q8_0 Q4_K Q6_K), `data` = rows * row_bytes u8, each row
 *                   cols/block_size consecutive blocks.
 *   LB_PACKED_GPTQ  quant/packed_gptq.c, kernels/cuda/packed_gptq.cu:
 *                   bits 2/3/4/8, group_size (-1 = one group), `qweight`
 *                   (cols*bits/32, rows) i32, `qzeros` (n_groups,
 *                   rows*bits/32) i32 as stored, `scales` (n_groups, rows)
 *                   f16, `g_idx` (cols) i32 (NULL = i / group_size);
 *                   zero_offset = 1 for v1 ("gptq": stored zero = z - 1),
 *                   0 for v2. w[r][c] = scales[g][r] * (q[c][r] - (z[g][r] + zero_offset)),
 *                   g = g_idx[c] (FORMATS §3.6).
 *
 * Dequantization is exact: the value the file's reference reader gives
 * (gguf.quants.dequantize, AutoGPTQ's unpack), in f32 on the CPU; on CUDA
 * the same f32 value rounded once to bf16 (or kept f32 when asked).
 */
#ifndef LB_QUANT_PACKED_H
#define LB_QUANT_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "autograd/status.h"
#include "autograd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lb_packed_kind { LB_PACKED_GGML = 1, LB_PACKED_GPTQ = 2 } lb_packed_kind;

typedef struct lb_packed {
    lb_packed_kind kind;
    int64_t rows, cols;        /* the dequantized matrix (out, in) */
    /* LB_PACKED_GGML */
    int ggml_type;             /* FORMATS §5.2 id */
    lb_tensor *data;           /* (rows, row_bytes) u8 */
    /* LB_PACKED_GPTQ */
    int bits, group_size, zero_offset;
    lb_tensor *qweight;        /* (cols*bits/32, rows) i32 */
    lb_tensor *qzeros;         /* (n_groups, rows*bits/32) i32 */
    lb_tensor *scales;         /* (n_groups, rows) f16 */
    lb_tensor *g_idx;          /* (cols) i32 or NULL */
} lb_packed;

/* lb_packed_dequant: the (rows, cols) matrix of p in step memory, dtype
 * `dt` (CPU: LB_F32; CUDA: LB_BF16 or LB_F32), on p's device. Not
 * differentiable (no tape node): a packed model is for inference. */
lb_tensor *lb_packed_dequant(lb_ctx *ctx, const lb_packed *p, lb_dtype dt);

/* lb_packed_dequant_rows: rows [r0, r0 + n) only, (n, cols); n = -1 means
 * every row from r0. Same contract otherwise. */
lb_tensor *lb_packed_dequant_rows(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, lb_dtype dt);

/* lb_packed_gather: rows ids[0..n) of p (ids: i32 of any shape, n = its
 * numel, on the CPU or p's device; each in [0, rows)) as (n, cols) in step
 * memory, dtype dt as above — the embedding lookup of a packed table. */
lb_tensor *lb_packed_gather(lb_ctx *ctx, const lb_packed *p, const lb_tensor *ids, lb_dtype dt);

/* lb_packed_new_ggml: a CPU lb_packed of ggml type `ggml_type` (FORMATS
 * §5.2; one the decoders know: lb_ggml_type_decodable) for a (rows, cols)
 * matrix, its data tensor allocated (rows * row_bytes bytes, not filled),
 * or NULL when out of memory. cols must be a multiple of the block size. */
lb_packed *lb_packed_new_ggml(int ggml_type, int64_t rows, int64_t cols);

/* lb_packed_model_init: makes m (built, its blocks allocated) a packed
 * model: m and each block decode through this file's decoder table
 * (layers/model.h lb_packed_ops, dispatching on the kind), and m moves its
 * packed weights with lb_model_packed_to (m->quant_to). Call before
 * attaching the packed weights, so lb_model_free frees them. */
struct lb_model;
void lb_packed_model_init(struct lb_model *m);

/* lb_packed_model_scratch_fit: lb_model_packed_scratch (layers/model.h)
 * sized for the largest packed block linear of m (rows * cols f32); the
 * loaders call it once the blocks' wpacked are attached. */
lb_status lb_packed_model_scratch_fit(struct lb_model *m);

/* lb_packed_to: moves p's tensors to `dev` (a no-op when already there). */
lb_status lb_packed_to(lb_ctx *ctx, lb_packed *p, lb_device dev);

/* lb_packed_bytes: bytes p holds (what the model's memory plan reports). */
size_t lb_packed_bytes(const lb_packed *p);

/* lb_packed_free: frees p's tensors and p itself (NULL is fine). */
void lb_packed_free(lb_packed *p);

#ifdef __cplusplus
}
#endif

#endif
