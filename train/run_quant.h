/* run_quant.h — the quantizers of a run: attaching them to a model by the
 * run's flags, their learnable parameters, and RUN_DIR/quant_state.safetensors.
 *
 * Attaching (QAT, PTQ): one weight quantizer (spec --wq) per selected linear
 * of every block, named by the weight ("model.layers.0.mlp.up_proj.weight"),
 * and with --aq one activation quantizer per selected linear's input
 * ("model.layers.0.mlp.up_proj.input"); with --quantize-embeddings one on
 * the token embedding, with --quantize-head one on the LM head
 * (lb_run_quant_attach_head). The model owns them (m->quant, freed by
 * lb_model_free); the blocks point at them (lb_block.wquant / aquant),
 * the model at the embedding's and head's (m->emb_quant, m->head_quant).
 * Static activation sites (int8:tensor:static) start uncalibrated: run
 * lb_run_calibrate (train/calib.h) before the first quantized forward.
 *
 * quant_state.safetensors (written at the end of a run; read by
 * lb_run_load_quantizers for `lowbit eval --model RUN_DIR`):
 *   tensors    "<weight>.scales" (out, G) f32 and "<weight>.zeros" (when the
 *              grid has zeros): the values the forward used for the final
 *              weights (lb_quantizer_codes); "<site>.alpha" (1) for PACT;
 *              "<site>.absmax" (1) for a static site: the calibrated
 *              absolute maximum (its scale is absmax / 127)
 *   metadata   "lowbit_format": "lowbit-quant-state", "lowbit_version": "1",
 *              and for every quantizer "<weight or site>": its canonical spec
 *              (the head: "lm_head.weight"; a tied head, which reads the
 *              embedding's quantizer, is the key "lowbit_tied_head" with
 *              that spec and no tensors of its own)
 * Loading re-creates each quantizer from its spec and the model's weight,
 * then restores the learned parameters (lsq scales and the zeros it started
 * with, lsq+ zeros, pact alpha),
 * so the forward is exactly the trained one. A spec naming a tensor the
 * model lacks, or a shape mismatch, is an error naming the file and tensor.
 *
 * lb_run_quant_save reads CPU state: move a device model back first
 * (lb_model_to_plan(..., LB_CPU, ...)).
 *
 * Not here: the fake-quant maths (quant/), true low-bit export.
 */
#ifndef LB_RUN_QUANT_H
#define LB_RUN_QUANT_H

#include <stdbool.h>

#include "layers/model.h"

#define LB_QUANT_STATE_FORMAT "lowbit-quant-state"
#define LB_QUANT_STATE_VERSION "1"
#define LB_QUANT_TIED_HEAD_KEY "lowbit_tied_head"

/* lb_run_quant_attach: quantizers for m by the flags (wq/aq: specs or ""/
 * NULL; layers: all|attn|mlp|comma list of q,k,v,o,qkv,gate,up,down).
 * m may be on the CPU (ctx may be NULL then) or already on a device (the
 * quantizers are initialised from host copies of its weights and their
 * state moved to it). Either way they follow the model when it moves
 * (lb_model_to_plan; on CUDA each quantized weight's bf16 copy then holds
 * w^, refreshed by the forward, not the optimizer). Errors (bad spec,
 * group not dividing a dimension, ...) name the flag and the layer; on
 * error m is unchanged. */
lb_status lb_run_quant_attach(lb_ctx *ctx, lb_model *m, const char *wq, const char *aq, const char *layers,
                              bool embeddings);

/* lb_run_quant_attach_head: --quantize-head: the LM head (V, C) through a
 * weight quantizer of spec wq, after lb_run_quant_attach (any device, as
 * there). A head tied to the token embedding is one table: it then reads
 * the embedding's quantizer, which must exist (--quantize-embeddings;
 * else an error saying so). Errors: no wq, a packed head. */
lb_status lb_run_quant_attach_head(lb_ctx *ctx, lb_model *m, const char *wq);

/* lb_run_quant_count: quantizers attached to m (0 for a plain model). */
int lb_run_quant_count(const lb_model *m);

/* lb_run_quant_params: the learnable quantizer parameters of m into
 * out[0..max) (borrowed); returns their number (call with max 0 to count). */
int lb_run_quant_params(const lb_model *m, lb_tensor **out, int max);

/* lb_run_quant_zero_grads: OVERWRITES with zeros the grad (where there is
 * one) of each of the n quantizer parameters ps (from lb_run_quant_params),
 * on its own device (a memset on the CPU, queued on ctx's stream on CUDA).
 * Unlike lb_model_zero_grad it marks nothing (their writers accumulate). */
void lb_run_quant_zero_grads(lb_ctx *ctx, lb_tensor *const *ps, int n);

/* lb_run_quant_save: writes m's quantizer state to `path` atomically. */
lb_status lb_run_quant_save(const lb_model *m, const char *path);

/* lb_run_dir_detect: true when `path` is a run directory with a final model
 * (path/model/config.json exists); *quantized when it also has
 * quant_state.safetensors. */
bool lb_run_dir_detect(const char *path, bool *quantized);

/* lb_run_load_quantizers: attaches the quantizers of run dir `run_dir`
 * (its quant_state.safetensors) to m, which was loaded from
 * run_dir/model. */
lb_status lb_run_load_quantizers(lb_model *m, const char *run_dir);

/* lb_run_model_load: loads `path` into m: an HF directory as lb_model_load
 * does, or a run directory (lb_run_dir_detect) as its model/ with the run's
 * quantizers attached, so the forward is the one the run trained or
 * quantized. On failure nothing is left allocated. */
lb_status lb_run_model_load(lb_model *m, const char *path);

/* lb_run_copy_tokenizer: copies those of tokenizer.json,
 * tokenizer_config.json and special_tokens_map.json that exist in the HF
 * dir `model` into `dir` (a run's model/ directory), each atomically
 * (lb_copy_file); stops at the first error, which names the file. */
lb_status lb_run_copy_tokenizer(const char *model, const char *dir);

/* lb_run_bake_weights: for inference only (eval, generate): replaces each
 * fake-quantized weight of m (CPU, f32) by its fake-quantized values,
 * computed once by the forward's own function (lb_quantizer_run), and
 * detaches that weight quantizer, so the forward stops re-quantizing every
 * weight on every call (per generated token). Exact: with the weights fixed
 * the forward would compute the same w^ each time. Activation quantizers
 * stay, and so does a quantized embedding whose table the head shares. Call before lb_model_to; not for training (the master weights are
 * overwritten). */
void lb_run_bake_weights(lb_model *m);

#endif
