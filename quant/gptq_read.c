/* gptq_read.c — one quantized linear of a GPTQ checkpoint into an
 * LB_PACKED_GPTQ (see gptq.h): every tensor checked against the config
 * and the layer's shape before it is copied.
 *
 * The checks are the ones a wrong file trips: a config whose bits or
 * group_size disagree with the tensors (the packed row counts give it
 * away), a missing tensor, a dtype other than I32 / F16, a g_idx naming a
 * group that does not exist. Each message names the directory, the tensor,
 * what the file holds and what the config implies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tensor.h"
#include "quant/gptq.h"

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

/* find_checked: tensor `<prefix>.<part>` with dtype `dt` and shape
 * (ndim, want); `why` says which config values the shape comes from. */
static lb_status find_checked(const lb_ckpt *ck, const char *dir, const char *prefix, const char *part,
                              const char *dt, int ndim, const int64_t *want, const char *why,
                              const lb_st_tensor **out)
{
    char name[512], ws[64], gs[64];
    snprintf(name, sizeof name, "%s.%s", prefix, part);
    const lb_st_tensor *t = lb_ckpt_find(ck, name);
    *out = t;
    shape_str(ws, sizeof ws, ndim, want);
    if (!t)
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is missing (a GPTQ linear needs qweight, qzeros, scales; "
                         "expected %s %s from %s)", dir, name, dt, ws, why);
    if (strcmp(t->dtype_str, dt))
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", dir, name, t->dtype_str, dt);
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
    if (!ok) {
        shape_str(gs, sizeof gs, t->ndim, t->shape);
        return lb_errorf(LB_ERR_SHAPE, "%s: tensor '%s' has shape %s but %s implies %s; the GPTQ config and the "
                         "file disagree", dir, name, gs, why, ws);
    }
    return lb_ok();
}

static lb_tensor *copy_of(const lb_st_tensor *t, lb_dtype dt)
{
    lb_tensor *c = lb_tensor_alloc(dt, t->ndim, t->shape);
    if (c) memcpy(c->data, t->data, t->nbytes);
    return c;
}

/* g_idx_check: every entry names a group; *sequential when g_idx[k] is
 * k / group_size throughout. */
static lb_status g_idx_check(const lb_st_tensor *t, const char *dir, const char *prefix, int64_t K, int64_t gs,
                             int64_t G, bool *sequential)
{
    *sequential = true;
    for (int64_t k = 0; k < K; k++) {
        int32_t g;
        memcpy(&g, (const char *)t->data + k * 4, 4);
        if (g < 0 || g >= G)
            return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s.g_idx' entry %lld is %d, but there are %lld groups "
                             "(group_size and in_features give them)", dir, prefix, (long long)k, g, (long long)G);
        if (g != k / gs) *sequential = false;
    }
    return lb_ok();
}

lb_status lb_gptq_packed_load(const lb_ckpt *ck, const char *dir, const lb_gptq_config *cfg, const char *prefix,
                              int64_t rows, int64_t cols, lb_packed **out)
{
    *out = NULL;
    const int64_t N = rows, K = cols, b = cfg->bits;
    const int64_t gs = cfg->group_size > 0 ? cfg->group_size : K;
    const int64_t G = (K + gs - 1) / gs;
    if ((K * b) % 32 || (N * b) % 32 || (b == 3 && (K % 32 || N % 32)))
        return lb_errorf(LB_ERR_SHAPE, "%s: layer '%s' is (%lld, %lld): %lld-bit GPTQ packing needs in and out "
                         "features that fill whole 32-bit words", dir, prefix, (long long)N, (long long)K,
                         (long long)b);
    char why[256];
    snprintf(why, sizeof why, "bits=%d, group_size=%d and the layer's (out %lld, in %lld)", cfg->bits,
             cfg->group_size, (long long)N, (long long)K);
    const int64_t s_qw[2] = {K * b / 32, N}, s_qz[2] = {G, N * b / 32}, s_sc[2] = {G, N}, s_gi[1] = {K};
    const lb_st_tensor *qw, *qz, *sc, *gi = NULL;
    LB_TRY(find_checked(ck, dir, prefix, "qweight", "I32", 2, s_qw, why, &qw));
    LB_TRY(find_checked(ck, dir, prefix, "qzeros", "I32", 2, s_qz, why, &qz));
    LB_TRY(find_checked(ck, dir, prefix, "scales", "F16", 2, s_sc, why, &sc));
    char gname[512];
    snprintf(gname, sizeof gname, "%s.g_idx", prefix);
    bool sequential = true;
    if (lb_ckpt_find(ck, gname)) {
        LB_TRY(find_checked(ck, dir, prefix, "g_idx", "I32", 1, s_gi, why, &gi));
        LB_TRY(g_idx_check(gi, dir, prefix, K, gs, G, &sequential));
    } else if (cfg->desc_act) {
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is missing but desc_act is true (act-order needs it)", dir,
                         gname);
    }

    lb_packed *p = calloc(1, sizeof *p);
    if (!p) return lb_errorf(LB_ERR_OOM, "%s: out of memory reading '%s'", dir, prefix);
    p->kind = LB_PACKED_GPTQ;
    p->rows = N;
    p->cols = K;
    p->bits = cfg->bits;
    p->group_size = cfg->group_size;
    p->zero_offset = cfg->v2 ? 0 : 1;
    p->qweight = copy_of(qw, LB_I32);
    p->qzeros = copy_of(qz, LB_I32);
    p->scales = copy_of(sc, LB_F16);
    if (!sequential) p->g_idx = copy_of(gi, LB_I32);
    if (!p->qweight || !p->qzeros || !p->scales || (!sequential && !p->g_idx)) {
        lb_packed_free(p);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory reading '%s'", dir, prefix);
    }
    *out = p;
    return lb_ok();
}
