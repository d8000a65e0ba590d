/* gpt2.c — the GPT-2 forward pass, written with the ops of autograd/ops.h
 * only; it reads like transformers' GPT2LMHeadModel:
 *
 *   x = wte(ids) + wpe(pos0 .. pos0+T-1)                    (B, T, C)
 *   per layer (pre-LN):
 *     q, k, v = split(c_attn(ln_1(x)))                      (B, T, nh, hd) each
 *     k, v = cache(k, v)            (with a KV cache)       (1, pos0 + T, nh, hd)
 *     x = x + c_proj(attention(q, k, v))                    causal, 1/sqrt(hd)
 *     x = x + c_proj(gelu(c_fc(ln_2(x))))                   gelu_new = tanh form
 *   return ln_f(x)                                          (B, T, C)
 *
 * With ctx->recompute (and no KV cache) each layer runs through
 * lb_checkpoint (autograd/recompute.h) as one segment x -> x: only the
 * residual stream between layers lives until backward reruns the layer.
 *
 * Weights are in nn.Linear layout (the Conv1D [in, out] tensors were
 * transposed at load); the head is the tied wte (model.c applies it).
 */
#include "autograd/recompute.h"
#include "layers/model_internal.h"


static lb_tensor *self_attention(lb_ctx *ctx, const lb_model *m, const lb_block *b, int layer,
                                 lb_tensor *h /* (B, T, C) */, lb_kv_cache *kv, int64_t pos0)
{
    const lb_model_config *c = &m->cfg;
    int64_t B = h->shape[0], T = h->shape[1], C = c->hidden_size;
    int64_t nh = c->n_heads, hd = c->head_dim;

    lb_tensor *qkv = lb_block_linear(ctx, b, LB_LIN_QKV, h, b->w_qkv, b->b_qkv);                       /* (B, T, 3C) */
    lb_tensor *q = lb_reshape(ctx, lb_slice(ctx, qkv, 2, 0, C), LB_SHAPE(B, T, nh, hd));
    lb_tensor *k = lb_reshape(ctx, lb_slice(ctx, qkv, 2, C, C), LB_SHAPE(B, T, nh, hd));
    lb_tensor *v = lb_reshape(ctx, lb_slice(ctx, qkv, 2, 2 * C, C), LB_SHAPE(B, T, nh, hd));
    if (kv) lb_kv_cache_update(ctx, kv, layer, &k, &v); /* (1, pos0+T, nh, hd) */

    lb_tensor *a = lb_attention(ctx, q, k, v, pos0);     /* (B, T, nh, hd) */
    a = lb_reshape(ctx, a, LB_SHAPE(B, T, C));
    return lb_block_linear(ctx, b, LB_LIN_O, a, b->wo, b->bo);              /* (B, T, C) */
}

static lb_tensor *mlp(lb_ctx *ctx, const lb_model *m, const lb_block *b, lb_tensor *h /* (B, T, C) */)
{
    lb_tensor *u = lb_block_linear(ctx, b, LB_LIN_UP, h, b->w_up, b->b_up);  /* (B, T, I) c_fc */
    u = lb_gelu(ctx, u, m->cfg.gelu);
    return lb_block_linear(ctx, b, LB_LIN_DOWN, u, b->w_down, b->b_down);      /* (B, T, C) c_proj */
}

/* block: layer `layer` on in[0] = x (B, T, C), giving out[0] = x'; in and
 * out may be one array. An lb_checkpoint_fn (ctx->recompute). */
static void block(lb_ctx *ctx, const void *closure, lb_tensor *const *in, lb_tensor **out)
{
    const lb_block_args *a = closure;
    const lb_model *m = a->m;
    const lb_block *b = &m->blocks[a->layer];
    float eps = (float)m->cfg.norm_eps;
    lb_tensor *x = in[0];
    lb_tensor *h = lb_layernorm(ctx, x, b->attn_norm, b->ln1_b, eps);
    x = lb_add(ctx, x, self_attention(ctx, m, b, a->layer, h, a->kv, a->pos0));
    h = lb_layernorm(ctx, x, b->mlp_norm, b->ln2_b, eps);
    out[0] = lb_add(ctx, x, mlp(ctx, m, b, h));
}

lb_tensor *lb_gpt2_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv, int64_t pos0)
{
    const lb_model_config *c = &m->cfg;
    int64_t T = ids->shape[1], C = c->hidden_size;
    float eps = (float)c->norm_eps;
    LB_CHECKF(pos0 + T <= c->max_pos, "GPT-2 positions %lld..%lld exceed n_positions = %lld",
              (long long)pos0, (long long)(pos0 + T - 1), (long long)c->max_pos);

    lb_tensor *pos = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, T)); /* (1, T) */
    int32_t *p = pos->data;
    for (int64_t t = 0; t < T; t++) p[t] = (int32_t)(pos0 + t);
    if (m->device != LB_CPU) pos = lb_tensor_to(ctx, pos, m->device, LB_I32);

    lb_tensor *x = lb_model_embed(ctx, m, ids);            /* (B, T, C) */
    lb_tensor *pe = lb_embedding(ctx, m->pos_emb, pos);           /* (1, T, C) */
    x = lb_add(ctx, x, lb_reshape(ctx, pe, LB_SHAPE(T, C)));      /* broadcast over B */
    lb_model_run_blocks(ctx, m, block, &x, 1, kv, pos0, NULL);
    return lb_layernorm(ctx, x, m->norm_w, m->norm_b, eps);      /* (B, T, C) */
}
