/* cuda.h — the CUDA backend's state and memory, callable from C.
 *
 * lb_cuda_init fills ctx->cuda (see cuda_state.h, private to kernels/cuda)
 * with one stream, the cuBLASLt and cuDNN handles, a cuBLASLt workspace and
 * the device's stream-ordered memory pool. All work of a context is ordered
 * on its one stream; the only calls that wait for the device are the ones
 * that say so.
 *
 * Memory: persistent allocations (parameters, grads, optimizer state) come
 * from lb_cuda_malloc; step memory from lb_cuda_step_alloc, released in
 * stream order by lb_cuda_step_end (lb_ctx_step_end calls it). The pool
 * keeps freed memory (release threshold raised), so a steady-state step
 * reuses the previous step's memory without calling the driver. Running out
 * of GPU memory is reported to the user (what was asked, what is free, what
 * to change) and exits(1); it is not a crash.
 *
 * Without LB_HAVE_CUDA every function is a stub: lb_cuda_available is
 * false, lb_cuda_init returns an error, and the memory functions abort
 * (nothing can reach them: no CUDA tensor exists in such a build).
 *
 * Not here: kernels (kernels/cuda/kernels.h), the error-check macros
 * (cuda_state.h), NCCL.
 */
#ifndef LB_KERNELS_CUDA_CUDA_H
#define LB_KERNELS_CUDA_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/ctx.h"
#include "autograd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One row of the op-level profiler's table: a label ("fwd linear (4, 2048,
 * 5632)", say) with the calls and device milliseconds charged to it over
 * the kept steps (lb_cuda_prof_step). */
#define LB_PROF_LABEL 80
typedef struct lb_prof_row {
    char label[LB_PROF_LABEL];
    int64_t calls;
    double ms;
} lb_prof_row;

#ifdef LB_HAVE_CUDA

/* lb_cuda_available: true when a CUDA GPU is present and can run this
 * build's kernels (its architecture is among CMAKE_CUDA_ARCHITECTURES).
 * Cheap after the first call. */
bool lb_cuda_available(void);

/* lb_cuda_init: sets up the backend on GPU `device` and stores it in
 * ctx->cuda. Errors for the user: no GPU, device index out of range, a GPU
 * this build has no kernels for. */
lb_status lb_cuda_init(lb_ctx *ctx, int device);

/* lb_cuda_free: synchronizes, frees step memory, handles, workspace and the
 * state; ctx->cuda becomes NULL. NULL state is allowed. */
void lb_cuda_free(lb_ctx *ctx);

/* lb_cuda_step_alloc: n bytes (256-byte aligned) of step memory, allocated
 * in stream order on the context's stream and remembered until
 * lb_cuda_step_end. Not zeroed. n == 0 gives a valid pointer. */
void *lb_cuda_step_alloc(lb_ctx *ctx, size_t n);

/* lb_cuda_tmp_alloc / lb_cuda_tmp_free: scratch memory that a kernel
 * wrapper or a transfer needs only between two launches (partial sums, say): allocated and
 * freed in stream order around the launches, so it is not held until the
 * step ends. Out of memory is reported like lb_cuda_step_alloc's. */
void *lb_cuda_tmp_alloc(lb_ctx *ctx, size_t n);
void lb_cuda_tmp_free(lb_ctx *ctx, void *p);

/* lb_cuda_step_release: frees one step allocation now, in stream order
 * (work already queued that reads it stays valid), and forgets it, so
 * lb_cuda_step_end will not free it again. p must come from
 * lb_cuda_step_alloc in this step. */
void lb_cuda_step_release(lb_ctx *ctx, void *p);

/* lb_cuda_step_end: frees every step allocation in stream order (work
 * already queued that reads them stays valid). */
void lb_cuda_step_end(lb_ctx *ctx);

/* lb_cuda_step_mark / lb_cuda_step_release_since: a scope inside a step
 * (activation recomputation, autograd/recompute.h). The mark names the
 * step allocations made after it; release_since frees those now, in
 * stream order, except each one that holds (contains) a pointer of
 * keep[0..n_keep) (NULLs allowed), and returns the bytes it freed. */
uint64_t lb_cuda_step_mark(const lb_ctx *ctx);
size_t lb_cuda_step_release_since(lb_ctx *ctx, uint64_t mark, void *const *keep, int n_keep);

/* lb_cuda_step_bytes: bytes of step memory held now, and the peak since
 * lb_cuda_init (for the memory plan and tests). */
size_t lb_cuda_step_bytes(const lb_ctx *ctx);
size_t lb_cuda_step_peak(const lb_ctx *ctx);

/* lb_cuda_pool_reserved: bytes the stream-ordered pool holds from the
 * driver now (in use or kept for reuse). */
size_t lb_cuda_pool_reserved(const lb_ctx *ctx);

/* lb_cuda_malloc: n bytes of persistent device memory, zeroed (the zeroing
 * is finished when this returns). Free with lb_cuda_free_ptr. */
void *lb_cuda_malloc(size_t n);

/* lb_cuda_free_ptr: frees lb_cuda_malloc memory (synchronizes the device,
 * as cudaFree does). NULL is allowed. */
void lb_cuda_free_ptr(void *p);

/* Copies of n bytes on the context's stream. h2d: the host buffer may be
 * reused when the call returns. d2h: waits for the copy (and everything
 * queued before it). d2d: does not wait. */
void lb_cuda_memcpy_h2d(lb_ctx *ctx, void *dst, const void *src, size_t n);
void lb_cuda_memcpy_d2h(lb_ctx *ctx, void *dst, const void *src, size_t n);
void lb_cuda_memcpy_d2d(lb_ctx *ctx, void *dst, const void *src, size_t n);

/* lb_cuda_memset_zero: OVERWRITES n bytes at device pointer p with zeros,
 * on the context's stream. */
void lb_cuda_memset_zero(lb_ctx *ctx, void *p, size_t n);

/* lb_cuda_sync: waits for all work queued on the context's stream; a
 * failure of that work (an illegal address, say) aborts with its message. */
void lb_cuda_sync(lb_ctx *ctx);

/* Op-level profiler (ctx->profile; kernels/cuda/profile.cu). lb_cuda_prof_mark
 * records an event on the stream, waiting for nothing: with a label it
 * closes the segment begun at the previous mark and charges that device
 * time to the label (copied, cut at LB_PROF_LABEL - 1 bytes); with NULL it
 * only begins a segment. lb_cuda_prof_step waits for the step's last mark
 * and, when keep, adds each closed segment to its label's row; it forgets
 * the marks either way. lb_cuda_prof_rows gives the rows (owned by the
 * state, valid until the next call that adds one). lb_cuda_prof_free is
 * lb_cuda_free's. */
void lb_cuda_prof_mark(lb_ctx *ctx, const char *label);
void lb_cuda_prof_step(lb_ctx *ctx, bool keep);
size_t lb_cuda_prof_rows(lb_ctx *ctx, const lb_prof_row **rows);
void lb_cuda_prof_free(void *prof);

#else /* !LB_HAVE_CUDA: stubs */

static inline bool lb_cuda_available(void) { return false; }

static inline lb_status lb_cuda_init(lb_ctx *ctx, int device)
{
    return lb_errorf(LB_ERR_UNSUPPORTED,
                     "this build has no CUDA backend (rebuild with the CUDA toolkit and "
                     "-DLOWBIT_CUDA=ON); use --device cpu");
}

static inline void lb_cuda_free(lb_ctx *ctx) {}

static inline void lb_cuda_absent(const char *fn)
{
    lb_fatal(__FILE__, __LINE__, "%s called in a build without CUDA", fn);
}

static inline void *lb_cuda_step_alloc(lb_ctx *ctx, size_t n)
{
    lb_cuda_absent("lb_cuda_step_alloc");
    return NULL;
}
static inline void *lb_cuda_tmp_alloc(lb_ctx *ctx, size_t n)
{
    lb_cuda_absent("lb_cuda_tmp_alloc");
    return NULL;
}
static inline void lb_cuda_tmp_free(lb_ctx *ctx, void *p) {}
static inline void lb_cuda_step_release(lb_ctx *ctx, void *p) { lb_cuda_absent("lb_cuda_step_release"); }
static inline void lb_cuda_step_end(lb_ctx *ctx) {}
static inline uint64_t lb_cuda_step_mark(const lb_ctx *ctx) { return 0; }
static inline size_t lb_cuda_step_release_since(lb_ctx *ctx, uint64_t mark, void *const *keep, int n_keep)
{
    return 0;
}
static inline size_t lb_cuda_step_bytes(const lb_ctx *ctx) { return 0; }
static inline size_t lb_cuda_step_peak(const lb_ctx *ctx) { return 0; }
static inline size_t lb_cuda_pool_reserved(const lb_ctx *ctx) { return 0; }
static inline void *lb_cuda_malloc(size_t n)
{
    lb_cuda_absent("lb_cuda_malloc");
    return NULL;
}
static inline void lb_cuda_free_ptr(void *p) {}
static inline void lb_cuda_memcpy_h2d(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    lb_cuda_absent("lb_cuda_memcpy_h2d");
}
static inline void lb_cuda_memcpy_d2h(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    lb_cuda_absent("lb_cuda_memcpy_d2h");
}
static inline void lb_cuda_memcpy_d2d(lb_ctx *ctx, void *dst, const void *src, size_t n)
{
    lb_cuda_absent("lb_cuda_memcpy_d2d");
}
static inline void lb_cuda_memset_zero(lb_ctx *ctx, void *p, size_t n)
{
    lb_cuda_absent("lb_cuda_memset_zero");
}
static inline void lb_cuda_sync(lb_ctx *ctx) {}
static inline void lb_cuda_prof_mark(lb_ctx *ctx, const char *label) {}
static inline void lb_cuda_prof_step(lb_ctx *ctx, bool keep) {}
static inline size_t lb_cuda_prof_rows(lb_ctx *ctx, const lb_prof_row **rows)
{
    *rows = NULL;
    return 0;
}
static inline void lb_cuda_prof_free(void *prof) {}

#endif /* LB_HAVE_CUDA */

#ifdef __cplusplus
}
#endif

#endif
