/* ctx.h — lb_ctx, the one explicit context, and the step arena.
 *
 * lb_ctx holds the device, the step arena (CPU), the tape, the grad mode and
 * (when built with CUDA) the stream and library handles. Every op and every
 * layer takes it; nothing in lowbit keeps hidden global state.
 *
 * The arena hands out 64-byte-aligned memory in large chunks; lb_ctx_step_end
 * rewinds it and clears the tape, so everything made during a step is
 * released at once.
 */
#ifndef LB_CTX_H
#define LB_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "autograd/tensor.h"

typedef struct lb_arena_chunk lb_arena_chunk;

typedef struct lb_arena {
    lb_arena_chunk *head;     /* chunk being filled */
    lb_arena_chunk *first;    /* chain, reused after a rewind */
    size_t chunk_size;        /* default size of a new chunk */
    size_t used;              /* bytes handed out since the last rewind */
    size_t peak;              /* largest `used` seen */
} lb_arena;

struct lb_node;

typedef struct lb_ctx {
    lb_device device;
    lb_arena arena;           /* step memory (CPU) */
    struct lb_node *tape;     /* last node recorded; nodes link backwards */
    int64_t tape_len;
    bool grad_enabled;        /* false: ops record nothing (eval, generate) */
    int n_threads;            /* OpenMP / OpenBLAS threads; 0 = library default */
    uint64_t seed;
    void *cuda;               /* backend state (stream, cuBLASLt, cuDNN); NULL on CPU */
} lb_ctx;

/* lb_ctx_init: a CPU context with grad enabled and an empty arena.
 * Free with lb_ctx_free. */
lb_status lb_ctx_init(lb_ctx *ctx, lb_device device);

/* lb_ctx_free: releases the arena and backend state. */
void lb_ctx_free(lb_ctx *ctx);

/* lb_ctx_step_end: clears the tape and rewinds the arena: every non-persistent
 * tensor made since the last call is invalid afterwards. */
void lb_ctx_step_end(lb_ctx *ctx);

/* lb_ctx_set_grad: sets grad mode, returns the previous one. */
bool lb_ctx_set_grad(lb_ctx *ctx, bool enabled);

/* lb_arena_alloc: n bytes, 64-byte aligned, from the step arena; never NULL
 * (aborts with the size asked for when the system is out of memory). The
 * memory is not zeroed. */
void *lb_arena_alloc(lb_ctx *ctx, size_t n);

/* lb_tensor_new: a step tensor (struct and data in the arena), data not
 * zeroed. */
lb_tensor *lb_tensor_new(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_zeros: lb_tensor_new with zeroed data. */
lb_tensor *lb_tensor_zeros(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_view_of: a step tensor sharing `src`'s data with a new shape of
 * the same numel (no tape node; use lb_reshape for a differentiable view). */
lb_tensor *lb_tensor_view_of(lb_ctx *ctx, const lb_tensor *src, int ndim, const int64_t *shape);

/* Shape literals: LB_SHAPE(2, 3) expands to (int64_t[]){2, 3} and its count. */
#define LB_SHAPE_N(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define LB_SHAPE(...) LB_SHAPE_N(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}

#endif
