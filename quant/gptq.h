/* gptq.h — GPTQ checkpoints (AutoGPTQ / GPTQModel layout, FORMATS.md §3):
 * bit packing, the quantization config, the exporter and the reader.
 *
 * A GPTQ directory is an HF model directory whose quantized linears
 * `<prefix>` (e.g. "model.layers.0.mlp.up_proj") hold, instead of
 * `<prefix>.weight` (out N, in K):
 *   qweight  (K*b/32, N) i32   codes q[k][n] packed along the input dim
 *   qzeros   (G, N*b/32) i32   zero codes packed along the output dim;
 *                              v1 ("gptq") stores zero - 1, v2 ("gptq_v2")
 *                              the zero itself
 *   scales   (G, N) f16
 *   g_idx    (K) i32           group of each input channel (act-order)
 * with w[n][k] = scales[g][n] * (q[k][n] - zero[g][n]), g = g_idx[k]. Every
 * other tensor is stored as in an HF checkpoint (f16 here), and config.json
 * carries `quantization_config` (copied to quantize_config.json).
 *
 * Packing (§3.2, §3.3) is one rule for every bit width: value i of a packed
 * sequence occupies bits [i*b, i*b + b) of the little-endian bit stream the
 * sequence's 32-bit words make (bit 0 = LSB of the first word). For b = 3
 * this is exactly the 10 | 1 | 10 | 1 | 10 split across three words.
 *
 * Not here: decoding a packed matrix for a forward (quant/packed_gptq.c),
 * the model's use of packed weights (layers/), the HF fp16 export
 * (quant/export_hf.h).
 */
#ifndef LB_QUANT_GPTQ_H
#define LB_QUANT_GPTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "layers/checkpoint.h"
#include "layers/model.h"
#include "quant/export.h"
#include "quant/gptq_field.h"
#include "quant/packed.h"

#ifdef __cplusplus
extern "C" {
#endif

/* huggingface_hub's default max_shard_size (FORMATS §2.1) */
#define LB_GPTQ_SHARD_BYTES ((size_t)5000000000ULL)

typedef struct lb_gptq_config {
    int bits;          /* 2, 3, 4 or 8 */
    int group_size;    /* inputs per group, or -1: one group per output row */
    bool sym;          /* zero = 2^(b-1) everywhere */
    bool desc_act;     /* act-order: g_idx is not k / group_size */
    bool v2;           /* checkpoint_format "gptq_v2" (zeros as is); false: "gptq" (zero - 1) */
    bool lm_head;      /* lm_head is quantized too */
    char file_base[128]; /* model_file_base_name (AutoGPTQ's weights file without
                            ".safetensors"), "" when the config has none */
} lb_gptq_config;

/* ---- packing (gptq_pack.c) ---------------------------------------------- */

/* lb_gptq_pack: packs n values (vals[i * vstride], each in [0, 2^bits))
 * into n*bits/32 words (words[j * wstride]), value i at bit i*bits of the
 * words' bit stream. n*bits must be a multiple of 32. OVERWRITES the words. */
void lb_gptq_pack(const int32_t *vals, int64_t vstride, int64_t n, int bits, int32_t *words, int64_t wstride);

/* lb_gptq_field (value i of a packed bit stream): quant/gptq_field.h, shared
 * with the CUDA decode. */

/* ---- config (gptq_config.c) --------------------------------------------- */

/* lb_gptq_detect: true when `dir` holds a GPTQ checkpoint: quantize_config.json
 * or quant_config.json, or config.json whose quantization_config has
 * quant_method "gptq". */
bool lb_gptq_detect(const char *dir);

/* lb_gptq_config_load: the GPTQ settings of `dir` as AutoGPTQ / GPTQModel
 * read them (FORMATS §3.7): quantize_config.json (then quant_config.json)
 * first, config.json's quantization_config for what that file lacks;
 * synonyms w_bit / q_group_size / format; missing checkpoint_format = v1,
 * missing sym = true (with a warning on stderr), missing desc_act = false.
 * Errors name the file and key: bits not 2/3/4/8, group_size not -1 or > 0,
 * a quant_method other than gptq, marlin / gptq_p / bitblas layouts. */
lb_status lb_gptq_config_load(const char *dir, lb_gptq_config *cfg);

/* lb_gptq_open_weights: opens the weights of GPTQ dir `dir` (cfg from
 * lb_gptq_config_load): model.safetensors or the sharded index as
 * lb_ckpt_open does, else AutoGPTQ's single file <model_file_base_name>
 * .safetensors, or its default name gptq_model-<bits>bit-<group>g.safetensors.
 * Same contract as lb_ckpt_open. */
lb_status lb_gptq_open_weights(const char *dir, const lb_gptq_config *cfg, lb_ckpt *ck);

/* lb_gptq_config_json: the quantization_config object lowbit writes for cfg
 * (AutoGPTQ's keys plus GPTQModel's checkpoint_format / format / lm_head),
 * as a cJSON object the caller deletes (NULL when out of memory). */
struct cJSON *lb_gptq_config_json(const lb_gptq_config *cfg);

/* ---- reading one quantized linear (gptq_read.c) ------------------------- */

/* lb_gptq_packed_load: reads linear `prefix` of the GPTQ checkpoint ck (in
 * directory `dir`, for messages) as a CPU LB_PACKED_GPTQ of (rows N, cols K)
 * with cfg's bits, group size and zero offset; its tensors are copies (ck
 * may be closed afterwards). g_idx is kept only when it is not k /
 * group_size. Checks dtypes and every shape against cfg and (rows, cols),
 * that each g_idx entry names an existing group, and K, N multiples of 32
 * where the packing needs it; errors name the directory, the tensor, what
 * the file holds and what the config implies. *out is NULL on failure. */
lb_status lb_gptq_packed_load(const lb_ckpt *ck, const char *dir, const lb_gptq_config *cfg,
                              const char *prefix, int64_t rows, int64_t cols, lb_packed **out);

/* lb_model_load_gptq: loads GPTQ directory `dir` (lb_gptq_detect) into m
 * on the CPU: config.json for the model, the GPTQ config (any tool's, v1
 * or v2, act-order), every quantized block linear (and a quantized
 * lm_head) kept packed (lb_block.wpacked / head_packed, decoded through
 * lb_packed_model_init's table; m->quant_to moves them with the model), the rest
 * read to f32. Shapes are checked against both configs; a tensor neither
 * explains, a missing one, or a packed tensor lowbit cannot place
 * (embeddings) is an error naming the directory and tensor. On failure
 * nothing is left allocated. */
lb_status lb_model_load_gptq(lb_model *m, const char *dir);

/* lb_gptq_codes: unpacks p (CPU, LB_PACKED_GPTQ) into its parts as lowbit's
 * quantizer holds them: codes (rows, cols) u8 in weight layout, and per
 * row-group scales / true zeros (rows, G) f32 (G = cols / group_size, or 1);
 * g_idx must be absent (k / group_size). For round-trip checks. */
void lb_gptq_codes(const lb_packed *p, uint8_t *codes, float *scales, float *zeros);

/* ---- decoding (packed_gptq.c; quant/packed.c dispatches here) ---------- */

/* lb_packed_gptq_decode: OVERWRITES out (n, cols) f32 with rows [r0, r0+n)
 * of p (CPU tensors), FORMATS §3.6 with g_idx honoured. */
void lb_packed_gptq_decode(const lb_packed *p, int64_t r0, int64_t n, float *out);

/* lb_packed_gptq_decode_cuda: the same on p's CUDA tensors into the device
 * buffer out (n, cols) of dtype dt (f32, or bf16 = the f32 value rounded
 * once), queued on ctx's stream. */
void lb_packed_gptq_decode_cuda(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, void *out, lb_dtype dt);

/* ---- export (gptq_write.c) ---------------------------------------------- */

typedef struct lb_gptq_export_opts {
    bool v2;                    /* write checkpoint_format gptq_v2 (zeros as is) */
    size_t max_shard_bytes;     /* 0: LB_GPTQ_SHARD_BYTES */
    const char *tokenizer_dir;  /* copy tokenizer files from here (NULL: none) */
} lb_gptq_export_opts;


/* lb_gptq_export: writes m (CPU, with weight quantizers attached: a run's,
 * or RTN ones attached for the export) as a GPTQ directory `dir` (created if
 * missing; every file atomic): the quantized linears packed from exactly the
 * codes, fp16 scales and zeros the forward uses (lb_quantizer_codes; an
 * untied lm_head with its own quantizer too, as "lm_head": true), all
 * other tensors f16, config.json + quantize_config.json, tokenizer files.
 * Then reads the directory back and checks every packed linear decodes to
 * the forward's w^ bit for bit before returning OK. Refused, with a message
 * saying what to pass: no weight quantizers, a non-int spec (nf4, q4_0,
 * ...), bits other than 2/3/4/8, f32 scales, quantizers whose specs
 * differ, a quantized embedding (and a head tied to it), dimensions not
 * multiples of 32, and under
 * v1 an asymmetric zero of 0 (use v2). *written (may be NULL) gets the
 * config written; r (may be NULL) the sizes: weight_bits counts qweight,
 * qzeros, scales and g_idx of the quantized linears, bits_per_weight is
 * 8 * file_bytes / n_params. */
lb_status lb_gptq_export(const lb_model *m, const lb_gptq_export_opts *o, const char *dir,
                         lb_gptq_config *written, lb_export_report *r);

#ifdef __cplusplus
}
#endif

#endif
