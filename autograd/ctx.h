/* ctx.h — lb_ctx, the one explicit context, and the step arena.
 *
 * lb_ctx holds the device, the step arena (CPU), the tape, the grad mode and
 * (when built with CUDA) the stream and library handles. Every op and every
 * layer takes it; nothing in lowbit keeps hidden global state.
 *
 * The arena hands out 64-byte-aligned memory in large chunks; lb_ctx_step_end
 * rewinds it and clears the tape, so everything made during a step is
 * released at once. On CUDA, step tensors keep their struct in the arena and
 * their data in the stream-ordered pool (kernels/cuda/cuda.h), which
 * lb_ctx_step_end releases too.
 *
 * Dtype rules on each device: see tensor.h.
 */
#ifndef LB_CTX_H
#define LB_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/status.h"
#include "autograd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    bool release_grads;       /* lb_backward frees an intermediate tensor's
                                 grad (CUDA) once its node has consumed it:
                                 the step's peak memory drops by about the
                                 size of all activation grads; such grads
                                 read as NULL afterwards */
    bool recompute;           /* per-block activation recomputation: the
                                 models run each transformer block through
                                 lb_checkpoint (autograd/recompute.h) when
                                 grad mode is on, so only block boundaries
                                 live until backward, which reruns each
                                 block; same numbers, less step memory */
    bool profile;             /* op-level profiler (CUDA): every recorded
                                 forward op and every backward node marks
                                 the stream with events (lb_cuda_prof_mark,
                                 read once per step by lb_cuda_prof_step);
                                 off: one branch per op */
    void *cuda;               /* CUDA backend state (kernels/cuda/cuda_state.h:
                                 stream, cuBLASLt, cuDNN, step pool); NULL on CPU */
} lb_ctx;

/* lb_ctx_init: a context with grad enabled and an empty arena; for LB_CUDA
 * also the backend on GPU 0 (lb_cuda_init). Fails, with a message for the
 * user, when the build has no CUDA backend or no usable GPU is found. Free
 * with lb_ctx_free (also after a failure). */
lb_status lb_ctx_init(lb_ctx *ctx, lb_device device);

/* lb_ctx_free: synchronizes the device, releases the arena and the backend
 * state (step memory included). */
void lb_ctx_free(lb_ctx *ctx);

/* lb_ctx_step_end: clears the tape, rewinds the arena and (CUDA) frees the
 * step's device memory in stream order: every non-persistent tensor made
 * since the last call is invalid afterwards. Does not synchronize. */
void lb_ctx_step_end(lb_ctx *ctx);

/* lb_ctx_set_grad: sets grad mode, returns the previous one. */
bool lb_ctx_set_grad(lb_ctx *ctx, bool enabled);

/* lb_arena_alloc: n bytes, 64-byte aligned, from the step arena; never NULL
 * (aborts with the size asked for when the system is out of memory). The
 * memory is not zeroed. */
void *lb_arena_alloc(lb_ctx *ctx, size_t n);

/* lb_arena_mark_get / lb_arena_rewind: a scope inside a step (activation
 * recomputation, autograd/recompute.h). Rewinding to a mark gives back
 * everything the arena handed out since the mark was taken, in this same
 * step (no lb_ctx_step_end in between); what was allocated before it stays.
 * The caller guarantees that nothing from after the mark is used again. */
typedef struct lb_arena_mark {
    lb_arena_chunk *head;     /* chunk being filled at the mark (NULL: none yet) */
    size_t head_used, used;
} lb_arena_mark;
lb_arena_mark lb_arena_mark_get(const lb_ctx *ctx);
void lb_arena_rewind(lb_ctx *ctx, lb_arena_mark mark);

/* lb_tensor_new: a CPU step tensor (struct and data in the arena), data not
 * zeroed. */
lb_tensor *lb_tensor_new(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_zeros: lb_tensor_new with zeroed data. */
lb_tensor *lb_tensor_zeros(lb_ctx *ctx, lb_dtype dt, int ndim, const int64_t *shape);

/* lb_tensor_new_dev: a step tensor on `dev`: struct in the arena, data in
 * the arena (CPU) or the CUDA step pool, not zeroed. */
lb_tensor *lb_tensor_new_dev(lb_ctx *ctx, lb_device dev, lb_dtype dt, int ndim,
                             const int64_t *shape);

/* lb_tensor_zeros_dev: lb_tensor_new_dev with zeroed data. */
lb_tensor *lb_tensor_zeros_dev(lb_ctx *ctx, lb_device dev, lb_dtype dt, int ndim,
                               const int64_t *shape);

/* lb_tensor_to: a step tensor on `dev` with dtype `dt` holding t's values.
 * Float dtypes (f32, bf16, f16) convert to each other with round to
 * nearest even (on the GPU, by a kernel, when `dev` is CUDA); other dtypes
 * copy unchanged and must keep their dtype. No tape node: the copy does not
 * require grad. Ordered on the context's stream; a copy to the CPU waits
 * for it. */
lb_tensor *lb_tensor_to(lb_ctx *ctx, const lb_tensor *t, lb_device dev, lb_dtype dt);

/* lb_tensor_copy_to_host: writes t's numel values, widened to f32, to dst
 * (host memory) from any device and any dtype lb_convert_to_f32 reads.
 * Waits for the copy. */
void lb_tensor_copy_to_host(lb_ctx *ctx, const lb_tensor *t, float *dst);

/* lb_tensor_copy_from_host: OVERWRITES t's data (any device, float dtype)
 * with numel f32 values from host memory, rounded to t's dtype. Ordered on
 * the context's stream; src may be reused as soon as this returns. */
void lb_tensor_copy_from_host(lb_ctx *ctx, lb_tensor *t, const float *src);

/* lb_param_refresh_lowp: (re)computes t->lowp, the persistent bf16 copy of
 * the persistent f32 CUDA parameter t that GEMMs read, allocating it on
 * first use. Call after every update of t. (The QAT path will replace this
 * cast by a fused fake-quant pass.) */
void lb_param_refresh_lowp(lb_ctx *ctx, lb_tensor *t);

/* lb_tensor_view_of: a step tensor sharing `src`'s data with a new shape of
 * the same numel (no tape node; use lb_reshape for a differentiable view). */
lb_tensor *lb_tensor_view_of(lb_ctx *ctx, const lb_tensor *src, int ndim, const int64_t *shape);

/* Shape literals: LB_SHAPE(2, 3) expands to (int64_t[]){2, 3} and its count. */
#define LB_SHAPE_N(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define LB_SHAPE(...) LB_SHAPE_N(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif
