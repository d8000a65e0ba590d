/* ggml_pack.h — llama.cpp block bytes for the ggml presets (q4_0 q4_1 q5_0
 * q5_1 q8_0, blocks of 32; q4_k q6_k, super-blocks of 256; FORMATS
 * §5.2-5.3), from and to lowbit's codes and scales.
 *
 * Packing takes exactly what lb_quantizer_codes returns for a ggml spec
 * (codes per element, fp16-exact scale and zero/min per block of 32) and
 * writes the ggml block structs byte for byte (little-endian fp16 fields):
 *   q4_0 (18 B): d, qs[16]        element j: low nibble of qs[j], j+16: high
 *   q4_1 (20 B): d, m, qs[16]
 *   q5_0 (22 B): d, qh[4], qs[16] bit 4 of element j in bit j of qh (LE u32)
 *   q5_1 (24 B): d, m, qh[4], qs[16]
 *   q8_0 (34 B): d, qs[32] as int8 (code - 128)
 * K-quants take one scale and zero per SUB-block (quantizer.h): q4_k s = d*sc
 * and m = dmin*mn per 32, q6_k s = d*sc per 16 (z = 32). The super-block
 * header is recovered exactly from them through the canonical form the
 * encoder guarantees (grid_k.h): in a super-block whose scales are not all
 * zero, q4_k's largest s is 63*d (largest m: 63*dmin), q6_k's s of largest
 * magnitude is -128*d; all zero means d = 0 (sc = 0). Then d, sc are exact
 * quotients, and packing checks d*sc == s bit for bit (else it aborts:
 * the input was not lb_quantizer_codes' output).
 *   q4_k (144 B): d, dmin, scales[12] (6-bit sc/mn, FORMATS §5.3), qs[128]
 *   q6_k (210 B): ql[128], qh[64], scales[16] (int8), d
 * Unpacking is ggml's dequantize_row_* (y = d*(q - z), d*q + m; K-quants
 * (d*sc)*q - dmin*mn and (d*sc)*(q - 32)), bit for bit with gguf-py's
 * gguf.quants.dequantize. The GGUF exporter reuses both. Not here: GGUF
 * files, the other K-quants (q2_k q3_k q5_k).
 */
#ifndef LB_QUANT_GGML_PACK_H
#define LB_QUANT_GGML_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "quant/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lb_ggml_block_size: elements per block: 32, or 256 for q4_k / q6_k (0 for
 * a non-ggml format). */
int64_t lb_ggml_block_size(lb_qformat f);

/* lb_ggml_block_bytes: bytes per block (18 20 22 24 34, q4_k 144, q6_k
 * 210; 0 for a non-ggml format). */
size_t lb_ggml_block_bytes(lb_qformat f);

/* lb_ggml_type_id: the ggml type id (2, 3, 6, 7, 8, 12, 14), -1 if not ggml. */
int lb_ggml_type_id(lb_qformat f);

/* lb_ggml_scales_per_block: entries of s and z per block: 1, q4_k 8
 * (sub-blocks of 32), q6_k 16 (sub-blocks of 16). */
int lb_ggml_scales_per_block(lb_qformat f);

/* lb_ggml_pack_row: n elements (a multiple of the block size) of codes with
 * their scales s and zeros z (n / block size * lb_ggml_scales_per_block
 * each, as lb_quantizer_codes writes them for one row) into the row's
 * blocks at dst. OVERWRITES dst. */
void lb_ggml_pack_row(lb_qformat f, const uint8_t *codes, const float *s, const float *z,
                      int64_t n, uint8_t *dst);

/* lb_ggml_dequantize_row: n values from n / block size blocks at src
 * (ggml's dequantize_row_*). OVERWRITES y. */
void lb_ggml_dequantize_row(lb_qformat f, const uint8_t *src, int64_t n, float *y);

#ifdef __cplusplus
}
#endif

#endif
