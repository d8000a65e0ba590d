/* gguf_load.c — lb_model_load_gguf (gguf_load.h). */
#include "quant/gguf_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/tok_ggml.h"
#include "quant/gguf.h"
#include "quant/gguf_names.h"
#include "quant/packed.h"
#include "quant/packed_ggml.h"

bool lb_path_is_gguf(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    struct stat sb;
    return n > 5 && !strcmp(path + n - 5, ".gguf") && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- the config -------------------------------------------------------------- */

static lb_status llama_config(const lb_gguf *g, lb_model_config *c)
{
    uint32_t v;
    float f;
#define U32(key, req, def, dst)                                  \
    do {                                                          \
        LB_TRY(lb_gguf_get_u32(g, "llama." key, req, def, &v));   \
        (dst) = v;                                                \
    } while (0)
    U32("embedding_length", true, 0, c->hidden_size);
    U32("feed_forward_length", true, 0, c->intermediate_size);
    U32("block_count", true, 0, c->n_layers);
    U32("attention.head_count", true, 0, c->n_heads);
    U32("attention.head_count_kv", false, (uint32_t)c->n_heads, c->n_kv_heads);
    U32("context_length", true, 0, c->max_pos);
    U32("attention.key_length", false, c->n_heads ? (uint32_t)(c->hidden_size / c->n_heads) : 0, c->head_dim);
    U32("vocab_size", false, 0, c->vocab_size);
#undef U32
    LB_TRY(lb_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", true, 0, &f));
    c->norm_eps = f;
    LB_TRY(lb_gguf_get_f32(g, "llama.rope.freq_base", false, 10000.0f, &f));
    c->rope.theta = f;
    LB_TRY(lb_gguf_get_u32(g, "llama.rope.dimension_count", false, (uint32_t)c->head_dim, &v));
    if (v != c->head_dim)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: llama.rope.dimension_count = %u but the head dim is %lld (partial "
                         "rotary embeddings are not supported)", g->path, v, (long long)c->head_dim);
    const char *type = NULL;
    LB_TRY(lb_gguf_get_str(g, "lowbit.rope.type", false, &type));
    if (!type) LB_TRY(lb_gguf_get_str(g, "llama.rope.scaling.type", false, &type));
    if (type && strcmp(type, "none")) {
        if (!strcmp(type, "linear")) c->rope.type = LB_ROPE_LINEAR;
        else if (!strcmp(type, "llama3")) c->rope.type = LB_ROPE_LLAMA3;
        else return lb_errorf(LB_ERR_UNSUPPORTED, "%s: rope scaling \"%s\" is not supported (linear, llama3)", g->path, type);
        const char *fk = lb_gguf_find(g, "lowbit.rope.factor") ? "lowbit.rope.factor" : "llama.rope.scaling.factor";
        LB_TRY(lb_gguf_get_f32(g, fk, true, 1, &f));
        c->rope.factor = f;
        LB_TRY(lb_gguf_get_f32(g, "lowbit.rope.low_freq_factor", c->rope.type == LB_ROPE_LLAMA3, 1, &f));
        c->rope.low_freq_factor = f;
        LB_TRY(lb_gguf_get_f32(g, "lowbit.rope.high_freq_factor", c->rope.type == LB_ROPE_LLAMA3, 4, &f));
        c->rope.high_freq_factor = f;
        LB_TRY(lb_gguf_get_u32(g, "lowbit.rope.original_context_length", c->rope.type == LB_ROPE_LLAMA3, 0, &v));
        c->rope.original_max_pos = v;
    }
    /* a file from llama.cpp's converter gives llama3 scaling as rope_freqs.weight
     * only: applied to the inverse frequencies after the build (apply_rope_freqs) */
    c->tie_embeddings = !lb_gguf_find_tensor(g, "output.weight");
    c->attention_bias = lb_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    c->o_bias = lb_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
    c->mlp_bias = lb_gguf_find_tensor(g, "blk.0.ffn_up.bias") != NULL;
    return lb_ok();
}

static lb_status gpt2_config(const lb_gguf *g, lb_model_config *c)
{
    uint32_t v;
    float f;
#define U32(key, dst)                                            \
    do {                                                          \
        LB_TRY(lb_gguf_get_u32(g, "gpt2." key, true, 0, &v));     \
        (dst) = v;                                                \
    } while (0)
    U32("embedding_length", c->hidden_size);
    U32("feed_forward_length", c->intermediate_size);
    U32("block_count", c->n_layers);
    U32("attention.head_count", c->n_heads);
    U32("context_length", c->max_pos);
#undef U32
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_heads ? c->hidden_size / c->n_heads : 0;
    LB_TRY(lb_gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", true, 0, &f));
    c->norm_eps = f;
    const char *act = NULL;
    LB_TRY(lb_gguf_get_str(g, "lowbit.activation", false, &act));
    c->gelu = act && !strcmp(act, "gelu") ? LB_GELU_EXACT : LB_GELU_TANH;
    c->tie_embeddings = true; /* the head is output.weight when present (head_packed) */
    c->attention_bias = c->o_bias = c->mlp_bias = true;
    return lb_ok();
}

static lb_status read_config(const lb_gguf *g, lb_model_config *c)
{
    memset(c, 0, sizeof *c);
    const char *arch, *mt = NULL;
    LB_TRY(lb_gguf_get_str(g, "general.architecture", true, &arch));
    if (!strcmp(arch, "llama")) c->arch = LB_ARCH_LLAMA;
    else if (!strcmp(arch, "gpt2")) c->arch = LB_ARCH_GPT2;
    else return lb_errorf(LB_ERR_UNSUPPORTED, "%s: general.architecture \"%s\" is not supported (llama, gpt2)", g->path, arch);
    LB_TRY(lb_gguf_get_str(g, "lowbit.model_type", false, &mt));
    snprintf(c->model_type, sizeof c->model_type, "%s", mt ? mt : arch);
    c->torch_dtype = LB_F32;
    c->bos_id = c->eos_id = -1;
    LB_TRY(c->arch == LB_ARCH_GPT2 ? gpt2_config(g, c) : llama_config(g, c));
    const lb_gguf_tensor *emb = lb_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return lb_errorf(LB_ERR_FORMAT, "%s: tensor token_embd.weight is missing", g->path);
    if (c->vocab_size == 0) c->vocab_size = emb->ne[1];
    uint32_t id;
    LB_TRY(lb_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", false, UINT32_MAX, &id));
    if (id != UINT32_MAX) c->bos_id = id;
    LB_TRY(lb_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", false, UINT32_MAX, &id));
    if (id != UINT32_MAX) c->eos_id = id;
    return lb_config_validate(c, g->path);
}

/* ---- the tensors ------------------------------------------------------------- */

typedef struct slot {
    char gname[LB_GGUF_NAME_MAX + 2];
    lb_packed *p;
} slot;

typedef struct loader {
    const lb_gguf *g;
    lb_arch arch;
    int64_t n_heads, n_kv_heads;
    slot *packed;             /* packed weights made by fill, attached after lb_model_build */
    int n_packed;
    bool *used;               /* (g->n_t) */
} loader;

static int64_t heads_of(const loader *L, const char *gname)
{
    if (L->arch != LB_ARCH_LLAMA) return 0;
    const char *dot = strrchr(gname, '.');
    size_t n = dot ? (size_t)(dot - gname) : strlen(gname);
    if (n > 7 && !strncmp(gname + n - 7, ".attn_q", 7)) return L->n_heads;
    if (n > 7 && !strncmp(gname + n - 7, ".attn_k", 7)) return L->n_kv_heads;
    return 0;
}

/* f32_param: a 1-D tensor (or GPT-2's position table) as an f32 parameter */
static lb_status f32_param(const loader *L, const lb_gguf_tensor *t, int ndim, const int64_t *shape, lb_tensor **out)
{
    if (t->type != LB_GGML_F32 && t->type != LB_GGML_F16 && t->type != LB_GGML_BF16)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: tensor %s has type %d; lowbit reads it as F32, F16 or BF16", L->g->path,
                         t->name, t->type);
    lb_tensor *x = lb_tensor_alloc(LB_F32, ndim, shape);
    if (!x) return lb_errorf(LB_ERR_OOM, "out of memory");
    size_t n = (size_t)lb_tensor_numel(x);
    if (t->type == LB_GGML_F32) memcpy(x->data, t->data, n * sizeof(float));
    else lb_convert_to_f32(x->data, t->data, t->type == LB_GGML_F16 ? LB_F16 : LB_BF16, n);
    int64_t heads = heads_of(L, t->name);
    lb_status st = heads ? lb_gguf_permute_qk(x->data, (int64_t)n, sizeof(float), heads, false) : lb_ok();
    if (lb_failed(&st)) lb_tensor_free(x);
    else *out = x;
    return st;
}

static lb_status fill(void *ud, const char *name, int ndim, const int64_t *shape, lb_tensor **out)
{
    loader *L = ud;
    const lb_gguf *g = L->g;
    char gname[LB_GGUF_NAME_MAX + 2];
    *out = NULL;
    if (!lb_gguf_name_of(L->arch, name, gname, sizeof gname))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: lowbit's %s has no GGUF name", g->path, name);
    const lb_gguf_tensor *t = lb_gguf_find_tensor(g, gname);
    if (!t) return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s is missing (the architecture keys imply it)", g->path, gname);
    L->used[t - g->t] = true;
    int64_t rows = ndim == 2 ? shape[0] : 1, cols = ndim == 2 ? shape[1] : shape[0];
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return lb_errorf(LB_ERR_SHAPE, "%s: tensor %s has ne = [%lld, %lld, %lld, %lld], expected [%lld, %lld] from the "
                         "architecture keys", g->path, gname, (long long)t->ne[0], (long long)t->ne[1],
                         (long long)t->ne[2], (long long)t->ne[3], (long long)cols, (long long)rows);
    if (ndim == 1 || !strcmp(gname, "position_embd.weight")) return f32_param(L, t, ndim, shape, out);
    const char *tn = "?";
    lb_ggml_type_info(t->type, NULL, NULL, &tn);
    if (!lb_ggml_type_decodable(t->type, NULL))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which lowbit cannot decode (F32 F16 BF16 Q4_0 "
                         "Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q6_K)", g->path, gname, tn);
    lb_packed *p = lb_packed_new_ggml(t->type, rows, cols);
    if (!p) return lb_errorf(LB_ERR_OOM, "out of memory loading %s", gname);
    memcpy(p->data->data, t->data, (size_t)t->nbytes);
    int64_t heads = heads_of(L, gname);
    size_t rb = (size_t)lb_ggml_row_bytes(t->type, cols);
    lb_status st = heads ? lb_gguf_permute_qk(p->data->data, rows, rb, heads, false) : lb_ok();
    if (lb_failed(&st)) {
        lb_packed_free(p);
        return st;
    }
    slot *s = &L->packed[L->n_packed++];
    snprintf(s->gname, sizeof s->gname, "%s", gname);
    s->p = p;
    return lb_ok();
}

/* take: the packed weight named gname (ownership moves to the caller), or NULL */
static lb_packed *take(loader *L, const char *gname)
{
    for (int i = 0; i < L->n_packed; i++)
        if (L->packed[i].p && !strcmp(L->packed[i].gname, gname)) {
            lb_packed *p = L->packed[i].p;
            L->packed[i].p = NULL;
            return p;
        }
    return NULL;
}

static const char *linear_part(lb_arch arch, int id)
{
    static const char *const llama[LB_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", NULL, "attn_output",
                                                    "ffn_gate", "ffn_up", "ffn_down"};
    static const char *const gpt2[LB_LIN_COUNT] = {NULL, NULL, NULL, "attn_qkv", "attn_output", NULL, "ffn_up",
                                                   "ffn_down"};
    return arch == LB_ARCH_GPT2 ? gpt2[id] : llama[id];
}

/* attach: hands the packed weights to m's blocks, embedding and head */
static lb_status attach(loader *L, lb_model *m)
{
    const lb_gguf *g = L->g;
    lb_packed_model_init(m);
    char gname[96];
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            const char *part = linear_part(m->cfg.arch, id);
            if (!part) continue;
            snprintf(gname, sizeof gname, "blk.%lld.%s.weight", (long long)i, part);
            m->blocks[i].wpacked[id] = take(L, gname);
        }
    }
    LB_TRY(lb_packed_model_scratch_fit(m)); /* the linears decode into one scratch of the largest */
    m->emb_packed = take(L, "token_embd.weight");
    m->head_packed = take(L, "output.weight");
    if (!m->head_packed) m->head_packed = m->emb_packed;
    for (int64_t i = 0; i < g->n_t; i++)
        if (!L->used[i] && strcmp(g->t[i].name, "output.weight"))
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor %s is not part of a %s model of this shape", g->path, g->t[i].name,
                             lb_gguf_arch_name(m->cfg.arch));
    return lb_ok();
}

/* apply_rope_freqs: llama.cpp's rope_freqs.weight (F32 (hd/2) factors)
 * divides each inverse frequency, as llama.cpp's rope does; used when the
 * file does not give the scaling's parameters (lowbit.rope.*), i.e. a file
 * lowbit did not write */
static lb_status apply_rope_freqs(loader *L, lb_model *m)
{
    const lb_gguf_tensor *t = lb_gguf_find_tensor(L->g, "rope_freqs.weight");
    if (!t || m->cfg.arch != LB_ARCH_LLAMA) return lb_ok();
    L->used[t - L->g->t] = true;
    if (m->cfg.rope.type != LB_ROPE_DEFAULT) return lb_ok(); /* lowbit's keys gave the exact config */
    int64_t half = m->cfg.head_dim / 2;
    if (t->type != LB_GGML_F32 || t->ne[0] != half || t->ne[1] != 1)
        return lb_errorf(LB_ERR_FORMAT, "%s: rope_freqs.weight must be F32 [%lld] (head_dim / 2)", L->g->path,
                         (long long)half);
    const float *f = (const float *)t->data;
    for (int64_t j = 0; j < half; j++) {
        if (!(f[j] > 0))
            return lb_errorf(LB_ERR_FORMAT, "%s: rope_freqs.weight[%lld] = %g, expected a positive factor", L->g->path,
                             (long long)j, (double)f[j]);
        m->inv_freq[j] /= f[j];
    }
    return lb_ok();
}

/* output_weight: GGUF's output.weight is not in lowbit's parameter table
 * when the config is tied (gpt2 always): load it packed by hand */
static lb_status output_weight(loader *L, const lb_model_config *c)
{
    const lb_gguf_tensor *t = lb_gguf_find_tensor(L->g, "output.weight");
    if (!t || !c->tie_embeddings) return lb_ok();
    int64_t shape[2] = {c->vocab_size, c->hidden_size};
    lb_tensor *none = NULL;
    return fill(L, "lm_head.weight", 2, shape, &none);
}

static lb_status read_tokenizer(const lb_gguf *g, lb_tokenizer **tok)
{
    const char *model, *pre = NULL;
    LB_TRY(lb_gguf_get_str(g, "tokenizer.ggml.model", true, &model));
    if (strcmp(model, "gpt2"))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model \"%s\" is not supported (lowbit reads byte-level "
                         "BPE, \"gpt2\")", g->path, model);
    LB_TRY(lb_gguf_get_str(g, "tokenizer.ggml.pre", false, &pre));
    if (!pre || (strcmp(pre, "gpt-2") && strcmp(pre, "llama-bpe") && strcmp(pre, "qwen2")))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre \"%s\" is not supported (gpt-2, llama-bpe, qwen2)",
                         g->path, pre ? pre : "(missing)");
    const lb_gguf_kv *tokens, *types = NULL, *merges = NULL;
    LB_TRY(lb_gguf_get_arr(g, "tokenizer.ggml.tokens", LB_GGUF_STRING, &tokens));
    if (lb_gguf_find(g, "tokenizer.ggml.token_type"))
        LB_TRY(lb_gguf_get_arr(g, "tokenizer.ggml.token_type", LB_GGUF_I32, &types));
    if (lb_gguf_find(g, "tokenizer.ggml.merges"))
        LB_TRY(lb_gguf_get_arr(g, "tokenizer.ggml.merges", LB_GGUF_STRING, &merges));
    if (types && types->n != tokens->n)
        return lb_errorf(LB_ERR_FORMAT, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", g->path,
                         (unsigned long long)types->n, (unsigned long long)tokens->n);
    lb_tok_ggml t = {0};
    t.n = (int64_t)tokens->n;
    t.tokens = tokens->str;
    t.token_len = (size_t *)tokens->str_len;
    t.types = malloc((size_t)t.n * sizeof *t.types);
    if (!t.types) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (int64_t i = 0; i < t.n; i++) t.types[i] = types ? ((const int32_t *)types->num)[i] : LB_TOKTYPE_NORMAL;
    t.n_merges = merges ? (int64_t)merges->n : 0;
    t.merges = merges ? merges->str : NULL;
    t.merge_len = merges ? (size_t *)merges->str_len : NULL;
    t.pre = pre;
    uint32_t v;
    LB_TRY(lb_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", false, UINT32_MAX, &v));
    t.bos = v == UINT32_MAX ? -1 : (int32_t)v;
    LB_TRY(lb_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", false, UINT32_MAX, &v));
    t.eos = v == UINT32_MAX ? -1 : (int32_t)v;
    char where[4200];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.*", g->path);
    lb_status st = lb_tokenizer_from_ggml(&t, where, tok);
    free(t.types);
    return st;
}

lb_status lb_model_load_gguf(const char *path, lb_model *m, lb_tokenizer **tok)
{
    memset(m, 0, sizeof *m);
    if (tok) *tok = NULL;
    lb_gguf *g;
    LB_TRY(lb_gguf_open(path, &g));
    lb_model_config c;
    lb_status st = read_config(g, &c);
    loader L = {g, c.arch, c.n_heads, c.n_kv_heads, NULL, 0, NULL};
    if (!lb_failed(&st)) {
        L.packed = calloc((size_t)c.n_layers * LB_LIN_COUNT + 4, sizeof *L.packed);
        L.used = calloc((size_t)g->n_t + 1, sizeof *L.used);
        if (!L.packed || !L.used) st = lb_errorf(LB_ERR_OOM, "out of memory");
    }
    if (!lb_failed(&st)) st = lb_model_build(m, &c, fill, &L);
    bool built = !lb_failed(&st);
    if (built) st = output_weight(&L, &c);
    if (built && !lb_failed(&st)) st = apply_rope_freqs(&L, m);
    if (built && !lb_failed(&st)) st = attach(&L, m);
    if (!lb_failed(&st) && tok) st = read_tokenizer(g, tok);
    for (int i = 0; L.packed && i < L.n_packed; i++) lb_packed_free(L.packed[i].p); /* those not attached */
    free(L.packed);
    free(L.used);
    lb_gguf_free(g);
    if (lb_failed(&st) && built) lb_model_free(m);
    return st;
}
