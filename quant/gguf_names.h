/* gguf_names.h — how lowbit's (HF) tensor names map to llama.cpp's GGUF
 * names (FORMATS §5.6), shared by the exporter and the loader so the two
 * cannot disagree. Internal to quant/gguf_*.c. */
#ifndef LB_QUANT_GGUF_NAMES_H
#define LB_QUANT_GGUF_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "layers/config.h"

/* lb_gguf_name_of: the GGUF name of HF tensor `hf` (as lb_model's
 * param_names spell it: GPT-2 with "transformer.", "lm_head.weight") into
 * out[0..n); false when the name has no GGUF counterpart. */
bool lb_gguf_name_of(lb_arch arch, const char *hf, char *out, size_t n);

/* lb_gguf_arch_name: "llama" or "gpt2" (general.architecture). */
const char *lb_gguf_arch_name(lb_arch arch);

#endif
