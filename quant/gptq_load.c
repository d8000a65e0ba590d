/* gptq_load.c — lb_model_load_gptq: a GPTQ directory (lowbit's export or
 * another tool's: AutoGPTQ / GPTQModel v1 or v2, act-order with g_idx,
 * 2/3/4/8 bits) as an lb_model whose quantized linears stay packed
 * (lb_block.wpacked, decoded per layer by quant/packed.c when the forward
 * runs). See gptq.h.
 *
 * The model's parameter table drives the load (lb_model_build): a 2-D
 * weight whose `<prefix>.qweight` is in the files becomes an LB_PACKED_GPTQ
 * (checked against the config and the layer's shape), everything else is
 * read as lb_model_load reads it (f16/bf16/f32 to f32, GPT-2 Conv1D
 * transposed). Tensors that neither the table nor a packed linear
 * explains are an error, as in lb_model_load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tensor.h"
#include "quant/gptq.h"

typedef struct gl_packed {
    char name[256];        /* the HF weight name it replaces (lowbit's, with any GPT-2 prefix) */
    lb_packed *p;
} gl_packed;

typedef struct gl_state {
    const char *dir;
    lb_ckpt ck;
    lb_gptq_config gc;
    bool strip;            /* GPT-2 files without "transformer." */
    lb_arch arch;
    gl_packed *packed;
    int n_packed, cap_packed;
    char **used;           /* file tensor names consumed, for the unexpected-tensor check */
    int n_used, cap_used;
} gl_state;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static const char *file_name(const gl_state *s, const char *name)
{
    const char *pfx = "transformer.";
    if (s->strip && !strncmp(name, pfx, strlen(pfx))) return name + strlen(pfx);
    return name;
}

static lb_status mark_used(gl_state *s, const char *name)
{
    if (s->n_used == s->cap_used) {
        int cap = s->cap_used ? 2 * s->cap_used : 64;
        char **u = realloc(s->used, (size_t)cap * sizeof *u);
        if (!u) return lb_errorf(LB_ERR_OOM, "out of memory");
        s->used = u;
        s->cap_used = cap;
    }
    s->used[s->n_used] = strdup(name);
    if (!s->used[s->n_used]) return lb_errorf(LB_ERR_OOM, "out of memory");
    s->n_used++;
    return lb_ok();
}

/* is_conv1d: GPT-2's block linears are Conv1D [in, out] in HF files. */
static bool is_conv1d(const gl_state *s, const char *name)
{
    return s->arch == LB_ARCH_GPT2 && (ends_with(name, ".attn.c_attn.weight") || ends_with(name, ".attn.c_proj.weight") ||
                                       ends_with(name, ".mlp.c_fc.weight") || ends_with(name, ".mlp.c_proj.weight"));
}

static lb_status fill_packed(gl_state *s, const char *name, const char *prefix, const int64_t *shape)
{
    if (s->n_packed == s->cap_packed) {
        int cap = s->cap_packed ? 2 * s->cap_packed : 32;
        gl_packed *p = realloc(s->packed, (size_t)cap * sizeof *p);
        if (!p) return lb_errorf(LB_ERR_OOM, "out of memory");
        s->packed = p;
        s->cap_packed = cap;
    }
    gl_packed *e = &s->packed[s->n_packed];
    snprintf(e->name, sizeof e->name, "%s", name);
    LB_TRY(lb_gptq_packed_load(&s->ck, s->dir, &s->gc, prefix, shape[0], shape[1], &e->p));
    s->n_packed++;
    static const char *parts[] = {"qweight", "qzeros", "scales", "g_idx"};
    for (int i = 0; i < 4; i++) {
        char part[320];
        snprintf(part, sizeof part, "%s.%s", prefix, parts[i]);
        if (lb_ckpt_find(&s->ck, part)) LB_TRY(mark_used(s, part));
    }
    return lb_ok();
}

static lb_status fill_plain(gl_state *s, const char *name, const char *fname, int ndim, const int64_t *shape,
                            lb_tensor **out)
{
    bool conv = ndim == 2 && is_conv1d(s, name);
    int64_t want[2] = {conv ? shape[1] : shape[0], ndim > 1 ? (conv ? shape[0] : shape[1]) : 0};
    const lb_st_tensor *t = lb_ckpt_find(&s->ck, fname);
    if (!t)
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is missing (neither it nor a GPTQ '%.*s.qweight' is in the "
                         "files, but config.json implies it)", s->dir, fname,
                         (int)(ends_with(fname, ".weight") ? strlen(fname) - 7 : strlen(fname)), fname);
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
    if (!ok)
        return lb_errorf(LB_ERR_SHAPE, "%s: tensor '%s' has %d dims [%lld, %lld] but config.json implies [%lld%s%lld]",
                         s->dir, fname, t->ndim, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0),
                         (long long)want[0], ndim > 1 ? ", " : "", (long long)(ndim > 1 ? want[1] : 0));
    lb_tensor *p = lb_tensor_alloc(LB_F32, ndim, shape);
    if (!p) return lb_errorf(LB_ERR_OOM, "%s: out of memory loading '%s'", s->dir, fname);
    lb_status st;
    if (!conv) {
        st = lb_st_read_f32(t, lb_tensor_f32(p));
    } else {
        float *tmp = malloc((size_t)(shape[0] * shape[1]) * sizeof *tmp);
        st = tmp ? lb_st_read_f32(t, tmp) : lb_errorf(LB_ERR_OOM, "%s: out of memory", s->dir);
        float *w = lb_tensor_f32(p);
        for (int64_t i = 0; !lb_failed(&st) && i < shape[1]; i++)   /* [in, out] -> (out, in) */
            for (int64_t o = 0; o < shape[0]; o++) w[o * shape[1] + i] = tmp[i * shape[0] + o];
        free(tmp);
    }
    if (lb_failed(&st)) {
        lb_tensor_free(p);
        return lb_status_prefix(st, "%s", s->dir);
    }
    *out = p;
    return mark_used(s, fname);
}

/* fill: lb_param_fill_fn over the GPTQ files. */
static lb_status fill(void *ud, const char *name, int ndim, const int64_t *shape, lb_tensor **out)
{
    gl_state *s = ud;
    *out = NULL;
    const char *fname = file_name(s, name);
    if (ndim == 2 && ends_with(fname, ".weight")) {
        char prefix[256], q[300];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(fname) - 7), fname);
        snprintf(q, sizeof q, "%s.qweight", prefix);
        if (lb_ckpt_find(&s->ck, q)) return fill_packed(s, name, prefix, shape);
    }
    return fill_plain(s, name, fname, ndim, shape, out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* check_unexpected: every tensor in the files was consumed or is a known
 * buffer (lb_model_load's list). */
static lb_status check_unexpected(gl_state *s, const lb_model_config *c)
{
    qsort(s->used, (size_t)s->n_used, sizeof *s->used, cmp_str);
    for (int f = 0; f < s->ck.n_files; f++)
        for (int i = 0; i < s->ck.files[f].n; i++) {
            const char *name = s->ck.files[f].tensors[i].name;
            if (ends_with(name, ".rotary_emb.inv_freq") || (c->tie_embeddings && !strcmp(name, "lm_head.weight")) ||
                (c->arch == LB_ARCH_GPT2 && (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias"))))
                continue;
            if (!bsearch(&name, s->used, (size_t)s->n_used, sizeof *s->used, cmp_str))
                return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is not part of the model config.json describes "
                                 "(model_type=%s, num_hidden_layers=%lld); the config and the weights disagree",
                                 s->dir, name, c->model_type, (long long)c->n_layers);
        }
    return lb_ok();
}

/* linear_name: lowbit's HF name of linear `id` of layer i ("" when the
 * family has none). */
static void linear_name(lb_arch arch, int64_t i, int id, char *buf, size_t n)
{
    static const char *llama[LB_LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", NULL,
                                              "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    static const char *gpt2[LB_LIN_COUNT] = {NULL, NULL, NULL, "attn.c_attn", "attn.c_proj", NULL, "mlp.c_fc",
                                             "mlp.c_proj"};
    const char *s = arch == LB_ARCH_GPT2 ? gpt2[id] : llama[id];
    if (!s) snprintf(buf, n, "%s", "");
    else if (arch == LB_ARCH_GPT2) snprintf(buf, n, "transformer.h.%lld.%s.weight", (long long)i, s);
    else snprintf(buf, n, "model.layers.%lld.%s.weight", (long long)i, s);
}

/* take: the packed weight loaded for `name`, handed over (NULL if none). */
static lb_packed *take(gl_state *s, const char *name)
{
    for (int i = 0; i < s->n_packed; i++)
        if (s->packed[i].p && !strcmp(s->packed[i].name, name)) {
            lb_packed *p = s->packed[i].p;
            s->packed[i].p = NULL;
            return p;
        }
    return NULL;
}

static void state_free(gl_state *s)
{
    for (int i = 0; i < s->n_packed; i++) lb_packed_free(s->packed[i].p);
    free(s->packed);
    for (int i = 0; i < s->n_used; i++) free(s->used[i]);
    free(s->used);
    lb_ckpt_close(&s->ck);
}

lb_status lb_model_load_gptq(lb_model *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    lb_model_config cfg;
    LB_TRY(lb_config_load(dir, &cfg));
    gl_state s;
    memset(&s, 0, sizeof s);
    s.dir = dir;
    s.arch = cfg.arch;
    LB_TRY(lb_gptq_config_load(dir, &s.gc));
    LB_TRY(lb_gptq_open_weights(dir, &s.gc, &s.ck));
    s.strip = cfg.arch == LB_ARCH_GPT2 && !lb_ckpt_find(&s.ck, "transformer.wte.weight") &&
              lb_ckpt_find(&s.ck, "wte.weight");
    lb_status st = lb_model_build(m, &cfg, fill, &s);
    if (lb_failed(&st)) {
        state_free(&s);
        return st;
    }
    st = check_unexpected(&s, &cfg);
    /* hand the packed weights to the model (it frees them from here on) */
    lb_packed_model_init(m);
    int attached = 0;
    for (int64_t i = 0; i < cfg.n_layers; i++) {
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            char name[256];
            linear_name(cfg.arch, i, id, name, sizeof name);
            if (*name && (m->blocks[i].wpacked[id] = take(&s, name))) attached++;
        }
    }
    if (!cfg.tie_embeddings && (m->head_packed = take(&s, "lm_head.weight"))) attached++;
    if (!lb_failed(&st)) st = lb_packed_model_scratch_fit(m); /* the linears decode into one scratch of the largest */
    if (!lb_failed(&st) && attached != s.n_packed)
        st = lb_errorf(LB_ERR_UNSUPPORTED, "%s: %d packed GPTQ tensors are not block linears or lm_head (lowbit "
                       "keeps embeddings in full precision)", dir, s.n_packed - attached);
    if (!lb_failed(&st) && !attached)
        st = lb_errorf(LB_ERR_FORMAT, "%s: a GPTQ config but no '<layer>.qweight' tensors", dir);
    state_free(&s);
    if (lb_failed(&st)) lb_model_free(m);
    return st;
}
