/* gguf_load.h — an lb_model (and its tokenizer) from a GGUF file: the start
 * of lowbit's inference path for llama.cpp files.
 *
 * The config comes from the architecture keys (llama, gpt2; FORMATS §5.4,
 * §5.6), the tokenizer from tokenizer.ggml.* (datasets/tok_ggml.h). Every
 * 2-D weight (token_embd, output and the linears, whatever their type) stays
 * packed: an lb_packed holding the file's bytes (Q/K rows put back in HF
 * order, §5.8), decoded per use by the forward (layers/model.h
 * lb_packed_ops); norms, biases and GPT-2's position table become f32
 * parameters. No full-precision copy of the weights is made.
 *
 * Not here: writing GGUF (gguf_export.c), SentencePiece vocabularies.
 */
#ifndef LB_QUANT_GGUF_LOAD_H
#define LB_QUANT_GGUF_LOAD_H

#include <stdbool.h>

#include "datasets/tokenizer.h"
#include "layers/model.h"

/* lb_path_is_gguf: `path` names a regular file ending in ".gguf". */
bool lb_path_is_gguf(const char *path);

/* lb_model_load_gguf: loads `path` into m (on the CPU, weights packed; moved
 * with lb_model_to_plan like any model: m->quant_to moves the packed
 * weights) and, when tok is non-NULL, its tokenizer into *tok. A missing or
 * mistyped key, a tensor of the wrong shape or of a type lowbit cannot
 * decode, a missing tensor or one the architecture does not explain: an
 * error naming the file and the key or tensor. On failure nothing is left
 * allocated. */
lb_status lb_model_load_gguf(const char *path, lb_model *m, lb_tokenizer **tok);

#endif
