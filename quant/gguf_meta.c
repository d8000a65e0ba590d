/* gguf_meta.c — the metadata of a GGUF export: general.*, the architecture
 * keys llama.cpp's loader requires with the GGUF types it demands
 * (FORMATS §5.4, §5.6 for gpt2), the tokenizer (§5.5), and lowbit.* keys
 * that let lowbit rebuild its config exactly (llama.cpp ignores them). */
#include <stdio.h>
#include <string.h>

#include "quant/gguf_internal.h"
#include "quant/gguf_names.h"

static lb_status llama_keys(lb_gguf *g, const lb_model_config *c)
{
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "llama.%s", s), k)
    LB_TRY(lb_gguf_set_u32(g, KEY("context_length"), (uint32_t)c->max_pos));
    LB_TRY(lb_gguf_set_u32(g, KEY("embedding_length"), (uint32_t)c->hidden_size));
    LB_TRY(lb_gguf_set_u32(g, KEY("block_count"), (uint32_t)c->n_layers));
    LB_TRY(lb_gguf_set_u32(g, KEY("feed_forward_length"), (uint32_t)c->intermediate_size));
    LB_TRY(lb_gguf_set_u32(g, KEY("attention.head_count"), (uint32_t)c->n_heads));
    LB_TRY(lb_gguf_set_u32(g, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads));
    LB_TRY(lb_gguf_set_f32(g, KEY("attention.layer_norm_rms_epsilon"), (float)c->norm_eps));
    LB_TRY(lb_gguf_set_f32(g, KEY("rope.freq_base"), (float)c->rope.theta));
    LB_TRY(lb_gguf_set_u32(g, KEY("rope.dimension_count"), (uint32_t)c->head_dim));
    if (c->head_dim * c->n_heads != c->hidden_size) {
        LB_TRY(lb_gguf_set_u32(g, KEY("attention.key_length"), (uint32_t)c->head_dim));
        LB_TRY(lb_gguf_set_u32(g, KEY("attention.value_length"), (uint32_t)c->head_dim));
    }
    LB_TRY(lb_gguf_set_u32(g, KEY("vocab_size"), (uint32_t)c->vocab_size));
    if (c->rope.type == LB_ROPE_LINEAR) {
        LB_TRY(lb_gguf_set_str(g, KEY("rope.scaling.type"), "linear"));
        LB_TRY(lb_gguf_set_f32(g, KEY("rope.scaling.factor"), (float)c->rope.factor));
    }
#undef KEY
    /* lowbit's own: the exact rope config (llama3 scaling is rope_freqs.weight for llama.cpp) */
    if (c->rope.type != LB_ROPE_DEFAULT) {
        LB_TRY(lb_gguf_set_str(g, "lowbit.rope.type", c->rope.type == LB_ROPE_LINEAR ? "linear" : "llama3"));
        LB_TRY(lb_gguf_set_f32(g, "lowbit.rope.factor", (float)c->rope.factor));
        LB_TRY(lb_gguf_set_f32(g, "lowbit.rope.low_freq_factor", (float)c->rope.low_freq_factor));
        LB_TRY(lb_gguf_set_f32(g, "lowbit.rope.high_freq_factor", (float)c->rope.high_freq_factor));
        LB_TRY(lb_gguf_set_u32(g, "lowbit.rope.original_context_length", (uint32_t)c->rope.original_max_pos));
    }
    return lb_ok();
}

static lb_status gpt2_keys(lb_gguf *g, const lb_model_config *c)
{
    LB_TRY(lb_gguf_set_u32(g, "gpt2.context_length", (uint32_t)c->max_pos));
    LB_TRY(lb_gguf_set_u32(g, "gpt2.embedding_length", (uint32_t)c->hidden_size));
    LB_TRY(lb_gguf_set_u32(g, "gpt2.feed_forward_length", (uint32_t)c->intermediate_size));
    LB_TRY(lb_gguf_set_u32(g, "gpt2.block_count", (uint32_t)c->n_layers));
    LB_TRY(lb_gguf_set_u32(g, "gpt2.attention.head_count", (uint32_t)c->n_heads));
    LB_TRY(lb_gguf_set_f32(g, "gpt2.attention.layer_norm_epsilon", (float)c->norm_eps));
    return lb_gguf_set_str(g, "lowbit.activation", c->gelu == LB_GELU_TANH ? "gelu_new" : "gelu");
}

static lb_status tokenizer_keys(lb_gguf *g, const lb_tok_ggml *t)
{
    LB_TRY(lb_gguf_set_str(g, "tokenizer.ggml.model", "gpt2"));
    LB_TRY(lb_gguf_set_str(g, "tokenizer.ggml.pre", t->pre));
    LB_TRY(lb_gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)t->tokens, t->token_len,
                               (uint64_t)t->n));
    LB_TRY(lb_gguf_set_arr_i32(g, "tokenizer.ggml.token_type", t->types, (uint64_t)t->n));
    if (t->n_merges > 0)
        LB_TRY(lb_gguf_set_arr_str(g, "tokenizer.ggml.merges", (const char *const *)t->merges, t->merge_len,
                                   (uint64_t)t->n_merges));
    if (t->bos >= 0) LB_TRY(lb_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos));
    if (t->eos >= 0) LB_TRY(lb_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos));
    /* lowbit's generate adds BOS when there is one distinct from EOS; say the same to llama.cpp */
    LB_TRY(lb_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", t->bos >= 0 && t->bos != t->eos));
    return lb_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", false);
}

lb_status lb_gguf_put_meta(lb_gguf *g, const lb_model_config *c, const lb_tok_ggml *tok, const char *name,
                           uint32_t file_type, bool quantized)
{
    LB_TRY(lb_gguf_set_str(g, "general.architecture", lb_gguf_arch_name(c->arch)));
    LB_TRY(lb_gguf_set_str(g, "general.name", name));
    LB_TRY(lb_gguf_set_u32(g, "general.file_type", file_type));
    if (quantized) LB_TRY(lb_gguf_set_u32(g, "general.quantization_version", 2));
    LB_TRY(lb_gguf_set_str(g, "lowbit.model_type", c->model_type));
    LB_TRY(c->arch == LB_ARCH_GPT2 ? gpt2_keys(g, c) : llama_keys(g, c));
    return tokenizer_keys(g, tok);
}
