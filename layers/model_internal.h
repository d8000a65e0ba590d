/* model_internal.h — shared by the model files of layers/ (model.c,
 * model_load.c, model_init.c, llama.c, gpt2.c, kv_cache.c); not an interface
 * for the rest of lowbit (use layers/model.h).
 *
 * The parameter table: one entry per HF tensor the config implies, in the
 * order transformers' state dict lists them, with the shape lowbit keeps
 * (nn.Linear layout (out, in)), how HF stores it, how it is initialised and
 * where it lives in the lb_model. Loading, random init and saving all walk
 * this one table, so they cannot disagree about names or shapes.
 */
#ifndef LB_MODEL_INTERNAL_H
#define LB_MODEL_INTERNAL_H

#include "autograd/recompute.h"
#include "layers/model.h"

typedef enum lb_param_init {
    LB_INIT_NORMAL = 0,   /* N(0, std^2) */
    LB_INIT_ONES,         /* norm weights */
    LB_INIT_ZEROS,        /* biases */
} lb_param_init;

typedef struct lb_param_spec {
    char name[128];       /* HF tensor name (GPT-2 with the "transformer." prefix) */
    int ndim;
    int64_t shape[2];     /* as lowbit holds it: (out, in) for linears */
    bool conv1d;          /* HF stores it [in, out] (GPT-2 Conv1D): transposed on load/save */
    lb_param_init init;
    float std;            /* for LB_INIT_NORMAL */
    char why[192];        /* the config keys behind the shape, for error messages */
    lb_tensor **slot;     /* its place in the lb_model */
} lb_param_spec;

/* lb_model_param_specs: allocates m->blocks for m->cfg (which must be set)
 * and returns the malloc'd table of *n specs, or NULL when out of memory. */
lb_param_spec *lb_model_param_specs(lb_model *m, int *n);

/* lb_model_start: the start of building m from cfg: m zeroed with m->cfg =
 * *cfg, the config validated, then lb_model_param_specs (*specs, *n specs;
 * the caller frees *specs). An error (a bad config, out of memory) leaves
 * *specs NULL. */
lb_status lb_model_start(lb_model *m, const lb_model_config *cfg, lb_param_spec **specs, int *n);

/* lb_model_finish: after every slot of `specs` holds a tensor: names them,
 * fills m->params / m->param_names (HF order), ties the head, computes
 * inv_freq. On failure (out of memory) the caller still frees through
 * lb_model_free_partial. */
lb_status lb_model_finish(lb_model *m, const lb_param_spec *specs, int n);

/* lb_model_free_partial: frees the tensors in the slots of `specs` and the
 * blocks, for a model whose load or init failed before lb_model_finish;
 * *m is zeroed. */
void lb_model_free_partial(lb_model *m, const lb_param_spec *specs, int n);

/* lb_init_stream_state: the splitmix64 state model_init.c's normal stream
 * for tensor `name` starts from (after seeding); the device init
 * (model_device.c) runs the same stream from it. */
uint64_t lb_init_stream_state(uint64_t seed, const char *name);

/* lb_block_linear: linear `id` of block b on x (y = x·Wᵀ + bias), through
 * the block's fake quantizers when it has them (QAT / PTQ runs), or with
 * its packed weight decoded (rows = -1 in packed_ops->rows: all rows) when
 * the model was loaded from a low-bit file. */
lb_tensor *lb_block_linear(lb_ctx *ctx, const lb_block *b, lb_linear_id id, lb_tensor *x, lb_tensor *w,
                           lb_tensor *bias);

/* lb_model_embed: the token embeddings of ids (B, T) -> (B, T, C): a lookup
 * in the table as the forward reads it (fake-quantized when the run
 * quantizes embeddings), or just the needed rows decoded from a packed
 * table. */
lb_tensor *lb_model_embed(lb_ctx *ctx, const lb_model *m, lb_tensor *ids);

/* lb_block_args: the closure a family's block function (an
 * lb_checkpoint_fn) gets: layer `layer` of m at positions from pos0, with
 * the cache kv (NULL when there is none) and the forward's rotary table
 * (NULL for families without RoPE; made before the blocks, so a
 * recomputed block reuses it). */
typedef struct lb_block_args {
    const lb_model *m;
    int layer;
    int64_t pos0;
    lb_kv_cache *kv;
    const lb_rope_table *rope;
} lb_block_args;

/* lb_model_run_blocks: runs fn on every layer of m in order over io[0..n)
 * in place (each block's inputs and outputs), through lb_checkpoint when
 * ctx->recompute is set and there is no cache, directly otherwise. */
void lb_model_run_blocks(lb_ctx *ctx, const lb_model *m, lb_checkpoint_fn fn, lb_tensor **io, int n,
                         lb_kv_cache *kv, int64_t pos0, const lb_rope_table *rope);

/* The families' forward passes up to and including the final norm:
 * ids (B, T) i32 -> (B, T, C). Positions start at pos0 (kv->len with a
 * cache); they do not advance kv->len (lb_model_hidden does). */
lb_tensor *lb_llama_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv, int64_t pos0);
lb_tensor *lb_gpt2_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv, int64_t pos0);

/* lb_kv_cache_update: copies layer `layer`'s new keys and values
 * (1, T, nkv, hd) into the cache at kv->len and replaces *k and *v by views
 * of the first kv->len + T cached positions (1, len+T, nkv, hd), sharing the
 * cache's data. Gradients do not flow into the cache. */
void lb_kv_cache_update(lb_ctx *ctx, lb_kv_cache *kv, int layer, lb_tensor **k, lb_tensor **v);

#endif
