/* model.h — a causal LM (Llama family or GPT-2) with fp32 master weights.
 *
 * lb_model_load reads an HF directory (config.json + safetensors, single or
 * sharded; bf16/f16/f32 converted to f32), checking every tensor's shape
 * against the config. lb_model_forward runs the model on token ids and
 * returns logits; with a KV cache it runs incrementally for generation.
 */
#ifndef LB_MODEL_H
#define LB_MODEL_H

#include "autograd/ops.h"
#include "layers/config.h"

struct lb_quantizer;   /* quant/quantizer.h */
struct lb_packed;      /* quant/packed.h: a low-bit matrix kept packed (GGUF, GPTQ loads) */

/* How the forward decodes packed weights. The low-bit loader (quant/) sets
 * it, so layers/ calls no quant/ code directly. */
typedef struct lb_packed_ops {
    /* rows [r0, r0 + n) of p (n = -1: all rows) as a (n, cols) step tensor
     * of dtype dt (f32 on the CPU; bf16 or f32 on CUDA) on p's device; with
     * dst (CPU only) the values go there (room for n * cols f32) and the
     * tensor is a view of it */
    lb_tensor *(*rows)(lb_ctx *ctx, const struct lb_packed *p, int64_t r0, int64_t n, lb_dtype dt, void *dst);
    /* rows ids[0..n) (i32, on p's device or the CPU) as (n, cols), for the embedding lookup */
    lb_tensor *(*gather)(lb_ctx *ctx, const struct lb_packed *p, const lb_tensor *ids, lb_dtype dt);
    lb_status (*to)(lb_ctx *ctx, struct lb_packed *p, lb_device dev);
    size_t (*bytes)(const struct lb_packed *p);
    void (*free)(struct lb_packed *p);
} lb_packed_ops;

/* The linears of a block, indexing its per-linear quantizers. Llama uses
 * Q, K, V, O, GATE, UP, DOWN; GPT-2 uses QKV (c_attn), O (c_proj), UP
 * (c_fc), DOWN (mlp c_proj). */
typedef enum lb_linear_id {
    LB_LIN_Q = 0, LB_LIN_K, LB_LIN_V, LB_LIN_QKV, LB_LIN_O, LB_LIN_GATE, LB_LIN_UP, LB_LIN_DOWN,
    LB_LIN_COUNT
} lb_linear_id;

typedef struct lb_block {
    /* Llama family */
    lb_tensor *attn_norm;          /* (C) */
    lb_tensor *wq, *wk, *wv, *wo;  /* (nh*hd, C), (nkv*hd, C), (nkv*hd, C), (C, nh*hd) */
    lb_tensor *bq, *bk, *bv, *bo;  /* biases or NULL */
    lb_tensor *mlp_norm;           /* (C) */
    lb_tensor *w_gate, *w_up, *w_down; /* (I, C), (I, C), (C, I) */
    lb_tensor *b_gate, *b_up, *b_down;
    /* GPT-2 (weights stored in nn.Linear layout (out, in): Conv1D transposed at load) */
    lb_tensor *ln1_b, *ln2_b;      /* with attn_norm / mlp_norm as the LayerNorm weights */
    lb_tensor *w_qkv, *b_qkv;      /* (3C, C), (3C) */
    /* fake quantization (QAT and PTQ runs; NULL = full precision): each
     * linear uses lb_fake_quant_weight(w, wquant[id]) as its weight and
     * lb_fake_quant_act(x, aquant[id]) as its input. Borrowed from m->quant. */
    struct lb_quantizer *wquant[LB_LIN_COUNT];
    struct lb_quantizer *aquant[LB_LIN_COUNT];
    /* packed low-bit weights (a model loaded from a GGUF file or a GPTQ dir):
     * where wpacked[id] is set the linear's weight tensor is NULL and the
     * forward decodes wpacked[id] (packed_ops, borrowed from the model) into
     * step memory each time it runs. Owned by the model. */
    struct lb_packed *wpacked[LB_LIN_COUNT];
    const lb_packed_ops *packed_ops;
    /* CPU, grad off: f32 room for the largest packed matrix (borrowed from
     * the model), which each linear decodes into and the next reuses, so
     * one decoded matrix exists at a time; NULL: step memory */
    void *packed_scratch;
} lb_block;

/* lb_block_linear_weight: the weight of linear `id` of block b, or NULL
 * when the family has no such linear. */
static inline lb_tensor *lb_block_linear_weight(const lb_block *b, lb_linear_id id)
{
    switch (id) {
    case LB_LIN_Q: return b->wq;
    case LB_LIN_K: return b->wk;
    case LB_LIN_V: return b->wv;
    case LB_LIN_QKV: return b->w_qkv;
    case LB_LIN_O: return b->wo;
    case LB_LIN_GATE: return b->w_gate;
    case LB_LIN_UP: return b->w_up;
    case LB_LIN_DOWN: return b->w_down;
    default: return NULL;
    }
}

typedef struct lb_model {
    lb_model_config cfg;
    lb_tensor *tok_emb;            /* (V, C) */
    lb_tensor *pos_emb;            /* (max_pos, C), GPT-2 only */
    lb_block *blocks;              /* n_layers */
    lb_tensor *norm_w, *norm_b;    /* final norm (norm_b GPT-2 only) */
    lb_tensor *lm_head;            /* (V, C); == tok_emb when tied */
    float *inv_freq;               /* (hd/2), Llama family */
    struct lb_quantizer *emb_quant;/* fake-quant of tok_emb as the embedding reads it, or NULL */
    struct lb_quantizer *head_quant;/* fake-quant of lm_head as the head reads it (--quantize-head;
                                       == emb_quant when tied), or NULL */
    void *quant;                   /* owner of every attached quantizer (train/run_quant.h), or NULL; */
    void (*quant_free)(void *quant); /* released by lb_model_free through this */
    /* moves the quantizers' state to the device the parameters just moved
     * to (lb_model_to_plan calls it last), or NULL */
    lb_status (*quant_to)(lb_ctx *ctx, struct lb_model *m, lb_device dev);
    /* packed low-bit token embedding and head (tok_emb / lm_head NULL then;
     * head_packed == emb_packed when tied); packed_ops decodes them and
     * every block's wpacked. Owned by the model, freed by lb_model_free. */
    struct lb_packed *emb_packed, *head_packed;
    const lb_packed_ops *packed_ops;
    void *packed_scratch;          /* owned (malloc); see lb_block.packed_scratch */
    lb_tensor **params;            /* every distinct parameter, in HF state-dict order */
    const char **param_names;      /* HF tensor names (GPT-2: with "transformer.") */
    int n_params;
    /* where the parameters live; on CUDA everything long-lived is one
     * planned allocation (lb_model_to): */
    lb_device device;
    void *plan;                    /* the allocation, or NULL (CPU) */
    size_t plan_bytes;
    float *grad_base;              /* every grad, contiguous, grad_floats floats (for zeroing) */
    int64_t grad_floats;
    float *opt_state;              /* AdamW m then v (lb_adamw_init's layout), or NULL */
} lb_model;

/* lb_model_load: reads `dir`. Every expected tensor must be present with the
 * shape config.json implies; a tensor the config does not explain is an
 * error too (known buffers such as rotary_emb.inv_freq are skipped). On
 * failure nothing is left allocated. */
lb_status lb_model_load(lb_model *m, const char *dir);

/* lb_param_fill_fn: supplies parameter `name` (the HF tensor name) of
 * lowbit's shape (ndim, shape: (out, in) for linears): sets *out to a new
 * persistent CPU f32 tensor (lb_tensor_alloc) that the model then owns, or
 * leaves it NULL for a weight the caller keeps packed. */
typedef lb_status (*lb_param_fill_fn)(void *ud, const char *name, int ndim, const int64_t *shape,
                                      lb_tensor **out);

/* lb_model_build: a CPU model for cfg whose parameters come from `fill`, in
 * the parameter table's order (the same names and shapes lb_model_load
 * expects). Weights left NULL are the caller's to attach as packed
 * (lb_block.wpacked, emb_packed, head_packed, packed_ops) afterwards; a NULL
 * 1-D tensor is an error. On failure nothing is left allocated. */
lb_status lb_model_build(lb_model *m, const lb_model_config *cfg, lb_param_fill_fn fill, void *ud);

/* lb_model_init_random: allocates parameters for cfg and fills them as
 * transformers' _init_weights does (normal(0, std=0.02) for linears and
 * embeddings, GPT-2's residual projections 0.02/sqrt(2 n_layer), ones for
 * norm weights, zeros for biases), from `seed` with lowbit's documented RNG
 * (model_init.c): the same seed gives the same weights everywhere. */
lb_status lb_model_init_random(lb_model *m, const lb_model_config *cfg, uint64_t seed);

/* lb_model_save: writes config.json and model.safetensors (dtype f32, bf16
 * or f16; shards + index above 5 GB, as save_pretrained) into dir, creating
 * it, each file atomically (tied lm_head omitted, as save_pretrained does). */
lb_status lb_model_save(const lb_model *m, const char *dir, lb_dtype dtype);

void lb_model_free(lb_model *m);

/* ---- the model on a device (model_device.c) ---------------------------------- */

/* Planned buffers give each tensor a slot of lb_plan_pad(numel) elements (a
 * multiple of 128), so every tensor starts at least 256-byte aligned. */
static inline int64_t lb_plan_pad(int64_t n) { return (n + 127) & ~(int64_t)127; }

enum {
    LB_PLAN_GRADS = 1 << 0,        /* f32 grads for every parameter */
    LB_PLAN_OPTIM = 1 << 1,        /* AdamW m and v (f32) */
    LB_PLAN_TRAIN = LB_PLAN_GRADS | LB_PLAN_OPTIM,
};

/* lb_model_to_plan: moves every parameter of the CPU model m to `dev`. For
 * LB_CUDA: sizes are computed first, then ONE device allocation holds the
 * f32 master weights, (with `what`) their f32 grads and the AdamW state, and
 * the persistent bf16 copies (t->lowp) the GEMMs read (2-D weights a linear
 * uses: every 2-D parameter but an untied token embedding and GPT-2's
 * position table); each tensor struct stays where it is (so the model's
 * slots stay valid) and points into the plan; the host copies are freed.
 * Prints the memory plan (MiB of each part) to stderr unless quiet.
 * LB_CPU on a CUDA model copies the f32 weights back into host memory the
 * tensors own and frees the plan (grads, optimizer state and bf16 copies
 * are dropped: an optimizer made over the device model must not step
 * again); `what` is ignored then. Attached quantizers follow the model
 * (m->quant_to). Moving to the device the model is on does nothing. */
lb_status lb_model_to_plan(lb_ctx *ctx, lb_model *m, lb_device dev, unsigned what, bool quiet);

/* lb_model_to: lb_model_to_plan for training (grads and optimizer state),
 * printing the plan. */
lb_status lb_model_to(lb_ctx *ctx, lb_model *m, lb_device dev);

/* lb_model_init_random_dev: lb_model_init_random built directly on `dev`
 * (CUDA: in the planned allocation, filled by a kernel that runs the same
 * documented RNG, so the weights equal the CPU init's up to a rare 1-ulp
 * difference of the device's double-precision log/cos). */
lb_status lb_model_init_random_dev(lb_ctx *ctx, lb_model *m, const lb_model_config *cfg, uint64_t seed,
                                   lb_device dev, unsigned what, bool quiet);

/* lb_model_zero_grad: OVERWRITES every parameter grad with zeros (CUDA: one
 * memset over the plan's grads; else each existing grad) and marks each as
 * holding zeros (lb_grad_mark_zero, tape.h): its first writer in the next
 * backward overwrites it instead of adding; the later ones accumulate. */
void lb_model_zero_grad(lb_ctx *ctx, lb_model *m);

/* On a CUDA model the cache lives on the GPU in bf16 (the activations'
 * dtype there), and appending is a device copy. */
typedef struct lb_kv_cache {
    int64_t max_len;               /* positions held */
    int64_t len;                   /* positions filled */
    lb_tensor **k, **v;            /* per layer (1, max_len, nkv, hd) */
} lb_kv_cache;

lb_status lb_kv_cache_init(lb_kv_cache *kv, const lb_model *m, int64_t max_len);
void lb_kv_cache_free(lb_kv_cache *kv);

/* lb_model_forward: logits (B, T, V) for ids (B, T) i32 (on any device: ids
 * are copied to the model's; logits are on the model's device, bf16 on
 * CUDA). Without a cache
 * (kv NULL) positions are 0..T-1. With a cache (B must be 1) positions are
 * kv->len .. kv->len+T-1, the new keys/values are appended and kv->len grows
 * by T (kv->len + T > kv->max_len is a caller bug: LB_CHECK). Differentiable
 * with respect to the parameters when grad is on, except through keys and
 * values read back from a cache (generation runs with grad off). GPT-2 needs
 * kv->len + T <= n_positions. */
lb_tensor *lb_model_forward(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv);

/* lb_model_weight_quantizer: the weight quantizer the forward applies to
 * parameter t of m (a block linear's wquant, the embedding's emb_quant, the
 * head's head_quant; a tied table has one: head_quant is NULL or emb_quant),
 * or NULL when t is used at full precision. */
struct lb_quantizer *lb_model_weight_quantizer(const lb_model *m, const lb_tensor *t);

/* lb_model_head_weight: the LM head (V, C) as the forward reads it: m->lm_head,
 * its fake-quant through m->head_quant (QAT --quantize-head), or the
 * decoded packed head in step memory (bf16 on CUDA). Callers that
 * apply the head in chunks decode it once with this. */
lb_tensor *lb_model_head_weight(lb_ctx *ctx, const lb_model *m);

/* lb_model_packed_scratch: gives m (CPU, packed) the scratch its linears
 * decode into when grad is off: room for the largest matrix, rows * cols
 * f32 (lb_block.packed_scratch). */
lb_status lb_model_packed_scratch(lb_model *m, int64_t max_numel);

/* lb_model_packed_to: moves every packed weight of m to `dev` (the loader
 * of a packed model sets m->quant_to to it, so lb_model_to_plan moves
 * them); the CPU scratch is dropped (CUDA releases each decoded matrix in
 * stream order instead). */
lb_status lb_model_packed_to(lb_ctx *ctx, lb_model *m, lb_device dev);

/* lb_model_packed_bytes: bytes the packed weights of m hold (0 for none). */
size_t lb_model_packed_bytes(const lb_model *m);

/* lb_model_hidden: like lb_model_forward but returns the final-norm hidden
 * states (B, T, C), for callers that apply the head in chunks. */
lb_tensor *lb_model_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv);

#endif
