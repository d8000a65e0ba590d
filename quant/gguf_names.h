/* gguf_names.h — how lowbit's (HF) tensor names map to llama.cpp's GGUF
 * names (FORMATS §5.6), shared by the exporter and the loader so the two
 * cannot disagree. Internal to quant/gguf_*.c. */
#ifndef LB_QUANT_GGUF_NAMES_H
#define LB_QUANT_GGUF_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "layers/config.h"

/* lb_gguf_name_of: the GGUF name of HF tensor `hf` (as lb_model's
 * param_names spell it: GPT-2 with "transformer.", "lm_head.weight") into
 * out[0..n); false when the name has no GGUF counterpart. */
bool lb_gguf_name_of(lb_arch arch, const char *hf, char *out, size_t n);

/* lb_gguf_arch_name: "llama" or "gpt2" (general.architecture). */
const char *lb_gguf_arch_name(lb_arch arch);

/* lb_gguf_permute_qk: llama.cpp's row order of a Llama q/k projection
 * (FORMATS §5.8), in place over data (rows rows of rb bytes, `heads` heads
 * of rows / heads rows each). to_gguf: GGUF_row(h, 2j + s) = HF_row(h,
 * s*half + j); !to_gguf is the inverse (the loader). An LB_ERR_OOM error
 * when the one-head scratch cannot be allocated; data is then untouched. */
lb_status lb_gguf_permute_qk(uint8_t *data, int64_t rows, size_t rb, int64_t heads, bool to_gguf);

#endif
