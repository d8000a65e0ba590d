/* model.c — the parameter table of a model (see model_internal.h), freeing,
 * and the forward entry points that dispatch to the family (llama.c,
 * gpt2.c) and apply the LM head.
 *
 * This file does not read or write files (model_load.c, model_init.c) and
 * holds no layer maths of its own beyond the head.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "layers/model_internal.h"
#include "quant/fakequant.h" /* the fake-quant ops (autograd/ops_quant.c) */

/* ---- the parameter table ---------------------------------------------------- */

typedef struct spec_list {
    lb_param_spec *v;
    int n;
} spec_list;

static lb_param_spec *add(spec_list *l, lb_tensor **slot, lb_param_init init, float std, int ndim,
                          int64_t d0, int64_t d1, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static lb_param_spec *add(spec_list *l, lb_tensor **slot, lb_param_init init, float std, int ndim,
                          int64_t d0, int64_t d1, const char *fmt, ...)
{
    lb_param_spec *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = ndim > 1 ? d1 : 0;
    s->init = init;
    s->std = std;
    s->slot = slot;
    return s;
}

#define WHY(s, ...) snprintf((s)->why, sizeof (s)->why, __VA_ARGS__)

static void llama_specs(lb_model *m, spec_list *l)
{
    const lb_model_config *c = &m->cfg;
    long long C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    long long nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    const float std = 0.02f; /* initializer_range */
    lb_param_spec *s;

    s = add(l, &m->tok_emb, LB_INIT_NORMAL, std, 2, V, C, "model.embed_tokens.weight");
    WHY(s, "vocab_size=%lld, hidden_size=%lld", V, C);
    for (int64_t i = 0; i < c->n_layers; i++) {
        lb_block *b = &m->blocks[i];
        const char *p = "model.layers";
        long long li = (long long)i;
        struct {
            const char *name;
            lb_tensor **w, **bias;
            int64_t out, in;
            bool has_bias;
        } lin[] = {
            {"self_attn.q_proj", &b->wq, &b->bq, nh * hd, C, c->attention_bias},
            {"self_attn.k_proj", &b->wk, &b->bk, nkv * hd, C, c->attention_bias},
            {"self_attn.v_proj", &b->wv, &b->bv, nkv * hd, C, c->attention_bias},
            {"self_attn.o_proj", &b->wo, &b->bo, C, nh * hd, c->o_bias},
            {"mlp.gate_proj", &b->w_gate, &b->b_gate, I, C, c->mlp_bias},
            {"mlp.up_proj", &b->w_up, &b->b_up, I, C, c->mlp_bias},
            {"mlp.down_proj", &b->w_down, &b->b_down, C, I, c->mlp_bias},
        };
        for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++) {
            char why[160];
            if (j == 0 || j == 3)
                snprintf(why, sizeof why, "num_attention_heads=%lld, head_dim=%lld, hidden_size=%lld", nh, hd, C);
            else if (j < 3)
                snprintf(why, sizeof why, "num_key_value_heads=%lld, head_dim=%lld, hidden_size=%lld", nkv, hd,
                         C);
            else
                snprintf(why, sizeof why, "intermediate_size=%lld, hidden_size=%lld", I, C);
            s = add(l, lin[j].w, LB_INIT_NORMAL, std, 2, lin[j].out, lin[j].in, "%s.%lld.%s.weight", p, li,
                    lin[j].name);
            WHY(s, "%s", why);
            if (lin[j].has_bias) {
                s = add(l, lin[j].bias, LB_INIT_ZEROS, 0, 1, lin[j].out, 0, "%s.%lld.%s.bias", p, li,
                        lin[j].name);
                WHY(s, "%s, %s", why, j < 3 ? "attention_bias" : j == 3 ? "o_proj bias" : "mlp_bias");
            }
        }
        s = add(l, &b->attn_norm, LB_INIT_ONES, 0, 1, C, 0, "%s.%lld.input_layernorm.weight", p, li);
        WHY(s, "hidden_size=%lld", C);
        s = add(l, &b->mlp_norm, LB_INIT_ONES, 0, 1, C, 0, "%s.%lld.post_attention_layernorm.weight", p, li);
        WHY(s, "hidden_size=%lld", C);
    }
    s = add(l, &m->norm_w, LB_INIT_ONES, 0, 1, C, 0, "model.norm.weight");
    WHY(s, "hidden_size=%lld", C);
    if (!c->tie_embeddings) {
        s = add(l, &m->lm_head, LB_INIT_NORMAL, std, 2, V, C, "lm_head.weight");
        WHY(s, "vocab_size=%lld, hidden_size=%lld, tie_word_embeddings=false", V, C);
    }
}

static void gpt2_specs(lb_model *m, spec_list *l)
{
    const lb_model_config *c = &m->cfg;
    long long C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, P = c->max_pos;
    const float std = 0.02f;
    /* GPT-2's init scales the residual projections by 1/sqrt(2 n_layer) */
    const float proj_std = std / sqrtf(2.0f * (float)c->n_layers);
    const char *p = "transformer";
    lb_param_spec *s;

    s = add(l, &m->tok_emb, LB_INIT_NORMAL, std, 2, V, C, "%s.wte.weight", p);
    WHY(s, "vocab_size=%lld, n_embd=%lld", V, C);
    s = add(l, &m->pos_emb, LB_INIT_NORMAL, std, 2, P, C, "%s.wpe.weight", p);
    WHY(s, "n_positions=%lld, n_embd=%lld", P, C);
    for (int64_t i = 0; i < c->n_layers; i++) {
        lb_block *b = &m->blocks[i];
        long long li = (long long)i;
        s = add(l, &b->attn_norm, LB_INIT_ONES, 0, 1, C, 0, "%s.h.%lld.ln_1.weight", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->ln1_b, LB_INIT_ZEROS, 0, 1, C, 0, "%s.h.%lld.ln_1.bias", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->w_qkv, LB_INIT_NORMAL, std, 2, 3 * C, C, "%s.h.%lld.attn.c_attn.weight", p, li);
        s->conv1d = true;
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->b_qkv, LB_INIT_ZEROS, 0, 1, 3 * C, 0, "%s.h.%lld.attn.c_attn.bias", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->wo, LB_INIT_NORMAL, proj_std, 2, C, C, "%s.h.%lld.attn.c_proj.weight", p, li);
        s->conv1d = true;
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->bo, LB_INIT_ZEROS, 0, 1, C, 0, "%s.h.%lld.attn.c_proj.bias", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->mlp_norm, LB_INIT_ONES, 0, 1, C, 0, "%s.h.%lld.ln_2.weight", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->ln2_b, LB_INIT_ZEROS, 0, 1, C, 0, "%s.h.%lld.ln_2.bias", p, li);
        WHY(s, "n_embd=%lld", C);
        s = add(l, &b->w_up, LB_INIT_NORMAL, std, 2, I, C, "%s.h.%lld.mlp.c_fc.weight", p, li);
        s->conv1d = true;
        WHY(s, "n_inner=%lld, n_embd=%lld", I, C);
        s = add(l, &b->b_up, LB_INIT_ZEROS, 0, 1, I, 0, "%s.h.%lld.mlp.c_fc.bias", p, li);
        WHY(s, "n_inner=%lld", I);
        s = add(l, &b->w_down, LB_INIT_NORMAL, proj_std, 2, C, I, "%s.h.%lld.mlp.c_proj.weight", p, li);
        s->conv1d = true;
        WHY(s, "n_inner=%lld, n_embd=%lld", I, C);
        s = add(l, &b->b_down, LB_INIT_ZEROS, 0, 1, C, 0, "%s.h.%lld.mlp.c_proj.bias", p, li);
        WHY(s, "n_embd=%lld", C);
    }
    s = add(l, &m->norm_w, LB_INIT_ONES, 0, 1, C, 0, "%s.ln_f.weight", p);
    WHY(s, "n_embd=%lld", C);
    s = add(l, &m->norm_b, LB_INIT_ZEROS, 0, 1, C, 0, "%s.ln_f.bias", p);
    WHY(s, "n_embd=%lld", C);
    if (!c->tie_embeddings) {
        s = add(l, &m->lm_head, LB_INIT_NORMAL, std, 2, V, C, "lm_head.weight");
        WHY(s, "vocab_size=%lld, n_embd=%lld, tie_word_embeddings=false", V, C);
    }
}

lb_param_spec *lb_model_param_specs(lb_model *m, int *n)
{
    *n = 0;
    m->blocks = calloc((size_t)m->cfg.n_layers, sizeof *m->blocks);
    /* at most 16 tensors per block plus 5 outside */
    lb_param_spec *v = malloc(((size_t)m->cfg.n_layers * 16 + 5) * sizeof *v);
    if (!m->blocks || !v) {
        free(m->blocks);
        m->blocks = NULL;
        free(v);
        return NULL;
    }
    spec_list l = {v, 0};
    if (m->cfg.arch == LB_ARCH_GPT2) gpt2_specs(m, &l);
    else llama_specs(m, &l);
    *n = l.n;
    return v;
}

lb_status lb_model_finish(lb_model *m, const lb_param_spec *specs, int n)
{
    m->params = calloc((size_t)n, sizeof *m->params);
    m->param_names = calloc((size_t)n, sizeof *m->param_names);
    if (!m->params || !m->param_names) goto oom;
    for (int i = 0; i < n; i++) {
        if (!*specs[i].slot) continue; /* a packed weight (lb_model_build) */
        char *name = strdup(specs[i].name);
        if (!name) goto oom;
        int k = m->n_params;
        m->param_names[k] = name;
        m->params[k] = *specs[i].slot;
        m->params[k]->name = name;
        m->params[k]->requires_grad = true;
        m->n_params = k + 1;
    }
    if (m->cfg.tie_embeddings) m->lm_head = m->tok_emb;
    if (m->cfg.arch == LB_ARCH_LLAMA) {
        m->inv_freq = malloc((size_t)(m->cfg.head_dim / 2) * sizeof *m->inv_freq);
        if (!m->inv_freq) goto oom;
        lb_rope_inv_freq(&m->cfg, m->inv_freq);
    }
    return lb_ok();
oom:
    return lb_errorf(LB_ERR_OOM, "out of memory setting up the model's parameter table");
}

lb_status lb_model_start(lb_model *m, const lb_model_config *cfg, lb_param_spec **specs, int *n)
{
    *specs = NULL;
    *n = 0;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    LB_TRY(lb_config_validate(cfg, "model config"));
    *specs = lb_model_param_specs(m, n);
    if (!*specs) return lb_errorf(LB_ERR_OOM, "out of memory setting up the model");
    return lb_ok();
}

lb_status lb_model_build(lb_model *m, const lb_model_config *cfg, lb_param_fill_fn fill, void *ud)
{
    int n = 0;
    lb_param_spec *specs = NULL;
    LB_TRY(lb_model_start(m, cfg, &specs, &n));
    lb_status st = lb_ok();
    for (int i = 0; i < n && !lb_failed(&st); i++) {
        st = fill(ud, specs[i].name, specs[i].ndim, specs[i].shape, specs[i].slot);
        if (!lb_failed(&st) && !*specs[i].slot && specs[i].ndim != 2)
            st = lb_errorf(LB_ERR_ARG, "%s: a 1-D parameter cannot be packed", specs[i].name);
    }
    if (!lb_failed(&st)) st = lb_model_finish(m, specs, n);
    if (lb_failed(&st)) lb_model_free_partial(m, specs, n);
    else m->device = LB_CPU;
    free(specs);
    return st;
}

static void free_names(lb_model *m)
{
    if (m->param_names)
        for (int i = 0; i < m->n_params; i++) free((char *)m->param_names[i]);
    free(m->param_names);
    free(m->params);
    free(m->inv_freq);
}

/* free_packed: the packed weights of m (a GGUF / GPTQ load) */
static void free_packed(lb_model *m)
{
    const lb_packed_ops *ops = m->packed_ops;
    if (!ops) return;
    for (int64_t i = 0; m->blocks && i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) ops->free(m->blocks[i].wpacked[id]);
    if (m->head_packed != m->emb_packed) ops->free(m->head_packed);
    ops->free(m->emb_packed);
    free(m->packed_scratch);
}

void lb_model_free_partial(lb_model *m, const lb_param_spec *specs, int n)
{
    free_packed(m);
    for (int i = 0; i < n; i++) {
        lb_tensor_free(*specs[i].slot);
        *specs[i].slot = NULL;
    }
    free_names(m);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

void lb_model_free(lb_model *m)
{
    if (!m) return;
    if (m->quant_free) m->quant_free(m->quant); /* attached quantizers (QAT / PTQ runs) */
    free_packed(m);
    for (int i = 0; i < m->n_params; i++) lb_tensor_free(m->params[i]);
    if (m->plan) lb_cuda_free_ptr(m->plan); /* the device plan the tensors pointed into */
    free_names(m);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

/* ---- forward ---------------------------------------------------------------- */

/* the dtype a decoded packed weight takes on x's device: f32 on the CPU
 * (the spec), bf16 on CUDA (what the GEMMs read) */
static lb_dtype packed_dtype(lb_device dev) { return dev == LB_CUDA ? LB_BF16 : LB_F32; }

/* packed_linear: x·Wᵀ + bias with W decoded from p. For inference (grad
 * off) only one decoded matrix exists at a time: on the CPU it is decoded
 * into the block's scratch, on CUDA its step memory is released in stream
 * order right after the GEMM is queued. With grad on, the tape keeps W, so
 * it stays in step memory until the step ends. */
static lb_tensor *packed_linear(lb_ctx *ctx, const lb_block *b, const struct lb_packed *p, lb_tensor *x,
                                lb_tensor *bias)
{
    const lb_packed_ops *ops = b->packed_ops;
    bool infer = !ctx->grad_enabled;
    void *dst = infer && x->device == LB_CPU ? b->packed_scratch : NULL;
    lb_tensor *w = ops->rows(ctx, p, 0, -1, packed_dtype(x->device), dst); /* (out, in) */
    lb_tensor *y = lb_linear(ctx, x, w, bias);
    if (infer && x->device == LB_CUDA) lb_cuda_step_release(ctx, w->data);
    return y;
}

lb_tensor *lb_block_linear(lb_ctx *ctx, const lb_block *b, lb_linear_id id, lb_tensor *x, lb_tensor *w,
                           lb_tensor *bias)
{
    if (b->aquant[id] && b->aquant[id]->calibrating) lb_quantizer_calib_observe(ctx, b->aquant[id], x); /* x as is */
    else if (b->aquant[id]) x = lb_fake_quant_act(ctx, x, b->aquant[id]);
    if (b->wpacked[id]) return packed_linear(ctx, b, b->wpacked[id], x, bias);
    if (b->wquant[id]) {
        w = lb_fake_quant_weight(ctx, w, b->wquant[id]);
    }
    return lb_linear(ctx, x, w, bias);
}

lb_tensor *lb_model_embed(lb_ctx *ctx, const lb_model *m, lb_tensor *ids)
{
    if (m->emb_packed) {
        int64_t B = ids->shape[0], T = ids->shape[1];
        /* only the rows the tokens need are decoded: (B*T, C) */
        lb_tensor *rows = m->packed_ops->gather(ctx, m->emb_packed, ids, packed_dtype(m->device));
        return lb_reshape(ctx, rows, LB_SHAPE(B, T, m->cfg.hidden_size)); /* (B, T, C) */
    }
    lb_tensor *w = m->tok_emb;
    lb_tensor *table = m->emb_quant ? lb_fake_quant_weight(ctx, w, m->emb_quant) : w;
    lb_tensor *x = lb_embedding(ctx, table, ids); /* (B, T, C) */
    /* CUDA, a quantized table tied to an unquantized head: the fake-quant
     * wrote w^ into w's lowp (its bf16 copy), which the head's GEMM reads as
     * bf16(w). The lookup has read w^ (its backward and the fake-quant's read
     * no table values), so bf16(w) goes back in, in stream order. */
    if (m->emb_quant && w == m->lm_head && m->head_quant != m->emb_quant && w->lowp &&
        table->data == w->lowp->data)
        lb_param_refresh_lowp(ctx, w);
    return x;
}

void lb_model_run_blocks(lb_ctx *ctx, const lb_model *m, lb_checkpoint_fn fn, lb_tensor **io, int n,
                         lb_kv_cache *kv, int64_t pos0, const lb_rope_table *rope)
{
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        lb_block_args a = {m, (int)i, pos0, kv, rope};
        if (ctx->recompute && !kv) lb_checkpoint(ctx, fn, &a, sizeof a, io, n, io, n);
        else fn(ctx, &a, io, io);
    }
}

struct lb_quantizer *lb_model_weight_quantizer(const lb_model *m, const lb_tensor *t)
{
    if (t == m->tok_emb) return m->emb_quant;
    if (t == m->lm_head) return m->head_quant;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (lb_block_linear_weight(&m->blocks[i], (lb_linear_id)id) == t) return m->blocks[i].wquant[id];
    return NULL;
}

lb_tensor *lb_model_head_weight(lb_ctx *ctx, const lb_model *m)
{
    if (m->head_packed)
        return m->packed_ops->rows(ctx, m->head_packed, 0, -1, packed_dtype(m->device), NULL); /* (V, C) */
    if (m->head_quant) return lb_fake_quant_weight(ctx, m->lm_head, m->head_quant);   /* (V, C) */
    return m->lm_head;
}

lb_status lb_model_packed_scratch(lb_model *m, int64_t max_numel)
{
    free(m->packed_scratch);
    m->packed_scratch = malloc((size_t)(max_numel > 0 ? max_numel : 1) * sizeof(float));
    if (!m->packed_scratch) return lb_errorf(LB_ERR_OOM, "out of memory for the decode scratch of the packed model");
    for (int64_t i = 0; i < m->cfg.n_layers; i++) m->blocks[i].packed_scratch = m->packed_scratch;
    return lb_ok();
}

lb_status lb_model_packed_to(lb_ctx *ctx, lb_model *m, lb_device dev)
{
    const lb_packed_ops *ops = m->packed_ops;
    if (!ops) return lb_ok();
    if (dev != LB_CPU) {
        free(m->packed_scratch);
        m->packed_scratch = NULL;
        for (int64_t i = 0; i < m->cfg.n_layers; i++) m->blocks[i].packed_scratch = NULL;
    }
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (m->blocks[i].wpacked[id]) LB_TRY(ops->to(ctx, m->blocks[i].wpacked[id], dev));
    if (m->emb_packed) LB_TRY(ops->to(ctx, m->emb_packed, dev));
    if (m->head_packed && m->head_packed != m->emb_packed) LB_TRY(ops->to(ctx, m->head_packed, dev));
    return lb_ok();
}

size_t lb_model_packed_bytes(const lb_model *m)
{
    const lb_packed_ops *ops = m->packed_ops;
    size_t n = 0;
    if (!ops) return 0;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (m->blocks[i].wpacked[id]) n += ops->bytes(m->blocks[i].wpacked[id]);
    if (m->emb_packed) n += ops->bytes(m->emb_packed);
    if (m->head_packed && m->head_packed != m->emb_packed) n += ops->bytes(m->head_packed);
    return n;
}

lb_tensor *lb_model_hidden(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv)
{
    LB_CHECKF(ids->dtype == LB_I32 && ids->ndim == 2, "model input must be (B, T) i32 token ids");
    if (ids->device != m->device) ids = lb_tensor_to(ctx, ids, m->device, LB_I32); /* ids follow the model */
    int64_t pos0 = 0;
    if (kv) {
        LB_CHECKF(ids->shape[0] == 1, "a KV cache holds one sequence (B = 1), got B = %lld",
                  (long long)ids->shape[0]);
        LB_CHECKF(kv->len + ids->shape[1] <= kv->max_len, "KV cache full: %lld + %lld > %lld positions",
                  (long long)kv->len, (long long)ids->shape[1], (long long)kv->max_len);
        pos0 = kv->len;
    }
    lb_tensor *h = m->cfg.arch == LB_ARCH_GPT2 ? lb_gpt2_hidden(ctx, m, ids, kv, pos0)
                                               : lb_llama_hidden(ctx, m, ids, kv, pos0);
    if (kv) kv->len += ids->shape[1];
    return h;
}

lb_tensor *lb_model_forward(lb_ctx *ctx, const lb_model *m, lb_tensor *ids, lb_kv_cache *kv)
{
    lb_tensor *h = lb_model_hidden(ctx, m, ids, kv);                /* (B, T, C) */
    return lb_linear(ctx, h, lb_model_head_weight(ctx, m), NULL);   /* (B, T, V) */
}
