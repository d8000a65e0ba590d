/* ggml_pack.h — llama.cpp block bytes for the q4_0 q4_1 q5_0 q5_1 q8_0
 * presets (FORMATS §5.2-5.3), from and to lowbit's codes and scales.
 *
 * Packing takes exactly what lb_quantizer_codes returns for a ggml spec
 * (codes per element, fp16-exact scale and zero/min per block of 32) and
 * writes the ggml block structs byte for byte (little-endian fp16 fields):
 *   q4_0 (18 B): d, qs[16]        element j: low nibble of qs[j], j+16: high
 *   q4_1 (20 B): d, m, qs[16]
 *   q5_0 (22 B): d, qh[4], qs[16] bit 4 of element j in bit j of qh (LE u32)
 *   q5_1 (24 B): d, m, qh[4], qs[16]
 *   q8_0 (34 B): d, qs[32] as int8 (code - 128)
 * Unpacking is ggml's dequantize_row_* (y = d*(q - z), or d*q + m). The
 * GGUF exporter reuses both. Not here: GGUF files, K-quants.
 */
#ifndef LB_QUANT_GGML_PACK_H
#define LB_QUANT_GGML_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "quant/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lb_ggml_block_bytes: bytes per block of 32 (0 for a non-ggml format). */
size_t lb_ggml_block_bytes(lb_qformat f);

/* lb_ggml_type_id: the ggml type id (2, 3, 6, 7, 8), -1 if not ggml. */
int lb_ggml_type_id(lb_qformat f);

/* lb_ggml_pack_row: n elements (n % 32 == 0) of codes with their per-block
 * scales s[n/32] and zeros z[n/32] (as lb_quantizer_codes writes them) into
 * n/32 blocks at dst. OVERWRITES dst. */
void lb_ggml_pack_row(lb_qformat f, const uint8_t *codes, const float *s, const float *z,
                      int64_t n, uint8_t *dst);

/* lb_ggml_dequantize_row: n values from n/32 blocks at src (ggml's
 * dequantize_row_*). OVERWRITES y. */
void lb_ggml_dequantize_row(lb_qformat f, const uint8_t *src, int64_t n, float *y);

#ifdef __cplusplus
}
#endif

#endif
