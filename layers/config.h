/* config.h — the model hyper-parameters read from (and written to) an HF
 * config.json: llama, mistral, qwen2 (Llama family) and gpt2 (FORMATS.md §2).
 *
 * Accepts both `rope_theta` + `rope_scaling` and the newer `rope_parameters`
 * form; GPT-2 aliases (n_embd, n_layer, n_head, n_inner, n_positions). A
 * missing required key or an unsupported value (model_type, rope type,
 * activation) is an error naming config.json and the key.
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/ops.h"
#include "autograd/status.h"

typedef enum lb_arch {
    LB_ARCH_LLAMA = 0,   /* llama, mistral, qwen2 */
    LB_ARCH_GPT2,
} lb_arch;

typedef enum lb_rope_type {
    LB_ROPE_DEFAULT = 0,
    LB_ROPE_LINEAR,
    LB_ROPE_LLAMA3,
} lb_rope_type;

typedef struct lb_rope_config {
    lb_rope_type type;
    double theta;
    double factor;
    double low_freq_factor;
    double high_freq_factor;
    int64_t original_max_pos;
} lb_rope_config;

typedef struct lb_model_config {
    lb_arch arch;
    char model_type[32];          /* "llama", "mistral", "qwen2", "gpt2" */
    int64_t vocab_size;
    int64_t hidden_size;          /* C */
    int64_t intermediate_size;    /* I */
    int64_t n_layers;
    int64_t n_heads;              /* nh */
    int64_t n_kv_heads;           /* nkv */
    int64_t head_dim;             /* hd */
    int64_t max_pos;
    double norm_eps;
    bool tie_embeddings;
    bool attention_bias;          /* q, k, v, o biases (qwen2: q, k, v only) */
    bool o_bias;
    bool mlp_bias;
    lb_gelu_kind gelu;            /* gpt2 activation */
    lb_rope_config rope;
    int64_t bos_id;               /* -1 when absent */
    int64_t eos_id;               /* -1 when absent (first of a list) */
    lb_dtype torch_dtype;         /* storage dtype named by torch_dtype / dtype
                                   * (f32 when absent); lb_config_save writes it */
} lb_model_config;

/* lb_config_load: parses dir/config.json (or a config.json path) into *cfg.
 * Keys lowbit does not use (dropout, use_cache, ...) are ignored. */
lb_status lb_config_load(const char *path, lb_model_config *cfg);

/* lb_config_save: writes cfg as an HF config.json at `path`, atomically, in a
 * form transformers loads. */
lb_status lb_config_save(const lb_model_config *cfg, const char *path);

/* lb_config_validate: checks sizes are positive and consistent (heads divide,
 * head_dim even for RoPE, ...); errors name `what` (a file or preset) and the
 * key. lb_config_load calls it; callers that build a config by hand should. */
lb_status lb_config_validate(const lb_model_config *cfg, const char *what);

/* lb_config_n_params: number of parameters the config implies (the tied head
 * counted once). */
int64_t lb_config_n_params(const lb_model_config *cfg);

/* lb_rope_inv_freq: fills inv_freq[0 .. hd/2) as transformers computes it,
 * with linear and llama3 scaling folded in. */
void lb_rope_inv_freq(const lb_model_config *cfg, float *inv_freq);

#endif
