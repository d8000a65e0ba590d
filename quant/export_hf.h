/* export_hf.h — `lowbit export --format hf`: a model as a plain Hugging
 * Face checkpoint holding the weights its forward uses (w^ for every
 * fake-quantized weight, the master weights elsewhere), f16 by default,
 * which transformers loads as an ordinary model.
 *
 * Not here: the low-bit formats (quant/gptq.h, quant/export.h).
 */
#ifndef LB_QUANT_EXPORT_HF_H
#define LB_QUANT_EXPORT_HF_H

#include <stddef.h>

#include "autograd/status.h"
#include "layers/model.h"
#include "quant/export.h"

/* lb_export_hf: writes m (CPU) into `dir` (created if missing) as
 * config.json + model.safetensors (shards + index above 5 GB) in `dtype`
 * (f16, bf16 or f32) plus the tokenizer files of tokenizer_dir (NULL:
 * none), each file atomically. Each weight with a quantizer (block
 * linears, a quantized embedding) is written as the forward's w^
 * (lb_quantizer_run); activation quantizers cannot be expressed in a plain
 * checkpoint and are reported on stderr. The weights are read back and
 * compared with what was meant to be written before returning OK. r (may
 * be NULL) gets the sizes; n_lossless counts the weights written as w^. */
lb_status lb_export_hf(const lb_model *m, const char *dir, lb_dtype dtype, const char *tokenizer_dir,
                       lb_export_report *r);

/* lb_export_copy_tokenizer: copies the tokenizer files found in `src`
 * (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
 * vocab.json, merges.txt, tokenizer.model, generation_config.json) into
 * `dst`, each atomically; absent ones are skipped. Shared by the GPTQ and
 * HF exports. */
lb_status lb_export_copy_tokenizer(const char *src, const char *dst);

/* lb_export_dir_bytes: the total size of the regular files in `dir`. */
size_t lb_export_dir_bytes(const char *dir);

#endif
