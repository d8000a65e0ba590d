/* config.c — HF config.json for llama, mistral, qwen2 and gpt2: reading (with
 * transformers' defaults and aliases), validation, writing, parameter count.
 *
 * The Llama family (llama, mistral, qwen2) shares one reader; qwen2 always has
 * q/k/v biases and never an o bias, whatever attention_bias says (newer qwen2
 * configs omit the key). GPT-2 reads its own key names with the HF aliases.
 * Keys lowbit has no use for (dropout, use_cache, sliding_window, ...) are
 * ignored; unsupported values of keys that change the maths (rope type,
 * activation, GPT-2 attention scaling options) are errors.
 *
 * This file is not RoPE (rope.c) and not the model (model_load.c, llama.c).
 */
#include "layers/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/fileio.h"

/* ---- reading helpers -------------------------------------------------------- */

typedef struct reader {
    const cJSON *root;
    const char *path;    /* the config.json path, for messages */
} reader;

/* get: the value of `key` in obj, or NULL when absent or JSON null. */
static const cJSON *get(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (it && !cJSON_IsNull(it)) ? it : NULL;
}

static bool is_integral(const cJSON *it)
{
    return cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) &&
           fabs(it->valuedouble) < 9.0e15;
}

/* get_int: the first present key of keys[] (aliases), or `def` when none is
 * present and `required` is false. */
static lb_status get_int(const reader *r, const char *const *keys, bool required, int64_t def,
                         int64_t *out)
{
    for (int i = 0; keys[i]; i++) {
        const cJSON *it = get(r->root, keys[i]);
        if (!it) continue;
        if (!is_integral(it))
            return lb_errorf(LB_ERR_FORMAT, "%s: key '%s' must be an integer", r->path, keys[i]);
        *out = (int64_t)it->valuedouble;
        return lb_ok();
    }
    if (required) {
        if (keys[1])
            return lb_errorf(LB_ERR_FORMAT, "%s: missing required key '%s' (or '%s')", r->path,
                             keys[0], keys[1]);
        return lb_errorf(LB_ERR_FORMAT, "%s: missing required key '%s'", r->path, keys[0]);
    }
    *out = def;
    return lb_ok();
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static lb_status get_num(const reader *r, const cJSON *obj, const char *where, const char *key,
                         bool required, double def, double *out)
{
    const cJSON *it = get(obj, key);
    if (!it) {
        if (required)
            return lb_errorf(LB_ERR_FORMAT, "%s: missing required key '%s%s'", r->path, where, key);
        *out = def;
        return lb_ok();
    }
    if (!cJSON_IsNumber(it))
        return lb_errorf(LB_ERR_FORMAT, "%s: key '%s%s' must be a number", r->path, where, key);
    *out = it->valuedouble;
    return lb_ok();
}

static lb_status get_bool(const reader *r, const char *key, bool def, bool *out)
{
    const cJSON *it = get(r->root, key);
    if (!it) {
        *out = def;
        return lb_ok();
    }
    if (!cJSON_IsBool(it))
        return lb_errorf(LB_ERR_FORMAT, "%s: key '%s' must be true or false", r->path, key);
    *out = cJSON_IsTrue(it);
    return lb_ok();
}

/* get_str: the string value of key, `def` when absent. */
static lb_status get_str(const reader *r, const cJSON *obj, const char *where, const char *key,
                         const char *def, const char **out)
{
    const cJSON *it = get(obj, key);
    if (!it) {
        *out = def;
        return lb_ok();
    }
    if (!cJSON_IsString(it))
        return lb_errorf(LB_ERR_FORMAT, "%s: key '%s%s' must be a string", r->path, where, key);
    *out = it->valuestring;
    return lb_ok();
}

/* get_token_id: an int, a list of ints (the first is taken) or null (-1);
 * `def` when the key is absent. */
static lb_status get_token_id(const reader *r, const char *key, int64_t def, int64_t *out)
{
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!raw) {
        *out = def;
        return lb_ok();
    }
    const cJSON *it = raw;
    if (cJSON_IsArray(raw)) it = cJSON_GetArrayItem(raw, 0);
    if (!it || cJSON_IsNull(it)) {
        *out = -1;
        return lb_ok();
    }
    if (!is_integral(it) || it->valuedouble < 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: key '%s' must be a token id (an integer or a list of them)",
                         r->path, key);
    *out = (int64_t)it->valuedouble;
    return lb_ok();
}

/* ---- the Llama family ------------------------------------------------------- */

static lb_status parse_rope(const reader *r, lb_model_config *cfg)
{
    lb_rope_config *rope = &cfg->rope;
    memset(rope, 0, sizeof *rope);
    LB_TRY(get_num(r, r->root, "", "rope_theta", false, 10000.0, &rope->theta));

    /* transformers v5 form first: one dict holding the type, theta and the
     * scaling fields; then the older rope_scaling dict. */
    const cJSON *src = get(r->root, "rope_parameters");
    const char *where = "rope_parameters.";
    if (src && cJSON_IsObject(src)) {
        LB_TRY(get_num(r, src, where, "rope_theta", false, rope->theta, &rope->theta));
    } else {
        if (src) return lb_errorf(LB_ERR_FORMAT, "%s: key 'rope_parameters' must be an object", r->path);
        src = get(r->root, "rope_scaling");
        where = "rope_scaling.";
        if (src && !cJSON_IsObject(src))
            return lb_errorf(LB_ERR_FORMAT, "%s: key 'rope_scaling' must be an object or null", r->path);
    }
    if (!(rope->theta > 0))
        return lb_errorf(LB_ERR_FORMAT, "%s: rope_theta must be positive", r->path);
    rope->type = LB_ROPE_DEFAULT;
    if (!src) return lb_ok();

    const char *type = NULL;
    LB_TRY(get_str(r, src, where, "rope_type", NULL, &type));
    if (!type) LB_TRY(get_str(r, src, where, "type", "default", &type));
    if (!strcmp(type, "default")) return lb_ok();
    if (!strcmp(type, "linear")) rope->type = LB_ROPE_LINEAR;
    else if (!strcmp(type, "llama3")) rope->type = LB_ROPE_LLAMA3;
    else
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: %srope_type '%s' is not supported (lowbit supports default, linear, llama3)",
                         r->path, where, type);

    LB_TRY(get_num(r, src, where, "factor", true, 1.0, &rope->factor));
    if (!(rope->factor > 0))
        return lb_errorf(LB_ERR_FORMAT, "%s: %sfactor must be positive", r->path, where);
    if (rope->type == LB_ROPE_LLAMA3) {
        double orig = 0;
        LB_TRY(get_num(r, src, where, "low_freq_factor", true, 0, &rope->low_freq_factor));
        LB_TRY(get_num(r, src, where, "high_freq_factor", true, 0, &rope->high_freq_factor));
        LB_TRY(get_num(r, src, where, "original_max_position_embeddings", true, 0, &orig));
        rope->original_max_pos = (int64_t)orig;
        if (!(rope->high_freq_factor > rope->low_freq_factor) || !(rope->low_freq_factor > 0) ||
            rope->original_max_pos <= 0)
            return lb_errorf(LB_ERR_FORMAT,
                             "%s: %s needs 0 < low_freq_factor < high_freq_factor and "
                             "original_max_position_embeddings > 0",
                             r->path, where);
    }
    return lb_ok();
}

static lb_status parse_llama(const reader *r, lb_model_config *c)
{
    bool qwen2 = !strcmp(c->model_type, "qwen2");
    c->arch = LB_ARCH_LLAMA;
    LB_TRY(get_int(r, KEYS("vocab_size"), true, 0, &c->vocab_size));
    LB_TRY(get_int(r, KEYS("hidden_size"), true, 0, &c->hidden_size));
    LB_TRY(get_int(r, KEYS("intermediate_size"), true, 0, &c->intermediate_size));
    LB_TRY(get_int(r, KEYS("num_hidden_layers"), true, 0, &c->n_layers));
    LB_TRY(get_int(r, KEYS("num_attention_heads"), true, 0, &c->n_heads));
    LB_TRY(get_int(r, KEYS("num_key_value_heads"), false, c->n_heads, &c->n_kv_heads));
    if (c->n_heads <= 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: num_attention_heads must be positive", r->path);
    if (!get(r->root, "head_dim") && c->hidden_size % c->n_heads != 0)
        return lb_errorf(LB_ERR_FORMAT,
                         "%s: hidden_size (%lld) is not a multiple of num_attention_heads (%lld) and "
                         "head_dim is not given",
                         r->path, (long long)c->hidden_size, (long long)c->n_heads);
    LB_TRY(get_int(r, KEYS("head_dim"), false, c->hidden_size / c->n_heads, &c->head_dim));
    int64_t def_pos = !strcmp(c->model_type, "mistral") ? 4096 * 32 : qwen2 ? 32768 : 2048;
    LB_TRY(get_int(r, KEYS("max_position_embeddings"), false, def_pos, &c->max_pos));
    LB_TRY(get_num(r, r->root, "", "rms_norm_eps", false, 1e-6, &c->norm_eps));

    const char *act = NULL;
    LB_TRY(get_str(r, r->root, "", "hidden_act", "silu", &act));
    if (strcmp(act, "silu") && strcmp(act, "swish"))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported for %s (expected silu)",
                         r->path, act, c->model_type);

    LB_TRY(get_bool(r, "tie_word_embeddings", false, &c->tie_embeddings));
    if (qwen2) {
        c->attention_bias = true;
        c->o_bias = false;
        c->mlp_bias = false;
    } else {
        LB_TRY(get_bool(r, "attention_bias", false, &c->attention_bias));
        c->o_bias = c->attention_bias;
        LB_TRY(get_bool(r, "mlp_bias", false, &c->mlp_bias));
    }
    int64_t def_bos = qwen2 ? -1 : 1, def_eos = qwen2 ? -1 : 2;
    LB_TRY(get_token_id(r, "bos_token_id", def_bos, &c->bos_id));
    LB_TRY(get_token_id(r, "eos_token_id", def_eos, &c->eos_id));
    return parse_rope(r, c);
}

/* ---- GPT-2 ------------------------------------------------------------------ */

static lb_status parse_gpt2(const reader *r, lb_model_config *c)
{
    c->arch = LB_ARCH_GPT2;
    LB_TRY(get_int(r, KEYS("vocab_size"), true, 0, &c->vocab_size));
    LB_TRY(get_int(r, KEYS("n_embd", "hidden_size"), true, 0, &c->hidden_size));
    LB_TRY(get_int(r, KEYS("n_layer", "num_hidden_layers"), true, 0, &c->n_layers));
    LB_TRY(get_int(r, KEYS("n_head", "num_attention_heads"), true, 0, &c->n_heads));
    LB_TRY(get_int(r, KEYS("n_inner"), false, 4 * c->hidden_size, &c->intermediate_size));
    LB_TRY(get_int(r, KEYS("n_positions", "max_position_embeddings"), false, 1024, &c->max_pos));
    LB_TRY(get_num(r, r->root, "", "layer_norm_epsilon", false, 1e-5, &c->norm_eps));
    if (c->n_heads <= 0 || c->hidden_size % c->n_heads != 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: n_embd (%lld) must be a positive multiple of n_head (%lld)",
                         r->path, (long long)c->hidden_size, (long long)c->n_heads);
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden_size / c->n_heads;

    const char *act = NULL;
    LB_TRY(get_str(r, r->root, "", "activation_function", "gelu_new", &act));
    if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) c->gelu = LB_GELU_TANH;
    else if (!strcmp(act, "gelu")) c->gelu = LB_GELU_EXACT;
    else
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: activation_function '%s' is not supported (expected gelu_new, "
                         "gelu_pytorch_tanh or gelu)",
                         r->path, act);

    /* options that change the attention maths and that lowbit does not model */
    bool scale_w = true, by_layer = false, upcast = false;
    LB_TRY(get_bool(r, "scale_attn_weights", true, &scale_w));
    LB_TRY(get_bool(r, "scale_attn_by_inverse_layer_idx", false, &by_layer));
    LB_TRY(get_bool(r, "reorder_and_upcast_attn", false, &upcast));
    if (!scale_w || by_layer)
        return lb_errorf(LB_ERR_UNSUPPORTED,
                         "%s: scale_attn_weights=false and scale_attn_by_inverse_layer_idx=true are "
                         "not supported",
                         r->path);
    (void)upcast; /* fp32 already: upcasting changes nothing */

    LB_TRY(get_bool(r, "tie_word_embeddings", true, &c->tie_embeddings));
    c->attention_bias = c->o_bias = c->mlp_bias = true;
    LB_TRY(get_token_id(r, "bos_token_id", 50256, &c->bos_id));
    LB_TRY(get_token_id(r, "eos_token_id", 50256, &c->eos_id));
    c->rope.type = LB_ROPE_DEFAULT;
    c->rope.theta = 0;
    return lb_ok();
}

static lb_dtype parse_torch_dtype(const reader *r)
{
    const cJSON *it = get(r->root, "torch_dtype");
    if (!it) it = get(r->root, "dtype");
    if (!it || !cJSON_IsString(it)) return LB_F32;
    if (!strcmp(it->valuestring, "bfloat16")) return LB_BF16;
    if (!strcmp(it->valuestring, "float16")) return LB_F16;
    return LB_F32;
}

lb_status lb_config_load(const char *path, lb_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char file[4096];
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) snprintf(file, sizeof file, "%s", path);
    else snprintf(file, sizeof file, "%s/config.json", path);

    char *text = NULL;
    LB_TRY(lb_read_file(file, &text, NULL));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lb_errorf(LB_ERR_FORMAT, "%s: not a valid JSON object", file);
    }
    reader r = {root, file};
    lb_status st = lb_ok();
    const char *mt = NULL;
    st = get_str(&r, root, "", "model_type", NULL, &mt);
    if (lb_failed(&st)) goto out;
    if (!mt) {
        st = lb_errorf(LB_ERR_FORMAT, "%s: missing required key 'model_type'", file);
        goto out;
    }
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
    if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2")) st = parse_llama(&r, cfg);
    else if (!strcmp(mt, "gpt2")) st = parse_gpt2(&r, cfg);
    else
        st = lb_errorf(LB_ERR_UNSUPPORTED,
                       "%s: model_type '%s' is not supported (lowbit supports llama, mistral, qwen2, gpt2)",
                       file, mt);
    if (lb_failed(&st)) goto out;
    cfg->torch_dtype = parse_torch_dtype(&r);
    st = lb_config_validate(cfg, file);
out:
    cJSON_Delete(root);
    return st;
}

lb_status lb_config_validate(const lb_model_config *c, const char *what)
{
    bool gpt2 = c->arch == LB_ARCH_GPT2;
    struct {
        const char *key;
        int64_t v;
    } pos[] = {
        {"vocab_size", c->vocab_size},
        {gpt2 ? "n_embd" : "hidden_size", c->hidden_size},
        {gpt2 ? "n_inner" : "intermediate_size", c->intermediate_size},
        {gpt2 ? "n_layer" : "num_hidden_layers", c->n_layers},
        {gpt2 ? "n_head" : "num_attention_heads", c->n_heads},
        {"num_key_value_heads", c->n_kv_heads},
        {"head_dim", c->head_dim},
        {gpt2 ? "n_positions" : "max_position_embeddings", c->max_pos},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0 || pos[i].v > ((int64_t)1 << 32))
            return lb_errorf(LB_ERR_FORMAT, "%s: %s must be a positive integer below 2^32, got %lld", what,
                             pos[i].key, (long long)pos[i].v);
    if (c->n_heads % c->n_kv_heads != 0)
        return lb_errorf(LB_ERR_FORMAT,
                         "%s: num_attention_heads (%lld) must be a multiple of num_key_value_heads (%lld)",
                         what, (long long)c->n_heads, (long long)c->n_kv_heads);
    if (!gpt2 && c->head_dim % 2 != 0)
        return lb_errorf(LB_ERR_FORMAT, "%s: head_dim (%lld) must be even for rotary embeddings", what,
                         (long long)c->head_dim);
    if (!(c->norm_eps >= 0))
        return lb_errorf(LB_ERR_FORMAT, "%s: %s must be non-negative", what,
                         gpt2 ? "layer_norm_epsilon" : "rms_norm_eps");
    if (!gpt2 && !(c->rope.theta > 0))
        return lb_errorf(LB_ERR_FORMAT, "%s: rope_theta must be positive", what);
    return lb_ok();
}

/* ---- writing ---------------------------------------------------------------- */

/* add_float: a JSON float that Python reads back as a float (10000.0, not
 * 10000), printed with the fewest digits that round-trip. */
static void add_float(cJSON *obj, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    cJSON_AddItemToObject(obj, key, cJSON_CreateRaw(buf));
}

static void add_int(cJSON *obj, const char *key, int64_t v)
{
    cJSON_AddNumberToObject(obj, key, (double)v);
}

static void add_token_id(cJSON *obj, const char *key, int64_t v)
{
    if (v < 0) cJSON_AddNullToObject(obj, key);
    else add_int(obj, key, v);
}

static const char *torch_dtype_name(lb_dtype dt)
{
    switch (dt) {
    case LB_BF16: return "bfloat16";
    case LB_F16: return "float16";
    default: return "float32";
    }
}

static void add_rope(cJSON *o, const lb_rope_config *rope)
{
    add_float(o, "rope_theta", rope->theta);
    if (rope->type == LB_ROPE_DEFAULT) {
        cJSON_AddNullToObject(o, "rope_scaling");
        return;
    }
    cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
    cJSON_AddStringToObject(rs, "rope_type", rope->type == LB_ROPE_LINEAR ? "linear" : "llama3");
    add_float(rs, "factor", rope->factor);
    if (rope->type == LB_ROPE_LLAMA3) {
        add_float(rs, "low_freq_factor", rope->low_freq_factor);
        add_float(rs, "high_freq_factor", rope->high_freq_factor);
        add_int(rs, "original_max_position_embeddings", rope->original_max_pos);
    }
}

static cJSON *llama_json(const lb_model_config *c)
{
    cJSON *o = cJSON_CreateObject();
    const char *arch = !strcmp(c->model_type, "mistral") ? "MistralForCausalLM"
                       : !strcmp(c->model_type, "qwen2") ? "Qwen2ForCausalLM"
                                                          : "LlamaForCausalLM";
    cJSON *a = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(arch));
    cJSON_AddStringToObject(o, "model_type", c->model_type[0] ? c->model_type : "llama");
    add_int(o, "vocab_size", c->vocab_size);
    add_int(o, "hidden_size", c->hidden_size);
    add_int(o, "intermediate_size", c->intermediate_size);
    add_int(o, "num_hidden_layers", c->n_layers);
    add_int(o, "num_attention_heads", c->n_heads);
    add_int(o, "num_key_value_heads", c->n_kv_heads);
    add_int(o, "head_dim", c->head_dim);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    add_int(o, "max_position_embeddings", c->max_pos);
    add_float(o, "rms_norm_eps", c->norm_eps);
    add_rope(o, &c->rope);
    cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
    cJSON_AddBoolToObject(o, "mlp_bias", c->mlp_bias);
    return o;
}

static cJSON *gpt2_json(const lb_model_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(o, "model_type", "gpt2");
    add_int(o, "vocab_size", c->vocab_size);
    add_int(o, "n_embd", c->hidden_size);
    add_int(o, "n_layer", c->n_layers);
    add_int(o, "n_head", c->n_heads);
    add_int(o, "n_inner", c->intermediate_size);
    add_int(o, "n_positions", c->max_pos);
    add_int(o, "n_ctx", c->max_pos);
    add_float(o, "layer_norm_epsilon", c->norm_eps);
    cJSON_AddStringToObject(o, "activation_function", c->gelu == LB_GELU_TANH ? "gelu_new" : "gelu");
    return o;
}

typedef struct text_file {
    const char *path, *text;
} text_file;

/* write_text: lb_atomic_write callback. */
static lb_status write_text(FILE *fp, void *ud)
{
    const text_file *tf = ud;
    size_t n = strlen(tf->text);
    if (fwrite(tf->text, 1, n, fp) != n) return lb_errorf(LB_ERR_IO, "%s: write failed", tf->path);
    return lb_ok();
}

lb_status lb_config_save(const lb_model_config *c, const char *path)
{
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(file, sizeof file, "%s/config.json", path);
    else snprintf(file, sizeof file, "%s", path);

    cJSON *o = c->arch == LB_ARCH_GPT2 ? gpt2_json(c) : llama_json(c);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_embeddings);
    add_token_id(o, "bos_token_id", c->bos_id);
    add_token_id(o, "eos_token_id", c->eos_id);
    add_float(o, "initializer_range", 0.02);
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype_name(c->torch_dtype));
    cJSON_AddBoolToObject(o, "use_cache", true);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return lb_errorf(LB_ERR_OOM, "%s: out of memory formatting the config", file);
    /* cJSON indents with tabs; write the layout save_pretrained does (two
     * spaces, ": "). Raw tabs only occur as layout: strings escape them. */
    size_t n = strlen(text);
    char *withnl = malloc(2 * n + 2);
    if (!withnl) {
        cJSON_free(text);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory formatting the config", file);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] != '\t') withnl[k++] = text[i];
        else if (i > 0 && text[i - 1] == ':') withnl[k++] = ' ';
        else withnl[k++] = ' ', withnl[k++] = ' ';
    }
    withnl[k++] = '\n';
    withnl[k] = '\0';
    cJSON_free(text);
    text_file tf = {file, withnl};
    lb_status st = lb_atomic_write(file, write_text, &tf);
    free(withnl);
    return st;
}

/* ---- sizes ------------------------------------------------------------------- */

int64_t lb_config_n_params(const lb_model_config *c)
{
    int64_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, L = c->n_layers;
    int64_t head = c->tie_embeddings ? 0 : V * C;
    if (c->arch == LB_ARCH_GPT2) {
        int64_t block = 4 * C                /* ln_1, ln_2 weight + bias */
                        + 3 * C * C + 3 * C  /* c_attn */
                        + C * C + C          /* attn.c_proj */
                        + C * I + I          /* c_fc */
                        + I * C + C;         /* mlp.c_proj */
        return V * C + c->max_pos * C + L * block + 2 * C + head;
    }
    int64_t q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    int64_t block = 2 * C + C * q + 2 * C * kv + q * C + 3 * C * I;
    if (c->attention_bias) block += q + 2 * kv;
    if (c->o_bias) block += C;
    if (c->mlp_bias) block += 2 * I + C;
    return V * C + L * block + C + head;
}
