/* llama.c — the Llama-family forward pass (llama, mistral, qwen2), written
 * with the ops of autograd/ops.h only. This is the specification of the
 * model; it reads like transformers' LlamaForCausalLM:
 *
 *   x = embed(ids)                                          (B, T, C)
 *   per layer:
 *     h = rmsnorm(x) ; q, k, v = linear(h) (+ bias)         (B, T, nh|nkv, hd)
 *     q, k = rope(q, k) at positions pos0 ..                rotate-half layout
 *     k, v = cache(k, v)            (with a KV cache)       (1, pos0 + T, nkv, hd)
 *     x = x + o_proj(attention(q, k, v))                    causal, GQA
 *     x = x + down(silu(gate(rmsnorm(x))) * up(rmsnorm(x)))
 *   return rmsnorm(x)                                       (B, T, C)
 *
 * With ctx->recompute (and no KV cache) each layer runs through
 * lb_checkpoint (autograd/recompute.h) as one segment from (x, h) to the
 * next (x, h): only those live until backward reruns the layer.
 *
 * The LM head is applied by lb_model_forward (model.c). Sliding-window
 * attention (mistral's sliding_window) is not modelled: lowbit attends over
 * the whole context, which equals it for contexts up to the window.
 */
#include "autograd/recompute.h"
#include "autograd/tape.h"
#include "layers/model_internal.h"


static lb_tensor *self_attention(lb_ctx *ctx, const lb_model *m, const lb_block *b, int layer,
                                 lb_tensor *h /* (B, T, C) */, lb_kv_cache *kv, int64_t pos0,
                                 const lb_rope_table *rope)
{
    const lb_model_config *c = &m->cfg;
    int64_t B = h->shape[0], T = h->shape[1];
    int64_t nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;

    lb_tensor *ql = lb_block_linear(ctx, b, LB_LIN_Q, h, b->wq, b->bq);     /* (B, T, nh*hd) */
    lb_tensor *kl = lb_block_linear(ctx, b, LB_LIN_K, h, b->wk, b->bk);     /* (B, T, nkv*hd) */
    lb_tensor *v = lb_block_linear(ctx, b, LB_LIN_V, h, b->wv, b->bv);      /* (B, T, nkv*hd) */
    lb_tensor *q = lb_reshape(ctx, ql, LB_SHAPE(B, T, nh, hd));   /* (B, T, nh, hd) */
    lb_tensor *k = lb_reshape(ctx, kl, LB_SHAPE(B, T, nkv, hd));  /* (B, T, nkv, hd) */
    v = lb_reshape(ctx, v, LB_SHAPE(B, T, nkv, hd));
    q = lb_rope_with(ctx, q, rope);
    k = lb_rope_with(ctx, k, rope);
    lb_step_release(ctx, ql);   /* q, k before RoPE: no backward reads them */
    lb_step_release(ctx, kl);
    if (kv) lb_kv_cache_update(ctx, kv, layer, &k, &v); /* (1, pos0+T, nkv, hd) */

    lb_tensor *a = lb_attention(ctx, q, k, v, pos0);     /* (B, T, nh, hd) */
    a = lb_reshape(ctx, a, LB_SHAPE(B, T, nh * hd));
    return lb_block_linear(ctx, b, LB_LIN_O, a, b->wo, b->bo);              /* (B, T, C) */
}

static lb_tensor *mlp(lb_ctx *ctx, const lb_block *b, lb_tensor *h /* (B, T, C) */)
{
    lb_tensor *gate = lb_block_linear(ctx, b, LB_LIN_GATE, h, b->w_gate, b->b_gate); /* (B, T, I) */
    lb_tensor *up = lb_block_linear(ctx, b, LB_LIN_UP, h, b->w_up, b->b_up); /* (B, T, I) */
    lb_tensor *act = lb_swiglu(ctx, gate, up);                 /* silu(gate) * up */
    return lb_block_linear(ctx, b, LB_LIN_DOWN, act, b->w_down, b->b_down);          /* (B, T, C) */
}

/* block: layer `layer` on in = (x, h = its input norm of x), both (B, T, C),
 * giving out = (x', the next norm of x'); in and out may be one array. An
 * lb_checkpoint_fn (ctx->recompute). */
static void block(lb_ctx *ctx, const void *closure, lb_tensor *const *in, lb_tensor **out)
{
    const lb_block_args *a = closure;
    const lb_model *m = a->m;
    const lb_block *b = &m->blocks[a->layer];
    float eps = (float)m->cfg.norm_eps;
    lb_tensor *x = in[0], *h = in[1];
    lb_tensor *next_norm = a->layer + 1 < m->cfg.n_layers ? m->blocks[a->layer + 1].attn_norm : m->norm_w;
    /* each sublayer's output r is read by its add only, whose backward
     * does not read it: its memory goes back at once */
    lb_tensor *r = self_attention(ctx, m, b, a->layer, h, a->kv, a->pos0, a->rope);
    h = lb_add_rmsnorm(ctx, x, r, b->mlp_norm, eps, &x);
    lb_step_release(ctx, r);
    r = mlp(ctx, b, h);
    h = lb_add_rmsnorm(ctx, x, r, next_norm, eps, &x);
    lb_step_release(ctx, r);
    out[0] = x;
    out[1] = h;
}

lb_tensor *lb_llama_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv, int64_t pos0)
{
    const lb_model_config *c = &m->cfg;
    float eps = (float)c->norm_eps;

    lb_tensor *x = lb_model_embed(ctx, m, ids); /* (B, T, C) */
    if (c->n_layers == 0) return lb_rmsnorm(ctx, x, m->norm_w, eps);
    /* each residual add is fused with the norm that follows it:
     * h = rmsnorm(x = x + sublayer(h)) */
    lb_tensor *io[2] = {x, lb_rmsnorm(ctx, x, m->blocks[0].attn_norm, eps)};
    /* one rotary table for q and k of every layer (and their backward) */
    const lb_rope_table *rope = lb_rope_table_make(ctx, m->inv_freq, ids->shape[1], c->head_dim, pos0, x->device);
    lb_model_run_blocks(ctx, m, block, io, 2, kv, pos0, rope);
    return io[1]; /* (B, T, C): the final norm of the last residual sum */
}
