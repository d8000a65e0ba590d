/* ctx.c — the context, its step arena and step tensors on either device. */
#include "autograd/ctx.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "kernels/cuda/cuda.h"

#define LB_ARENA_ALIGN 64
#define LB_ARENA_DEFAULT_CHUNK ((size_t)64 << 20)

struct lb_arena_chunk {
    lb_arena_chunk *next;
    size_t size;   /* usable bytes in data */
    size_t used;
    unsigned char *data;
};

static lb_arena_chunk *chunk_new(size_t size)
{
    lb_arena_chunk *c = malloc(sizeof *c);
    LB_CHECKF(c != NULL, "out of memory allocating an arena chunk header");
    c->next = NULL;
    c->size = size;
    c->used = 0;
    c->data = aligned_alloc(LB_ARENA_ALIGN, size);
    LB_CHECKF(c->data != NULL, "out of memory: the step arena asked for %zu MiB more", size >> 20);
    return c;
}

lb_status lb_ctx_init(lb_ctx *ctx, lb_device device)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->device = device;
    ctx->arena.chunk_size = LB_ARENA_DEFAULT_CHUNK;
    ctx->grad_enabled = true;
    ctx->seed = 1234;
    if (device == LB_CUDA) return lb_cuda_init(ctx, 0);
    return lb_ok();
}

void lb_ctx_free(lb_ctx *ctx)
{
    lb_cuda_free(ctx);
    lb_arena_chunk *c = ctx->arena.first;
    while (c) {
        lb_arena_chunk *next = c->next;
        free(c->data);
        free(c);
        c = next;
    }
    memset(ctx, 0, sizeof *ctx);
}

void lb_ctx_step_end(lb_ctx *ctx)
{
    lb_cuda_step_end(ctx);
    for (lb_arena_chunk *c = ctx->arena.first; c; c = c->next) c->used = 0;
    ctx->arena.head = ctx->arena.first;
    ctx->arena.used = 0;
    ctx->tape = NULL;
    ctx->tape_len = 0;
}

bool lb_ctx_set_grad(lb_ctx *ctx, bool enabled)
{
    bool prev = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return prev;
}

void *lb_arena_alloc(lb_ctx *ctx, size_t n)
{
    lb_arena *a = &ctx->arena;
    size_t need = (n + LB_ARENA_ALIGN - 1) & ~(size_t)(LB_ARENA_ALIGN - 1);
    if (need == 0) need = LB_ARENA_ALIGN;
    if (!a->first) {
        a->first = a->head = chunk_new(need > a->chunk_size ? need : a->chunk_size);
    }
    /* move along the chain to a chunk with room, appending one if needed */
    while (a->head->used + need > a->head->size) {
        if (!a->head->next) {
            size_t sz = need > a->chunk_size ? need : a->chunk_size;
            a->head->next = chunk_new(sz);
        }
        a->head = a->head->next;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

lb_arena_mark lb_arena_mark_get(const lb_ctx *ctx)
{
    const lb_arena *a = &ctx->arena;
    return (lb_arena_mark){a->head, a->head ? a->head->used : 0, a->used};
}

void lb_arena_rewind(lb_ctx *ctx, lb_arena_mark mark)
{
    lb_arena *a = &ctx->arena;
    lb_arena_chunk *c = mark.head ? mark.head : a->first;
    if (!c) return;
    LB_CHECK(c->used >= (mark.head ? mark.head_used : 0) && a->used >= mark.used);
    c->used = mark.head ? mark.head_used : 0;
    for (lb_arena_chunk *n = c->next; n; n = n->next) n->used = 0;   /* chunks past head were empty */
    a->head = c;
    a->used = mark.used;
}

static lb_tensor *tensor_header(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape)
{
    LB_CHECK(ndim >= 0 && ndim <= LB_MAX_DIMS);
    lb_tensor *t = lb_arena_alloc(ctx, sizeof *t);
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->device = LB_CPU;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        LB_CHECK(shape[i] >= 0);
        t->shape[i] = shape[i];
    }
    return t;
}

lb_tensor *lb_tensor_new(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape)
{
    lb_tensor *t = tensor_header(ctx, dt, ndim, shape);
    t->data = lb_arena_alloc(ctx, lb_tensor_nbytes(t));
    return t;
}

lb_tensor *lb_tensor_zeros(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape)
{
    lb_tensor *t = lb_tensor_new(ctx, dt, ndim, shape);
    memset(t->data, 0, lb_tensor_nbytes(t));
    return t;
}

lb_tensor *lb_tensor_view_of(lb_ctx *ctx, const lb_tensor *src, int ndim, const int64_t *shape)
{
    lb_tensor *t = tensor_header(ctx, src->dtype, ndim, shape);
    LB_CHECKF(lb_tensor_numel(t) == lb_tensor_numel(src), "view changes the element count");
    t->device = src->device;
    t->data = src->data;
    t->flags = LB_TENSOR_VIEW;
    return t;
}

lb_tensor *lb_tensor_new_dev(lb_ctx *ctx, lb_device dev, lb_dtype dt, int ndim,
                             const int64_t *shape)
{
    if (dev == LB_CPU) return lb_tensor_new(ctx, dt, ndim, shape);
    lb_tensor *t = tensor_header(ctx, dt, ndim, shape);
    t->device = dev;
    t->data = lb_cuda_step_alloc(ctx, lb_tensor_nbytes(t));
    return t;
}

lb_tensor *lb_tensor_zeros_dev(lb_ctx *ctx, lb_device dev, lb_dtype dt, int ndim,
                               const int64_t *shape)
{
    if (dev == LB_CPU) return lb_tensor_zeros(ctx, dt, ndim, shape);
    lb_tensor *t = lb_tensor_new_dev(ctx, dev, dt, ndim, shape);
    lb_cuda_memset_zero(ctx, t->data, lb_tensor_nbytes(t));
    return t;
}
