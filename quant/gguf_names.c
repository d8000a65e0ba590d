/* gguf_names.c — HF tensor names to GGUF names, and the q/k row order (gguf_names.h). */
#include "quant/gguf_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lb_gguf_arch_name(lb_arch arch) { return arch == LB_ARCH_GPT2 ? "gpt2" : "llama"; }

typedef struct pair {
    const char *hf, *gguf;
} pair;

/* per-layer parts: "<prefix><i>.<hf part>.<weight|bias>" -> "blk.<i>.<gguf part>.<weight|bias>" */
static const pair k_llama_layer[] = {
    {"input_layernorm", "attn_norm"},   {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},     {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},     {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},      {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
};
static const pair k_gpt2_layer[] = {
    {"ln_1", "attn_norm"},       {"ln_2", "ffn_norm"},      {"attn.c_attn", "attn_qkv"},
    {"attn.c_proj", "attn_output"}, {"mlp.c_fc", "ffn_up"},  {"mlp.c_proj", "ffn_down"},
};
static const pair k_llama_top[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
static const pair k_gpt2_top[] = {
    {"transformer.wte.weight", "token_embd.weight"},   {"transformer.wpe.weight", "position_embd.weight"},
    {"transformer.ln_f.weight", "output_norm.weight"}, {"transformer.ln_f.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
};

bool lb_gguf_name_of(lb_arch arch, const char *hf, char *out, size_t n)
{
    bool gpt2 = arch == LB_ARCH_GPT2;
    const pair *top = gpt2 ? k_gpt2_top : k_llama_top, *layer = gpt2 ? k_gpt2_layer : k_llama_layer;
    size_t n_top = gpt2 ? sizeof k_gpt2_top / sizeof *top : sizeof k_llama_top / sizeof *top;
    size_t n_layer = gpt2 ? sizeof k_gpt2_layer / sizeof *layer : sizeof k_llama_layer / sizeof *layer;
    for (size_t i = 0; i < n_top; i++)
        if (!strcmp(hf, top[i].hf)) return snprintf(out, n, "%s", top[i].gguf) < (int)n;
    const char *prefix = gpt2 ? "transformer.h." : "model.layers.";
    size_t pl = strlen(prefix);
    if (strncmp(hf, prefix, pl)) return false;
    char *end;
    long li = strtol(hf + pl, &end, 10);
    if (end == hf + pl || *end != '.') return false;
    const char *rest = end + 1;
    for (size_t i = 0; i < n_layer; i++) {
        size_t l = strlen(layer[i].hf);
        if (strncmp(rest, layer[i].hf, l) || rest[l] != '.') continue;
        const char *kind = rest + l + 1;
        if (strcmp(kind, "weight") && strcmp(kind, "bias")) return false;
        return snprintf(out, n, "blk.%ld.%s.%s", li, layer[i].gguf, kind) < (int)n;
    }
    return false;
}

lb_status lb_gguf_permute_qk(uint8_t *data, int64_t rows, size_t rb, int64_t heads, bool to_gguf)
{
    int64_t hd = rows / heads, half = hd / 2;
    uint8_t *tmp = malloc((size_t)hd * rb);
    if (!tmp) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (int64_t h = 0; h < heads; h++) {
        uint8_t *head = data + (size_t)(h * hd) * rb;
        memcpy(tmp, head, (size_t)hd * rb);
        for (int64_t j = 0; j < half; j++)
            for (int s = 0; s < 2; s++) {
                size_t g = (size_t)(2 * j + s) * rb, hf = (size_t)(s * half + j) * rb;
                if (to_gguf) memcpy(head + g, tmp + hf, rb);
                else memcpy(head + hf, tmp + g, rb);
            }
    }
    free(tmp);
    return lb_ok();
}
