/* packed.c — the packed-weight runtime of quant/packed.h: dispatch by kind
 * to the decoders (packed_ggml.c, packed_gptq.c and their CUDA twins), step
 * memory for the decoded rows, moving, sizing and freeing, and the
 * lb_packed_ops table a packed lb_model decodes through. */
#include "quant/packed.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "layers/model.h"
#include "quant/gguf.h"
#include "quant/gptq.h"
#include "quant/packed_ggml.h"

lb_packed *lb_packed_new_ggml(int ggml_type, int64_t rows, int64_t cols)
{
    int64_t block = 0;
    LB_CHECKF(lb_ggml_type_info(ggml_type, &block, NULL, NULL) && cols % block == 0,
              "lb_packed_new_ggml: type %d with %lld columns", ggml_type, (long long)cols);
    lb_packed *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = LB_PACKED_GGML;
    p->rows = rows;
    p->cols = cols;
    p->ggml_type = ggml_type;
    int64_t shape[2] = {rows, lb_ggml_row_bytes(ggml_type, cols)}; /* (rows, row_bytes) */
    p->data = lb_tensor_alloc(LB_U8, 2, shape);
    if (!p->data) {
        free(p);
        return NULL;
    }
    return p;
}

static lb_device packed_device(const lb_packed *p)
{
    return p->kind == LB_PACKED_GGML ? p->data->device : p->qweight->device;
}

static void check_dtype(const lb_packed *p, lb_dtype dt)
{
    lb_device dev = packed_device(p);
    LB_CHECKF(dt == LB_F32 || (dev == LB_CUDA && dt == LB_BF16),
              "lb_packed: decoding to %s on %s (the CPU decodes to f32, CUDA to f32 or bf16)", lb_dtype_name(dt),
              lb_device_name(dev));
}

/* decode_cpu: rows [r0, r0 + n) of the CPU weight p into dst (n, cols) f32 */
static void decode_cpu(const lb_packed *p, int64_t r0, int64_t n, float *dst)
{
    if (p->kind == LB_PACKED_GGML) lb_packed_ggml_decode(p, r0, n, NULL, dst);
    else lb_packed_gptq_decode(p, r0, n, dst);
}

lb_tensor *lb_packed_dequant_rows(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, lb_dtype dt)
{
    if (n < 0) n = p->rows - r0;
    LB_CHECKF(r0 >= 0 && n >= 0 && r0 + n <= p->rows, "lb_packed_dequant_rows: rows [%lld, %lld) of %lld",
              (long long)r0, (long long)(r0 + n), (long long)p->rows);
    check_dtype(p, dt);
    lb_device dev = packed_device(p);
    lb_tensor *out = lb_tensor_new_dev(ctx, dev, dt, LB_SHAPE(n, p->cols)); // (n, cols)
    if (dev == LB_CUDA) {
        if (p->kind == LB_PACKED_GGML) lb_packed_ggml_decode_cuda(ctx, p, r0, n, NULL, out->data, dt);
        else lb_packed_gptq_decode_cuda(ctx, p, r0, n, out->data, dt);
    } else {
        decode_cpu(p, r0, n, out->data);
    }
    return out;
}

lb_tensor *lb_packed_dequant(lb_ctx *ctx, const lb_packed *p, lb_dtype dt)
{
    return lb_packed_dequant_rows(ctx, p, 0, p->rows, dt);
}

lb_tensor *lb_packed_gather(lb_ctx *ctx, const lb_packed *p, const lb_tensor *ids, lb_dtype dt)
{
    check_dtype(p, dt);
    LB_CHECKF(ids->dtype == LB_I32, "lb_packed_gather: ids are %s, expected i32", lb_dtype_name(ids->dtype));
    lb_device dev = packed_device(p);
    int64_t n = lb_tensor_numel(ids);
    size_t ibytes = (size_t)n * sizeof(int32_t);
    const int32_t *host = ids->data; /* a host copy for the range check (as lb_embedding) */
    if (ids->device == LB_CUDA) {
        int32_t *h = lb_arena_alloc(ctx, ibytes);
        lb_cuda_memcpy_d2h(ctx, h, ids->data, ibytes);
        host = h;
    }
    for (int64_t i = 0; i < n; i++)
        LB_CHECKF(host[i] >= 0 && host[i] < p->rows, "lb_packed_gather: ids[%lld] = %d is outside the %lld rows",
                  (long long)i, host[i], (long long)p->rows);
    lb_tensor *out = lb_tensor_new_dev(ctx, dev, dt, LB_SHAPE(n, p->cols)); // (n, cols)
    if (dev == LB_CPU && p->kind == LB_PACKED_GGML) {
        lb_packed_ggml_decode(p, 0, n, host, out->data);
    } else if (dev == LB_CUDA && p->kind == LB_PACKED_GGML) {
        const int32_t *kid = ids->data;
        if (ids->device != LB_CUDA) {
            int32_t *d = lb_cuda_step_alloc(ctx, ibytes);
            lb_cuda_memcpy_h2d(ctx, d, ids->data, ibytes);
            kid = d;
        }
        lb_packed_ggml_decode_cuda(ctx, p, 0, n, kid, out->data, dt);
    } else {
        /* GPTQ tables (not written by lowbit: GPTQ packs linears): row by row */
        size_t row = (size_t)p->cols * lb_dtype_size(dt);
        for (int64_t i = 0; i < n; i++) {
            lb_tensor *r = lb_packed_dequant_rows(ctx, p, host[i], 1, dt);
            if (dev == LB_CUDA) lb_cuda_memcpy_d2d(ctx, (char *)out->data + (size_t)i * row, r->data, row);
            else memcpy((char *)out->data + (size_t)i * row, r->data, row);
        }
    }
    return out;
}

/* move: replaces *t by a persistent copy on dev (bytes unchanged) */
static lb_status move(lb_ctx *ctx, lb_tensor **t, lb_device dev)
{
    if (!*t || (*t)->device == dev) return lb_ok();
    lb_tensor *n = lb_tensor_alloc_dev(dev, (*t)->dtype, (*t)->ndim, (*t)->shape);
    if (!n) return lb_errorf(LB_ERR_OOM, "out of memory moving a packed weight");
    size_t bytes = lb_tensor_nbytes(*t);
    if (dev == LB_CUDA) {
        lb_cuda_memcpy_h2d(ctx, n->data, (*t)->data, bytes);
        lb_cuda_sync(ctx); /* the upload has read the host copy before it is freed */
    } else {
        lb_cuda_memcpy_d2h(ctx, n->data, (*t)->data, bytes);
    }
    lb_tensor_free(*t);
    *t = n;
    return lb_ok();
}

lb_status lb_packed_to(lb_ctx *ctx, lb_packed *p, lb_device dev)
{
    LB_TRY(move(ctx, &p->data, dev));
    LB_TRY(move(ctx, &p->qweight, dev));
    LB_TRY(move(ctx, &p->qzeros, dev));
    LB_TRY(move(ctx, &p->scales, dev));
    return move(ctx, &p->g_idx, dev);
}

size_t lb_packed_bytes(const lb_packed *p)
{
    size_t n = 0;
    const lb_tensor *ts[5] = {p->data, p->qweight, p->qzeros, p->scales, p->g_idx};
    for (int i = 0; i < 5; i++)
        if (ts[i]) n += lb_tensor_nbytes(ts[i]);
    return n;
}

void lb_packed_free(lb_packed *p)
{
    if (!p) return;
    lb_tensor_free(p->data);
    lb_tensor_free(p->qweight);
    lb_tensor_free(p->qzeros);
    lb_tensor_free(p->scales);
    lb_tensor_free(p->g_idx);
    free(p);
}

/* ops_rows: lb_packed_dequant_rows, or (dst, CPU) decoded into dst and
 * returned as an arena-held view of it */
static lb_tensor *ops_rows(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, lb_dtype dt, void *dst)
{
    if (!dst) return lb_packed_dequant_rows(ctx, p, r0, n, dt);
    if (n < 0) n = p->rows - r0;
    LB_CHECKF(packed_device(p) == LB_CPU && dt == LB_F32 && r0 >= 0 && r0 + n <= p->rows,
              "lb_packed ops: decoding into caller memory is for the CPU in f32");
    decode_cpu(p, r0, n, dst);
    lb_tensor *t = lb_arena_alloc(ctx, sizeof *t);
    memset(t, 0, sizeof *t);
    t->dtype = LB_F32;
    t->device = LB_CPU;
    t->ndim = 2;
    t->shape[0] = n;
    t->shape[1] = p->cols;
    t->data = dst;
    t->flags = LB_TENSOR_VIEW;
    return t;
}

static const lb_packed_ops k_ops = {
    ops_rows, lb_packed_gather, lb_packed_to, lb_packed_bytes, lb_packed_free,
};

void lb_packed_model_init(lb_model *m)
{
    m->packed_ops = &k_ops;
    m->quant_to = lb_model_packed_to;
    for (int64_t i = 0; i < m->cfg.n_layers; i++) m->blocks[i].packed_ops = &k_ops;
}

lb_status lb_packed_model_scratch_fit(lb_model *m)
{
    int64_t biggest = 0;
    for (int64_t i = 0; i < m->cfg.n_layers; i++)
        for (int id = 0; id < LB_LIN_COUNT; id++) {
            const lb_packed *p = m->blocks[i].wpacked[id];
            if (p && p->rows * p->cols > biggest) biggest = p->rows * p->cols;
        }
    return lb_model_packed_scratch(m, biggest);
}

