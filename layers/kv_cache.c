/* kv_cache.c — the key/value cache for incremental decoding of one sequence.
 *
 * Per layer two persistent tensors (1, max_len, nkv, hd) hold the rotated
 * keys and the values of every position seen so far. A forward step copies
 * its new T positions in at kv->len and attends over a view of the first
 * len + T positions (row-major, so that prefix is contiguous and the view
 * shares the cache's memory). The cache is for inference: gradients do not
 * flow into it. It lives on the model's device, in the dtype of the
 * activations there (CPU f32, CUDA bf16); on CUDA the append is a
 * device-to-device copy on the context's stream.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "layers/model_internal.h"

lb_status lb_kv_cache_init(lb_kv_cache *kv, const lb_model *m, int64_t max_len)
{
    memset(kv, 0, sizeof *kv);
    const lb_model_config *c = &m->cfg;
    if (max_len <= 0)
        return lb_errorf(LB_ERR_ARG, "KV cache length must be positive, got %lld", (long long)max_len);
    int L = (int)c->n_layers;
    lb_dtype dt = m->device == LB_CUDA ? LB_BF16 : LB_F32;
    /* one NULL past the last layer: lb_kv_cache_free walks to it */
    kv->k = calloc((size_t)L + 1, sizeof *kv->k);
    kv->v = calloc((size_t)L + 1, sizeof *kv->v);
    kv->max_len = max_len;
    if (!kv->k || !kv->v) goto oom;
    for (int i = 0; i < L; i++) {
        kv->k[i] = lb_tensor_alloc_dev(m->device, dt, LB_SHAPE(1, max_len, c->n_kv_heads, c->head_dim));
        kv->v[i] = lb_tensor_alloc_dev(m->device, dt, LB_SHAPE(1, max_len, c->n_kv_heads, c->head_dim));
        if (!kv->k[i] || !kv->v[i]) goto oom;
    }
    return lb_ok();
oom:;
    size_t bytes = (size_t)2 * (size_t)L * (size_t)max_len * (size_t)c->n_kv_heads * (size_t)c->head_dim *
                   lb_dtype_size(dt);
    lb_kv_cache_free(kv);
    return lb_errorf(LB_ERR_OOM, "out of memory allocating a KV cache of %lld positions (%.1f MiB)",
                     (long long)max_len, (double)bytes / (1 << 20));
}

void lb_kv_cache_free(lb_kv_cache *kv)
{
    if (!kv) return;
    /* NULL-terminated (and NULL after a failed allocation) */
    for (int i = 0; kv->k && kv->k[i]; i++) lb_tensor_free(kv->k[i]);
    for (int i = 0; kv->v && kv->v[i]; i++) lb_tensor_free(kv->v[i]);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

/* prefix_view: the first n positions of a cache tensor (1, max_len, H, D) as
 * a step tensor (1, n, H, D) sharing its data. */
static lb_tensor *prefix_view(lb_ctx *ctx, const lb_tensor *cache, int64_t n)
{
    lb_tensor *t = lb_arena_alloc(ctx, sizeof *t);
    memset(t, 0, sizeof *t);
    t->dtype = cache->dtype;
    t->device = cache->device;
    t->ndim = 4;
    t->shape[0] = 1;
    t->shape[1] = n;
    t->shape[2] = cache->shape[2];
    t->shape[3] = cache->shape[3];
    t->data = cache->data;
    t->flags = LB_TENSOR_VIEW;
    return t;
}

void lb_kv_cache_update(lb_ctx *ctx, lb_kv_cache *kv, int layer, lb_tensor **k, lb_tensor **v)
{
    lb_tensor *kc = kv->k[layer], *vc = kv->v[layer];
    int64_t T = (*k)->shape[1];
    LB_CHECK((*k)->shape[0] == 1 && (*k)->shape[2] == kc->shape[2] && (*k)->shape[3] == kc->shape[3]);
    LB_CHECK(lb_tensor_same_shape(*k, *v) && kv->len + T <= kv->max_len);
    LB_CHECKF((*k)->device == kc->device && (*k)->dtype == kc->dtype && (*v)->dtype == kc->dtype,
              "KV cache holds %s %s, new keys are %s %s", lb_device_name(kc->device), lb_dtype_name(kc->dtype),
              lb_device_name((*k)->device), lb_dtype_name((*k)->dtype));
    size_t row = (size_t)(kc->shape[2] * kc->shape[3]) * lb_dtype_size(kc->dtype); /* bytes per position */
    unsigned char *kd = (unsigned char *)kc->data + (size_t)kv->len * row;
    unsigned char *vd = (unsigned char *)vc->data + (size_t)kv->len * row;
    if (kc->device == LB_CUDA) {
        lb_cuda_memcpy_d2d(ctx, kd, (*k)->data, (size_t)T * row);
        lb_cuda_memcpy_d2d(ctx, vd, (*v)->data, (size_t)T * row);
    } else {
        memcpy(kd, (*k)->data, (size_t)T * row);
        memcpy(vd, (*v)->data, (size_t)T * row);
    }
    *k = prefix_view(ctx, kc, kv->len + T); /* (1, len+T, nkv, hd) */
    *v = prefix_view(ctx, vc, kv->len + T);
}
