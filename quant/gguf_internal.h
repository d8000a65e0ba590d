/* gguf_internal.h — shared by the GGUF exporter files (gguf_export.c,
 * gguf_meta.c); not an interface for the rest of lowbit (quant/export.h,
 * quant/gguf_load.h are). */
#ifndef LB_QUANT_GGUF_INTERNAL_H
#define LB_QUANT_GGUF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/tok_ggml.h"
#include "layers/config.h"
#include "quant/gguf.h"

/* lb_gguf_put_meta: general.* (name, file_type, quantization_version when
 * `quantized`), the architecture keys of c and the tokenizer keys of tok. */
lb_status lb_gguf_put_meta(lb_gguf *g, const lb_model_config *c, const lb_tok_ggml *tok, const char *name,
                           uint32_t file_type, bool quantized);

#endif
