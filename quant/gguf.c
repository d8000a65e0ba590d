/* gguf.c — the in-memory GGUF (gguf.h): ggml's type table, building a file
 * to write, lookups and typed getters. Reading is gguf_read.c, writing
 * gguf_write.c. */
#include "quant/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct type_row {
    int id;
    const char *name;
    int64_t block, size;
} type_row;

/* ggml_type_traits (ggml.c): every id ggml defines, with its block size and
 * bytes per block; the ids lowbit decodes are the ones in gguf.h. */
static const type_row k_types[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},       {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 36},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},   {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},
};

bool lb_ggml_type_info(int type, int64_t *block, int64_t *type_size, const char **name)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++) {
        if (k_types[i].id != type) continue;
        if (block) *block = k_types[i].block;
        if (type_size) *type_size = k_types[i].size;
        if (name) *name = k_types[i].name;
        return true;
    }
    return false;
}

int64_t lb_ggml_row_bytes(int type, int64_t n)
{
    int64_t block = 0, size = 0;
    LB_CHECKF(lb_ggml_type_info(type, &block, &size, NULL), "lb_ggml_row_bytes: unknown ggml type %d", type);
    LB_CHECKF(n % block == 0, "lb_ggml_row_bytes: %lld elements are not whole blocks of %lld", (long long)n,
              (long long)block);
    return n / block * size;
}

const char *lb_gguf_vtype_name(int t)
{
    static const char *const names[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                        "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
    return t >= 0 && t <= 12 ? names[t] : "?";
}

lb_gguf *lb_gguf_new(void)
{
    lb_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->version = LB_GGUF_VERSION;
    g->alignment = LB_GGUF_DEFAULT_ALIGNMENT;
    return g;
}

void lb_gguf_free(lb_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        lb_gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free(kv->num);
        for (uint64_t k = 0; kv->str && k < kv->n; k++) free(kv->str[k]);
        free(kv->str);
        free(kv->str_len);
    }
    free(g->kv);
    free(g->t);
    if (g->map) munmap(g->map, g->map_len);
    free(g->path);
    free(g);
}

const lb_gguf_kv *lb_gguf_find(const lb_gguf *g, const char *key)
{
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const lb_gguf_tensor *lb_gguf_find_tensor(const lb_gguf *g, const char *name)
{
    for (int64_t i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

/* ---- building ------------------------------------------------------------------ */

/* new_kv: appends an empty kv named key (a duplicate is an error). */
static lb_status new_kv(lb_gguf *g, const char *key, lb_gguf_vtype type, lb_gguf_vtype elem, uint64_t n,
                        lb_gguf_kv **out)
{
    if (!key[0]) return lb_errorf(LB_ERR_ARG, "GGUF metadata: empty key");
    if (lb_gguf_find(g, key)) return lb_errorf(LB_ERR_ARG, "GGUF metadata: key %s set twice", key);
    if (type == LB_GGUF_ARRAY && n == 0)
        return lb_errorf(LB_ERR_ARG, "GGUF metadata: %s is an empty array (gguf-py refuses those)", key);
    if (g->n_kv == g->cap_kv) {
        int64_t cap = g->cap_kv ? 2 * g->cap_kv : 32;
        lb_gguf_kv *nk = realloc(g->kv, (size_t)cap * sizeof *nk);
        if (!nk) return lb_errorf(LB_ERR_OOM, "out of memory");
        g->kv = nk;
        g->cap_kv = cap;
    }
    lb_gguf_kv *kv = &g->kv[g->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = strdup(key);
    if (!kv->key) return lb_errorf(LB_ERR_OOM, "out of memory");
    kv->type = type;
    kv->elem_type = elem;
    kv->n = n;
    g->n_kv++;
    *out = kv;
    return lb_ok();
}

static lb_status set_num(lb_gguf *g, const char *key, lb_gguf_vtype t, const void *v, size_t size)
{
    lb_gguf_kv *kv;
    LB_TRY(new_kv(g, key, t, t, 1, &kv));
    kv->num = malloc(size);
    if (!kv->num) return lb_errorf(LB_ERR_OOM, "out of memory");
    memcpy(kv->num, v, size);
    return lb_ok();
}

lb_status lb_gguf_set_u32(lb_gguf *g, const char *key, uint32_t v) { return set_num(g, key, LB_GGUF_U32, &v, 4); }
lb_status lb_gguf_set_i32(lb_gguf *g, const char *key, int32_t v) { return set_num(g, key, LB_GGUF_I32, &v, 4); }
lb_status lb_gguf_set_f32(lb_gguf *g, const char *key, float v) { return set_num(g, key, LB_GGUF_F32, &v, 4); }

lb_status lb_gguf_set_bool(lb_gguf *g, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return set_num(g, key, LB_GGUF_BOOL, &b, 1);
}

static lb_status fill_strs(lb_gguf_kv *kv, const char *const *v, const size_t *len, uint64_t n)
{
    kv->str = calloc(n, sizeof *kv->str);
    kv->str_len = calloc(n, sizeof *kv->str_len);
    if (!kv->str || !kv->str_len) return lb_errorf(LB_ERR_OOM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        size_t l = len ? len[i] : strlen(v[i]);
        kv->str[i] = malloc(l + 1);
        if (!kv->str[i]) return lb_errorf(LB_ERR_OOM, "out of memory");
        memcpy(kv->str[i], v[i], l);
        kv->str[i][l] = '\0';
        kv->str_len[i] = l;
    }
    return lb_ok();
}

lb_status lb_gguf_set_str(lb_gguf *g, const char *key, const char *v)
{
    lb_gguf_kv *kv;
    LB_TRY(new_kv(g, key, LB_GGUF_STRING, LB_GGUF_STRING, 1, &kv));
    return fill_strs(kv, &v, NULL, 1);
}

lb_status lb_gguf_set_arr_str(lb_gguf *g, const char *key, const char *const *v, const size_t *len, uint64_t n)
{
    lb_gguf_kv *kv;
    LB_TRY(new_kv(g, key, LB_GGUF_ARRAY, LB_GGUF_STRING, n, &kv));
    return fill_strs(kv, v, len, n);
}

lb_status lb_gguf_set_arr_i32(lb_gguf *g, const char *key, const int32_t *v, uint64_t n)
{
    lb_gguf_kv *kv;
    LB_TRY(new_kv(g, key, LB_GGUF_ARRAY, LB_GGUF_I32, n, &kv));
    kv->num = malloc(n * 4);
    if (!kv->num) return lb_errorf(LB_ERR_OOM, "out of memory");
    memcpy(kv->num, v, n * 4);
    return lb_ok();
}

lb_status lb_gguf_add_tensor(lb_gguf *g, const char *name, uint32_t n_dims, const int64_t *ne, int type,
                             const void *data)
{
    int64_t block, size;
    if (strlen(name) > LB_GGUF_NAME_MAX)
        return lb_errorf(LB_ERR_ARG, "GGUF tensor %s: name of %zu bytes, at most %d allowed", name, strlen(name),
                         LB_GGUF_NAME_MAX);
    if (lb_gguf_find_tensor(g, name)) return lb_errorf(LB_ERR_ARG, "GGUF tensor %s added twice", name);
    if (!lb_ggml_type_info(type, &block, &size, NULL))
        return lb_errorf(LB_ERR_ARG, "GGUF tensor %s: unknown ggml type %d", name, type);
    if (n_dims < 1 || n_dims > 4) return lb_errorf(LB_ERR_ARG, "GGUF tensor %s: %u dims, expected 1..4", name, n_dims);
    if (ne[0] % block)
        return lb_errorf(LB_ERR_ARG, "GGUF tensor %s: ne0 = %lld is not a multiple of the block size %lld", name,
                         (long long)ne[0], (long long)block);
    if (g->n_t == g->cap_t) {
        int64_t cap = g->cap_t ? 2 * g->cap_t : 64;
        lb_gguf_tensor *nt = realloc(g->t, (size_t)cap * sizeof *nt);
        if (!nt) return lb_errorf(LB_ERR_OOM, "out of memory");
        g->t = nt;
        g->cap_t = cap;
    }
    lb_gguf_tensor *t = &g->t[g->n_t++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    uint64_t nb = (uint64_t)(ne[0] / block * size);
    for (int d = 0; d < 4; d++) {
        t->ne[d] = d < (int)n_dims ? ne[d] : 1;
        if (d > 0) nb *= (uint64_t)t->ne[d];
    }
    t->type = type;
    t->nbytes = nb;
    t->data = data;
    return lb_ok();
}

/* ---- getters -------------------------------------------------------------------- */

static lb_status typed(const lb_gguf *g, const char *key, lb_gguf_vtype want, bool required, const lb_gguf_kv **out)
{
    *out = lb_gguf_find(g, key);
    if (!*out) {
        if (required) return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s is missing (expected %s)", g->path, key,
                                       lb_gguf_vtype_name(want));
        return lb_ok();
    }
    if ((*out)->type != want)
        return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s has type %s, expected %s", g->path, key,
                         lb_gguf_vtype_name((*out)->type), lb_gguf_vtype_name(want));
    return lb_ok();
}

lb_status lb_gguf_get_u32(const lb_gguf *g, const char *key, bool required, uint32_t def, uint32_t *out)
{
    const lb_gguf_kv *kv;
    LB_TRY(typed(g, key, LB_GGUF_U32, required, &kv));
    *out = kv ? *(const uint32_t *)kv->num : def;
    return lb_ok();
}

lb_status lb_gguf_get_f32(const lb_gguf *g, const char *key, bool required, float def, float *out)
{
    const lb_gguf_kv *kv;
    LB_TRY(typed(g, key, LB_GGUF_F32, required, &kv));
    *out = kv ? *(const float *)kv->num : def;
    return lb_ok();
}

lb_status lb_gguf_get_str(const lb_gguf *g, const char *key, bool required, const char **out)
{
    const lb_gguf_kv *kv;
    LB_TRY(typed(g, key, LB_GGUF_STRING, required, &kv));
    *out = kv ? kv->str[0] : NULL;
    return lb_ok();
}

lb_status lb_gguf_get_arr(const lb_gguf *g, const char *key, lb_gguf_vtype elem_type, const lb_gguf_kv **out)
{
    LB_TRY(typed(g, key, LB_GGUF_ARRAY, true, out));
    if ((*out)->elem_type != elem_type)
        return lb_errorf(LB_ERR_FORMAT, "%s: metadata key %s is an array of %s, expected an array of %s", g->path,
                         key, lb_gguf_vtype_name((*out)->elem_type), lb_gguf_vtype_name(elem_type));
    return lb_ok();
}
